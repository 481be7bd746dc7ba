package browser

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/internal/cluster"
)

func TestMain(m *testing.M) { cluster.Main(m) }

// findChromium returns the browser to drive: $CHROME_PATH, or the first of
// the usual names on $PATH.
func findChromium() (string, error) {
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// artifactsDir is where screenshots go: $ARTIFACTS_DIR, else artifacts/ at
// the repo root (gitignored).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		// The test runs in test/browser.
		abs, err := filepath.Abs(filepath.Join("..", "..", "artifacts"))
		if err != nil {
			t.Fatal(err)
		}
		dir = abs
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// page is a Chromium tab on the dashboard.
type page struct {
	t   *testing.T
	ctx context.Context

	mu         sync.Mutex
	exceptions []string // uncaught JavaScript exceptions
}

func openBrowser(t *testing.T) *page {
	t.Helper()
	chrome, err := findChromium()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed, and CI is set: run scripts/ci-deps.sh (apt-get install chromium chromium-driver)")
		}
		t.Skip("chromium is not installed (apt-get install chromium chromium-driver, or scripts/ci-deps.sh); skipping the browser test")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root, where the sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 1000),
		// The machine has no internet: without these Chromium spends its
		// start-up waiting on update, sync and QUIC probes.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// The secure test's CA is made per run; the browser cannot know it.
		chromedp.Flag("ignore-certificate-errors", true),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// chromedp reports CDP events newer than its protocol bindings as
	// errors; they are noise for this test.
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(string, ...any) {}))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	p := &page{t: t, ctx: ctx}
	// The first Run starts the browser, and chromedp forbids a deadline on
	// it (the deadline would end the browser too), so bound it from here.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting %s: %v", chrome, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start within 30s", chrome)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			p.mu.Lock()
			p.exceptions = append(p.exceptions, (&chromedp.ExceptionError{ExceptionDetails: e.ExceptionDetails}).Error())
			p.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs actions with a deadline of its own.
func (p *page) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression that gives a string.
func (p *page) eval(expr string) (string, error) {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[string](expr))
}

// waitFor polls a JavaScript expression until it returns want.
func (p *page) waitFor(timeout time.Duration, what, expr, want string) {
	p.t.Helper()
	cluster.WaitFor(p.t, timeout, what, func() error {
		got, err := p.eval(expr)
		switch {
		case err != nil:
			return err
		case got != want:
			return fmt.Errorf("saw %q", got)
		}
		return nil
	})
}

func (p *page) screenshot(name string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(artifactsDir(p.t), name)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", path)
	return path
}

func (p *page) noExceptions() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.exceptions) > 0 {
		p.t.Errorf("the page threw: %s", strings.Join(p.exceptions, "; "))
	}
}

// screenshotOnFailure saves the page as it was when the test failed.
func (p *page) screenshotOnFailure() {
	if !p.t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	if buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		path := filepath.Join(artifactsDir(p.t), "dashboard-failed.png")
		if os.WriteFile(path, buf, 0o644) == nil {
			p.t.Logf("screenshot of the failure: %s", path)
		}
	}
}

// leaderOnPage is the JavaScript that reads the leader shown for shard s.
func leaderOnPage(s int) string {
	return fmt.Sprintf(`(document.getElementById("shard-%d") || {dataset: {}}).dataset.leader || ""`, s)
}

