// Package diskfault breaks real hraftd processes' disks and data
// directories (wiped, bit-flipped, truncated, full, moved) and checks the
// promise the README makes: no acknowledged write is lost while a majority
// of its shard survives, no wrong value is served as if healthy, no node
// panics, and every failure says what to do.
//
// Each scenario starts its own cluster with internal/cluster, records every
// write a client saw acknowledged, and at the end reads each one back at
// level=linearizable.
package diskfault
