package httpd

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kvraft/hraftd/kv"
)

// discardWriter is the cheapest http.ResponseWriter, so that the benchmark
// measures the node's own per-request work rather than a recorder's.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(c int)           { w.code = c }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

type nopObserver struct{}

func (nopObserver) ObserveRequest(string, int, time.Duration) {}

// BenchmarkGetNone is GET /key/{k}?level=none through the whole Service
// (routing, observer, lookup, answer): the request a node serves most,
// minus net/http.
func BenchmarkGetNone(b *testing.B) {
	fs := &fakeStore{IDFn: func() string { return "node1" }, GetFn: func(_ context.Context, key string, _ kv.ReadLevel) (string, bool, uint64, error) {
		return "value-of-100-bytes-value-of-100-bytes-value-of-100-bytes-value-of-100-bytes-value-of-100-bytes-v", true, 123456, nil
	}}
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Observer = nopObserver{}
	s := New(cfg, fs)
	req := httptest.NewRequest("GET", "/key/bench-k000012345?level=none", nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.code = 0
		s.ServeHTTP(w, req)
		if w.code != 0 && w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

// resettableBody is a request body a benchmark can rewind, so one request
// is reused and the loop measures the service rather than request set-up.
type resettableBody struct{ bytes.Reader }

func (*resettableBody) Close() error { return nil }

// BenchmarkSet is POST /key with one pair through the whole Service
// (routing, observer, deadline, body decode, store call, answer).
func BenchmarkSet(b *testing.B) {
	fs := &fakeStore{IDFn: func() string { return "node1" }, SetFn: func(context.Context, map[string]string, string) (uint64, error) {
		return 123456, nil
	}}
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Observer = nopObserver{}
	s := New(cfg, fs)
	payload := []byte(`{"bench-k000012345":"value-of-100-bytes-value-of-100-bytes-value-of-100-bytes-value-of-100-bytes-value-of-100-bytes-v"}`)
	body := &resettableBody{}
	req := httptest.NewRequest("POST", "/key", body)
	req.Header.Set("Content-Type", "application/json")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.code = 0
		body.Reset(payload)
		s.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}
