package webguard

import (
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/kvraft/hraftd/internal/httpx"
)

// DefaultBodyBudget bounds the request bytes all requests in flight may
// hold at once. The read deadline (ReadTimeout) bounds how long a slow
// sender holds its share; this bounds how much the many senders of a flood
// hold together: each request holds at most its body limit, and without a
// budget MaxConns of them could pin MaxConns times that.
const DefaultBodyBudget = 64 << 20

// defaultMaxBody is the body limit assumed until LimitBodies says the
// program's own (both programs default to 1 MiB, -max-body).
const defaultMaxBody = 1 << 20

// budget is a count of body bytes reserved by requests in flight.
type budget struct {
	max     int64 // bytes all requests may reserve together
	maxBody int64 // what one request may reserve: its handler reads no more
	used    atomic.Int64
}

// LimitBodies sets the body budget (bytes all requests in flight may
// reserve together; 0 means DefaultBodyBudget, negative none) and the
// program's body limit, which caps what one request reserves.
func (g *Guard) LimitBodies(total, maxBody int64) {
	if total == 0 {
		total = DefaultBodyBudget
	}
	if maxBody <= 0 {
		maxBody = defaultMaxBody
	}
	g.bodies.max, g.bodies.maxBody = total, maxBody
}

// Bodies reserves each request's Content-Length (up to the body limit)
// from the budget while its handler runs. A request that does not fit is
// answered 503 with Retry-After at once, before its body is read; one
// request is always let through alone, however large, so a budget smaller
// than the body limit cannot shut the API. The budget counts reservations,
// not bytes read: a sender that declares a length and then stalls holds
// its share until the read deadline ends it.
func (g *Guard) Bodies(h http.Handler) http.Handler {
	b := &g.bodies
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := min(r.ContentLength, b.maxBody+1)
		if n <= 0 || b.max < 0 {
			h.ServeHTTP(w, r)
			return
		}
		if used := b.used.Add(n); used > b.max && used != n {
			b.used.Add(-n)
			w.Header().Set("Retry-After", "1")
			httpx.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf(
				"too many request bodies in flight (%d MiB reserved of %d MiB); retry in a moment",
				(used-n)>>20, b.max>>20))
			return
		}
		defer b.used.Add(-n)
		h.ServeHTTP(w, r)
	})
}

// BodiesInFlight is the number of body bytes reserved now (for a gauge
// and tests).
func (g *Guard) BodiesInFlight() int64 { return g.bodies.used.Load() }
