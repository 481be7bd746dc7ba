package main

import (
	"os"
	"runtime"
	"testing"
)

func TestKeysAreKeyBytesLong(t *testing.T) {
	for _, i := range []int{0, 7, 999_999, 1_000_000, 123_456_789} {
		if k := key(i); len(k) != keyBytes {
			t.Errorf("key(%d) = %q, %d bytes, want %d", i, k, len(k), keyBytes)
		}
	}
	if key(1) == key(10) {
		t.Error("keys collide")
	}
}

func TestReadMemOfThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	m := readMem(os.Getpid())
	if m.err != nil || m.rss <= 0 || m.anon <= 0 || m.anon+m.file > m.rss+m.rss/10 {
		t.Fatalf("readMem(self) = %+v", m)
	}
	if m := readMem(0); m.err == nil {
		t.Fatal("readMem(0) succeeded")
	}
}
