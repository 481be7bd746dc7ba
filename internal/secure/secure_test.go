package secure_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/kvraft/hraftd/internal/pki/pkitest"
	"github.com/kvraft/hraftd/internal/secure"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// files writes a certificate set and a users file into a fresh directory
// and returns Flags naming them.
func files(t *testing.T) secure.Flags {
	t.Helper()
	ca := pkitest.CA(t, "cluster")
	cert, key, caFile := pkitest.Files(t, ca, pkitest.Leaf("distributor", tlsconf.RoleClient, "127.0.0.1"), ca)
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users, err := json.Marshal([]map[string]any{{"username": "ops", "password": string(h), "perms": []string{"all"}}})
	if err != nil {
		t.Fatal(err)
	}
	return secure.Flags{Cert: cert, Key: key, CA: caFile, Users: pkitest.Write(t, t.TempDir(), "users.json", users)}
}

func load(t *testing.T, f secure.Flags) *secure.Setup {
	t.Helper()
	s, err := f.Load(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080":      true,
		"127.0.0.2:8080":      true,
		"localhost:8080":      true,
		"LocalHost:8080":      true,
		"localhost.:8080":     true,
		"node1.localhost:80":  true,
		"[::1]:8080":          true,
		"127.0.0.1":           true,
		":8080":               false,
		"0.0.0.0:8080":        false,
		"[::]:8080":           false,
		"10.0.0.1:8080":       false,
		"192.168.1.20:8080":   false,
		"[fe80::1]:8080":      false,
		"name.invalid.:8080":  false, // does not resolve: not known to be loopback
		"":                    false,
		"notlocalhost:8080x":  false,
		"localhost.evil:8080": false,
	} {
		if got := secure.IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// The off-loopback rule, for each combination of TLS, -auth and -insecure.
func TestCheckExposure(t *testing.T) {
	all := files(t)
	tlsOnly, authOnly := all, all
	tlsOnly.Users = ""
	authOnly.Cert, authOnly.Key, authOnly.CA = "", "", ""
	insecure := secure.Flags{Insecure: true}
	for _, tc := range []struct {
		name  string
		flags secure.Flags
		addrs []string
		want  string // "" = allowed; else in the error
	}{
		{"plain, every interface", secure.Flags{}, []string{":8080"}, "-insecure"},
		{"plain, 0.0.0.0", secure.Flags{}, []string{"0.0.0.0:8080"}, "0.0.0.0:8080"},
		{"plain, [::]", secure.Flags{}, []string{"[::]:8080"}, "[::]:8080"},
		{"plain, 127.0.0.1", secure.Flags{}, []string{"127.0.0.1:8080"}, ""},
		{"plain, localhost", secure.Flags{}, []string{"localhost:8080"}, ""},
		{"plain, unset address", secure.Flags{}, []string{""}, ""},
		{"plain, one of two off loopback", secure.Flags{}, []string{"127.0.0.1:11000", "10.0.0.1:12000"}, "10.0.0.1:12000"},
		{"insecure", insecure, []string{":8080", "0.0.0.0:12000"}, ""},
		{"TLS and auth", all, []string{":8080", "0.0.0.0:12000"}, ""},
		{"TLS only", tlsOnly, []string{":8080"}, "authentication (-auth"},
		{"auth only", authOnly, []string{":8080"}, "TLS (-tls-cert"},
	} {
		f := tc.flags
		err := f.CheckExposure(load(t, f), tc.addrs...)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s: %q allowed; want it refused", tc.name, tc.addrs)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: error %q does not mention %q", tc.name, err, tc.want)
		}
	}
}

func TestLoadNeedsAllThreeTLSFiles(t *testing.T) {
	all := files(t)
	for _, f := range []secure.Flags{{Cert: all.Cert}, {Cert: all.Cert, Key: all.Key}, {CA: all.CA}, {Key: all.Key, CA: all.CA}} {
		if _, err := f.Load(slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "go together") {
			t.Errorf("Load(%+v) = %v; want the three files asked for together", f, err)
		}
	}
	if _, err := (&secure.Flags{Users: filepath.Join(t.TempDir(), "missing.json")}).Load(nil); err == nil || !strings.Contains(err.Error(), "-auth") {
		t.Errorf("a missing users file: %v; want an error naming -auth", err)
	}
}

// Without TLS a Setup is plain HTTP and changes nothing; with TLS it is
// HTTPS and dials nodes itself.
func TestSchemeTransportAndServerTLS(t *testing.T) {
	plain := load(t, secure.Flags{})
	if plain.Scheme() != "http" || plain.URL("127.0.0.1:1", "/status") != "http://127.0.0.1:1/status" {
		t.Errorf("plain: scheme %q, URL %q", plain.Scheme(), plain.URL("127.0.0.1:1", "/status"))
	}
	if tr := plain.Transport(&http.Transport{}); tr.DialTLSContext != nil {
		t.Error("plain: the transport got a TLS dialer")
	}
	if c, err := plain.ServerTLS(); c != nil || err != nil {
		t.Errorf("plain: ServerTLS = %v, %v; want nil", c, err)
	}
	var none *secure.Setup
	if none.Scheme() != "http" || none.Transport(&http.Transport{}).DialTLSContext != nil {
		t.Error("a nil Setup is not plain HTTP")
	}

	s := load(t, files(t))
	if s.Scheme() != "https" || s.URL("127.0.0.1:1", "/status") != "https://127.0.0.1:1/status" {
		t.Errorf("TLS: scheme %q, URL %q", s.Scheme(), s.URL("127.0.0.1:1", "/status"))
	}
	if tr := s.Transport(&http.Transport{}); tr.DialTLSContext == nil {
		t.Error("TLS: the transport has no TLS dialer")
	}
	if c, err := s.ServerTLS(); c == nil || err != nil {
		t.Errorf("TLS: ServerTLS = %v, %v", c, err)
	}
}
