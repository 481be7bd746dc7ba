package load

import (
	"context"
	"crypto/tls"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kvraft/hraftd/bench/hist"
)

// counters are the live totals the progress bar reads while workers run.
type counters struct {
	ok, fail atomic.Uint64
}

// worker is one closed-loop client: one request in flight at a time.
type worker struct {
	id     int
	prefix string
	send   sender
	req    *requester
	pick   *picker
	live   *counters

	// Recorded after warmup only.
	lat        hist.Histogram
	ok, misses uint64
	fails      map[string]uint64
	firstErr   string
	key        []byte
	seq        uint64
}

// Run drives the load cfg describes until its warmup and duration have
// passed or ctx ends, and reports what it measured. Only answered requests
// count: a request cut short because ctx ended is neither a success nor an
// error, and Result.Interrupted says the run was cut short. Latency is that
// of successes (misses included); errors are counted by kind.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if cfg.Engine == EngineWrk {
		return runWrk(ctx, cfg)
	}
	req, err := newRequester(&cfg)
	if err != nil {
		return Result{}, err
	}
	u, _ := url.Parse(cfg.URL) // Validate parsed it
	raw := rawOptions{addr: hostPort(u), host: u.Host, timeout: cfg.RequestTimeout,
		auth: cfg.Authorization, oneShot: cfg.NewConnPerRequest}
	if u.Scheme == "https" {
		raw.tls = &tls.Config{}
		if cfg.TLS != nil {
			raw.tls = cfg.TLS.Clone()
		}
		if raw.tls.ServerName == "" {
			raw.tls.ServerName = u.Hostname()
		}
	}
	newSender := func() sender { return newRawSender(ctx, raw) }
	if cfg.Engine == EngineNetHTTP {
		client := cfg.Client
		if client == nil {
			client = NewTLSClient(cfg.Concurrency, cfg.RequestTimeout, cfg.TLS)
			defer client.CloseIdleConnections()
		}
		std := &stdSender{client: client, origin: u.Scheme + "://" + u.Host,
			auth: cfg.Authorization, oneShot: cfg.NewConnPerRequest}
		newSender = func() sender { return std }
	}
	live := &counters{}

	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	end := measureFrom.Add(cfg.Duration)
	if cfg.MeasureStart != nil {
		t := time.AfterFunc(cfg.Warmup, cfg.MeasureStart)
		defer t.Stop() // a run cut short in its warmup never starts measuring
	}

	var stopProgress func()
	if cfg.Progress != nil {
		stopProgress = startProgress(cfg.Progress, live, start, measureFrom, end)
	}

	workers := make([]*worker, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{
			id: i, prefix: cfg.Prefix, send: newSender(), req: req, live: live,
			pick:  newPicker(cfg.Seed, i, cfg.Keys, cfg.readFraction()),
			fails: map[string]uint64{},
		}
		workers[i] = w
		wg.Go(func() {
			defer w.send.close()
			w.loop(ctx, measureFrom, end)
		})
	}
	wg.Wait()
	finished := time.Now()
	if stopProgress != nil {
		stopProgress()
	}

	return collect(cfg, workers, measureFrom, finished, ctx.Err() != nil), nil
}

// collect merges what the workers measured into the run's Result.
func collect(cfg Config, workers []*worker, measureFrom, finished time.Time, interrupted bool) Result {
	if cfg.Target == TargetHello {
		cfg.Workload = WorkloadGet // all a hello server is sent
	}
	res := Result{
		Target:      cfg.Target,
		URL:         cfg.URL,
		Workload:    cfg.Workload,
		Level:       cfg.Level,
		Concurrency: cfg.Concurrency,
		ValueSize:   cfg.ValueSize,
		Engine:      cfg.Engine,
		Interrupted: interrupted,
		Errors:      map[string]uint64{},
	}
	// Throughput is over the measured window as it really ran: from the
	// end of warmup to the last worker's last answer, which includes the
	// requests still in flight at the deadline.
	if finished.After(measureFrom) {
		res.Elapsed = finished.Sub(measureFrom)
	}
	var all hist.Histogram
	for _, w := range workers {
		all.Merge(&w.lat)
		res.OK += w.ok
		res.Misses += w.misses
		for k, n := range w.fails {
			res.Errors[k] += n
			res.ErrorCount += n
		}
		if res.FirstError == "" {
			res.FirstError = w.firstErr
		}
	}
	res.hist = &all
	res.Latency = latencyOf(&all)
	if res.Elapsed > 0 {
		res.Throughput = float64(res.OK) / res.Elapsed.Seconds()
	}
	return res
}

// hostPort is the address to dial for u, with the scheme's default port
// when u names none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return u.Host + ":443"
	}
	return u.Host + ":80"
}

func (w *worker) loop(ctx context.Context, measureFrom, end time.Time) {
	for ctx.Err() == nil {
		started := time.Now()
		if !started.Before(end) {
			return
		}
		w.one(ctx, started, !started.Before(measureFrom))
	}
}

// one sends a single request and records its result if record is set.
func (w *worker) one(ctx context.Context, started time.Time, record bool) {
	read, idx := w.pick.next()
	var c call
	w.key = w.key[:0]
	if read {
		w.key = AppendReadKey(w.key, w.prefix, idx)
		c = w.req.getCall(w.key)
	} else {
		w.key = AppendWriteKey(w.key, w.prefix, w.id, w.seq)
		w.seq++
		c = w.req.setCall(w.key)
	}
	// The first failure's body says why (nodes answer JSON errors): ask
	// for it until one has been kept.
	a, err := w.send.send(ctx, c, record && w.firstErr == "")
	lat := time.Since(started)
	if err != nil {
		if ctx.Err() != nil {
			return // interrupted, not a server error
		}
		w.fail(record, errKind(err), err.Error())
		return
	}
	out, kind := w.req.judge(read, a)
	if out == outcomeFail {
		w.fail(record, kind, strings.TrimSpace(kind+" from "+c.method+" "+c.uri+": "+string(a.errBody)))
		return
	}
	w.live.ok.Add(1)
	if !record {
		return
	}
	w.ok++
	if out == outcomeMiss {
		w.misses++
	}
	w.lat.Record(lat)
}

func (w *worker) fail(record bool, kind, detail string) {
	w.live.fail.Add(1)
	if !record {
		return
	}
	w.fails[kind]++
	if w.firstErr == "" {
		w.firstErr = detail
	}
}
