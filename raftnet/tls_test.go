package raftnet

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/internal/pki/pkitest"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// listenTLS is a layer on 127.0.0.1:0 with src (nil: plain TCP).
func listenTLS(t *testing.T, src *tlsconf.Source) *Layer {
	t.Helper()
	l, err := Listen("127.0.0.1:0", "", src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// testLogger sends logs to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, nil))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}

// syncBuffer is a log sink a test reads while handshakes write to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// acceptCount counts the connections l hands to Accept, from now on.
func acceptCount(t *testing.T, l *Layer) func() int {
	t.Helper()
	var mu sync.Mutex
	n := 0
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
			c.Close()
		}
	}()
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// waitRefused polls until l has recorded a refusal of peer and returns it.
func waitRefused(t *testing.T, l *Layer, peer string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r, ok := l.Refused()[peer]; ok {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refusal of %s recorded; refused: %v", peer, l.Refused())
		}
		<-time.After(10 * time.Millisecond)
	}
}

// Two nodes of the CA talk over TLS; fault injection still cuts them.
func TestTLSLayersCarryDataAndFaultInjectionCuts(t *testing.T) {
	ca := pkitest.CA(t, "cluster")
	a := listenTLS(t, pkitest.Source(t, ca, pkitest.Leaf("node1", tlsconf.RoleNode, "127.0.0.1"), testLogger(t), ca))
	b := listenTLS(t, pkitest.Source(t, ca, pkitest.Leaf("node2", tlsconf.RoleNode, "127.0.0.1"), testLogger(t), ca))

	c, err := a.Dial(raft.ServerAddress(b.Addr().String()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := accept(t, b)
	tc, ok := s.(*peerConn).Conn.(*tls.Conn)
	if !ok {
		t.Fatalf("accepted %T, want a TLS connection", s.(*peerConn).Conn)
	}
	if cs := tc.ConnectionState(); len(cs.PeerCertificates) == 0 || cs.PeerCertificates[0].Subject.CommonName != "node1" {
		t.Fatalf("the acceptor did not see node1's certificate: %+v", cs.PeerCertificates)
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read %q, %v; want hello", buf, err)
	}

	// Block cuts the open connection, and b can no longer dial a.
	b.Block(a.Addr().String())
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("read on a cut connection: %v, want it closed", err)
	}
	if _, err := b.Dial(raft.ServerAddress(a.Addr().String()), time.Second); !errors.Is(err, ErrBlocked) {
		t.Fatalf("dial to a blocked peer: %v, want ErrBlocked", err)
	}
	b.Heal()

	// CloseConns cuts live connections; new ones are made.
	c2, err := b.Dial(raft.ServerAddress(a.Addr().String()), 5*time.Second)
	if err != nil {
		t.Fatalf("dial after Heal: %v", err)
	}
	defer c2.Close()
	s2 := accept(t, a)
	a.CloseConns()
	_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("read after CloseConns: %v, want it closed", err)
	}
	if _, err := s2.Write([]byte("x")); err == nil {
		t.Fatal("write on a connection CloseConns closed succeeded")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
