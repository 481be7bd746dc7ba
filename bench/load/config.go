// Package load drives HTTP load against a node, the distributor or a bare
// hello server, and measures throughput and latency percentiles. The bench
// command and the matrix runner are its two front ends; flags live there.
package load

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kvraft/hraftd/kv"
)

// Target is the kind of server under load; it decides the request shapes.
type Target string

const (
	// TargetNode is an hraftd node: POST /key {"k":"v"}, GET /key/{k}.
	TargetNode Target = "node"
	// TargetDistributor is the distributor: POST /set {"clave","valor"},
	// GET /get/{clave}.
	TargetDistributor Target = "distributor"
	// TargetHello is any URL answering GET; every request is a GET of it.
	TargetHello Target = "hello"
)

// ParseTarget checks a -target flag value.
func ParseTarget(s string) (Target, error) {
	switch t := Target(s); t {
	case TargetNode, TargetDistributor, TargetHello:
		return t, nil
	}
	return "", fmt.Errorf("unknown target %q: use node, distributor or hello", s)
}

// Workload is the mix of operations a run sends.
type Workload string

const (
	// WorkloadSet writes a new key on every request.
	WorkloadSet Workload = "set"
	// WorkloadGet reads preloaded keys at random.
	WorkloadGet Workload = "get"
	// WorkloadMixed reads with probability Config.ReadFraction, else writes.
	WorkloadMixed Workload = "mixed"
)

// ParseWorkload checks a -workload flag value.
func ParseWorkload(s string) (Workload, error) {
	switch w := Workload(s); w {
	case WorkloadSet, WorkloadGet, WorkloadMixed:
		return w, nil
	}
	return "", fmt.Errorf("unknown workload %q: use set, get or mixed", s)
}

// Engine is the HTTP client implementation a run uses.
type Engine string

const (
	// EngineRaw is a minimal HTTP/1.1 client, one connection per worker,
	// cheap enough that the server rather than the client is what a
	// 2-core box measures (see rawSender). http:// and https:// URLs.
	EngineRaw Engine = "raw"
	// EngineNetHTTP is Go's net/http client with a pooled keep-alive
	// transport: what a Go service calling our API would use.
	EngineNetHTTP Engine = "net/http"
	// EngineWrk runs wrk (a C load generator, installed separately) in a
	// child process. Latencies come from wrk's quantiles, so p99.9 and
	// the like are as exact as wrk's own histogram (see wrk.go).
	EngineWrk Engine = "wrk"
)

// ParseEngine checks an -engine flag value.
func ParseEngine(s string) (Engine, error) {
	switch e := Engine(s); e {
	case EngineRaw, EngineNetHTTP, EngineWrk:
		return e, nil
	}
	return "", fmt.Errorf("unknown engine %q: use raw, net/http or wrk", s)
}

// Config describes one run.
type Config struct {
	Target Target
	// URL is the server's base URL (http://127.0.0.1:11000), or for
	// TargetHello the exact URL to GET.
	URL      string
	Workload Workload
	// Concurrency is the number of workers, each with one request in
	// flight at a time (a closed loop, like wrk's connections).
	Concurrency int
	// Duration is how long requests are measured, after Warmup.
	Duration time.Duration
	// Warmup runs the load unrecorded first, so that connection set-up and
	// the servers' first allocations do not land in the percentiles.
	Warmup time.Duration
	// Keys is how many preloaded keys reads choose from (see Preload).
	Keys int
	// ValueSize is the length of every written value, in bytes.
	ValueSize int
	// Level is the ?level= of reads; empty sends none, so the server's
	// default applies.
	Level string
	// ReadFraction is the share of reads in WorkloadMixed.
	ReadFraction float64
	// Prefix starts every key: runs with different prefixes never touch
	// each other's keys.
	Prefix string
	// Seed makes the choice of reads and read keys repeatable.
	Seed uint64
	// RequestTimeout bounds every request; one that takes longer is an
	// error.
	RequestTimeout time.Duration
	// AllowRemote permits a URL that is not on the loopback interface.
	// Off by default: this tool generates heavy load and should reach
	// another host only when someone asks for it by name.
	AllowRemote bool
	// Progress, when not nil, receives a progress bar redrawn in place
	// (meant for a terminal).
	Progress io.Writer
	// Engine chooses the HTTP client.
	Engine Engine
	// Client sends the requests of EngineNetHTTP; nil means NewTLSClient
	// sized for Concurrency, with TLS. A Client brings its own TLS
	// configuration: TLS is then not used.
	Client *http.Client
	// TLS configures the connections to an https:// URL: the CA to
	// trust and, to authenticate by certificate, the certificate to
	// present. nil trusts the system's roots and presents none.
	TLS *tls.Config
	// Authorization, when not empty, is the Authorization header of
	// every request ("Basic ..." to authenticate with a password).
	Authorization string
	// NewConnPerRequest opens a connection for every request and closes
	// it after the answer (Connection: close), as a one-shot client such
	// as a script's curl does, so that every request pays the TCP and,
	// over https, the TLS handshake. Off, each worker keeps its
	// connection alive and pays them once.
	NewConnPerRequest bool
	// MeasureStart, when not nil, is called once, when the measured
	// window begins (after the warmup), perhaps from another goroutine:
	// what samples something over the window (the matrix's CPU table)
	// starts there. It is not called if the run ends during the warmup.
	MeasureStart func()
}

