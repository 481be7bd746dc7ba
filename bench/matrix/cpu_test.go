package main

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseStatTicks(t *testing.T) {
	// Fields after the command name: state(3) ppid pgrp session tty_nr
	// tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15)
	// cutime(16) cstime(17) ...; cutime/cstime are children's and count
	// only when asked for.
	const tail = " S 1 2 3 0 -1 4194560 100 0 0 0 250 37 9999 8888 20 0 12 0 1234 5678 90"
	for _, tc := range []struct{ name, line string }{
		{"plain", "4242 (hraftd)" + tail},
		{"spaces and parens in comm", "4242 (my ) (odd) name)" + tail},
		{"trailing newline", "4242 (bench)" + tail + "\n"},
	} {
		got, err := parseStatTicks(tc.line, false)
		if err != nil || got != 287 {
			t.Errorf("%s: parseStatTicks = %d, %v; want 287 (250 utime + 37 stime)", tc.name, got, err)
		}
		got, err = parseStatTicks(tc.line, true)
		if err != nil || got != 287+9999+8888 {
			t.Errorf("%s: parseStatTicks with children = %d, %v; want %d", tc.name, got, err, 287+9999+8888)
		}
	}
}

func TestParseStatTicksBad(t *testing.T) {
	for _, tc := range []struct{ name, line, wantErr string }{
		{"no comm", "4242 hraftd S 1", "no ')'"},
		{"truncated", "4242 (hraftd) S 1 2 3", "fields after the command name"},
		{"non-numeric utime", "4242 (x) S 1 2 3 0 -1 4194560 100 0 0 0 abc 37", "field 14"},
		{"non-numeric stime", "4242 (x) S 1 2 3 0 -1 4194560 100 0 0 0 250 -", "field 15"},
	} {
		_, err := parseStatTicks(tc.line, false)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestTicksToDuration(t *testing.T) {
	if got := ticksToDuration(287); got != 2870*time.Millisecond {
		t.Errorf("287 ticks = %v, want 2.87s", got)
	}
}

// TestProcCPUSelf reads this test's own /proc entry: no process started,
// nothing timed, only that the real file parses.
func TestProcCPUSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/<pid>/stat is Linux's")
	}
	g := procGroups{"self": {os.Getpid()}}
	s, err := g.sample()
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := s["self"]; !ok || d < 0 {
		t.Errorf("sample = %v, want a non-negative CPU time for self", s)
	}
	if _, err := procCPU(-1, false); err == nil {
		t.Error("procCPU(-1) succeeded, want an error")
	}
}