// TestDashboardFollowsFailover opens the dashboard on the real cluster,
// checks that it shows both leaders, routes a key through its form, kills
// a leader with SIGKILL and waits for the page to show the new one, then
// restarts the distributor under the page and waits for it to recover.
// (Long: one story in the browser, step after step.)
func TestDashboardFollowsFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes and a browser; skipped with -short")
	}
	p := openBrowser(t)
	cfg := cluster.DefaultConfig()
	cfg.DistributorArgs = []string{"-poll", "250ms"} // the page shows changes quickly
	// A follower whose state is changed behind the log must show as
	// damaged (checkDamagedShown).
	cfg.NodeArgs = []string{"-fault-injection", "-replica-check", "500ms"}
	c := cluster.NewTest(t, cfg)
	ctx := t.Context()
	t.Cleanup(p.screenshotOnFailure) // before the cluster stops

	p.run("opening the dashboard", chromedp.Navigate(c.Dist.URL()+"/"))

	// 1. Both shards' leaders, as the nodes themselves say.
	for s := range 2 {
		l := c.Leader(ctx, s)
		if l == nil {
			t.Fatalf("shard %d lost its leader", s)
		}
		p.waitFor(10*time.Second, fmt.Sprintf("the page to show %s leading shard %d", l.ID, s), leaderOnPage(s), l.ID)
	}
	p.waitFor(5*time.Second, "three nodes of shard 1 up", `String(document.querySelectorAll('#shard-1 tr[data-up="true"]').length)`, "3")
	p.waitFor(5*time.Second, "the connection badge to say live", `document.getElementById("conn").classList.contains("conn-live") ? "live" : "not live"`, "live")

	// 2. A key set through the form shows where it went.
	const key = "batman"
	shard := router.ShardOf(key, 2)
	leader := c.Leader(ctx, shard)
	p.run("setting a key through the form",
		chromedp.SetValue(chromedp.ID("kv-key"), key),
		chromedp.SetValue(chromedp.ID("kv-value"), "bruce"),
		chromedp.Click(chromedp.ID("kv-set")),
	)
	p.waitFor(10*time.Second, "the set to succeed", `document.getElementById("kv-result").dataset.status || ""`, "200")
	p.waitFor(time.Second, "the answer to name the shard", `document.getElementById("kv-result").dataset.shard`, fmt.Sprint(shard))
	p.waitFor(time.Second, "the answer to name the leader", `document.getElementById("kv-result").dataset.node`, leader.ID)
	p.run("reading it back", chromedp.Click(chromedp.ID("kv-get")))
	p.waitFor(10*time.Second, "the get to show the value", `document.getElementById("kv-result").textContent.includes('"bruce"') ? "yes" : "no"`, "yes")
	p.screenshot("dashboard.png")

	// A key of dots: a browser would drop ".." from a path, so the form
	// must percent-encode it, and it must round-trip as the key "..".
	p.run("setting the key .. through the form",
		chromedp.SetValue(chromedp.ID("kv-key"), ".."),
		chromedp.SetValue(chromedp.ID("kv-value"), "dots"),
		chromedp.Click(chromedp.ID("kv-set")),
	)
	p.waitFor(10*time.Second, "the set of .. to succeed", `(r => r.textContent.includes('SET ".."') ? r.dataset.status : "not yet")(document.getElementById("kv-result"))`, "200")
	p.run("reading .. back", chromedp.Click(chromedp.ID("kv-get")))
	p.waitFor(10*time.Second, "the get of .. to show its value", `document.getElementById("kv-result").textContent.includes('"dots"') ? "yes" : "no"`, "yes")
	var got map[string]string
	if err := c.GetJSON(ctx, c.Dist.URL()+"/key/%2E%2E?level=linearizable", &got); err != nil || got[".."] != "dots" {
		t.Errorf("the key .. through the distributor: %v, %v; want dots", got, err)
	}
	p.waitFor(time.Second, "the batch figure to be explained in words", `document.getElementById("st-batch-box").textContent.includes("writes per Raft entry") ? "yes" : "no"`, "yes")

	// 3. Kill shard 0's leader; the page must show the one the survivors
	// elect, and the dead node as down.
	old := c.Leader(ctx, 0)
	c.Kill(old.Proc)
	killed := time.Now()
	var next *cluster.Node
	cluster.WaitFor(t, 30*time.Second, "shard 0 to elect a new leader", func() error {
		if next = c.Leader(ctx, 0); next == nil {
			return errors.New("no running node leads")
		}
		return nil
	})
	p.waitFor(15*time.Second, "the page to show the new leader "+next.ID, leaderOnPage(0), next.ID)
	t.Logf("the page showed %s leading shard 0 %s after %s was killed", next.ID, time.Since(killed).Round(10*time.Millisecond), old.ID)
	p.waitFor(10*time.Second, old.ID+" shown as down", fmt.Sprintf(`(document.querySelector('#shard-0 tr[data-node="%s"]') || {dataset: {}}).dataset.up || ""`, old.ID), "false")
	p.waitFor(5*time.Second, "a leader event for "+next.ID+" in the feed",
		fmt.Sprintf(`[...document.querySelectorAll('#events li[data-kind="leader"]')].some(li => li.textContent.includes("%s leads")) ? "yes" : "no"`, next.ID), "yes")
	p.screenshot("dashboard-failover.png")
	// After a kill the feed grows; it scrolls inside its panel and the
	// page still fits the 1000-pixel window.
	p.waitFor(time.Second, "the page to fit the window after the kill",
		`document.documentElement.scrollHeight <= window.innerHeight ? "fits" : "overflows by " + (document.documentElement.scrollHeight - window.innerHeight) + "px"`, "fits")
	p.waitFor(time.Second, "the event list to scroll inside its panel",
		`["auto", "scroll"].includes(getComputedStyle(document.getElementById("events")).overflowY) ? "yes" : "no"`, "yes")
	checkFailoverMetrics(t, c)

	// 4. Restart the distributor under the page: it shows the loss, keeps
	// polling, and recovers without a reload.
	c.Kill(c.Dist.Proc)
	p.waitFor(10*time.Second, "the page to notice the distributor is gone", `document.getElementById("conn").classList.contains("conn-lost") ? "lost" : "not lost"`, "lost")
	c.Restart(c.Dist.Proc)
	p.waitFor(20*time.Second, "the page to recover after the distributor restarted", leaderOnPage(0), next.ID)
	p.waitFor(5*time.Second, "the connection badge to say live again", `document.getElementById("conn").classList.contains("conn-live") ? "live" : "not live"`, "live")
	p.waitFor(5*time.Second, "the restart to be in the feed", `document.querySelector('#events li[data-kind="restart"]') ? "yes" : "no"`, "yes")
	checkDamagedShown(t, p, c)
	p.noExceptions()
}

