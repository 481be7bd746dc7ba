package httpd

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/kv"
)

// Header values shared by every answer (net/http never modifies them).
var (
	headerTrue  = []string{"true"}
	headerFalse = []string{"false"}
	headerJSON  = []string{"application/json"}
)

func (s *Service) handleSet(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pairs, err := DecodeKeyBody(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	idx, err := s.store.Set(r.Context(), pairs, r.Header.Get(api.HeaderWriteID))
	if err != nil {
		s.forwardOrError(w, r, body, err)
		return
	}
	s.writeWriteOK(w, idx)
}

func (s *Service) handleDelete(w http.ResponseWriter, r *http.Request) {
	idx, err := s.store.Delete(r.Context(), r.PathValue("key"), r.Header.Get(api.HeaderWriteID))
	if err != nil {
		s.forwardOrError(w, r, nil, err)
		return
	}
	s.writeWriteOK(w, idx)
}

func (s *Service) handleNoKey(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, fmt.Errorf("%w: no key in the path; use %s /key/{key}", kv.ErrInvalid, r.Method))
}

// writeWriteOK answers a successful write as hraftd does, with an empty
// 200, plus headers naming the node and the entry's index.
func (s *Service) writeWriteOK(w http.ResponseWriter, idx uint64) {
	w.Header().Set(api.HeaderNode, s.store.ID())
	w.Header().Set(api.HeaderIndex, strconv.FormatUint(idx, 10))
	w.WriteHeader(http.StatusOK)
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	s.serveGet(w, r, r.PathValue("key"))
}

// serveGet serves GET /key/{key}: handleGet through the mux, or straight
// from ServeHTTP for the common reads (see keyGetPath).
func (s *Service) serveGet(w http.ResponseWriter, r *http.Request, key string) {
	level := kv.ReadNone
	if q := r.URL.RawQuery; q != "" && q != levelNoneQuery { // the common reads: skip parsing a query
		var err error
		if level, err = kv.ParseReadLevel(r.URL.Query().Get("level")); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	v, found, idx, err := s.store.Get(r.Context(), key, level)
	if err != nil {
		s.forwardOrError(w, r, nil, err)
		return
	}
	h := s.readHeaders(w, idx)
	if found {
		h[api.HeaderFound] = headerTrue
	} else {
		h[api.HeaderFound] = headerFalse
	}
	_, _ = w.Write(appendKeyValue(make([]byte, 0, len(key)+len(v)+8), key, v))
}

// readHeaders sets the headers of a read's answer and returns the header
// map. Header names are already canonical and the constant values are
// shared slices: this skips the canonicalisation and allocations of
// Header.Set on the hottest path.
func (s *Service) readHeaders(w http.ResponseWriter, idx uint64) http.Header {
	h := w.Header()
	h[api.HeaderNode] = s.nodeIDHeader()
	h[api.HeaderIndex] = []string{strconv.FormatUint(idx, 10)}
	h["Content-Type"] = headerJSON
	return h
}

// handleRead serves POST /read: many keys, one read level, one barrier.
// It is the node's half of the distributor's read coalescing: the whole
// batch is served after one leadership check made after the request
// arrived, so every read in it is linearized inside its own client's
// interval (see distributor/router/readbatch.go).
func (s *Service) handleRead(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := DecodeReadBody(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	level, err := kv.ParseReadLevel(req.Level)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	values, idx, err := s.store.GetMany(r.Context(), req.Keys, level)
	if err != nil {
		s.forwardOrError(w, r, body, err)
		return
	}
	s.readHeaders(w, idx)
	_, _ = w.Write(appendReadResponse(nil, req.Keys, values))
}
