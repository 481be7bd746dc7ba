package jsonenc

import (
	"encoding/json"
	"maps"
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

func TestAppendMembers(t *testing.T) {
	m := map[string]string{"a": "1", "b<": "\u2028", "": ""}
	b := append(AppendMembers([]byte{'{'}, m), '}')
	var got map[string]string
	if err := json.Unmarshal(b, &got); err != nil || !maps.Equal(got, m) {
		t.Fatalf("%s decodes to %v (%v), want %v", b, got, err, m)
	}
	if s := string(AppendMembers(nil, nil)); s != "" {
		t.Errorf("no pairs gave %q", s)
	}
}
