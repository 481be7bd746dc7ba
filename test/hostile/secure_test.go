package hostile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/cluster"
	"github.com/kvraft/hraftd/internal/freeport"
	"github.com/kvraft/hraftd/internal/pki"
	"github.com/kvraft/hraftd/internal/tlsconf"
	"github.com/kvraft/hraftd/raftnet"
	"github.com/kvraft/hraftd/store"
)

// secureWait bounds each wait of the secure tests: generous, since other
// suites may be loading the machine.
const secureWait = 60 * time.Second

// secureRig is a secure cluster under attack and its attackers' clients.
type secureRig struct {
	c    *cluster.Test
	sec  *cluster.Security
	anon *http.Client // trusts the cluster's CA, presents no certificate
}

// groupView is what the attacks must not change, as every node's /status
// shows it: each member's Raft and HTTP addresses (by ID), the leader,
// and each node's term.
type groupView struct {
	members map[string]string
	leader  string
	terms   map[string]uint64
}

// TestSecureClusterAttacks attacks a real secure cluster (one shard of
// three nodes and a distributor, all TLS and -auth) from outside and with
// stolen or forged credentials, checking after each attack that the
// membership, the leader and term, and the stored values did not change.
// The attacks that change the cluster's shape (ghost joins, a killed
// leader) come last.
func TestSecureClusterAttacks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes; skipped with -short")
	}
	c := cluster.NewTest(t, cluster.Config{Shards: 1, PerShard: 3, Distributor: true, Secure: true, Timeout: secureWait})
	r := &secureRig{c: c, sec: c.Security}
	var err error
	if r.anon, err = r.sec.Client(nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.anon.CloseIdleConnections)
	r.write(t, "protected", "before")
	before := r.snapshot(t)
	t.Logf("before: leader %s, terms %v, members %v", before.leader, before.terms, before.members)
	for _, a := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"rogue hraftd joiners", r.rogueJoiners},
		{"join claiming another node's identity", r.redirectJoin},
		{"remove without the admin permission", r.removeWithoutAdmin},
		{"forged Raft RPCs", r.forgedRaft},
		{"key credentials", r.keyCredentials},
	} {
		t.Run(a.name, func(t *testing.T) {
			a.run(t)
			r.same(t, before, true)
			r.wantValue(t, "protected", "before")
		})
	}
	t.Run("ghost joins", r.ghostJoins)
	t.Run("node certificate with the forwarded header", r.forwardedHeader)
}

// secureAnswer is one HTTP answer, or the error that kept it from coming.
type secureAnswer struct {
	code int
	hdr  http.Header
	body []byte
	err  error
}

func (a secureAnswer) String() string { return fmt.Sprintf("%d %q (err %v)", a.code, a.body, a.err) }

