package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kvraft/hraftd/api"
)

// statusTimeout bounds one GET /status, so that a paused or hung node
// costs a wait one attempt, not the whole wait.
const statusTimeout = 2 * time.Second

// newClient is the launcher's HTTP client, with tlsCfg for HTTPS (nil:
// Go's default, for a plain cluster). It reports each server's own
// answer: a 307 is an answer, not something to follow.
func newClient(tlsCfg *tls.Config) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
			TLSClientConfig:     tlsCfg,
			TLSHandshakeTimeout: 2 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Client is the launcher's HTTP client: it does not follow redirects and,
// in a secure cluster, trusts the cluster's CA and presents the admin
// certificate (it may do anything). For a tool's or test's own requests.
func (c *Cluster) Client() *http.Client { return c.client }

// Do makes one HTTP request with the launcher's client (which does not
// follow redirects) and returns the status and the body (at most 1 MiB of
// it). A nil body sends none.
func (c *Cluster) Do(ctx context.Context, method, url string, body []byte) (int, []byte, error) {
	var r io.Reader = http.NoBody
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// GetJSON GETs url and decodes its JSON answer into v; any status but 200
// is an error.
func (c *Cluster) GetJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	code, b, err := c.Do(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", url, code, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %w in %q", url, err, b)
	}
	return nil
}

// getOK GETs url and wants a 200.
func (c *Cluster) getOK(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	code, b, err := c.Do(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d %s", url, code, strings.TrimSpace(string(b)))
	}
	return nil
}

// Status is n's own GET /status.
func (c *Cluster) Status(ctx context.Context, n *Node) (api.Status, error) {
	var st api.Status
	err := c.GetJSON(ctx, n.URL()+"/status", &st)
	if err != nil {
		err = fmt.Errorf("%s: %w", n.ID, err)
	}
	return st, err
}

// Leader returns the running node of shard s that says it leads now (the
// one with the highest term, should two say so), or nil if none does. It
// does not wait: WaitLeader does.
func (c *Cluster) Leader(ctx context.Context, s int) *Node {
	var best *Node
	var term uint64
	for _, n := range c.Shards[s] {
		if !n.Running() {
			continue
		}
		st, err := c.Status(ctx, n)
		if err == nil && st.State == "Leader" && st.Me.ID == st.Leader.ID && st.Term >= term {
			best, term = n, st.Term
		}
	}
	return best
}

// distributorLeader is the ID of the node the distributor d routes its
// i-th shard to, or "" if none (or d does not answer).
func (c *Cluster) distributorLeader(ctx context.Context, d *Distributor, i int) string {
	var st struct {
		Shards []struct {
			Leader *struct {
				ID string `json:"id"`
			} `json:"leader"`
		} `json:"shards"`
	}
	if err := c.GetJSON(ctx, d.URL()+"/status", &st); err != nil || len(st.Shards) <= i || st.Shards[i].Leader == nil {
		return ""
	}
	return st.Shards[i].Leader.ID
}
