// Package webguard is the HTTP middleware and server settings that keep a
// browser page on another site, and a client that misbehaves, from doing
// harm through the node and distributor APIs:
//
//   - cross-origin writes refused: net/http's CrossOriginProtection turns
//     away a state-changing request (POST, PUT, DELETE, ...) that a browser
//     marks as coming from another origin (Sec-Fetch-Site, or an Origin
//     that does not match Host). Requests without those headers, which is
//     every non-browser client (curl, Postman, Go's http.Client, the
//     distributor), pass, as do safe methods (GET, HEAD, OPTIONS).
//   - a Host allowlist against DNS rebinding: a page on evil.example whose
//     name is re-pointed at 127.0.0.1 reaches the server as a same-origin
//     page, with Host: evil.example. Only configured names, IP literals,
//     localhost and *.localhost are answered.
//   - security headers on every answer: a CSP and X-Frame-Options that
//     keep the dashboard out of frames and foreign scripts, nosniff, no
//     Referer, and CORP same-origin.
//   - no request bodies without a Content-Length: net/http accepts a
//     request with both Content-Length and Transfer-Encoding: chunked, lets
//     the chunked framing win and deletes Content-Length before any
//     handler runs, so no handler can tell such a request from a plain
//     chunked one. Refusing every Transfer-Encoding on requests refuses
//     both; every client of these APIs sends bodies it holds in memory,
//     with a length.
//   - server limits (NewServer, Listen): small headers, read deadlines for
//     headers and bodies, idle timeouts, and a cap on connections; and a
//     budget for the request bodies all requests in flight hold together
//     (Bodies).
package webguard

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/kvraft/hraftd/internal/httpx"
)

// DefaultCSP lets a page load scripts, styles, images and data only from
// its own origin (plus data: images, for an inline favicon), never be
// framed, and never post a form elsewhere.
const DefaultCSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Config shapes a Guard.
type Config struct {
	// AllowedHosts are the host names the server answers to besides IP
	// literals, localhost and *.localhost: typically the hosts of its
	// configured addresses and any names added by a flag. A port is
	// ignored. A name starting with a dot (".example.com") allows that
	// domain and every name under it.
	AllowedHosts []string
	// TrustedOrigins are origins ("https://ops.example:8443") whose
	// browser pages may make state-changing requests.
	TrustedOrigins []string
	// CSP is the Content-Security-Policy; "" means DefaultCSP.
	CSP string
	// HostFlag and OriginFlag are the program's flags that add an allowed
	// host and a trusted origin, named in refusals ("-allow-host").
	HostFlag, OriginFlag string
}

// Guard holds the middleware built from a Config.
type Guard struct {
	cfg   Config
	hosts map[string]bool
	// domains are the allowed names given with a leading dot.
	domains []string
	cop     *http.CrossOriginProtection
	bodies  budget // see budget.go
}

// New builds a Guard; it fails on an origin that is not scheme://host[:port].
func New(cfg Config) (*Guard, error) {
	if cfg.CSP == "" {
		cfg.CSP = DefaultCSP
	}
	if cfg.HostFlag == "" {
		cfg.HostFlag = "-allow-host"
	}
	if cfg.OriginFlag == "" {
		cfg.OriginFlag = "-trusted-origin"
	}
	g := &Guard{cfg: cfg, hosts: make(map[string]bool), cop: http.NewCrossOriginProtection()}
	for _, h := range cfg.AllowedHosts {
		h = normalizeHost(h)
		switch {
		case h == "" || h == ".":
			return nil, fmt.Errorf("webguard: empty allowed host")
		case strings.HasPrefix(h, "."):
			g.domains = append(g.domains, h)
		default:
			g.hosts[h] = true
		}
	}
	for _, o := range cfg.TrustedOrigins {
		if err := g.cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("webguard: %w", err)
		}
	}
	g.cop.SetDenyHandler(http.HandlerFunc(g.denyCrossOrigin))
	g.LimitBodies(0, 0)
	return g, nil
}

// Handler applies every guard to h, cheapest refusal first: the Host
// check, then the body framing, then the cross-origin check, then the body
// budget; the security headers are on every answer, refusals included.
func (g *Guard) Handler(h http.Handler) http.Handler {
	return g.Headers(g.Hosts(RequireLength(g.CrossOrigin(g.Bodies(h)))))
}

