package jsonenc

import (
	"encoding/json"
	"testing"
)

// FuzzAppendString checks the hand-written encoder against
// encoding/json, byte for byte.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uote\back`, "ctl\x00\x1f\n\r\t", "<a&b>", "\u2028\u2029", "bad\xffutf8", "é日本語🙂"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
	})
}
