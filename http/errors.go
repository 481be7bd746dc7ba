package httpd

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/httpx"
	"github.com/kvraft/hraftd/kv"
)

// writeError is the one place that turns an error into an HTTP answer.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, kv.ErrTooLarge):
		httpx.WriteError(w, http.StatusRequestEntityTooLarge, err.Error())
	case errors.Is(err, kv.ErrInvalid):
		httpx.WriteError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, kv.ErrNotFound):
		httpx.WriteError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, kv.ErrForeign):
		httpx.WriteError(w, http.StatusConflict, err.Error())
	case errors.Is(err, errCatchingUp):
		// A joiner still catching up; its join is sent again.
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, kv.ErrStorage):
		// Not applied; another node (the next leader) can take it.
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, kv.ErrDamaged):
		// This node will not serve until it is replaced; another can.
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, kv.ErrNotLeader), errors.Is(err, kv.ErrNoLeader),
		errors.Is(err, kv.ErrLeadershipLost), errors.Is(err, kv.ErrClosed):
		// Leadership is moving (or this node is stopping); try again shortly.
		_, leaderHTTP := s.store.LeaderHTTP()
		w.Header().Set("Retry-After", "1")
		writeLeaderError(w, http.StatusServiceUnavailable, err.Error(), leaderHTTP)
	case errors.Is(err, kv.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		httpx.WriteError(w, http.StatusGatewayTimeout, err.Error())
	default:
		s.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		httpx.WriteError(w, http.StatusInternalServerError, err.Error())
	}
}

// writeLeaderError answers with status and an error that also names the
// leader's HTTP address, when one is known, so a client can go there.
func writeLeaderError(w http.ResponseWriter, status int, msg, leaderHTTP string) {
	httpx.WriteJSON(w, status, api.Error{Error: msg, Leader: leaderHTTP})
}

// routeDistributorAPI answers the distributor's endpoints (POST /set, GET
// /get/{clave}, DELETE /delete/{clave}), sent to a node by mistake, with a
// 404 that says where they are served and what the node's equivalent is.
func (s *Service) routeDistributorAPI() {
	for _, p := range []string{"/set", "/get", "/get/", "/delete", "/delete/"} {
		s.mux.HandleFunc(p, handleDistributorAPI)
	}
}

func handleDistributorAPI(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	var instead string
	switch {
	case p == "/set":
		instead = `POST /key with a body of key-value pairs, e.g. {"batman":"bruce"}`
	case strings.HasPrefix(p, "/get/") && len(p) > len("/get/"):
		instead = "GET /key/" + p[len("/get/"):]
	case strings.HasPrefix(p, "/delete/") && len(p) > len("/delete/"):
		instead = "DELETE /key/" + p[len("/delete/"):]
	case strings.HasPrefix(p, "/get"):
		instead = "GET /key/{key}"
	default:
		instead = "DELETE /key/{key}"
	}
	httpx.WriteError(w, http.StatusNotFound, "no such endpoint on a node: "+r.Method+" "+r.URL.Path+
		" is the distributor's API (served by the distributor, by default on :8080); a node's equivalent is "+instead)
}
