// Package httpx is the HTTP plumbing the node and the distributor share, so
// that both answer alike: JSON bodies and JSON errors, a strict decoder for
// JSON object bodies, a mux whose misses (unknown path, wrong method) are
// JSON too, a status-recording writer for metrics, panic recovery, and the
// profiler's routes.
package httpx

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"

	"github.com/kvraft/hraftd/api"
)

// WriteJSON answers with status and v encoded as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// WriteError answers with status and {"error": msg}.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, api.Error{Error: msg})
}

// Recover, deferred by a ServeHTTP, turns a handler's panic into a JSON 500
// instead of a dropped connection. http.ErrAbortHandler, net/http's way to
// abort a response on purpose, is re-raised.
func Recover(logger *slog.Logger, w http.ResponseWriter, r *http.Request) {
	p := recover()
	if p == nil {
		return
	}
	if p == http.ErrAbortHandler {
		panic(p)
	}
	logger.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", p)
	WriteError(w, http.StatusInternalServerError, fmt.Sprintf("internal error: %v", p))
}

// MountPprof serves Go's profiler under /debug/pprof/ on mux.
func MountPprof(mux interface {
	HandleFunc(string, func(http.ResponseWriter, *http.Request))
}) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// StatusWriter remembers the status code of the answer written through it:
// the first WriteHeader, or 200 once the body is written without one.
type StatusWriter struct {
	http.ResponseWriter
	// Code is 0 until something is written.
	Code int
}

// WriteHeader records code and passes it on.
func (w *StatusWriter) WriteHeader(code int) {
	if w.Code == 0 {
		w.Code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and passes b on.
func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.Code == 0 {
		w.Code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Status is the code answered so far, 200 if nothing was written (as
// net/http answers a handler that writes nothing).
func (w *StatusWriter) Status() int {
	if w.Code == 0 {
		return http.StatusOK
	}
	return w.Code
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
