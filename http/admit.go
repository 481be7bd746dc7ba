package httpd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/kvraft/hraftd/api"
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
		st, err := s.joinerStatus(ctx, req.HTTPAddr)
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

// joinerStatus reads a joiner's /status.
func (s *Service) joinerStatus(ctx context.Context, httpAddr string) (api.Status, error) {
	var st api.Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /status: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}
