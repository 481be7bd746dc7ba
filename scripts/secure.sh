# secure.sh: what SECURE=1 adds to cluster.sh, which sources it (it is not
# a command of its own): TLS and -auth flags for every process, the
# development certificates and users file they need, and the printed help
# with https:// and credentials. See SECURE and CERTS_DIR in cluster.sh.
# shellcheck shell=bash

CERTS=${CERTS_DIR:-certs}
case $CERTS in
/*) ;;
*) CERTS=$ROOT/$CERTS ;;
esac
USERS=$CERTS/users.json
PWFILE=$CERTS/admin.password
# SECURE_MARK exists while the cluster in DATA_DIR is one started with
# SECURE=1, so that status, kill and restart need not be told again.
SECURE_MARK=$DATA_DIR/secure

# secure_mode COMMAND prints 1 if this run is secure: SECURE says so for
# start; for the other commands, SECURE or else the cluster in DATA_DIR.
secure_mode() {
	case ${SECURE:-} in
	1 | true | yes)
		echo 1
		return 0
		;;
	0 | false | no) ;;
	"")
		if [ "${1:-}" != start ] && [ -f "$SECURE_MARK" ]; then
			echo 1
			return 0
		fi
		;;
	*) die "SECURE=$SECURE: use SECURE=1 for TLS and authentication, or leave it unset" ;;
	esac
	echo 0
}

SECURE_ON=$(secure_mode "${1:-}")
# shellcheck disable=SC2034 # SCHEME and CURL_TLS are cluster.sh's
SCHEME=http
CURL_TLS=()
# shellcheck disable=SC2034
if [ "$SECURE_ON" = 1 ]; then
	SCHEME=https
	CURL_TLS=(--cacert "$CERTS/ca.crt" --cert "$CERTS/admin.crt" --key "$CERTS/admin.key")
fi

# secure_args NAME adds the TLS and -auth flags of a process to args, in
# a secure cluster: its own certificate (nodeN.crt, distributor.crt), the
# CA and the users file.
secure_args() {
	[ "$SECURE_ON" = 1 ] || return 0
	args+=(-tls-cert "$CERTS/$1.crt" -tls-key "$CERTS/$1.key" -tls-ca "$CERTS/ca.crt" -auth "$USERS")
}

# ensure_secure makes what a secure start needs and is missing: the
# certificates (cmd/certs keeps the files that exist and adds the others)
# and a users file with the user admin and a random password.
ensure_secure() {
	local n missing=0 pw
	for n in ca $NODES distributor admin; do
		[ -f "$CERTS/$n.crt" ] && [ -f "$CERTS/$n.key" ] || missing=1
	done
	if [ $missing = 1 ]; then
		command -v go >/dev/null 2>&1 || die "go is needed to make the certificates in $CERTS (go run ./cmd/certs -dir $CERTS)"
		echo "making development certificates in $CERTS (go run ./cmd/certs)..."
		(cd "$ROOT" && go run ./cmd/certs -dir "$CERTS") || die "could not make the certificates in $CERTS"
	fi
	[ -f "$USERS" ] && return 0
	command -v go >/dev/null 2>&1 || die "go is needed to make $USERS (go run ./cmd/users)"
	# 15 random bytes are 20 base64 characters, none of them padding.
	pw=$(head -c 15 /dev/urandom | base64 | tr '+/' '-_')
	printf '%s\n' "$pw" | (cd "$ROOT" && go run ./cmd/users add -file "$USERS" -user admin -perms all) >/dev/null ||
		die "could not make $USERS"
	(umask 077 && printf '%s\n' "$pw" >"$PWFILE")
	echo "made $USERS with the user admin (all permissions) and a random password, kept in $PWFILE (mode 0600)"
}

# mark_mode records whether the cluster in DATA_DIR is secure, refusing to
# start processes of one kind beside running ones of the other: a cluster
# is all TLS or all plain.
mark_mode() {
	local others was=0
	others=$(running | tr '\n' ' ')
	[ -f "$SECURE_MARK" ] && was=1
	if [ -n "$others" ] && [ "$was" != "$SECURE_ON" ]; then
		if [ "$was" = 1 ]; then
			die "the processes running in $DATA_DIR (${others% }) were started with SECURE=1; pass SECURE=1 too, or stop them first (make stop)"
		fi
		die "the processes running in $DATA_DIR (${others% }) were started without SECURE=1; stop them first (make stop)"
	fi
	mkdir -p "$DATA_DIR"
	if [ "$SECURE_ON" = 1 ]; then
		: >"$SECURE_MARK"
	else
		rm -f "$SECURE_MARK"
	fi
}

# show PATH prints a path relative to the current directory if it is
# below it, for commands to copy.
show() {
	case $1 in
	"$PWD"/*) echo "${1#"$PWD"/}" ;;
	*) echo "$1" ;;
	esac
}

# print_secure_examples NODE1 is print_examples for a secure cluster.
print_secure_examples() {
	local node1=$1 c pass
	c=$(show "$CERTS")
	if [ -f "$PWFILE" ]; then
		pass=$(cat "$PWFILE")
	else
		pass=PASSWORD
		echo
		echo "$c/users.json was not made by this script: use one of its users in place of admin:PASSWORD below."
	fi
	cat <<EOF

Secure: HTTPS everywhere (CA $c/ca.crt), Raft over mutual TLS, and every request needs
a password (users in $c/users.json) or a certificate from the CA.
  user admin, password $pass   (kept in $c/admin.password)
  more users: go run ./cmd/users add -file $c/users.json -user NAME -perms read,write

Dashboard: https://$DIST_ADDR/   (log in as admin; the browser does not know the development CA: import $c/ca.crt or accept its warning)

Try it (batman hashes to shard 0: fnv32a("batman") % 2 = 0):
  curl -s --cacert $c/ca.crt -u admin:$pass -XPOST https://$DIST_ADDR/set -d '{"clave":"batman","valor":"bruce"}'
  curl -s --cacert $c/ca.crt -u admin:$pass https://$DIST_ADDR/get/batman
  curl -s --cacert $c/ca.crt -u admin:$pass https://$DIST_ADDR/shard/batman
  curl -s --cacert $c/ca.crt --cert $c/admin.crt --key $c/admin.key 'https://$node1/key/batman?level=none'   # a node, with the admin certificate
  curl -s --cacert $c/ca.crt https://$DIST_ADDR/get/batman     # no credentials: 401
Fail over:
  scripts/cluster.sh kill $(leader_of 0 || true)    # SIGKILL shard 0's leader; writes keep working
  scripts/cluster.sh restart $(leader_of 0 || true)
Logs: $LOGS/   Data: $DATA_DIR/   Stop: $STOP_HINT
EOF
}
