package httpd

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/kv"
)

func TestSetPassesPairsAsOneWrite(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		writeID     string
		wantPairs   map[string]string
		wantWriteID string
	}{
		{"hraftd body", `{"user1": "batman"}`, "", map[string]string{"user1": "batman"}, ""},
		{"several pairs", `{"a":"1","b":"2","c":""}`, "", map[string]string{"a": "1", "b": "2", "c": ""}, ""},
		{"idempotency key", `{"a":"1"}`, "w-42", map[string]string{"a": "1"}, "w-42"},
		{"unicode", `{"café":"☕","k\u00e9y":"v\n"}`, "", map[string]string{"café": "☕", "kéy": "v\n"}, ""},
		{"surrounding whitespace", " \r\n\t{\"a\":\"1\"}\n", "", map[string]string{"a": "1"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFake(t)
			calls := 0
			var gotPairs map[string]string
			var gotID string
			fs.SetFn = func(ctx context.Context, pairs map[string]string, writeID string) (uint64, error) {
				calls++
				gotPairs, gotID = pairs, writeID
				return 42, nil
			}
			var hdr []string
			if tc.writeID != "" {
				hdr = []string{api.HeaderWriteID, tc.writeID}
			}
			rec := serve(t, newService(t, fs), "POST", "/key", tc.body, hdr...)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body: %s", rec.Code, rec.Body)
			}
			if calls != 1 {
				t.Errorf("Set called %d times, want once (all pairs in one write)", calls)
			}
			if d := diffMaps(tc.wantPairs, gotPairs); d != "" {
				t.Errorf("pairs passed to Set (-want +got):\n%s", d)
			}
			if gotID != tc.wantWriteID {
				t.Errorf("writeID = %q, want %q", gotID, tc.wantWriteID)
			}
			if got := rec.Header().Get(api.HeaderIndex); got != "42" {
				t.Errorf("%s = %q, want 42", api.HeaderIndex, got)
			}
			if got := rec.Header().Get(api.HeaderNode); got != "node1" {
				t.Errorf("%s = %q, want node1", api.HeaderNode, got)
			}
			if rec.Body.Len() != 0 {
				t.Errorf("body = %q, want empty (as hraftd)", rec.Body)
			}
		})
	}
}

func TestGetKey(t *testing.T) {
	data := map[string]string{
		"user1":      "batman",
		"a/b":        "slash",
		"a//b":       "double slash",
		"with space": "space",
		"100%":       "percent",
		"%2F":        "escaped escape",
		"café":       "unicode",
		"empty":      "",
		"q?x=1#f":    "query chars",
		" lead":      "leading space",
	}
	tests := []struct {
		target    string
		wantKey   string
		wantValue string
		wantFound bool
	}{
		{"/key/user1", "user1", "batman", true},
		{"/key/missing", "missing", "", false},
		{"/key/empty", "empty", "", true},
		{"/key/a%2Fb", "a/b", "slash", true},
		{"/key/a%2fb", "a/b", "slash", true},
		{"/key/a/b", "a/b", "slash", true},
		{"/key/a%2F%2Fb", "a//b", "double slash", true},
		{"/key/with%20space", "with space", "space", true},
		{"/key/100%25", "100%", "percent", true},
		{"/key/%252F", "%2F", "escaped escape", true},
		{"/key/caf%C3%A9", "café", "unicode", true},
		{"/key/caf\u00e9", "café", "unicode", true},
		{"/key/q%3Fx=1%23f", "q?x=1#f", "query chars", true},
		{"/key/%20lead", " lead", "leading space", true},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			fs := newFake(t)
			var gotKey string
			var gotLevel kv.ReadLevel
			fs.GetFn = func(ctx context.Context, key string, level kv.ReadLevel) (string, bool, uint64, error) {
				gotKey, gotLevel = key, level
				v, ok := data[key]
				return v, ok, 7, nil
			}
			rec := serve(t, newService(t, fs), "GET", tc.target, "")
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body: %s", rec.Code, rec.Body)
			}
			if gotKey != tc.wantKey {
				t.Errorf("store got key %q, want %q", gotKey, tc.wantKey)
			}
			if gotLevel != kv.ReadNone {
				t.Errorf("store got level %q, want %q (the default)", gotLevel, kv.ReadNone)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if d := diffMaps(map[string]string{tc.wantKey: tc.wantValue}, body); d != "" {
				t.Errorf("body (-want +got):\n%s", d)
			}
			wantHdr := map[string]string{
				api.HeaderFound: fmt.Sprint(tc.wantFound),
				api.HeaderIndex: "7",
				api.HeaderNode:  "node1",
				"Content-Type":  "application/json",
			}
			gotHdr := map[string]string{}
			for k := range wantHdr {
				gotHdr[k] = rec.Header().Get(k)
			}
			if d := diffMaps(wantHdr, gotHdr); d != "" {
				t.Errorf("headers (-want +got):\n%s", d)
			}
		})
	}
}

