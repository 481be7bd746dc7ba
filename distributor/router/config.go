package router

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultShards is the seed's layout: shard 0 is node0..node2 and shard 1 is
// node3..node5, by their HTTP API addresses.
func DefaultShards() [][]string {
	return [][]string{
		{"127.0.0.1:11000", "127.0.0.1:11001", "127.0.0.1:11002"},
		{"127.0.0.1:11100", "127.0.0.1:11101", "127.0.0.1:11102"},
	}
}

// Config configures a Router. Start from DefaultConfig.
type Config struct {
	// Shards lists each shard's nodes by HTTP API address (host:port); the
	// index in the slice is the shard number keys hash to, so the order
	// must be the same on every distributor and must not change.
	Shards [][]string
	// Timeout is a request's whole deadline, failover and retries
	// included.
	Timeout time.Duration
	// AttemptTimeout bounds one call to one node, so that a node that
	// hangs costs one attempt, not the whole deadline.
	AttemptTimeout time.Duration
	// PollInterval is how often every node's /status is polled to track
	// leaders. A failed forward also refreshes at once, so this mostly
	// bounds how stale GET /status is and how soon a leader moved by a
	// quiet election is noticed.
	PollInterval time.Duration
	// StatusTimeout bounds one /status call.
	StatusTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between attempts when no
	// leader is usable; it doubles from RetryMin up to RetryMax, jittered.
	RetryMin, RetryMax time.Duration
	// MaxIdleConnsPerNode is how many keep-alive connections to each node
	// are kept open between requests. Go's default is 2, which under
	// concurrency makes most requests dial a new connection (and leaves
	// sockets in TIME_WAIT); size it to the expected concurrency.
	MaxIdleConnsPerNode int
	// ReadLinger bounds how long a shard's next batch of reads may wait
	// for the clients of the batch that just returned to send their next
	// reads, so that they leave together (see readbatch.go); 0 sends the
	// next batch at once. Only after a batch of more than one read.
	ReadLinger time.Duration
	// WriteLinger is the same bound for a shard's next batch of writes,
	// which waits for the writers just answered as well as for those
	// already queued (see writebatch.go); 0 sends it at once.
	WriteLinger time.Duration
	// Scheme is the URL scheme of the nodes' API: "https" on a TLS
	// cluster, "http" (or "") otherwise. A cluster is all one or the
	// other.
	Scheme string
	// Transport, if set, adapts the connection pool to the nodes before
	// use: with TLS, secure.Setup.Transport makes it verify that each node
	// has a node certificate from the cluster's CA and present the
	// distributor's own. Nil leaves plain TCP.
	Transport func(*http.Transport) *http.Transport
	// Logger receives the router's logs; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the configuration the distributor starts from.
func DefaultConfig() Config {
	return Config{
		Shards:              DefaultShards(),
		Timeout:             10 * time.Second,
		AttemptTimeout:      3 * time.Second,
		PollInterval:        time.Second,
		StatusTimeout:       time.Second,
		RetryMin:            25 * time.Millisecond,
		RetryMax:            500 * time.Millisecond,
		MaxIdleConnsPerNode: 256,
		ReadLinger:          time.Millisecond,
		WriteLinger:         2 * time.Millisecond,
	}
}

// scheme is the URL scheme of the nodes: Scheme, or "http" if unset.
func (c Config) scheme() string {
	if c.Scheme == "" {
		return "http"
	}
	return c.Scheme
}

// Validate reports the first thing wrong with c.
func (c Config) Validate() error {
	if len(c.Shards) == 0 {
		return errors.New("router: no shards configured")
	}
	seen := map[string]int{}
	for i, nodes := range c.Shards {
		if len(nodes) == 0 {
			return fmt.Errorf("router: shard %d has no nodes", i)
		}
		for _, a := range nodes {
			host, port, err := net.SplitHostPort(a)
			if pn, perr := strconv.Atoi(port); err != nil || perr != nil || pn <= 0 || pn > 65535 ||
				host == "" || strings.ContainsAny(host, "/?#@") {
				return fmt.Errorf("router: shard %d: node address %q is not host:port (e.g. 127.0.0.1:11000, no http://)", i, a)
			}
			if j, dup := seen[a]; dup {
				return fmt.Errorf("router: node %s is listed in shard %d and again in shard %d", a, j, i)
			}
			seen[a] = i
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"Timeout", c.Timeout}, {"AttemptTimeout", c.AttemptTimeout},
		{"PollInterval", c.PollInterval}, {"StatusTimeout", c.StatusTimeout},
		{"RetryMin", c.RetryMin}, {"RetryMax", c.RetryMax},
	} {
		if d.v <= 0 {
			return fmt.Errorf("router: %s must be positive, got %s", d.name, d.v)
		}
	}
	if c.RetryMax < c.RetryMin {
		return fmt.Errorf("router: RetryMax (%s) is below RetryMin (%s)", c.RetryMax, c.RetryMin)
	}
	if c.ReadLinger < 0 || c.WriteLinger < 0 {
		return fmt.Errorf("router: ReadLinger and WriteLinger must not be negative, got %s and %s", c.ReadLinger, c.WriteLinger)
	}
	if c.Scheme != "" && c.Scheme != "http" && c.Scheme != "https" {
		return fmt.Errorf("router: Scheme must be http or https, got %q", c.Scheme)
	}
	if c.MaxIdleConnsPerNode <= 0 {
		return fmt.Errorf("router: MaxIdleConnsPerNode must be positive, got %d", c.MaxIdleConnsPerNode)
	}
	return nil
}
