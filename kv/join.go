package kv

// Joiner is a node asking to join a group (POST /join).
type Joiner struct {
	ID       string
	RaftAddr string
	HTTPAddr string // "" if not given; then it cannot be checked and promoted
	// Group is the group the joiner already belongs to ("" on a fresh
	// data directory); a joiner of another group is refused (ErrForeign).
	Group string
	// Incarnation identifies the joiner's data directory; "" from a
	// client that predates incarnations (such as hraftd's own join).
	Incarnation string
	// Fresh says the joiner started on an empty data directory.
	Fresh bool
}

// JoinResult says where a join left the joiner.
type JoinResult struct {
	Group string
	// Voter is false while the joiner is a non-voter: it receives the log
	// but neither votes nor counts toward a quorum until Promote.
	Voter bool
	// Term and CommitIndex are the leader's when it took the joiner in;
	// the joiner is caught up once it has applied CommitIndex.
	Term        uint64
	CommitIndex uint64
}
