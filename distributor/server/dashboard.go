package server

import (
	"crypto/rand"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/distributor/watch"
	"github.com/kvraft/hraftd/internal/auth"
	"github.com/kvraft/hraftd/internal/httpx"
)

// web holds the dashboard: plain HTML, CSS and JavaScript, embedded so that
// the distributor binary serves it with no build step and no files beside
// it.
//
//go:embed web
var web embed.FS

// maxEventsPerState bounds the events in one /dashboard/state answer, so a
// page that comes back after a long absence gets the latest, not all.
const maxEventsPerState = 50

func (s *Server) routeDashboard() {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	// The page, its files and its state (events included) are status.
	s.route("GET /{$}", auth.PermStatus, func(w http.ResponseWriter, r *http.Request) {
		// The page is tiny and changes with the binary: always revalidate,
		// so a restarted distributor of a newer build serves its own page.
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, sub, "index.html")
	})
	s.route("GET /ui/", auth.PermStatus, http.StripPrefix("/ui/", noCache(files)).ServeHTTP)
	s.route("GET /dashboard/state", auth.PermStatus, s.handleDashboardState)
}

func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// dashboardState is the body of GET /dashboard/state, which the dashboard
// polls: the shards as the router last saw them, the counters the page
// turns into rates, and the events since the page's last poll.
type dashboardState struct {
	// Instance changes when the distributor restarts: the page then resets
	// its rates and its event cursor, since counters and sequence numbers
	// start again from zero.
	Instance string               `json:"instance"`
	Started  time.Time            `json:"started"`
	Now      time.Time            `json:"now"`
	Poll     string               `json:"poll"`
	Shards   []router.ShardStatus `json:"shards"`
	Counters router.Counters      `json:"counters"`
	HTTP     httpCounters         `json:"http"`
	// Events are those after the ?after= sequence number, at most the
	// latest 50, oldest first.
	Events []watch.Event `json:"events"`
}

func (s *Server) handleDashboardState(w http.ResponseWriter, r *http.Request) {
	var after uint64
	if a := r.URL.Query().Get("after"); a != "" {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			httpx.WriteJSON(w, http.StatusBadRequest, errorBody{Error: "after must be an event sequence number, e.g. ?after=12"})
			return
		}
		after = n
	}
	st := dashboardState{
		Instance: s.instance,
		Started:  s.started,
		Now:      time.Now(),
		Events:   []watch.Event{},
		HTTP:     s.httpCounters(),
	}
	var rs router.Status
	if obs := s.cfg.Observer; obs != nil {
		rs = obs.Status()
		if evs := obs.Events(after); len(evs) > maxEventsPerState {
			st.Events = evs[len(evs)-maxEventsPerState:]
		} else {
			st.Events = evs
		}
	} else {
		// Without an observer: the router's status, and no events.
		rs = s.router.Status()
	}
	st.Shards, st.Counters, st.Poll = rs.Shards, rs.Counters, rs.Poll
	// The page shows rates of the router's operations rather than of HTTP
	// requests, so its own polling does not show up as traffic.
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, st)
}

// newInstanceID is a random ID for this Server, so the page notices when
// the distributor restarts.
func newInstanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
