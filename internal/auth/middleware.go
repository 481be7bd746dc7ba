package auth

import (
	"fmt"
	"net/http"

	"github.com/kvraft/hraftd/internal/httpx"
)

// credentialsHint says how to send credentials, for 401 answers.
const credentialsHint = "send a username and password (curl -u USER:PASS; " +
	"in Postman, Authorization > Basic Auth) or, over HTTPS, a client certificate " +
	"signed by the cluster's CA (curl --cert admin.crt --key admin.key)"

// Require wraps h so that it runs only for requests allowed perm; others
// get a JSON 401 (no or wrong credentials, with WWW-Authenticate so that a
// browser asks for a password) or 403 (known user, missing permission).
// h finds the user with UserFrom.
func (s *Store) Require(perm Perm, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, ok := s.Check(w, r, perm)
		if !ok {
			return
		}
		h.ServeHTTP(w, r.WithContext(WithUser(r.Context(), user)))
	})
}

// Check is Require for a handler that learns the permission it needs only
// once it has read the request: it returns the user and true if r may do
// perm, and otherwise answers 401 or 403 itself and returns false.
func (s *Store) Check(w http.ResponseWriter, r *http.Request, perm Perm) (string, bool) {
	u := s.current()
	user, out, why := s.identify(u, r)
	if out == rejected {
		s.challenge(w, fmt.Sprintf("%s: %s", why, credentialsHint))
		return "", false
	}
	have := u.permsOf(user)
	if have.has(perm) {
		return user, true
	}
	if out == anonymous {
		s.challenge(w, fmt.Sprintf("this needs the %q permission, which requests without credentials do not have: %s",
			perm, credentialsHint))
		return "", false
	}
	httpx.WriteError(w, http.StatusForbidden, fmt.Sprintf(
		"user %q lacks the %q permission (it has: %s); an operator can grant it in the users file", user, perm, have))
	return "", false
}

// challenge answers 401 with a Basic challenge.
func (s *Store) challenge(w http.ResponseWriter, msg string) { Challenge(w, s.cfg.Realm, msg) }

// Challenge answers 401 (JSON, msg) with a Basic challenge for realm, so
// that a browser asks for a password.
func Challenge(w http.ResponseWriter, realm, msg string) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q, charset=\"UTF-8\"", realm))
	httpx.WriteError(w, http.StatusUnauthorized, msg)
}

// Checker is what a server needs to guard its routes (Store is one):
// Check lets r through with its user if it may do perm, and otherwise
// answers 401 or 403 itself.
type Checker interface {
	Check(w http.ResponseWriter, r *http.Request, perm Perm) (user string, ok bool)
}

var _ Checker = (*Store)(nil)
