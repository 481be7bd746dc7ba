#!/usr/bin/env bash
# run.sh: what `make run` does. Builds both binaries, starts the six nodes
# and the distributor (scripts/cluster.sh start), then stays in the
# foreground showing the distributor's log, until Ctrl-C stops everything
# cleanly (exit status 0).
#
#   scripts/run.sh            keep the data of earlier runs (data/ at the repo root)
#   scripts/run.sh --wipe     start from empty nodes
#   SECURE=1 scripts/run.sh   with TLS and passwords (make run SECURE=1): HTTPS
#                             everywhere, Raft over mutual TLS, -auth; makes
#                             certs/ and certs/users.json if missing and prints
#                             the admin's password and how to curl
#
# It owns the cluster it starts: a second run.sh on the same DATA_DIR, or
# one started while processes of `scripts/cluster.sh start` run there,
# refuses. The environment of cluster.sh applies (DATA_DIR, DIST_ADDR,
# HTTP_BASE, RAFT_BASE, BIN_DIR, NO_BUILD, START_TIMEOUT, SECURE, CERTS_DIR).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLUSTER=$HERE/cluster.sh
DATA_DIR=${DATA_DIR:-data}
case $DATA_DIR in
/*) ;;
*) DATA_DIR=$(cd "$HERE/.." && pwd)/$DATA_DIR ;;
esac
export DATA_DIR
OWNER=$DATA_DIR/run.pid

wipe=0
case ${1:-} in
"") ;;
--wipe) wipe=1 ;;
-h | --help)
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
	exit 0
	;;
*)
	echo "run.sh: unknown argument $1 (use --wipe or nothing)" >&2
	exit 2
	;;
esac

# A live run.sh that wrote the owner file owns the cluster in DATA_DIR.
if [ -f "$OWNER" ]; then
	owner=$(cat "$OWNER")
	if kill -0 "$owner" 2>/dev/null && tr '\0' ' ' <"/proc/$owner/cmdline" 2>/dev/null | grep -q run.sh; then
		echo "run.sh: a cluster started by make run (pid $owner) is already running in $DATA_DIR." >&2
		echo "Use it as it is, stop it with Ctrl-C in its terminal (or make stop), or start a second one elsewhere, e.g." >&2
		echo "  DATA_DIR=data2 DIST_ADDR=127.0.0.1:8081 HTTP_BASE=21000 RAFT_BASE=22000 make run" >&2
		exit 1
	fi
fi
others=$("$CLUSTER" running | tr '\n' ' ')
if [ -n "$others" ]; then
	echo "run.sh: processes started by scripts/cluster.sh start are running in $DATA_DIR: $others" >&2
	echo "Use them with scripts/cluster.sh, or stop them first (make stop) and run make run again." >&2
	exit 1
fi
[ $wipe = 1 ] && "$CLUSTER" wipe
mkdir -p "$DATA_DIR"
echo $$ >"$OWNER"

tailpid=
stopping=0
cleanup() {
	# Runs once, on Ctrl-C, on TERM, when the output pipe closes, or if
	# start fails half-way, so that nothing is left running behind the
	# user's back. Ctrl-C also ends a `| tee` reading our output: writes
	# then fail, so SIGPIPE is ignored and output goes nowhere rather
	# than stopping the cleanup half-way.
	[ $stopping = 1 ] && return
	stopping=1
	trap - INT TERM
	trap '' PIPE
	set +e
	[ -n "$tailpid" ] && kill "$tailpid" 2>/dev/null
	if ! { echo && echo "stopping the cluster..."; } 2>/dev/null; then
		exec >/dev/null 2>&1
	fi
	"$CLUSTER" stop
	rm -f "$OWNER"
}
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

STOP_HINT="Ctrl-C in this terminal" "$CLUSTER" start

echo
echo "Running. Press Ctrl-C to stop everything. Following $DATA_DIR/logs/distributor.log:"
tail -n 0 -f "$DATA_DIR/logs/distributor.log" &
tailpid=$!
# wait returns as soon as a trapped signal arrives, and the trap runs; it
# also returns when tail ends because nobody reads our output any more.
wait "$tailpid" || true
