package cluster

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kvraft/hraftd/internal/pki"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// EnvSecure is the environment variable that, set to 1 (or true), starts
// every cluster in secure mode unless its Config says Plain: a way to run
// any suite with TLS and authentication, e.g. HRAFTD_TEST_SECURE=1 make
// chaos.
const EnvSecure = "HRAFTD_TEST_SECURE"

// envSecure reports whether EnvSecure asks for secure mode.
func envSecure() bool {
	on, _ := strconv.ParseBool(os.Getenv(EnvSecure))
	return on
}

// secure reports whether c's cluster is secure: Secure says so, or
// EnvSecure does and Plain does not forbid it.
func (c Config) secure() bool { return c.Secure || !c.Plain && envSecure() }

// Validity of what a secure cluster makes. Certificates are backdated an
// hour, as cmd/certs does, and outlive any test or chaos run.
const (
	certBackdate = time.Hour
	caValidity   = 30 * 24 * time.Hour
	certValidity = 7 * 24 * time.Hour
	// passwordLen is the length of a user's random password: 16
	// base32 characters, 80 bits.
	passwordLen = 16
)

// KeyPair names a PEM certificate and its private key on disk.
type KeyPair struct {
	Cert, Key string
}

// User is one user of a secure cluster's users file, with its password in
// clear (the file holds only its bcrypt hash), for tests to send as HTTP
// Basic credentials.
type User struct {
	Name, Password string
	// Perms are the permissions the file grants (auth.Perm names).
	Perms []string
}

// Security is the TLS and authentication material of a cluster in secure
// mode (Config.Secure): a CA made for this cluster alone, the
// certificates it signed, and a users file. Every node gets a node
// certificate (role node, CN its ID, SANs 127.0.0.1 and localhost), every
// distributor a client certificate it also serves its API with (role
// client, CN its name), and the launcher presents the admin certificate
// (role admin, CN admin) on all its own requests. Every file lives in Dir.
type Security struct {
	// Dir holds every file below (<cluster dir>/certs).
	Dir string
	// CA is the cluster's CA, to issue more certificates (WriteCert).
	CA *pki.CA
	// CAFile is the CA's certificate, the -tls-ca of every process.
	CAFile string
	// AdminCert is the operator's certificate the launcher presents.
	AdminCert KeyPair
	// UsersFile is the -auth of every process.
	UsersFile string
	// Admin may do everything (perms all); Reader may only read keys
	// (read); Writer may read and write keys (read, write). None of them
	// has status: that is what certificates and Admin are for.
	Admin, Reader, Writer User
}

// newSecurity makes a secure cluster's CA, admin certificate and users
// file in dir.
func newSecurity(dir string) (*Security, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	now := time.Now()
	ca, err := pki.NewCA("hraftd test cluster CA", now.Add(-certBackdate), now.Add(caValidity))
	if err != nil {
		return nil, err
	}
	s := &Security{Dir: dir, CA: ca, CAFile: filepath.Join(dir, "ca.crt"), UsersFile: filepath.Join(dir, "users.json")}
	caKey, err := pki.EncodeKey(ca.Key)
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(filepath.Join(dir, "ca.key"), caKey, 0o600); err != nil {
		return nil, err
	}
	if err := writeAtomic(s.CAFile, ca.CertPEM, 0o644); err != nil {
		return nil, err
	}
	admin := s.Leaf("admin", tlsconf.RoleAdmin)
	admin.Hosts, admin.Server = nil, false
	if s.AdminCert, err = s.WriteCert(nil, "admin-admin", admin); err != nil {
		return nil, err
	}
	for _, u := range []struct {
		to    *User
		name  string
		perms []string
	}{{&s.Admin, "admin", []string{"all"}}, {&s.Reader, "reader", []string{"read"}}, {&s.Writer, "writer", []string{"read", "write"}}} {
		*u.to = User{Name: u.name, Password: rand.Text()[:passwordLen], Perms: u.perms}
	}
	if err := s.WriteUsers(s.Admin, s.Reader, s.Writer); err != nil {
		return nil, err
	}
	return s, nil
}

// setUpClient makes the launcher's HTTP client, and in secure mode the
// cluster's certificates and users file first: the client presents the
// admin certificate, so every wait and helper may do anything.
func (c *Cluster) setUpClient() error {
	if !c.cfg.Secure {
		c.client = newClient(nil)
		return nil
	}
	sec, err := newSecurity(filepath.Join(c.cfg.Dir, "certs"))
	if err != nil {
		return fmt.Errorf("cluster: secure mode: %w", err)
	}
	if c.client, err = sec.Client(&sec.AdminCert); err != nil {
		return fmt.Errorf("cluster: secure mode: %w", err)
	}
	c.Security = sec
	c.logf("secure mode: HTTPS, mutual TLS for Raft, -auth; CA, certificates and users in %s", sec.Dir)
	return nil
}

// Scheme is the URL scheme of every process's API: "https" in a secure
// cluster, else "http".
func (c *Cluster) Scheme() string {
	if c.Security != nil {
		return "https"
	}
	return "http"
}

