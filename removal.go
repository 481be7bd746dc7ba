package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/kvraft/hraftd/api"
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

// watchRemoval runs until ctx ends or the store is done, asking the
// group's leader about this node after a quiet spell.
func watchRemoval(ctx context.Context, logger *slog.Logger, st *store.Store) {
	client := &http.Client{Timeout: time.Second}
	t := time.NewTicker(removalPoll)
	defer t.Stop()
	heard := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.Done():
			return
		case <-t.C:
		}
		me, err := st.Status()
		if err != nil || me.Leader.ID != "" || !me.Admitted || me.Damage != nil {
			heard = time.Now()
			continue
		}
		if time.Since(heard) < removalQuiet {
			continue
		}
		for id, addr := range st.MemberHTTPAddrs() {
			if id == me.Me.ID || addr == "" {
				continue
			}
			peer, err := peerStatus(ctx, client, addr)
			if err != nil {
				continue
			}
			if reason, gone := removedBy(me, peer); gone {
				logger.Warn("this node is no longer a member of its group", "leader", peer.Me.ID, "leader_term", peer.Term)
				st.MarkRemoved(reason)
				return
			}
		}
	}
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

// peerStatus reads another member's /status.
func peerStatus(ctx context.Context, client *http.Client, httpAddr string) (api.Status, error) {
	var st api.Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /status on %s: %s", httpAddr, resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}
