package auth

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/internal/poll"
)

func TestMalformedFiles(t *testing.T) {
	good := hash(t, "pw")
	tooCostly := strings.Replace(good, "$04$", "$15$", 1)
	entryLine := func(user, password, perms string) string {
		s := `{"username": "` + user + `"`
		if password != "" {
			s += `, "password": "` + password + `"`
		}
		if perms != "" {
			s += `, "perms": ` + perms
		}
		return s + "}"
	}
	// file puts a good entry on line 2 and the entry under test on line 3.
	file := func(bad string) string {
		return "[\n  " + entryLine("ok", good, `["read"]`) + ",\n  " + bad + "\n]\n"
	}
	for _, tc := range []struct {
		name, body string
		want       []string // parts of the error, after the file name
	}{
		{"empty", "", []string{"ends early"}},
		{"an object", `{"username": "a"}`, []string{":1:", "JSON array"}},
		{"malformed JSON", file(`{"username": "a", "password": oops}`), []string{":3:", "malformed JSON"}},
		{"unknown field", file(`{"username": "a", "perm": ["read"]}`), []string{":3:", "entry 1", `unknown field "perm"`}},
		{"perms not a list", file(`{"username": "a", "perms": "read"}`), []string{":3:", `"perms" must be an array of strings`}},
		{"plain password", file(entryLine("bob", "hunter2", `["read"]`)),
			[]string{`:3: entry 1 ("bob")`, "not a bcrypt hash", "plain passwords are refused", "go run ./cmd/users hash"}},
		{"no password", file(entryLine("bob", "", `["read"]`)), []string{`:3: entry 1 ("bob")`, `"password" is missing`}},
		{"no username", file(entryLine("", good, `["read"]`)), []string{":3: entry 1", `"username" is missing`}},
		{"unknown permission", file(entryLine("bob", good, `["read", "superuser"]`)),
			[]string{`:3: entry 1 ("bob")`, `unknown permission "superuser"`, "read, write, admin, status and all"}},
		{"duplicate", file(entryLine("ok", good, `["write"]`)), []string{`:3: entry 1 ("ok")`, "already used on line 2"}},
		{"anonymous with a password", file(entryLine("*", good, `["read"]`)), []string{`entry 1 ("*")`, "takes no \"password\""}},
		{"certificate identity with a password", file(entryLine("client:x", good, `["read"]`)), []string{`entry 1 ("client:x")`, "names a client certificate"}},
		{"cost too high", file(entryLine("bob", tooCostly, `["read"]`)), []string{`entry 1 ("bob")`, "bcrypt cost 15", "at most 14"}},
		{"trailing data", "[]\n[]", []string{":2:", "after the array"}},
		{"unclosed", "[\n  " + entryLine("ok", good, `["read"]`) + "\n", []string{"ends early"}},
	} {
		p := filepath.Join(t.TempDir(), "users.json")
		if err := os.WriteFile(p, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(Config{File: p, Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			t.Errorf("%s: loaded", tc.name)
			continue
		}
		for _, w := range append([]string{p}, tc.want...) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.name, err, w)
			}
		}
	}
	if _, err := Load(Config{File: filepath.Join(t.TempDir(), "missing.json")}); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("a missing file: err = %v", err)
	}
	if _, err := Load(Config{}); err == nil || !strings.Contains(err.Error(), "-users") {
		t.Errorf("no file: err = %v", err)
	}
}

func TestLoadWarnings(t *testing.T) {
	var logs syncBuffer
	p := usersFile(t, entry{Username: "weak", Password: hash(t, "pw"), Perms: []string{"read"}})
	if _, err := Load(Config{File: p, Logger: slog.New(slog.NewTextHandler(&logs, nil))}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "bcrypt cost 4 is weak") {
		t.Errorf("no warning for a weak hash:\n%s", logs.String())
	}
	logs = syncBuffer{}
	if _, err := Load(Config{File: usersFile(t), Logger: slog.New(slog.NewTextHandler(&logs, nil))}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "only client certificates") {
		t.Errorf("no warning for an empty file:\n%s", logs.String())
	}
}

// eventually polls cond until it holds or ten seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 10*time.Second, what, cond)
}

func TestReload(t *testing.T) {
	var logs syncBuffer
	p := usersFile(t, entry{Username: "alice", Password: hash(t, "old"), Perms: []string{"read"}})
	s, err := Load(Config{File: p, ReloadInterval: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	auth := func(user, password string) bool {
		r := newRequest()
		r.SetBasicAuth(user, password)
		_, ok := s.Authenticate(r)
		return ok
	}
	if !auth("alice", "old") || s.Allowed("alice", PermWrite) {
		t.Fatal("the first file is not in force")
	}
	// The verified password is cached; the new hash must not hit it.
	replace := func(entries ...entry) {
		t.Helper()
		if err := os.Rename(usersFile(t, entries...), p); err != nil {
			t.Fatal(err)
		}
	}
	replace(entry{Username: "alice", Password: hash(t, "new"), Perms: []string{"write"}},
		entry{Username: "bob", Password: hash(t, "bob"), Perms: []string{"read"}})
	eventually(t, "the new file to be in force", func() bool { return s.Allowed("alice", PermWrite) })
	if auth("alice", "old") {
		t.Error("alice's old password still works after it was changed")
	}
	if !auth("alice", "new") || !auth("bob", "bob") {
		t.Error("the new passwords do not work")
	}

	// A broken file is logged and the previous users stay.
	if err := os.WriteFile(p, []byte(`[{"username": "alice", "password": "plain"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the failed reload to be logged", func() bool {
		if !auth("alice", "new") || !s.Allowed("alice", PermWrite) {
			t.Fatal("a failed reload dropped the previous users")
		}
		return strings.Contains(logs.String(), "users file reload failed")
	})
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "not a bcrypt hash") {
		t.Errorf("Reload of a broken file: err = %v", err)
	}
}
