package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/kvraft/hraftd/api"
)

// send makes one call to one node of sh, bounded by the attempt timeout.
// Once sh's group is pinned, the call names it (X-Raft-Group), and a node
// of another group refuses it with a 421 rather than apply it.
func (r *Router) send(ctx context.Context, sh *shard, n *node, req *request) (*reply, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.AttemptTimeout)
	defer cancel()
	// ?redirect asks a follower for a 307 naming the leader instead of
	// forwarding the request itself: the router then learns the leader and
	// the request is not relayed through a second node.
	q := req.rawQuery
	if q != "" {
		q += "&"
	}
	q += "redirect"
	u := url.URL{Scheme: r.scheme, Host: n.addr, Path: req.path, RawPath: req.rawPath, RawQuery: q}
	var body io.Reader = http.NoBody
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if req.body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if req.writeID != "" {
		hreq.Header.Set(api.HeaderWriteID, req.writeID)
	}
	if g := sh.group.get(); g != "" {
		hreq.Header.Set(api.HeaderGroup, g)
	}
	// net/http silently resends a request that carries an Idempotency-Key
	// on a fresh connection when a reused one breaks. If the first copy
	// reached a node that applied it and died, the resend fails to dial,
	// and the error alone would read "never sent". Remembering whether any
	// copy was written keeps the "may have been applied" verdict honest.
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }}
	hreq = hreq.WithContext(httptrace.WithClientTrace(hreq.Context(), trace))
	resp, err := r.client.Do(hreq)
	if err != nil {
		if wrote.Load() {
			return nil, maybeSentError{err}
		}
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", n.addr, err)
	}
	return &reply{node: n, status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// errorMessage extracts the "error" field of a node's JSON error answer,
// or returns the start of the raw body.
func errorMessage(body []byte) string {
	var e api.Error
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

// describe says what went wrong with a call to a node, for a reader who
// already sees the node's address: "connection refused" rather than Go's
// `Get "http://127.0.0.1:11100/status": dial tcp 127.0.0.1:11100: connect:
// connection refused`.
func describe(err error) string {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return "connection refused"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// isDialError reports whether err happened before the request could reach
// the node, so that a write certainly was not applied: a failed connect,
// or a failed TLS handshake (the node's certificate was refused, or it
// refused ours).
func isDialError(err error) bool {
	var ms maybeSentError
	if errors.As(err, &ms) {
		return false
	}
	var he handshakeError
	if errors.As(err, &he) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// handshakeError is a TLS handshake with a node that failed: no request
// was sent on that connection.
type handshakeError struct{ error }

func (e handshakeError) Error() string { return "TLS handshake failed: " + e.error.Error() }

func (e handshakeError) Unwrap() error { return e.error }

// handshakeIsDial wraps a TLS dial function so that its handshake errors
// are handshakeErrors. Its connect errors are already dial errors
// (*net.OpError with Op "dial"); http.Transport passes a custom dialer's
// other errors through as they are, which would make a write refused at
// the handshake look as if it might have been applied.
func handshakeIsDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			var oe *net.OpError
			if errors.As(err, &oe) && oe.Op == "dial" {
				return nil, err
			}
			return nil, handshakeError{err}
		}
		return c, nil
	}
}

// maybeSentError marks a failed call after which a copy of the request had
// been written to some connection, so the node may have acted on it.
type maybeSentError struct{ error }

func (e maybeSentError) Unwrap() error { return e.error }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
