package server

import (
	"errors"
	"net/http"
	"slices"

	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/internal/httpx"
	"github.com/kvraft/hraftd/kv"
)

// errorBody is every error answer: "error" says what went wrong and what to
// do; the other fields, when set, say where.
type errorBody struct {
	Error string `json:"error"`
	Clave string `json:"clave,omitempty"`
	Shard *int   `json:"shard,omitempty"`
	// Node is the node that gave a definite answer.
	Node string `json:"node,omitempty"`
	// Nodes are the nodes tried, with why each could not serve.
	Nodes []router.NodeProblem `json:"nodes,omitempty"`
	// AppliedShards lists, for a POST /key spanning shards that failed in
	// part, the shards whose part was applied.
	AppliedShards []int `json:"applied_shards,omitempty"`
}

// writeError is the one place that turns an error into an HTTP answer.
// applied is what a multi-shard write managed before failing.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error, applied []router.Result) {
	body := errorBody{Error: err.Error()}
	var se *router.ShardError
	var ne *router.NodeError
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, kv.ErrTooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, kv.ErrInvalid):
		status = http.StatusBadRequest
	case errors.As(err, &ne):
		// A node refused the request itself (a key over its limit, say):
		// pass its verdict on. Anything else from a node is the node's
		// failure, not the client's: 502.
		status = http.StatusBadGateway
		if ne.Status == http.StatusBadRequest || ne.Status == http.StatusRequestEntityTooLarge {
			status = ne.Status
		}
		body.Shard, body.Node = &ne.Shard, ne.Node
	case errors.As(err, &se):
		body.Shard, body.Nodes = &se.Shard, se.Nodes
		if errors.Is(err, router.ErrTimeout) {
			status = http.StatusGatewayTimeout
		} else {
			// No leader, router closing, or the client went away.
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
		}
	}
	for _, res := range applied {
		body.AppliedShards = append(body.AppliedShards, res.Shard)
	}
	slices.Sort(body.AppliedShards)
	if status >= 500 {
		s.logger.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "error", err)
	}
	httpx.WriteJSON(w, status, body)
}
