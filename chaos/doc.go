// Package chaos runs the real hraftd and distributor binaries as a sharded
// cluster on this machine (started with internal/cluster), injects faults
// into it while concurrent clients use it, and checks what the clients saw
// with the porcupine linearizability checker. `make chaos`
// (chaos/cmd/chaos) runs a long session; the package's test runs a short
// one in `make test`.
//
// The faults are the ones a real deployment meets: a process killed with
// SIGKILL and restarted on its data directory, a process paused with
// SIGSTOP (a long GC pause, a stalled VM) and resumed, and network
// partitions between chosen nodes.
//
// Partitions use the nodes' own fault-injection endpoint (hraftd
// -fault-injection, POST /debug/faults), which cuts Raft traffic between
// named peers inside the node's Raft stream layer (package raftnet), in
// both directions. Why that and not iptables or network namespaces with
// veth pairs: those need root (CI here happens to be root, but a
// developer's `make chaos` should not), only work on Linux, and every node
// listens on 127.0.0.1, so a packet filter could only tell nodes apart by
// port, and the ephemeral source ports of outbound Raft connections make
// even that unreliable. The stream layer knows which peer is on each
// connection (the dialer announces itself in a preamble), so it can cut
// exactly one pair of nodes and leave everything else connected. Its limit
// is that it cuts Raft traffic only: HTTP between nodes (a follower
// forwarding a request to its leader) and from clients still flows, which
// is also what happens when a real partition splits a data center's
// replication network but not its clients. The checks below do not rely on
// HTTP being cut.
package chaos
