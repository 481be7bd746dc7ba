package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/kvraft/hraftd/internal/cluster"
)

// checkAfter heals the cluster and checks what must hold once it is whole:
// final reads of the shared keys (added to the history), every write-once
// key, converged replicas; then runs the crash-recovery phase. Each phase
// has its own deadline, so one that hangs cannot starve the next.
func checkAfter(ctx context.Context, cfg Config, c *cluster.Cluster, cl *Client, w *workload, rep *Report, rng *rand.Rand, logf func(string, ...any)) {
	phase := func(d time.Duration) (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, d) }

	pctx, cancel := phase(2 * time.Minute)
	err := healAll(pctx, c)
	cancel()
	if err != nil {
		rep.problem("healing the cluster after the run: %v", err)
	}

	// Final reads: the last word on every shared key, checked along with
	// the history.
	pctx, cancel = phase(time.Minute)
	w.records = append(w.records, finalReads(pctx, cl, w.keys, cfg.Clients)...)
	cancel()

	pctx, cancel = phase(2 * time.Minute)
	verifyOnce(pctx, cl, w.once, rep)
	cancel()

	converge := func(when string) {
		rep.Digests = rep.Digests[:0]
		for s := range c.Shards {
			pctx, cancel := phase(30 * time.Second)
			d, err := c.WaitConverged(pctx, s)
			cancel()
			if err != nil {
				rep.problem("%s%v", when, err)
			}
			rep.Digests = append(rep.Digests, d)
		}
	}
	converge("")
	if cfg.CrashRecovery && ctx.Err() == nil {
		pctx, cancel = phase(3 * time.Minute)
		cr, err := crashRecovery(pctx, c, cl, rng, logf)
		cancel()
		rep.Crash = cr
		if err != nil {
			rep.problem("crash recovery: %v", err)
		}
		converge("after crash recovery: ")
	}
	if ctx.Err() != nil {
		rep.problem("run interrupted: %v", ctx.Err())
	}
}

func healAll(ctx context.Context, c *cluster.Cluster) error {
	var errs []error
	for s, nodes := range c.Shards {
		for _, n := range nodes {
			if !n.Running() {
				errs = append(errs, n.Start(ctx))
			} else {
				_ = n.Resume()
			}
		}
		errs = append(errs, c.Heal(ctx, s))
	}
	if c.Dist != nil && !c.Dist.Running() {
		errs = append(errs, c.Dist.Start(ctx))
	}
	for s := range c.Shards {
		_, err := c.WaitHealthy(ctx, s)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// finalReads reads every key once, retrying a read that gets no answer (a
// few times, within ctx), as a client of its own.
func finalReads(ctx context.Context, cl *Client, keys []string, client int) []Record {
	rng := rand.New(rand.NewPCG(1, 2))
	var out []Record
	for _, k := range keys {
		for attempt := 0; attempt < 10; attempt++ {
			in := Input{Op: OpGet, Key: k}
			start := time.Now()
			o, oc, detail := cl.Do(ctx, in, rng)
			out = append(out, Record{Client: client, Input: in, Output: o, Outcome: oc, Start: start, End: time.Now(), Detail: "final read; " + detail})
			if oc == OK || !sleepCtx(ctx, nil, 200*time.Millisecond) {
				break
			}
		}
	}
	return out
}

// readBack reads key until it gets a definite answer (up to 30 s).
func readBack(ctx context.Context, cl *Client, key string) (Output, error) {
	rng := rand.New(rand.NewPCG(3, 4))
	var out Output
	err := cluster.Poll(ctx, 30*time.Second, fmt.Sprintf("a definite answer to a read of %q", key), func() error {
		o, oc, detail := cl.Do(ctx, Input{Op: OpGet, Key: key}, rng)
		if oc != OK {
			return errors.New(detail)
		}
		out = o
		return nil
	})
	if err != nil {
		return Output{}, err
	}
	return out, nil
}

// verifyOnce reads back every write-once key: an acknowledged one must
// hold exactly the value written; an unknown one may be there or not.
func verifyOnce(ctx context.Context, cl *Client, once []Record, rep *Report) {
	type result struct {
		r   Record
		out Output
		err error
	}
	var todo []Record
	for _, r := range once {
		if r.Outcome != Failed {
			todo = append(todo, r)
		}
	}
	results := parallelMap(todo, 8, func(r Record) result {
		out, err := readBack(ctx, cl, r.Input.Key)
		return result{r, out, err}
	})
	for _, res := range results {
		switch {
		case res.err != nil:
			rep.problem("write-once: %v", res.err)
		case res.r.Outcome == OK:
			rep.OnceAcked++
			if !res.out.Found || res.out.Value != res.r.Input.Value {
				rep.OnceLost++
				rep.problem("LOST WRITE: set(%s, %s) was acknowledged at %s but a read now returns %s",
					res.r.Input.Key, res.r.Input.Value, res.r.End.Format(time.RFC3339Nano), describe(res.out))
			}
		case res.out.Found && res.out.Value == res.r.Input.Value:
			rep.OnceUnknownPresent++
		case res.out.Found:
			rep.problem("write-once key %s holds %q, which nobody wrote", res.r.Input.Key, res.out.Value)
		default:
			rep.OnceUnknownAbsent++
		}
	}
}

func describe(o Output) string {
	if !o.Found {
		return "absent"
	}
	return fmt.Sprintf("%q", o.Value)
}

// parallelMap applies f to every item with n workers, keeping the order.
func parallelMap[T, R any](items []T, n int, f func(T) R) []R {
	out := make([]R, len(items))
	next := make(chan int)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for i := range next {
				out[i] = f(items[i])
			}
		})
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}