// checkDamagedShown changes a shard 1 follower's state behind the log; the
// leader's replica check marks it damaged, and the page must say so, with
// why, although the node still answers.
func checkDamagedShown(t *testing.T, p *page, c *cluster.Test) {
	t.Helper()
	leader := c.Leader(t.Context(), 1)
	var f *cluster.Node
	for _, n := range c.Shards[1] {
		if n != leader {
			f = n
		}
	}
	code, body, err := c.Do(t.Context(), http.MethodPost, f.URL()+"/debug/faults", []byte(`{"corrupt":{"joker":"a value no client wrote"}}`))
	if err != nil || code != http.StatusOK {
		t.Fatalf("corrupt %s: %d %s %v", f.ID, code, body, err)
	}
	row := fmt.Sprintf(`document.querySelector('#shard-1 tr[data-node="%s"]')`, f.ID)
	p.waitFor(20*time.Second, f.ID+" shown as damaged", fmt.Sprintf(`(%s || {dataset: {}}).dataset.state || ""`, row), "damaged")
	p.waitFor(time.Second, "the reason under "+f.ID,
		fmt.Sprintf(`(r => r && r.nextElementSibling && r.nextElementSibling.textContent.includes("replica check") ? "yes" : "no")(%s)`, row), "yes")
	p.screenshot("dashboard-damaged.png")
}

// checkFailoverMetrics scrapes the distributor after shard 0's failover:
// it must have counted one failover and timed how long it took to find the
// new leader.
func checkFailoverMetrics(t *testing.T, c *cluster.Test) {
	t.Helper()
	var text string
	cluster.WaitFor(t, 5*time.Second, "the failover in the distributor's /metrics", func() error {
		code, b, err := c.Do(t.Context(), http.MethodGet, c.Dist.URL()+"/metrics", nil)
		text = string(b)
		switch {
		case err != nil:
			return err
		case code != http.StatusOK:
			return fmt.Errorf("HTTP %d", code)
		case !strings.Contains(text, `hraftd_distributor_failovers_total{shard="0"} 1`):
			return errors.New("no failover counted for shard 0")
		}
		return nil
	})
	var count, sum string
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(line, `hraftd_distributor_leader_discovery_seconds_count{shard="0"} `); ok {
			count = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, `hraftd_distributor_leader_discovery_seconds_sum{shard="0"} `); ok {
			sum = strings.TrimSpace(v)
		}
	}
	if count != "1" {
		t.Fatalf("leader_discovery_seconds_count for shard 0 is %q, want 1", count)
	}
	t.Logf("leader discovery for shard 0, as the distributor measured it: %ss", sum)
}
