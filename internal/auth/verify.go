package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	stdhash "hash"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// maxCached bounds the cache of verified passwords: past it, expired
// entries are swept, and if none expired the cache starts over.
const maxCached = 4096

// verifier checks passwords against bcrypt hashes. bcrypt is slow on
// purpose (tens of milliseconds per check), far too slow to run on every
// request of a client that sends its password each time, as Basic auth
// does; so a success is remembered for a short TTL, keyed by an HMAC of
// the username, the password and the stored hash. A changed hash (a
// reload, a new password) therefore misses the cache at once, and the
// cache holds no password, only keys that a per-process random secret
// makes useless outside this process. Failures are never cached: each
// costs a full bcrypt, which is what slows guessing down.
type verifier struct {
	ttl    time.Duration // <= 0: no cache
	secret []byte

	mu     sync.Mutex
	passed map[[sha256.Size]byte]int64 // key -> expiry, UnixNano

	// slots bounds concurrent bcrypt comparisons to half the CPUs, so a
	// flood of wrong passwords slows logins down but leaves CPU for the
	// requests that carry cached or no credentials.
	slots chan struct{}

	// inflight holds the bcrypt comparison running for a key (under mu):
	// requests with the same credentials that miss the cache at once, as
	// a busy client's do when it starts, wait for that one answer instead
	// of queueing a bcrypt each behind slots.
	inflight map[[sha256.Size]byte]*comparison

	// compares counts bcrypt comparisons (for tests).
	compares atomic.Int64

	// macs reuses HMAC states: key runs on every request with a
	// password, and a new HMAC costs two SHA-256 states and their pads.
	macs sync.Pool
}

// dummies are hashes of nothing in particular, one per cost, compared
// against when the user is unknown, so that an unknown name takes as long
// to refuse as a wrong password and does not reveal which names exist.
var dummies sync.Map // int -> []byte

func dummyHash(cost int) []byte {
	if h, ok := dummies.Load(cost); ok {
		return h.([]byte)
	}
	h, err := bcrypt.GenerateFromPassword([]byte("no such user"), cost)
	if err != nil { // cost out of range: cannot happen for a loaded file
		h, _ = bcrypt.GenerateFromPassword([]byte("no such user"), bcrypt.DefaultCost)
	}
	dummies.Store(cost, h)
	return h
}

func newVerifier(ttl time.Duration) *verifier {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails
	v := &verifier{
		ttl:      ttl,
		secret:   secret,
		passed:   make(map[[sha256.Size]byte]int64),
		inflight: make(map[[sha256.Size]byte]*comparison),
		slots:    make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
	}
	v.macs.New = func() any { return hmac.New(sha256.New, secret) }
	return v
}

// check reports whether password is u's. u is nil for an unknown user,
// whose check costs as much as a real one of cost dummyCost.
func (v *verifier) check(u *user, password string, dummyCost int) bool {
	if u == nil || u.hash == nil {
		v.compare(dummyHash(dummyCost), password)
		return false
	}
	key := v.key(u, password)
	if v.cached(key) {
		return true
	}
	return v.compareOnce(key, u.hash, password)
}

// comparison is one bcrypt comparison that several requests wait for.
type comparison struct {
	done chan struct{}
	ok   bool
}

// compareOnce compares password with hash and caches a success, or waits
// for the comparison of the same key already running. The success is
// cached before the comparison stops being in flight, so a request never
// finds neither and runs a second one.
func (v *verifier) compareOnce(key [sha256.Size]byte, hash []byte, password string) bool {
	v.mu.Lock()
	if c, running := v.inflight[key]; running {
		v.mu.Unlock()
		<-c.done
		return c.ok
	}
	c := &comparison{done: make(chan struct{})}
	v.inflight[key] = c
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		delete(v.inflight, key)
		v.mu.Unlock()
		close(c.done)
	}()
	c.ok = v.compare(hash, password)
	if c.ok {
		v.remember(key)
	}
	return c.ok
}

func (v *verifier) compare(hash []byte, password string) bool {
	v.compares.Add(1)
	v.slots <- struct{}{}
	defer func() { <-v.slots }()
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}

func (v *verifier) key(u *user, password string) [sha256.Size]byte {
	m := v.macs.Get().(stdhash.Hash)
	defer v.macs.Put(m)
	m.Reset()
	// Lengths first, so that no two (name, password, hash) triples
	// concatenate to the same bytes. One buffer for all of it: each
	// Write to the interface would make its argument escape.
	var stack [256]byte
	buf := stack[:0]
	for _, s := range []string{u.name, password, string(u.hash)} {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
		buf = append(buf, s...)
	}
	m.Write(buf)
	var k [sha256.Size]byte
	m.Sum(k[:0])
	return k
}

func (v *verifier) cached(key [sha256.Size]byte) bool {
	if v.ttl <= 0 {
		return false
	}
	now := time.Now().UnixNano()
	v.mu.Lock()
	defer v.mu.Unlock()
	exp, ok := v.passed[key]
	if !ok || now >= exp {
		return false
	}
	// A hit renews the entry, so a client in steady use never pays a
	// bcrypt again. That is safe: the key covers the stored hash, so a
	// changed password or a removed user never finds an old entry; the
	// expiry only bounds how long unused entries are kept.
	v.passed[key] = now + int64(v.ttl)
	return true
}

func (v *verifier) remember(key [sha256.Size]byte) {
	if v.ttl <= 0 {
		return
	}
	now := time.Now().UnixNano()
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.passed) >= maxCached {
		for k, exp := range v.passed {
			if exp <= now {
				delete(v.passed, k)
			}
		}
		if len(v.passed) >= maxCached {
			clear(v.passed)
		}
	}
	v.passed[key] = now + int64(v.ttl)
}
