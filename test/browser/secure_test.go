package browser

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/internal/cluster"
)

// TestDashboardWithTLSAndAuth opens the dashboard of a cluster run with
// TLS and -auth, as a user who typed the admin's password (the browser
// then sends it with every request of the page, which the header set here
// stands for): the page must show the shard's leader over HTTPS and set
// and read a key through its form; without the password the page does not
// load.
func TestDashboardWithTLSAndAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes and a browser; skipped with -short")
	}
	p := openBrowser(t)
	cfg := cluster.DefaultConfig()
	cfg.Shards = 1
	cfg.Secure = true
	cfg.DistributorArgs = []string{"-poll", "250ms"}
	c := cluster.NewTest(t, cfg)
	ctx := p.ctx // commands go to the page's target
	t.Cleanup(p.screenshotOnFailure)

	// Without the password the browser gets the 401 challenge, which
	// headless Chromium, having nobody to ask, turns into a load error.
	nctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	err := chromedp.Do(nctx, chromedp.Navigate(c.Dist.URL()+"/"))
	cancel()
	if err == nil || !strings.Contains(err.Error(), "AUTH") {
		t.Fatalf("the dashboard without a password: %v, want the browser's authentication error", err)
	}

	admin := c.Security.Admin
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(admin.Name+":"+admin.Password))
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": auth}}); err != nil {
		t.Fatal(err)
	}
	p.run("opening the dashboard with the password", chromedp.Navigate(c.Dist.URL()+"/"))
	l := c.Leader(t.Context(), 0)
	if l == nil {
		t.Fatal("shard 0 has no leader")
	}
	p.waitFor(10*time.Second, fmt.Sprintf("the page to show %s leading shard 0", l.ID), leaderOnPage(0), l.ID)

	const key = "batman"
	if router.ShardOf(key, 1) != 0 {
		t.Fatal("one shard: every key is in shard 0")
	}
	p.run("setting a key through the form",
		chromedp.SetValue(chromedp.ID("kv-key"), key),
		chromedp.SetValue(chromedp.ID("kv-value"), "bruce"),
		chromedp.Click(chromedp.ID("kv-set")),
	)
	p.waitFor(10*time.Second, "the set to succeed", `document.getElementById("kv-result").dataset.status || ""`, "200")
	p.run("reading it back", chromedp.Click(chromedp.ID("kv-get")))
	p.waitFor(10*time.Second, "the get to show the value", `document.getElementById("kv-result").textContent.includes('"bruce"') ? "yes" : "no"`, "yes")
	p.screenshot("dashboard-secure.png")
	p.noExceptions()
}
