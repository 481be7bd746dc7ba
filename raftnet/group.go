package raftnet

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/kvraft/hraftd/internal/tlsconf"
)

// ErrRefused is returned by Dial when the peer refused the connection: it
// belongs to another group, or (with TLS) one side's certificate does not
// prove what the other requires.
var ErrRefused = errors.New("raftnet: peer refused the connection")

// The acceptor's answer to a preamble: one byte, then for a refusal the
// reason as a short string.
const (
	answerOK      byte = 0
	answerRefused byte = 1
)

// groupCheck is the layer's group and the connections it refused, so that
// a refusal is logged once per peer and reason (again after a quiet
// minute) rather than once per connection attempt.
type groupCheck struct {
	mu      sync.Mutex
	group   string
	logger  *slog.Logger
	refused map[string]*refusal // peer -> its latest refusal
}

// refusal is the latest refused connection of one peer.
type refusal struct {
	reason string
	at     time.Time // last refused
	logged time.Time // last logged
}

// refusedRecently is how long a refusal is reported by Refused after the
// last one: peers that stopped trying drop out of the list. It is also how
// often a refusal that keeps happening for the same reason is logged again.
const refusedRecently = time.Minute

// maxRefused bounds the peers remembered: connections that fail the TLS
// handshake are keyed by the remote IP, which a flood from many addresses
// would otherwise grow without end. Past the bound, refusals of new peers
// are neither recorded nor logged until old ones expire.
const maxRefused = 1024

// SetGroup sets the group this node belongs to. Until it is set ("" ), the
// layer accepts peers of any group: a node that has just joined learns its
// group from its leader.
func (l *Layer) SetGroup(group string) {
	l.groups.mu.Lock()
	l.groups.group = group
	l.groups.mu.Unlock()
}

// Group is the group set with SetGroup.
func (l *Layer) Group() string {
	l.groups.mu.Lock()
	defer l.groups.mu.Unlock()
	return l.groups.group
}

// SetLogger makes the layer log refused connections, once per peer and
// reason (again if the refusals go on after a minute).
func (l *Layer) SetLogger(logger *slog.Logger) {
	l.groups.mu.Lock()
	l.groups.logger = logger
	l.groups.mu.Unlock()
}

// Refused returns the peers whose connections were refused, in either
// direction, in the last minute, with the reason.
func (l *Layer) Refused() map[string]string {
	l.groups.mu.Lock()
	defer l.groups.mu.Unlock()
	out := make(map[string]string, len(l.groups.refused))
	for p, r := range l.groups.refused {
		if time.Since(r.at) < refusedRecently {
			out[p] = r.reason
		}
	}
	return out
}

// noteRefusal records (and logs, rate-limited) a refused connection.
func (l *Layer) noteRefusal(peer, msg string) {
	g := &l.groups
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	r := g.refused[peer]
	if r == nil {
		if g.refused == nil {
			g.refused = make(map[string]*refusal)
		}
		if len(g.refused) >= maxRefused {
			g.forgetOld(now)
			if len(g.refused) >= maxRefused {
				return
			}
		}
		r = &refusal{}
		g.refused[peer] = r
	}
	r.at = now
	if r.reason == msg && now.Sub(r.logged) < refusedRecently {
		return
	}
	r.reason, r.logged = msg, now
	if g.logger != nil {
		g.logger.Warn("raft connection refused", "peer", peer, "reason", msg)
	}
}

// forgetOld drops the refusals Refused no longer reports.
func (g *groupCheck) forgetOld(now time.Time) {
	for p, r := range g.refused {
		if now.Sub(r.at) >= refusedRecently {
			delete(g.refused, p)
		}
	}
}

// answer tells the dialer whether its connection is taken, and reports
// whether it is. A peer is refused if its TLS certificate (cert, nil
// without TLS) does not cover the address it claims, or if it belongs to
// another group.
func (l *Layer) answer(c net.Conn, peer, group string, cert *tlsconf.Identity) bool {
	_ = c.SetWriteDeadline(time.Now().Add(handshakeTimeout))
	defer c.SetWriteDeadline(time.Time{})
	reason := certRefusal(cert, peer)
	if mine := l.Group(); reason == "" && mine != "" && group != "" && mine != group {
		reason = fmt.Sprintf("%s belongs to group %s, not to this node's group %s", peer, group, mine)
	}
	if reason != "" {
		l.noteRefusal(peer, reason)
		_, _ = c.Write(appendShortString([]byte{answerRefused}, reason))
		return false
	}
	_, err := c.Write([]byte{answerOK})
	return err == nil
}

// readAnswer reads the acceptor's answer to this node's preamble.
func (l *Layer) readAnswer(r *bufio.Reader, peer string) error {
	b, err := r.ReadByte()
	if err != nil {
		// In TLS 1.3 the acceptor checks this node's certificate after
		// the dialer's handshake has returned: its verdict arrives here.
		if alert := remoteAlert(err); alert != "" {
			reason := "the peer refused this node's certificate: " + alert
			l.noteRefusal(peer, reason)
			return fmt.Errorf("dial %s: %w: %s", peer, ErrRefused, reason)
		}
		hint := ""
		if l.tls == nil {
			hint = " (a peer that runs Raft over TLS drops a plain connection like this)"
		}
		return fmt.Errorf("dial %s: no answer to the handshake%s: %w", peer, hint, err)
	}
	switch b {
	case answerOK:
		return nil
	case answerRefused:
	default:
		return fmt.Errorf("dial %s: the peer does not speak this node's Raft protocol (answer %#x)", peer, b)
	}
	reason, err := readShortString(r)
	if err != nil {
		reason = "no reason given"
	}
	l.noteRefusal(peer, "refused by the peer: "+reason)
	return fmt.Errorf("dial %s: %w: %s", peer, ErrRefused, reason)
}
