package httpd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kvraft/hraftd/kv"
)

func TestDecodeKeyBody(t *testing.T) {
	tests := []struct {
		name string
		body string
		want map[string]string // nil: an error wrapping kv.ErrInvalid
	}{
		{"one pair", `{"user1":"batman"}`, map[string]string{"user1": "batman"}},
		{"several pairs", `{"a":"1","b":"2"}`, map[string]string{"a": "1", "b": "2"}},
		{"empty value", `{"a":""}`, map[string]string{"a": ""}},
		{"empty key is the store's to refuse", `{"":"x"}`, map[string]string{"": "x"}},
		{"JSON whitespace around", " \t\r\n{ \"a\" : \"1\" }\n\n", map[string]string{"a": "1"}},
		{"escapes", `{"a\/b":"\u00e9\n\"q\""}`, map[string]string{"a/b": "é\n\"q\""}},
		{"raw UTF-8", `{"café":"☕"}`, map[string]string{"café": "☕"}},
		{"duplicate key: last wins, as encoding/json", `{"a":"1","a":"2"}`, map[string]string{"a": "2"}},
		{"null then string: last wins", `{"a":null,"a":"2"}`, map[string]string{"a": "2"}},

		{"empty", ``, nil},
		{"whitespace only", "  \n", nil},
		{"empty object", `{}`, nil},
		{"empty object with whitespace", `{ }`, nil},
		{"null", `null`, nil},
		{"array", `[]`, nil},
		{"array of objects", `[{"a":"1"}]`, nil},
		{"number", `1`, nil},
		{"string", `"a"`, nil},
		{"bool", `false`, nil},
		{"number value", `{"a":1}`, nil},
		{"float value", `{"a":1.5}`, nil},
		{"bool value", `{"a":false}`, nil},
		{"null value", `{"a":null}`, nil},
		{"string then null: last wins", `{"a":"1","a":null}`, nil},
		{"object value", `{"a":{"b":"c"}}`, nil},
		{"array value", `{"a":["b"]}`, nil},
		{"truncated", `{"a":"1"`, nil},
		{"truncated string", `{"a":"1`, nil},
		{"truncated key", `{"a`, nil},
		{"open brace", `{`, nil},
		{"unquoted key", `{a:"1"}`, nil},
		{"trailing comma", `{"a":"1",}`, nil},
		{"trailing garbage", `{"a":"1"}x`, nil},
		{"trailing object", `{"a":"1"}{"b":"2"}`, nil},
		{"trailing number", `{"a":"1"} 1`, nil},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", nil},
		{"overlong UTF-8", "{\"a\":\"\xc0\xaf\"}", nil},
		{"UTF-16 surrogate half as UTF-8", "{\"a\":\"\xed\xa0\x80\"}", nil},
		{"byte order mark", "\ufeff{\"a\":\"1\"}", nil},
		{"no-break space before", "\u00a0{\"a\":\"1\"}", nil},
		{"next-line after", "{\"a\":\"1\"}\u0085", nil},
		{"vertical tab", "\v{\"a\":\"1\"}", nil},
		{"bad escape", `{"a":"\x"}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeKeyBody([]byte(tc.body))
			if tc.want == nil {
				if err == nil {
					t.Fatalf("DecodeKeyBody(%q) = %q, want an error", tc.body, got)
				}
				if !errors.Is(err, kv.ErrInvalid) {
					t.Errorf("error %v does not wrap kv.ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeKeyBody(%q): %v", tc.body, err)
			}
			if d := diffMaps(tc.want, got); d != "" {
				t.Errorf("DecodeKeyBody(%q) (-want +got):\n%s", tc.body, d)
			}
		})
	}
}

func FuzzDecodeKeyBody(f *testing.F) {
	for _, s := range []string{
		`{"user1":"batman"}`,
		`{"a":"1","b":"2","a":"3"}`,
		`{"":""}`,
		`{"a":null}`,
		`{"a":1}`,
		`[{"a":"b"}]`,
		`{"a":"b"} {}`,
		`{"\u00e9\ud800":"\t"}`,
		"{\"a\":\"\xff\"}",
		" {\"a\" :\"b\"}\n",
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := DecodeKeyBody(body)
		if err != nil {
			if !errors.Is(err, kv.ErrInvalid) {
				t.Fatalf("error %v does not wrap kv.ErrInvalid", err)
			}
			return
		}
		if len(m) == 0 {
			t.Fatalf("accepted %q with no pairs", body)
		}
		if !json.Valid(body) {
			t.Fatalf("accepted %q, which is not JSON", body)
		}
		// A reference decode that keeps every JSON type must agree: the
		// body is an object whose values are all strings, equal to m's.
		var ref map[string]any
		if err := json.Unmarshal(body, &ref); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
		}
		if len(ref) != len(m) {
			t.Fatalf("accepted %q as %q, but it has %d keys", body, m, len(ref))
		}
		for k, v := range ref {
			s, ok := v.(string)
			if !ok {
				t.Fatalf("accepted %q whose value for %q is %T, not a string", body, k, v)
			}
			if got, ok := m[k]; !ok || got != s {
				t.Fatalf("accepted %q: %q = %q, want %q", body, k, got, s)
			}
		}
		for k, v := range m {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				t.Fatalf("accepted %q with invalid UTF-8 in %q: %q", body, k, v)
			}
		}
		// What was accepted re-encodes to a body that decodes the same.
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := DecodeKeyBody(again)
		if err != nil {
			t.Fatalf("re-encoded %q refused: %v", again, err)
		}
		if d := diffMaps(m, m2); d != "" {
			t.Fatalf("re-encoded %q decodes differently (-first +second):\n%s", again, d)
		}
	})
}

// discardLogger keeps fuzzing quiet: the fuzz functions run far too many
// requests to log each one.
var discardLogger = slog.New(slog.DiscardHandler)

// muxCleanPath is net/http's cleanPath, written out independently of
// internal/cleanpath so that the fuzz test checks that package against
// the mux's own rule: a path it changes cannot address a key.
func muxCleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		if len(p) == len(np)+1 && strings.HasPrefix(p, np) {
			np = p
		} else {
			np += "/"
		}
	}
	return np
}

// FuzzKeyPath sends GET /key/<key> for arbitrary keys, both fully escaped
// and with its slashes left raw, through the server's own request parser,
// and checks that the store is asked for exactly that key. A path that the
// mux would clean (a key of "." or "..", or raw slashes making "//" or "/./")
// cannot express its key: it must get a 400 and the store must not be
// asked for anything.
func FuzzKeyPath(f *testing.F) {
	for _, k := range []string{
		"user1", "a/b", "a//b", "/lead", "trail/", ".", "..", "a/../b", "a/./b",
		"%", "%2F", "%zz", "with space", "café", "?x=1#f", "\x00", "+;,=&", "\t\n", "\u2028", "~!*'()",
	} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if key == "" || !utf8.ValidString(key) {
			t.Skip("not a valid key")
		}
		var got []string
		fs := &fakeStore{
			GetFn: func(_ context.Context, k string, _ kv.ReadLevel) (string, bool, uint64, error) {
				got = append(got, k)
				return "v", true, 1, nil
			},
			LeaderHTTPFn: func() (string, string) { return "", "" },
			IDFn:         func() string { return "node1" },
		}
		svc := New(Config{Logger: discardLogger}, fs)

		forms := map[string]string{
			"escaped":     "/key/" + url.PathEscape(key),
			"raw slashes": (&url.URL{Path: "/key/" + key}).EscapedPath(),
		}
		for form, target := range forms {
			got = nil
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(
				"GET " + target + " HTTP/1.1\r\nHost: node1\r\n\r\n")))
			if err != nil {
				if form == "escaped" {
					t.Fatalf("%s: net/http cannot parse %q: %v", form, target, err)
				}
				continue
			}
			rec := httptest.NewRecorder()
			svc.ServeHTTP(rec, req)

			expressible := muxCleanPath(req.URL.EscapedPath()) == req.URL.EscapedPath()
			switch {
			case expressible && (len(got) != 1 || got[0] != key):
				t.Fatalf("%s: GET %s asked the store for %q, want [%q]", form, target, got, key)
			case !expressible && (len(got) > 0 || rec.Code != http.StatusBadRequest):
				t.Fatalf("%s: GET %s (a path the mux would clean) answered %d and asked the store for %q, want a 400 and nothing", form, target, rec.Code, got)
			}
			if len(got) == 0 {
				continue
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body) != 1 || body[key] != "v" {
				t.Fatalf("%s: GET %s answered %d %q, want {%q:\"v\"}", form, target, rec.Code, rec.Body, key)
			}
		}
	})
}

// FuzzDecodeReadBody checks the POST /read decoder never panics, that every
// refusal is a bad-input error, and that what it accepts keeps its promises.
func FuzzDecodeReadBody(f *testing.F) {
	for _, s := range []string{`{"keys":["a","b"],"level":"linearizable"}`, `{"keys":[]}`, `{"keys":["a"],"levl":"weak"}`, `{"keys":[null]}`, `[]`, `{"keys":"a"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeReadBody(body)
		if err != nil {
			if !errors.Is(err, kv.ErrInvalid) {
				t.Fatalf("DecodeReadBody(%q) = %v, not an ErrInvalid", body, err)
			}
			return
		}
		if len(req.Keys) == 0 || len(req.Keys) > kv.MaxReadKeys {
			t.Fatalf("accepted %d keys", len(req.Keys))
		}
		for _, k := range req.Keys {
			if k == "" {
				t.Fatal("accepted an empty key")
			}
		}
	})
}
