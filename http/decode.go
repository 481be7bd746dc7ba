package httpd

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/internal/httpx"
	"github.com/kvraft/hraftd/kv"
)

// readBody reads the whole body up to the configured limit.
func (s *Service) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= s.cfg.MaxBodyBytes {
		// The length is known (bodies without one are refused by the
		// guard): one buffer of that size, instead of ReadAll's doublings,
		// which hold up to twice the body while it arrives.
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, fmt.Errorf("%w: reading body: %v", kv.ErrInvalid, err)
		}
		return b, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, fmt.Errorf("request body is over the %d-byte limit: %w", mbe.Limit, kv.ErrTooLarge)
	case err != nil:
		return nil, fmt.Errorf("%w: reading body: %v", kv.ErrInvalid, err)
	}
	return b, nil
}

// DecodeKeyBody parses the body of POST /key: one JSON object whose values
// are all strings, with at least one pair. Anything else (another JSON
// type, a non-string value, trailing data, invalid UTF-8) is an error
// wrapping kv.ErrInvalid, so that it answers 400 and never reaches the log.
func DecodeKeyBody(body []byte) (map[string]string, error) {
	// Values decode through pointers because encoding/json stores a JSON
	// null into a string as "" without complaint; a nil pointer is how a
	// null is told from an empty string.
	var raw map[string]*string
	if err := httpx.DecodeObject(body, &raw, false); err != nil {
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
// Errors wrap kv.ErrInvalid. Key length is the store's to check.
func DecodeReadBody(body []byte) (api.ReadRequest, error) {
	var req api.ReadRequest
	if err := httpx.DecodeObject(body, &req, true); err != nil {
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
