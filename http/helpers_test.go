package httpd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/kv"
)

// fakeStore is a Store whose every method calls the func field of the same
// name. A nil field means the test does not expect that call: the method
// panics, which the service turns into a 500 the test then sees.
type fakeStore struct {
	GetFn        func(ctx context.Context, key string, level kv.ReadLevel) (string, bool, uint64, error)
	GetManyFn    func(ctx context.Context, keys []string, level kv.ReadLevel) (map[string]string, uint64, error)
	SetFn        func(ctx context.Context, pairs map[string]string, writeID string) (uint64, error)
	DeleteFn     func(ctx context.Context, key, writeID string) (uint64, error)
	JoinFn       func(ctx context.Context, j kv.Joiner) (kv.JoinResult, error)
	PromoteFn    func(ctx context.Context, id string) error
	GroupID      string
	RemoveFn     func(ctx context.Context, id string) error
	StatusFn     func() (kv.Status, error)
	ReadyFn      func() error
	LeaderHTTPFn func() (id, httpAddr string)
	IDFn         func() string
}

var _ Store = (*fakeStore)(nil)

func (f *fakeStore) Get(ctx context.Context, key string, level kv.ReadLevel) (string, bool, uint64, error) {
	if f.GetFn == nil {
		panic("fakeStore: unexpected call to Get")
	}
	return f.GetFn(ctx, key, level)
}

func (f *fakeStore) GetMany(ctx context.Context, keys []string, level kv.ReadLevel) (map[string]string, uint64, error) {
	if f.GetManyFn == nil {
		panic("fakeStore: unexpected call to GetMany")
	}
	return f.GetManyFn(ctx, keys, level)
}

func (f *fakeStore) Set(ctx context.Context, pairs map[string]string, writeID string) (uint64, error) {
	if f.SetFn == nil {
		panic("fakeStore: unexpected call to Set")
	}
	return f.SetFn(ctx, pairs, writeID)
}

func (f *fakeStore) Delete(ctx context.Context, key, writeID string) (uint64, error) {
	if f.DeleteFn == nil {
		panic("fakeStore: unexpected call to Delete")
	}
	return f.DeleteFn(ctx, key, writeID)
}

func (f *fakeStore) Join(ctx context.Context, j kv.Joiner) (kv.JoinResult, error) {
	if f.JoinFn == nil {
		panic("fakeStore: unexpected call to Join")
	}
	return f.JoinFn(ctx, j)
}

func (f *fakeStore) Group() string { return f.GroupID }

func (f *fakeStore) Promote(ctx context.Context, id string) error {
	if f.PromoteFn == nil {
		panic("fakeStore: unexpected call to Promote")
	}
	return f.PromoteFn(ctx, id)
}

func (f *fakeStore) Remove(ctx context.Context, id string) error {
	if f.RemoveFn == nil {
		panic("fakeStore: unexpected call to Remove")
	}
	return f.RemoveFn(ctx, id)
}

func (f *fakeStore) Status() (kv.Status, error) {
	if f.StatusFn == nil {
		panic("fakeStore: unexpected call to Status")
	}
	return f.StatusFn()
}

func (f *fakeStore) Ready() error {
	if f.ReadyFn == nil {
		panic("fakeStore: unexpected call to Ready")
	}
	return f.ReadyFn()
}

func (f *fakeStore) LeaderHTTP() (string, string) {
	if f.LeaderHTTPFn == nil {
		panic("fakeStore: unexpected call to LeaderHTTP")
	}
	return f.LeaderHTTPFn()
}

func (f *fakeStore) ID() string {
	if f.IDFn == nil {
		panic("fakeStore: unexpected call to ID")
	}
	return f.IDFn()
}

