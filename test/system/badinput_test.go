package system

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kvraft/hraftd/api"
)

// TestBadInputOverTheWire sends the real binary bad requests of every kind:
// each gets a JSON error with the right status, none reaches the Raft log,
// and the node keeps serving.
func TestBadInputOverTheWire(t *testing.T) {
	c := newCluster(t)
	n := c.AddNode("edge", "")
	c.WaitLeader(15*time.Second, n)
	c.WaitReady(15*time.Second, n)
	before := c.Status(n)

	longKey := strings.Repeat("k", 1025) // the default -max-key is 1024
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"malformed JSON", "POST", "/key", `{"user1":`, 400},
		{"array", "POST", "/key", `[{"user1":"batman"}]`, 400},
		{"number value", "POST", "/key", `{"user1":1}`, 400},
		{"null value", "POST", "/key", `{"user1":null}`, 400},
		{"empty object", "POST", "/key", `{}`, 400},
		{"empty key", "POST", "/key", `{"":"x"}`, 400},
		{"invalid UTF-8", "POST", "/key", "{\"user1\":\"\xff\"}", 400},
		{"trailing garbage", "POST", "/key", `{"user1":"batman"}x`, 400},
		{"key over the limit", "POST", "/key", `{"` + longKey + `":"v"}`, 413},
		{"body over the limit", "POST", "/key", `{"k":"` + strings.Repeat("v", 1<<20) + `"}`, 413},
		{"read of a key over the limit", "GET", "/key/" + longKey, "", 413},
		{"read of the empty key", "GET", "/key/", "", 400},
		{"delete of the empty key", "DELETE", "/key/", "", 400},
		{"unknown read level", "GET", "/key/user1?level=strong", "", 400},
		{"join without addr", "POST", "/join", `{"id":"x"}`, 400},
		{"remove of no member", "POST", "/remove", `{"id":"nobody"}`, 404},
		{"unknown route", "GET", "/nope", "", 404},
		{"wrong method", "PUT", "/key/user1", `{"user1":"batman"}`, 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, n.URL()+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d; body: %s", resp.StatusCode, tc.want, b)
			}
			var e api.Error
			if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
				t.Errorf("body %q is not a JSON error (%v)", b, err)
			}
			if tc.want == 405 && resp.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}

	after := c.Status(n)
	if after.LastLogIndex != before.LastLogIndex || after.Digest != before.Digest {
		t.Errorf("bad input changed the node: last log index %d -> %d, digest %+v -> %+v",
			before.LastLogIndex, after.LastLogIndex, before.Digest, after.Digest)
	}
	c.WaitReady(15*time.Second, n)
	mustSet(t, n, map[string]string{"user1": "batman"})
	waitForValue(t, n, "user1", "batman")
}
