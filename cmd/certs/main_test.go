package main

import (
	"bytes"
	"crypto/tls"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/tlsconf"
)

var layoutFiles = []string{"ca", "node0", "node1", "node2", "node3", "node4", "node5", "distributor", "admin"}

func runCerts(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(args, &out, time.Now())
	return out.String(), err
}

func source(t *testing.T, dir, name string) *tlsconf.Source {
	t.Helper()
	s, err := tlsconf.Load(tlsconf.Config{
		CertFile: filepath.Join(dir, name+".crt"),
		KeyFile:  filepath.Join(dir, name+".key"),
		CAFile:   filepath.Join(dir, "ca.crt"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// handshake connects client to server over 127.0.0.1 and returns the
// identity each side's handshake verified for the other.
func handshake(t *testing.T, server, client *tls.Config) (clientID, serverID tlsconf.Identity, err error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		id  tlsconf.Identity
		err error
	}
	done := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- res{err: err}
			return
		}
		defer c.Close()
		tc := tls.Server(c, server)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			done <- res{err: err}
			return
		}
		st := tc.ConnectionState()
		id, err := tlsconf.PeerIdentity(&st)
		if err == nil {
			_, err = tc.Write([]byte{1})
		}
		done <- res{id, err}
	}()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), client)
	if err == nil {
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Read(make([]byte, 1))
		st := c.ConnectionState()
		serverID, _ = tlsconf.PeerIdentity(&st)
	}
	r := <-done
	if err == nil {
		err = r.err
	}
	return r.id, serverID, err
}

func TestGenerateTheDefaultLayout(t *testing.T) {
	dir := t.TempDir()
	out, err := runCerts(t, "-dir", dir)
	if err != nil {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	for _, name := range layoutFiles {
		if !strings.Contains(out, "wrote "+filepath.Join(dir, name+".crt")) {
			t.Errorf("the output does not say it wrote %s.crt:\n%s", name, out)
		}
		fi, err := os.Stat(filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s.key has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, ".gitignore")); err != nil || !strings.Contains(string(b), "\n*\n") {
		t.Errorf("the directory does not ignore its keys: %q, %v", b, err)
	}
	if !strings.Contains(out, "curl --cacert") {
		t.Errorf("the output does not say how to use the certificates:\n%s", out)
	}

	node0, node1 := source(t, dir, "node0"), source(t, dir, "node1")
	admin, dist := source(t, dir, "admin"), source(t, dir, "distributor")

	// A node's API with optional client certificates, called by the admin
	// and the distributor.
	api, err := node0.ServerConfig(tlsconf.ServerOptions{ClientAuth: tlsconf.ClientCertOptional})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		client     *tlsconf.Source
		name, role string
	}{{admin, "admin", tlsconf.RoleAdmin}, {dist, "distributor", tlsconf.RoleClient}} {
		got, srv, err := handshake(t, api, tc.client.ClientConfig(tlsconf.ClientOptions{ServerRoles: []string{tlsconf.RoleNode}}))
		if err != nil {
			t.Fatalf("%s to node0: %v", tc.name, err)
		}
		if got.Name != tc.name || got.Role != tc.role {
			t.Errorf("node0 saw %s/%s, want %s/%s", got.Name, got.Role, tc.name, tc.role)
		}
		if srv.Name != "node0" {
			t.Errorf("%s saw the server as %q, want node0", tc.name, srv.Name)
		}
	}

	// Raft between two members, and the admin certificate kept out of it.
	peerServer, _, err := node0.PeerConfigs()
	if err != nil {
		t.Fatal(err)
	}
	_, peerClient, err := node1.PeerConfigs()
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := handshake(t, peerServer, peerClient)
	if err != nil {
		t.Fatalf("node1 to node0 over the peer link: %v", err)
	}
	if err := got.CheckClaim(tlsconf.RoleNode, "node1", "127.0.0.1:12001"); err != nil {
		t.Errorf("node1's claim was refused: %v", err)
	}
	if _, _, err := handshake(t, peerServer, admin.ClientConfig(tlsconf.ClientOptions{})); err == nil {
		t.Error("the admin certificate was accepted on a peer link")
	}
}

