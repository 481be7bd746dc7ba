package tlsconf

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
)

// ClientAuth says whether a server asks for client certificates.
type ClientAuth int

const (
	// ClientCertNone: clients are not asked for a certificate.
	ClientCertNone ClientAuth = iota
	// ClientCertOptional: a client may present a certificate; if it
	// does, it must verify against the CA, and PeerIdentity reports it.
	// Clients without one are served (and authenticated some other way,
	// e.g. a password).
	ClientCertOptional
	// ClientCertRequired: a client must present a certificate that
	// verifies against the CA, or the handshake fails.
	ClientCertRequired
)

func (a ClientAuth) tls() tls.ClientAuthType {
	switch a {
	case ClientCertOptional:
		return tls.VerifyClientCertIfGiven
	case ClientCertRequired:
		return tls.RequireAndVerifyClientCert
	}
	return tls.NoClientCert
}

// ServerOptions shape a server's tls.Config.
type ServerOptions struct {
	ClientAuth ClientAuth
	// ClientRoles, if set, refuses a client certificate whose role is
	// not one of these, in the handshake.
	ClientRoles []string
	// NextProtos is the ALPN list (e.g. "http/1.1"). The config a
	// server returns per handshake is built here, so protocols an
	// http.Server would add to its own copy are not seen: set them here.
	NextProtos []string
}

// ServerConfig is a tls.Config for a server that presents the current
// certificate and, per opts, verifies client certificates against the
// current CA. TLS 1.2 is the minimum; Go negotiates 1.3 with any client
// that has it. It fails if no certificate is configured.
func (s *Source) ServerConfig(opts ServerOptions) (*tls.Config, error) {
	if s.Certificate() == nil {
		return nil, errors.New("tlsconf: a server needs a certificate and key (-tls-cert, -tls-key)")
	}
	base := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: opts.ClientAuth.tls(),
		NextProtos: opts.NextProtos,
	}
	if len(opts.ClientRoles) > 0 {
		roles := opts.ClientRoles
		base.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.VerifiedChains) == 0 { // no certificate, and none required
				return nil
			}
			return checkRole(cs.VerifiedChains[0][0], roles)
		}
	}
	// Each handshake gets the current certificate and CA pool. The
	// returned config sets no session ticket keys, so the ones of the
	// config below are used and resumption works across reloads; Go
	// re-verifies a resumed client certificate against the current pool.
	cfg := base.Clone()
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		m := s.current()
		c := base.Clone()
		c.Certificates = []tls.Certificate{*m.cert}
		c.ClientCAs = m.pool
		return c, nil
	}
	// GetCertificate is not reached while GetConfigForClient answers;
	// it is here so that the config is complete on its own (net/http
	// refuses to serve TLS from a config without certificates).
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return s.current().cert, nil
	}
	return cfg, nil
}

// ClientOptions shape a client's tls.Config.
type ClientOptions struct {
	// ServerName is the host name or IP to verify the server's
	// certificate against. Leave it empty when dialing through
	// DialTLSContext, net/http or tls.Dial, which set it from the address
	// dialed.
	ServerName string
	// ServerRoles, if set, refuses a server certificate whose role is
	// not one of these.
	ServerRoles []string
}

// ClientConfig is a tls.Config for a client that verifies the server
// against the CA pool current at the time of the call (chain, expiry, and
// that the host dialed is one of the certificate's SANs, as Go does for
// any client) and presents the current certificate, if one is configured,
// whenever the server asks: a renewed client certificate is used at once.
//
// A client's tls.Config has no per-handshake hook for its roots (and Go
// hides the IP dialed from VerifyConnection, so verifying by hand against
// a fresh pool cannot check IP SANs); a long-lived config therefore keeps
// the CA pool it was built with. DialTLSContext builds one per connection
// and so follows CA reloads too: prefer it.
func (s *Source) ClientConfig(opts ClientOptions) *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: opts.ServerName,
		RootCAs:    s.current().pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if c := s.current().cert; c != nil {
				return c, nil
			}
			// No certificate configured: send none, and let the server
			// decide whether it needs one.
			return &tls.Certificate{}, nil
		},
	}
	if roles := opts.ServerRoles; len(roles) > 0 {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			// Go has verified the chain and host by now.
			return checkRole(cs.VerifiedChains[0][0], roles)
		}
	}
	return cfg
}

// DialTLSContext returns a dial function that connects over TCP and
// completes a TLS handshake with a fresh ClientConfig(opts), so that each
// connection uses the current CA pool and certificate. The server name is
// the host of the address dialed unless opts sets one. It fits
// http.Transport.DialTLSContext and a Raft stream layer's Dial.
func (s *Source) DialTLSContext(opts ClientOptions) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		cfg := s.ClientConfig(opts)
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, fmt.Errorf("tlsconf: dial %q: %w", addr, err)
			}
			cfg.ServerName = host
		}
		d := &tls.Dialer{Config: cfg}
		return d.DialContext(ctx, network, addr)
	}
}

// PeerConfigs are the two halves of a mutual-TLS link between members:
// the server side (accepting a peer) requires a certificate with role
// RoleNode from the CA; the client side (dialing a peer) verifies that the
// peer's certificate has role RoleNode and covers the host dialed, and
// presents this node's own certificate. Which member a connection comes
// from is then PeerIdentity of either side. The client half keeps the CA
// pool of the time of the call (see ClientConfig); a stream layer that
// must follow CA reloads dials with DialTLSContext and
// ClientOptions{ServerRoles: []string{RoleNode}} instead.
func (s *Source) PeerConfigs() (server, client *tls.Config, err error) {
	server, err = s.ServerConfig(ServerOptions{
		ClientAuth:  ClientCertRequired,
		ClientRoles: []string{RoleNode},
	})
	if err != nil {
		return nil, nil, err
	}
	return server, s.ClientConfig(ClientOptions{ServerRoles: []string{RoleNode}}), nil
}
