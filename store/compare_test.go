package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kvraft/hraftd/kv"
)

// digestsOf is a DigestAt that reads the test nodes' checkpoints directly.
func digestsOf(nodes []*testNode) DigestAt {
	return func(_ context.Context, m kv.Member, index uint64) (kv.Digest, bool, error) {
		for _, n := range nodes {
			if n.ID() != m.ID {
				continue
			}
			if d, ok := n.CheckpointDigest(index); ok {
				return d, true, nil
			}
			if d, ok := n.LatestCheckpoint(); ok && d.AppliedIndex > index {
				return kv.Digest{}, false, ErrNoDigest
			}
			return kv.Digest{}, false, nil
		}
		return kv.Digest{}, false, fmt.Errorf("%w: no node %s", ErrNoDigest, m.ID)
	}
}

// corrupt changes key in n's state machine without going through the log,
// as a memory fault or a bug would.
func corrupt(n *testNode, key, value string) {
	n.fsm.mu.Lock()
	n.fsm.applyOp(Op{Type: OpSet, Key: key, Value: value})
	n.fsm.mu.Unlock()
}

func TestCompareReplicasAllAgree(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := waitForLeader(t, nodes)
	if _, err := leader.Set(ctxT(t), map[string]string{"a": "1", "b": "2"}, ""); err != nil {
		t.Fatal(err)
	}
	check, err := leader.CompareReplicas(ctxT(t), digestsOf(nodes))
	if err != nil {
		t.Fatal(err)
	}
	if len(check.Agreed) != 3 || len(check.Diverged) != 0 || check.NoMajority || check.Hash == "" {
		t.Fatalf("check %+v, want all three agreeing", check)
	}
	if got := leader.LastReplicaCheck(); got == nil || got.Index != check.Index {
		t.Fatalf("LastReplicaCheck %+v", got)
	}
	for _, n := range nodes {
		if d := n.Damaged(); d != nil {
			t.Fatalf("%s damaged: %+v", n.ID(), d)
		}
	}
}

// A follower whose state differs from the log is marked diverged and
// stops serving; the others go on.
func TestCompareReplicasStopsADivergedFollower(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := waitForLeader(t, nodes)
	if _, err := leader.Set(ctxT(t), map[string]string{"batman": "bruce"}, ""); err != nil {
		t.Fatal(err)
	}
	f := nodes[0]
	if f == leader {
		f = nodes[1]
	}
	waitForValue(t, f, "batman", "bruce")
	corrupt(f, "batman", "joker")
	check, err := leader.CompareReplicas(ctxT(t), digestsOf(nodes))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(check.Diverged, []string{f.ID()}) || len(check.Agreed) != 2 {
		t.Fatalf("check %+v, want %s diverged and two agreeing", check, f.ID())
	}
	poll(t, 10*time.Second, f.ID()+" to stop serving", func() error {
		if f.Damaged() == nil {
			return errors.New("not damaged")
		}
		return nil
	})
	if _, _, _, err := f.Get(ctxT(t), "batman", kv.ReadNone); !errors.Is(err, kv.ErrDamaged) {
		t.Fatalf("read on the diverged node: %v, want ErrDamaged", err)
	}
	if _, err := leader.Set(ctxT(t), map[string]string{"after": "1"}, ""); err != nil {
		t.Fatalf("write after marking: %v", err)
	}
	if v, _, _, err := leader.Get(ctxT(t), "batman", kv.ReadLinearizable); err != nil || v != "bruce" {
		t.Fatalf("leader reads batman=%q (%v), want bruce", v, err)
	}
}

// A leader whose own state is the odd one out marks itself and steps
// down; the others elect a leader that serves the logged value.
func TestCompareReplicasStopsADivergedLeader(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := waitForLeader(t, nodes)
	if _, err := leader.Set(ctxT(t), map[string]string{"batman": "bruce"}, ""); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		waitForValue(t, n, "batman", "bruce")
	}
	corrupt(leader, "batman", "joker")
	check, err := leader.CompareReplicas(ctxT(t), digestsOf(nodes))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(check.Diverged, []string{leader.ID()}) {
		t.Fatalf("check %+v, want the leader %s diverged", check, leader.ID())
	}
	poll(t, 10*time.Second, leader.ID()+" to stop", func() error {
		if leader.Damaged() == nil {
			return errors.New("not damaged")
		}
		return nil
	})
	var rest []*testNode
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	next := waitForLeader(t, rest)
	if v, _, _, err := next.Get(ctxT(t), "batman", kv.ReadLinearizable); err != nil || v != "bruce" {
		t.Fatalf("new leader reads batman=%q (%v), want bruce", v, err)
	}
}

// Without a majority of voters agreeing nothing is marked.
func TestJudge(t *testing.T) {
	members := []kv.Member{{ID: "a", Voter: true}, {ID: "b", Voter: true}, {ID: "c", Voter: true}, {ID: "d"}}
	x := kv.Digest{AppliedIndex: 9, Keys: 1, Hash: 1}
	y := kv.Digest{AppliedIndex: 9, Keys: 1, Hash: 2}
	cases := []struct {
		name     string
		digests  map[string]kv.Digest
		diverged []string
		none     bool
	}{
		{"all agree", map[string]kv.Digest{"a": x, "b": x, "c": x, "d": x}, nil, false},
		{"a voter differs", map[string]kv.Digest{"a": x, "b": y, "c": x}, []string{"b"}, false},
		{"the non-voter differs", map[string]kv.Digest{"a": x, "b": x, "d": y}, []string{"d"}, false},
		{"split with one missing", map[string]kv.Digest{"a": x, "b": y}, nil, true},
		{"non-voters do not make a majority", map[string]kv.Digest{"a": x, "d": x, "b": y}, nil, true},
	}
	for _, tc := range cases {
		got := judge(9, members, tc.digests)
		if !slices.Equal(got.Diverged, tc.diverged) || got.NoMajority != tc.none {
			t.Errorf("%s: %+v, want diverged %v, no majority %v", tc.name, got, tc.diverged, tc.none)
		}
	}
}
