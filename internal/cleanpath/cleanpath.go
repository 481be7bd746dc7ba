// Package cleanpath says whether a request path is one net/http's ServeMux
// serves as it is. The mux answers any other path ("." or ".." elements,
// "//") with an HTML redirect to its cleaned form; the node and the
// distributor answer it with a JSON 400 instead (Refusal), before routing,
// so that bad input always gets a JSON error, and so that the node's
// direct key route (http/keyroute.go) only ever sees paths the mux would
// route unchanged.
package cleanpath

import (
	"fmt"
	"path"
	"strings"
)

// IsClean reports whether p, an escaped URL path starting with "/", has no
// "." or ".." elements and no empty ones ("//"); a trailing slash is
// allowed, as the mux allows it.
func IsClean(p string) bool {
	c := path.Clean(p)
	return c == p || (strings.HasSuffix(p, "/") && c+"/" == p)
}

// Refusal is the error message for a path that is not clean, or "" if p
// is clean or is not an absolute path (such as the "*" of OPTIONS *,
// which is left to net/http).
func Refusal(p string) string {
	if !strings.HasPrefix(p, "/") || IsClean(p) {
		return ""
	}
	return fmt.Sprintf(`path %q is not canonical: "." and ".." elements and empty ones ("//") are not served; `+
		`inside a key, percent-encode them (%%2E for ".", %%2F for "/")`, p)
}
