package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kvraft/hraftd/kv"
)

func TestCheckpointCommandRoundTrip(t *testing.T) {
	b := checkpointCommand().Encode()
	if !IsCheckpoint(b) {
		t.Fatal("a checkpoint's encoding is not recognised as one")
	}
	set := (&Command{Writes: []Write{{Ops: []Op{{Type: OpSet, Key: "k", Value: "v"}}}}}).Encode()
	if IsCheckpoint(set) {
		t.Fatal("a set is taken for a checkpoint")
	}
	two := (&Command{Writes: []Write{{Ops: []Op{{Type: OpCheckpoint}, {Type: OpCheckpoint}}}}}).Encode()
	if IsCheckpoint(two) {
		t.Fatal("an entry with two ops is taken for a checkpoint")
	}
	b[len(b)/2] ^= 1
	if IsCheckpoint(b) {
		t.Fatal("a damaged checkpoint is still recognised")
	}
}

func TestCheckpointRingKeepsNewest(t *testing.T) {
	var r checkpointRing
	for i := uint64(1); i <= checkpointsKept+3; i++ {
		r.add(kv.Digest{AppliedIndex: i, Hash: i * 7})
	}
	if _, ok := r.at(3); ok {
		t.Fatal("index 3 should have been dropped")
	}
	last := uint64(checkpointsKept + 3)
	if d, ok := r.at(last); !ok || d.Hash != last*7 {
		t.Fatalf("at(%d) = %+v, %v", last, d, ok)
	}
	if len(r.digests) != checkpointsKept {
		t.Fatalf("kept %d, want %d", len(r.digests), checkpointsKept)
	}
}

// Every replica records the same digest at a checkpoint, although each
// applies it at its own time, and the digest is that of the state before
// writes that follow it.
func TestCheckpointDigestsAgreeAcrossReplicas(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := waitForLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 20 {
		if _, err := leader.Set(ctx, map[string]string{fmt.Sprintf("k%d", i): "v"}, ""); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := leader.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Set(ctx, map[string]string{"after": "x"}, ""); err != nil {
		t.Fatal(err)
	}
	want, ok := leader.CheckpointDigest(idx)
	if !ok || want.Keys != 20 || want.AppliedIndex != idx {
		t.Fatalf("leader's checkpoint digest = %+v, %v; want 20 keys at %d", want, ok, idx)
	}
	if live := leader.fsm.digest(); live.Hash == want.Hash {
		t.Fatal("the write after the checkpoint did not change the live digest: the test proves nothing")
	}
	for _, n := range nodes {
		poll(t, 10*time.Second, "checkpoint applied on "+n.ID(), func() error {
			got, ok := n.CheckpointDigest(idx)
			if !ok {
				return fmt.Errorf("no checkpoint at %d yet", idx)
			}
			if got != want {
				return fmt.Errorf("digest %+v, leader's %+v", got, want)
			}
			return nil
		})
		if d, ok := n.LatestCheckpoint(); !ok || d.AppliedIndex != idx {
			t.Fatalf("%s: latest checkpoint %+v, %v", n.ID(), d, ok)
		}
	}
}

func TestExecuteRefusesCheckpointOps(t *testing.T) {
	nodes := startCluster(t, 1)
	_, err := nodes[0].Execute(context.Background(), []Write{{Ops: []Op{{Type: OpCheckpoint}}}})
	if err == nil {
		t.Fatal("a client's write may not carry a checkpoint")
	}
}
