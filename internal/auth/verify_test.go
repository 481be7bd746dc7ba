package auth

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func newRequest() *http.Request { return httptest.NewRequest(http.MethodGet, "/key/k", nil) }

func TestVerifierCachesSuccessesOnly(t *testing.T) {
	v := newVerifier(time.Minute)
	u := &user{name: "alice", hash: []byte(hash(t, "secret"))}
	if v.check(u, "guess", bcrypt.MinCost) || len(v.passed) != 0 {
		t.Fatalf("a wrong password passed or was cached (%d entries)", len(v.passed))
	}
	if !v.check(u, "secret", bcrypt.MinCost) || len(v.passed) != 1 {
		t.Fatalf("the right password failed or was not cached (%d entries)", len(v.passed))
	}
	if !v.cached(v.key(u, "secret")) {
		t.Error("the cached entry is not found")
	}
	// Another hash for the same user and password is another key.
	u2 := &user{name: "alice", hash: []byte(hash(t, "secret"))}
	if v.cached(v.key(u2, "secret")) {
		t.Error("a new hash hit the old hash's cache entry")
	}
	if v.check(nil, "secret", bcrypt.MinCost) {
		t.Error("an unknown user passed")
	}
}

func TestVerifierTTLAndBound(t *testing.T) {
	v := newVerifier(time.Nanosecond)
	u := &user{name: "alice", hash: []byte(hash(t, "secret"))}
	if !v.check(u, "secret", bcrypt.MinCost) {
		t.Fatal("the right password failed")
	}
	deadline := time.Now().Add(time.Second)
	for v.cached(v.key(u, "secret")) {
		if time.Now().After(deadline) {
			t.Fatal("a cache entry outlived its TTL")
		}
	}

	v = newVerifier(time.Hour)
	for i := range maxCached + 10 {
		v.remember([32]byte{byte(i), byte(i >> 8)})
	}
	if len(v.passed) > maxCached {
		t.Errorf("the cache grew to %d entries, past its bound of %d", len(v.passed), maxCached)
	}

	v = newVerifier(-1)
	if !v.check(u, "secret", bcrypt.MinCost) || len(v.passed) != 0 {
		t.Error("a disabled cache remembered a success")
	}
}

// BenchmarkAuthenticate is the cost per request of each way to identify
// oneself, with a password hashed at bcrypt's default cost.
func BenchmarkAuthenticate(b *testing.B) {
	h, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	file := usersFile(b, entry{Username: "alice", Password: string(h), Perms: []string{"read"}},
		entry{Username: Anonymous, Perms: []string{"status"}})
	run := func(b *testing.B, ttl time.Duration, mod func(*http.Request)) {
		s, err := Load(Config{File: file, CacheTTL: ttl})
		if err != nil {
			b.Fatal(err)
		}
		r := newRequest()
		mod(r)
		for b.Loop() {
			if _, ok := s.Check(httptest.NewRecorder(), r, PermStatus); !ok {
				b.Fatal("refused")
			}
		}
	}
	password := func(r *http.Request) { r.SetBasicAuth("alice", "secret") }
	b.Run("password-cached", func(b *testing.B) { run(b, time.Minute, password) })
	b.Run("password-uncached", func(b *testing.B) { run(b, -1, password) })
	b.Run("certificate", func(b *testing.B) {
		run(b, time.Minute, func(r *http.Request) { r.TLS = certState("admin", "admin") })
	})
	b.Run("anonymous", func(b *testing.B) { run(b, time.Minute, func(*http.Request) {}) })
}

// Requests with the same credentials that miss the cache together share
// one bcrypt comparison, and a cached entry in use does not expire.
func TestVerifierOneComparisonPerKey(t *testing.T) {
	v := newVerifier(time.Minute)
	u := &user{name: "alice", hash: []byte(hash(t, "secret"))}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !v.check(u, "secret", bcrypt.MinCost) {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of 32 checks of the right password failed", failed.Load())
	}
	// Each goroutine either found the cache or joined the comparison in
	// flight.
	if n := v.compares.Load(); n != 1 {
		t.Errorf("32 concurrent checks ran %d bcrypt comparisons, want about 1", n)
	}
	key := v.key(u, "secret")
	v.mu.Lock()
	v.passed[key] = time.Now().Add(time.Millisecond).UnixNano() // about to expire
	v.mu.Unlock()
	if !v.cached(key) {
		t.Fatal("entry not found")
	}
	v.mu.Lock()
	left := time.Until(time.Unix(0, v.passed[key]))
	v.mu.Unlock()
	if left < 30*time.Second {
		t.Errorf("a hit left the entry %v to live, want it renewed to about a minute", left)
	}
}
