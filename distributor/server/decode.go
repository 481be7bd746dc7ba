package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/internal/httpx"
	"github.com/kvraft/hraftd/kv"
)

// setRequest is the body of POST /set, the seed's Postman request.
type setRequest struct {
	Clave string `json:"clave"`
	Valor string `json:"valor"`
}

// setShape is what every refusal of a /set body ends with.
const setShape = `; /set takes exactly {"clave":"...","valor":"..."}, e.g. {"clave":"batman","valor":"bruce"}`

// readWrite reads and decodes the body of a write, and checks its
// Idempotency-Key. If anything is wrong it has answered, and ok is false.
// The decoder must copy what it keeps: the body's buffer is reused.
func readWrite[T any](s *Server, w http.ResponseWriter, r *http.Request, decode func([]byte) (T, error)) (req T, id string, ok bool) {
	buf, body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err, nil)
		return req, "", false
	}
	req, err = decode(body)
	putBody(buf, body)
	if err != nil {
		s.writeError(w, r, err, nil)
		return req, "", false
	}
	id = r.Header.Get(api.HeaderWriteID)
	if err := kv.CheckWriteID(id); err != nil {
		s.writeError(w, r, err, nil)
		return req, "", false
	}
	return req, id, true
}

// decodeSet parses and checks a /set body: the common case through
// decodeSetFast, anything else through decodeSetStrict.
func decodeSet(body []byte) (setRequest, error) {
	if req, ok := decodeSetFast(body); ok {
		return req, nil
	}
	return decodeSetStrict(body)
}

// decodeSetStrict parses and checks any /set body, and says what is wrong
// with a bad one. It decodes to raw fields first so that it can tell a
// missing field from a value of the wrong type, and rejects unknown fields,
// which are usually a misspelt "clave" or "valor", or another API's names
// ({"key":..,"value":..}).
func decodeSetStrict(body []byte) (setRequest, error) {
	var raw map[string]json.RawMessage
	if err := httpx.DecodeObject(body, &raw, false); err != nil {
		return setRequest{}, fmt.Errorf("%w%s", err, setShape)
	}
	var req setRequest
	if unknown := unknownFields(raw, "clave", "valor"); len(unknown) > 0 {
		return req, fmt.Errorf("%w: %s%s", kv.ErrInvalid, unknown, setShape)
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"clave", &req.Clave}, {"valor", &req.Valor}} {
		v, ok := raw[f.name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(v, f.dst); err != nil || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return req, fmt.Errorf("%w: %q must be a JSON string, not %s%s", kv.ErrInvalid, f.name, jsonKind(v), setShape)
		}
	}
	switch {
	case raw["clave"] == nil:
		return req, fmt.Errorf("%w: \"clave\" is missing%s", kv.ErrInvalid, setShape)
	case raw["valor"] == nil:
		return req, fmt.Errorf("%w: \"valor\" is missing (send \"\" for an empty value)%s", kv.ErrInvalid, setShape)
	case req.Clave == "":
		return req, fmt.Errorf("%w: \"clave\" is empty%s", kv.ErrInvalid, setShape)
	}
	return req, nil
}

// unknownFields names every field of raw not in known, sorted, as
// `unknown field "x"` or `unknown fields "x" and "y"`; "" if there is none.
func unknownFields(raw map[string]json.RawMessage, known ...string) fieldList {
	var out fieldList
	for name := range raw {
		if !slices.Contains(known, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// fieldList is a list of field names that prints as a sentence.
type fieldList []string

func (l fieldList) String() string {
	q := make([]string, len(l))
	for i, name := range l {
		q[i] = fmt.Sprintf("%q", name)
	}
	if len(q) == 1 {
		return "unknown field " + q[0]
	}
	return "unknown fields " + strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}

// decodePairs parses and checks a POST /key body: one JSON object of
// string values with at least one pair and no empty key.
func decodePairs(body []byte) (map[string]string, error) {
	const example = `; send e.g. {"user1":"batman"}`
	var raw map[string]json.RawMessage
	if err := httpx.DecodeObject(body, &raw, false); err != nil {
		return nil, fmt.Errorf("%w%s", err, example)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: the body has no key-value pairs%s", kv.ErrInvalid, example)
	}
	pairs := make(map[string]string, len(raw))
	for k, v := range raw {
		if err := router.CheckKey(k); err != nil {
			return nil, err
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return nil, fmt.Errorf("%w: the value of %q must be a JSON string, not %s%s", kv.ErrInvalid, k, jsonKind(v), example)
		}
		pairs[k] = s
	}
	return pairs, nil
}

// jsonKind names the JSON type of a raw value, for error messages.
func jsonKind(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// readBody reads the whole body up to the configured limit. A body of a
// declared length that fits is read into a pooled buffer, buf; the caller
// hands it back with putBody once it has copied out what it keeps.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (buf *[]byte, body []byte, err error) {
	if buf, body, ok, err := readSmallBody(r, s.cfg.MaxBodyBytes); ok {
		return buf, body, err
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, nil, errTooLarge(mbe.Limit)
	case err != nil:
		return nil, nil, bodyReadError(err)
	}
	return nil, b, nil
}

func errTooLarge(limit int64) error {
	return fmt.Errorf("the request body is over the %d-byte limit: %w", limit, kv.ErrTooLarge)
}

func bodyReadError(err error) error {
	return fmt.Errorf("%w: reading the body: %v", kv.ErrInvalid, err)
}
