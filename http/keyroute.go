package httpd

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/kvraft/hraftd/internal/cleanpath"
)

// keyGetPattern is the route of a single-key read, as registered on the
// mux and as the metrics label it.
const keyGetPattern = "GET /key/{key...}"

// keyGetPath returns the key of a GET /key/{key...} request when the mux
// would route it there as it is, without a redirect: the same key the
// mux's r.PathValue("key") would give. ok is false for anything else
// (including paths the mux would clean and redirect), which then goes
// through the mux as before. It exists because the mux's matching makes
// about half the allocations of a level=none read (BenchmarkGetNone), the
// request a node serves most; TestKeyGetPathAgreesWithMux and
// FuzzKeyGetPath hold it to the mux's answer.
func keyGetPath(r *http.Request) (key string, ok bool) {
	const prefix = "/key/"
	p := r.URL.EscapedPath()
	if len(p) <= len(prefix) || !strings.HasPrefix(p, prefix) || !cleanpath.IsClean(p) {
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