// newFake returns a fake for node "node1" that knows no leader and fails
// the test if any write method (Set, Delete, Join, Remove) is called; tests
// replace the fields they expect to be used.
func newFake(t *testing.T) *fakeStore {
	t.Helper()
	return &fakeStore{
		SetFn: func(context.Context, map[string]string, string) (uint64, error) {
			t.Error("unexpected call to Set")
			return 0, errors.New("unexpected Set")
		},
		DeleteFn: func(context.Context, string, string) (uint64, error) {
			t.Error("unexpected call to Delete")
			return 0, errors.New("unexpected Delete")
		},
		JoinFn: func(context.Context, kv.Joiner) (kv.JoinResult, error) {
			t.Error("unexpected call to Join")
			return kv.JoinResult{}, errors.New("unexpected Join")
		},
		PromoteFn: func(context.Context, string) error {
			t.Error("unexpected call to Promote")
			return errors.New("unexpected Promote")
		},
		RemoveFn: func(context.Context, string) error {
			t.Error("unexpected call to Remove")
			return errors.New("unexpected Remove")
		},
		LeaderHTTPFn: func() (string, string) { return "", "" },
		IDFn:         func() string { return "node1" },
	}
}

// testLogger sends the service's logs to the test's output, shown only on
// failure (or with -v).
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}

// newService returns a Service over fs with a small body limit, so that
// 413 is cheap to provoke; edit adjusts the config further.
func newService(t *testing.T, fs Store, edit ...func(*Config)) *Service {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 256
	cfg.RequestTimeout = 5 * time.Second
	cfg.Logger = testLogger(t)
	for _, e := range edit {
		e(&cfg)
	}
	return New(cfg, fs)
}

// serve sends one request straight to h and returns the recorded answer.
// hdr is a list of header name, value pairs.
func serve(t *testing.T, h http.Handler, method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// checkJSONError checks that rec is a JSON error answer with this status,
// and returns the decoded body.
func checkJSONError(t *testing.T, rec *httptest.ResponseRecorder, status int) api.Error {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d; body: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var fields map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &fields); err != nil {
		t.Fatalf("error body %q is not a JSON object: %v", rec.Body, err)
	}
	if msg, ok := fields["error"].(string); !ok || msg == "" {
		t.Errorf(`error body %s has no non-empty "error" string`, rec.Body)
	}
	var e api.Error
	_ = json.Unmarshal(rec.Body.Bytes(), &e)
	return e
}

// diffMaps reports how got differs from want as "(-want +got)" lines.
func diffMaps[V comparable](want, got map[string]V) string {
	var b strings.Builder
	keys := slices.Sorted(maps.Keys(want))
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		w, inW := want[k]
		g, inG := got[k]
		switch {
		case inW && !inG:
			fmt.Fprintf(&b, "-%q: %v\n", k, w)
		case !inW && inG:
			fmt.Fprintf(&b, "+%q: %v\n", k, g)
		case w != g:
			fmt.Fprintf(&b, "-%q: %v\n+%q: %v\n", k, w, k, g)
		}
	}
	return b.String()
}

type observedRequest struct {
	route string
	code  int
}

type recordingObserver struct{ got []observedRequest }

func (o *recordingObserver) ObserveRequest(route string, code int, _ time.Duration) {
	o.got = append(o.got, observedRequest{route, code})
}

func TestObserverAndMetricsRoute(t *testing.T) {
	obs := &recordingObserver{}
	cfg := DefaultConfig()
	cfg.Observer = obs
	cfg.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "metrics here") })
	svc := New(cfg, &fakeStore{
		ReadyFn: func() error { return nil },
	})
	for _, path := range []string{"/metrics", "/readyz", "/nope"} {
		rec := httptest.NewRecorder()
		svc.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if path == "/metrics" && rec.Body.String() != "metrics here" {
			t.Errorf("/metrics served %q", rec.Body.String())
		}
	}
	want := []observedRequest{{"GET /metrics", 200}, {"GET /readyz", 200}, {"unmatched", 404}}
	if diff := cmpObserved(want, obs.got); diff != "" {
		t.Error(diff)
	}
}

func cmpObserved(want, got []observedRequest) string {
	if len(want) != len(got) {
		return fmt.Sprintf("observed %v, want %v", got, want)
	}
	for i := range want {
		if want[i] != got[i] {
			return fmt.Sprintf("observed %v, want %v", got, want)
		}
	}
	return ""
}
