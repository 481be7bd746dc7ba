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
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
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
	"github.com/kvraft/hraftd/internal/secure"
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

Security: by default it listens on localhost only, over plain HTTP, and
lets every client do everything. -tls-cert/-tls-key/-tls-ca serve HTTPS
and call the nodes over HTTPS (each must show a node certificate from the
CA; the distributor shows its own). -auth checks each request: reads need
read, writes and deletes write, /status, /shard, /metrics and the dashboard
status, /debug/pprof admin. Listening beyond loopback needs both, or
-insecure. See README: Security.

Limits: headers at most 64 KiB, sent within 10s; a whole request within
30s or -timeout plus 5s, whichever is longer; idle connections closed
after 2m; -max-conns connections at once.

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
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
	maxConns  int

	allowHosts, trustedOrigins string
	sec                        secure.Flags
}

func parseFlags(fs *flag.FlagSet, args []string) (*options, error) {
	o := &options{}
	def := router.DefaultConfig()
	fs.StringVar(&o.addr, "addr", "localhost:8080", "Address to listen on (HTTPS with -tls-cert). Beyond loopback (\":8080\", \"0.0.0.0:8080\", a LAN IP) it needs -tls-cert/-tls-key/-tls-ca and -auth, or -insecure")
	fs.StringVar(&o.allowHosts, "allow-host", "", "Host names (comma-separated; .example.com for a domain) the distributor answers to besides IP addresses, localhost, its -addr host and this machine's name: a guard against DNS rebinding")
	fs.StringVar(&o.trustedOrigins, "trusted-origin", "", "Origins (scheme://host:port, comma-separated) whose browser pages may send writes; others are refused (the dashboard, curl, Postman and scripts are not affected)")
	fs.Var(&o.shards, "shard", "Comma-separated HTTP addresses of one shard's nodes; repeat once per shard, in shard order (default: the seed layout)")
	fs.DurationVar(&o.timeout, "timeout", def.Timeout, "Whole deadline of one request, failover and retries included")
	fs.DurationVar(&o.attempt, "attempt-timeout", def.AttemptTimeout, "Deadline of one call to one node, so that a hung node costs one attempt")
	fs.DurationVar(&o.poll, "poll", def.PollInterval, "How often to poll every node's /status to track leaders (a failed request also polls at once)")
	fs.Int64Var(&o.maxBody, "max-body", server.DefaultConfig().MaxBodyBytes, "Largest request body accepted, in bytes (larger ones get 413)")
	fs.StringVar(&o.logLevel, "log-level", "info", "Log level: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "Log format: text or json")
	fs.IntVar(&o.maxConns, "max-conns", webguard.DefaultMaxConns, "Most client connections open at once; past it new ones get 503 (plain HTTP) or are closed (HTTPS). Clients that reuse connections need one each (the benchmark's -c 64 needs 64)")
	o.sec.Register(fs, "distributor")
	fs.BoolVar(&o.pprof, "pprof", false, "Serve Go's profiler at /debug/pprof/ (with -auth: admin only)")
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
	if o.maxConns < 1 {
		return nil, fmt.Errorf("-max-conns %d: give at least 1", o.maxConns)
	}
	if o.attempt > o.timeout {
		o.attempt = o.timeout
	}
	return o, nil
}

// run is the program: it returns the exit code, 2 for a bad flag (said
// in one line on stderr), 1 for a failure to listen or serve.
func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("distributor", flag.ExitOnError)
	fs.SetOutput(stderr)
	o, err := parseFlags(fs, args)
	if err != nil {
		fmt.Fprintln(stderr, "distributor:", err)
		return 2
	}
	logger, err := newLogger(o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "distributor:", err)
		return 2
	}
	sec, err := loadSecurity(o, logger)
	if err != nil {
		fmt.Fprintln(stderr, "distributor:", err)
		return 2
	}
	d, err := build(o, sec, logger)
	if err != nil {
		logger.Error("bad configuration", "error", err)
		return 2
	}
	if err := d.listen(o.addr); err != nil {
		logger.Error("cannot listen", "addr", o.addr, "error", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d.start()
	for i, nodes := range o.shards {
		logger.Info("shard", "shard", i, "nodes", strings.Join(nodes, ","))
	}
	logger.Info("distributor started", "addr", d.ln.Addr().String(), "dashboard", dashboardURL(sec.Scheme(), o.addr, d.ln.Addr()),
		"shards", len(o.shards), "timeout", o.timeout.String(), "poll", o.poll.String(),
		"tls", sec.TLS != nil, "auth", sec.Users != nil)

	code := 0
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-d.errc:
		logger.Error("http server stopped", "error", err)
		code = 1
	}
	// Let requests in flight finish (they may be riding out a failover),
	// but no longer than one request deadline.
	d.close(o.timeout + time.Second)
	logger.Info("stopped")
	return code
}

