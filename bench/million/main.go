// Command million checks how a node copes with a large data set: it
// builds hraftd, starts a fresh 3-node group on free 127.0.0.1 ports
// (internal/cluster), loads it with 1M keys of 16 bytes and values of 100
// bytes (POST /key batches to the leader), waits until every node has
// applied them, reports each node's memory (VmRSS, RssAnon, RssFile from
// /proc), then restarts one follower from its data directory and times it
// until /readyz answers 200. It prints a markdown report with the goals
// (RSS ≤ 400 MB per node, ready ≤ 10 s).
//
//	go run ./bench/million
//	go run ./bench/million -keys 200000      # a quicker look
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kvraft/hraftd/internal/cluster"
)

const (
	keyBytes  = 16
	rssGoalMB = 400
	readyGoal = 10 * time.Second
)

// options are the command line.
type options struct {
	keys, valueSize, batch, workers int
	settle                          time.Duration
	keep                            bool
}

func main() {
	os.Exit(run())
}

func run() int {
	var o options
	flag.IntVar(&o.keys, "keys", 1_000_000, "Keys to load")
	flag.IntVar(&o.valueSize, "value-size", 100, "Bytes per value")
	flag.IntVar(&o.batch, "batch", 2000, "Pairs per POST /key")
	flag.IntVar(&o.workers, "workers", 4, "Concurrent POST /key batches")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "Pause after the load before measuring memory (lets the nodes snapshot and the GC run)")
	flag.BoolVar(&o.keep, "keep", false, "Keep the data directories (logs are always kept)")
	flag.Parse()
	if flag.NArg() != 0 || o.keys < 1 || o.valueSize < 1 || o.batch < 1 || o.workers < 1 {
		fmt.Fprintln(os.Stderr, "million: bad arguments; run with -h for help")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "million")

	dir, err := os.MkdirTemp("", "hraftd-million-")
	if err != nil {
		logger.Error("temp dir", "error", err)
		return 1
	}
	defer cluster.RemoveBuilds()
	defer func() {
		if !o.keep {
			_ = os.RemoveAll(filepath.Join(dir, "data"))
		}
		logger.Info("logs kept", "dir", filepath.Join(dir, "logs"))
	}()
	if err := measure(ctx, logger, dir, o); err != nil {
		logger.Error("million failed", "error", err)
		return 1
	}
	return 0
}

// measure starts the group, loads it, measures memory and a follower's
// restart, and prints the report.
func measure(ctx context.Context, logger *slog.Logger, dir string, o options) error {
	ccfg := cluster.DefaultConfig()
	ccfg.Shards, ccfg.PerShard, ccfg.Distributor = 1, 3, false
	ccfg.Dir, ccfg.StopGrace = dir, 5*time.Second
	ccfg.Logf = func(format string, args ...any) { logger.Info(fmt.Sprintf(format, args...)) }
	logger.Info("building hraftd")
	if _, err := cluster.Build(ctx, cluster.PkgHraftd); err != nil {
		return err
	}
	cl, err := cluster.Start(ctx, ccfg)
	if err != nil {
		return err
	}
	defer cl.Close()

	leader, err := cl.WaitLeader(ctx, cl.Shards[0]...)
	if err != nil {
		return err
	}
	loadTime, err := loadAll(ctx, logger, cl, leader, o)
	if err != nil {
		return err
	}
	if !sleep(ctx, o.settle) {
		return ctx.Err()
	}
	var rows []row
	for _, nd := range cl.Nodes() {
		rows = append(rows, row{what: nd.ID + " after the load", mem: readMem(nd.PID())})
	}
	r, err := restartFollower(ctx, logger, cl, leader)
	if err != nil {
		return err
	}
	rows = append(rows, row{what: r.node.ID + " restarted, caught up", mem: readMem(r.node.PID())})
	// And once it has settled (a restored snapshot's garbage collected).
	if !sleep(ctx, o.settle) {
		return ctx.Err()
	}
	rows = append(rows, row{what: r.node.ID + " restarted, " + o.settle.String() + " later", mem: readMem(r.node.PID())})
	report(os.Stdout, o.keys, o.valueSize, loadTime, rows, r.node.ID, r.ready, r.caughtUp, r.index)
	return nil
}

// loadAll writes every key through the leader and waits until every node
// has applied them; it returns how long the writes took.
func loadAll(ctx context.Context, logger *slog.Logger, cl *cluster.Cluster, leader *cluster.Node, o options) (time.Duration, error) {
	logger.Info("loading", "keys", o.keys, "value_size", o.valueSize, "leader", leader.ID)
	start := time.Now()
	if err := loadKeys(ctx, leader.URL(), o.keys, o.valueSize, o.batch, o.workers); err != nil {
		return 0, fmt.Errorf("load: %w", err)
	}
	took := time.Since(start)
	// Batches run concurrently, so the last key may be committed before
	// others: wait for every batch's last key on every node.
	for _, nd := range cl.Nodes() {
		for from := 0; from < o.keys; from += o.batch {
			if err := cl.WaitKey(ctx, nd, key(min(from+o.batch, o.keys)-1)); err != nil {
				return 0, fmt.Errorf("wait for the load to apply on %s: %w", nd.ID, err)
			}
		}
	}
	logger.Info("loaded", "keys", o.keys, "took", took.Round(time.Millisecond))
	return took, nil
}

// restarted is what restartFollower measured.
type restarted struct {
	node *cluster.Node
	// ready is from the new process's start until its /readyz answered
	// 200 (polled every 50 ms, so to within that); caughtUp until it had
	// applied index, all the group had committed before it stopped.
	ready, caughtUp time.Duration
	index           uint64
}

