package browser

import (
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/cluster"
)

// attackPage is a page on another origin that tries every way a browser
// page can write without reading the answer: no-cors fetches (which need
// no CORS preflight) to the distributor's /set and a node's /key, and HTML
// forms with enctype text/plain, whose body (name=value) a server can read
// as JSON: {"key":"=x"}.
// Its title becomes "sent" once the fetches have settled.
var attackPage = template.Must(template.New("page").Parse(`<!doctype html>
<title>loading</title>
<form id="node" method="POST" action="{{.Node}}/key" enctype="text/plain" target="sink">
<input name='{"{{.Prefix}}-form-node":"' value='x"}'></form>
<form id="dist" method="POST" action="{{.Dist}}/set" enctype="text/plain" target="sink">
<input name='{"clave":"{{.Prefix}}-form-dist","valor":"' value='x"}'></form>
<iframe name="sink"></iframe>
<script>
const opts = body => ({method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body});
Promise.allSettled([
  fetch("{{.Dist}}/set", opts(JSON.stringify({clave: "{{.Prefix}}-fetch-dist", valor: "x"}))),
  fetch("{{.Node}}/key", opts(JSON.stringify({"{{.Prefix}}-fetch-node": "x"}))),
]).then(() => { document.title = "sent"; });
</script>`))

type pageVars struct{ Node, Dist, Prefix string }

// TestCrossOriginPageWritesNothing opens, in headless Chromium, a page of
// an origin the programs do not trust and one they were told to trust
// (-trusted-origin), each sending the same writes to a node and to the
// distributor. The untrusted page must write nothing; the trusted one's
// writes land, which shows the browser's requests do reach the programs
// and would be applied if the guard let them through.
func TestCrossOriginPageWritesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes and a browser; skipped with -short")
	}
	p := openBrowser(t)
	var vars struct{ evil, trusted pageVars }
	serve := func(v *pageVars) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_ = attackPage.Execute(w, v)
		}))
		t.Cleanup(s.Close)
		return s
	}
	evil, trusted := serve(&vars.evil), serve(&vars.trusted)

	cfg := cluster.DefaultConfig()
	cfg.Shards = 1
	cfg.NodeArgs = []string{"-trusted-origin", trusted.URL}
	cfg.DistributorArgs = []string{"-trusted-origin", trusted.URL}
	c := cluster.NewTest(t, cfg)
	ctx := t.Context()
	node := c.Shards[0][1] // a follower or the leader: either must refuse
	vars.evil = pageVars{Node: node.URL(), Dist: c.Dist.URL(), Prefix: "evil"}
	vars.trusted = pageVars{Node: node.URL(), Dist: c.Dist.URL(), Prefix: "trusted"}

	for _, pg := range []struct {
		name string
		url  string
	}{{"untrusted", evil.URL}, {"trusted", trusted.URL}} {
		p.run("opening the "+pg.name+" page", chromedp.Navigate(pg.url))
		p.waitFor(15*time.Second, "the "+pg.name+" page's fetches to settle", "document.title", "sent")
		for _, form := range []string{"node", "dist"} {
			p.run("submitting the "+pg.name+" page's "+form+" form",
				chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%q).submit()`, form)))
			// The form's answer loads into the iframe; wait until it has.
			p.waitFor(15*time.Second, "the "+form+" form's answer",
				`(() => { try { return frames.sink.document.body.innerText.length > 0 ? "answered" : "waiting" } catch (e) { return "answered" } })()`, "answered")
			p.run("reloading the "+pg.name+" page", chromedp.Navigate(pg.url))
			p.waitFor(15*time.Second, "the "+pg.name+" page to load again", "document.title", "sent")
		}
	}

	leader := c.Leader(ctx, 0)
	if leader == nil {
		t.Fatal("shard 0 has no leader")
	}
	keys := []string{"fetch-dist", "fetch-node", "form-node", "form-dist"}
	for _, k := range keys {
		// The trusted page's writes land (the control): wait for each.
		if err := c.WaitKey(ctx, leader, "trusted-"+k); err != nil {
			t.Errorf("the trusted page's write %q never landed (the control failed: the browser's requests may not reach the programs): %v", "trusted-"+k, err)
		}
	}
	// Everything the trusted page wrote has been applied on the leader;
	// the untrusted page's requests were sent before, so they are either
	// applied by now or refused. Read at linearizable to be sure.
	for _, k := range keys {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, leader.URL()+"/key/evil-"+k+"?level=linearizable", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if found := resp.Header.Get(api.HeaderFound); resp.StatusCode != http.StatusOK || found != "false" {
			t.Errorf("the untrusted page wrote %q: GET answered %d, found=%s", "evil-"+k, resp.StatusCode, found)
		}
	}
	p.noExceptions()
}
