package httpd

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/httpx"
	"github.com/kvraft/hraftd/kv"
)

func (s *Service) handleJoin(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := decodeJoin(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.checkJoinClaim(r, req); err != nil {
		httpx.WriteError(w, http.StatusForbidden, "join refused: "+err.Error())
		return
	}
	res, err := s.store.Join(r.Context(), kv.Joiner{ID: req.ID, RaftAddr: req.Addr, HTTPAddr: req.HTTPAddr,
		Group: req.Group, Incarnation: req.Incarnation, Fresh: req.Fresh})
	if err != nil {
		s.forwardOrError(w, r, body, err)
		return
	}
	if !res.Voter {
		if res, err = s.admit(r.Context(), req, res); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	httpx.WriteJSON(w, http.StatusOK, api.JoinResponse{Group: res.Group, Term: res.Term, CommitIndex: res.CommitIndex})
}

// decodeJoin parses and checks the body of POST /join.
func decodeJoin(body []byte) (api.JoinRequest, error) {
	var req api.JoinRequest
	if err := httpx.DecodeObject(body, &req, false); err != nil {
		return req, err
	}
	if req.ID == "" || req.Addr == "" {
		return req, fmt.Errorf(`%w: join needs "id" and "addr", e.g. {"id":"node1","addr":"127.0.0.1:12001"}`, kv.ErrInvalid)
	}
	if _, _, err := net.SplitHostPort(req.Addr); err != nil {
		return req, fmt.Errorf("%w: addr %q is not host:port", kv.ErrInvalid, req.Addr)
	}
	if req.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(req.HTTPAddr); err != nil {
			return req, fmt.Errorf("%w: http_addr %q is not host:port", kv.ErrInvalid, req.HTTPAddr)
		}
	}
	return req, nil
}

func (s *Service) handleRemove(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req api.RemoveRequest
	if err := httpx.DecodeObject(body, &req, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.ID == "" {
		s.writeError(w, r, fmt.Errorf(`%w: remove needs "id", e.g. {"id":"node2"}`, kv.ErrInvalid))
		return
	}
	if err := s.store.Remove(r.Context(), req.ID); err != nil {
		s.forwardOrError(w, r, body, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Service) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.store.Status()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toAPIStatus(st))
}

// toAPIStatus shapes a kv.Status as hraftd's /status: me, leader, and the
// followers (every member but the leader), plus the additive fields.
func toAPIStatus(st kv.Status) api.Status {
	server := func(m kv.Member) api.Server {
		return api.Server{ID: m.ID, Address: m.RaftAddr, HTTP: m.HTTPAddr}
	}
	out := api.Status{
		Me:           server(st.Me),
		Leader:       server(st.Leader),
		Followers:    []api.Server{},
		State:        st.State,
		Term:         st.Term,
		LastLogIndex: st.LastLogIndex,
		CommitIndex:  st.CommitIndex,
		AppliedIndex: st.AppliedIndex,
		LastContact:  st.LastContact.Round(time.Millisecond).String(),
		Digest: api.Digest{
			AppliedIndex: st.Digest.AppliedIndex,
			Keys:         st.Digest.Keys,
			Hash:         st.Digest.HashString(),
		},
		Group:        st.Group,
		Incarnation:  st.Incarnation,
		Admitted:     st.Admitted,
		Damage:       damage(st.Damage),
		Lag:          st.Lag,
		Checkpoint:   digest(st.Checkpoint),
		ReplicaCheck: replicaCheck(st.ReplicaCheck),
		RefusedPeers: st.Refused,
	}
	for _, m := range st.Members {
		if m.ID != st.Leader.ID {
			out.Followers = append(out.Followers, server(m))
		}
	}
	return out
}

func (s *Service) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if err := s.store.Ready(); err != nil {
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]bool{"ready": true})
}

// digest is d as /status shows it; nil stays nil.
func digest(d *kv.Digest) *api.Digest {
	if d == nil {
		return nil
	}
	return &api.Digest{AppliedIndex: d.AppliedIndex, Keys: d.Keys, Hash: d.HashString()}
}

// replicaCheck is c as /status shows it; nil stays nil.
func replicaCheck(c *kv.ReplicaCheck) *api.ReplicaCheck {
	if c == nil {
		return nil
	}
	return &api.ReplicaCheck{Index: c.Index, At: c.At.UTC().Format(time.RFC3339), Hash: c.Hash,
		NoMajority: c.NoMajority, Agreed: c.Agreed, Diverged: c.Diverged, Missing: c.Missing}
}

// damage is d as /status shows it; nil when the node is healthy.
func damage(d *kv.Damage) *api.Damage {
	if d == nil {
		return nil
	}
	return &api.Damage{File: d.File, Index: d.Index, Term: d.Term, Problem: d.Problem, Fix: d.Fix,
		Since: d.Since.UTC().Format(time.RFC3339)}
}