// loadSecurity loads what -tls-* and -auth name and applies the
// off-loopback rule: beyond loopback the distributor needs TLS and -auth,
// or -insecure.
func loadSecurity(o *options, logger *slog.Logger) (*secure.Setup, error) {
	sec, err := o.sec.Load(logger)
	if err != nil {
		return nil, err
	}
	if err := o.sec.CheckExposure(sec, o.addr); err != nil {
		return nil, err
	}
	return sec, nil
}

// distributor is the running program: the router, the watcher that
// samples it, and the HTTP server in front of both.
type distributor struct {
	logger  *slog.Logger
	rt      *router.Router
	watcher *watch.Watcher
	limits  webguard.ServerConfig
	srv     *http.Server
	ln      *webguard.Listener
	errc    chan error // the server's end, if it stops by itself
}

// build wires the distributor from the flags without starting anything.
func build(o *options, sec *secure.Setup, logger *slog.Logger) (*distributor, error) {
	cfg := router.DefaultConfig()
	cfg.Shards = o.shards
	cfg.Timeout = o.timeout
	cfg.AttemptTimeout = o.attempt
	cfg.PollInterval = o.poll
	// With TLS, the nodes are called over HTTPS: each must present a node
	// certificate from -tls-ca, and sees the distributor's certificate.
	cfg.Scheme = sec.Scheme()
	cfg.Transport = sec.Transport
	cfg.Logger = logger
	rt, err := router.New(cfg)
	if err != nil {
		return nil, err
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
	if sec.Users != nil { // a nil *auth.Store in the interface would not be nil
		scfg.Auth = sec.Users
	}
	guard, err := webguard.ForServer(o.allowHosts, o.trustedOrigins, o.addr)
	if err != nil {
		return nil, err
	}
	guard.LimitBodies(0, o.maxBody)
	tlsCfg, err := sec.ServerTLS()
	if err != nil {
		return nil, err
	}
	limits := serverLimits(o, tlsCfg, logger)
	return &distributor{
		logger: logger, rt: rt, watcher: watcher, limits: limits,
		srv:  webguard.NewServer(limits, guard.Handler(server.New(scfg, rt))),
		errc: make(chan error, 1),
	}, nil
}

// serverLimits are the limits of the distributor's HTTP server:
// webguard's defaults (64 KiB of headers, sent within 10s; 2 minutes idle)
// and -max-conns, with HTTPS if tlsCfg is set. The read deadline also
// ends the request: once it passes, net/http cancels the request's
// context. A request riding out a failover may use all of -timeout, so the
// deadline outlasts it.
func serverLimits(o *options, tlsCfg *tls.Config, logger *slog.Logger) webguard.ServerConfig {
	return webguard.ServerConfig{
		ReadTimeout: max(webguard.DefaultReadTimeout, o.timeout+5*time.Second),
		MaxConns:    o.maxConns,
		TLS:         tlsCfg,
		Logger:      logger,
	}
}

// listen opens the listener: webguard's connection cap, then TLS or, for
// plain HTTP, httpx.Listener, which turns the answers net/http writes by
// itself (a path with a bad escape such as /get/100%, a malformed header)
// into JSON like every other answer.
func (d *distributor) listen(addr string) error {
	ln, err := webguard.Listen(addr, d.limits)
	if err != nil {
		return err
	}
	d.ln = ln
	return nil
}

// start begins tracking leaders and serving on the listener.
func (d *distributor) start() {
	d.rt.Start()
	d.watcher.Start()
	go func() { d.errc <- d.srv.Serve(d.ln) }()
}

// close stops serving, waiting up to grace for requests in flight, then
// stops the watcher and the router.
func (d *distributor) close(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := d.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		d.logger.Warn("http shutdown", "error", err)
	}
	d.watcher.Close()
	d.rt.Close()
}

// newLogger is the logger the -log-level and -log-format flags ask for,
// writing to w.
func newLogger(o *options, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("-log-level %q: use debug, info, warn or error", o.logLevel)
	}
	hopts := &slog.HandlerOptions{Level: level}
	var handler slog.Handler = slog.NewTextHandler(w, hopts)
	if o.logFormat == "json" {
		handler = slog.NewJSONHandler(w, hopts)
	}
	return slog.New(handler).With("process", "distributor"), nil
}

// dashboardURL is the URL to open for the dashboard: the host of -addr
// (localhost by default, as the walkthroughs write it), or localhost for a
// wildcard address; the port the listener got (-addr may say :0).
func dashboardURL(scheme, addr string, a net.Addr) string {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	_, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return scheme + "://" + a.String() + "/"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}
