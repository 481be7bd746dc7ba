// Package hostile sends malformed and hostile requests to real hraftd and
// distributor processes and checks that each is refused with a JSON 4xx,
// that no process goes down, and that no node's state changes.
//
// It is a black-box test: it starts the two binaries, 2 shards × 3 nodes
// and a distributor, with internal/cluster, and speaks raw HTTP/1.1 over
// TCP, so that it can send what a well-behaved client library never would
// (bodies shorter than their Content-Length, unnormalised paths).
//
// It also holds in-process tests of the same defences: a fuzz target for
// the distributor's POST /set body, and the router's handling of a write
// that net/http replays on a new connection.
package hostile
