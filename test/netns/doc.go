// Package netns runs hraftd and the distributor as they run on separate
// hosts: each process in a Linux network namespace of its own, with its
// own non-loopback address, all joined by a bridge, and the test reaching
// them from its own namespace over that bridge. It checks two things that
// loopback-only tests cannot:
//
//   - the off-loopback rule (internal/secure): a node or a distributor
//     told to listen on such an address without TLS and -auth refuses to
//     start, naming the address and -insecure; with -insecure it starts;
//   - a secure cluster works there: 2 shards of 3 nodes and a
//     distributor, every certificate naming only its holder's address,
//     joins over HTTPS, writes and reads through the distributor with a
//     password, a shard leader killed and replaced, and a Raft port that
//     drops anyone who does not speak mutual TLS.
//
// The network: a hub namespace holds a bridge; every process's namespace
// and the test's own namespace have one end of a veth pair on it, with
// addresses from 10.231.X.0/24 (X chosen so that no route of the test's
// namespace already covers it). Namespace names carry the PID and start
// time of the test process that made them, so that a later run removes
// what a crashed run left behind and never what a live run is using.
//
// The tests need root and ip (iproute2). They skip without them, except
// that as root with CI set a failure to make namespaces fails them. They
// also skip under -short: they start real processes.
package netns
