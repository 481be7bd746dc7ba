package webguard

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBodyBudget(t *testing.T) {
	g, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	g.LimitBodies(3*(1<<20+1), 1<<20) // room for three bodies at the limit
	release := make(chan struct{})
	entered := make(chan struct{}, 8)
	h := g.Bodies(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	send := func(n int) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/key", strings.NewReader(strings.Repeat("x", n)))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	done := make(chan int, 3)
	for range 3 {
		go func() { done <- send(2 << 20).Code }() // each reserves 1 MiB + 1 (the cap)
	}
	for range 3 {
		<-entered
	}
	if rec := send(10); rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("a fourth body while three hold the budget: %d %s, want 503 with Retry-After", rec.Code, rec.Body)
	}
	if got := g.BodiesInFlight(); got != 3*(1<<20+1) {
		t.Errorf("reserved %d bytes, want %d", got, 3*(1<<20+1))
	}
	close(release)
	for range 3 {
		if code := <-done; code != http.StatusOK {
			t.Errorf("a body within the budget got %d", code)
		}
	}
	if got := g.BodiesInFlight(); got != 0 {
		t.Errorf("after the requests, %d bytes still reserved", got)
	}
	// Requests without a body never count, and one alone always passes.
	if rec := send(0); rec.Code != http.StatusOK {
		t.Errorf("GET-like request: %d", rec.Code)
	}
	g.LimitBodies(10, 1<<20)
	if rec := send(1000); rec.Code != http.StatusOK {
		t.Errorf("one body larger than the whole budget, alone: %d, want it let through", rec.Code)
	}
}
