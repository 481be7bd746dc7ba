package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kvraft/hraftd/api"
	httpd "github.com/kvraft/hraftd/http"
	"github.com/kvraft/hraftd/kv"
	"github.com/kvraft/hraftd/store"
)

// A follower removed from its group is never told: its leader stops
// sending to it, and it waits for a leader (or stands for election) for
// good. When a node that had been a voter has heard from no leader for
// removalQuiet, it asks the members it knows for their /status; a leader
// of its own group, at its term or later, that does not list it means it
// was removed, and the node stops saying so.
const (
	removalQuiet = 10 * time.Second
	removalPoll  = 2 * time.Second
)

// leaderlessReportEvery spaces the warnings of a node that stays without
// a leader.
const leaderlessReportEvery = 30 * time.Second

// watchGroup watches this node's standing in its group until ctx ends or
// the store is done. While the node follows a leader, it reads the
// leader's commit index, against which the node's readiness is measured.
// After a quiet spell without a leader, it asks the group's members about
// this node: it stops the node if they prove it was removed, and
// otherwise says why it may have no leader.
func watchGroup(ctx context.Context, logger *slog.Logger, st *store.Store, p peers) {
	t := time.NewTicker(removalPoll)
	defer t.Stop()
	heard := time.Now()
	var reported time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.Done():
			return
		case <-t.C:
		}
		me, err := st.Status()
		if err == nil && me.Leader.ID != "" && me.Leader.ID != me.Me.ID && me.Leader.HTTPAddr != "" {
			// How far this follower is behind its leader (store/lag.go).
			if ls, err := p.status(ctx, me.Leader.HTTPAddr); err == nil && ls.Me.ID == me.Leader.ID {
				st.NoteLeaderCommit(ls.Me.ID, ls.CommitIndex)
			}
		}
		if err != nil || me.Leader.ID != "" || !me.Admitted || me.Damage != nil {
			heard = time.Now()
			continue
		}
		if time.Since(heard) < removalQuiet {
			continue
		}
		answers := make(map[string]peerAnswer)
		for id, addr := range st.MemberHTTPAddrs() {
			if id == me.Me.ID || addr == "" {
				continue
			}
			peer, err := p.status(ctx, addr)
			answers[id] = peerAnswer{http: addr, st: peer, err: err}
			if err != nil {
				continue
			}
			if reason, gone := removedBy(me, peer); gone {
				logger.Warn("this node is no longer a member of its group", "leader", peer.Me.ID, "leader_term", peer.Term)
				st.MarkRemoved(reason)
				return
			}
		}
		if time.Since(reported) >= leaderlessReportEvery {
			reported = time.Now()
			logger.Warn("no leader for "+time.Since(heard).Round(time.Second).String()+": "+leaderlessReport(me, answers),
				"state", me.State, "term", me.Term)
		}
	}
}

// peerAnswer is what one member's /status said, or why it could not be read.
type peerAnswer struct {
	http string
	st   api.Status
	err  error
}

// leaderlessReport says, for a node that has had no leader for a while,
// what its members answer and the likeliest cause.
func leaderlessReport(me kv.Status, answers map[string]peerAnswer) string {
	var parts []string
	hint := "check that a majority of its members are running and reachable on their Raft addresses"
	ids := make([]string, 0, len(answers))
	for id := range answers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		a := answers[id]
		if a.err != nil {
			parts = append(parts, fmt.Sprintf("%s (%s): %v", id, a.http, a.err))
			continue
		}
		p := a.st
		part := fmt.Sprintf("%s: %s in term %d", id, p.State, p.Term)
		if p.Leader.ID != "" {
			part += ", follows " + p.Leader.ID
		}
		if p.Group != "" && me.Group != "" && p.Group != me.Group {
			part += ", in another group " + p.Group
		}
		parts = append(parts, part)
		if p.State != "Leader" {
			continue
		}
		for _, f := range p.Followers {
			if f.ID == me.Me.ID && f.Address != "" && f.Address != me.Me.RaftAddr {
				hint = fmt.Sprintf("the leader %s sends to this node at %s, but it listens at %s: restart it with -join %s so the group learns its new address",
					p.Me.ID, f.Address, me.Me.RaftAddr, a.http)
			}
		}
	}
	for addr, why := range me.Refused {
		parts = append(parts, fmt.Sprintf("Raft connection with %s refused: %s", addr, why))
	}
	if len(parts) == 0 {
		return "it knows no other member's HTTP address to ask; " + hint
	}
	return "its members answer: " + strings.Join(parts, "; ") + ". " + hint
}

// removedBy reports whether peer's /status proves that the node whose
// status is me was removed from its group: peer leads the same group at
// me's term or a later one, and lists me neither as leader nor follower.
func removedBy(me kv.Status, peer api.Status) (string, bool) {
	if peer.State != "Leader" || peer.Group == "" || peer.Group != me.Group || peer.Term < me.Term {
		return "", false
	}
	if peer.Me.ID == me.Me.ID {
		return "", false
	}
	for _, f := range peer.Followers {
		if f.ID == me.Me.ID {
			return "", false
		}
	}
	return fmt.Sprintf("%s, the leader of group %s at term %d, does not list this node as a member: it was removed from its group", peer.Me.ID, peer.Group, peer.Term), true
}

// peers is how this node reads other members' /status: the client and
// scheme of the node's peer calls (HTTPS with its certificate on a TLS
// cluster).
type peers struct {
	client *http.Client
	httpd.Peers
}

// status reads the /status of the member at httpAddr.
func (p peers) status(ctx context.Context, httpAddr string) (api.Status, error) {
	st, _, err := httpd.PeerStatus(ctx, p.client, p.URL(httpAddr, "/status"))
	return st, err
}
