package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/kvraft/hraftd/internal/cluster"
)

// beforeCrash marks a write acknowledged on the doomed shard before the
// kill began: the writes the crash must not lose.
const beforeCrash = "before-crash"

// crashRecovery kills all the nodes of one shard with SIGKILL in the middle
// of a write load, restarts them on their data directories, and reads back
// every acknowledged write.
func crashRecovery(ctx context.Context, c *cluster.Cluster, cl *Client, rng *rand.Rand, logf func(string, ...any)) (*CrashReport, error) {
	cr := &CrashReport{Shard: rng.IntN(len(c.Shards))}
	logf("crash recovery: write load, then kill -9 every node of shard %d", cr.Shard)
	load := &crashLoad{cl: cl, shard: cr.Shard, shards: len(c.Shards), crashed: make(chan struct{}), stop: make(chan struct{})}
	load.start(ctx, 4)

	// Let acknowledgements pile up on the doomed shard first.
	_ = cluster.Poll(ctx, 10*time.Second, "writes acknowledged on the doomed shard", func() error {
		if n := load.acknowledgedBeforeCrash(); n < 50 {
			return fmt.Errorf("%d so far", n)
		}
		return nil
	})
	close(load.crashed)
	if err := crashShard(ctx, c, cr, logf); err != nil {
		load.stopWriters()
		return cr, err
	}
	// A little more load on the recovered shard, then read everything.
	sleepCtx(ctx, nil, time.Second)
	load.stopWriters()
	err := cr.readBack(ctx, cl, load.recs)
	logf("crash recovery: %d writes acknowledged (%d on shard %d before the crash), %d unknown, %d lost", cr.Acked, cr.OnShard, cr.Shard, cr.Unknown, cr.Lost)
	return cr, err
}

// crashShard kills every node of cr.Shard at once, restarts them after a
// second, and waits until the shard is healthy, timing both.
func crashShard(ctx context.Context, c *cluster.Cluster, cr *CrashReport, logf func(string, ...any)) error {
	nodes := c.Shards[cr.Shard]
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() { _ = n.Kill() })
	}
	wg.Wait()
	down := time.Now()
	logf("crash recovery: every node of shard %d killed", cr.Shard)
	sleepCtx(ctx, nil, time.Second)
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Go(func() { errs[i] = n.Start(ctx) })
	}
	wg.Wait()
	cr.Down = time.Since(down)
	t0 := time.Now()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if _, err := c.WaitHealthy(ctx, cr.Shard); err != nil {
		return err
	}
	cr.Recovery = time.Since(t0)
	logf("crash recovery: shard %d healthy %.1fs after the restart", cr.Shard, cr.Recovery.Seconds())
	return nil
}

// readBack counts the phase's writes by outcome and reads back every
// acknowledged one.
func (cr *CrashReport) readBack(ctx context.Context, cl *Client, recs []Record) error {
	var acked []Record
	for _, r := range recs {
		switch r.Outcome {
		case OK:
			cr.Acked++
			acked = append(acked, r)
			if r.Detail == beforeCrash {
				cr.OnShard++
			}
		case Unknown:
			cr.Unknown++
		}
	}
	var errs []error
	outs := parallelMap(acked, 8, func(r Record) error {
		out, err := readBack(ctx, cl, r.Input.Key)
		if err != nil {
			return err
		}
		if !out.Found || out.Value != r.Input.Value {
			return fmt.Errorf("LOST WRITE: set(%s, %s) acknowledged at %s, now reads %s", r.Input.Key, r.Input.Value, r.End.Format(time.RFC3339Nano), describe(out))
		}
		return nil
	})
	for _, err := range outs {
		if err != nil {
			if strings.HasPrefix(err.Error(), "LOST") {
				cr.Lost++
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// crashLoad is the phase's write load: writers on fresh keys, every call
// recorded.
type crashLoad struct {
	cl            *Client
	shard, shards int
	crashed, stop chan struct{} // closed when the kill begins; to stop
	wg            sync.WaitGroup

	mu   sync.Mutex
	recs []Record
}

func (l *crashLoad) start(ctx context.Context, writers int) {
	for id := range writers {
		l.wg.Go(func() { l.writer(ctx, id) })
	}
}

func (l *crashLoad) writer(ctx context.Context, id int) {
	rng := rand.New(rand.NewPCG(uint64(id), 99))
	for seq := 0; ; seq++ {
		select {
		case <-l.stop:
			return
		default:
		}
		in := Input{Op: OpPut, Key: fmt.Sprintf("crash/w%d/%d", id, seq), Value: fmt.Sprintf("crash-%d-%d", id, seq)}
		start := time.Now()
		_, oc, detail := l.cl.Do(ctx, in, rng)
		r := Record{Client: id, Input: in, Outcome: oc, Start: start, End: time.Now(), Detail: detail}
		select {
		case <-l.crashed:
		default:
			if oc == OK && shardOf(in.Key, l.shards) == l.shard {
				r.Detail = beforeCrash
			}
		}
		l.mu.Lock()
		l.recs = append(l.recs, r)
		l.mu.Unlock()
		if oc != OK && !sleepCtx(ctx, l.stop, 50*time.Millisecond) {
			return
		}
	}
}

func (l *crashLoad) acknowledgedBeforeCrash() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if r.Detail == beforeCrash {
			n++
		}
	}
	return n
}

func (l *crashLoad) stopWriters() {
	close(l.stop)
	l.wg.Wait()
}
