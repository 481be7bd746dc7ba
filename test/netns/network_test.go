package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Names of what a network is made of. Every namespace's name starts with
// nsPrefix, then the owner (ownerOf: PID and start time of the test
// process), so that leftovers can be told from a live run's namespaces.
// The test's own end of its link to the hub is an interface in the test's
// namespace, named hostLinkPrefix and random hex (interface names are at
// most 15 bytes), with the owner in its alias.
const (
	nsPrefix       = "hraftd-netns-"
	hostLinkPrefix = "hnt"
	// subnetPrefix and the chosen X make 10.231.X.0/24: a private range
	// that no usual network (home routers, Docker, cloud VPCs) uses.
	subnetPrefix = "10.231."
	// ipTimeout bounds one run of ip: it never takes long, but a
	// wedged kernel call must not hang the test.
	ipTimeout = 20 * time.Second
)

// network is a private network this test made: a hub namespace with a
// bridge, one namespace per member on it with its own address, and a link
// from the test's own namespace with hostIP. Cleanup removes all of it.
type network struct {
	name     string            // every namespace's name starts with it
	hub      string            // the hub namespace
	subnet   string            // "10.231.X."
	hostIP   string            // the test's own address on the network
	hostLink string            // the test's end of its link to the hub
	ns       map[string]string // member -> its namespace
	ips      map[string]string // member -> its address
	made     []string          // namespaces made, for cleanup
}

// newNetwork makes a network with one namespace per member, members[i]
// at address 10.231.X.(10+i), and removes it when t ends. It skips t
// where namespaces cannot be made (see unavailable).
func newNetwork(t *testing.T, members ...string) *network {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real processes in network namespaces; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: making network namespaces needs root (run go test as root, or sudo)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		unavailable(t, "no ip command (iproute2): %v", err)
	}
	removeLeftovers(t)
	owner, err := ownerOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	n := &network{name: nsPrefix + owner + "-" + randHex(2), ns: map[string]string{}, ips: map[string]string{}}
	n.hub = n.name + "-hub"
	t.Cleanup(func() { n.remove(t) })
	if err := n.addNS(n.hub); err != nil {
		unavailable(t, "cannot make a network namespace: %v", err)
	}
	if err := n.connectHost(); err != nil {
		t.Fatalf("connecting the test's namespace to the hub: %v", err)
	}
	for i, m := range members {
		if err := n.addMember(m, fmt.Sprintf("%s%d", n.subnet, 10+i), i); err != nil {
			t.Fatalf("making %s's namespace: %v", m, err)
		}
	}
	t.Logf("network %s: %s0/24 on a bridge in %s; the test is %s; %v", n.name, n.subnet, n.hub, n.hostIP, n.ips)
	return n
}

// unavailable skips t because network namespaces cannot be used here,
// unless we are root with CI set: there they must work, and not being
// able to make them is a failure.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" && os.Geteuid() == 0 {
		t.Fatalf("%s (CI is set and the test runs as root: network namespaces must work here)", msg)
	}
	t.Skipf("skipping: %s; these tests need root and ip netns (iproute2)", msg)
}

