package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
)

// The roles a certificate's Subject OU may name.
const (
	// RoleNode is a member of a Raft group: it serves the node API and
	// Raft, and dials its peers.
	RoleNode = "node"
	// RoleAdmin is an operator: it may change membership (join, remove).
	RoleAdmin = "admin"
	// RoleClient is a client of the API (the distributor, a program): it
	// reads and writes keys but does not manage the cluster.
	RoleClient = "client"
)

// ErrNoCertificate means the peer presented no certificate that was
// verified against the CA.
var ErrNoCertificate = errors.New("no verified certificate: present a certificate signed by the cluster's CA")

// Identity is what a verified certificate proves about its holder.
//
// The convention: Subject CN is the name (a node's ID such as "node1",
// "distributor", an operator's name); exactly one Subject OU is the role
// (RoleNode, RoleAdmin or RoleClient); the SANs (IP addresses and DNS
// names) are the hosts the holder may be reached at. CN and OU are used for
// naming only: Go checks host names against SANs alone, so the name can
// never be mistaken for an address.
type Identity struct {
	Name string
	// Role is "" when the certificate has no OU or more than one.
	Role        string
	DNSNames    []string
	IPAddresses []net.IP
	Cert        *x509.Certificate
}

// IdentityOf reads the identity convention off cert. It does not verify
// cert: use it only on a certificate that was verified (PeerIdentity does).
func IdentityOf(cert *x509.Certificate) Identity {
	id := Identity{
		Name:        cert.Subject.CommonName,
		DNSNames:    cert.DNSNames,
		IPAddresses: cert.IPAddresses,
		Cert:        cert,
	}
	if ou := cert.Subject.OrganizationalUnit; len(ou) == 1 {
		id.Role = ou[0]
	}
	return id
}

// PeerIdentity is the identity of the peer of a connection whose
// certificate the TLS handshake verified against the CA: on a server, the
// client certificate of a config built with ClientCertOptional or
// ClientCertRequired (r.TLS of an http.Request, or a *tls.Conn's
// ConnectionState); on a client, the server's. It returns
// ErrNoCertificate for a plain-text connection (cs nil) or a peer that
// sent no certificate.
func PeerIdentity(cs *tls.ConnectionState) (Identity, error) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Identity{}, ErrNoCertificate
	}
	return IdentityOf(cs.VerifiedChains[0][0]), nil
}

// Hosts lists the SANs, IPs first, for messages.
func (id Identity) Hosts() []string {
	out := make([]string, 0, len(id.IPAddresses)+len(id.DNSNames))
	for _, ip := range id.IPAddresses {
		out = append(out, ip.String())
	}
	return append(out, id.DNSNames...)
}

// CoversHost reports whether host (an IP or a DNS name, without a port)
// is one of the certificate's SANs.
func (id Identity) CoversHost(host string) bool {
	if id.Cert == nil {
		return false
	}
	return id.Cert.VerifyHostname(host) == nil
}

// CheckClaim checks that the certificate proves a claim: that its holder
// has role, is called name (skipped if name is ""), and may be reached at
// addr, a host:port (skipped if addr is ""). The error says which part
// does not match and what the certificate does prove, so that "a join can
// claim only the identity its certificate proves" is one call.
func (id Identity) CheckClaim(role, name, addr string) error {
	if id.Role != role {
		return fmt.Errorf("the certificate of %q has role %q (its OU), not %q", id.Name, id.Role, role)
	}
	if name != "" && id.Name != name {
		return fmt.Errorf("the certificate proves the identity %q (its CN), not %q", id.Name, name)
	}
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if !id.CoversHost(host) {
		return fmt.Errorf("the certificate of %q does not cover host %q of address %q; it covers %s",
			id.Name, host, addr, strings.Join(id.Hosts(), ", "))
	}
	return nil
}

// checkRole refuses a leaf whose role is not one of roles (any if empty).
func checkRole(leaf *x509.Certificate, roles []string) error {
	if len(roles) == 0 {
		return nil
	}
	id := IdentityOf(leaf)
	if !slices.Contains(roles, id.Role) {
		return fmt.Errorf("tlsconf: the certificate of %q has role %q (its OU); this link needs %s",
			id.Name, id.Role, strings.Join(roles, " or "))
	}
	return nil
}
