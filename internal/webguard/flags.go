package webguard

import (
	"net"
	"os"
	"strings"
)

// ForServer builds the Guard both programs use: it answers to the hosts of
// its own configured addresses, this machine's host name, and the names in
// allowHosts (comma-separated, the -allow-host flag); pages of the origins
// in trustedOrigins (comma-separated, -trusted-origin) may write.
func ForServer(allowHosts, trustedOrigins string, ownAddrs ...string) (*Guard, error) {
	cfg := Config{AllowedHosts: splitList(allowHosts), TrustedOrigins: splitList(trustedOrigins)}
	for _, a := range ownAddrs {
		h := a
		if host, _, err := net.SplitHostPort(a); err == nil {
			h = host
		}
		if h != "" {
			cfg.AllowedHosts = append(cfg.AllowedHosts, h)
		}
	}
	if name, err := os.Hostname(); err == nil && name != "" {
		cfg.AllowedHosts = append(cfg.AllowedHosts, name)
	}
	return New(cfg)
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
