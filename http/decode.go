package httpd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/kvraft/hraftd/store"
)

// DecodeKeyBody parses the body of POST /key: one JSON object whose values
// are all strings, with at least one pair. Anything else — another JSON
// type, a non-string value, trailing data, invalid UTF-8 (which Go's JSON
// decoder would otherwise silently replace) — is an error wrapping
// store.ErrInvalid, so that it answers 400 and never reaches the log.
func DecodeKeyBody(body []byte) (map[string]string, error) {
	// Values decode through pointers because encoding/json stores a JSON
	// null into a string as "" without complaint; a nil pointer is how a
	// null is told from an empty string.
	var raw map[string]*string
	if err := decodeObject(body, &raw); err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf(`%w: the body has no key-value pairs; send e.g. {"user1":"batman"}`, store.ErrInvalid)
	}
	m := make(map[string]string, len(raw))
	for k, v := range raw {
		if v == nil {
			return nil, fmt.Errorf("%w: %q must be a string, not a JSON null", store.ErrInvalid, k)
		}
		m[k] = *v
	}
	return m, nil
}

// decodeObject decodes exactly one JSON object from body into v.
func decodeObject(body []byte, v any) error {
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: the body is not valid UTF-8", store.ErrInvalid)
	}
	// Only JSON's own whitespace: bytes.TrimSpace would also strip Unicode
	// spaces such as U+00A0 and U+0085, accepting bodies that are not JSON.
	trimmed := bytes.Trim(body, " \t\r\n")
	if len(trimmed) == 0 {
		return fmt.Errorf("%w: the body is empty; send a JSON object", store.ErrInvalid)
	}
	if trimmed[0] != '{' {
		return fmt.Errorf("%w: the body must be a JSON object", store.ErrInvalid)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field != "" {
				return fmt.Errorf("%w: %q must be a string, not a JSON %s", store.ErrInvalid, te.Field, te.Value)
			}
			return fmt.Errorf("%w: the body must be a JSON object of strings; found a JSON %s", store.ErrInvalid, te.Value)
		}
		return fmt.Errorf("%w: malformed JSON: %v", store.ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: unexpected data after the JSON object", store.ErrInvalid)
	}
	return nil
}
