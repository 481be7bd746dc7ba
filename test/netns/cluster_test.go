package netns

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/cluster"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// Every process has an address of its own, so every one uses the same
// ports: nothing else listens in its namespace.
const (
	httpPort = "7000"
	raftPort = "7001"
	distPort = "7080"
	// waitBound bounds each wait: generous, since other suites may be
	// loading the machine.
	waitBound = 45 * time.Second
	// requestTimeout bounds one request, so that a hung process costs
	// one attempt of a wait, not the wait.
	requestTimeout = 5 * time.Second
)

// binaries builds hraftd and the distributor from the tree.
func binaries(t *testing.T) (hraftd, dist string) {
	t.Helper()
	var err error
	if hraftd, err = cluster.Build(t.Context(), cluster.PkgHraftd); err != nil {
		t.Fatal(err)
	}
	if dist, err = cluster.Build(t.Context(), cluster.PkgDistributor); err != nil {
		t.Fatal(err)
	}
	return hraftd, dist
}

// node is one hraftd process in its own namespace.
type node struct {
	id, addr string // its ID and its address on the network
	proc     *cluster.Proc
}

func (n *node) http() string { return n.addr + ":" + httpPort }
func (n *node) raft() string { return n.addr + ":" + raftPort }
func (n *node) url() string  { return "https://" + n.http() }

// rig is a secure cluster spread over namespaces, and the clients that
// use it.
type rig struct {
	t      *testing.T
	nw     *network
	c      *cluster.Test
	sec    *cluster.Security
	client *http.Client // trusts the CA, presents no certificate: passwords only
	shards [][]*node
	dist   string // the distributor's https:// URL
}

// TestSecureClusterAcrossNamespaces runs 2 shards of 3 nodes and a
// distributor, each process in its own namespace on its own address, all
// with TLS and -auth: certificates that name only their holder's address,
// joins over HTTPS, Raft over mutual TLS. Through the distributor, with
// the writer's password, it writes keys and reads them back; then kills a
// shard's leader, waits for its successor, keeps writing, and requires
// every acknowledged write to read back. Last, it checks that a node's
// Raft port drops a plain TCP client and a TLS client without a node
// certificate, and says why in its /status.
func TestSecureClusterAcrossNamespaces(t *testing.T) {
	start := time.Now()
	members := []string{"node0", "node1", "node2", "node3", "node4", "node5", "distributor"}
	nw := newNetwork(t, members...)
	hraftd, dist := binaries(t)
	c := cluster.NewTest(t, cluster.Config{Secure: true, Timeout: waitBound})
	r := &rig{t: t, nw: nw, c: c, sec: c.Security}
	var err error
	if r.client, err = r.sec.Client(nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.client.CloseIdleConnections)
	r.startShards(hraftd, 2, 3)
	r.startDistributor(dist)
	t.Logf("cluster up after %v", time.Since(start).Round(time.Millisecond))

	written := map[string]string{}
	r.writeKeys(written, 0, 200)
	r.readBack(written)
	t.Logf("200 keys written and read back through %s after %v", r.dist, time.Since(start).Round(time.Millisecond))

	old := r.leader(0, r.shards[0])
	r.c.Kill(old.proc)
	t.Logf("killed %s, leader of shard 0", old.id)
	r.writeKeys(written, 200, 250) // while shard 0 elects
	survivors := slices.DeleteFunc(slices.Clone(r.shards[0]), func(n *node) bool { return n == old })
	nl := r.leader(0, survivors)
	t.Logf("%s leads shard 0 now", nl.id)
	r.writeKeys(written, 250, 300)
	r.readBack(written)
	t.Logf("%d keys acknowledged and read back after the failover (%v)", len(written), time.Since(start).Round(time.Millisecond))
	r.converged(survivors)
	r.converged(r.shards[1])

	r.raftRefusesStrangers(r.shards[1][0])
}

// startShards starts shards groups of per nodes, each in its own
// namespace: the first of a group founds it, the others join it over
// HTTPS; then waits until every group has one leader and all members.
func (r *rig) startShards(bin string, shards, per int) {
	r.t.Helper()
	for s := range shards {
		var group []*node
		for i := range per {
			id := fmt.Sprintf("node%d", s*per+i)
			join := ""
			if i > 0 {
				join = group[0].http()
			}
			group = append(group, r.startNode(bin, id, join))
		}
		r.shards = append(r.shards, group)
	}
	for s, group := range r.shards {
		l := r.leader(s, group)
		r.t.Logf("shard %d: %s leads", s, l.id)
	}
}

