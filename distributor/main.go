// Command distributor routes key-value requests to the Raft group (shard)
// that owns each key, following each group's leader through failovers.
//
// It is stateless: it keeps only a view of which node leads each shard,
// rebuilt by polling the nodes, so several distributors may run side by
// side. Flags and wiring live here; the logic is in the router and server
// packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/distributor/server"
	"github.com/kvraft/hraftd/distributor/watch"
	"github.com/kvraft/hraftd/internal/httpx"
	"github.com/kvraft/hraftd/internal/webguard"
)

const usageText = `distributor routes requests for a key to the shard that owns it,
fnv32a(key) % N, and within the shard to its current Raft leader.

Usage:
  distributor [flags]

With no -shard flags it uses the seed layout:
  -shard 127.0.0.1:11000,127.0.0.1:11001,127.0.0.1:11002 \
  -shard 127.0.0.1:11100,127.0.0.1:11101,127.0.0.1:11102

The order of the -shard flags is the shard numbering: every distributor in
front of the same nodes must list them in the same order.

Flags:
`

func main() {
	os.Exit(run())
}

// shardList is the repeatable -shard flag.
type shardList [][]string

func (s *shardList) String() string {
	var parts []string
	for _, nodes := range *s {
		parts = append(parts, strings.Join(nodes, ","))
	}
	return strings.Join(parts, " ")
}

func (s *shardList) Set(v string) error {
	var nodes []string
	for a := range strings.SplitSeq(v, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		nodes = append(nodes, a)
	}
	if len(nodes) == 0 {
		return errors.New("no node addresses; give host:port,host:port,...")
	}
	*s = append(*s, nodes)
	return nil
}

type options struct {
	addr      string
	shards    shardList
	timeout   time.Duration
	attempt   time.Duration
	poll      time.Duration
	maxBody   int64
	logLevel  string
	logFormat string
	pprof     bool

	allowHosts, trustedOrigins string
}

func parseFlags(fs *flag.FlagSet, args []string) (*options, error) {
	o := &options{}
	def := router.DefaultConfig()
	fs.StringVar(&o.addr, "addr", ":8080", "HTTP address to listen on")
	fs.StringVar(&o.allowHosts, "allow-host", "", "Host names (comma-separated; .example.com for a domain) the distributor answers to besides IP addresses, localhost, its -addr host and this machine's name: a guard against DNS rebinding")
	fs.StringVar(&o.trustedOrigins, "trusted-origin", "", "Origins (scheme://host:port, comma-separated) whose browser pages may send writes; others are refused (the dashboard, curl, Postman and scripts are not affected)")
	fs.Var(&o.shards, "shard", "Comma-separated HTTP addresses of one shard's nodes; repeat once per shard, in shard order (default: the seed layout)")
	fs.DurationVar(&o.timeout, "timeout", def.Timeout, "Whole deadline of one request, failover and retries included")
	fs.DurationVar(&o.attempt, "attempt-timeout", def.AttemptTimeout, "Deadline of one call to one node, so that a hung node costs one attempt")
	fs.DurationVar(&o.poll, "poll", def.PollInterval, "How often to poll every node's /status to track leaders (a failed request also polls at once)")
	fs.Int64Var(&o.maxBody, "max-body", server.DefaultConfig().MaxBodyBytes, "Largest request body accepted, in bytes (larger ones get 413)")
	fs.StringVar(&o.logLevel, "log-level", "info", "Log level: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "Log format: text or json")
	fs.BoolVar(&o.pprof, "pprof", false, "Serve Go's profiler at /debug/pprof/")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, fmt.Errorf("unexpected arguments %q: the distributor takes only flags", fs.Args())
	}
	if len(o.shards) == 0 {
		o.shards = router.DefaultShards()
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return nil, fmt.Errorf("-log-format %q: use text or json", o.logFormat)
	}
	if o.attempt > o.timeout {
		o.attempt = o.timeout
	}
	return o, nil
}

func run() int {
	o, err := parseFlags(flag.CommandLine, os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "distributor:", err)
		return 2
	}
	logger, err := newLogger(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "distributor:", err)
		return 2
	}

	cfg := router.DefaultConfig()
	cfg.Shards = o.shards
	cfg.Timeout = o.timeout
	cfg.AttemptTimeout = o.attempt
	cfg.PollInterval = o.poll
	cfg.Logger = logger
	rt, err := router.New(cfg)
	if err != nil {
		logger.Error("bad configuration", "error", err)
		return 2
	}

	// The watcher turns what the router sees into the dashboard's events
	// and the failover metrics; it only reads the router's memory.
	wcfg := watch.DefaultConfig()
	wcfg.Logger = logger
	watcher := watch.New(rt, wcfg)

	scfg := server.DefaultConfig()
	scfg.MaxBodyBytes = o.maxBody
	scfg.Logger = logger
	scfg.Observer = watcher
	scfg.Pprof = o.pprof
	guard, err := webguard.ForServer(o.allowHosts, o.trustedOrigins, o.addr)
	if err != nil {
		logger.Error("bad configuration", "error", err)
		return 2
	}
	srv := &http.Server{
		Handler:           guard.Handler(server.New(scfg, rt)),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := listen(o.addr)
	if err != nil {
		logger.Error("cannot listen", "addr", o.addr, "error", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rt.Start()
	watcher.Start()
	for i, nodes := range o.shards {
		logger.Info("shard", "shard", i, "nodes", strings.Join(nodes, ","))
	}
	logger.Info("distributor started", "addr", ln.Addr().String(), "dashboard", dashboardURL(ln.Addr()), "shards", len(o.shards), "timeout", o.timeout.String(), "poll", o.poll.String())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	code := 0
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-errc:
		logger.Error("http server stopped", "error", err)
		code = 1
	}
	// Let requests in flight finish (they may be riding out a failover),
	// but no longer than one request deadline.
	sctx, cancel := context.WithTimeout(context.Background(), o.timeout+time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("http shutdown", "error", err)
	}
	watcher.Close()
	rt.Close()
	logger.Info("stopped")
	return code
}

// listen opens the distributor's HTTP listener. httpx.Listener turns the
// answers net/http writes by itself (a path with a bad escape such as
// /get/100%, a malformed header) into JSON like every other answer.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return httpx.Listener(ln), nil
}

// newLogger is the logger the -log-level and -log-format flags ask for.
func newLogger(o *options) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("-log-level %q: use debug, info, warn or error", o.logLevel)
	}
	hopts := &slog.HandlerOptions{Level: level}
	var handler slog.Handler = slog.NewTextHandler(os.Stderr, hopts)
	if o.logFormat == "json" {
		handler = slog.NewJSONHandler(os.Stderr, hopts)
	}
	return slog.New(handler).With("process", "distributor"), nil
}

// dashboardURL is the URL to open for the dashboard: a wildcard listen
// address is reachable on localhost.
func dashboardURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String() + "/"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
