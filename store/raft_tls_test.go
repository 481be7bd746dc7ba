package store

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/internal/pki"
	"github.com/kvraft/hraftd/internal/pki/pkitest"
	"github.com/kvraft/hraftd/internal/tlsconf"
	"github.com/kvraft/hraftd/raftnet"
)

// tlsSource issues a certificate from issuer for name, role and 127.0.0.1,
// and loads it with trusted's bundle, as -tls-cert/-tls-key/-tls-ca would.
func tlsSource(t *testing.T, issuer, trusted *pki.CA, name, role string) *tlsconf.Source {
	return pkitest.Source(t, issuer, pkitest.Leaf(name, role, "127.0.0.1"), testLogger(t), trusted)
}

// startTLSCluster is startCluster with Raft over mutual TLS: each node has
// its own node certificate from ca.
func startTLSCluster(t *testing.T, n int, ca *pki.CA) []*testNode {
	t.Helper()
	start := func(i int) *testNode {
		id := fmt.Sprintf("node%d", i)
		dir, addr := t.TempDir(), freeAddr(t)
		cfg := testConfig(t, id, dir, addr, i == 0)
		cfg.RaftTLS = tlsSource(t, ca, ca, id, tlsconf.RoleNode)
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Open(); err != nil {
			t.Fatalf("open %s: %v", id, err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return &testNode{Store: s, dir: dir, raftAddr: addr}
	}
	nodes := []*testNode{start(0)}
	waitForLeader(t, nodes)
	for i := 1; i < n; i++ {
		nd := start(i)
		admit(t, nodes[0], nd)
		nodes = append(nodes, nd)
	}
	return nodes
}

// attacker is a raft transport outside the group, over a raftnet layer
// with src (nil: plain TCP, but speaking raftnet's preamble, as someone
// who read this code would).
func attacker(t *testing.T, src *tlsconf.Source) *raft.NetworkTransport {
	t.Helper()
	layer, err := raftnet.Listen("127.0.0.1:0", "", src)
	if err != nil {
		t.Fatal(err)
	}
	trans := raft.NewNetworkTransport(layer, 1, 3*time.Second, io.Discard)
	t.Cleanup(func() { trans.Close() })
	return trans
}

// forgedHeader is the header of the attacker's RPCs.
func forgedHeader(trans *raft.NetworkTransport) raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("mallory"), Addr: []byte(trans.LocalAddr())}
}

// forgeAppend sends victim an AppendEntries, as if from its leader, that
// sets key=value at its next index and commits it.
func forgeAppend(trans *raft.NetworkTransport, victim *testNode, key, value string) error {
	lastTerm, err := strconv.ParseUint(victim.raft.Stats()["last_log_term"], 10, 64)
	if err != nil {
		return err
	}
	last := victim.raft.LastIndex()
	cmd := &Command{Writes: []Write{{Ops: []Op{{Type: OpSet, Key: key, Value: value}}}}}
	req := &raft.AppendEntriesRequest{
		RPCHeader: forgedHeader(trans), Term: victim.raft.CurrentTerm(),
		PrevLogEntry: last, PrevLogTerm: lastTerm,
		Entries:           []*raft.Log{{Index: last + 1, Term: victim.raft.CurrentTerm(), Type: raft.LogCommand, Data: cmd.Encode()}},
		LeaderCommitIndex: last + 1,
	}
	var resp raft.AppendEntriesResponse
	if err := trans.AppendEntries(raft.ServerID(victim.ID()), raft.ServerAddress(victim.raftAddr), req, &resp); err != nil {
		return err
	}
	if !resp.Success {
		return errors.New("append entries answered, but not a success")
	}
	return nil
}

// forgeTimeoutNow tells victim to start an election at once, as a leader
// handing over leadership would.
func forgeTimeoutNow(trans *raft.NetworkTransport, victim *testNode) error {
	return trans.TimeoutNow(raft.ServerID(victim.ID()), raft.ServerAddress(victim.raftAddr),
		&raft.TimeoutNowRequest{RPCHeader: forgedHeader(trans)}, &raft.TimeoutNowResponse{})
}

