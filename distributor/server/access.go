package server

import (
	"net/http"

	"github.com/kvraft/hraftd/internal/auth"
)

// Who may use which route, with -auth (Config.Auth): reading keys needs
// read; writing and deleting them, write; what shows the state of the
// cluster rather than its data (/status, /shard/{clave}, /metrics, the
// dashboard and its events), status; the profiler, admin. Unknown paths
// and wrong methods are answered 404 and 405 without a check: they serve
// nothing, and the list of endpoints they name is public.
//
// The check runs after the mux picked the route, inside the route's own
// handler, so that a server without -auth registers the bare handlers and
// pays nothing per request.

// route serves pattern with h, behind a check of perm if the server
// authenticates.
func (s *Server) route(pattern string, perm auth.Perm, h http.HandlerFunc) {
	a := s.cfg.Auth
	if a == nil {
		s.mux.Handle(pattern, h)
		return
	}
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := a.Check(w, r, perm); ok {
			h(w, r)
		}
	}))
}

// permMux registers routes that all need one permission, for helpers that
// take a mux (httpx.MountPprof).
type permMux struct {
	s    *Server
	perm auth.Perm
}

func (m permMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.s.route(pattern, m.perm, h)
}