// DefaultConfig is a 16-worker, 5-second set run against a local node on
// the seed's port, with the raw engine.
func DefaultConfig() Config {
	return Config{
		Target:         TargetNode,
		URL:            "http://127.0.0.1:11000",
		Workload:       WorkloadSet,
		Concurrency:    16,
		Duration:       5 * time.Second,
		Keys:           10_000,
		ValueSize:      100,
		ReadFraction:   0.5,
		Prefix:         "bench",
		Seed:           1,
		RequestTimeout: 10 * time.Second,
		Engine:         EngineRaw,
	}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	if _, err := ParseTarget(string(c.Target)); err != nil {
		return err
	}
	if _, err := ParseWorkload(string(c.Workload)); err != nil {
		return err
	}
	switch {
	case c.Concurrency < 1:
		return errors.New("concurrency must be at least 1")
	case c.Duration <= 0:
		return errors.New("duration must be positive")
	case c.Warmup < 0:
		return errors.New("warmup must not be negative")
	case c.Workload != WorkloadSet && c.Target != TargetHello && c.Keys < 1:
		return errors.New("reads need at least 1 key")
	case c.ValueSize < 0:
		return errors.New("value size must not be negative")
	case c.ReadFraction < 0 || c.ReadFraction > 1:
		return errors.New("read fraction must be between 0 and 1")
	case c.RequestTimeout <= 0:
		return errors.New("request timeout must be positive")
	}
	if _, err := kv.ParseReadLevel(c.Level); err != nil {
		return err
	}
	if _, err := ParseEngine(string(c.Engine)); err != nil {
		return err
	}
	if err := validPrefix(c.Prefix); err != nil {
		return err
	}
	if err := checkURL(c.URL, c.AllowRemote); err != nil {
		return err
	}
	if strings.ContainsAny(c.Authorization, "\r\n") {
		return errors.New("the Authorization header must be one line")
	}
	if c.Engine == EngineWrk {
		switch {
		case !strings.HasPrefix(c.URL, "http://"):
			return fmt.Errorf("URL %q: the wrk engine is used with plain http:// only here; use -engine raw or net/http", c.URL)
		case c.TLS != nil || c.Authorization != "" || c.NewConnPerRequest:
			return errors.New("the wrk engine sends neither credentials nor a connection per request here; use -engine raw or net/http")
		}
	}
	return nil
}

// checkURL accepts an http URL, on a loopback host unless allowRemote.
func checkURL(raw string, allowRemote bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("URL %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("URL %q: want http://host:port", raw)
	}
	if allowRemote {
		return nil
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("URL %q is not on this machine (127.0.0.1, ::1 or localhost); pass -allow-remote to load another host", raw)
}

// readFraction is the share of reads c's workload sends.
func (c Config) readFraction() float64 {
	switch {
	case c.Target == TargetHello || c.Workload == WorkloadGet:
		return 1
	case c.Workload == WorkloadSet:
		return 0
	}
	return c.ReadFraction
}
