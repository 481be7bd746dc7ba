package httpx

import (
	"errors"
	"strings"
	"testing"

	"github.com/kvraft/hraftd/kv"
)

// A lone surrogate escape is refused: Go's decoder would turn each one
// into U+FFFD, so different keys would overwrite one stored key. Pairs,
// other escapes and an escaped backslash before "u" are fine.
func TestDecodeObjectRefusesLoneSurrogates(t *testing.T) {
	for body, bad := range map[string]bool{
		`{"a\ud800":"x"}`:        true,
		`{"a\udc00":"x"}`:        true,
		`{"k":"\uD800"}`:         true,
		`{"\ud800\u0041":"x"}`:   true,
		`{"a\ud83d":"x\ude00"}`:  true,
		`{"\ud83d\ude00":"x"}`:   false,
		`{"a\\ud800":"x"}`:       false,
		`{"\u00e9\n\"\/":"x"}`:   false,
		`{"plain":"\u0041\\\\"}`: false,
	} {
		var m map[string]string
		err := DecodeObject([]byte(body), &m, false)
		if bad != (err != nil) {
			t.Errorf("%s: err %v, want refused %v", body, err, bad)
		}
		if bad && (!errors.Is(err, kv.ErrInvalid) || !strings.Contains(err.Error(), "surrogate")) {
			t.Errorf("%s: error %v does not say why", body, err)
		}
	}
}
