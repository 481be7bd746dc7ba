package store

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// A node that is not admitted answers vote requests itself, with no vote,
// and never passes them to raft; once admitted it passes everything on.
func TestGateRefusesVotesUntilAdmitted(t *testing.T) {
	trans, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer trans.Close()
	var admitted atomic.Bool
	done := make(chan struct{})
	defer close(done)
	g := gate(trans, "node9", admitted.Load, done)

	peer, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	target := trans.LocalAddr()
	req := &raft.RequestVoteRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("cand"), Addr: []byte(peer.LocalAddr())}, Term: 7, LastLogIndex: 100, LastLogTerm: 6}

	var resp raft.RequestVoteResponse
	if err := peer.RequestVote("node9", target, req, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Granted || string(resp.ID) != "node9" {
		t.Fatalf("not admitted: vote %+v, want refused by node9", resp)
	}
	var pre raft.RequestPreVoteResponse
	if err := peer.RequestPreVote("node9", target, &raft.RequestPreVoteRequest{RPCHeader: req.RPCHeader, Term: 7}, &pre); err != nil || pre.Granted {
		t.Fatalf("not admitted: pre-vote %+v, %v; want refused", pre, err)
	}
	if err := peer.TimeoutNow("node9", target, &raft.TimeoutNowRequest{RPCHeader: req.RPCHeader}, &raft.TimeoutNowResponse{}); err == nil {
		t.Fatal("not admitted: TimeoutNow accepted")
	}
	select {
	case rpc := <-g.Consumer():
		t.Fatalf("raft received %T while not admitted", rpc.Command)
	default:
	}

	admitted.Store(true)
	go func() {
		rpc := <-g.Consumer()
		rpc.Respond(&raft.RequestVoteResponse{Term: 7, Granted: true}, nil)
	}()
	if err := peer.RequestVote("node9", target, req, &resp); err != nil {
		t.Fatal(err)
	}
	if !resp.Granted {
		t.Fatal("admitted: raft's answer did not come through")
	}
}
