package store

import (
	"errors"

	"github.com/hashicorp/raft"
)

// errNotAdmitted answers a TimeoutNow sent to a node that may not vote.
var errNotAdmitted = errors.New("this node has not been admitted by its group yet and does not stand for election")

// gatedTransport is raft's transport with one rule added: while the node is
// not admitted (see identity.go), it grants no vote, pre-vote or
// TimeoutNow. Everything else passes through, so the node still receives
// the log and snapshots and catches up. Once admitted it is a plain pipe.
//
// The gate is at the transport because raft itself grants a vote from a
// node with an empty configuration to any candidate, and a node that lost
// its disk has exactly that.
type gatedTransport struct {
	*raft.NetworkTransport
	admitted func() bool
	header   raft.RPCHeader // this node's, for the answers the gate gives
	rpcs     chan raft.RPC
	done     <-chan struct{}
}

// gate wraps trans; admitted is consulted for every vote request.
func gate(trans *raft.NetworkTransport, id string, admitted func() bool, done <-chan struct{}) *gatedTransport {
	g := &gatedTransport{NetworkTransport: trans, admitted: admitted, rpcs: make(chan raft.RPC), done: done,
		header: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(id), Addr: []byte(trans.LocalAddr())}}
	go g.run()
	return g
}

// Consumer is the channel raft reads its incoming RPCs from.
func (g *gatedTransport) Consumer() <-chan raft.RPC { return g.rpcs }

func (g *gatedTransport) run() {
	in := g.NetworkTransport.Consumer()
	for {
		var rpc raft.RPC
		select {
		case rpc = <-in:
		case <-g.done:
			return
		}
		if !g.admitted() && g.refuse(rpc) {
			continue
		}
		select {
		case g.rpcs <- rpc:
		case <-g.done:
			return
		}
	}
}

// refuse answers rpc itself if it asks for a vote or an election, and
// reports whether it did.
func (g *gatedTransport) refuse(rpc raft.RPC) bool {
	switch req := rpc.Command.(type) {
	case *raft.RequestVoteRequest:
		rpc.Respond(&raft.RequestVoteResponse{RPCHeader: g.header, Term: req.Term, Granted: false}, nil)
	case *raft.RequestPreVoteRequest:
		rpc.Respond(&raft.RequestPreVoteResponse{RPCHeader: g.header, Term: req.Term, Granted: false}, nil)
	case *raft.TimeoutNowRequest:
		rpc.Respond(nil, errNotAdmitted)
	default:
		return false
	}
	return true
}
