package cluster

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// TestOneShardOfOne starts the real binaries, one node and a distributor,
// and takes them through what the launcher offers: a pause, a clean stop
// and a restart on the same data, a crash of the distributor and its
// restart, and the logs of every run.
func TestOneShardOfOne(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes; skipped with -short")
	}
	cfg := DefaultConfig()
	cfg.Shards, cfg.PerShard = 1, 1
	c := NewTest(t, cfg)
	n := c.Shards[0][0]
	if l := c.WaitLeader(10*time.Second, n); l != n {
		t.Fatalf("leader %v, want %s", l, n.ID)
	}

	if err := n.Pause(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	_, err := c.Cluster.Status(ctx, n)
	cancel()
	if err == nil {
		t.Error("a paused node answered /status")
	}
	if err := n.Resume(); err != nil {
		t.Fatal(err)
	}

	c.Term(n.Proc, 10*time.Second)
	if err := n.WaitExit(t.Context()); err != nil || n.Running() {
		t.Fatalf("after Term: running %v, %v", n.Running(), err)
	}
	c.Restart(n.Proc)
	c.WaitLeader(10*time.Second, n)
	c.WaitReady(10*time.Second, n)

	c.Kill(c.Dist.Proc)
	c.Restart(c.Dist.Proc)
	if l := c.Leader(t.Context(), 0); l != n {
		t.Errorf("Leader = %v, want %s", l, n.ID)
	}

	logs := c.LogTails(1000)
	for _, want := range []string{"node0.log", "distributor.log", "exit: signal: killed", "exit: exit status 0"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs do not mention %q:\n%s", want, logs)
		}
	}
}

// TestSecureShard starts a secure shard of three and a distributor (all
// HTTPS, Raft over mutual TLS, -auth) and checks what the launcher's
// secure mode promises: its own waits pass with the admin certificate,
// the users it made can do what their permissions say, and a request
// without credentials gets 401.
func TestSecureShard(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes; skipped with -short")
	}
	cfg := DefaultConfig()
	cfg.Shards, cfg.PerShard, cfg.Secure = 1, 3, true
	c := NewTest(t, cfg)
	sec := c.Security
	if !strings.HasPrefix(c.Dist.URL(), "https://") || !strings.HasPrefix(c.Shards[0][1].URL(), "https://") {
		t.Fatalf("URLs %s, %s: want https://", c.Dist.URL(), c.Shards[0][1].URL())
	}
	client, err := sec.Client(nil) // a password, or nothing: no certificate
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	do := func(u *User, method, url, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if u != nil {
			req.SetBasicAuth(u.Name, u.Password)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	set := `{"clave":"batman","valor":"bruce"}`
	if code, b := do(&sec.Writer, http.MethodPost, c.Dist.URL()+"/set", set); code != http.StatusOK {
		t.Fatalf("writer's /set: %d %s", code, b)
	}
	if code, b := do(&sec.Reader, http.MethodGet, c.Dist.URL()+"/get/batman", ""); code != http.StatusOK || !strings.Contains(b, `"valor":"bruce"`) {
		t.Fatalf("reader's /get: %d %s", code, b)
	}
	if code, b := do(&sec.Reader, http.MethodGet, c.Shards[0][2].URL()+"/key/batman?level=linearizable", ""); code != http.StatusOK || !strings.Contains(b, "bruce") {
		t.Errorf("reader's GET /key on a node: %d %s", code, b)
	}
	for _, tc := range []struct {
		u           *User
		method, url string
		body        string
		want        int
		what        string
	}{
		{nil, http.MethodPost, c.Dist.URL() + "/set", set, http.StatusUnauthorized, "no credentials, distributor /set"},
		{nil, http.MethodGet, c.Dist.URL() + "/get/batman", "", http.StatusUnauthorized, "no credentials, distributor /get"},
		{nil, http.MethodGet, c.Shards[0][0].URL() + "/key/batman", "", http.StatusUnauthorized, "no credentials, node GET /key"},
		{&User{Name: sec.Writer.Name, Password: "wrong"}, http.MethodGet, c.Dist.URL() + "/get/batman", "", http.StatusUnauthorized, "a wrong password"},
		{&sec.Reader, http.MethodPost, c.Dist.URL() + "/set", set, http.StatusForbidden, "reader's /set"},
	} {
		if code, b := do(tc.u, tc.method, tc.url, tc.body); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.what, code, b, tc.want)
		}
	}
	c.WaitConverged(10*time.Second, 0)
}
