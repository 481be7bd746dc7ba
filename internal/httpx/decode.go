package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"unicode/utf8"

	"github.com/kvraft/hraftd/kv"
)

// jsonSpace is the whitespace JSON allows around a value. bytes.TrimSpace
// would also strip \v, \f, U+0085 and U+00A0, and so accept bodies that are
// not JSON.
const jsonSpace = " \t\r\n"

// DecodeObject decodes exactly one JSON object from body into v. Invalid
// UTF-8 (which Go's decoder would silently replace), other JSON types,
// trailing data and malformed JSON are refused with an error wrapping
// kv.ErrInvalid that says what to send instead. With strict, fields that v
// does not have are refused too: a misspelt optional field would otherwise
// be silently ignored.
func DecodeObject(body []byte, v any, strict bool) error {
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: the body is not valid UTF-8", kv.ErrInvalid)
	}
	if esc, ok := loneSurrogate(body); ok {
		return fmt.Errorf(`%w: the escape %s is half of a UTF-16 surrogate pair with no other half; it is not a character (JSON decoders turn it into U+FFFD, so two different keys would name one)`, kv.ErrInvalid, esc)
	}
	trimmed := bytes.Trim(body, jsonSpace)
	if len(trimmed) == 0 {
		return fmt.Errorf("%w: the body is empty; send a JSON object", kv.ErrInvalid)
	}
	if trimmed[0] != '{' {
		return fmt.Errorf("%w: the body must be a JSON object%s", kv.ErrInvalid, notJSONHint(trimmed))
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return decodeError(err, strict)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: unexpected data after the JSON object", kv.ErrInvalid)
	}
	return nil
}

// notJSONHint explains the commonest way to send a body that is not JSON at
// all: a form (curl -d k=v, Postman's form-data or x-www-form-urlencoded).
func notJSONHint(body []byte) string {
	if bytes.IndexByte(body, '=') > 0 && bytes.IndexAny(body, "{}[]\"") < 0 {
		return ` (this one looks form-encoded: send raw JSON with Content-Type: application/json, ` +
			`e.g. curl -d '{"k":"v"}', or in Postman Body > raw > JSON)`
	}
	return ""
}

func decodeError(err error, strict bool) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("%w: malformed JSON: %v", kv.ErrInvalid, err)
	}
	if te.Field == "" {
		return fmt.Errorf("%w: the body must be a JSON object of strings; found a JSON %s", kv.ErrInvalid, te.Value)
	}
	want := "a string"
	if strict {
		want = "a JSON string"
		if te.Type != nil && te.Type.Kind() == reflect.Slice {
			want = "a JSON array of strings"
		}
	}
	return fmt.Errorf("%w: %q must be %s, not a JSON %s", kv.ErrInvalid, te.Field, want, te.Value)
}

// loneSurrogate finds a \uD800-\uDFFF escape that is not a high surrogate
// followed by a low one, and returns it. Backslashes occur in valid JSON
// only inside strings, so the body is scanned without tracking them.
func loneSurrogate(b []byte) (string, bool) {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+1 >= len(b) || b[i+1] != 'u' {
			i++ // \\, \" and the like: skip the escaped byte
			continue
		}
		r, ok := hex4(b, i+2)
		if !ok {
			continue // malformed: the decoder will say so
		}
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			if lo, ok := hex4(b, i+8); ok && i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' && lo >= 0xDC00 && lo <= 0xDFFF {
				i += 11
				continue
			}
			return string(b[i : i+6]), true
		case r >= 0xDC00 && r <= 0xDFFF:
			return string(b[i : i+6]), true
		}
		i += 5
	}
	return "", false
}

// hex4 reads four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