// restartFollower stops a follower as an operator would (SIGTERM, killed
// after 10 s), starts it again from its data directory and times it.
func restartFollower(ctx context.Context, logger *slog.Logger, cl *cluster.Cluster, leader *cluster.Node) (restarted, error) {
	var r restarted
	var err error
	if r.node, err = cl.WaitFollower(ctx, 0); err != nil {
		return r, err
	}
	lst, err := cl.Status(ctx, leader)
	if err != nil {
		return r, err
	}
	r.index = lst.CommitIndex
	if err := r.node.Term(10 * time.Second); err != nil {
		logger.Warn("stop", "node", r.node.ID, "error", err)
	}
	start := time.Now()
	if err := r.node.Start(ctx); err != nil {
		return r, err
	}
	if err := cl.WaitReady(ctx, r.node); err != nil {
		return r, err
	}
	r.ready = time.Since(start)
	// /readyz is the node's own judgement; also time until it has applied
	// everything the group had committed before it stopped.
	if err := cl.WaitApplied(ctx, r.node, r.index); err != nil {
		return r, fmt.Errorf("catch up: %w", err)
	}
	r.caughtUp = time.Since(start)
	logger.Info("restarted", "node", r.node.ID, "ready_after", r.ready.Round(time.Millisecond), "caught_up_after", r.caughtUp.Round(time.Millisecond))
	return r, nil
}

// sleep pauses for d, and reports false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}

// key is the i-th key: exactly keyBytes bytes.
func key(i int) string { return fmt.Sprintf("m%0*d", keyBytes-1, i) }

// loadKeys writes keys 0..n-1 in POST /key batches, workers at a time.
func loadKeys(ctx context.Context, base string, n, valueSize, batch, workers int) error {
	value := strings.Repeat("v", valueSize)
	client := &http.Client{Timeout: 30 * time.Second}
	froms := make(chan int)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for from := range froms {
				var b bytes.Buffer
				b.WriteByte('{')
				for i := from; i < min(from+batch, n); i++ {
					if i > from {
						b.WriteByte(',')
					}
					fmt.Fprintf(&b, "%q:%q", key(i), value)
				}
				b.WriteByte('}')
				if err := post(ctx, client, base+"/key", b.Bytes()); err != nil {
					errc <- fmt.Errorf("keys %d-%d: %w", from, min(from+batch, n)-1, err)
					return
				}
			}
		})
	}
	var err error
feed:
	for from := 0; from < n; from += batch {
		select {
		case froms <- from:
		case err = <-errc:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(froms)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	return err
}

// post sends one batch, retrying a few times on 5xx or a failed connection
// (a busy leader can time out); each retry is a new write, which is
// harmless here: the same keys get the same values.
func post(ctx context.Context, client *http.Client, url string, body []byte) error {
	var last error
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			last = err
			continue
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			return nil
		case resp.StatusCode >= 500:
			last = fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
		default:
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
		}
	}
	return last
}

// mem is a process's resident memory, in kB as /proc reports it.
type mem struct {
	rss, anon, file int64
	err             error
}

// readMem reads VmRSS, RssAnon and RssFile of pid from /proc.
func readMem(pid int) mem {
	if runtime.GOOS != "linux" {
		return mem{err: errors.New("needs Linux's /proc")}
	}
	if pid == 0 {
		return mem{err: errors.New("not running")}
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return mem{err: err}
	}
	defer f.Close()
	var m mem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, _ := strconv.ParseInt(fields[0], 10, 64)
		switch name {
		case "VmRSS":
			m.rss = v
		case "RssAnon":
			m.anon = v
		case "RssFile":
			m.file = v
		}
	}
	return m
}

type row struct {
	what string
	mem  mem
}

func mb(kb int64) string { return fmt.Sprintf("%.0f MB", float64(kb)/1000) }

func report(w io.Writer, keys, valueSize int, load time.Duration, rows []row, restarted string, ready, caughtUp time.Duration, index uint64) {
	fmt.Fprintf(w, "%d keys (%d B keys, %d B values) in one 3-node group, loaded in %s (%.0f keys/s); %d CPUs, %s/%s, %s.\n\n",
		keys, keyBytes, valueSize, load.Round(time.Millisecond), float64(keys)/load.Seconds(),
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintln(w, "| node | VmRSS | RssAnon | RssFile |")
	fmt.Fprintln(w, "|---|--:|--:|--:|")
	var worst int64
	for _, r := range rows {
		if r.mem.err != nil {
			fmt.Fprintf(w, "| %s | %v | | |\n", r.what, r.mem.err)
			continue
		}
		worst = max(worst, r.mem.rss)
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.what, mb(r.mem.rss), mb(r.mem.anon), mb(r.mem.file))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | measured | goal | met |")
	fmt.Fprintln(w, "|---|--:|--:|:-:|")
	fmt.Fprintf(w, "| 5a. largest node RSS | %s | ≤ %d MB | %s |\n", mb(worst), rssGoalMB, yes(worst <= rssGoalMB*1000))
	fmt.Fprintf(w, "| 5b. %s restarted from its data dir: start to /readyz 200 | %s | ≤ %s | %s |\n",
		restarted, ready.Round(time.Millisecond), readyGoal, yes(ready <= readyGoal))
	fmt.Fprintf(w, "| 5b'. %s restarted: start to applied index %d (all it had before the stop) | %s | ≤ %s | %s |\n",
		restarted, index, caughtUp.Round(time.Millisecond), readyGoal, yes(caughtUp <= readyGoal))
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
