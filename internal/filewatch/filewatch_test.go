package filewatch

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestCheckReloadsOnlyOnChange(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(name, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(a, "1")
	write(b, "1")
	w := New(0, a, "", b) // interval 0: every check is due
	reloads := 0
	count := func() error { reloads++; return nil }

	if err := w.Check(true, count); err != nil || reloads != 1 {
		t.Fatalf("forced first check: err %v, reloads %d; want one reload", err, reloads)
	}
	if err := w.Check(false, count); err != nil || reloads != 1 {
		t.Fatalf("check of unchanged files: err %v, reloads %d; want no reload", err, reloads)
	}
	write(b, "22") // size changes
	if err := w.Check(false, count); err != nil || reloads != 2 {
		t.Fatalf("check after a change: err %v, reloads %d; want a reload", err, reloads)
	}

	// A failed reload is not retried until the files change again.
	write(a, "3")
	failed := errors.New("half-written")
	if err := w.Check(false, func() error { return failed }); !errors.Is(err, failed) {
		t.Fatalf("failing reload: err %v", err)
	}
	if err := w.Check(false, count); err != nil || reloads != 2 {
		t.Fatalf("check after a failed reload of unchanged files: err %v, reloads %d; want none", err, reloads)
	}
	write(a, "44")
	if err := w.Check(false, count); err != nil || reloads != 3 {
		t.Fatalf("check after the repair: err %v, reloads %d; want a reload", err, reloads)
	}

	os.Remove(b)
	if err := w.Check(false, count); err == nil {
		t.Error("a missing file was not reported")
	}
}

func TestCheckHonoursTheInterval(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, []byte("1"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := New(time.Hour, name)
	reloads := 0
	count := func() error { reloads++; return nil }
	if err := w.Check(true, count); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte("22"), 0o600); err != nil {
		t.Fatal(err)
	}
	if w.Due() {
		t.Error("a check is due right after one")
	}
	if err := w.Check(false, count); err != nil || reloads != 1 {
		t.Errorf("check within the interval: err %v, reloads %d; want no stat and no reload", err, reloads)
	}
}

func TestConcurrentChecksReloadOnce(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, []byte("1"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := New(time.Hour, name)
	var mu sync.Mutex
	reloads := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_ = w.Check(false, func() error { mu.Lock(); reloads++; mu.Unlock(); return nil })
		})
	}
	wg.Wait()
	if reloads != 1 {
		t.Errorf("%d reloads from concurrent checks, want 1", reloads)
	}
}