// ip runs ip with args, bounded by ipTimeout; the error carries its output.
func ip(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// ipAll runs each of steps with ip, stopping at the first error.
func ipAll(steps ...[]string) error {
	for _, s := range steps {
		if _, err := ip(s...); err != nil {
			return err
		}
	}
	return nil
}

// addNS makes namespace ns with its loopback up.
func (n *network) addNS(ns string) error {
	if _, err := ip("netns", "add", ns); err != nil {
		return err
	}
	n.made = append(n.made, ns)
	return ipAll([]string{"-n", ns, "link", "set", "lo", "up"})
}

// connectHost makes the hub's bridge, chooses the subnet and gives the
// test's namespace its address on it. The choice and the address happen
// under a lock, so that two runs at once cannot pick the same subnet.
func (n *network) connectHost() error {
	if err := ipAll(
		[]string{"-n", n.hub, "link", "add", "br0", "type", "bridge"},
		[]string{"-n", n.hub, "link", "set", "br0", "up"},
	); err != nil {
		return err
	}
	n.hostLink = hostLinkPrefix + randHex(4)
	owner := strings.TrimPrefix(n.name, nsPrefix)
	if err := ipAll(
		// The peer goes straight into the test's namespace (that of
		// this process), and goes away with the hub.
		[]string{"-n", n.hub, "link", "add", "vhost", "type", "veth", "peer", "name", n.hostLink, "netns", strconv.Itoa(os.Getpid())},
		[]string{"-n", n.hub, "link", "set", "vhost", "master", "br0", "up"},
		[]string{"link", "set", n.hostLink, "alias", nsPrefix + owner},
	); err != nil {
		return err
	}
	unlock, err := lockSubnets()
	if err != nil {
		return err
	}
	defer unlock()
	if n.subnet, err = freeSubnet(); err != nil {
		return err
	}
	n.hostIP = n.subnet + "1"
	return ipAll(
		[]string{"addr", "add", n.hostIP + "/24", "dev", n.hostLink},
		[]string{"link", "set", n.hostLink, "up"},
	)
}

// addMember makes member m's namespace, at address addr, on the bridge.
func (n *network) addMember(m, addr string, i int) error {
	ns := n.name + "-" + m
	if err := n.addNS(ns); err != nil {
		return err
	}
	veth := "v" + strconv.Itoa(i)
	if err := ipAll(
		[]string{"-n", n.hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
		[]string{"-n", n.hub, "link", "set", veth, "master", "br0", "up"},
		[]string{"-n", ns, "addr", "add", addr + "/24", "dev", "eth0"},
		[]string{"-n", ns, "link", "set", "eth0", "up"},
	); err != nil {
		return err
	}
	n.ns[m], n.ips[m] = ns, addr
	return nil
}

// command is the argument list of ip that runs bin with args in member
// m's namespace. ip execs bin in place, so the process ID is bin's own and
// the launcher's signals and kill-on-parent-death reach it (see
// TestLaunchedProcessDiesWithItsLauncher).
func (n *network) command(m, bin string, args ...string) []string {
	return append([]string{"netns", "exec", n.ns[m], bin}, args...)
}

// remove deletes the test's end of its link to the hub (which takes the
// hub's end with it) and every namespace of n, and reports what it could
// not remove. The link goes first and explicitly: a deleted namespace's
// devices go only when the kernel gets round to destroying it, which may
// be after the test has ended.
func (n *network) remove(t *testing.T) {
	if n.hostLink != "" {
		if _, err := ip("link", "show", n.hostLink); err == nil {
			if _, err := ip("link", "del", n.hostLink); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	}
	for i := len(n.made) - 1; i >= 0; i-- {
		if _, err := ip("netns", "del", n.made[i]); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	out, err := ip("netns", "list")
	if err == nil && strings.Contains(out, n.name) {
		t.Errorf("cleanup: namespaces of %s are still there:\n%s", n.name, out)
	}
}

// lockSubnets takes the lock that makes choosing a subnet and taking it
// one step for concurrent runs on this machine.
func lockSubnets() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "hraftd-netns.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// freeSubnet chooses X so that no address or route of the test's
// namespace is in 10.231.X.0/24, starting from a random X.
func freeSubnet() (string, error) {
	addrs, err := ip("-4", "-o", "addr", "show")
	if err != nil {
		return "", err
	}
	routes, err := ip("-4", "route", "show", "table", "all")
	if err != nil {
		return "", err
	}
	start := int(randByte())
	for i := range 256 {
		s := subnetPrefix + strconv.Itoa((start+i)%256) + "."
		if !strings.Contains(addrs, s) && !strings.Contains(routes, s) {
			return s, nil
		}
	}
	return "", errors.New("every 10.231.X.0/24 is in use in this namespace")
}

// ownerOf is pid's identity in names: its PID and start time (in clock
// ticks after boot, field 22 of /proc/PID/stat). No two processes ever
// share both, so a name says whether the run that made it still runs.
func ownerOf(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	i := bytes.LastIndexByte(b, ')') // the command name may hold spaces
	if i < 0 || i+2 > len(b) {
		return "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+2:])) // f[0] is field 3
	if len(f) < 20 {
		return "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return strconv.Itoa(pid) + "-" + f[19], nil
}

// stale reports whether a name made by this package (after its prefix:
// "PID-START-...") belongs to a run that no longer exists.
func stale(rest string) bool {
	parts := strings.SplitN(rest, "-", 3)
	if len(parts) < 2 {
		return false // not ours after all: leave it alone
	}
	pid, err := strconv.Atoi(parts[0])
	if err != nil {
		return false
	}
	owner, err := ownerOf(pid)
	return err != nil || owner != parts[0]+"-"+parts[1]
}

// removeLeftovers deletes the namespaces and host links that runs which
// no longer exist (killed by their -timeout, say) left behind.
func removeLeftovers(t *testing.T) {
	out, err := ip("netns", "list")
	if err != nil {
		unavailable(t, "ip netns does not work: %v", err)
	}
	for line := range strings.Lines(out) {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if rest, ok := strings.CutPrefix(name, nsPrefix); ok && stale(rest) {
			t.Logf("removing namespace %s, left by a run that is gone", name)
			if _, err := ip("netns", "del", name); err != nil {
				t.Logf("removing a leftover: %v", err)
			}
		}
	}
	out, err = ip("-j", "link", "show")
	if err != nil {
		t.Logf("listing links for leftovers: %v", err)
		return
	}
	var links []struct {
		Name  string `json:"ifname"`
		Alias string `json:"ifalias"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		t.Logf("listing links for leftovers: %v", err)
		return
	}
	for _, l := range links {
		rest, ok := strings.CutPrefix(l.Alias, nsPrefix)
		if strings.HasPrefix(l.Name, hostLinkPrefix) && ok && stale(rest) {
			t.Logf("removing link %s, left by a run that is gone", l.Name)
			_, _ = ip("link", "del", l.Name)
		}
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randByte() byte {
	b := make([]byte, 1)
	_, _ = rand.Read(b)
	return b[0]
}
