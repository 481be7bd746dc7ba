package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/kvraft/hraftd/api"
	httpd "github.com/kvraft/hraftd/http"
	"github.com/kvraft/hraftd/store"
)

// joinGroup joins the group through the members at -join and reports
// whether the node can go on. A recovered node is already a member: its
// join changes nothing unless its addresses changed, and it runs in the
// background, since the group may have no leader yet and start-up must not
// wait for one. A node on an empty data directory says so (fresh), so the
// leader takes it in as a non-voter and promotes it once it has caught up.
func joinGroup(ctx context.Context, logger *slog.Logger, o *options, st *store.Store, p httpd.Peers) bool {
	req := api.JoinRequest{ID: o.id, Addr: o.radv, HTTPAddr: o.hadv,
		Group: st.Group(), Incarnation: st.Incarnation(), Fresh: !st.Recovered()}
	if st.Recovered() {
		go func() {
			if err := joinWithRetry(ctx, logger, o.join, req, o.joinTimeout, st, p); err != nil {
				logger.Warn("rejoin after restart did not complete; continuing as a recovered member", "error", err)
			}
		}()
		return true
	}
	err := joinWithRetry(ctx, logger, o.join, req, o.joinTimeout, st, p)
	if err != nil && ctx.Err() == nil {
		logger.Error("could not join the group", "join", o.join, "error", err)
		return false
	}
	return true
}

// joinURLs turns -join's comma-separated addresses into /join URLs, with
// the cluster's scheme where an address has none.
func joinURLs(join, scheme string) []string {
	var urls []string
	for a := range strings.SplitSeq(join, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if !strings.Contains(a, "://") {
			a = scheme + "://" + a
		}
		urls = append(urls, strings.TrimSuffix(a, "/")+"/join")
	}
	return urls
}

// joinWithRetry asks the member at joinAddr to add this node, retrying with
// backoff until it succeeds or the timeout passes: the member may not be up
// yet, or its group may be between leaders. A 4xx answer is final.
//
// On a TLS cluster the request goes over HTTPS with this node's
// certificate, which is its credential: the member checks that the
// certificate proves the ID and addresses the join claims.
func joinWithRetry(ctx context.Context, logger *slog.Logger, joinAddr string, req api.JoinRequest, timeout time.Duration, st *store.Store, p httpd.Peers) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, _ := json.Marshal(req)
	urls := joinURLs(joinAddr, p.URLScheme())
	if len(urls) == 0 {
		return errors.New("-join names no address")
	}
	client := httpd.NewPeerClient(p, 15*time.Second)
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		u := urls[(attempt-1)%len(urls)]
		resp, err := postJoin(ctx, client, u, body)
		if err == nil {
			if err := st.AdoptGroup(resp.Group); err != nil {
				return finalError{err}
			}
			logger.Info("joined the group", "via", u, "group", resp.Group)
			return nil
		}
		var fe finalError
		if errors.As(err, &fe) {
			return err
		}
		logger.Info("join attempt failed; retrying", "attempt", attempt, "via", u, "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// finalError is a join failure that retrying will not fix.
type finalError struct{ error }

// postJoin sends one join request and returns the leader's answer.
func postJoin(ctx context.Context, client *http.Client, url string, body []byte) (api.JoinResponse, error) {
	var jr api.JoinResponse
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return jr, finalError{err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hreq)
	if err != nil {
		return jr, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusOK:
		// An older node answers 200 with no body: no group to adopt.
		_ = json.Unmarshal(msg, &jr)
		return jr, nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return jr, finalError{fmt.Errorf("join refused: %s: %s", resp.Status, bytes.TrimSpace(msg))}
	}
	return jr, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
}
