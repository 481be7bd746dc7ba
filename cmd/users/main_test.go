package main

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/kvraft/hraftd/internal/auth"
)

func runUsers(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(args, strings.NewReader(stdin), &out)
	return out.String(), err
}

func TestHash(t *testing.T) {
	out, err := runUsers(t, "s3cret\n", "hash", "-cost", "4")
	if err != nil {
		t.Fatal(err)
	}
	h := strings.TrimSpace(out)
	if err := bcrypt.CompareHashAndPassword([]byte(h), []byte("s3cret")); err != nil {
		t.Errorf("the hash %q does not match the password: %v", h, err)
	}
	if _, err := runUsers(t, "", "hash"); err == nil || !strings.Contains(err.Error(), "no password") {
		t.Errorf("hash of nothing: err = %v", err)
	}
	if _, err := runUsers(t, "x", "frobnicate"); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("unknown subcommand: err = %v", err)
	}
}

func TestAdd(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.json")
	steps := []struct {
		stdin string
		args  []string
	}{
		{"old\n", []string{"-user", "alice", "-perms", "read"}},
		{"bob-pw\n", []string{"-user", "bob", "-perms", "read, write"}},
		{"new\n", []string{"-user", "alice", "-perms", "read,admin"}},
		{"", []string{"-user", "*", "-perms", "status"}},
		{"", []string{"-user", "client:reports", "-perms", "read"}},
	}
	for _, s := range steps {
		args := append([]string{"add", "-file", file, "-cost", "4"}, s.args...)
		if out, err := runUsers(t, s.stdin, args...); err != nil {
			t.Fatalf("users %v: %v\n%s", args, err, out)
		}
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("the users file has mode %v, want 0600", fi.Mode().Perm())
	}
	store, err := auth.Load(auth.Config{File: file})
	if err != nil {
		t.Fatal(err)
	}
	login := func(user, password string) bool {
		r := httptest.NewRequest("GET", "/", nil)
		r.SetBasicAuth(user, password)
		_, ok := store.Authenticate(r)
		return ok
	}
	if login("alice", "old") || !login("alice", "new") || !login("bob", "bob-pw") {
		t.Error("the passwords in the file are not the ones given")
	}
	for _, c := range []struct {
		user string
		perm auth.Perm
		want bool
	}{
		{"alice", auth.PermAdmin, true}, {"alice", auth.PermWrite, false}, {"bob", auth.PermWrite, true},
		{"", auth.PermStatus, true}, {"", auth.PermRead, false}, {"client:reports", auth.PermWrite, false},
	} {
		if got := store.Allowed(c.user, c.perm); got != c.want {
			t.Errorf("Allowed(%q, %s) = %v, want %v", c.user, c.perm, got, c.want)
		}
	}

	before, _ := os.ReadFile(file)
	if _, err := runUsers(t, "pw\n", "add", "-file", file, "-cost", "4", "-user", "eve", "-perms", "root"); err == nil ||
		!strings.Contains(err.Error(), `unknown permission "root"`) || !strings.Contains(err.Error(), "unchanged") {
		t.Errorf("add with an unknown permission: err = %v", err)
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
		t.Error("a refused add changed the file")
	}
	if _, err := runUsers(t, "", "add", "-file", file, "-user", "eve", "-perms", "read"); err == nil {
		t.Error("add without a password succeeded")
	}
}
