package server

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/kvraft/hraftd/api"
	"github.com/kvraft/hraftd/distributor/router"
	"github.com/kvraft/hraftd/internal/jsonenc"
)

// The hot paths (/set, /get) are the distributor's per-request front-end
// cost, which bounds its throughput on a CPU-bound box (bench_test.go):
// the code below reads, decodes and answers them without encoding/json's
// reflection and with few allocations. Every shortcut here either gives
// exactly what the general code would, or hands over to it.

// bodyPool holds the buffers request bodies are read into; a body is
// decoded (its strings copied out) before its buffer goes back.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledBody is the largest buffer kept for reuse, so that one huge
// body does not pin its buffer forever.
const maxPooledBody = 64 << 10

// readSmallBody reads a body whose length the client declared and which
// fits the limit into a pooled buffer; ok is false for any other body,
// which the caller reads the general way (whose http.MaxBytesReader also
// tells net/http to close the connection after a too-large one).
func readSmallBody(r *http.Request, limit int64) (buf *[]byte, b []byte, ok bool, err error) {
	if r.ContentLength < 0 || r.ContentLength > limit || r.ContentLength > maxPooledBody {
		return nil, nil, false, nil
	}
	buf = bodyPool.Get().(*[]byte)
	b = (*buf)[:0]
	if int64(cap(b)) < r.ContentLength+1 {
		b = make([]byte, 0, r.ContentLength+1)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, rerr := r.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > limit {
			// Only a request whose ContentLength lies gets here; a
			// server-read body stops at ContentLength.
			putBody(buf, b)
			return nil, nil, true, errTooLarge(limit)
		}
		if rerr == io.EOF {
			return buf, b, true, nil
		}
		if rerr != nil {
			putBody(buf, b)
			return nil, nil, true, bodyReadError(rerr)
		}
	}
}

// putBody returns a body buffer to the pool.
func putBody(buf *[]byte, b []byte) {
	if buf == nil || cap(b) > maxPooledBody {
		return
	}
	*buf = b[:0]
	bodyPool.Put(buf)
}

// decodeSetFast decodes the common /set body: one JSON object of exactly
// "clave" and "valor", once each, in either order, both plain strings
// (no escapes), clave not empty, JSON whitespace only around the tokens.
// It copies both strings out of body in one allocation. ok is false for
// anything else (an escape, a duplicate, an error of any kind), which
// decodeSet then decodes and judges: every body decodeSetFast accepts,
// decodeSet accepts with the same values.
func decodeSetFast(body []byte) (req setRequest, ok bool) {
	if !utf8.Valid(body) {
		return req, false
	}
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return req, false
	}
	i++
	var spans [2][2]int // clave, valor: [start, end) in body
	var seen [2]bool
	for field := range 2 {
		if field == 1 {
			if i = skipWS(body, i); i >= len(body) || body[i] != ',' {
				return req, false
			}
			i++
		}
		start, end, next, ok := plainString(body, skipWS(body, i))
		if !ok {
			return req, false
		}
		var which int
		switch string(body[start:end]) {
		case "clave":
			which = 0
		case "valor":
			which = 1
		default:
			return req, false
		}
		if seen[which] {
			return req, false
		}
		seen[which] = true
		if i = skipWS(body, next); i >= len(body) || body[i] != ':' {
			return req, false
		}
		if start, end, next, ok = plainString(body, skipWS(body, i+1)); !ok {
			return req, false
		}
		spans[which] = [2]int{start, end}
		i = next
	}
	if i = skipWS(body, i); i >= len(body) || body[i] != '}' {
		return req, false
	}
	if skipWS(body, i+1) != len(body) || spans[0][0] == spans[0][1] {
		return req, false
	}
	// One string holding the span from the first value to the last; both
	// values are slices of it.
	lo, hi := min(spans[0][0], spans[1][0]), max(spans[0][1], spans[1][1])
	all := string(body[lo:hi])
	req.Clave = all[spans[0][0]-lo : spans[0][1]-lo]
	req.Valor = all[spans[1][0]-lo : spans[1][1]-lo]
	return req, true
}

// skipWS skips JSON whitespace from i.
func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// plainString reads a JSON string at i that has no escapes and no control
// characters: its contents are body[start:end] as they are; next is just
// past the closing quote.
func plainString(b []byte, i int) (start, end, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, 0, false
	}
	start = i + 1
	for j := start; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return start, j, j + 1, true
		case c == '\\' || c < 0x20:
			return 0, 0, 0, false
		}
	}
	return 0, 0, 0, false
}

// answerPool holds the buffers answers are built in; Write copies them.
var answerPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeKeyAnswer writes keyAnswer{clave, valor, shard, node} with status
// 200 exactly as httpx.WriteJSON would, without reflection.
func writeKeyAnswer(w http.ResponseWriter, clave string, valor *string, shard int, node string) {
	buf := answerPool.Get().(*[]byte)
	b := append((*buf)[:0], `{"clave":`...)
	b = jsonenc.AppendString(b, clave)
	if valor != nil {
		b = append(b, `,"valor":`...)
		b = jsonenc.AppendString(b, *valor)
	}
	b = append(b, `,"shard":`...)
	b = strconv.AppendInt(b, int64(shard), 10)
	b = append(b, `,"node":`...)
	b = jsonenc.AppendString(b, node)
	b = append(b, "}\n"...)
	w.Header()["Content-Type"] = headerJSON
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	if cap(b) <= maxPooledBody {
		*buf = b[:0]
		answerPool.Put(buf)
	}
}

// Header values shared by every answer. net/http only reads the values
// of an answer's headers, and the names below are already canonical, so
// assigning them skips Header.Set's canonicalisation and allocations.
var (
	headerJSON  = []string{"application/json"}
	headerTrue  = []string{"true"}
	headerFalse = []string{"false"}
	// headerShards are the X-Shard values of the first shards.
	headerShards = func() [][]string {
		v := make([][]string, 256)
		for i := range v {
			v[i] = []string{strconv.Itoa(i)}
		}
		return v
	}()
)

// nodeHeaders caches the X-Raft-Node value of each node name seen: nodes
// are few and fixed, and every answer names one.
var nodeHeaders atomic.Pointer[map[string][]string]

func nodeHeader(node string) []string {
	return cached(&nodeHeaders, node, func() []string { return []string{node} })
}

// setResultHeaders names where a request was served: X-Shard, and
// X-Raft-Node and X-Raft-Index when known.
func setResultHeaders(w http.ResponseWriter, res router.Result) {
	h := w.Header()
	if res.Shard >= 0 && res.Shard < len(headerShards) {
		h[HeaderShard] = headerShards[res.Shard]
	} else {
		h[HeaderShard] = []string{strconv.Itoa(res.Shard)}
	}
	if res.Node != "" {
		h[api.HeaderNode] = nodeHeader(res.Node)
	}
	if res.Index != 0 {
		h[api.HeaderIndex] = []string{strconv.FormatUint(res.Index, 10)}
	}
}