// TLSConfig is a copy of the TLS configuration of the launcher's client
// (trusts the cluster's CA, presents the admin certificate), or nil for
// a plain cluster: set it as an http.Transport's TLSClientConfig and the
// transport can reach a cluster of either kind.
func (c *Cluster) TLSConfig() *tls.Config {
	if c.Security == nil {
		return nil
	}
	return c.client.Transport.(*http.Transport).TLSClientConfig.Clone()
}

// Leaf is the template of a certificate for name with role, as the
// cluster's own are: valid from an hour ago for a week, SANs 127.0.0.1
// and localhost, usable by a server and a client. Change what a test
// needs (NotAfter in the past for an expired one, other Hosts, another
// Role) and give it to WriteCert.
func (s *Security) Leaf(name, role string) pki.Leaf {
	now := time.Now()
	return pki.Leaf{Name: name, Role: role, Hosts: []string{"127.0.0.1", "localhost"},
		NotBefore: now.Add(-certBackdate), NotAfter: now.Add(certValidity), Server: true, Client: true}
}

// WriteCert issues l with ca (nil: the cluster's CA; pki.NewCA makes a
// foreign one) and writes it to Dir as file.crt and file.key (mode 0600).
// file is made safe for a file name. Tests use it for hostile
// certificates: another CA, expired, another identity or role.
func (s *Security) WriteCert(ca *pki.CA, file string, l pki.Leaf) (KeyPair, error) {
	if ca == nil {
		ca = s.CA
	}
	certPEM, keyPEM, err := ca.Issue(l)
	if err != nil {
		return KeyPair{}, err
	}
	base := filepath.Join(s.Dir, safeName(file))
	kp := KeyPair{Cert: base + ".crt", Key: base + ".key"}
	if err := writeAtomic(kp.Key, keyPEM, 0o600); err != nil {
		return KeyPair{}, err
	}
	if err := writeAtomic(kp.Cert, certPEM, 0o644); err != nil {
		return KeyPair{}, err
	}
	return kp, nil
}

// issue writes the cluster's own certificate for name with role, in the
// file <role>-<name>: prefixed so that no node ID can take the admin's.
func (s *Security) issue(name, role string) (KeyPair, error) {
	kp, err := s.WriteCert(nil, role+"-"+name, s.Leaf(name, role))
	if err != nil {
		return KeyPair{}, fmt.Errorf("certificate for %s: %w", name, err)
	}
	return kp, nil
}

// safeName keeps letters, digits, '.', '_' and '-' of name and replaces
// anything else (a '/' of an ID, a ':' of an address) with '_'.
func safeName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) == 0 || b[0] == '.' {
		return "_" + string(b)
	}
	return string(b)
}

// WriteUsers replaces the users file with users, their passwords hashed
// with bcrypt's lowest cost (a test checks many passwords; the programs
// warn about the cost when they load it, which is right for a real
// file). The processes re-read the file within a second or so of a
// change (auth.DefaultReloadInterval); poll for the effect.
func (s *Security) WriteUsers(users ...User) error {
	type entry struct {
		Username string   `json:"username"`
		Password string   `json:"password,omitempty"`
		Perms    []string `json:"perms"`
	}
	entries := make([]entry, 0, len(users))
	for _, u := range users {
		e := entry{Username: u.Name, Perms: u.Perms}
		if e.Perms == nil {
			e.Perms = []string{}
		}
		// The anonymous entry and certificate identities have no password.
		if u.Password != "" {
			h, err := bcrypt.GenerateFromPassword([]byte(u.Password), bcrypt.MinCost)
			if err != nil {
				return fmt.Errorf("hash %s's password: %w", u.Name, err)
			}
			e.Password = string(h)
		}
		entries = append(entries, e)
	}
	b, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(s.UsersFile, append(b, '\n'), 0o600)
}

// processArgs are the security flags of a process presenting kp.
func (s *Security) processArgs(kp KeyPair) []string {
	return []string{"-tls-cert", kp.Cert, "-tls-key", kp.Key, "-tls-ca", s.CAFile, "-auth", s.UsersFile}
}

// ClientTLS is a client's TLS configuration that trusts the cluster's CA
// and presents kp (nil: no certificate, as a client with only a password
// or nothing at all).
func (s *Security) ClientTLS(kp *KeyPair) (*tls.Config, error) {
	pool := x509.NewCertPool()
	pool.AddCert(s.CA.Cert)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if kp != nil {
		pair, err := tls.LoadX509KeyPair(kp.Cert, kp.Key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// Client is an HTTP client like the launcher's own (it does not follow
// redirects) that trusts the cluster's CA and presents kp (nil: none).
func (s *Security) Client(kp *KeyPair) (*http.Client, error) {
	cfg, err := s.ClientTLS(kp)
	if err != nil {
		return nil, err
	}
	return newClient(cfg), nil
}

// writeAtomic replaces name with b through a rename, so that a process
// re-reading the file never sees half of it.
func writeAtomic(name string, b []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	_, werr := f.Write(b)
	werr = errors.Join(werr, f.Chmod(perm), f.Close())
	if werr != nil {
		return werr
	}
	return os.Rename(f.Name(), name)
}
