package raftnet

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func listen(t *testing.T) *Layer {
	t.Helper()
	l, err := Listen("127.0.0.1:0", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// accept returns the next accepted connection, failing after a deadline.
func accept(t *testing.T, l *Layer) net.Conn {
	t.Helper()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			ch <- c
		}
	}()
	select {
	case c := <-ch:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
		return nil
	}
}

func TestDialAcceptCarriesBytesAfterPreamble(t *testing.T) {
	a, b := listen(t), listen(t)
	c, err := a.Dial(raft.ServerAddress(b.Addr().String()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := accept(t, b)
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read %q, %v; want hello", buf, err)
	}
}

func TestBlockCutsExistingAndNewConnections(t *testing.T) {
	a, b := listen(t), listen(t)
	c, err := a.Dial(raft.ServerAddress(b.Addr().String()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := accept(t, b)

	// b cuts a off: the open connection dies on b's side...
	b.Block(a.Addr().String())
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Read(make([]byte, 1)); err == nil {
		t.Fatal("read on a blocked connection succeeded")
	}
	// ...a's next connection is dropped after its preamble...
	c2, err := a.Dial(raft.ServerAddress(b.Addr().String()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err == nil {
		t.Fatal("a blocked peer's new connection was not dropped")
	}
	// ...and b cannot dial a.
	if _, err := b.Dial(raft.ServerAddress(a.Addr().String()), time.Second); !errors.Is(err, ErrBlocked) {
		t.Fatalf("dial to a blocked peer: %v, want ErrBlocked", err)
	}
	if got := b.Blocked(); len(got) != 1 || got[0] != a.Addr().String() {
		t.Fatalf("Blocked() = %v", got)
	}

	b.Heal()
	c3, err := b.Dial(raft.ServerAddress(a.Addr().String()), time.Second)
	if err != nil {
		t.Fatalf("dial after Heal: %v", err)
	}
	c3.Close()
	accept(t, a)
}

func TestStrayClientIsDropped(t *testing.T) {
	l := listen(t)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, errTimeout(err)) {
		t.Fatalf("stray client was not dropped: %v", err)
	}
}

// errTimeout returns err if it is a timeout (so the test fails on it), or
// a sentinel that matches nothing.
func errTimeout(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return errors.New("not a timeout")
}
