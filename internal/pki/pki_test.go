package pki

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIssueFollowsTheConvention(t *testing.T) {
	now := time.Now()
	ca, err := NewCA("test CA", now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(Leaf{
		Name: "node1", Role: "node", Hosts: []string{"127.0.0.1", "::1", "localhost"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour), Server: true, Client: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "node1" || len(cert.Subject.OrganizationalUnit) != 1 || cert.Subject.OrganizationalUnit[0] != "node" {
		t.Errorf("subject = %v, want CN=node1, OU=node", cert.Subject)
	}
	if len(cert.IPAddresses) != 2 || !cert.IPAddresses[1].Equal(net.IPv6loopback) || len(cert.DNSNames) != 1 {
		t.Errorf("SANs = %v %v, want two IPs and localhost", cert.IPAddresses, cert.DNSNames)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "localhost", KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("verify for usage %v: %v", usage, err)
		}
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		t.Error("the key does not match the certificate")
	}
}

func TestIssueRefusesIncompleteSpecs(t *testing.T) {
	ca, err := NewCA("test CA", time.Now(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ca.Issue(Leaf{Server: true}); err == nil {
		t.Error("a certificate without a name was issued")
	}
	if _, _, err := ca.Issue(Leaf{Name: "x"}); err == nil {
		t.Error("a certificate for neither server nor client was issued")
	}
}

func TestLoadCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA("test CA", time.Now(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("other CA", time.Now(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyPEM, err := EncodeKey(ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := EncodeKey(other.Key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, wrongKey := write("ca.crt", ca.CertPEM), write("ca.key", keyPEM), write("other.key", otherKey)
	got, err := LoadCA(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cert.Equal(ca.Cert) {
		t.Error("LoadCA returned another certificate")
	}
	if _, err := LoadCA(certFile, wrongKey); err == nil || !strings.Contains(err.Error(), "is not the key of") {
		t.Errorf("LoadCA with another CA's key: err = %v", err)
	}
	leafPEM, _, err := ca.Issue(Leaf{Name: "x", Server: true, NotAfter: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(write("leaf.crt", leafPEM), keyFile); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Errorf("LoadCA of a leaf: err = %v", err)
	}
}
