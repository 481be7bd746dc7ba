package httpd

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/auth"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// routePerm is the permission a request needs. The health probe needs
// none; unknown routes need what their method suggests (status to look,
// admin to change), so a route added without an entry here is closed,
// not open.
func routePerm(method, path string) (perm auth.Perm, needed bool) {
	switch {
	case path == "/readyz":
		return "", false
	case path == "/status" || path == "/metrics":
		return auth.PermStatus, true
	case path == "/join" || path == "/remove" || strings.HasPrefix(path, "/debug/"):
		return auth.PermAdmin, true
	case path == "/read" || (strings.HasPrefix(path, "/key") && (method == http.MethodGet || method == http.MethodHead)):
		return auth.PermRead, true
	case strings.HasPrefix(path, "/key"):
		return auth.PermWrite, true
	case method == http.MethodGet || method == http.MethodHead:
		return auth.PermStatus, true
	}
	return auth.PermAdmin, true
}

// authorize lets r through or answers it. (Only called when the node has
// TLS or a users file.)
//
// A member's certificate is trusted for what members do: a request a
// member forwards (it checked the sender's permission itself; for an
// admin route, the sender must be a current member naming itself in the
// header) and a join (handleJoin then checks that the certificate proves
// the joiner's claim). With a users file, everything else is that file's decision.
// With TLS but no users file, keys and status are open to every client
// that completes the handshake, and membership needs an admin certificate:
// a cluster whose Raft links are closed to strangers should not let a
// stranger change who its members are.
func (s *Service) authorize(w http.ResponseWriter, r *http.Request) bool {
	perm, needed := routePerm(r.Method, r.URL.Path)
	if !needed {
		return true
	}
	id, err := tlsconf.PeerIdentity(r.TLS)
	hasCert := err == nil
	if hasCert && id.Role == tlsconf.RoleNode {
		if r.URL.Path == "/join" && r.Method == http.MethodPost {
			return true
		}
		if r.Header.Get(api.HeaderForwarded) != "" && (perm != auth.PermAdmin || s.forwardedByMember(r, id)) {
			return true
		}
	}
	if s.cfg.Auth != nil {
		_, ok := s.cfg.Auth.Check(w, r, perm)
		return ok
	}
	if perm != auth.PermAdmin || (hasCert && id.Role == tlsconf.RoleAdmin) {
		return true
	}
	who := "a client without a certificate"
	if hasCert {
		who = fmt.Sprintf("certificate %s (role %q)", id.Name, id.Role)
	}
	auth.Challenge(w, auth.DefaultRealm, fmt.Sprintf(
		"%s may not change membership or use debugging routes of a TLS cluster: present an admin certificate "+
			"(curl --cert certs/admin.crt --key certs/admin.key), or run the nodes with -auth and use a user with the admin permission", who))
	return false
}

// forwardedByMember reports whether r, sent with node certificate id and
// the forwarded header, comes from a current member of this group that
// names itself in the header: only such a request carries a permission
// that member already checked. Any other holder of a node certificate of
// the CA (a node of another group, a rogue with a stolen key) gets no
// more than a node's own rights.
func (s *Service) forwardedByMember(r *http.Request, id tlsconf.Identity) bool {
	if r.Header.Get(api.HeaderForwarded) != id.Name {
		return false
	}
	st, err := s.store.Status()
	if err != nil {
		return false
	}
	for _, m := range st.Members {
		if m.ID == id.Name {
			return true
		}
	}
	return false
}

// checkJoinClaim checks that a joiner who authenticated with a node
// certificate claims only what the certificate proves: its ID (the
// certificate's name) and addresses its certificate covers. A join sent by
// an operator (admin) is not a claim about the sender; admit checks the
// joiner's own certificate before it may vote. A join a member forwards
// was checked by that member.
func (s *Service) checkJoinClaim(r *http.Request, req api.JoinRequest) error {
	id, err := tlsconf.PeerIdentity(r.TLS)
	if err != nil || id.Role != tlsconf.RoleNode {
		return nil
	}
	if r.Header.Get(api.HeaderForwarded) != "" && s.forwardedByMember(r, id) {
		return nil
	}
	if err := id.CheckClaim(tlsconf.RoleNode, req.ID, req.Addr); err != nil {
		return err
	}
	if req.HTTPAddr != "" {
		return id.CheckClaim(tlsconf.RoleNode, "", req.HTTPAddr)
	}
	return nil
}
