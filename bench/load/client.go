package load

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// NewClient returns a keep-alive client for concurrency workers. Go's
// default transport keeps only 2 idle connections per host, so at c=64 it
// would close and reopen 62 connections per round and the run would
// measure TCP handshakes and TIME_WAIT, not the server. Redirects are not
// followed: a 307 from a node means the tool is aimed at the wrong place,
// and it should show as an error rather than as a slow success.
func NewClient(concurrency int, timeout time.Duration) *http.Client {
	return NewTLSClient(concurrency, timeout, nil)
}

// NewTLSClient is NewClient with tlsCfg as its connections' TLS
// configuration (nil: the system's roots, no client certificate).
func NewTLSClient(concurrency int, timeout time.Duration, tlsCfg *tls.Config) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil, // loopback load must not detour through an environment proxy
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        concurrency + 16,
			MaxIdleConnsPerHost: concurrency + 16,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
			TLSClientConfig:     tlsCfg,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
