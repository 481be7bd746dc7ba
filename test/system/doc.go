// Package system tests the hraftd binary as real processes: it starts
// nodes with internal/cluster (the binary built once from the tree, free
// 127.0.0.1 ports, the flags of the hraftd README walkthrough) and drives
// them over HTTP as a user would, killing and restarting them along the
// way.
//
// The package holds tests only; they are skipped under -short.
package system
