package load

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	"github.com/kvraft/hraftd/api"
)

// call is one request, independent of the client that sends it.
type call struct {
	method string
	uri    string // path and query, as on the request line
	body   []byte // nil for GET
}

// answer is what a sender reports of a response.
type answer struct {
	status int
	found  string // the X-Raft-Key-Found header
	// errBody is the start of a failed response's body, when asked for.
	errBody []byte
}

// sender sends calls over its own connection(s); each worker has one.
type sender interface {
	send(ctx context.Context, c call, wantErrBody bool) (answer, error)
	close()
}

// requester builds the requests of one run and judges their answers.
type requester struct {
	target Target
	// path is the URL's path without a trailing slash (usually empty),
	// prepended to every request's path; for a hello target, helloURI is
	// the whole request URI instead.
	path     string
	helloURI string
	level    string
	value    []byte
}

func newRequester(cfg *Config) (*requester, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, err
	}
	return &requester{
		target:   cfg.Target,
		path:     strings.TrimSuffix(u.EscapedPath(), "/"),
		helloURI: u.RequestURI(),
		level:    cfg.Level,
		value:    Value(cfg.ValueSize),
	}, nil
}

// appendSetBody appends the JSON body that writes key. Prefixes and values
// are restricted to JSON-safe bytes (validPrefix, Value), so plain appends
// build valid JSON without an encoder's reflection and allocations.
func (r *requester) appendSetBody(dst, key []byte) []byte {
	if r.target == TargetDistributor {
		dst = append(dst, `{"clave":"`...)
		dst = append(dst, key...)
		dst = append(dst, `","valor":"`...)
	} else {
		dst = append(dst, `{"`...)
		dst = append(dst, key...)
		dst = append(dst, `":"`...)
	}
	dst = append(dst, r.value...)
	return append(dst, `"}`...)
}

// setCall writes key: POST /set on the distributor, POST /key on a node.
func (r *requester) setCall(key []byte) call {
	path := "/key"
	if r.target == TargetDistributor {
		path = "/set"
	}
	// A fresh body per request: net/http's transport may still read a
	// body after Do returns, so reusing one buffer would race.
	body := r.appendSetBody(make([]byte, 0, len(key)+len(r.value)+24), key)
	return call{method: http.MethodPost, uri: r.path + path, body: body}
}

// getCall reads key: GET /get/{clave} on the distributor, GET /key/{k} on
// a node, the URL itself for a hello server.
func (r *requester) getCall(key []byte) call {
	if r.target == TargetHello {
		return call{method: http.MethodGet, uri: r.helloURI}
	}
	path := "/key/"
	if r.target == TargetDistributor {
		path = "/get/"
	}
	uri := r.path + path + url.PathEscape(string(key))
	if r.level != "" {
		uri += "?level=" + url.QueryEscape(r.level)
	}
	return call{method: http.MethodGet, uri: uri}
}

// outcome is how one answered request counts.
type outcome int

const (
	outcomeOK   outcome = iota
	outcomeMiss         // answered correctly that the key does not exist
	outcomeFail
)

// judge classifies an answer; kind names a failure for the breakdown. A
// miss is a correct, timed answer, but a read run that misses was not
// preloaded, so it is counted apart for the report to flag.
func (r *requester) judge(read bool, a answer) (outcome, string) {
	switch {
	case a.status == http.StatusOK:
		if read && r.target == TargetNode && a.found == "false" {
			return outcomeMiss, ""
		}
		return outcomeOK, ""
	case read && r.target == TargetDistributor && a.status == http.StatusNotFound:
		return outcomeMiss, ""
	}
	return outcomeFail, "HTTP " + strconv.Itoa(a.status)
}

// stdSender sends through a shared net/http client.
type stdSender struct {
	client  *http.Client
	origin  string // scheme://host:port
	auth    string // the Authorization header, if any
	oneShot bool   // a connection per request
}

func (s *stdSender) send(ctx context.Context, c call, wantErrBody bool) (answer, error) {
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, s.origin+c.uri, body)
	if err != nil {
		return answer{}, err
	}
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
	}
	// Connection: close, and the transport drops the connection after
	// the answer instead of pooling it.
	req.Close = s.oneShot
	resp, err := s.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, found: resp.Header.Get(api.HeaderFound)}
	if wantErrBody && a.status != http.StatusOK {
		a.errBody, _ = io.ReadAll(io.LimitReader(resp.Body, 256))
	}
	// Read the body to the end so the connection goes back to the pool.
	_, err = io.Copy(io.Discard, resp.Body)
	return a, err
}

func (s *stdSender) close() {}

// errKind names a transport error in a few stable words, so that errors
// group in the report instead of listing every port and address.
func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by server"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "out of local ports"
	case errors.Is(err, errMalformed):
		return "malformed response"
	}
	return "transport error"
}
