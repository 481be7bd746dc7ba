// Package freeport finds free TCP ports on 127.0.0.1 for the processes a
// test or benchmark starts (never the fixed defaults: `go test ./...` runs
// packages in parallel, and a user may have `make run` up).
package freeport

import (
	"fmt"
	"net"
	"strconv"
)

// Ports returns n distinct TCP ports on 127.0.0.1 that were free a moment
// ago. All n listeners are held open until every port is chosen, so the
// kernel cannot hand the same port out twice; they are then closed for the
// processes to bind. Another program may take one in between, and the
// process started on it then fails to start and says so. (A node must
// keep its ports across restarts, as Raft stores its address in the log,
// which is why harnesses cannot simply hand it port 0.)
func Ports(n int) ([]int, error) {
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Addr is 127.0.0.1:port.
func Addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
