package cluster

import (
	"crypto/x509"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/auth"
	"github.com/kvraft/hraftd/internal/pki"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// secureCluster is a Cluster set up for secure mode, without processes.
func secureCluster(t *testing.T) *Cluster {
	t.Helper()
	c := &Cluster{cfg: Config{Dir: t.TempDir(), Secure: true}, logf: t.Logf}
	if err := c.setUpClient(); err != nil {
		t.Fatal(err)
	}
	return c
}

func loadUsers(t *testing.T, s *Security) *auth.Store {
	t.Helper()
	st, err := auth.Load(auth.Config{File: s.UsersFile, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("the users file does not load: %v", err)
	}
	return st
}

func TestSecurityFiles(t *testing.T) {
	c := secureCluster(t)
	s := c.Security
	if s == nil || s.Dir != filepath.Join(c.cfg.Dir, "certs") {
		t.Fatalf("Security = %+v, want one in <dir>/certs", s)
	}
	for name, mode := range map[string]os.FileMode{
		s.CAFile: 0o644, filepath.Join(s.Dir, "ca.key"): 0o600,
		s.AdminCert.Cert: 0o644, s.AdminCert.Key: 0o600, s.UsersFile: 0o600,
	} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	if id := certIdentity(t, s, s.AdminCert); id.Name != "admin" || id.Role != tlsconf.RoleAdmin {
		t.Errorf("admin certificate is %s (role %s), want admin (role admin)", id.Name, id.Role)
	}
	node, err := s.issue("node0", tlsconf.RoleNode)
	if err != nil {
		t.Fatal(err)
	}
	id := certIdentity(t, s, node)
	if id.Name != "node0" || id.Role != tlsconf.RoleNode || !id.CoversHost("127.0.0.1") || !id.CoversHost("localhost") {
		t.Errorf("node certificate is %s (role %s, hosts %v), want node0, role node, 127.0.0.1 and localhost", id.Name, id.Role, id.Hosts())
	}
	if !slices.Equal(s.processArgs(node), []string{"-tls-cert", node.Cert, "-tls-key", node.Key, "-tls-ca", s.CAFile, "-auth", s.UsersFile}) {
		t.Errorf("processArgs = %q", s.processArgs(node))
	}
	if c.Scheme() != "https" || c.TLSConfig() == nil || len(c.TLSConfig().Certificates) != 1 {
		t.Errorf("Scheme %q, TLSConfig %v: want https and the admin certificate", c.Scheme(), c.TLSConfig())
	}
}

// certIdentity reads kp's certificate and checks that the cluster's CA
// signed it.
func certIdentity(t *testing.T, s *Security, kp KeyPair) tlsconf.Identity {
	t.Helper()
	b, err := os.ReadFile(kp.Cert)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCert(b)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.CA.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("%s does not verify against the cluster's CA: %v", kp.Cert, err)
	}
	return tlsconf.IdentityOf(cert)
}

func TestSecurityUsers(t *testing.T) {
	s := secureCluster(t).Security
	st := loadUsers(t, s)
	check := func(u User, password string) (string, bool) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.SetBasicAuth(u.Name, password)
		return st.Authenticate(r)
	}
	for _, tc := range []struct {
		u           User
		read, write bool
		admin       bool
	}{{s.Admin, true, true, true}, {s.Reader, true, false, false}, {s.Writer, true, true, false}} {
		if len(tc.u.Password) < 16 {
			t.Errorf("%s's password %q is short", tc.u.Name, tc.u.Password)
		}
		user, ok := check(tc.u, tc.u.Password)
		if !ok || user != tc.u.Name {
			t.Errorf("%s with its password: %q, %v", tc.u.Name, user, ok)
		}
		if _, ok := check(tc.u, tc.u.Password+"x"); ok {
			t.Errorf("%s with a wrong password was let in", tc.u.Name)
		}
		got := []bool{st.Allowed(user, auth.PermRead), st.Allowed(user, auth.PermWrite), st.Allowed(user, auth.PermAdmin)}
		if want := []bool{tc.read, tc.write, tc.admin}; !slices.Equal(got, want) {
			t.Errorf("%s: read, write, admin = %v, want %v", tc.u.Name, got, want)
		}
	}
	if s.Admin.Password == s.Reader.Password || s.Reader.Password == s.Writer.Password {
		t.Error("two users share a password")
	}

	// WriteUsers replaces the file; a user without a password is a
	// certificate identity or the anonymous entry.
	if err := s.WriteUsers(User{Name: "ops", Password: "pw", Perms: []string{"status"}}, User{Name: "*"}); err != nil {
		t.Fatal(err)
	}
	st = loadUsers(t, s)
	if user, ok := check(User{Name: "ops"}, "pw"); !ok || !st.Allowed(user, auth.PermStatus) || st.Allowed(user, auth.PermRead) {
		t.Errorf("ops after WriteUsers: %q %v", user, ok)
	}
	if _, ok := check(s.Admin, s.Admin.Password); ok {
		t.Error("admin still authenticates after WriteUsers replaced the file")
	}
}

