// Package auth authenticates the clients of the node and distributor APIs
// and says what each may do, from a users file in the shape rqlite uses:
//
//	[
//	  {"username": "alice", "password": "$2a$10$...", "perms": ["read", "write"]},
//	  {"username": "ops",   "password": "$2a$10$...", "perms": ["all"]},
//	  {"username": "*",     "perms": ["status"]},
//	  {"username": "client:reports", "perms": ["read"]}
//	]
//
// Passwords are bcrypt hashes (cmd/users makes them); a plain password is
// refused when the file loads, with the command that makes a hash, rather
// than accepted with a warning nobody reads. The permissions are read,
// write, admin (join, remove, debugging), status (status, metrics,
// dashboard) and all.
//
// Who is asking: a request with HTTP Basic credentials is that user (or
// refused, if they are wrong); otherwise a request over TLS with a client
// certificate verified against the cluster's CA is the certificate
// identity "role:CN" (see package tlsconf), e.g. "node:node1" or
// "admin:admin"; otherwise it is anonymous. A username with a colon cannot
// be sent by Basic auth, so only a certificate can be such a user.
// Certificate identities not named in the file get their role's
// permissions: admin all; node and client read, write and status (what
// forwarding and routing need). A member joining with its own certificate
// needs no admin permission; the join handler checks that claim itself
// (tlsconf.Identity.CheckClaim). The entry "*" grants permissions to
// everyone, anonymous or not.
//
// The file is re-read when it changes, at most once per ReloadInterval, on
// the request path; a file that fails to load is logged and the previous
// users stay in force.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kvraft/hraftd/internal/filewatch"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// Anonymous is the username of the entry whose permissions every request
// has, with or without credentials.
const Anonymous = "*"

// Defaults for Config.
const (
	DefaultReloadInterval = time.Second
	DefaultCacheTTL       = time.Minute
	DefaultRealm          = "hraftd"
)

// rolePerms are the permissions of a certificate identity the users file
// does not name. Operators may do everything. Members forward reads and
// writes to their leader and poll status, as clients such as the
// distributor do; neither may change membership over HTTP, so a member's
// key cannot remove the members of another group.
var rolePerms = map[string]permSet{
	tlsconf.RoleAdmin:  allPerms,
	tlsconf.RoleNode:   permBits[PermRead] | permBits[PermWrite] | permBits[PermStatus],
	tlsconf.RoleClient: permBits[PermRead] | permBits[PermWrite] | permBits[PermStatus],
}

// Config says where the users file is and how it is used.
type Config struct {
	// File is the users file.
	File string
	// ReloadInterval bounds how often requests check the file for
	// changes; 0 means DefaultReloadInterval.
	ReloadInterval time.Duration
	// CacheTTL is how long a verified password is remembered after its last
	// use; 0 means
	// DefaultCacheTTL, negative disables the cache.
	CacheTTL time.Duration
	// Realm names the protection space in WWW-Authenticate; "" means
	// DefaultRealm.
	Realm string
	// Logger receives reloads and load warnings; nil means slog.Default().
	Logger *slog.Logger
}

// Store is a loaded users file. It is safe for concurrent use.
type Store struct {
	cfg    Config
	logger *slog.Logger
	watch  *filewatch.Watch
	cur    atomic.Pointer[users]
	verify *verifier
}

// Load reads the users file named by cfg. It fails, naming the file, the
// line and the field, if the file is missing or invalid.
func Load(cfg Config) (*Store, error) {
	if cfg.File == "" {
		return nil, errors.New("auth: no users file given (-users)")
	}
	if cfg.ReloadInterval < 0 {
		return nil, errors.New("auth: ReloadInterval must not be negative")
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = DefaultReloadInterval
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.Realm == "" {
		cfg.Realm = DefaultRealm
	}
	s := &Store{cfg: cfg, logger: cfg.Logger, watch: filewatch.New(cfg.ReloadInterval, cfg.File),
		verify: newVerifier(cfg.CacheTTL)}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if err := s.watch.Check(true, s.read); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return s, nil
}

func (s *Store) read() error {
	data, err := os.ReadFile(s.cfg.File)
	if err != nil {
		return err
	}
	u, err := parse(s.cfg.File, data)
	if err != nil {
		return err
	}
	for _, w := range u.warnings {
		s.logger.Warn("users file: " + w)
	}
	s.cur.Store(u)
	return nil
}

// Reload re-reads the users file now. On failure it returns the error and
// the previous users stay in force.
func (s *Store) Reload() error { return s.check(true) }

func (s *Store) check(force bool) error {
	err := s.watch.Check(force, func() error {
		if err := s.read(); err != nil {
			return err
		}
		s.logger.Info("users file reloaded", "file", s.cfg.File)
		return nil
	})
	if err != nil {
		s.logger.Error("users file reload failed; keeping the previous users", "err", err)
	}
	return err
}

func (s *Store) current() *users {
	if s.watch.Due() {
		_ = s.check(false) // logged; the previous users stay
	}
	return s.cur.Load()
}

// Authenticate says who sent r: the user of its Basic credentials, or its
// verified client certificate's identity ("role:CN"). ok is false for a
// request with neither (anonymous: user is "") and for one whose Basic
// credentials are wrong.
func (s *Store) Authenticate(r *http.Request) (user string, ok bool) {
	user, out, _ := s.identify(s.current(), r)
	return user, out == authenticated
}

// Allowed reports whether user (as Authenticate returned it; "" for
// anonymous) has perm, directly or through the anonymous entry.
func (s *Store) Allowed(user string, perm Perm) bool {
	return s.current().permsOf(user).has(perm)
}

// outcome is how a request identified itself.
type outcome int

const (
	anonymous outcome = iota
	authenticated
	rejected // credentials were sent and are wrong
)

// identify is Authenticate with the reason for a rejection.
func (s *Store) identify(u *users, r *http.Request) (string, outcome, string) {
	if r.Header.Get("Authorization") != "" {
		name, password, ok := r.BasicAuth()
		if !ok {
			return "", rejected, "the Authorization header is not HTTP Basic: send a username and password (curl -u USER:PASS)"
		}
		if !s.verify.check(u.byName[name], password, u.dummyCost) {
			return "", rejected, "wrong username or password"
		}
		return name, authenticated, ""
	}
	if id, err := tlsconf.PeerIdentity(r.TLS); err == nil {
		return id.Role + ":" + id.Name, authenticated, ""
	}
	return "", anonymous, ""
}

func (u *users) permsOf(user string) permSet {
	p := u.anon
	if user == "" {
		return p
	}
	if e, ok := u.byName[user]; ok {
		return p | e.perms
	}
	if role, _, ok := strings.Cut(user, ":"); ok {
		p |= rolePerms[role]
	}
	return p
}

type userKey struct{}

// WithUser returns ctx carrying user, as Require does for its handler.
func WithUser(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, userKey{}, user)
}

// UserFrom is the user Require let through ("" for anonymous), for logs
// and for handlers that check a second permission.
func UserFrom(ctx context.Context) string {
	u, _ := ctx.Value(userKey{}).(string)
	return u
}