func TestRerunKeepsFiles(t *testing.T) {
	dir := t.TempDir()
	if out, err := runCerts(t, "-dir", dir); err != nil {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	before := readAll(t, dir)
	out, err := runCerts(t, "-dir", dir)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if strings.Contains(out, "wrote") {
		t.Errorf("the second run wrote files:\n%s", out)
	}
	if after := readAll(t, dir); !maps.Equal(before, after) {
		t.Error("the second run changed files")
	}

	// A missing certificate is signed by the kept CA.
	os.Remove(filepath.Join(dir, "node4.crt"))
	os.Remove(filepath.Join(dir, "node4.key"))
	if out, err := runCerts(t, "-dir", dir); err != nil || !strings.Contains(out, "wrote "+filepath.Join(dir, "node4.crt")) {
		t.Fatalf("rerun after removing node4: %v\n%s", err, out)
	}
	if _, _, err := handshake(t, mustServer(t, source(t, dir, "node4")), source(t, dir, "admin").ClientConfig(tlsconf.ClientOptions{})); err != nil {
		t.Errorf("the reissued node4 does not talk to the old admin: %v", err)
	}

	// -force replaces everything.
	out, err = runCerts(t, "-dir", dir, "-force")
	if err != nil {
		t.Fatalf("-force: %v\n%s", err, out)
	}
	if after := readAll(t, dir); after["ca.crt"] == before["ca.crt"] || after["node0.crt"] == before["node0.crt"] {
		t.Error("-force kept old files")
	}
}

func TestRerunRefusesWhatItWouldNotHaveMade(t *testing.T) {
	dir := t.TempDir()
	if out, err := runCerts(t, "-dir", dir); err != nil {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	if out, err := runCerts(t, "-dir", dir, "-hosts", "10.1.2.3"); err == nil || !strings.Contains(err.Error(), "does not cover host 10.1.2.3") || !strings.Contains(err.Error(), "-force") {
		t.Errorf("a rerun asking for a new host: err = %v, want a refusal suggesting -force\n%s", err, out)
	}
	os.Remove(filepath.Join(dir, "node2.key"))
	if _, err := runCerts(t, "-dir", dir); err == nil || !strings.Contains(err.Error(), "node2.key does not") {
		t.Errorf("a rerun with a missing key: err = %v", err)
	}
	os.Remove(filepath.Join(dir, "ca.crt"))
	os.Remove(filepath.Join(dir, "ca.key"))
	if _, err := runCerts(t, "-dir", dir); err == nil || !strings.Contains(err.Error(), "the CA that signed it is gone") {
		t.Errorf("a rerun without the CA: err = %v", err)
	}
}

func TestExtraHosts(t *testing.T) {
	dir := t.TempDir()
	out, err := runCerts(t, "-dir", dir, "-nodes", "4", "-hosts", "db.example, 10.0.0.9", "-host", "node3=10.0.0.13")
	if err != nil {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "node4.crt")); err == nil {
		t.Error("-nodes 4 wrote node4")
	}
	n3 := tlsconf.IdentityOf(source(t, dir, "node3").Certificate().Leaf)
	n2 := tlsconf.IdentityOf(source(t, dir, "node2").Certificate().Leaf)
	for _, h := range []string{"127.0.0.1", "localhost", "::1", "db.example", "10.0.0.9", "10.0.0.13"} {
		if !n3.CoversHost(h) {
			t.Errorf("node3 does not cover %s (covers %v)", h, n3.Hosts())
		}
	}
	if n2.CoversHost("10.0.0.13") {
		t.Error("node2 covers node3's own host")
	}
	if _, err := runCerts(t, "-dir", t.TempDir(), "-host", "node9=10.0.0.9"); err == nil || !strings.Contains(err.Error(), `no certificate is called "node9"`) {
		t.Errorf("-host for an unknown name: err = %v", err)
	}
	if _, err := runCerts(t, "-dir", t.TempDir(), "-host", "node1"); err == nil {
		t.Error("-host without = was accepted")
	}
}

func mustServer(t *testing.T, s *tlsconf.Source) *tls.Config {
	t.Helper()
	c, err := s.ServerConfig(tlsconf.ServerOptions{ClientAuth: tlsconf.ClientCertRequired})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readAll(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := make(map[string]string)
	for _, name := range layoutFiles {
		for _, ext := range []string{".crt", ".key"} {
			b, err := os.ReadFile(filepath.Join(dir, name+ext))
			if err != nil {
				t.Fatal(err)
			}
			m[name+ext] = string(b)
		}
	}
	return m
}
