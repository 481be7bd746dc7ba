package httpd

import (
	"fmt"
	"net/http"

	"github.com/kvraft/hraftd/internal/httpx"
	"github.com/kvraft/hraftd/kv"
)

// Faults cuts this node's Raft traffic to and from chosen peers, and can
// change its state behind the log's back. The chaos tests use it to make
// network partitions between real processes without root (see package
// raftnet for why); the disk-fault tests, to make a replica diverge. It
// is only served when hraftd runs with -fault-injection (and, on a TLS
// cluster, only to an admin).
type Faults interface {
	// Block cuts traffic with the peers at these Raft addresses.
	Block(peers ...string)
	// Unblock restores traffic with these peers.
	Unblock(peers ...string)
	// Heal restores traffic with every peer.
	Heal()
	// Blocked lists the peers currently cut off.
	Blocked() []string
	// CorruptLocal sets key to value in this node's state machine only,
	// bypassing the log, as a memory fault would: the replica check must
	// find it.
	CorruptLocal(key, value string)
}

// FaultRequest is the body of POST /debug/faults; the actions apply in the
// order heal, unblock, block.
type FaultRequest struct {
	Block   []string `json:"block"`
	Unblock []string `json:"unblock"`
	Heal    bool     `json:"heal"`
	// Corrupt sets keys in this node's state machine only (see
	// Faults.CorruptLocal).
	Corrupt map[string]string `json:"corrupt"`
}

// FaultState is the answer of GET and POST /debug/faults.
type FaultState struct {
	Blocked []string `json:"blocked"`
}

func (s *Service) handleFaultsGet(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, FaultState{Blocked: s.cfg.Faults.Blocked()})
}

func (s *Service) handleFaultsPost(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req FaultRequest
	if err := httpx.DecodeObject(body, &req, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, p := range append(req.Block, req.Unblock...) {
		if p == "" {
			s.writeError(w, r, fmt.Errorf("%w: empty peer address", kv.ErrInvalid))
			return
		}
	}
	if req.Heal {
		s.cfg.Faults.Heal()
	}
	s.cfg.Faults.Unblock(req.Unblock...)
	s.cfg.Faults.Block(req.Block...)
	for k, v := range req.Corrupt {
		s.cfg.Faults.CorruptLocal(k, v)
	}
	s.logger.Warn("fault injection changed", "blocked", s.cfg.Faults.Blocked(), "corrupted_keys", len(req.Corrupt))
	httpx.WriteJSON(w, http.StatusOK, FaultState{Blocked: s.cfg.Faults.Blocked()})
}
