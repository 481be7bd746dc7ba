package httpd

import (
	"net/url"
	"strings"
)

// keyGetPattern is the route of a single-key read, as registered on the
// mux and as the metrics label it.
const keyGetPattern = "GET /key/{key...}"

// keyGetPath returns the key of a GET /key/{key...} request whose escaped
// path is p, when the mux would route it there: the same key the mux's
// r.PathValue("key") would give. p must be clean (cleanpath.IsClean):
// ServeHTTP refuses every other path before routing, so the check is not
// made twice on the hottest request. ok is false for anything else, which
// then goes through the mux. It exists because the mux's matching is a
// large share of the allocations of a level=none read (BenchmarkGetNone),
// the request a node serves most; TestKeyGetPathAgreesWithMux and
// FuzzKeyGetPath hold it to the mux's answer.
func keyGetPath(p string) (key string, ok bool) {
	const prefix = "/key/"
	if len(p) <= len(prefix) || !strings.HasPrefix(p, prefix) {
		return "", false
	}
	// Under /key/ the only route is the {key...} wildcard, which takes the
	// rest of the path, unescaped; a rest that is not valid escaping is
	// taken as it is, as the mux does.
	rest := p[len(prefix):]
	if k, err := url.PathUnescape(rest); err == nil {
		return k, true
	}
	return rest, true
}
