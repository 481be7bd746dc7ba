// Command hraftd runs one node of a Raft-replicated key-value store.
//
// It is a production-minded take on otoolep/hraftd with the same flags and
// HTTP API; see README.md for what it adds and why.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	httpd "github.com/kvraft/hraftd/http"
	"github.com/kvraft/hraftd/internal/secure"
	"github.com/kvraft/hraftd/internal/webguard"
	"github.com/kvraft/hraftd/metrics"
	"github.com/kvraft/hraftd/raftnet"
	"github.com/kvraft/hraftd/store"
)

const usageText = `hraftd runs one node of a Raft-replicated key-value store.

Usage:
  hraftd [flags] <data-dir>

The data directory holds the Raft log (raft.db, or wal/ with -log-store wal)
and snapshots; a node restarted on the same directory recovers its state
and rejoins its group. A node that lost its data directory comes back with
-join: its group takes it in as a new member (see CLUSTERING.md).

Start a group's first node without -join (it founds the group), then start
the others with -join pointing at any running member's HTTP address:

  hraftd -id node0 ~/node0
  hraftd -id node1 -haddr localhost:11001 -raddr localhost:12001 -join localhost:11000 ~/node1

Flags:
`

// The store is what the HTTP layer and the metrics read; these checks keep
// their interfaces and the store in step.
var (
	_ httpd.Store    = (*store.Store)(nil)
	_ metrics.Source = (*store.Store)(nil)
)

func main() {
	os.Exit(run())
}

type options struct {
	id, haddr, hadv, raddr, radv, join string
	inmem                              bool
	joinTimeout                        time.Duration
	maxBody                            int64
	maxKey                             int
	logLevel, logFormat                string
	faults, pprof                      bool
	memLimitMiB                        int64
	snapshotThreshold, trailingLogs    uint64
	snapshotInterval                   time.Duration
	replicaCheck                       time.Duration
	readyMaxLag                        uint64
	logStore                           string
	allowHosts, trustedOrigins         string
	maxConns                           int
	sec                                secure.Flags
	dataDir                            string
}

func parseFlags() (*options, error) {
	o := &options{}
	fs := flag.CommandLine
	fs.StringVar(&o.id, "id", "", "Node ID, unique within its group. If not set, the Raft advertise address is used")
	fs.StringVar(&o.haddr, "haddr", "localhost:11000", "HTTP API bind address")
	fs.StringVar(&o.hadv, "hadv", "", "HTTP API address other nodes and clients use to reach this node. If not set, -haddr")
	fs.StringVar(&o.raddr, "raddr", "localhost:12000", "Raft bind address")
	fs.StringVar(&o.radv, "radv", "", "Raft address peers use to reach this node. If not set, -raddr")
	fs.StringVar(&o.join, "join", "", "HTTP address of a member of the group to join, e.g. localhost:11000, or several, comma-separated, tried in turn. On an empty data dir the node joins as a non-voter and becomes a voter once it has caught up; with state already in the data dir it only updates its addresses")
	fs.BoolVar(&o.inmem, "inmem", false, "Keep the Raft log and snapshots in memory only: the node forgets everything when it stops")
	fs.DurationVar(&o.joinTimeout, "join-timeout", 60*time.Second, "How long to keep retrying -join (the group may still be electing a leader) before giving up")
	fs.Int64Var(&o.maxBody, "max-body", 1<<20, "Largest request body accepted, in bytes (larger ones get 413)")
	fs.IntVar(&o.maxKey, "max-key", 1024, "Longest key accepted, in bytes (longer ones get 413)")
	fs.BoolVar(&o.faults, "fault-injection", false, "Serve /debug/faults, which lets any client (an admin, with TLS or -auth) cut this node's Raft traffic to chosen peers or change its state behind the log. For test clusters only")
	fs.StringVar(&o.allowHosts, "allow-host", "", "Host names (comma-separated; .example.com for a domain) this node answers to besides IP addresses, localhost, its own -haddr/-hadv host and this machine's name: a guard against DNS rebinding")
	fs.StringVar(&o.trustedOrigins, "trusted-origin", "", "Origins (scheme://host:port, comma-separated) whose browser pages may send writes; others are refused (curl, Postman and scripts are not affected)")
	fs.IntVar(&o.maxConns, "max-conns", webguard.DefaultMaxConns, "Most HTTP connections open at once; past it new ones get 503 (plain HTTP) or are closed (HTTPS)")
	o.sec.Register(fs, "node")
	fs.BoolVar(&o.pprof, "pprof", false, "Serve Go's profiler at /debug/pprof/ on the HTTP address")
	fs.Int64Var(&o.memLimitMiB, "memory-limit", 300, "Soft memory limit in MiB for Go's garbage collector (0: none; the GOMEMLIMIT variable, if set, wins). It keeps RSS near the live data; a node holding more live data than this spends up to half its CPU in GC, so raise it for big data sets")
	fs.Uint64Var(&o.snapshotThreshold, "snapshot-threshold", 0, "Log entries since the last snapshot that make Raft take a new one (0: Raft's default, 8192). Small values are for tests")
	fs.DurationVar(&o.snapshotInterval, "snapshot-interval", 0, "How often Raft checks whether to snapshot (0: Raft's default, 2m). Short values are for tests")
	fs.Uint64Var(&o.trailingLogs, "trailing-logs", 0, "Log entries kept after a snapshot, for followers that lag (0: Raft's default, 10240)")
	fs.StringVar(&o.logStore, "log-store", "bolt", "Log engine for a new data directory: bolt (raft-boltdb, raft.db, hraftd's) or wal (raft-wal, append-only segment files in wal/); an existing data directory keeps the one it has")
	fs.Uint64Var(&o.readyMaxLag, "ready-max-lag", 1000, "A follower that has applied more than this many entries fewer than its leader has committed answers /readyz 503 until it catches up (0: no bound)")
	fs.DurationVar(&o.replicaCheck, "replica-check", 30*time.Second, "How often the leader compares its members' states at a common log index (a checkpoint entry); a member that differs from the majority is marked damaged and stops serving. 0: never")
	fs.StringVar(&o.logLevel, "log-level", "info", "Log level: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "Log format: text or json")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		if flag.NArg() == 0 {
			return nil, errors.New("no data directory given: hraftd needs one, e.g. hraftd -id node0 ~/node0")
		}
		return nil, fmt.Errorf("expected exactly one data directory, got %d arguments: %q", flag.NArg(), flag.Args())
	}
	o.dataDir = flag.Arg(0)
	if o.radv == "" {
		o.radv = o.raddr
	}
	if o.id == "" {
		o.id = o.radv
	}
	if o.hadv == "" {
		o.hadv = o.haddr
	}
	if host, _, err := net.SplitHostPort(o.hadv); err != nil {
		return nil, fmt.Errorf("-hadv/-haddr %q is not host:port: %v", o.hadv, err)
	} else if host == "" || net.ParseIP(host).IsUnspecified() {
		return nil, fmt.Errorf("HTTP address %q has no routable host; set -hadv to the address others should use", o.hadv)
	}
	return o, nil
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: use text or json", format)
}

