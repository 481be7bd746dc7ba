package system

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/cluster"
)

func TestMain(m *testing.M) { cluster.Main(m) }

// newCluster is an empty cluster for t: the test adds its nodes one by
// one, as the README walkthrough starts them.
func newCluster(t *testing.T) *cluster.Test {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real hraftd processes; skipped with -short")
	}
	t.Parallel()
	return cluster.NewTest(t, cluster.Config{})
}

// client talks to the nodes. Its timeout only bounds a request to a node
// that hangs; every wait for a condition is a poll with its own deadline.
var client = &http.Client{Timeout: 5 * time.Second}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// get reads a key at a read level; servedBy is the node that answered.
func get(n *cluster.Node, key, level string) (value string, found bool, servedBy string, err error) {
	resp, err := client.Get(n.URL() + "/key/" + url.PathEscape(key) + "?level=" + level)
	if err != nil {
		return "", false, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", false, "", fmt.Errorf("GET /key/%s on %s: %s: %s", key, n.ID, resp.Status, bytes.TrimSpace(b))
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return "", false, "", fmt.Errorf("GET /key/%s on %s: %v in %q", key, n.ID, err, b)
	}
	v, ok := m[key]
	if !ok || len(m) != 1 {
		return "", false, "", fmt.Errorf("GET /key/%s on %s answered %s", key, n.ID, b)
	}
	return v, resp.Header.Get(api.HeaderFound) == "true", resp.Header.Get(api.HeaderNode), nil
}

// set writes pairs with POST /key, as the README's curl does; servedBy is
// the node that applied it.
func set(n *cluster.Node, pairs map[string]string) (servedBy string, err error) {
	body, _ := json.Marshal(pairs)
	resp, err := client.Post(n.URL()+"/key", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST /key %s on %s: %s: %s", body, n.ID, resp.Status, bytes.TrimSpace(b))
	}
	return resp.Header.Get(api.HeaderNode), nil
}

// waitForValue polls a read of key at level none until it finds want.
func waitForValue(t *testing.T, n *cluster.Node, key, want string) {
	t.Helper()
	cluster.WaitFor(t, 15*time.Second, fmt.Sprintf("%s=%s on %s", key, want, n.ID), func() error {
		v, found, _, err := get(n, key, "none")
		if err != nil {
			return err
		}
		if !found || v != want {
			return fmt.Errorf("got %q (found=%v)", v, found)
		}
		return nil
	})
}

// mustSet writes pairs through n, retrying while the group answers 503
// (between leaders), and returns the node that applied the write.
func mustSet(t *testing.T, n *cluster.Node, pairs map[string]string) string {
	t.Helper()
	var servedBy string
	cluster.WaitFor(t, 15*time.Second, fmt.Sprintf("a write of %v through %s", pairs, n.ID), func() error {
		var err error
		servedBy, err = set(n, pairs)
		return err
	})
	return servedBy
}

func others(all []*cluster.Node, not *cluster.Node) []*cluster.Node {
	var out []*cluster.Node
	for _, n := range all {
		if n != not {
			out = append(out, n)
		}
	}
	return out
}
