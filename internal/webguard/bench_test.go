package webguard

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkGuard is the cost per request of every guard in front of a
// handler that does nothing, for a same-origin write from a browser.
func BenchmarkGuard(b *testing.B) {
	g, err := New(Config{AllowedHosts: []string{"node0.internal"}})
	if err != nil {
		b.Fatal(err)
	}
	h := g.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("POST", "http://127.0.0.1:8080/set", strings.NewReader(`{}`))
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	w := httptest.NewRecorder()
	for b.Loop() {
		clear(w.Header())
		h.ServeHTTP(w, r)
	}
}
