// Package api holds the JSON shapes and header names of the node's public HTTP
// API, shared by the node (package httpd) and by its clients (the
// distributor, the tests, the load tool). It holds data shapes only: no logic
// belongs here.
package api

// Server is one member of a Raft group as /status reports it. ID and Address
// are hraftd's fields; HTTP is additive: the member's HTTP API address, which
// is what a client needs to reach it.
type Server struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	HTTP    string `json:"http,omitempty"`
}

// Digest summarises a node's state machine so that replicas can be compared
// cheaply: two nodes that have applied the same index hold the same map
// exactly when their hashes match.
type Digest struct {
	AppliedIndex uint64 `json:"applied_index"`
	Keys         int    `json:"keys"`
	Hash         string `json:"hash"`
}

// Status is the body of GET /status. Me, Leader and Followers keep hraftd's
// shape; every other field is additive.
type Status struct {
	Me        Server   `json:"me"`
	Leader    Server   `json:"leader"`
	Followers []Server `json:"followers"`

	// State is the node's Raft role: Leader, Follower, Candidate or Shutdown.
	State        string `json:"state"`
	Term         uint64 `json:"term"`
	LastLogIndex uint64 `json:"last_log_index"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	// LastContact is how long ago a follower last heard from its leader
	// ("0s" on the leader itself).
	LastContact string `json:"last_contact"`
	Digest      Digest `json:"digest"`

	// Group is the ID of the node's Raft group, made when the group was
	// founded; nodes of one shard share it.
	Group string `json:"group,omitempty"`
	// Incarnation identifies the node's data directory: it changes when
	// the node starts on an empty one.
	Incarnation string `json:"incarnation,omitempty"`
	// Admitted is false while a node that lost its data has not yet been
	// taken back by its group (it neither votes nor acknowledges).
	Admitted bool `json:"admitted"`
	// Damage, when present, says what is wrong with the node's data and
	// how to recover; such a node neither serves nor votes.
	Damage *Damage `json:"damage,omitempty"`
	// Lag is how many entries the node has applied fewer than its
	// leader has committed.
	Lag uint64 `json:"lag"`
	// Checkpoint is the node's digest at the newest checkpoint it has
	// applied: the point of the log where the leader compares replicas.
	Checkpoint *Digest `json:"checkpoint,omitempty"`
	// ReplicaCheck is the last comparison of the members' states this
	// node made as leader.
	ReplicaCheck *ReplicaCheck `json:"replica_check,omitempty"`
	// RefusedPeers are the Raft addresses whose connections this node
	// refused (or that refused it) in the last minute, with the reason.
	RefusedPeers map[string]string `json:"refused_peers,omitempty"`
}

// ReplicaCheck is one comparison of the members' states at a checkpoint:
// the hash a majority of voters hold there and who agreed, diverged (and
// was marked damaged) or did not answer in time.
type ReplicaCheck struct {
	Index      uint64   `json:"index"`
	At         string   `json:"at"`
	Hash       string   `json:"hash,omitempty"`
	NoMajority bool     `json:"no_majority,omitempty"`
	Agreed     []string `json:"agreed,omitempty"`
	Diverged   []string `json:"diverged,omitempty"`
	Missing    []string `json:"missing,omitempty"`
}

// Damage is what a node found wrong with its data (see Status).
type Damage struct {
	File    string `json:"file"`
	Index   uint64 `json:"index,omitempty"`
	Term    uint64 `json:"term,omitempty"`
	Problem string `json:"problem"`
	Fix     string `json:"fix"`
	Since   string `json:"since"`
}

// JoinRequest is the body of POST /join. ID and Addr are hraftd's fields;
// HTTPAddr is the joiner's HTTP API address, replicated through the log so
// that every member can forward requests to whichever node leads.
type JoinRequest struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	HTTPAddr string `json:"http_addr,omitempty"`
	// Group is the group the joiner believes it joins ("" if it does not
	// know yet); a node of another group is refused.
	Group string `json:"group,omitempty"`
	// Incarnation identifies the joiner's data directory; Fresh says it
	// started on an empty one.
	Incarnation string `json:"incarnation,omitempty"`
	Fresh       bool   `json:"fresh,omitempty"`
}

// JoinResponse is the body of a successful POST /join: the group joined
// and the leader's term and commit index when it took the joiner in.
type JoinResponse struct {
	Group       string `json:"group"`
	Term        uint64 `json:"term"`
	CommitIndex uint64 `json:"commit_index"`
}

// RemoveRequest is the body of POST /remove.
type RemoveRequest struct {
	ID string `json:"id"`
}

// Error is the body of every error answer.
type Error struct {
	Error string `json:"error"`
	// Leader is the HTTP address of the leader, when the error is about
	// leadership and one is known.
	Leader string `json:"leader,omitempty"`
}

// Response headers set by nodes.
const (
	// HeaderNode names the node (its Raft ID) that produced the answer;
	// for a forwarded request it is the node that finally served it.
	HeaderNode = "X-Raft-Node"
	// HeaderIndex is the applied index of the node that served a read, or
	// the log index of a write.
	HeaderIndex = "X-Raft-Index"
	// HeaderFound is "true" or "false" on GET /key/{k}: hraftd answers a
	// missing key with {"k":""}, so this header is how a client tells a
	// missing key from an empty value.
	HeaderFound = "X-Raft-Key-Found"
	// HeaderForwarded marks a request one node forwarded to another, so a
	// request is forwarded at most once and never loops.
	HeaderForwarded = "X-Raft-Forwarded"
	// HeaderGroup, sent by a client (the distributor), names the group it
	// means to reach; a node of another group answers 421.
	HeaderGroup = "X-Raft-Group"
)

// HeaderWriteID carries a client-chosen ID for a write (at most 128 bytes).
// A node applies a write with a given ID at most once, so a client that did
// not hear back — a timeout, a dropped connection, a leader that died — can
// resend the same write with the same ID safely.
const HeaderWriteID = "Idempotency-Key"

// ReadRequest is the body of POST /read: several keys read at one level as
// one read, after one leadership check (for linearizable, one quorum
// round), so that a client holding many reads — the distributor
// coalescing its clients' GETs — pays for the check once. Level is as
// ?level= on GET /key/{k}; empty means none.
type ReadRequest struct {
	Keys  []string `json:"keys"`
	Level string   `json:"level,omitempty"`
}

// ReadResponse is the answer to POST /read. Values holds the keys that
// exist; Found has every key asked for, true or false, so a missing key is
// told from an empty value without a second lookup. All the answers reflect
// one applied index, sent in X-Raft-Index.
type ReadResponse struct {
	Values map[string]string `json:"values"`
	Found  map[string]bool   `json:"found"`
}
