// Package scripts holds the tests of the shell scripts in this folder
// (run.sh is what `make run` runs; cluster.sh starts, stops and inspects
// the seed's six nodes and the distributor, and sources secure.sh for
// SECURE=1: TLS and passwords). The tests run the real scripts on free
// ports, with binaries built from this tree.
package scripts
