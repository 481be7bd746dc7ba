package httpx

import (
	"fmt"
	"net/http"
)

// Mux is an http.ServeMux whose misses are JSON errors like every other
// answer: 404 for an unknown path (with Hint appended, e.g. the list of
// endpoints), 405 with Allow for a known path and the wrong method.
//
// It keeps a second mux with the same routes but no catch-all: on a miss,
// the catch-all asks that one what net/http would have answered and says
// it as JSON. Only misses pay for the second lookup.
type Mux struct {
	all    *http.ServeMux // every route plus the catch-all "/"
	routes *http.ServeMux // every route, no catch-all
	// Hint is appended to the message of a 404, e.g. "; the distributor
	// serves ...".
	Hint string
}

// NewMux returns an empty Mux.
func NewMux() *Mux {
	m := &Mux{all: http.NewServeMux(), routes: http.NewServeMux()}
	m.all.HandleFunc("/", m.miss)
	return m
}

// Handle routes pattern (a net/http pattern, e.g. "GET /key/{key...}") to h.
func (m *Mux) Handle(pattern string, h http.Handler) {
	m.all.Handle(pattern, h)
	m.routes.Handle(pattern, h)
}

// HandleFunc routes pattern to h.
func (m *Mux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// ServeHTTP routes r; the mux records the matched pattern in r.Pattern ("/"
// for a miss, see IsMiss).
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.all.ServeHTTP(w, r) }

// Handler returns the handler and pattern that would serve r, as
// http.ServeMux.Handler does.
func (m *Mux) Handler(r *http.Request) (http.Handler, string) { return m.all.Handler(r) }

// IsMiss reports whether a served request's pattern is the catch-all (or
// none), i.e. it was answered 404 or 405. Metrics label such requests as
// one series, not one per path a scanner tries.
func IsMiss(pattern string) bool { return pattern == "" || pattern == "/" }

func (m *Mux) miss(w http.ResponseWriter, r *http.Request) {
	h, _ := m.routes.Handler(r)
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusMethodNotAllowed:
		allow := rec.header.Get("Allow")
		w.Header().Set("Allow", allow)
		WriteError(w, http.StatusMethodNotAllowed,
			fmt.Sprintf("method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
	case http.StatusNotFound:
		WriteError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s%s", r.Method, r.URL.Path, m.Hint))
	default:
		// Not reached for clean paths: a route that matches is served
		// by the first mux, not by this catch-all.
		h.ServeHTTP(w, r)
	}
}

// recorder captures the status and headers of net/http's own answer.
type recorder struct {
	header http.Header
	status int
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return len(b), nil
}
