package cleanpath

import "testing"

func TestIsCleanAndRefusal(t *testing.T) {
	for _, tc := range []struct {
		path  string
		clean bool
	}{
		{"/", true},
		{"/status", true},
		{"/key/a/b", true},
		{"/key/a/", true},
		{"/key/a%2F..%2Fb", true}, // escaped: not path elements
		{"/key/../status", false},
		{"/key/./a", false},
		{"/key//a", false},
		{"//status", false},
		{"/key/a/.", false},
		{"/key/a/..", false},
		{"/key/a//", false},
	} {
		if got := IsClean(tc.path); got != tc.clean {
			t.Errorf("IsClean(%q) = %v, want %v", tc.path, got, tc.clean)
		}
		if got := Refusal(tc.path); (got == "") != tc.clean {
			t.Errorf("Refusal(%q) = %q", tc.path, got)
		}
	}
	if got := Refusal("*"); got != "" {
		t.Errorf("Refusal(*) = %q, want none: not an absolute path", got)
	}
}