// sendAs makes one request with client, as user (nil: no password).
func sendAs(ctx context.Context, client *http.Client, method, url string, user *cluster.User, body []byte, hdr map[string]string) secureAnswer {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return secureAnswer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	if user != nil {
		req.SetBasicAuth(user.Name, user.Password)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return secureAnswer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return secureAnswer{resp.StatusCode, resp.Header, b, err}
}

// refused fails t unless a is a JSON error with status want (and, for a
// 401, a Basic challenge).
func (a secureAnswer) refused(t *testing.T, what string, want int) {
	t.Helper()
	var e api.Error
	if a.err != nil || a.code != want || json.Unmarshal(a.body, &e) != nil || e.Error == "" ||
		!strings.HasPrefix(a.hdr.Get("Content-Type"), "application/json") {
		t.Errorf("%s: %v, want a JSON %d", what, a, want)
	} else if want == http.StatusUnauthorized && !strings.HasPrefix(a.hdr.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("%s: 401 without a Basic challenge (WWW-Authenticate %q)", what, a.hdr.Get("WWW-Authenticate"))
	}
}

// snapshot waits until every running node's /status (read with the
// admin certificate) names the same leader and members, with the same
// addresses, and returns that view. A node's entry for itself shows its
// own -haddr, not what the group recorded, so only the others' count.
func (r *secureRig) snapshot(t *testing.T) groupView {
	t.Helper()
	var g groupView
	cluster.WaitFor(t, secureWait, "the nodes to agree on their group", func() error {
		g = groupView{members: map[string]string{}, terms: map[string]uint64{}}
		var ids map[string]bool
		for _, n := range runningNodes(r.c.Shards[0]) {
			st, err := r.c.Cluster.Status(t.Context(), n)
			if err != nil {
				return err
			}
			seen := map[string]bool{}
			for _, s := range append(st.Followers, st.Leader) {
				v, old := "raft "+s.Address+", http "+s.HTTP, g.members[s.ID]
				switch {
				case s.ID == "":
					continue
				case old != "" && old != v && s.ID != n.ID:
					return fmt.Errorf("%s has %s at %s; another node has it at %s", n.ID, s.ID, v, old)
				case s.ID != n.ID:
					g.members[s.ID] = v
				}
				seen[s.ID] = true
			}
			if ids != nil && (!maps.Equal(seen, ids) || st.Leader.ID != g.leader) {
				return fmt.Errorf("%s sees leader %q and members %v; another node sees %q and %v", n.ID, st.Leader.ID, seen, g.leader, ids)
			}
			ids, g.leader, g.terms[n.ID] = seen, st.Leader.ID, st.Term
		}
		return nil
	})
	return g
}

// same fails t if the members, or with terms also the leader and every
// node's term, differ from want's.
func (r *secureRig) same(t *testing.T, want groupView, terms bool) {
	t.Helper()
	got := r.snapshot(t)
	if !maps.Equal(got.members, want.members) {
		t.Errorf("members changed:\nbefore %v\nafter  %v", want.members, got.members)
	}
	if terms && (got.leader != want.leader || !maps.Equal(got.terms, want.terms)) {
		t.Errorf("leader or term moved: before %s %v, after %s %v", want.leader, want.terms, got.leader, got.terms)
	}
}

// leaderNode is the node that leads shard 0 now.
func (r *secureRig) leaderNode(t *testing.T) *cluster.Node {
	t.Helper()
	return r.c.WaitLeader(secureWait, runningNodes(r.c.Shards[0])...)
}

func runningNodes(nodes []*cluster.Node) []*cluster.Node {
	var out []*cluster.Node
	for _, n := range nodes {
		if n.Running() {
			out = append(out, n)
		}
	}
	return out
}

// write sets key to value on the leader as the writer.
func (r *secureRig) write(t *testing.T, key, value string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{key: value})
	if a := sendAs(t.Context(), r.anon, "POST", r.leaderNode(t).URL()+"/key", &r.sec.Writer, body, nil); a.err != nil || a.code != http.StatusOK {
		t.Fatalf("writer setting %s: %v", key, a)
	}
}

// keyMissing is the value wantValue expects of a key nobody wrote.
const keyMissing = "\x00missing"

// wantValue reads key at level=linearizable on the leader (admin
// certificate) and fails t unless it holds want (or is missing: keyMissing).
func (r *secureRig) wantValue(t *testing.T, key, want string) {
	t.Helper()
	u := r.leaderNode(t).URL() + "/key/" + url.PathEscape(key) + "?level=linearizable"
	a := sendAs(t.Context(), r.c.Client(), "GET", u, nil, nil, nil)
	var m map[string]string
	if a.err != nil || a.code != http.StatusOK || json.Unmarshal(a.body, &m) != nil {
		t.Fatalf("reading %s: %v", key, a)
	}
	if a.hdr.Get(api.HeaderFound) != "true" {
		m[key] = keyMissing
	}
	if m[key] != want {
		t.Errorf("%s = %q, want %q", key, m[key], want)
	}
}