func TestEmptyKeyIsRefusedByTheStore(t *testing.T) {
	fs := newFake(t)
	invalid := func(key string) error {
		if key == "" {
			return fmt.Errorf("%w: key is empty", kv.ErrInvalid)
		}
		return fmt.Errorf("test expected the empty key, got %q", key)
	}
	fs.GetFn = func(_ context.Context, key string, _ kv.ReadLevel) (string, bool, uint64, error) {
		return "", false, 0, invalid(key)
	}
	fs.DeleteFn = func(_ context.Context, key, _ string) (uint64, error) { return 0, invalid(key) }
	fs.SetFn = func(_ context.Context, pairs map[string]string, _ string) (uint64, error) {
		for k := range pairs {
			if err := invalid(k); err != nil {
				return 0, err
			}
		}
		return 1, nil
	}
	svc := newService(t, fs)
	for _, tc := range []struct{ method, target, body string }{
		{"GET", "/key/", ""},
		{"DELETE", "/key/", ""},
		{"POST", "/key", `{"":"x"}`},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			checkJSONError(t, serve(t, svc, tc.method, tc.target, tc.body), http.StatusBadRequest)
		})
	}
}

// TestKeyPathWithoutKey: GET and DELETE /key name no key; they answer a
// JSON 400 rather than the mux's plain-text redirect to /key/.
func TestKeyPathWithoutKey(t *testing.T) {
	svc := newService(t, newFake(t))
	for _, method := range []string{"GET", "DELETE"} {
		t.Run(method, func(t *testing.T) {
			checkJSONError(t, serve(t, svc, method, "/key", ""), http.StatusBadRequest)
		})
	}
}

func TestGetReadLevel(t *testing.T) {
	tests := []struct {
		query     string
		wantLevel kv.ReadLevel // "" means the store must not be called
		wantCode  int
	}{
		{"", kv.ReadNone, 200},
		{"?level=", kv.ReadNone, 200},
		{"?level=none", kv.ReadNone, 200},
		{"?level=weak", kv.ReadWeak, 200},
		{"?level=linearizable", kv.ReadLinearizable, 200},
		{"?level=strong", "", 400},
		{"?level=LINEARIZABLE", "", 400},
		{"?level=weak%00", "", 400},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			fs := newFake(t)
			var got kv.ReadLevel
			fs.GetFn = func(_ context.Context, _ string, level kv.ReadLevel) (string, bool, uint64, error) {
				got = level
				return "v", true, 1, nil
			}
			rec := serve(t, newService(t, fs), "GET", "/key/k"+tc.query, "")
			if tc.wantCode != 200 {
				checkJSONError(t, rec, tc.wantCode)
			} else if rec.Code != 200 {
				t.Errorf("status = %d, want 200; body: %s", rec.Code, rec.Body)
			}
			if got != tc.wantLevel {
				t.Errorf("store got level %q, want %q", got, tc.wantLevel)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	fs := newFake(t)
	var gotKey, gotID string
	calls := 0
	fs.DeleteFn = func(_ context.Context, key, writeID string) (uint64, error) {
		calls++
		gotKey, gotID = key, writeID
		return 9, nil
	}
	rec := serve(t, newService(t, fs), "DELETE", "/key/a%2Fb", "", api.HeaderWriteID, "del-1")
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200; body: %s", rec.Code, rec.Body)
	}
	if calls != 1 || gotKey != "a/b" || gotID != "del-1" {
		t.Errorf("Delete called %d times with (%q, %q), want once with (%q, %q)", calls, gotKey, gotID, "a/b", "del-1")
	}
	if got := rec.Header().Get(api.HeaderIndex); got != "9" {
		t.Errorf("%s = %q, want 9", api.HeaderIndex, got)
	}
	if got := rec.Header().Get(api.HeaderNode); got != "node1" {
		t.Errorf("%s = %q, want node1", api.HeaderNode, got)
	}
}
