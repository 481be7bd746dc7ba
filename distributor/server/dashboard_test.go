package server

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDashboardIsServed(t *testing.T) {
	s := newTestServer(t, &fakeRouter{t: t})
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/", "text/html", `id="shards"`},
		{"/ui/app.js", "javascript", "/dashboard/state"},
		{"/ui/style.css", "text/css", "prefers-color-scheme"},
		{"/ui/keys.js", "javascript", "function keyURL"},
		{"/", "text/html", "writes per Raft entry"},
	} {
		w := do(t, s, "GET", tc.path, "")
		if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), tc.ctype) || !strings.Contains(w.Body.String(), tc.contains) {
			t.Errorf("GET %s: %d %q, body has %q: %v", tc.path, w.Code, w.Header().Get("Content-Type"), tc.contains, strings.Contains(w.Body.String(), tc.contains))
		}
	}
	// Only the root is the page: other unknown paths stay JSON 404s.
	if w := do(t, s, "GET", "/nope", ""); w.Code != 404 {
		t.Errorf("GET /nope: %d", w.Code)
	} else {
		decodeError(t, w)
	}
}

func TestDashboardStateShowsShardsAndNewEvents(t *testing.T) {
	s, views, w := newObservedServer(t, &fakeRouter{t: t})
	t0 := time.Now()
	views.set(twoShards(t0, t0, [2]int{0, 2}))
	w.Sample()

	var st dashboardState
	get := func(q string) {
		t.Helper()
		rec := do(t, s, "GET", "/dashboard/state"+q, "")
		if rec.Code != 200 {
			t.Fatalf("GET /dashboard/state%s: %d %s", q, rec.Code, rec.Body)
		}
		st = dashboardState{}
		if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
			t.Fatal(err)
		}
	}
	get("")
	if st.Instance == "" || len(st.Shards) != 2 || st.Shards[1].Leader == nil || st.Shards[1].Leader.ID != "node5" || st.Shards[0].Nodes[1].Keys != 5 {
		t.Fatalf("state %+v", st)
	}
	// 6 nodes up and 2 leaders.
	if len(st.Events) != 8 {
		t.Fatalf("%d events, want 8: %+v", len(st.Events), st.Events)
	}
	last := st.Events[len(st.Events)-1].Seq

	views.set(twoShards(t0.Add(time.Second), t0, [2]int{0, -1}, 5))
	w.Sample()
	get("?after=" + strconv.FormatUint(last, 10))
	if len(st.Events) != 2 || st.Events[0].Kind != "node_down" || st.Events[1].Kind != "no_leader" {
		t.Fatalf("new events %+v", st.Events)
	}
	if st.Shards[1].Leader != nil || st.Shards[1].Nodes[2].Reachable {
		t.Fatalf("shard 1 should show no leader and node5 down: %+v", st.Shards[1])
	}

	if rec := do(t, s, "GET", "/dashboard/state?after=soon", ""); rec.Code != 400 {
		t.Errorf("bad after: %d", rec.Code)
	}
}

// Without an observer the page still gets the shards, from Status.
func TestDashboardStateWithoutObserver(t *testing.T) {
	s := newTestServer(t, &fakeRouter{t: t})
	rec := do(t, s, "GET", "/dashboard/state", "")
	var st dashboardState
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || len(st.Shards) != 2 || st.Shards[0].Leader == nil || st.Events == nil {
		t.Fatalf("state %s: %v", rec.Body, err)
	}
}
