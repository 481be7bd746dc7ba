#!/usr/bin/env bash
# run.sh: what `make run` does. Builds both binaries, starts the six nodes
# and the distributor (scripts/cluster.sh start), then stays in the
# foreground showing the distributor's log, until Ctrl-C stops everything
# cleanly.
#
#   scripts/run.sh          keep the data of earlier runs (data/ at the repo root)
#   scripts/run.sh --wipe   start from empty nodes
#
# The environment of cluster.sh applies (DATA_DIR, DIST_ADDR, NO_BUILD,
# START_TIMEOUT).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLUSTER=$HERE/cluster.sh

case ${1:-} in
"") ;;
--wipe) "$CLUSTER" wipe ;;
-h | --help)
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
	exit 0
	;;
*)
	echo "run.sh: unknown argument $1 (use --wipe or nothing)" >&2
	exit 2
	;;
esac

tailpid=
stopping=0
cleanup() {
	# Runs once, on Ctrl-C, on TERM, or if start fails half-way, so that
	# nothing is left running behind the user's back.
	[ $stopping = 1 ] && return
	stopping=1
	trap - INT TERM
	[ -n "$tailpid" ] && kill "$tailpid" 2>/dev/null
	echo
	echo "stopping the cluster..."
	"$CLUSTER" stop
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

"$CLUSTER" start

DATA_DIR=${DATA_DIR:-data}
case $DATA_DIR in
/*) ;;
*) DATA_DIR=$(cd "$HERE/.." && pwd)/$DATA_DIR ;;
esac
echo
echo "Running. Press Ctrl-C to stop everything. Following $DATA_DIR/logs/distributor.log:"
tail -n 0 -f "$DATA_DIR/logs/distributor.log" &
tailpid=$!
# wait returns as soon as a trapped signal arrives, and the trap runs.
wait "$tailpid"
