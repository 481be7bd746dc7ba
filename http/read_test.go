package httpd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/kv"
)

func TestReadManyKeys(t *testing.T) {
	tests := []struct {
		name, body string
		wantKeys   []string
		wantLevel  kv.ReadLevel
	}{
		{"linearizable", `{"keys":["a","empty","missing"],"level":"linearizable"}`, []string{"a", "empty", "missing"}, kv.ReadLinearizable},
		{"weak", `{"keys":["a"],"level":"weak"}`, []string{"a"}, kv.ReadWeak},
		{"default level is none", `{"keys":["a"]}`, []string{"a"}, kv.ReadNone},
		{"duplicates answered once", `{"keys":["a","a","missing"],"level":"linearizable"}`, []string{"a", "a", "missing"}, kv.ReadLinearizable},
		{"escapes", `{"keys":["a/b","<\"é\">"],"level":"none"}`, []string{"a/b", `<"é">`}, kv.ReadNone},
	}
	data := map[string]string{"a": "1", "empty": "", "a/b": "slash", `<"é">`: "x\ny"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFake(t)
			calls := 0
			fs.GetManyFn = func(_ context.Context, keys []string, level kv.ReadLevel) (map[string]string, uint64, error) {
				calls++
				if !slices.Equal(keys, tc.wantKeys) || level != tc.wantLevel {
					t.Errorf("GetMany(%q, %s), want (%q, %s)", keys, level, tc.wantKeys, tc.wantLevel)
				}
				out := map[string]string{}
				for _, k := range keys {
					if v, ok := data[k]; ok {
						out[k] = v
					}
				}
				return out, 42, nil
			}
			rec := serve(t, newService(t, fs, func(c *Config) { c.MaxBodyBytes = 1 << 10 }), "POST", "/read", tc.body, "Content-Type", "application/json")
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, body %s", rec.Code, rec.Body)
			}
			if calls != 1 {
				t.Errorf("GetMany called %d times, want once for the whole request", calls)
			}
			for h, want := range map[string]string{api.HeaderNode: "node1", api.HeaderIndex: "42", "Content-Type": "application/json"} {
				if got := rec.Header().Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			// Strict decoding: the hand-built answer must be exactly one
			// valid JSON object of the documented shape.
			dec := json.NewDecoder(strings.NewReader(rec.Body.String()))
			dec.DisallowUnknownFields()
			var got api.ReadResponse
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("answer %q is not an api.ReadResponse: %v", rec.Body, err)
			}
			if dec.More() {
				t.Fatalf("answer %q has data after the object", rec.Body)
			}
			wantValues, wantFound := map[string]string{}, map[string]bool{}
			for _, k := range tc.wantKeys {
				v, ok := data[k]
				wantFound[k] = ok
				if ok {
					wantValues[k] = v
				}
			}
			if d := diffMaps(wantValues, got.Values); d != "" {
				t.Errorf("values (-want +got):\n%s", d)
			}
			if d := diffMaps(wantFound, got.Found); d != "" {
				t.Errorf("found (-want +got):\n%s", d)
			}
			if n := strings.Count(rec.Body.String(), `"a":`); tc.name == "duplicates answered once" && n != 2 {
				t.Errorf("answer %s names \"a\" %d times, want once in values and once in found", rec.Body, n)
			}
		})
	}
}

func TestReadBadInputNeverReachesTheStore(t *testing.T) {
	tooMany := `{"keys":[` + strings.TrimSuffix(strings.Repeat(`"k",`, kv.MaxReadKeys+1), ",") + `]}`
	tests := []struct{ name, body string }{
		{"empty body", ``},
		{"not an object", `["a"]`},
		{"no keys field", `{"level":"linearizable"}`},
		{"empty keys", `{"keys":[]}`},
		{"null keys", `{"keys":null}`},
		{"keys not an array", `{"keys":"a"}`},
		{"a key not a string", `{"keys":["a",1]}`},
		{"an empty key", `{"keys":["a",""]}`},
		{"a null key", `{"keys":["a",null]}`},
		{"unknown level", `{"keys":["a"],"level":"strong"}`},
		{"level not a string", `{"keys":["a"],"level":1}`},
		{"misspelt field", `{"keys":["a"],"levle":"linearizable"}`},
		{"invalid UTF-8", "{\"keys\":[\"\xff\"]}"},
		{"trailing data", `{"keys":["a"]} x`},
		{"too many keys", tooMany},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// newFake's GetManyFn is nil: a call would panic into a 500.
			svc := newService(t, newFake(t), func(c *Config) { c.MaxBodyBytes = 1 << 20 })
			checkJSONError(t, serve(t, svc, "POST", "/read", tc.body, "Content-Type", "application/json"), http.StatusBadRequest)
		})
	}
	t.Run("body over the limit", func(t *testing.T) {
		body := `{"keys":["` + strings.Repeat("k", 300) + `"]}`
		checkJSONError(t, serve(t, newService(t, newFake(t)), "POST", "/read", body), http.StatusRequestEntityTooLarge)
	})
	t.Run("wrong method", func(t *testing.T) {
		rec := serve(t, newService(t, newFake(t)), "GET", "/read", "")
		checkJSONError(t, rec, http.StatusMethodNotAllowed)
		if got := rec.Header().Get("Allow"); got != "POST" {
			t.Errorf("Allow = %q, want POST", got)
		}
	})
}

func TestReadErrorMapping(t *testing.T) {
	tests := []struct {
		err    error
		status int
	}{
		{fmt.Errorf("key of 2000 bytes: %w", kv.ErrTooLarge), http.StatusRequestEntityTooLarge},
		{kv.ErrNoLeader, http.StatusServiceUnavailable},
		{fmt.Errorf("confirming leadership: %w", kv.ErrTimeout), http.StatusGatewayTimeout},
		{fmt.Errorf("%w: the leader is node0", kv.ErrNotLeader), http.StatusServiceUnavailable}, // no leader address to forward to
		{errors.New("disk on fire"), http.StatusInternalServerError},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			fs := newFake(t)
			fs.GetManyFn = func(context.Context, []string, kv.ReadLevel) (map[string]string, uint64, error) {
				return nil, 0, tc.err
			}
			checkJSONError(t, serve(t, newService(t, fs), "POST", "/read", `{"keys":["a"],"level":"linearizable"}`), tc.status)
		})
	}
}
