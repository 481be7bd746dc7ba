package kv

import (
	"errors"
	"strings"
	"testing"
)

func TestParseReadLevel(t *testing.T) {
	for in, want := range map[string]ReadLevel{"": ReadNone, "none": ReadNone, "weak": ReadWeak, "linearizable": ReadLinearizable} {
		if got, err := ParseReadLevel(in); err != nil || got != want {
			t.Errorf("ParseReadLevel(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"strong", "Linearizable", " none"} {
		if _, err := ParseReadLevel(in); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "use none, weak or linearizable") {
			t.Errorf("ParseReadLevel(%q): %v, want ErrInvalid naming the levels", in, err)
		}
	}
}

func TestCheckWriteID(t *testing.T) {
	if err := CheckWriteID(strings.Repeat("x", MaxWriteIDBytes)); err != nil {
		t.Errorf("a %d-byte ID: %v", MaxWriteIDBytes, err)
	}
	if err := CheckWriteID(strings.Repeat("x", MaxWriteIDBytes+1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("a %d-byte ID: %v, want ErrInvalid", MaxWriteIDBytes+1, err)
	}
}
