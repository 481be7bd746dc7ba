package httpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/tlsconf"
	"github.com/kvraft/hraftd/kv"
)

// admitPoll is how often the leader looks at a non-voter that is catching
// up before it promotes it.
const admitPoll = 100 * time.Millisecond

// admitTimeout bounds one join request's wait for its joiner to catch up;
// a joiner with more to copy sends its join again.
const admitTimeout = 10 * time.Second

// errCatchingUp means a joiner is a non-voter still catching up when the
// join request's time ran out: it is not a failure, and the joiner sends
// its join again (hraftd's -join does).
var errCatchingUp = errors.New("is a non-voter catching up")

// admit promotes a joiner the store added as a non-voter, once the joiner
// itself reports (GET /status on its HTTP address) that it has applied
// what the group had committed when it was added, in the same group. So
// a joiner is reached and checked before it can vote, and an address
// where nobody answers never becomes a voter.
func (s *Service) admit(ctx context.Context, req api.JoinRequest, res kv.JoinResult) (kv.JoinResult, error) {
	if req.HTTPAddr == "" {
		return res, fmt.Errorf(`%w: %s was added as a non-voter; to make it a voter, join with its "http_addr" so the leader can check that it has caught up`, kv.ErrInvalid, req.ID)
	}
	ctx, cancel := context.WithTimeout(ctx, admitTimeout)
	defer cancel()
	t := time.NewTicker(admitPoll)
	defer t.Stop()
	var last api.Status
	for {
		st, err := s.joinerStatus(ctx, req.ID, req.HTTPAddr)
		if err == nil {
			last = st
			if st.Group != "" && res.Group != "" && st.Group != res.Group {
				return res, fmt.Errorf("%w: %s reports group %s, this is group %s", kv.ErrForeign, req.ID, st.Group, res.Group)
			}
			if st.AppliedIndex >= res.CommitIndex && st.Incarnation == req.Incarnation {
				if err := s.store.Promote(ctx, req.ID); err != nil {
					return res, err
				}
				res.Voter = true
				return res, nil
			}
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("%s %w (applied %d of %d entries; last check: %v); it becomes a voter once it has caught up: send the join again",
				req.ID, errCatchingUp, last.AppliedIndex, res.CommitIndex, err)
		case <-t.C:
		}
	}
}

// PeerStatus reads the /status at url (a node's, through client). cs is
// the connection's TLS state (nil over plain HTTP), for a caller that
// checks who answered.
func PeerStatus(ctx context.Context, client *http.Client, url string) (st api.Status, cs *tls.ConnectionState, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return st, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return st, resp.TLS, fmt.Errorf("GET %s: %s %s", url, resp.Status, bytes.TrimSpace(msg))
	}
	return st, resp.TLS, json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st)
}

// joinerStatus reads a joiner's /status. On a TLS cluster the joiner must
// answer with a node certificate issued to the ID it joins as (the
// transport has already checked the CA, the role and the address), so an
// address held by someone else never becomes a voter under that name.
func (s *Service) joinerStatus(ctx context.Context, id, httpAddr string) (api.Status, error) {
	st, cs, err := PeerStatus(ctx, s.client, s.cfg.Peers.URL(httpAddr, "/status"))
	if err != nil || cs == nil {
		return st, err
	}
	pid, err := tlsconf.PeerIdentity(cs)
	if err != nil {
		return st, err
	}
	if err := pid.CheckClaim(tlsconf.RoleNode, id, ""); err != nil {
		return st, fmt.Errorf("the node at %s is not %s: %w", httpAddr, id, err)
	}
	return st, nil
}
