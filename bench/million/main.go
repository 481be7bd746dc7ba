// Command million is issue 5's target 5 check: it builds hraftd, starts a
// fresh 3-node group on free 127.0.0.1 ports, loads it with 1M keys of 16
// bytes and values of 100 bytes (POST /key batches to the leader), waits
// until every node has applied them, reports each node's memory (VmRSS,
// RssAnon, RssFile from /proc), then restarts one follower from its data
// directory and times it until /readyz answers 200. It prints a markdown
// report with the targets (RSS ≤ 400 MB per node, ready ≤ 10 s).
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

	"github.com/kvraft/hraftd/bench/cluster"
)

const (
	keyBytes  = 16
	rssGoalMB = 400
	readyGoal = 10 * time.Second
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		keys      = flag.Int("keys", 1_000_000, "Keys to load")
		valueSize = flag.Int("value-size", 100, "Bytes per value")
		batch     = flag.Int("batch", 2000, "Pairs per POST /key")
		workers   = flag.Int("workers", 4, "Concurrent POST /key batches")
		settle    = flag.Duration("settle", 5*time.Second, "Pause after the load before measuring memory (lets the nodes snapshot and the GC run)")
		keep      = flag.Bool("keep", false, "Keep the binaries and data directories (logs are always kept)")
	)
	flag.Parse()
	if flag.NArg() != 0 || *keys < 1 || *valueSize < 1 || *batch < 1 || *workers < 1 {
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
	defer func() {
		if !*keep {
			_ = os.RemoveAll(filepath.Join(dir, "bin"))
			_ = os.RemoveAll(filepath.Join(dir, "data"))
		}
		logger.Info("logs kept", "dir", filepath.Join(dir, "logs"))
	}()

	root, err := cluster.ModuleRoot(ctx)
	if err != nil {
		logger.Error("module", "error", err)
		return 1
	}
	ccfg := cluster.DefaultConfig()
	ccfg.Shards, ccfg.PerShard = 1, 3
	ccfg.Dir, ccfg.Logger = dir, logger
	ccfg.Hraftd = filepath.Join(dir, "bin", "hraftd")
	if err := cluster.Build(ctx, root, ccfg.Hraftd, "."); err != nil {
		logger.Error("build", "error", err)
		return 1
	}
	cl, err := cluster.Start(ctx, ccfg)
	if err != nil {
		logger.Error("start", "error", err)
		return 1
	}
	defer cl.Close()

	leader, err := cl.Leader(ctx, 0)
	if err != nil {
		logger.Error("leader", "error", err)
		return 1
	}
	logger.Info("loading", "keys", *keys, "value_size", *valueSize, "leader", leader.ID)
	start := time.Now()
	if err := loadKeys(ctx, leader.URL(), *keys, *valueSize, *batch, *workers); err != nil {
		logger.Error("load", "error", err)
		return 1
	}
	loadTime := time.Since(start)
	// Batches run concurrently, so the last key may be committed before
	// others: wait for every batch's last key on every node.
	for _, nd := range cl.Nodes {
		for from := 0; from < *keys; from += *batch {
			if err := cl.WaitKey(ctx, nd, key(min(from+*batch, *keys)-1)); err != nil {
				logger.Error("wait for the load to apply", "node", nd.ID, "error", err)
				return 1
			}
		}
	}
	logger.Info("loaded", "keys", *keys, "took", loadTime.Round(time.Millisecond))
	select {
	case <-time.After(*settle):
	case <-ctx.Done():
		return 1
	}

	var rows []row
	for _, nd := range cl.Nodes {
		rows = append(rows, row{what: nd.ID + " after the load", mem: readMem(nd.PID())})
	}
	follower, err := cl.Follower(ctx, 0)
	if err != nil {
		logger.Error("follower", "error", err)
		return 1
	}
	lst, err := cl.Status(ctx, leader)
	if err != nil {
		logger.Error("leader status", "error", err)
		return 1
	}
	ready, err := cl.Restart(ctx, follower, 10*time.Second)
	if err != nil {
		logger.Error("restart", "node", follower.ID, "error", err)
		return 1
	}
	// /readyz is the node's own judgement; also time until it has applied
	// everything the group had committed before it stopped.
	more, err := cl.WaitApplied(ctx, follower, lst.CommitIndex)
	if err != nil {
		logger.Error("catch up", "node", follower.ID, "error", err)
		return 1
	}
	caughtUp := ready + more
	logger.Info("restarted", "node", follower.ID, "ready_after", ready.Round(time.Millisecond), "caught_up_after", caughtUp.Round(time.Millisecond))
	rows = append(rows, row{what: follower.ID + " restarted, caught up", mem: readMem(follower.PID())})
	// And once it has settled (a restored snapshot's garbage collected).
	select {
	case <-time.After(*settle):
	case <-ctx.Done():
		return 1
	}
	rows = append(rows, row{what: follower.ID + " restarted, " + settle.String() + " later", mem: readMem(follower.PID())})

	report(os.Stdout, *keys, *valueSize, loadTime, rows, follower.ID, ready, caughtUp, lst.CommitIndex)
	return 0
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
