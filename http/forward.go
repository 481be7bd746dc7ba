package httpd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/kv"
)

// NewPeerClient returns the client a node calls other nodes with
// (forwarding to its leader, admitting a joiner, reading members'
// status): over p's transport, never through a proxy, never following a
// redirect (a 307 goes back to the client). timeout 0 means none: the
// caller's context bounds each call.
func NewPeerClient(p Peers, timeout time.Duration) *http.Client {
	t := &http.Transport{
		Proxy:               nil, // calls stay between nodes
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		TLSHandshakeTimeout: 2 * time.Second,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
	}
	if p.Transport != nil {
		t = p.Transport(t)
	}
	return &http.Client{
		Transport:     t,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// forwardOrError answers a request whose store call failed with err. A
// follower's kv.ErrNotLeader sends the request (whose body is body) on to
// the leader when it can (see redirectOrForward); every other error, and a
// not-leader error that cannot be forwarded, goes through writeError.
func (s *Service) forwardOrError(w http.ResponseWriter, r *http.Request, body []byte, err error) {
	if errors.Is(err, kv.ErrNotLeader) && s.redirectOrForward(w, r, body) {
		return
	}
	s.writeError(w, r, err)
}

// redirectOrForward handles a request that reached a follower. With
// ?redirect it answers 307 to the same URL on the leader; otherwise it
// relays the request to the leader and the leader's answer back. It
// returns false, having written nothing, when neither is possible: the
// request was itself forwarded (a node forwards at most once, so requests
// never loop while leadership moves), or the leader's HTTP address is not
// known yet.
func (s *Service) redirectOrForward(w http.ResponseWriter, r *http.Request, body []byte) bool {
	leaderID, leaderHTTP := s.store.LeaderHTTP()
	if leaderHTTP == "" || leaderID == s.store.ID() || r.Header.Get(api.HeaderForwarded) != "" {
		return false
	}
	target := url.URL{Scheme: s.cfg.Peers.URLScheme(), Host: leaderHTTP, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	if _, ok := r.URL.Query()["redirect"]; ok {
		w.Header().Set("Location", target.String())
		writeLeaderError(w, http.StatusTemporaryRedirect, "not the leader; the leader is "+leaderID+" at "+leaderHTTP, leaderHTTP)
		return true
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, target.String(), bytes.NewReader(body))
	if err != nil {
		return false
	}
	for _, h := range []string{"Content-Type", api.HeaderWriteID} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	req.Header.Set(api.HeaderForwarded, s.store.ID())
	resp, err := s.client.Do(req)
	if err != nil {
		// The leader may or may not have received the request.
		w.Header().Set("Retry-After", "1")
		writeLeaderError(w, http.StatusServiceUnavailable,
			fmt.Sprintf("forwarding to the leader %s at %s failed: %v; a write may or may not have been applied", leaderID, leaderHTTP, err), leaderHTTP)
		return true
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Retry-After", "Location", api.HeaderNode, api.HeaderIndex, api.HeaderFound} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
	return true
}
