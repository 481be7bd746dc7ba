package httpd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"unicode/utf8"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/kv"
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
		return nil, fmt.Errorf(`%w: the body has no key-value pairs; send e.g. {"user1":"batman"}`, kv.ErrInvalid)
	}
	m := make(map[string]string, len(raw))
	for k, v := range raw {
		if v == nil {
			return nil, fmt.Errorf("%w: %q must be a string, not a JSON null", kv.ErrInvalid, k)
		}
		m[k] = *v
	}
	return m, nil
}

// DecodeReadBody parses and checks the body of POST /read: an object with a
// non-empty "keys" array of at most kv.MaxReadKeys non-empty strings and an
// optional "level". Unknown fields are refused rather than ignored: a
// misspelt "level" would otherwise silently downgrade a read to none.
// Errors wrap store.ErrInvalid. Key length is the store's to check.
func DecodeReadBody(body []byte) (api.ReadRequest, error) {
	var req api.ReadRequest
	if err := decodeObjectStrict(body, &req, true); err != nil {
		return req, err
	}
	switch {
	case len(req.Keys) == 0:
		return req, fmt.Errorf(`%w: no keys to read; send e.g. {"keys":["user1","user2"],"level":"linearizable"}`, kv.ErrInvalid)
	case len(req.Keys) > kv.MaxReadKeys:
		return req, fmt.Errorf("%w: %d keys; at most %d per request", kv.ErrInvalid, len(req.Keys), kv.MaxReadKeys)
	}
	for i, k := range req.Keys {
		if k == "" {
			return req, fmt.Errorf("%w: key %d is empty (or null)", kv.ErrInvalid, i)
		}
	}
	return req, nil
}

// decodeObject decodes exactly one JSON object from body into v.
func decodeObject(body []byte, v any) error { return decodeObjectStrict(body, v, false) }

// decodeObjectStrict is decodeObject; strict refuses fields v does not
// have.
func decodeObjectStrict(body []byte, v any, strict bool) error {
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: the body is not valid UTF-8", kv.ErrInvalid)
	}
	// Only JSON's own whitespace: bytes.TrimSpace would also strip Unicode
	// spaces such as U+00A0 and U+0085, accepting bodies that are not JSON.
	trimmed := bytes.Trim(body, " \t\r\n")
	if len(trimmed) == 0 {
		return fmt.Errorf("%w: the body is empty; send a JSON object", kv.ErrInvalid)
	}
	if trimmed[0] != '{' {
		return fmt.Errorf("%w: the body must be a JSON object", kv.ErrInvalid)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if strict && te.Field != "" {
				want := "a JSON string"
				if te.Type != nil && te.Type.Kind() == reflect.Slice {
					want = "a JSON array of strings"
				}
				return fmt.Errorf("%w: %q must be %s, not a JSON %s", kv.ErrInvalid, te.Field, want, te.Value)
			}
			if te.Field != "" {
				return fmt.Errorf("%w: %q must be a string, not a JSON %s", kv.ErrInvalid, te.Field, te.Value)
			}
			return fmt.Errorf("%w: the body must be a JSON object of strings; found a JSON %s", kv.ErrInvalid, te.Value)
		}
		return fmt.Errorf("%w: malformed JSON: %v", kv.ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: unexpected data after the JSON object", kv.ErrInvalid)
	}
	return nil
}