// startNode starts node id in its namespace with a node certificate for
// its address alone, TLS and -auth, and waits until it answers /status.
func (r *rig) startNode(bin, id, join string) *node {
	r.t.Helper()
	n := &node{id: id, addr: r.nw.ips[id]}
	leaf := r.sec.Leaf(id, tlsconf.RoleNode)
	leaf.Hosts = []string{n.addr}
	kp, err := r.sec.WriteCert(nil, "node-"+id, leaf)
	if err != nil {
		r.t.Fatal(err)
	}
	args := []string{"-id", id, "-haddr", n.http(), "-raddr", n.raft()}
	if join != "" {
		args = append(args, "-join", join)
	}
	args = append(args, "-tls-cert", kp.Cert, "-tls-key", kp.Key, "-tls-ca", r.sec.CAFile, "-auth", r.sec.UsersFile,
		filepath.Join(filepath.Dir(r.sec.Dir), "data-"+id))
	if n.proc, err = r.c.StartProcess(r.t.Context(), id, "ip", r.nw.command(id, bin, args...), n.url()+"/status"); err != nil {
		r.t.Fatal(err)
	}
	return n
}

// startDistributor starts the distributor in its namespace in front of
// every shard, with a client certificate for its address, TLS and
// -auth, and waits until it routes every shard to its leader.
func (r *rig) startDistributor(bin string) {
	r.t.Helper()
	addr := r.nw.ips["distributor"]
	leaf := r.sec.Leaf("distributor", tlsconf.RoleClient)
	leaf.Hosts = []string{addr}
	kp, err := r.sec.WriteCert(nil, "client-distributor", leaf)
	if err != nil {
		r.t.Fatal(err)
	}
	args := []string{"-addr", addr + ":" + distPort}
	for _, group := range r.shards {
		var hosts []string
		for _, n := range group {
			hosts = append(hosts, n.http())
		}
		args = append(args, "-shard", strings.Join(hosts, ","))
	}
	args = append(args, "-tls-cert", kp.Cert, "-tls-key", kp.Key, "-tls-ca", r.sec.CAFile, "-auth", r.sec.UsersFile)
	r.dist = "https://" + addr + ":" + distPort
	if _, err := r.c.StartProcess(r.t.Context(), "distributor", "ip", r.nw.command("distributor", bin, args...), r.dist+"/status"); err != nil {
		r.t.Fatal(err)
	}
	r.waitRoutes()
}

// waitRoutes waits until the distributor routes every shard to the node
// that leads it.
func (r *rig) waitRoutes() {
	r.t.Helper()
	cluster.WaitFor(r.t, waitBound, "the distributor to route every shard to its leader", func() error {
		var st struct {
			Shards []struct {
				Leader *struct {
					ID string `json:"id"`
				} `json:"leader"`
			} `json:"shards"`
		}
		if err := r.getJSON(r.dist+"/status", &st); err != nil {
			return err
		}
		for s, group := range r.shards {
			want, err := r.agreedLeader(group)
			if err != nil {
				return err
			}
			if len(st.Shards) <= s || st.Shards[s].Leader == nil || st.Shards[s].Leader.ID != want.id {
				return fmt.Errorf("shard %d: it does not route to %s yet", s, want.id)
			}
		}
		return nil
	})
}

// leader waits until nodes (a shard's running members) agree on a
// leader among them that says it leads and sees the shard's members at
// their own addresses, every one admitted and ready; it returns the
// leader. Members are read with the admin's password.
func (r *rig) leader(s int, nodes []*node) *node {
	r.t.Helper()
	var l *node
	cluster.WaitFor(r.t, waitBound, fmt.Sprintf("shard %d to have a leader all of %d agree on", s, len(nodes)), func() error {
		var err error
		l, err = r.agreedLeader(nodes)
		if err != nil {
			return err
		}
		st, err := r.status(l)
		if err != nil {
			return err
		}
		for _, n := range r.shards[s] {
			if !slices.ContainsFunc(append(st.Followers, st.Me), func(m api.Server) bool { return m.ID == n.id && m.Address == n.raft() }) {
				return fmt.Errorf("%s does not list %s at %s", l.id, n.id, n.raft())
			}
		}
		for _, n := range nodes {
			if code, b, err := r.do(http.MethodGet, n.url()+"/readyz", nil, nil); err != nil || code != http.StatusOK {
				return fmt.Errorf("%s not ready: %d %s %v", n.id, code, b, err)
			}
		}
		return nil
	})
	return l
}