// nodeCert writes a node certificate for name (127.0.0.1 and localhost),
// issued by the cluster's CA or, if foreign, by a CA of its own; an
// expired one ended a day ago.
func (r *secureRig) nodeCert(t *testing.T, file, name string, foreign, expired bool) cluster.KeyPair {
	t.Helper()
	var ca *pki.CA // nil: the cluster's
	var err error
	if foreign {
		if ca, err = pki.NewCA("mallory CA", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	l := r.sec.Leaf(name, tlsconf.RoleNode)
	if expired {
		l.NotBefore, l.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	}
	kp, err := r.sec.WriteCert(ca, file, l)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// runRogue runs hraftd as an outsider named id that joins the group
// through node0 with extra flags, waits until it exits (it retries for
// 3 s) and returns its log and how it exited. It may run on any goroutine.
func (r *secureRig) runRogue(ctx context.Context, dir, id string, extra ...string) (string, error) {
	bin, err := cluster.Build(ctx, cluster.PkgHraftd)
	if err != nil {
		return "", err
	}
	ports, err := freeport.Ports(2)
	if err != nil {
		return "", err
	}
	args := append([]string{"-id", id, "-haddr", freeport.Addr(ports[0]), "-raddr", freeport.Addr(ports[1]),
		"-join", r.c.Shards[0][0].HTTP, "-join-timeout", "3s"}, extra...)
	logPath := filepath.Join(r.c.LogDir(), "rogue-"+id+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer f.Close()
	cmd := cluster.Command(bin, append(args, filepath.Join(dir, id))...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(secureWait):
		_ = cmd.Process.Kill()
		err = fmt.Errorf("still running after %s: %w", secureWait, <-done)
	}
	b, _ := os.ReadFile(logPath)
	return string(b), err
}

// Attacks 1 and 2: hraftd processes that try to join without a
// certificate, with a node certificate of another CA, and with an expired
// node certificate of the cluster's CA. Each is refused and says why in
// its log; the caller checks that none is in the configuration.
func (r *secureRig) rogueJoiners(t *testing.T) {
	stranger := r.nodeCert(t, "rogue-foreign", "node8", true, false)
	expired := r.nodeCert(t, "rogue-expired", "node9", false, true)
	// The rogues trust the cluster's CA, so they accept the members and
	// their own certificate is what is judged.
	tlsArgs := func(kp cluster.KeyPair) []string {
		return []string{"-tls-cert", kp.Cert, "-tls-key", kp.Key, "-tls-ca", r.sec.CAFile}
	}
	rogues := []struct {
		id   string
		args []string
		why  string // in the rogue's log
	}{
		{"node7", nil, "Client sent an HTTP request to an HTTPS server"},
		{"node8", tlsArgs(stranger), "unknown certificate authority"},
		{"node9", tlsArgs(expired), "expired certificate"},
	}
	var wg sync.WaitGroup
	logs, errs, dir := make([]string, len(rogues)), make([]error, len(rogues)), t.TempDir()
	for i, rg := range rogues {
		wg.Go(func() { logs[i], errs[i] = r.runRogue(t.Context(), dir, rg.id, rg.args...) })
	}
	wg.Wait()
	for i, rg := range rogues {
		if errs[i] == nil || !strings.Contains(logs[i], "could not join the group") || !strings.Contains(logs[i], rg.why) {
			t.Errorf("rogue %s: exit %v; want a failure, and its log to say it could not join because %q:\n%s", rg.id, errs[i], rg.why, logs[i])
		}
	}
}

// node9 is a client presenting a genuine node certificate of the
// cluster's CA for node9, which is no member, and a free address for it
// to claim as an HTTP address.
func (r *secureRig) node9(t *testing.T) (*http.Client, string) {
	t.Helper()
	kp := r.nodeCert(t, "node-node9", "node9", false, false)
	client, err := r.sec.Client(&kp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdleConnections)
	ports, err := freeport.Ports(1)
	if err != nil {
		t.Fatal(err)
	}
	return client, freeport.Addr(ports[0])
}

// Attack 3, the redirect: a holder of a genuine node certificate (node9)
// asks to join as node1, at node1's Raft address and a new HTTP address,
// to have node1's clients sent to it. 403, on the leader and a follower;
// the caller checks that every node still shows node1's own address.
func (r *secureRig) redirectJoin(t *testing.T) {
	client, evil := r.node9(t)
	victim := r.c.Shards[0][1]
	body, _ := json.Marshal(api.JoinRequest{ID: victim.ID, Addr: victim.Raft, HTTPAddr: evil})
	for _, n := range r.c.Shards[0] {
		a := sendAs(t.Context(), client, "POST", n.URL()+"/join", nil, body, nil)
		a.refused(t, "node9 joining as "+victim.ID+" via "+n.ID, http.StatusForbidden)
		if !strings.Contains(string(a.body), `identity \"node9\"`) {
			t.Errorf("the refusal does not name the certificate's identity: %s", a.body)
		}
	}
}

// Attack 4: POST /remove of a member by everyone but an admin: no
// credentials 401, reader and writer 403, the distributor's certificate
// 403.
func (r *secureRig) removeWithoutAdmin(t *testing.T) {
	dist, err := r.sec.Client(&r.c.Dist.Cert)
	if err != nil {
		t.Fatal(err)
	}
	wrong := r.sec.Admin
	wrong.Password += "x"
	leader := r.leaderNode(t)
	body := []byte(`{"id":"` + r.c.Shards[0][2].ID + `"}`)
	for _, a := range []struct {
		who    string
		client *http.Client
		user   *cluster.User
		want   int
	}{
		{"no credentials", r.anon, nil, http.StatusUnauthorized},
		{"the admin's name with a wrong password", r.anon, &wrong, http.StatusUnauthorized},
		{"reader", r.anon, &r.sec.Reader, http.StatusForbidden},
		{"writer", r.anon, &r.sec.Writer, http.StatusForbidden},
		{"the distributor's certificate", dist, nil, http.StatusForbidden},
	} {
		for _, n := range []*cluster.Node{leader, r.c.Shards[0][2]} {
			sendAs(t.Context(), a.client, "POST", n.URL()+"/remove", a.user, body, nil).refused(t, a.who+" removing a member via "+n.ID, a.want)
		}
	}
}

// attacker is a Raft transport outside the group over a raftnet layer
// presenting kp and trusting the cluster's CA (nil: plain TCP, speaking
// raftnet's preamble).
func (r *secureRig) attacker(t *testing.T, kp *cluster.KeyPair) *raft.NetworkTransport {
	t.Helper()
	var src *tlsconf.Source
	var err error
	if kp != nil {
		if src, err = tlsconf.Load(tlsconf.Config{CertFile: kp.Cert, KeyFile: kp.Key, CAFile: r.sec.CAFile, Logger: slog.New(slog.DiscardHandler)}); err != nil {
			t.Fatal(err)
		}
	}
	layer, err := raftnet.Listen("127.0.0.1:0", "", src)
	if err != nil {
		t.Fatal(err)
	}
	trans := raft.NewNetworkTransport(layer, 1, 3*time.Second, io.Discard)
	t.Cleanup(func() { trans.Close() })
	return trans
}

// forge sends victim (whose /status is st) a forged AppendEntries that
// sets key at its next index and commits it, a TimeoutNow, and a
// RequestVote in a far-future term; it returns each call's error.
func forgeRPCs(trans *raft.NetworkTransport, victim *cluster.Node, st api.Status, key string) map[string]error {
	id, addr := raft.ServerID(victim.ID), raft.ServerAddress(victim.Raft)
	hdr := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("mallory"), Addr: []byte(trans.LocalAddr())}
	cmd := &store.Command{Writes: []store.Write{{Ops: []store.Op{{Type: store.OpSet, Key: key, Value: "evil"}}}}}
	next := st.LastLogIndex + 1
	return map[string]error{
		"AppendEntries": trans.AppendEntries(id, addr, &raft.AppendEntriesRequest{RPCHeader: hdr, Term: st.Term,
			PrevLogEntry: st.LastLogIndex, PrevLogTerm: st.Term, LeaderCommitIndex: next,
			Entries: []*raft.Log{{Index: next, Term: st.Term, Type: raft.LogCommand, Data: cmd.Encode()}}},
			&raft.AppendEntriesResponse{}),
		"TimeoutNow": trans.TimeoutNow(id, addr, &raft.TimeoutNowRequest{RPCHeader: hdr}, &raft.TimeoutNowResponse{}),
		"RequestVote": trans.RequestVote(id, addr, &raft.RequestVoteRequest{RPCHeader: hdr, Term: 1 << 40,
			LastLogIndex: 1 << 40, LastLogTerm: 1 << 40}, &raft.RequestVoteResponse{}),
	}
}

// Attack 6: forged Raft RPCs from this process to a follower's Raft port,
// over plain TCP, with a node certificate of another CA and with the
// admin's certificate of the cluster's CA (not a node). Every call fails,
// the follower records why, and no forged value is ever readable.
func (r *secureRig) forgedRaft(t *testing.T) {
	leader, victim := r.leaderNode(t), r.c.Shards[0][0]
	if victim == leader {
		victim = r.c.Shards[0][1]
	}
	stranger := r.nodeCert(t, "raft-foreign", "node9", true, false)
	var forged []string
	for _, a := range []struct {
		name string
		kp   *cluster.KeyPair
		want string // in the victim's refused_peers
	}{
		{"plain TCP", nil, "does not speak TLS"},
		{"another CA's node certificate", &stranger, "not signed by this cluster's CA"},
		{"the admin's certificate", &r.sec.AdminCert, `role "admin"`},
	} {
		st := r.c.Status(victim)
		key := "forged by " + a.name
		forged = append(forged, key)
		for rpc, err := range forgeRPCs(r.attacker(t, a.kp), victim, st, key) {
			if err == nil {
				t.Errorf("%s: forged %s to %s succeeded", a.name, rpc, victim.ID)
			}
		}
		if got := r.c.Status(victim).RefusedPeers["127.0.0.1"]; !strings.Contains(got, a.want) {
			t.Errorf("%s: %s's refused_peers says %q, want %q", a.name, victim.ID, got, a.want)
		}
	}
	// A real write that reaches the victim comes after anything forged.
	r.write(t, "after forgeries", "real")
	ctx, cancel := context.WithTimeout(t.Context(), secureWait)
	defer cancel()
	if err := r.c.WaitKey(ctx, victim, "after forgeries"); err != nil {
		t.Fatal(err)
	}
	for _, key := range forged {
		r.wantValue(t, key, keyMissing)
		u := victim.URL() + "/key/" + url.PathEscape(key) + "?level=none"
		if a := sendAs(t.Context(), r.c.Client(), "GET", u, nil, nil, nil); a.err != nil || a.code != 200 || a.hdr.Get(api.HeaderFound) != "false" {
			t.Errorf("%s holds %q: %v", victim.ID, key, a)
		}
	}
}

// Attack 7: keys written through the distributor and a node with no
// credentials (401), a wrong password (401) and as the reader (403); the
// writer's write (200) is the control, and the only value that lands.
func (r *secureRig) keyCredentials(t *testing.T) {
	wrong := r.sec.Writer
	wrong.Password += "x"
	attempts := []struct {
		who  string
		user *cluster.User
		want int
	}{
		{"none", nil, http.StatusUnauthorized},
		{"wrong-password", &wrong, http.StatusUnauthorized},
		{"reader", &r.sec.Reader, http.StatusForbidden},
		{"writer", &r.sec.Writer, http.StatusOK},
	}
	for _, target := range []struct {
		name, url, key string
		format         string // of the body, given the key and the value
	}{
		{"distributor", r.c.Dist.URL() + "/set", "cred-dist", `{"clave":%q,"valor":%q}`},
		{"node", r.leaderNode(t).URL() + "/key", "cred-node", `{%q:%q}`},
	} {
		for _, a := range attempts {
			if a.want == http.StatusOK {
				r.wantValue(t, target.key, keyMissing) // nothing refused landed
			}
			ans := sendAs(t.Context(), r.anon, "POST", target.url, a.user, fmt.Appendf(nil, target.format, target.key, a.who), nil)
			what := fmt.Sprintf("write to the %s as %s", target.name, a.who)
			if a.want != http.StatusOK {
				ans.refused(t, what, a.want)
			} else if ans.err != nil || ans.code != http.StatusOK {
				t.Errorf("%s: %v, want 200", what, ans)
			}
		}
		r.wantValue(t, target.key, "writer")
	}
}

// Attack 5: the admin joins three ghosts, at addresses where nobody
// listens. None is promoted: the join answers say non-voter, the leader
// never logs a promotion, and once the leader is killed the two survivors
// still elect a leader and commit a write, which six voters could not.
// Then the admin removes the ghosts and the old leader comes back.
func (r *secureRig) ghostJoins(t *testing.T) {
	before := r.snapshot(t)
	leader := r.leaderNode(t)
	ghosts := []string{"ghost1", "ghost2", "ghost3"}
	ports, err := freeport.Ports(2 * len(ghosts))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, g := range ghosts {
		// ghost1 without an HTTP address (no promotion is possible);
		// the others with one the leader polls until it gives up.
		req := api.JoinRequest{ID: g, Addr: freeport.Addr(ports[2*i])}
		if i > 0 {
			req.HTTPAddr = freeport.Addr(ports[2*i+1])
		}
		body, _ := json.Marshal(req)
		wg.Go(func() {
			a := sendAs(t.Context(), r.c.Client(), "POST", leader.URL()+"/join", nil, body, nil)
			if a.err != nil || a.code == http.StatusOK || !strings.Contains(string(a.body), "non-voter") {
				t.Errorf("admin joining %s: %v; want a refusal saying it is a non-voter", g, a)
			}
		})
	}
	wg.Wait()
	members := r.snapshot(t).members
	b, _ := os.ReadFile(leader.LogPath())
	for _, g := range ghosts {
		at := `" node=` + leader.ID + " id=" + g + " "
		if !strings.Contains(string(b), "joined as a non-voter"+at) || strings.Contains(string(b), "promoted to voter"+at) {
			t.Errorf("%s's log does not say it took %s as a non-voter, or says it promoted it", leader.ID, g)
		}
	}
	t.Logf("with ghosts: %d members %v", len(members), members)

	r.c.Kill(leader.Proc)
	next := r.leaderNode(t)
	t.Logf("killed %s; %s leads", leader.ID, next.ID)
	r.write(t, "after ghosts", "committed")
	for _, g := range ghosts {
		a := sendAs(t.Context(), r.c.Client(), "POST", next.URL()+"/remove", nil, []byte(`{"id":"`+g+`"}`), nil)
		if a.err != nil || a.code != http.StatusOK && a.code != http.StatusNotFound {
			t.Errorf("admin removing %s: %v", g, a)
		}
	}
	r.c.Restart(leader.Proc)
	ctx, cancel := context.WithTimeout(t.Context(), secureWait)
	defer cancel()
	if _, err := r.c.Cluster.WaitHealthy(ctx, 0); err != nil {
		t.Fatal(err)
	}
	r.same(t, before, false)
	r.wantValue(t, "protected", "before")
	r.wantValue(t, "after ghosts", "committed")
}

// A node certificate holder (node9, not a member) that adds the header a
// member sets on a request it forwards: the claim check and the admin
// permission must still apply. 403 for a join as a follower at a new
// HTTP address and for removing that follower; nothing changes.
func (r *secureRig) forwardedHeader(t *testing.T) {
	before := r.snapshot(t)
	client, evil := r.node9(t)
	leader, victim := r.leaderNode(t), r.c.Shards[0][0]
	if victim == leader {
		victim = r.c.Shards[0][1]
	}
	fwd := map[string]string{api.HeaderForwarded: leader.ID}
	join, _ := json.Marshal(api.JoinRequest{ID: victim.ID, Addr: victim.Raft, HTTPAddr: evil})
	for _, req := range [][2]string{{"/join", string(join)}, {"/remove", `{"id":"` + victim.ID + `"}`}} {
		a := sendAs(t.Context(), client, "POST", leader.URL()+req[0], nil, []byte(req[1]), fwd)
		a.refused(t, fmt.Sprintf("node9's POST %s %s with %s", req[0], req[1], api.HeaderForwarded), http.StatusForbidden)
		r.same(t, before, false)
	}
}
