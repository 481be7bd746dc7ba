package raftnet

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// ErrRefused is returned by Dial when the peer refused the connection: it
// belongs to another group.
var ErrRefused = errors.New("raftnet: peer refused the connection")

// The acceptor's answer to a preamble: one byte, then for a refusal the
// reason as a short string.
const (
	answerOK      byte = 0
	answerRefused byte = 1
)

// groupCheck is the layer's group and what it refused, so that each refusal
// is logged once per peer rather than once per connection attempt.
type groupCheck struct {
	mu      sync.Mutex
	group   string
	logger  *slog.Logger
	refused map[string]string    // peer -> last reason logged
	lastAt  map[string]time.Time // peer -> when it was last refused
}

// refusedRecently is how long a refusal is reported by Refused after the
// last one: peers that stopped trying drop out of the list.
const refusedRecently = time.Minute

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
// reason.
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
		if time.Since(l.groups.lastAt[p]) < refusedRecently {
			out[p] = r
		}
	}
	return out
}

// noteRefusal records (and logs, the first time) a refused connection.
func (l *Layer) noteRefusal(peer, msg string) {
	g := &l.groups
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refused == nil {
		g.refused = make(map[string]string)
		g.lastAt = make(map[string]time.Time)
	}
	g.lastAt[peer] = time.Now()
	if g.refused[peer] == msg {
		return
	}
	g.refused[peer] = msg
	if g.logger != nil {
		g.logger.Warn("raft connection refused", "peer", peer, "reason", msg)
	}
}

// answer tells the dialer whether its connection is taken, and reports
// whether it is: a peer of another group is refused.
func (l *Layer) answer(c net.Conn, peer, group string) bool {
	mine := l.Group()
	_ = c.SetWriteDeadline(time.Now().Add(handshakeTimeout))
	defer c.SetWriteDeadline(time.Time{})
	if mine != "" && group != "" && mine != group {
		reason := fmt.Sprintf("%s belongs to group %s, not to this node's group %s", peer, group, mine)
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
		return fmt.Errorf("dial %s: no answer to the handshake: %w", peer, err)
	}
	if b == answerOK {
		return nil
	}
	reason, err := readShortString(r)
	if err != nil {
		reason = "no reason given"
	}
	l.noteRefusal(peer, "refused by the peer: "+reason)
	return fmt.Errorf("dial %s: %w: %s", peer, ErrRefused, reason)
}