// forgeVote asks victim for its vote in a far-future term, which would
// make it adopt that term and depose its leader.
func forgeVote(trans *raft.NetworkTransport, victim *testNode) error {
	const huge = 1 << 40
	var resp raft.RequestVoteResponse
	return trans.RequestVote(raft.ServerID(victim.ID()), raft.ServerAddress(victim.raftAddr),
		&raft.RequestVoteRequest{RPCHeader: forgedHeader(trans), Term: huge, LastLogIndex: huge, LastLogTerm: huge}, &resp)
}

func aFollower(nodes []*testNode, leader *testNode) *testNode {
	for _, n := range nodes {
		if n != leader {
			return n
		}
	}
	return nil
}

// With Raft over mutual TLS, forged RPCs from outside the group reach no
// follower: every call fails, the term does not move, no election happens
// and the forged value is never applied.
func TestRaftTLSRefusesForgedRPCs(t *testing.T) {
	ca, other := newCA(t, "cluster"), newCA(t, "mallory")
	nodes := startTLSCluster(t, 3, ca)
	leader := waitForLeader(t, nodes)
	victim := aFollower(nodes, leader)
	term, changes := victim.raft.CurrentTerm(), leader.Counters().LeaderChanges

	var forged []string
	for _, a := range []struct {
		name string
		src  *tlsconf.Source
		want string // what the victim records about it
	}{
		{"plain TCP", nil, "does not speak TLS"},
		// Trusts the real CA, so it accepts the victim; presents its own.
		{"a certificate of another CA", tlsSource(t, other, ca, "node9", tlsconf.RoleNode), "not signed by this cluster's CA"},
		{"an operator certificate of the CA", tlsSource(t, ca, ca, "admin", tlsconf.RoleAdmin), `has role "admin"`},
	} {
		trans := attacker(t, a.src)
		forged = append(forged, "forged by "+a.name)
		for what, err := range map[string]error{
			"AppendEntries": forgeAppend(trans, victim, forged[len(forged)-1], "evil"),
			"TimeoutNow":    forgeTimeoutNow(trans, victim),
			"RequestVote":   forgeVote(trans, victim),
		} {
			if err == nil {
				t.Errorf("%s: forged %s succeeded", a.name, what)
			}
		}
		if r := victim.Network().Refused()["127.0.0.1"]; !strings.Contains(r, a.want) {
			t.Errorf("%s: the victim recorded %q, want it to say %q", a.name, r, a.want)
		}
	}

	if got := victim.raft.CurrentTerm(); got != term {
		t.Errorf("the victim's term moved: %d -> %d", term, got)
	}
	// A real write after the forgeries reaches the victim: by then it has
	// applied every entry it will ever have at the forged index.
	if _, err := leader.Set(ctxT(t), map[string]string{"real": "1"}, ""); err != nil {
		t.Fatal(err)
	}
	waitForValue(t, victim, "real", "1")
	for _, n := range nodes {
		for _, k := range forged {
			if _, ok, _ := n.fsm.get(k); ok {
				t.Errorf("%s applied %q", n.ID(), k)
			}
		}
	}
	if l := waitForLeader(t, nodes); l != leader || leader.Counters().LeaderChanges != changes ||
		victim.raft.CurrentTerm() != term {
		t.Errorf("an election happened: leader %s -> %s, term %d -> %d", leader.ID(), l.ID(), term, victim.raft.CurrentTerm())
	}
}

// Without TLS the same forgeries work, so the test above can fail: a
// forged entry is applied and a forged TimeoutNow moves the term.
func TestForgedRPCsWorkWithoutTLS(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := waitForLeader(t, nodes)
	victim := aFollower(nodes, leader)
	term := victim.raft.CurrentTerm()
	trans := attacker(t, nil)

	if err := forgeAppend(trans, victim, "forged", "evil"); err != nil {
		t.Fatalf("forged AppendEntries without TLS: %v", err)
	}
	waitForValue(t, victim, "forged", "evil")
	if err := forgeTimeoutNow(trans, victim); err != nil {
		t.Fatalf("forged TimeoutNow without TLS: %v", err)
	}
	poll(t, 10*time.Second, "the victim's term to move", func() error {
		if got := victim.raft.CurrentTerm(); got == term {
			return fmt.Errorf("term still %d", got)
		}
		return nil
	})
}

func newCA(t *testing.T, name string) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA(name, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}