// agreedLeader is the node of nodes that they all name as leader and
// that says it leads, or an error saying why there is none.
func (r *rig) agreedLeader(nodes []*node) (*node, error) {
	var leader *node
	id := ""
	for _, n := range nodes {
		st, err := r.status(n)
		switch {
		case err != nil:
			return nil, err
		case st.Leader.ID == "" || id != "" && st.Leader.ID != id:
			return nil, fmt.Errorf("%s names leader %q, others %q", n.id, st.Leader.ID, id)
		case !st.Admitted:
			return nil, fmt.Errorf("%s is not admitted yet", n.id)
		}
		id = st.Leader.ID
		if st.Me.ID == id && st.State == "Leader" {
			leader = n
		}
	}
	if leader == nil {
		return nil, fmt.Errorf("no node of %d says it is the leader %q", len(nodes), id)
	}
	return leader, nil
}

// converged waits until nodes have applied the same index and then
// requires the same digest of their data: replicas that applied the same
// log over mutual TLS hold the same map.
func (r *rig) converged(nodes []*node) {
	r.t.Helper()
	var ds []api.Digest
	cluster.WaitFor(r.t, waitBound, "replicas to reach one applied index", func() error {
		ds = ds[:0]
		for _, n := range nodes {
			st, err := r.status(n)
			if err != nil {
				return err
			}
			ds = append(ds, st.Digest)
		}
		if slices.ContainsFunc(ds, func(d api.Digest) bool { return d.AppliedIndex != ds[0].AppliedIndex }) {
			return fmt.Errorf("applied indexes differ: %+v", ds)
		}
		return nil
	})
	for i, d := range ds {
		if d != ds[0] {
			r.t.Fatalf("%s holds %+v, %s %+v", nodes[0].id, ds[0], nodes[i].id, d)
		}
	}
	r.t.Logf("%d replicas hold the same %d keys at index %d", len(nodes), ds[0].Keys, ds[0].AppliedIndex)
}

// status is n's GET /status, as the admin (password) reads it.
func (r *rig) status(n *node) (api.Status, error) {
	var st api.Status
	err := r.getJSON(n.url()+"/status", &st)
	return st, err
}

