package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/internal/httpx"
	"github.com/kvraft/hraftd/kv"
)

// keyAnswer is the body of a successful /set, /get or /delete; fast.go's
// writeKeyAnswer writes it.
type keyAnswer struct {
	Clave string  `json:"clave"`
	Valor *string `json:"valor,omitempty"`
	Shard int     `json:"shard"`
	Node  string  `json:"node"`
}

func (s *Server) handleSet(w http.ResponseWriter, r *http.Request) {
	req, id, ok := readWrite(s, w, r, decodeSet)
	if !ok {
		return
	}
	res, err := s.router.Set(r.Context(), map[string]string{req.Clave: req.Valor}, id)
	s.metrics.forward("set", res, err)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	setResultHeaders(w, res[0])
	writeKeyAnswer(w, req.Clave, &req.Valor, res[0].Shard, res[0].Node)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	key, err := pathKey(r, "clave")
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	// The seed's /get reads at linearizable level unless told otherwise:
	// a value just written through /set is then always seen.
	level := string(kv.ReadLinearizable)
	if r.URL.RawQuery != "" { // parsing an empty query still makes a map
		if l := r.URL.Query().Get("level"); l != "" {
			level = l
		}
	}
	res, ok := s.read(w, r, key, level)
	if !ok {
		return
	}
	if !res.Found {
		httpx.WriteJSON(w, http.StatusNotFound, errorBody{
			Error: fmt.Sprintf("key %q not found (shard %d, read at level %s on %s)", key, res.Shard, level, res.Node),
			Clave: key, Shard: &res.Shard, Node: res.Node})
		return
	}
	writeKeyAnswer(w, key, &res.Value, res.Shard, res.Node)
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	key, res, ok := s.deleteKey(w, r, "clave")
	if !ok {
		return
	}
	setResultHeaders(w, res)
	writeKeyAnswer(w, key, nil, res.Shard, res.Node)
}

// handleKeySet is hraftd's POST /key: any number of pairs. The pairs are
// split by shard; each shard's part is applied atomically, but a write
// spanning shards is not atomic as a whole.
func (s *Server) handleKeySet(w http.ResponseWriter, r *http.Request) {
	pairs, id, ok := readWrite(s, w, r, decodePairs)
	if !ok {
		return
	}
	res, err := s.router.Set(r.Context(), pairs, id)
	s.metrics.forward("set", res, err)
	if err != nil {
		s.writeError(w, r, err, res)
		return
	}
	if len(res) == 1 {
		setResultHeaders(w, res[0])
	}
	if hint := setBodyHint(pairs); hint != "" {
		httpx.WriteJSON(w, http.StatusOK, hintBody{Hint: hint})
		return
	}
	// hraftd answers a write with an empty 200.
	w.WriteHeader(http.StatusOK)
}

// hintBody is the answer to a write that succeeded but probably did not do
// what the client meant.
type hintBody struct {
	Hint string `json:"hint"`
}

// setBodyHint explains, for a POST /key whose keys are /set's field names
// ({"clave":"batman","valor":"bruce"}), that this stored the keys "clave"
// and "valor", not batman=bruce; "" for any other write. Those are legal
// keys, so the write stands.
func setBodyHint(pairs map[string]string) string {
	if _, ok := pairs["clave"]; !ok {
		return ""
	}
	stored := `the key "clave"`
	switch _, valor := pairs["valor"]; {
	case valor && len(pairs) == 2:
		stored = `two keys, "clave" and "valor"`
	case len(pairs) != 1:
		return ""
	}
	return "this stored " + stored + `: POST /key takes {"key":"value",...}. ` +
		`To store batman=bruce from {"clave":"batman","valor":"bruce"}, send that body to POST /set instead, ` +
		`or {"batman":"bruce"} to POST /key`
}

// handleKeyGet is hraftd's GET /key/{k}: {"k":"v"}, and {"k":""} with
// X-Raft-Key-Found: false for a missing key. ?level passes through; without
// it the node's default (none) applies, as on a node.
func (s *Server) handleKeyGet(w http.ResponseWriter, r *http.Request) {
	key, err := pathKey(r, "key")
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	res, ok := s.read(w, r, key, r.URL.Query().Get("level"))
	if !ok {
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{key: res.Value})
}

func (s *Server) handleKeyDelete(w http.ResponseWriter, r *http.Request) {
	_, res, ok := s.deleteKey(w, r, "key")
	if !ok {
		return
	}
	setResultHeaders(w, res)
	w.WriteHeader(http.StatusOK)
}

