package cluster

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLogTail(t *testing.T) {
	dir := t.TempDir()
	p := &proc{logPath: filepath.Join(dir, "n.log")}
	if err := os.WriteFile(p.logPath, []byte("one\ntwo\nthree\nfour\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := p.logTail(2); got != "three\nfour" {
		t.Errorf("logTail(2) = %q, want %q", got, "three\nfour")
	}
	if got := p.logTail(10); got != "one\ntwo\nthree\nfour" {
		t.Errorf("logTail(10) = %q, want the whole log", got)
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err == nil {
		t.Errorf("a config without Dir and Hraftd validated")
	}
	c.Dir, c.Hraftd = t.TempDir(), "/bin/true"
	if err := c.Validate(); err != nil {
		t.Errorf("Validate = %v, want nil", err)
	}
}