// getJSON GETs u as the admin and decodes its 200 answer into v.
func (r *rig) getJSON(u string, v any) error {
	code, b, err := r.do(http.MethodGet, u, &r.sec.Admin, nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", u, code, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, v)
}

// do sends one request as user (nil: nobody), bounded by requestTimeout,
// and returns the status and body.
func (r *rig) do(method, u string, user *cluster.User, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(r.t.Context(), requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if user != nil {
		req.SetBasicAuth(user.Name, user.Password)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.Header.Get(api.HeaderFound) == "false" {
		return resp.StatusCode, b, errNotFound
	}
	return resp.StatusCode, b, err
}

// errNotFound is do's error for a read whose key does not exist.
var errNotFound = errors.New("key not found")

// writeKeys writes keys from to to-1 through the distributor as the
// writer, each until acknowledged (a write during a failover may fail
// and is tried again: same key, same value), and records them in
// written.
func (r *rig) writeKeys(written map[string]string, from, to int) {
	r.t.Helper()
	retries := 0
	for i := from; i < to; i++ {
		k, v := fmt.Sprintf("netns-%03d", i), fmt.Sprintf("value-%03d", i)
		body, _ := json.Marshal(map[string]string{k: v})
		cluster.WaitFor(r.t, waitBound, "the distributor to acknowledge "+k, func() error {
			code, b, err := r.do(http.MethodPost, r.dist+"/key", &r.sec.Writer, body)
			if err == nil && code == http.StatusOK {
				return nil
			}
			retries++
			return fmt.Errorf("HTTP %d %s %v", code, bytes.TrimSpace(b), err)
		})
		written[k] = v
	}
	r.t.Logf("keys %d..%d acknowledged (%d failed attempts retried)", from, to-1, retries)
}

// readBack reads every key of written through the distributor as the
// writer, at level linearizable, and requires its value. A read may be
// tried again on an error (a failover); a wrong value or a missing key
// fails at once.
func (r *rig) readBack(written map[string]string) {
	r.t.Helper()
	for k, want := range written {
		cluster.WaitFor(r.t, waitBound, "reading "+k+" through the distributor", func() error {
			code, b, err := r.do(http.MethodGet, r.dist+"/key/"+url.PathEscape(k)+"?level=linearizable", &r.sec.Writer, nil)
			if errors.Is(err, errNotFound) {
				r.t.Fatalf("acknowledged key %s is missing (HTTP %d)", k, code)
			}
			if err != nil || code != http.StatusOK {
				return fmt.Errorf("HTTP %d %s %v", code, bytes.TrimSpace(b), err)
			}
			var m map[string]string
			if err := json.Unmarshal(b, &m); err != nil || m[k] != want {
				r.t.Fatalf("%s = %s, want %q", k, b, want)
			}
			return nil
		})
	}
}

// raftRefusesStrangers checks that n's Raft port speaks mutual TLS only:
// a plain TCP client sending a well-formed preamble is dropped, and a TLS
// client that trusts the CA sees n's node certificate for its address but
// is dropped for having none of its own; after each, n's /status names
// the test's address among its refused peers, with the reason.
func (r *rig) raftRefusesStrangers(n *node) {
	r.t.Helper()
	d := &net.Dialer{Timeout: requestTimeout}
	conn, err := d.DialContext(r.t.Context(), "tcp", n.raft())
	if err != nil {
		r.t.Fatal(err)
	}
	pre := binary.AppendUvarint([]byte("HRN2"), uint64(len(r.nw.hostIP+":"+raftPort)))
	pre = binary.AppendUvarint(append(pre, r.nw.hostIP+":"+raftPort...), 0)
	if _, err := conn.Write(pre); err != nil {
		r.t.Fatal(err)
	}
	if got := readUntilClosed(r.t, conn); len(got) > 0 && got[0] == 0 {
		r.t.Fatalf("%s accepted a plain preamble: answered % x", n.id, got)
	}
	r.wantRefused(n, "does not speak TLS")

	pool := x509.NewCertPool()
	pool.AddCert(r.sec.CA.Cert)
	tc, err := tls.DialWithDialer(d, "tcp", n.raft(), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		r.t.Fatalf("TLS to %s's Raft port: %v", n.id, err)
	}
	if cert := tc.ConnectionState().PeerCertificates[0]; cert.Subject.CommonName != n.id {
		r.t.Fatalf("%s's Raft port presents %q's certificate", n.id, cert.Subject.CommonName)
	}
	_, _ = tc.Write(pre)
	if got := readUntilClosed(r.t, tc); len(got) > 0 {
		r.t.Fatalf("%s answered a TLS client without a certificate: % x", n.id, got)
	}
	r.wantRefused(n, "no client certificate")
}

// readUntilClosed reads conn until the other side closes it (an error
// such as a TLS alert counts), and fails t if it is still open after
// requestTimeout.
func readUntilClosed(t *testing.T, conn net.Conn) []byte {
	t.Helper()
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(requestTimeout))
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the Raft port kept a stranger's connection open for %v (read % x)", requestTimeout, got)
	}
	return got
}

// wantRefused waits until n's /status lists the test's address among its
// refused Raft peers with a reason that contains want.
func (r *rig) wantRefused(n *node, want string) {
	r.t.Helper()
	cluster.WaitFor(r.t, waitBound, n.id+" to list "+r.nw.hostIP+" as refused: "+want, func() error {
		st, err := r.status(n)
		if err != nil {
			return err
		}
		if reason := st.RefusedPeers[r.nw.hostIP]; !strings.Contains(reason, want) {
			return fmt.Errorf("refused_peers %v", st.RefusedPeers)
		}
		return nil
	})
	st, _ := r.status(n)
	r.t.Logf("%s refused %s: %s", n.id, r.nw.hostIP, st.RefusedPeers[r.nw.hostIP])
}
