package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

var helloBody = []byte("hello\n")

// serveHelloUntil serves a bare net/http server that answers every GET
// with "hello", until ctx ends. It is the ceiling of the matrix: what this
// box's loopback, net/http and load tool can do with no work behind the
// handler, so a node's read path can be judged against it. It prints its
// URL on out first, which lets a caller that asked for port 0 find it.
func serveHelloUntil(ctx context.Context, addr string, out io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(helloBody)
	})
	// Defaults otherwise, a bare net/http server as the baseline; a
	// header timeout only so that a stuck client cannot hold a connection
	// forever.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "http://%s/\n", ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
