// Package raftnet is the TCP stream layer under a node's Raft transport. It
// behaves like hashicorp/raft's own TCP layer, with one addition: it can cut
// the node off from chosen peers, which is how the tests make network
// partitions.
//
// Why a stream layer and not iptables or network namespaces: those need root
// and Linux, and every node here listens on the same loopback address, so
// they cannot single out a pair of nodes without giving each node its own
// address or namespace. A stream layer runs anywhere, unprivileged, and can
// cut exactly one pair of nodes, in one direction or both. Its limit: it cuts
// only Raft traffic, which is the traffic that partitions are about.
//
// To know who is on the other end of an accepted connection (the remote's
// port is ephemeral), the dialer first sends a short preamble with its own
// advertised Raft address and its group's ID, and the acceptor answers
// whether it takes the connection: a node never lets a node of another
// group reach its raft (see group.go).
//
// With TLS (see tls.go) every connection is mutual TLS before the preamble
// is read: only a node certificate from the cluster's CA gets that far, and
// the address it claims in the preamble must be one its certificate covers.
package raftnet

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/internal/tlsconf"
)

// preambleMagic starts every connection, so that a stray client (a browser
// pointed at the Raft port, say) is told apart and dropped at once.
const preambleMagic = "HRN2"

// maxAddrLen bounds the address in a preamble.
const maxAddrLen = 255

// handshakeTimeout bounds how long an accepted connection may take to
// complete its TLS handshake, if any, and send its preamble.
const handshakeTimeout = 5 * time.Second

// ErrBlocked is returned when dialing a peer this node is cut off from.
var ErrBlocked = errors.New("raftnet: peer is blocked by fault injection")

// Layer is a raft.StreamLayer over TCP, or mutual TLS, with per-peer
// fault injection.
type Layer struct {
	ln        net.Listener
	advertise addr
	tls       *tlsSide // nil: plain TCP

	accepted chan net.Conn
	done     chan struct{}
	closeMu  sync.Once

	mu      sync.Mutex
	blocked map[string]bool      // peer Raft address -> cut off
	conns   map[*peerConn]string // live connections -> peer address

	groups groupCheck // see group.go
}

var _ raft.StreamLayer = (*Layer)(nil)

// Listen listens on bind and advertises advertise (bind if empty) to peers.
// With tlsSrc, every connection in either direction is mutual TLS between
// nodes of tlsSrc's CA (see tls.go); with nil, it is plain TCP. A cluster is
// all one or the other: the two do not talk to each other.
func Listen(bind, advertise string, tlsSrc *tlsconf.Source) (*Layer, error) {
	var side *tlsSide
	if tlsSrc != nil {
		var err error
		if side, err = newTLSSide(tlsSrc); err != nil {
			return nil, err
		}
	}
	if advertise == "" {
		advertise = bind
	}
	host, port, err := net.SplitHostPort(advertise)
	if err != nil {
		return nil, fmt.Errorf("raftnet: advertise address %q: %w", advertise, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return nil, fmt.Errorf("raftnet: advertise address %q is not one peers can dial; give a host", advertise)
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("raftnet: listen on %q: %w", bind, err)
	}
	if port == "0" { // bound to :0; advertise the port we got
		advertise = net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	l := &Layer{
		ln:        ln,
		advertise: addr(advertise),
		tls:       side,
		accepted:  make(chan net.Conn),
		done:      make(chan struct{}),
		blocked:   make(map[string]bool),
		conns:     make(map[*peerConn]string),
	}
	go l.acceptLoop()
	return l, nil
}

// acceptLoop accepts connections and handshakes each in its own goroutine,
// so one slow or silent client cannot hold up the others.
func (l *Layer) acceptLoop() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// The listener failed for good: close so Accept reports it.
			l.Close()
			return
		}
		go l.handshake(c)
	}
}

