package raftnet

// Mutual TLS between the members of a group.
//
// Accepting: the TLS server handshake comes first, before a byte of the
// preamble is read, and requires a client certificate that verifies
// against the CA and has role node; the address the preamble then claims
// must be one the certificate covers, so that a node can speak for no
// address but its own (raft trusts the address a peer gives: it is how a
// vote or an entry is attributed). Dialing: the peer must hold a node
// certificate of the CA covering the host dialed, and this node presents
// its own. Both halves read the tlsconf.Source per handshake, so a renewed
// certificate or CA bundle takes effect without a restart.
//
// A connection that fails the handshake is recorded against the remote IP
// (no preamble has said who it is) with a reason that does not change from
// one attempt to the next, so that Refused and the logs say why, once.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/kvraft/hraftd/internal/tlsconf"
)

// tlsSide is what a layer with TLS uses on each side of a connection.
type tlsSide struct {
	server *tls.Config
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
}

// newTLSSide builds both halves from src. The server config asks src for
// the certificate and CA on every handshake; the dial function builds a
// fresh client config per connection, so both follow reloads.
func newTLSSide(src *tlsconf.Source) (*tlsSide, error) {
	server, err := src.ServerConfig(tlsconf.ServerOptions{
		ClientAuth:  tlsconf.ClientCertRequired,
		ClientRoles: []string{tlsconf.RoleNode},
	})
	if err != nil {
		return nil, fmt.Errorf("raftnet: %w", err)
	}
	return &tlsSide{
		server: server,
		dial:   src.DialTLSContext(tlsconf.ClientOptions{ServerRoles: []string{tlsconf.RoleNode}}),
	}, nil
}

// secure runs the server half of the TLS handshake on an accepted
// connection, within the deadline already set on it, and returns the
// connection to read the preamble from and the identity the peer's
// certificate proves. Without TLS it returns raw and a nil identity. A
// failed handshake is recorded and reported as not ok; the caller closes.
func (l *Layer) secure(raw net.Conn) (net.Conn, *tlsconf.Identity, bool) {
	if l.tls == nil {
		return raw, nil, true
	}
	tc := tls.Server(raw, l.tls.server)
	if err := tc.Handshake(); err != nil {
		l.noteRefusal(remoteHost(raw), "TLS handshake failed: "+handshakeReason(err))
		return nil, nil, false
	}
	cs := tc.ConnectionState()
	id, err := tlsconf.PeerIdentity(&cs)
	if err != nil { // cannot happen with a client certificate required
		l.noteRefusal(remoteHost(raw), "TLS: "+err.Error())
		return nil, nil, false
	}
	return tc, &id, true
}

// certRefusal is why a peer whose certificate proves cert may not claim
// the Raft address peer, or "" if it may (or the layer has no TLS).
func certRefusal(cert *tlsconf.Identity, peer string) string {
	if cert == nil {
		return ""
	}
	if err := cert.CheckClaim(tlsconf.RoleNode, "", peer); err != nil {
		return err.Error()
	}
	return ""
}

// connect opens a connection to peer: plain TCP, or with TLS a verified
// mutual-TLS connection. A TLS handshake that fails is recorded as a
// refusal of peer; a TCP connection that cannot be made (the peer is
// down) is not: it is no one's refusal.
func (l *Layer) connect(peer string, timeout time.Duration) (net.Conn, error) {
	if l.tls == nil {
		return net.DialTimeout("tcp", peer, timeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := l.tls.dial(ctx, "tcp", peer)
	if err == nil {
		return c, nil
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return nil, err
	}
	reason := handshakeReason(err)
	l.noteRefusal(peer, "TLS handshake failed: "+reason)
	return nil, fmt.Errorf("dial %s: %w: TLS handshake: %s", peer, ErrRefused, reason)
}

// handshakeReason describes a failed TLS handshake in words that stay the
// same from one attempt to the next (Go's own messages carry the current
// time or the connection's ephemeral port), so that the rate limit on
// refusal logs works and Refused is readable.
func handshakeReason(err error) string {
	var (
		rh      tls.RecordHeaderError
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
		host    x509.HostnameError
		ne      net.Error
	)
	switch {
	case errors.As(err, &rh):
		return "the other side does not speak TLS (a cluster is all TLS or all plain)"
	case errors.As(err, &unknown):
		return fmt.Sprintf("certificate %s is not signed by this cluster's CA", certName(unknown.Cert))
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return fmt.Sprintf("certificate %s is expired or not yet valid (valid from %s to %s)",
			certName(invalid.Cert), invalid.Cert.NotBefore.UTC().Format(time.RFC3339),
			invalid.Cert.NotAfter.UTC().Format(time.RFC3339))
	case errors.As(err, &invalid):
		return fmt.Sprintf("certificate %s: %v", certName(invalid.Cert), invalid)
	case errors.As(err, &host):
		return host.Error()
	case strings.Contains(err.Error(), "didn't provide a certificate"):
		return "no client certificate: a Raft peer must present its node certificate"
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("no TLS handshake within %v", handshakeTimeout)
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		return "the other side closed the connection during the TLS handshake (does it run Raft without TLS, or not trust this node's certificate?)"
	}
	if alert := remoteAlert(err); alert != "" {
		return "the other side refused: " + alert
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil { // drop "read tcp a->b": its port changes
		return oe.Err.Error()
	}
	return err.Error()
}

// remoteAlert is the TLS alert the other side sent, as Go words it
// ("remote error: tls: bad certificate"), or "" if err is not one.
func remoteAlert(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" {
		return oe.Error()
	}
	return ""
}

// certName names a certificate in messages by its CN and role.
func certName(c *x509.Certificate) string {
	if c == nil {
		return "(none)"
	}
	id := tlsconf.IdentityOf(c)
	return fmt.Sprintf("%q (role %q)", id.Name, id.Role)
}

// remoteHost is the IP an accepted connection comes from, the key its
// refusal is recorded under before a preamble names it.
func remoteHost(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}
