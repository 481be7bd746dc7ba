package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/internal/auth"
)

// discardWriter is the cheapest http.ResponseWriter, so that a benchmark
// measures the handler rather than httptest.ResponseRecorder.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(c int)   { w.code = c }
func (w *discardWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}

// benchmarkHandler serves one request over and over through the whole
// Server (routing, metrics, decoding, answer), with a router that answers
// at once: the distributor's own per-request cost. With users (-auth) the
// request carries a user's password, checked on every request.
func benchmarkHandler(b *testing.B, method, target, body string, users auth.Checker) {
	rt := &fakeRouter{
		setFn: func(_ context.Context, pairs map[string]string, _ string) ([]router.Result, error) {
			return []router.Result{{Shard: 1, Node: "node4", HTTP: "127.0.0.1:11004", Index: 123456}}, nil
		},
		getFn: func(_ context.Context, key, _ string) (router.GetResult, error) {
			return router.GetResult{Result: router.Result{Shard: 1, Node: "node4", Index: 123456}, Value: "bruce", Found: true}, nil
		},
	}
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Auth = users
	s := New(cfg, rt)
	req := httptest.NewRequest(method, target, nil)
	if users != nil {
		req.SetBasicAuth("bench", testPassword)
	}
	rd := bytes.NewReader([]byte(body))
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset([]byte(body))
		req.Body = io.NopCloser(rd)
		req.ContentLength = int64(len(body))
		clear(w.h)
		w.code = 0
		s.ServeHTTP(w, req)
		if w.code != 0 && w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

// BenchmarkSetHandler is POST /set with a 100-byte value, the write the
// benchmark matrix sends.
func BenchmarkSetHandler(b *testing.B) {
	benchmarkHandler(b, "POST", "/set", benchSetBody, nil)
}

// BenchmarkGetHandler is GET /get/{clave}, the linearizable read.
func BenchmarkGetHandler(b *testing.B) {
	benchmarkHandler(b, "GET", "/get/bench-000000012345", "", nil)
}

// BenchmarkSetHandlerAuth is BenchmarkSetHandler with -auth: the password
// is checked against the cache of verified passwords on every request.
func BenchmarkSetHandlerAuth(b *testing.B) {
	benchmarkHandler(b, "POST", "/set", benchSetBody, benchUsers(b))
}

// BenchmarkGetHandlerAuth is BenchmarkGetHandler with -auth.
func BenchmarkGetHandlerAuth(b *testing.B) {
	benchmarkHandler(b, "GET", "/get/bench-000000012345", "", benchUsers(b))
}

var benchSetBody = `{"clave":"bench-000000012345","valor":"` + string(bytes.Repeat([]byte("v"), 100)) + `"}`

func benchUsers(b *testing.B) auth.Checker {
	return usersStore(b, userEntry{Username: "bench", Perms: []string{"read", "write"}})
}
