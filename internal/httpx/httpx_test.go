package httpx

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"log/slog"

	"github.com/kvraft/hraftd/kv"
)

func TestMuxMissesAreJSON(t *testing.T) {
	m := NewMux()
	m.Hint = "; try GET /a"
	m.HandleFunc("GET /a/{k...}", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, 200, map[string]string{"k": r.PathValue("k")})
	})
	m.HandleFunc("POST /b", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	for _, tc := range []struct {
		method, path string
		code         int
		allow, msg   string
	}{
		{"GET", "/a/x", 200, "", ""},
		{"GET", "/nope", 404, "", "no such endpoint: GET /nope; try GET /a"},
		{"GET", "/b", 405, "POST", "method GET is not allowed on /b; allowed: POST"},
		{"DELETE", "/a/x", 405, "GET, HEAD", "method DELETE is not allowed on /a/x; allowed: GET, HEAD"},
	} {
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.code {
			t.Errorf("%s %s: code %d, want %d", tc.method, tc.path, rec.Code, tc.code)
		}
		if got := rec.Header().Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
		if tc.msg == "" {
			continue
		}
		var body struct{ Error string }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error != tc.msg {
			t.Errorf("%s %s: body %q (%v), want error %q", tc.method, tc.path, rec.Body, err, tc.msg)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.path, ct)
		}
	}
}

func TestDecodeObject(t *testing.T) {
	type req struct {
		Keys  []string `json:"keys"`
		Level string   `json:"level"`
	}
	for _, tc := range []struct {
		body   string
		strict bool
		ok     bool
		msg    string
	}{
		{`{"keys":["a"]}`, true, true, ""},
		{` {"keys":["a"],"level":"weak"} ` + "\n", true, true, ""},
		{`{"keys":["a"],"lvl":"weak"}`, true, false, "unknown field"},
		{`{"keys":["a"],"lvl":"weak"}`, false, true, ""},
		{`{"keys":"a"}`, true, false, `"keys" must be a JSON array of strings, not a JSON string`},
		{`{"level":1}`, false, false, `"level" must be a string, not a JSON number`},
		{``, false, false, "the body is empty"},
		{"\u00a0{}", false, false, "must be a JSON object"},
		{`[1]`, false, false, "must be a JSON object"},
		{`k=v&x=y`, false, false, "looks form-encoded"},
		{`{} {}`, false, false, "unexpected data after"},
		{"{\"level\":\"\xff\"}", false, false, "not valid UTF-8"},
		{`{"level":`, false, false, "malformed JSON"},
	} {
		var v req
		err := DecodeObject([]byte(tc.body), &v, tc.strict)
		if tc.ok {
			if err != nil {
				t.Errorf("%q: %v", tc.body, err)
			}
			continue
		}
		if !errors.Is(err, kv.ErrInvalid) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: error %v, want one wrapping kv.ErrInvalid containing %q", tc.body, err, tc.msg)
		}
	}
}

func TestRecoverAndStatusWriter(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &StatusWriter{ResponseWriter: w}
		defer func() {
			if sw.Status() != 500 {
				t.Errorf("status writer saw %d, want 500", sw.Status())
			}
		}()
		defer Recover(discard(), sw, r)
		panic("boom")
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "internal error: boom") {
		t.Fatalf("got %d %q", rec.Code, rec.Body)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
