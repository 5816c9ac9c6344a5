#!/bin/sh
# SPDX-License-Identifier: MIT
# Third-party XML-RPC clients from Debian against the real lockd: Perl's
# RPC::XML and XMLRPC::Lite, PHP's xmlrpc extension and xmlrpc-c's CLI
# "xmlrpc" read lock_token's token as a positive number, send it back to
# check(), unlock, and get the documented fault strings.  Clients that are
# not installed are left out; none installed: exit 77 (skipped).
# Last line: "suite-result: N passed, M failed".
set -u

. "$(dirname "$0")/../checks.sh"
here=$(cd "$(dirname "$0")" && pwd)

# The clients: NAME and the command that makes one call (see rpcxml.pl).
clients=
perl -MRPC::XML::Client -e1 2>/dev/null && clients="$clients rpcxml"
perl -MXMLRPC::Lite -e1 2>/dev/null && clients="$clients xmlrpclite"
command -v php >/dev/null 2>&1 &&
    php -r 'exit(function_exists("xmlrpc_decode") ? 0 : 1);' 2>/dev/null &&
    clients="$clients php"
command -v xmlrpc >/dev/null 2>&1 && clients="$clients xmlrpc_c"
if [ -z "$clients" ]; then
	echo "SKIP: none of the third-party clients is installed (Debian:" \
	    "librpc-xml-perl libxmlrpc-lite-perl php-cli php-xmlrpc" \
	    "xmlrpc-api-utils; ./dev.sh deps installs them)"
	result
	exit 77
fi
echo "clients:$clients"

# make check exports LOCKD (an absolute path); by hand, run it from the
# build directory or export LOCKD.
LOCKD=${LOCKD:-$PWD/server/lockd}
limit=
command -v timeout >/dev/null 2>&1 && limit="timeout 30"

tmp=$(mktemp -d /tmp/lockd-clients.XXXXXX) || exit 1
pid=

# is_lockd PID: PID is a live lockd (not a zombie, not a reused pid).
is_lockd() {
	case $(cat "/proc/$1/stat" 2>/dev/null) in
	*"(lockd) "[!Z]*) return 0 ;;
	*) return 1 ;;
	esac
}

# starting PID: the child started below has not ended.  Until its exec it
# is still a shell, so is_lockd would take it for dead; that made the
# start fail on a busy machine with no word from lockd.
starting() {
	case $(cat "/proc/$1/stat" 2>/dev/null) in
	"" | *") Z "*) return 1 ;;
	*) return 0 ;;
	esac
}

cleanup() {
	if [ -n "$pid" ] && is_lockd "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		i=0
		while is_lockd "$pid" && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		is_lockd "$pid" && kill -KILL "$pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# lockd on a port the kernel picks, a fresh lock directory and an empty
# configuration; as root it stays root (nobody could not use $tmp).
mkdir "$tmp/locks"
: >"$tmp/empty.conf"
user=
[ "$(id -u)" -eq 0 ] && user="--user root"
# shellcheck disable=SC2086
"$LOCKD" --foreground --listen 127.0.0.1 --port 0 --lockdir "$tmp/locks" \
    --config "$tmp/empty.conf" $user </dev/null >/dev/null 2>"$tmp/stderr" &
pid=$!
port=
i=0
while [ -z "$port" ] && [ $i -lt 300 ] && starting "$pid"; do
	sleep 0.1
	port=$(sed -n 's|^lockd: listening on http://127\.0\.0\.1:\([0-9]*\)/$|\1|p' \
	    "$tmp/stderr" | head -n 1)
	i=$((i + 1))
done
if [ -z "$port" ]; then
	fail "lockd starts ($LOCKD)"
	sed 's/^/    lockd: /' "$tmp/stderr"
	result
	exit 1
fi
url=http://127.0.0.1:$port/

# xmlrpc_c URL METHOD ARGS...: xmlrpc-c's CLI, its answer in the form of
# the other adapters ("value:V", "fault:CODE:STRING", "error:...").
xmlrpc_c() {
	$limit xmlrpc "$@" >"$tmp/out" 2>&1
	sed -n -e 's/^Integer: /value:/p' -e 's/^64-bit integer: /value:/p' \
	    -e 's/^Boolean: TRUE$/value:1/p' -e 's/^Boolean: FALSE$/value:0/p' \
	    -e 's/^Nil$/value:nil/p' \
	    -e 's/^.*RPC failed at server\.  \(.*\)\.  (XML-RPC fault code \(-*[0-9]*\))$/fault:\2:\1/p' \
	    "$tmp/out" | grep . || { printf 'error:'; tr '\n' ' ' <"$tmp/out"; echo; }
}

# call CLIENT METHOD ARGS...: one call (arguments s/STRING, i/INTEGER).
call() {
	c=$1
	shift
	case $c in
	rpcxml) $limit perl "$here/rpcxml.pl" "$url" "$@" 2>&1 ;;
	xmlrpclite) $limit perl "$here/xmlrpclite.pl" "$url" "$@" 2>&1 ;;
	php) $limit php "$here/xmlrpc.php" "$url" "$@" 2>&1 ;;
	xmlrpc_c) xmlrpc_c "$url" "$@" ;;
	esac
}

# expect NAME GOT WANTED: one check, passed when GOT is WANTED.
expect() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		fail "$1"
		echo "    got:    $2"
		echo "    wanted: $3"
	fi
}

for c in $clients; do
	r=res-$c
	me=cli-$c
	got=$(call "$c" lock_token "s/$r" "s/$me")
	token=${got#value:}
	case $got in
	value:[1-9]*[!0-9]* | value:0*) token= ;;
	value:[1-9]*) ;;
	*) token= ;;
	esac
	if [ -n "$token" ]; then
		ok "$c: lock_token reads the token as a positive number ($token)"
	else
		fail "$c: lock_token reads the token as a positive number"
		echo "    got: $got"
		token=1
	fi
	expect "$c: check with the token sent back is true" \
	    "$(call "$c" check "s/$r" "s/$me" "i/$token")" "value:1"
	expect "$c: lock twice: fault 1" \
	    "$(call "$c" lock_token "s/$r" "s/$me")" \
	    "fault:1:Resource already locked by '$me'"
	expect "$c: unlock by another client: fault 2" \
	    "$(call "$c" unlock "s/$r" "s/other")" \
	    "fault:2:Resource locked by '$me' cannot be unlocked by 'other'"
	got=$(call "$c" unlock "s/$r" "s/$me")
	case $got in
	value:*) ok "$c: unlock ($got)" ;;
	*) fail "$c: unlock"; echo "    got: $got" ;;
	esac
	expect "$c: check after unlock is false" \
	    "$(call "$c" check "s/$r" "s/$me" "i/$token")" "value:0"
	expect "$c: unlock again: fault 3" \
	    "$(call "$c" unlock "s/$r" "s/$me")" "fault:3:Resource not locked"
done

result
[ "$failed" -eq 0 ]