// TestSecurityTLS puts a node certificate behind a real HTTPS server, as a
// node serves its API, and connects with the clients Security makes: the
// admin's certificate is the identity admin:admin, a client without one
// sends a password, and hostile certificates from WriteCert (another CA,
// expired) prove nothing.
func TestSecurityTLS(t *testing.T) {
	s := secureCluster(t).Security
	node, err := s.issue("node0", tlsconf.RoleNode)
	if err != nil {
		t.Fatal(err)
	}
	src, err := tlsconf.Load(tlsconf.Config{CertFile: node.Cert, KeyFile: node.Key, CAFile: s.CAFile, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	users := loadUsers(t, s)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _ := users.Authenticate(r)
		io.WriteString(w, user)
	}))
	if srv.TLS, err = src.ServerConfig(tlsconf.ServerOptions{ClientAuth: tlsconf.ClientCertOptional}); err != nil {
		t.Fatal(err)
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes below
	srv.StartTLS()
	defer srv.Close()

	who := func(kp *KeyPair, basic *User) (string, error) {
		t.Helper()
		client, err := s.Client(kp)
		if err != nil {
			t.Fatal(err)
		}
		defer client.CloseIdleConnections()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
		if basic != nil {
			req.SetBasicAuth(basic.Name, basic.Password)
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if got, err := who(&s.AdminCert, nil); err != nil || got != "admin:admin" {
		t.Errorf("admin certificate: %q, %v; want admin:admin", got, err)
	}
	if got, err := who(nil, &s.Writer); err != nil || got != "writer" {
		t.Errorf("writer's password: %q, %v; want writer", got, err)
	}

	foreign, err := pki.NewCA("another CA", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := s.WriteCert(foreign, "stranger", s.Leaf("admin", tlsconf.RoleAdmin))
	if err != nil {
		t.Fatal(err)
	}
	old := s.Leaf("admin", tlsconf.RoleAdmin)
	old.NotBefore, old.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	expired, err := s.WriteCert(nil, "expired/admin", old)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(expired.Cert) != s.Dir {
		t.Errorf("WriteCert wrote %s outside %s", expired.Cert, s.Dir)
	}
	// Go's client sends no certificate that the server's list of CAs
	// does not name: the stranger is anonymous, or refused.
	if got, err := who(&stranger, nil); err == nil && got != "" {
		t.Errorf("another CA's certificate was accepted as %q", got)
	}
	if got, err := who(&expired, nil); err == nil {
		t.Errorf("an expired certificate was accepted as %q", got)
	}
}

func TestSecureConfig(t *testing.T) {
	if err := (Config{Dir: t.TempDir(), Secure: true, Plain: true}).Validate(); err == nil || !strings.Contains(err.Error(), "contradict") {
		t.Errorf("Secure and Plain together: %v, want an error", err)
	}
	for v, want := range map[string]bool{"": false, "0": false, "1": true, "true": true, "yes": false} {
		t.Setenv(EnvSecure, v)
		if got := (Config{}).secure(); got != want {
			t.Errorf("%s=%q: secure %v, want %v", EnvSecure, v, got, want)
		}
		if !(Config{Secure: true}).secure() || (Config{Plain: true}).secure() {
			t.Errorf("%s=%q: Config.Secure or Config.Plain did not decide", EnvSecure, v)
		}
	}
	n := &Node{HTTP: "127.0.0.1:1"}
	d := &Distributor{Addr: "127.0.0.1:2"}
	if n.URL() != "http://127.0.0.1:1" || d.URL() != "http://127.0.0.1:2" {
		t.Errorf("plain URLs: %s %s", n.URL(), d.URL())
	}
	n.scheme, d.scheme = "https", "https"
	if n.URL() != "https://127.0.0.1:1" || d.URL() != "https://127.0.0.1:2" {
		t.Errorf("secure URLs: %s %s", n.URL(), d.URL())
	}
	plain := &Cluster{cfg: Config{Dir: t.TempDir()}, logf: t.Logf}
	if err := plain.setUpClient(); err != nil {
		t.Fatal(err)
	}
	if plain.Security != nil || plain.Scheme() != "http" || plain.TLSConfig() != nil {
		t.Errorf("a plain cluster: Security %v, Scheme %q, TLSConfig %v", plain.Security, plain.Scheme(), plain.TLSConfig())
	}
	if _, err := os.Stat(filepath.Join(plain.cfg.Dir, "certs")); !os.IsNotExist(err) {
		t.Errorf("a plain cluster made certs/: %v", err)
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{"node0": "node0", "a/b": "a_b", "127.0.0.1:12000": "127.0.0.1_12000", "..": "_..", "": "_"} {
		if got := safeName(in); got != want {
			t.Errorf("safeName(%q) = %q, want %q", in, got, want)
		}
	}
}