// handshake completes the TLS handshake if the layer has TLS, reads an
// accepted connection's preamble, to learn which peer dialed, and hands
// the connection to Accept unless that peer is refused or blocked.
func (l *Layer) handshake(raw net.Conn) {
	_ = raw.SetDeadline(time.Now().Add(handshakeTimeout))
	c, cert, ok := l.secure(raw)
	if !ok {
		raw.Close()
		return
	}
	br := bufio.NewReader(c)
	peer, group, err := readPreamble(br)
	if err != nil {
		if errors.Is(err, errTLSClient) {
			l.noteRefusal(remoteHost(raw), "a TLS client: this node runs Raft without TLS (a cluster is all TLS or all plain)")
		}
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if !l.answer(c, peer, group, cert) {
		c.Close()
		return
	}
	pc, ok := l.track(&peerConn{Conn: c, r: br}, peer)
	if !ok {
		c.Close()
		return
	}
	select {
	case l.accepted <- pc:
	case <-l.done:
		pc.Close()
	}
}

// errTLSClient is readPreamble's error for a connection that opens with a
// TLS handshake record: a peer with TLS dialing a node without it.
var errTLSClient = errors.New("raftnet: a TLS client on a plain listener")

// readPreamble reads the magic, the dialer's advertised Raft address and
// its group ("" if it does not know it yet).
func readPreamble(r *bufio.Reader) (peer, group string, err error) {
	magic := make([]byte, len(preambleMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != preambleMagic {
		if magic[0] == 0x16 && magic[1] == 0x03 { // a handshake record, TLS 1.x
			return "", "", errTLSClient
		}
		return "", "", errors.New("raftnet: bad preamble")
	}
	if peer, err = readShortString(r); err != nil {
		return "", "", err
	}
	group, err = readShortString(r)
	return peer, group, err
}

// readShortString reads a uvarint length and that many bytes, at most
// maxAddrLen.
func readShortString(r *bufio.Reader) (string, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil || n > maxAddrLen {
		return "", errors.New("raftnet: bad preamble field")
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return string(b), nil
}

// appendShortString appends what readShortString reads.
func appendShortString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Accept waits for the next connection from a peer that is not blocked.
func (l *Layer) Accept() (net.Conn, error) {
	select {
	case c := <-l.accepted:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Dial connects to a peer's advertised Raft address; with TLS, it checks
// that the peer holds a node certificate of the CA covering that address,
// and presents this node's.
func (l *Layer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	peer := string(address)
	if l.isBlocked(peer) {
		return nil, fmt.Errorf("dial %s: %w", peer, ErrBlocked)
	}
	c, err := l.connect(peer, timeout)
	if err != nil {
		return nil, err
	}
	pre := appendShortString([]byte(preambleMagic), l.advertise.String())
	pre = appendShortString(pre, l.Group())
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(pre); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReader(c)
	if err := l.readAnswer(br, peer); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	pc, ok := l.track(&peerConn{Conn: c, r: br}, peer)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("dial %s: %w", peer, ErrBlocked)
	}
	return pc, nil
}

// track registers a live connection unless its peer is blocked.
func (l *Layer) track(pc *peerConn, peer string) (*peerConn, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.blocked[peer] {
		return nil, false
	}
	pc.layer = l
	l.conns[pc] = peer
	return pc, true
}

func (l *Layer) untrack(pc *peerConn) {
	l.mu.Lock()
	delete(l.conns, pc)
	l.mu.Unlock()
}

func (l *Layer) isBlocked(peer string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.blocked[peer]
}

// Block cuts this node off from the peers with these Raft addresses, in
// both directions: dials to them fail, their connections are refused, and
// connections already open to or from them are closed.
func (l *Layer) Block(peers ...string) {
	l.mu.Lock()
	var doomed []*peerConn
	for _, p := range peers {
		l.blocked[p] = true
	}
	for c, p := range l.conns {
		if l.blocked[p] {
			doomed = append(doomed, c)
		}
	}
	l.mu.Unlock()
	for _, c := range doomed {
		c.cut()
	}
}

// Unblock lets traffic to and from these peers flow again.
func (l *Layer) Unblock(peers ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range peers {
		delete(l.blocked, p)
	}
}

// Heal unblocks every peer.
func (l *Layer) Heal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.blocked)
}

// Blocked lists the peers currently cut off, sorted.
func (l *Layer) Blocked() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.blocked))
	for p := range l.blocked {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Close stops listening; Accept then returns net.ErrClosed.
func (l *Layer) Close() error {
	var err error
	l.closeMu.Do(func() {
		close(l.done)
		err = l.ln.Close()
	})
	return err
}

// Addr is the advertised address, which raft hands to peers.
func (l *Layer) Addr() net.Addr { return l.advertise }

// addr is the advertised address exactly as configured: raft records it in
// the group's configuration, so it must not be rewritten (resolving
// "localhost:12000" to "127.0.0.1:12000" would make a node's own idea of
// its address differ from the one its peers have).
type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }

// peerConn is a tracked connection; reads go through the buffered reader
// that consumed the preamble, so no byte after it is lost.
type peerConn struct {
	net.Conn
	r     *bufio.Reader
	layer *Layer
	once  sync.Once
}

func (c *peerConn) Read(b []byte) (int, error) {
	if c.r != nil {
		return c.r.Read(b)
	}
	return c.Conn.Read(b)
}

func (c *peerConn) Close() error { return c.close(false) }

// cut closes the connection at once: over TLS it closes the TCP connection
// under it, where Close would first send a close_notify alert, which can
// wait (up to seconds) on a peer that has stopped reading.
func (c *peerConn) cut() { _ = c.close(true) }

func (c *peerConn) close(abrupt bool) error {
	var err error
	c.once.Do(func() {
		if c.layer != nil {
			c.layer.untrack(c)
		}
		if tc, ok := c.Conn.(*tls.Conn); ok && abrupt {
			err = tc.NetConn().Close()
			return
		}
		err = c.Conn.Close()
	})
	return err
}

// CloseConns closes every live connection to and from peers, so that calls
// blocked on them return at once; new connections are still made.
func (l *Layer) CloseConns() {
	l.mu.Lock()
	conns := make([]*peerConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.cut()
	}
}