// read is the part both GET routes share: check the level, read key
// through the router, count it, and either set the answer's headers (ok)
// or write the error.
func (s *Server) read(w http.ResponseWriter, r *http.Request, key, level string) (router.GetResult, bool) {
	if _, err := kv.ParseReadLevel(level); err != nil {
		s.writeError(w, r, err, nil)
		return router.GetResult{}, false
	}
	res, err := s.router.Get(r.Context(), key, level)
	s.metrics.forward("get", okResult(res.Result, err), err)
	if err != nil {
		s.writeError(w, r, err, nil)
		return router.GetResult{}, false
	}
	setResultHeaders(w, res.Result)
	setFoundHeader(w, res.Found)
	return res, true
}

// deleteKey validates and runs a delete, writing the error answer itself;
// ok is false if it did.
func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request, name string) (key string, res router.Result, ok bool) {
	key, err := pathKey(r, name)
	if err != nil {
		s.writeError(w, r, err, nil)
		return "", res, false
	}
	id := r.Header.Get(api.HeaderWriteID)
	if err := kv.CheckWriteID(id); err != nil {
		s.writeError(w, r, err, nil)
		return "", res, false
	}
	res, err = s.router.Delete(r.Context(), key, id)
	s.metrics.forward("delete", okResult(res, err), err)
	if err != nil {
		s.writeError(w, r, err, nil)
		return "", res, false
	}
	return key, res, true
}

// keyInQuery serves a key route called without its key in the path: with
// the key in the query (?clave= or ?key=, the wildcard's name) it serves
// it as if the key were in the path; without, it answers a JSON 400 that
// names the route to use, where net/http would redirect to the empty key.
func (s *Server) keyInQuery(use string, serve http.HandlerFunc) http.HandlerFunc {
	example := strings.NewReplacer("{clave}", "batman", "{key}", "batman").Replace(use)
	what, name := "a clave", "clave"
	if strings.Contains(use, "{key}") {
		what, name = "a key", "key"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			if key := r.URL.Query().Get(name); key != "" {
				r.SetPathValue(name, key)
				serve(w, r)
				return
			}
		}
		s.writeError(w, r, fmt.Errorf(`%w: %s is needed in the path; use %s, e.g. %s (or ?%s=..., the only way to name the keys "." and "..")`,
			kv.ErrInvalid, what, use, example, name), nil)
	}
}

// pathKey returns the key named by a path wildcard, checked.
func pathKey(r *http.Request, name string) (string, error) {
	key := r.PathValue(name)
	if key == "" {
		return "", fmt.Errorf("%w: the key is empty; put it in the path, percent-encoded, e.g. %s%s", kv.ErrInvalid, r.URL.Path, "batman")
	}
	return key, router.CheckKey(key)
}

func setFoundHeader(w http.ResponseWriter, found bool) {
	if found {
		w.Header()[api.HeaderFound] = headerTrue
	} else {
		w.Header()[api.HeaderFound] = headerFalse
	}
}

// okResult is res as a one-element slice if the call succeeded, for the
// forward counters.
func okResult(res router.Result, err error) []router.Result {
	if err != nil {
		return nil
	}
	return []router.Result{res}
}

// shardAnswer explains where a key goes.
type shardAnswer struct {
	Clave string `json:"clave"`
	// Hash is fnv32a(clave); Shard is Hash % Shards.
	Hash   uint32              `json:"hash"`
	Shards int                 `json:"shards"`
	Shard  int                 `json:"shard"`
	Rule   string              `json:"rule"`
	Leader *router.LeaderRef   `json:"leader"`
	Nodes  []router.NodeStatus `json:"nodes"`
}

func (s *Server) handleShard(w http.ResponseWriter, r *http.Request) {
	key, err := pathKey(r, "clave")
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	n := s.router.Shards()
	sh := s.router.ShardOf(key)
	st := s.router.Shard(sh)
	h := router.Hash(key)
	httpx.WriteJSON(w, http.StatusOK, shardAnswer{
		Clave: key, Hash: h, Shards: n, Shard: sh,
		Rule:   fmt.Sprintf("fnv32a(%q) = %d; %d %% %d = %d", key, h, h, n, sh),
		Leader: st.Leader, Nodes: st.Nodes,
	})
}

// statusAnswer is the body of the distributor's GET /status.
type statusAnswer struct {
	router.Status
	HTTP httpCounters `json:"http"`
}

// httpCounters count the distributor's own answers.
type httpCounters struct {
	Requests     uint64 `json:"requests"`
	ClientErrors uint64 `json:"client_errors"`
	ServerErrors uint64 `json:"server_errors"`
}

func (s *Server) httpCounters() httpCounters {
	return httpCounters{
		Requests:     s.requests.Load(),
		ClientErrors: s.clientErrs.Load(),
		ServerErrors: s.srvErr.Load(),
	}
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, statusAnswer{Status: s.router.Status(), HTTP: s.httpCounters()})
}
