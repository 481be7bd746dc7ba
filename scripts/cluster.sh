#!/usr/bin/env bash
# cluster.sh: run the seed's layout on this machine: two shards of three
# hraftd nodes each, and the distributor in front of them.
#
#   scripts/cluster.sh start           build, start all 7 processes, wait for leaders
#   scripts/cluster.sh stop            stop them all (SIGTERM, then SIGKILL if stuck)
#   scripts/cluster.sh status          show every process and its Raft role
#   scripts/cluster.sh kill NODE       SIGKILL one process (node0..node5 or distributor)
#   scripts/cluster.sh restart NODE    stop (if running) and start one process again
#   scripts/cluster.sh wipe            stop everything and delete its data and logs
#   scripts/cluster.sh running         print the names of the processes that run
#
# Layout (the seed's):
#   shard 0: node0 (founds the group), node1, node2  HTTP 127.0.0.1:11000-11002  Raft 12000-12002
#   shard 1: node3 (founds the group), node4, node5  HTTP 127.0.0.1:11100-11102  Raft 12100-12102
#   distributor                                      HTTP 127.0.0.1:8080
#
# Environment:
#   DATA_DIR       where node data, logs and pid files go (default: data/ at the
#                  repo root; a relative path is taken from the repo root).
#                  Kept across runs: a restarted cluster keeps its keys.
#   DIST_ADDR      the distributor's listen address (default 127.0.0.1:8080)
#   HTTP_BASE      node0's HTTP port (default 11000); node N of shard S listens
#                  on HTTP_BASE + 100*S + N, so shard 1 starts at HTTP_BASE+100
#   RAFT_BASE      node0's Raft port (default 12000), numbered the same way
#   BIN_DIR        where the binaries are built and run from (default bin/)
#   NO_BUILD=1     use the binaries already in BIN_DIR
#   START_TIMEOUT  seconds to wait for the processes and leaders (default 60)
#   STOP_HINT      how the printed help says to stop (set by run.sh)
#   SECURE=1       start with TLS and authentication: every process serves
#                  HTTPS, nodes talk Raft over mutual TLS, and every request
#                  needs a password or a certificate. The certificates come
#                  from CERTS_DIR (made with go run ./cmd/certs if missing);
#                  CERTS_DIR/users.json is made with the user admin (all
#                  permissions) and a random password, kept in
#                  CERTS_DIR/admin.password (mode 0600) and printed at every
#                  start. The script's own requests use the admin
#                  certificate. The other commands find out by themselves
#                  that the cluster in DATA_DIR was started with SECURE=1.
#   CERTS_DIR      the certificates and users file for SECURE=1 (default:
#                  certs/ at the repo root, as make certs writes it)

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA_DIR=${DATA_DIR:-data}
case $DATA_DIR in
/*) ;;
*) DATA_DIR=$ROOT/$DATA_DIR ;;
esac
DIST_ADDR=${DIST_ADDR:-127.0.0.1:8080}
HTTP_BASE=${HTTP_BASE:-11000}
RAFT_BASE=${RAFT_BASE:-12000}
START_TIMEOUT=${START_TIMEOUT:-60}
BIN=${BIN_DIR:-$ROOT/bin}
case $BIN in
/*) ;;
*) BIN=$ROOT/$BIN ;;
esac
STOP_HINT=${STOP_HINT:-scripts/cluster.sh stop (or make stop)}
LOGS=$DATA_DIR/logs
PIDS=$DATA_DIR/pids
NODES="node0 node1 node2 node3 node4 node5"

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}

# What SECURE=1 adds: the TLS and -auth flags, the certificates and users
# file, the printed help. It sets SECURE_ON, SCHEME and CURL_TLS.
# shellcheck source=scripts/secure.sh
. "$ROOT/scripts/secure.sh"

# node_info NAME sets SHARD, HTTP, RAFT and JOIN (empty for a shard's
# founding node) for a node name: nodeN is node N%3 of shard N/3.
node_info() {
	case $1 in
	node[0-5]) ;;
	*) return 1 ;;
	esac
	local n=${1#node} i
	SHARD=$((n / 3)) i=$((n % 3))
	HTTP=127.0.0.1:$((HTTP_BASE + 100 * SHARD + i))
	RAFT=127.0.0.1:$((RAFT_BASE + 100 * SHARD + i))
	JOIN=
	[ $i = 0 ] || JOIN=127.0.0.1:$((HTTP_BASE + 100 * SHARD))
}

# shard_nodes SHARD prints the shard's HTTP addresses, comma-separated, as
# the distributor's -shard flag takes them.
shard_nodes() {
	local base=$((HTTP_BASE + 100 * $1))
	echo "127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))"
}

# in_use HOST:PORT succeeds if something accepts connections there. An
# empty or wildcard host is checked on 127.0.0.1.
in_use() {
	local host=${1%:*} port=${1##*:}
	case $host in "" | 0.0.0.0 | "[::]") host=127.0.0.1 ;; esac
	timeout 1 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

# check_free fails, naming the address and how to choose another, if any
# address a process that is not running yet would listen on is taken.
check_free() {
	local n
	for n in $NODES distributor; do
		[ -z "$(pid_of "$n")" ] || continue
		if [ "$n" = distributor ]; then
			in_use "$DIST_ADDR" && die "$DIST_ADDR (the distributor's address) is in use by another program; stop it, or choose another address, e.g. DIST_ADDR=127.0.0.1:8081 make run"
		else
			node_info "$n"
			in_use "$HTTP" && die "$HTTP ($n's HTTP address) is in use by another program; stop it, or move the nodes' ports, e.g. HTTP_BASE=21000 RAFT_BASE=22000 make run"
			in_use "$RAFT" && die "$RAFT ($n's Raft address) is in use by another program; stop it, or move the nodes' ports, e.g. HTTP_BASE=21000 RAFT_BASE=22000 make run"
		fi
	done
	return 0
}

# has_state NAME succeeds if the node's data directory holds its state.
has_state() {
	[ -e "$DATA_DIR/$1/raft.db" ] || [ -e "$DATA_DIR/$1/identity.json" ]
}

# join_for NAME sets JOIN to what the node's next start needs. A joining
# node is given its shard's other members on every start: on a restart
# that is harmless, and it lets a node that lost its data join again. The
# founding node gets no -join (it founds its shard) unless its data is gone
# while another member's is there: then its shard exists, and founding a
# new one would split it, so it joins like any other node that lost its
# data (the group takes it back as a non-voter until it has caught up).
join_for() {
	local name=$1 n shard founder others=() list='' exists=0
	node_info "$name"
	shard=$SHARD
	[ -z "$JOIN" ] && founder=1
	for n in $NODES; do
		node_info "$n"
		if [ "$SHARD" = "$shard" ] && [ "$n" != "$name" ]; then
			others+=("$n")
			list=${list:+$list,}$HTTP
			has_state "$n" && exists=1
		fi
	done
	node_info "$name"
	JOIN=$list
	if [ -n "${founder:-}" ]; then
		if has_state "$name" || [ $exists = 0 ]; then
			JOIN=
		else
			echo "$name has no data but its shard does: it joins its shard instead of founding a new one"
		fi
	fi
	return 0
}

# running prints the names of the processes of this cluster that run.
running() {
	local n
	for n in $NODES distributor; do
		[ -z "$(pid_of "$n")" ] || echo "$n"
	done
}

need_curl() {
	command -v curl >/dev/null 2>&1 || die "curl is needed (e.g. apt-get install curl)"
}

build() {
	[ "${NO_BUILD:-}" = 1 ] && return 0
	command -v go >/dev/null 2>&1 || die "go is needed to build (or set NO_BUILD=1 with binaries in bin/)"
	echo "building bin/hraftd and bin/distributor..."
	(cd "$ROOT" && go build -o "$BIN/hraftd" . && go build -o "$BIN/distributor" ./distributor)
}

# pid_of NAME prints the pid of a running process started by this script,
# or nothing. A pid file whose process is gone, or whose pid now belongs to
# another program, is removed.
pid_of() {
	local f=$PIDS/$1.pid pid comm
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		comm=$(ps -p "$pid" -o comm= 2>/dev/null || true)
		case $comm in
		*hraftd* | *distributor*)
			echo "$pid"
			return 0
			;;
		esac
	fi
	rm -f "$f"
}

# http_get URL prints the body of a GET, or fails; one second at most. In
# a secure cluster it presents the admin certificate.
http_get() {
	curl -fsS -m 1 ${CURL_TLS[@]+"${CURL_TLS[@]}"} "$1" 2>/dev/null
}

# json_field NAME JSON prints the first string or number value of "NAME".
json_field() {
	printf '%s' "$2" | grep -o "\"$1\":\(\"[^\"]*\"\|[0-9]*\)" | head -n 1 | sed 's/^[^:]*://; s/"//g'
}

# role NAME prints a node's Raft role as its /status reports it, or "down".
role() {
	node_info "$1"
	local st
	if st=$(http_get "$SCHEME://$HTTP/status"); then
		json_field state "$st"
	else
		echo down
	fi
}

# start_one NAME starts one process unless it is already running.
start_one() {
	local name=$1 pid args bin
	pid=$(pid_of "$name")
	if [ -n "$pid" ]; then
		echo "$name is already running (pid $pid)"
		return 0
	fi
	if [ "$name" = distributor ]; then
		bin=$BIN/distributor
		args=(-addr "$DIST_ADDR" -shard "$(shard_nodes 0)" -shard "$(shard_nodes 1)")
		secure_args distributor
	else
		node_info "$name" || die "unknown node $name (use node0..node5 or distributor)"
		bin=$BIN/hraftd
		args=(-id "$name" -haddr "$HTTP" -raddr "$RAFT")
		join_for "$name"
		[ -n "$JOIN" ] && args+=(-join "$JOIN")
		secure_args "$name"
		args+=("$DATA_DIR/$name")
	fi
	[ -x "$bin" ] || die "$bin is missing; run without NO_BUILD=1 to build it"
	mkdir -p "$LOGS" "$PIDS"
	# wait_up shows only what this start wrote, not earlier runs' lines.
	wc -c 2>/dev/null <"$LOGS/$name.log" >"$PIDS/$name.logstart" || echo 0 >"$PIDS/$name.logstart"
	echo "=== $(date '+%Y-%m-%d %H:%M:%S') starting $name: $bin ${args[*]}" >>"$LOGS/$name.log"
	# Job control puts the process in its own process group, so that a
	# Ctrl-C typed in this terminal later (e.g. to stop run.sh) does not
	# reach it: run.sh stops everything in order instead.
	set -m
	nohup "$bin" "${args[@]}" >>"$LOGS/$name.log" 2>&1 </dev/null &
	echo $! >"$PIDS/$name.pid"
	set +m
	echo "started $name (pid $!), log $LOGS/$name.log"
}

# new_log_lines NAME prints what NAME logged since its last start.
new_log_lines() {
	tail -c +$(($(cat "$PIDS/$1.logstart" 2>/dev/null || echo 0) + 1)) "$LOGS/$1.log"
}

# wait_up NAME waits until a process answers on its HTTP address, failing
# with its log if it exits or the deadline passes.
wait_up() {
	local name=$1 url i
	if [ "$name" = distributor ]; then
		url="$SCHEME://$DIST_ADDR/status"
	else
		node_info "$name"
		url="$SCHEME://$HTTP/status"
	fi
	for ((i = 0; i < START_TIMEOUT * 10; i++)); do
		if [ -z "$(pid_of "$name")" ]; then
			echo "$name exited; what it logged ($LOGS/$name.log):" >&2
			new_log_lines "$name" | tail -n 20 >&2
			return 1
		fi
		http_get "$url" >/dev/null && return 0
		sleep 0.1
	done
	die "$name did not answer on $url within ${START_TIMEOUT}s; see $LOGS/$name.log"
}

# leader_of SHARD prints the node that leads a shard by its own account
# (its /status has me = leader), or nothing.
leader_of() {
	local n st me
	for n in $NODES; do
		node_info "$n"
		[ "$SHARD" = "$1" ] || continue
		st=$(http_get "$SCHEME://$HTTP/status") || continue
		me=$(printf '%s' "$st" | grep -o '"me":{"id":"[^"]*"' | sed 's/.*"id":"//; s/"$//')
		if [ -n "$me" ] && printf '%s' "$st" | grep -q "\"leader\":{\"id\":\"$me\""; then
			echo "$n"
			return 0
		fi
	done
}

# wait_leaders waits until both shards have a leader and the distributor
# has found both.
wait_leaders() {
	local i st
	for ((i = 0; i < START_TIMEOUT * 10; i++)); do
		if [ -n "$(leader_of 0)" ] && [ -n "$(leader_of 1)" ] &&
			st=$(http_get "$SCHEME://$DIST_ADDR/status") && ! printf '%s' "$st" | grep -q '"leader":null'; then
			return 0
		fi
		sleep 0.1
	done
	die "the shards have no leaders after ${START_TIMEOUT}s; see scripts/cluster.sh status and the logs in $LOGS"
}

# wait_admitted waits until every node votes in its group: a joining node
# is a non-voter until it has caught up, and a group whose other members
# are not voters yet cannot survive the loss of its leader.
wait_admitted() {
	local i n st pending
	for ((i = 0; i < START_TIMEOUT * 10; i++)); do
		pending=
		for n in $NODES; do
			node_info "$n"
			st=$(http_get "$SCHEME://$HTTP/status") && printf '%s' "$st" | grep -q '"admitted":true' || pending="$pending $n"
		done
		[ -z "$pending" ] && return 0
		sleep 0.1
	done
	die "not voters after ${START_TIMEOUT}s:$pending; see scripts/cluster.sh status and the logs in $LOGS"
}

print_table() {
	local n dpid
	printf '%-6s %-12s %-16s %-16s %-10s %s\n' SHARD NODE HTTP RAFT ROLE PID
	for n in $NODES; do
		node_info "$n"
		printf '%-6s %-12s %-16s %-16s %-10s %s\n' "$SHARD" "$n" "$HTTP" "$RAFT" "$(role "$n")" "$(pid_of "$n")"
	done
	dpid=$(pid_of distributor)
	if [ -n "$dpid" ] && http_get "$SCHEME://$DIST_ADDR/status" >/dev/null; then
		printf '%-6s %-12s %-16s %-16s %-10s %s\n' - distributor "$DIST_ADDR" - up "$dpid"
	else
		printf '%-6s %-12s %-16s %-16s %-10s %s\n' - distributor "$DIST_ADDR" - down "$dpid"
	fi
	return 0
}

print_examples() {
	local node1
	node_info node1
	node1=$HTTP
	if [ "$SECURE_ON" = 1 ]; then
		print_secure_examples "$node1"
		return 0
	fi
	cat <<EOF

Dashboard: http://$DIST_ADDR/   (live view of both shards; kill a leader and watch)

Try it (batman hashes to shard 0: fnv32a("batman") % 2 = 0):
  curl -s -XPOST $DIST_ADDR/set -d '{"clave":"batman","valor":"bruce"}'
  curl -s $DIST_ADDR/get/batman
  curl -s $DIST_ADDR/shard/batman
  curl -s '$node1/key/batman?level=none'     # from one node of shard 0 (a follower may lag a moment)
  curl -s $DIST_ADDR/status
Fail over:
  scripts/cluster.sh kill $(leader_of 0 || true)    # SIGKILL shard 0's leader; writes keep working
  scripts/cluster.sh restart $(leader_of 0 || true)
Logs: $LOGS/   Data: $DATA_DIR/   Stop: $STOP_HINT
EOF
}

# stop_procs NAME... sends SIGTERM to each running process, waits up to 15s
# for all of them to exit, then SIGKILLs what is left.
stop_procs() {
	local n pid pids=() names=() i alive
	for n in "$@"; do
		pid=$(pid_of "$n")
		[ -n "$pid" ] || continue
		kill -TERM "$pid" 2>/dev/null || true
		pids+=("$pid")
		names+=("$n")
	done
	[ ${#pids[@]} -gt 0 ] || return 0
	for ((i = 0; i < 150; i++)); do
		alive=0
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for i in "${!pids[@]}"; do
		if kill -0 "${pids[$i]}" 2>/dev/null; then
			echo "${names[$i]} did not stop within 15s; sending SIGKILL"
			kill -KILL "${pids[$i]}" 2>/dev/null || true
		fi
		rm -f "$PIDS/${names[$i]}.pid"
		echo "stopped ${names[$i]}"
	done
}

cmd_start() {
	need_curl
	mark_mode
	check_free
	build
	[ "$SECURE_ON" = 1 ] && ensure_secure
	local n
	for n in $NODES; do
		start_one "$n"
	done
	start_one distributor
	for n in $NODES distributor; do
		wait_up "$n"
	done
	echo "waiting for both shards to elect leaders and take in their members..."
	wait_leaders
	wait_admitted
	echo
	print_table
	print_examples
}

cmd_stop() {
	# The distributor first, so that no request is mid-way when its
	# shard goes; then every node at once.
	stop_procs distributor
	# shellcheck disable=SC2086
	stop_procs $NODES
}

cmd_status() {
	need_curl
	print_table
	local st
	if st=$(http_get "$SCHEME://$DIST_ADDR/status"); then
		echo
		echo "distributor: leaders by shard (GET $DIST_ADDR/status for everything):"
		printf '%s' "$st" | grep -o '"shard":[0-9]*,"leader":\(null\|{"id":"[^"]*"\)' |
			sed 's/"shard":\([0-9]*\),"leader":/  shard \1: /; s/{"id":"\([^"]*\)"/\1/'
	fi
}

cmd_kill() {
	local name=${1:-} pid
	[ -n "$name" ] || die "usage: cluster.sh kill NODE (node0..node5 or distributor)"
	[ "$name" = distributor ] || node_info "$name" || die "unknown node $name (use node0..node5 or distributor)"
	pid=$(pid_of "$name")
	[ -n "$pid" ] || die "$name is not running"
	kill -KILL "$pid"
	rm -f "$PIDS/$name.pid"
	echo "killed $name (pid $pid) with SIGKILL, as a crash would"
	echo "see the new leader with: scripts/cluster.sh status"
}

cmd_restart() {
	local name=${1:-}
	[ -n "$name" ] || die "usage: cluster.sh restart NODE (node0..node5 or distributor)"
	[ "$name" = distributor ] || node_info "$name" || die "unknown node $name (use node0..node5 or distributor)"
	need_curl
	stop_procs "$name"
	start_one "$name"
	wait_up "$name"
	[ "$name" = distributor ] && return 0
	wait_caught_up "$name"
}

# wait_caught_up NAME waits until a restarted node follows a leader and has
# applied everything its shard had committed when it came back.
wait_caught_up() {
	local name=$1 leader st target=0 applied i
	node_info "$name"
	local http=$HTTP shard=$SHARD
	for ((i = 0; i < START_TIMEOUT * 10; i++)); do
		leader=$(leader_of "$shard")
		if [ -n "$leader" ] && [ "$target" = 0 ]; then
			node_info "$leader"
			st=$(http_get "$SCHEME://$HTTP/status") && target=$(json_field commit_index "$st")
		fi
		if [ "$target" != 0 ] && st=$(http_get "$SCHEME://$http/status"); then
			applied=$(json_field applied_index "$st")
			# A node back on an empty data directory votes only once its
			# group has taken it back (admitted).
			if [ "${applied:-0}" -ge "$target" ] && printf '%s' "$st" | grep -q '"admitted":true'; then
				echo "$name is back as $(json_field state "$st") and has caught up (applied index $applied, shard $shard's leader $leader)"
				return 0
			fi
		fi
		sleep 0.1
	done
	echo "$name's status: $(http_get "$SCHEME://$http/status" || echo unreachable)" >&2
	echo "what $name logged since it started ($LOGS/$name.log):" >&2
	new_log_lines "$name" | tail -n 20 >&2
	die "$name has not caught up with its shard after ${START_TIMEOUT}s"
}

cmd_wipe() {
	cmd_stop
	local n
	for n in $NODES; do
		rm -rf "${DATA_DIR:?}/$n"
	done
	rm -rf "${LOGS:?}" "${PIDS:?}"
	rm -f "$SECURE_MARK"
	rmdir "$DATA_DIR" 2>/dev/null || true
	echo "wiped the data and logs under $DATA_DIR"
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
kill) cmd_kill "${2:-}" ;;
restart) cmd_restart "${2:-}" ;;
wipe) cmd_wipe ;;
running) running ;;
*)
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
	[ -n "${1:-}" ] && [ "$1" != -h ] && [ "$1" != help ] && exit 2
	exit 0
	;;
esac
