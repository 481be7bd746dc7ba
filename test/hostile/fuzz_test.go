package hostile

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/distributor/server"
)

// fakeRouter records what reaches the router. It embeds the interface so
// that it keeps compiling when the interface grows: only the methods a
// POST /set may call are implemented, and any other call panics, which the
// server turns into a 500 that the fuzz target reports.
type fakeRouter struct {
	server.Router

	mu   sync.Mutex
	sets []map[string]string
}

func (f *fakeRouter) Shards() int            { return 2 }
func (f *fakeRouter) ShardOf(key string) int { return router.ShardOf(key, 2) }

func (f *fakeRouter) Set(_ context.Context, pairs map[string]string, _ string) ([]router.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets = append(f.sets, pairs)
	return []router.Result{{Shard: router.ShardOf(firstKey(pairs), 2), Node: "node0", HTTP: "127.0.0.1:1", Index: 7}}, nil
}

func (f *fakeRouter) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets = nil
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

// FuzzDistributorSet throws arbitrary bodies at the distributor's POST /set
// through its exported HTTP handler, with a fake router behind it. It
// checks that the body decoder accepts exactly the bodies it should and
// passes on exactly what they say:
//   - every answer is 200 or a 4xx with a JSON "error" (no 5xx: a 500
//     would be a panic or an internal error on client input);
//   - a body that is not valid UTF-8, not a JSON object, or not exactly
//     {"clave": non-empty string, "valor": string} is refused and never
//     reaches the router;
//   - an accepted body reaches the router as exactly one pair, equal to
//     what encoding/json reads from it, and the answer echoes it.
//
// The seed corpus below runs in every `go test`; `go test -fuzz
// FuzzDistributorSet ./test/hostile` explores further. (Long: the seed
// corpus is a table, one line per body.)
func FuzzDistributorSet(f *testing.F) {
	for _, s := range []string{
		`{"clave":"batman","valor":"bruce"}`,
		`{"clave":"a/b","valor":""}`,
		`{"valor":"v","clave":"café"}`,
		` {"clave":"k","valor":"v"} `,
		`{"clave":"k","valor":"v"} {}`,
		`{"clave":"k","valor":"v","x":1}`,
		`{"clave":"k","clave":"j","valor":"v"}`,
		`{"clave":"","valor":"v"}`,
		`{"clave":"k"}`,
		`{"clave":"k","valor":null}`,
		`{"clave":null,"valor":"v"}`,
		`{"clave":1,"valor":"v"}`,
		`{"clave":"k","valor":["v"]}`,
		`{"clave":"\ud800","valor":"v"}`,
		`{"clave":"k\u0000","valor":"v"}`,
		"{\"clave\":\"\xff\",\"valor\":\"v\"}",
		`["clave","valor"]`,
		`"clave"`,
		`42`,
		`null`,
		``,
		`{`,
		`{"clave":"k","valor":"v"`,
		"\xef\xbb\xbf{\"clave\":\"k\",\"valor\":\"v\"}",
	} {
		f.Add([]byte(s))
	}
	// One server for every input: building one (its metrics registry,
	// its dashboard) costs more than the request itself.
	fr := &fakeRouter{}
	srv := server.New(server.DefaultConfig(), fr)
	f.Fuzz(func(t *testing.T, body []byte) {
		fr.reset()
		req := httptest.NewRequest(http.MethodPost, "/set", bytes.NewReader(body))
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)

		if rec.Code != http.StatusOK {
			if rec.Code < 400 || rec.Code >= 500 {
				t.Fatalf("body %q: status %d, want 200 or a 4xx; answer %s", body, rec.Code, rec.Body)
			}
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("body %q: %d answer is not a JSON error: %s", body, rec.Code, rec.Body)
			}
			if len(fr.sets) != 0 {
				t.Fatalf("body %q: refused with %d but reached the router: %v", body, rec.Code, fr.sets)
			}
			return
		}

		if len(fr.sets) != 1 || len(fr.sets[0]) != 1 {
			t.Fatalf("body %q: accepted, but the router got %v", body, fr.sets)
		}
		var clave, valor string
		for clave, valor = range fr.sets[0] {
		}
		if clave == "" || !utf8.ValidString(clave) || !utf8.ValidString(valor) {
			t.Fatalf("body %q: accepted an empty or invalid key/value: %q=%q", body, clave, valor)
		}
		if !utf8.Valid(body) {
			t.Fatalf("body %q is not UTF-8 but was accepted", body)
		}
		// What a strict reader makes of the body must be what was set.
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("body %q: accepted, but it is not one JSON object: %v", body, err)
		}
		if len(m) != 2 || m["clave"] != clave || m["valor"] != valor {
			t.Fatalf("body %q: accepted as %q=%q, but it reads as %v", body, clave, valor, m)
		}
		var a struct {
			Clave string  `json:"clave"`
			Valor *string `json:"valor"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || a.Clave != clave || a.Valor == nil || *a.Valor != valor {
			t.Fatalf("body %q: answer %s does not echo %q=%q", body, rec.Body, clave, valor)
		}
	})
}
