package server

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kvraft/hraftd/distributor/router"
)

// setBodies are /set bodies of every shape: decodeSetFast must accept only
// what decodeSetStrict accepts, with the same values.
var setBodies = []string{
	`{"clave":"batman","valor":"bruce"}`,
	`{"valor":"bruce","clave":"batman"}`,
	" \t\r\n{ \"clave\" :\n\"k\" ,\t\"valor\" : \"\" }\r\n ",
	`{"clave":"café ☕","valor":"naïve"}`,
	`{"clave":"a/b","valor":"<&>"}`,
	`{"clave":"k","valor":"v"} {}`,
	`{"clave":"k","valor":"v",}`,
	`{"clave":"k","valor":"v","x":"y"}`,
	`{"clave":"k","clave":"j","valor":"v"}`,
	`{"clave":"k","valor":"v","valor":"w"}`,
	`{"clave":"","valor":"v"}`,
	`{"clave":"k"}`,
	`{"valor":"v"}`,
	`{}`,
	`{"clave":"k","valor":null}`,
	`{"clave":"k","valor":1}`,
	`{"clave":"k\"q","valor":"v"}`,
	`{"clave":"k\u0041","valor":"v\n"}`,
	`{"cl\u0061ve":"k","valor":"v"}`,
	`{"Clave":"k","valor":"v"}`,
	`{"clave":"\ud800","valor":"v"}`,
	"{\"clave\":\"k\x01\",\"valor\":\"v\"}",
	"{\"clave\":\"\xff\",\"valor\":\"v\"}",
	"\v{\"clave\":\"k\",\"valor\":\"v\"}\f",
	"\xef\xbb\xbf{\"clave\":\"k\",\"valor\":\"v\"}",
	`{"clave":"k","valor":"v"`,
	`{"clave":"k","valor":"v`,
	`{"clave":"k" "valor":"v"}`,
	`{"clave" "k","valor":"v"}`,
	`["clave","valor"]`,
	`"clave"`,
	``,
	`{`,
}

func TestDecodeSetFastAgreesWithStrict(t *testing.T) {
	accepted := 0
	for _, body := range setBodies {
		fast, ok := decodeSetFast([]byte(body))
		strict, err := decodeSetStrict([]byte(body))
		if !ok {
			// Refused by the fast path: decodeSet must give the strict
			// verdict, whatever it is.
			got, gerr := decodeSet([]byte(body))
			// (The request of an error is partial, in map order: only
			// the error is compared then.)
			if (gerr == nil) != (err == nil) || (err == nil && got != strict) || (err != nil && gerr.Error() != err.Error()) {
				t.Errorf("%q: decodeSet = %+v, %v; strict = %+v, %v", body, got, gerr, strict, err)
			}
			continue
		}
		accepted++
		if err != nil || fast != strict {
			t.Errorf("%q: fast path accepted %+v; strict decoder: %+v, %v", body, fast, strict, err)
		}
	}
	if accepted < 5 {
		t.Fatalf("the fast path accepted only %d bodies of the common shape", accepted)
	}
}

func TestKeyAnswerMatchesEncodingJSON(t *testing.T) {
	v := "bru<ce>\n"
	for _, a := range []keyAnswer{
		{Clave: "batman", Valor: &v, Shard: 1, Node: "node4"},
		{Clave: "b\"atman", Shard: 12, Node: ""},
	} {
		want, _ := json.Marshal(a)
		w := httptest.NewRecorder()
		writeKeyAnswer(w, a.Clave, a.Valor, a.Shard, a.Node)
		if got := w.Body.String(); got != string(want)+"\n" {
			t.Errorf("writeKeyAnswer(%+v) = %q, want %q", a, got, want)
		}
		if w.Header().Get("Content-Type") != "application/json" || w.Code != 200 {
			t.Errorf("headers %v, status %d", w.Header(), w.Code)
		}
	}
}

// TestBodyLengths covers both ways a body is read: a declared length that
// fits (pooled buffer) and anything else (chunked, or declared too large).
func TestBodyLengths(t *testing.T) {
	ok := `{"clave":"k","valor":"v"}`
	big := `{"clave":"k","valor":"` + strings.Repeat("x", 2000) + `"}`
	tests := []struct {
		name   string
		body   string
		length int64 // ContentLength sent; -1 is unknown (chunked)
		status int
	}{
		{"declared", ok, int64(len(ok)), 200},
		{"chunked", ok, -1, 200},
		{"chunked, over the limit", big, -1, 413},
		{"declared over the limit", big, int64(len(big)), 413},
		{"declared short of a body over the limit", big, 10, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := &fakeRouter{t: t, setFn: func(context.Context, map[string]string, string) ([]router.Result, error) {
				return []router.Result{{Shard: 0, Node: "node0"}}, nil
			}}
			req := httptest.NewRequest("POST", "/set", strings.NewReader(tt.body))
			req.ContentLength = tt.length
			w := httptest.NewRecorder()
			newTestServer(t, rt).ServeHTTP(w, req)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status == 413 && !strings.Contains(w.Body.String(), "1024-byte limit") {
				t.Fatalf("413 body %s does not name the limit", w.Body)
			}
		})
	}
}
