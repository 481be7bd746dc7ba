#!/usr/bin/env bash
# newman.sh: runs the Postman collection (test/postman/hraftd.postman_collection.json)
# with newman.
#
#   scripts/newman.sh                       start a throwaway cluster (2x3 nodes +
#                                           distributor) on free 127.0.0.1 ports, run
#                                           the collection against it, stop everything
#   scripts/newman.sh URL [NODE_URL]        run it against a cluster already up, e.g.
#                                           scripts/newman.sh http://localhost:8080 http://localhost:11000
#
# Against a secure cluster (make run SECURE=1), give https:// URLs: newman
# then trusts CERTS_DIR/ca.crt (default certs/) and sends the user
# NEWMAN_USER (default admin) with NEWMAN_PASSWORD (default: the one in
# CERTS_DIR/admin.password), e.g.
#   scripts/newman.sh https://127.0.0.1:8080 https://127.0.0.1:11000
# HRAFTD_TEST_SECURE=1 scripts/newman.sh runs the throwaway cluster secure.
#
# The throwaway cluster is started and torn down by a Go test
# (test/postman/newman_test.go), so that ports are probed, processes are
# killed even on failure, and logs are shown when something breaks. A JUnit
# report lands in $ARTIFACTS_DIR (default artifacts/). Needs newman:
# scripts/ci-deps.sh installs it.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

case ${1:-} in
-h | --help)
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
	exit 0
	;;
"")
	cd "$ROOT"
	# CI=true makes a missing newman a failure instead of a skip.
	exec go test -count=1 -v -run '^TestNewmanCollection$' ./test/postman/
	;;
*)
	command -v newman >/dev/null || {
		echo "newman.sh: newman is not installed; run scripts/ci-deps.sh (or npm install -g newman)" >&2
		exit 1
	}
	extra=()
	case $1 in
	https://*)
		certs=${CERTS_DIR:-certs}
		case $certs in /*) ;; *) certs=$ROOT/$certs ;; esac
		user=${NEWMAN_USER:-admin}
		password=${NEWMAN_PASSWORD:-}
		if [ -z "$password" ] && [ "$user" = admin ] && [ -f "$certs/admin.password" ]; then
			password=$(cat "$certs/admin.password")
		fi
		extra=(--ssl-extra-ca-certs "$certs/ca.crt" --env-var "username=$user" --env-var "password=$password")
		;;
	esac
	exec newman run "$ROOT/test/postman/hraftd.postman_collection.json" \
		--env-var "dist=$1" --env-var "node=${2:-http://localhost:11000}" \
		--timeout-request 15000 ${extra[@]+"${extra[@]}"}
	;;
esac