func run() int {
	o, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hraftd:", err)
		fmt.Fprintln(os.Stderr, "run hraftd -h for help")
		return 1
	}
	logger, err := newLogger(o.logLevel, o.logFormat)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hraftd:", err)
		return 1
	}
	base := logger // the store adds the node field itself
	logger = logger.With("node", o.id)

	if o.memLimitMiB > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(o.memLimitMiB << 20)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	sec, err := loadSecurity(o, logger)
	if err != nil {
		logger.Error("hraftd cannot start: " + err.Error())
		return 1
	}
	st, err := openStore(o, base, sec)
	var oe *store.OpenError
	if errors.As(err, &oe) {
		// One line naming the file and what to do.
		logger.Error("hraftd cannot start: "+oe.Error(), "file", oe.File)
		return 1
	}
	if err != nil {
		logger.Error("failed to open store", "error", err)
		return 1
	}
	peerCfg := httpd.Peers{Scheme: sec.Scheme(), Transport: sec.Transport}
	svc, err := startHTTP(o, st, logger, sec, peerCfg)
	if err != nil {
		logger.Error("failed to start HTTP service", "error", err)
		_ = st.Close()
		return 1
	}
	logger.Info("hraftd started", startedAttrs(o, svc.Addr(), st.Recovered())...)

	code := 0
	if o.join != "" && !joinGroup(ctx, logger, o, st, peerCfg) {
		code = 1
		stop()
	}
	members := peers{client: httpd.NewPeerClient(peerCfg, time.Second), Peers: peerCfg}
	go watchGroup(ctx, logger, st, members)
	if o.replicaCheck > 0 {
		go compareReplicas(ctx, logger, st, o.replicaCheck, members)
	}
	select {
	case <-ctx.Done():
	case <-st.Done():
		logger.Warn("stopping: " + st.DoneReason())
	}
	if err := shutdown(logger, svc, st); err != nil {
		return 1
	}
	return code
}

