package raftnet

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// Two nodes of different groups never get a connection through, in either
// direction; a node that does not know its group yet is let in, and knows
// nothing refused.
func TestGroupsRefuseEachOther(t *testing.T) {
	a, b := listen(t), listen(t)
	a.SetGroup("aaaa")
	b.SetGroup("bbbb")
	for _, pair := range [][2]*Layer{{a, b}, {b, a}} {
		from, to := pair[0], pair[1]
		_, err := from.Dial(raft.ServerAddress(to.Addr().String()), 2*time.Second)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "belongs to group") {
			t.Fatalf("dial from group %s to %s: %v, want ErrRefused naming the groups", from.Group(), to.Group(), err)
		}
		if r := to.Refused()[from.Addr().String()]; !strings.Contains(r, from.Group()) {
			t.Errorf("the acceptor recorded %q for the refused dialer", r)
		}
		if r := from.Refused()[to.Addr().String()]; !strings.Contains(r, "refused by the peer") {
			t.Errorf("the dialer recorded %q", r)
		}
	}

	fresh := listen(t)
	c, err := fresh.Dial(raft.ServerAddress(a.Addr().String()), 2*time.Second)
	if err != nil {
		t.Fatalf("a node without a group was refused: %v", err)
	}
	defer c.Close()
	srv := accept(t, a)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(srv, buf); err != nil || buf[0] != 'x' {
		t.Fatalf("read %q, %v: the bytes after the handshake must reach raft", buf, err)
	}

	a.SetGroup("bbbb")
	c2, err := b.Dial(raft.ServerAddress(a.Addr().String()), 2*time.Second)
	if err != nil {
		t.Fatalf("same group refused: %v", err)
	}
	c2.Close()
}