// CrossOrigin refuses state-changing requests from browser pages of other
// origins with a JSON 403.
func (g *Guard) CrossOrigin(h http.Handler) http.Handler { return g.cop.Handler(h) }

func (g *Guard) denyCrossOrigin(w http.ResponseWriter, r *http.Request) {
	site := r.Header.Get("Sec-Fetch-Site")
	if site == "" {
		site = "absent"
	}
	httpx.WriteError(w, http.StatusForbidden, fmt.Sprintf(
		"cross-origin request refused: a %s changes state, and this one came from a browser page on another origin "+
			"(Sec-Fetch-Site: %s, Origin: %q, Host: %q); use this server's own pages, or a non-browser client "+
			"(curl, Postman, scripts are not affected); to trust a site's pages, start the server with %s %s",
		r.Method, site, r.Header.Get("Origin"), r.Host, g.cfg.OriginFlag, originOrPlaceholder(r)))
}

func originOrPlaceholder(r *http.Request) string {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		return o
	}
	return "SCHEME://HOST:PORT"
}

// Hosts refuses requests whose Host header names a host the server does
// not answer to, with a JSON 403 saying how to add it.
func (g *Guard) Hosts(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.HostAllowed(r.Host) {
			name := normalizeHost(r.Host)
			httpx.WriteError(w, http.StatusForbidden, fmt.Sprintf(
				"host %q is not a name this server answers to (a guard against DNS rebinding); "+
					"use its IP address or a configured name, or start the server with %s %s",
				name, g.cfg.HostFlag, name))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// HostAllowed reports whether a Host header value (host or host:port) is
// answered.
func (g *Guard) HostAllowed(hostport string) bool {
	if hostport == "" {
		// Only HTTP/1.0 requests may omit Host (net/http refuses an
		// HTTP/1.1 one), and browsers always send it: not a rebinding.
		return true
	}
	h := normalizeHost(hostport)
	if h == "" {
		// "Host: :11000", as Go's client sends for http://:11000 (the
		// walkthrough's -join :11000): no name to rebind.
		return true
	}
	if net.ParseIP(h) != nil {
		// A page can only reach an IP literal from an origin that is
		// that IP, so rebinding needs a name.
		return true
	}
	// Browsers resolve localhost and *.localhost to loopback themselves,
	// never through DNS (RFC 6761), so these cannot be rebound either.
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || g.hosts[h] {
		return true
	}
	return slices.ContainsFunc(g.domains, func(d string) bool {
		return strings.HasSuffix(h, d) || h == d[1:]
	})
}

// normalizeHost strips a port and IPv6 brackets, a trailing dot, and case.
func normalizeHost(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if len(h) > 1 {
		h = strings.TrimSuffix(h, ".")
	}
	return strings.ToLower(h)
}

// Headers sets the security headers on every answer of h. A handler may
// override one (say, a looser CSP for one page) by setting it itself.
func (g *Guard) Headers(h http.Handler) http.Handler {
	// The value slices are built once and shared by every answer, which
	// saves an allocation per header per request; sharing is safe because
	// each has len == cap, so an Add by a handler copies instead of
	// writing into it, and net/http only reads them.
	set := map[string][]string{
		"Content-Security-Policy":      {g.cfg.CSP},
		"X-Frame-Options":              {"DENY"},
		"X-Content-Type-Options":       {"nosniff"},
		"Referrer-Policy":              {"no-referrer"},
		"Cross-Origin-Resource-Policy": {"same-origin"},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		for k, v := range set {
			hd[k] = v
		}
		h.ServeHTTP(w, r)
	})
}

// RequireLength refuses a request that frames its body with
// Transfer-Encoding (see the package comment for why), with a JSON 411,
// and closes the connection, whose framing it cannot trust.
func RequireLength(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close")
			httpx.WriteError(w, http.StatusLengthRequired, fmt.Sprintf(
				"request bodies must be sent with a Content-Length; Transfer-Encoding (%s) is refused, "+
					"so that a request carrying both cannot be read two ways; "+
					"curl -d/--data-binary and HTTP libraries send a Content-Length for a body held in memory",
				strings.Join(r.TransferEncoding, ", ")))
			return
		}
		h.ServeHTTP(w, r)
	})
}