// loadSecurity loads what -tls-* and -auth name and applies the rules
// that keep a node from being open to strangers: beyond loopback it needs
// TLS and -auth (or -insecure), and -auth needs TLS, because members
// prove who they are to each other (forwarding, admitting, reading each
// other's status) by their node certificates.
func loadSecurity(o *options, logger *slog.Logger) (*secure.Setup, error) {
	sec, err := o.sec.Load(logger)
	if err != nil {
		return nil, err
	}
	if sec.TLS != nil {
		// Members recognise each other by their certificates' names: a
		// join is accepted only for the ID its certificate names, and a
		// forwarded request only from a member naming itself.
		if leaf := sec.TLS.Certificate().Leaf; leaf != nil && leaf.Subject.CommonName != o.id {
			return nil, fmt.Errorf("-id %q differs from the name in -tls-cert (%q): on a TLS cluster a node's ID is its certificate's name; give -id %s or that node's certificate",
				o.id, leaf.Subject.CommonName, leaf.Subject.CommonName)
		}
	}
	if sec.Users != nil && sec.TLS == nil {
		return nil, errors.New("-auth needs -tls-cert, -tls-key and -tls-ca: nodes call each other with their node certificates (make certs writes a development set)")
	}
	if err := o.sec.CheckExposure(sec, o.haddr, o.raddr); err != nil {
		return nil, err
	}
	return sec, nil
}

// openStore opens the node's replica of the store as the flags say.
func openStore(o *options, logger *slog.Logger, sec *secure.Setup) (*store.Store, error) {
	cfg := store.DefaultConfig()
	cfg.ID = o.id
	cfg.RaftBind = o.raddr
	cfg.RaftAdvertise = o.radv
	cfg.HTTPAddr = o.hadv
	cfg.Dir = o.dataDir
	cfg.InMem = o.inmem
	cfg.Bootstrap = o.join == ""
	cfg.ReadyMaxLag = o.readyMaxLag
	cfg.LogStore = o.logStore
	cfg.RaftTLS = sec.TLS
	cfg.OnFatal = func(err error) {
		logger.Error("cannot go on: "+err.Error(), "data_dir", o.dataDir,
			"fix", "free space on the data directory's disk (or fix the disk), then start hraftd again with the same command")
		os.Exit(1)
	}
	cfg.MaxKeyBytes = o.maxKey
	cfg.SnapshotThreshold = o.snapshotThreshold
	cfg.SnapshotInterval = o.snapshotInterval
	cfg.TrailingLogs = o.trailingLogs
	cfg.Logger = logger
	st, err := store.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("bad configuration: %w", err)
	}
	if err := st.Open(); err != nil {
		return nil, err
	}
	return st, nil
}

// startHTTP serves the node's API, with its metrics, over st.
func startHTTP(o *options, st *store.Store, logger *slog.Logger, sec *secure.Setup, p httpd.Peers) (*httpd.Service, error) {
	hcfg := httpd.DefaultConfig()
	hcfg.Addr = o.haddr
	hcfg.Peers = p
	hcfg.Server.MaxConns = o.maxConns
	tlsCfg, err := sec.ServerTLS()
	if err != nil {
		return nil, err
	}
	hcfg.Server.TLS = tlsCfg
	if sec.Users != nil {
		hcfg.Auth = sec.Users
	}
	hcfg.MaxBodyBytes = o.maxBody
	hcfg.Logger = logger
	hcfg.Pprof = o.pprof
	guard, err := webguard.ForServer(o.allowHosts, o.trustedOrigins, o.haddr, o.hadv)
	if err != nil {
		return nil, err
	}
	guard.LimitBodies(0, o.maxBody)
	hcfg.Guard = guard.Handler
	nodeMetrics := metrics.NewNode(st)
	hcfg.Observer = nodeMetrics
	hcfg.Metrics = nodeMetrics.Handler()
	if o.faults && st.Network() != nil {
		hcfg.Faults = nodeFaults{st.Network(), st}
		logger.Warn("fault injection is enabled: any client can partition this node or change its state")
	}
	svc := httpd.New(hcfg, st)
	return svc, svc.Start()
}

// nodeFaults is what -fault-injection serves: Raft traffic cuts from the
// stream layer, state changes from the store.
type nodeFaults struct {
	*raftnet.Layer
	st *store.Store
}

func (f nodeFaults) CorruptLocal(key, value string) { f.st.CorruptLocal(key, value) }

// startedAttrs are the fields of the start-up log line: the addresses
// others use to reach this node, and the ones it listens on where they
// differ (e.g. -haddr :11002 listens on [::]:11002).
func startedAttrs(o *options, httpListen net.Addr, recovered bool) []any {
	attrs := []any{"http", o.hadv}
	if l := httpListen.String(); l != o.hadv {
		attrs = append(attrs, "http_listen", l)
	}
	attrs = append(attrs, "raft", o.radv)
	if o.raddr != o.radv {
		attrs = append(attrs, "raft_listen", o.raddr)
	}
	return append(attrs, "data_dir", o.dataDir, "recovered", recovered)
}

// shutdown closes the HTTP service, then the store.
func shutdown(logger *slog.Logger, svc *httpd.Service, st *store.Store) error {
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := svc.Close(sctx); err != nil {
		logger.Warn("http shutdown", "error", err)
	}
	if err := st.Close(); err != nil {
		logger.Error("store shutdown", "error", err)
		return err
	}
	logger.Info("stopped")
	return nil
}
