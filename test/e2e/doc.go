// Package e2e holds the distributor's end-to-end test: with internal/cluster
// it runs the real hraftd and distributor binaries, two shards of three
// nodes and a distributor, on free 127.0.0.1 ports, and kills leaders with
// SIGKILL while writing through the distributor. It has no code of its own;
// `go test -short` skips it.
package e2e
