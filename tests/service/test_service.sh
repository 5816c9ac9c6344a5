#!/bin/sh
# SPDX-License-Identifier: MIT
# lockd as a service: installs into a DESTDIR, runs the installed daemon
# through the installed init script as root with a temporary configuration,
# and checks locking, the audit trail, reload and log reopening, stop, a
# stale pidfile, --check on a broken configuration and uninstall.
# Needs root (it starts lockd as root so that it drops to "nobody");
# otherwise exit 77 (skipped).  Last line: "suite-result: N passed, M failed".
set -u

. "$(dirname "$0")/../checks.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root (starts lockd as root through the init script" \
	    "and checks that it drops to nobody)"
	result
	exit 77
fi
for tool in python3 ps make; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool not found"
		result
		exit 77
	fi
done
if ! id nobody >/dev/null 2>&1; then
	echo "SKIP: no user nobody"
	result
	exit 77
fi

# make check exports LOCKD and LOCKCMD (absolute paths); by hand, run it
# from the build directory.
LOCKD=${LOCKD:-$PWD/server/lockd}
LOCKCMD=${LOCKCMD:-$PWD/client/lockcmd}
builddir=$(dirname "$(dirname "$LOCKD")")

tmp=$(mktemp -d /tmp/lockd-svc.XXXXXX) || exit 1
# lockd drops to nobody, who must reach its pidfile and log below here.
chmod 0755 "$tmp"
dest=$tmp/dest
pidfile=$tmp/run/lockd.pid
logfile=$tmp/log/lockd.log
conf=$tmp/lockd.conf
started=

# is_lockd PID: PID is a live lockd (not a zombie: nothing may reap it).
is_lockd() {
	case $(cat "/proc/$1/stat" 2>/dev/null) in
	*"(lockd) "[!Z]*) return 0 ;;
	*) return 1 ;;
	esac
}

cleanup() {
	for pid in $started; do
		is_lockd "$pid" || continue
		kill -TERM "$pid" 2>/dev/null
		i=0
		while is_lockd "$pid" && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		is_lockd "$pid" && kill -KILL "$pid" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# initd ACTION: the installed init script, pointed at the DESTDIR install
# and the temporary configuration; its output goes to $tmp/initd.out.
initd() {
	env -u LOCKD_USER -u LOCKD_LOCKDIR -u LOCKD_RUNDIR -u LOCKD_DAEMON_OPTS \
	    SYSTEMCTL_SKIP_REDIRECT=1 \
	    LOCKD_DEFAULTS="$defaults" LOCKD_DAEMON="$daemon" \
	    LOCKD_CONFIG="$conf" LOCKD_PIDFILE="$pidfile" \
	    "$initscript" "$1" >"$tmp/initd.out" 2>&1
	rc=$?
	sed 's/^/    initd: /' "$tmp/initd.out"
	return $rc
}

# initd_rc ACTION EXPECTED: the init script exits with EXPECTED.
initd_rc() {
	initd "$1"
	[ "$rc" -eq "$2" ] || { echo "    $1 exited $rc, not $2"; return 1; }
}

# running_pid: prints the pid in the pidfile if it is a live lockd.
running_pid() {
	[ -r "$pidfile" ] || return 1
	read -r p <"$pidfile" || return 1
	is_lockd "$p" || return 1
	echo "$p"
}

# note_started: remembers the daemon's pid for the cleanup trap.
note_started() {
	if p=$(running_pid); then
		started="$started $p"
		echo "$p"
		return 0
	fi
	return 1
}

in_log() {
	grep -q -- "$1" "$logfile" 2>/dev/null
}

gone() {
	! is_lockd "$1"
}

no_file() {
	[ ! -e "$1" ]
}

owner_is() {
	[ "$(stat -c %U "$1" 2>/dev/null)" = "$2" ]
}

user_of() {
	[ "$(ps -o user= -p "$1" 2>/dev/null | tr -d ' ')" = "$2" ]
}

findone() {
	find "$dest" -path "$1" -type f 2>/dev/null | head -n 1
}

no_placeholders() {
	! grep -n '@[A-Za-z_]*@' "$@"
}

# --- install into a DESTDIR ---------------------------------------------
make_in_build() {
	(unset MAKEFLAGS MFLAGS MAKELEVEL; make -C "$builddir" "$@" \
	    DESTDIR="$dest") >>"$tmp/make.log" 2>&1
	mrc=$?
	[ $mrc -eq 0 ] || tail -n 20 "$tmp/make.log"
	return $mrc
}
check "make install DESTDIR=... succeeds" make_in_build install

daemon=$(findone '*/sbin/lockd')
initscript=$(findone '*/init.d/lockd')
defaults=$(findone '*/default/lockd')
unit=$(findone '*/systemd/system/lockd.service')
installed_conf=$(findone '*/etc/lockd.conf')
check "lockd and lockcmd installed" \
    test -x "$daemon" -a -x "$(findone '*/bin/lockcmd')"
check "man pages installed" \
    test -n "$(findone '*/man8/lockd.8')" -a -n "$(findone '*/man1/lockcmd.1')"
check "init script installed executable" test -x "$initscript"
check "defaults, unit and lockd.conf installed" \
    test -f "$defaults" -a -f "$unit" -a -f "$installed_conf"
check "installed init script, defaults and unit have their paths" \
    no_placeholders "$initscript" "$defaults" "$unit"
check "init script names the installed daemon's path" \
    grep -q "^DAEMON=/.*/sbin/lockd\$" "$initscript"
check "init script parses as POSIX sh" sh -n "$initscript"
echo "# edited by test_service" >>"$installed_conf"
make_in_build install
check "make install again keeps an edited lockd.conf" \
    grep -q "^# edited by test_service\$" "$installed_conf"

# --- lockd --check reports every error with its line -------------------
cat >"$tmp/broken.conf" <<EOF
# three errors, on lines 2, 4 and 5
port 70000
listen 127.0.0.1
bogus-keyword x
max-request-size 12abc
EOF
(cd "$tmp" && "$LOCKD" --check -c broken.conf) >"$tmp/check.out" 2>&1
rc=$?
sed 's/^/    check: /' "$tmp/check.out"
check "lockd --check on a broken config exits 1" test "$rc" -eq 1
for line in 2 4 5; do
	check "lockd --check reports broken.conf:$line:" \
	    grep -q "broken.conf:$line: " "$tmp/check.out"
done

# --- the temporary service ------------------------------------------------
mkdir -p "$tmp/locks" "$tmp/log"
chown nobody "$tmp/locks" "$tmp/log"
chmod 0700 "$tmp/locks"
port=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
url=http://127.0.0.1:$port/

# The init script checks the configuration before it starts anything.
cp "$tmp/broken.conf" "$conf"
initd start
check "start with a broken config fails with LSB 6" test "$rc" -eq 6
check "start reports the config errors by line" \
    grep -q "lockd.conf:4: " "$tmp/initd.out"
check "start with a broken config leaves no pidfile" no_file "$pidfile"

cat >"$conf" <<EOF
# lockd.conf of test_service.sh
listen 127.0.0.1
port $port
lockdir $tmp/locks
user nobody
pidfile $pidfile
log $logfile
EOF

check "start succeeds" initd_rc start 0
pid=$(note_started)
check "pidfile names a running lockd" test -n "$pid"
pid=${pid:-0}
check "run directory created, owned by nobody" owner_is "$tmp/run" nobody
check "status says running (0)" initd_rc status 0
initd start
check "start when running succeeds and changes nothing" \
    test "$rc" -eq 0 -a "$(running_pid)" = "$pid"
check "lockd runs as nobody" user_of "$pid" nobody

check "lockcmd lock r1 c1 succeeds" "$LOCKCMD" --server "$url" lock r1 c1
"$LOCKCMD" --server "$url" lock r1 c2 >/dev/null 2>&1
check "lockcmd lock r1 c2 is refused (exit 1)" test $? -eq 1
check "lockcmd unlock r1 c1 succeeds" "$LOCKCMD" --server "$url" unlock r1 c1
check "audit line: lock granted" \
    wait_until 10 in_log "lock 'r1' client 'c1' from 127.0.0.1:[0-9]*: granted"
check "audit line: lock refused" \
    wait_until 10 in_log "lock 'r1' client 'c2' from 127.0.0.1:[0-9]*: refused"
check "audit line: unlock released" \
    wait_until 10 in_log "unlock 'r1' client 'c1' from 127.0.0.1:[0-9]*: released"

check "reload succeeds" initd_rc reload 0
check "reload is logged" wait_until 10 in_log "reload:"
mv "$logfile" "$logfile.1"
check "reload after moving the log succeeds" initd_rc reload 0
check "reload reopens the log file" wait_until 10 in_log "reload:"
check "lockd still runs after reloads" test "$(running_pid)" = "$pid"

check "restart succeeds" initd_rc restart 0
newpid=$(note_started)
check "restart runs a new lockd" test -n "$newpid" -a "$newpid" != "$pid"
pid=${newpid:-0}
check "the restarted lockd serves" "$LOCKCMD" --server "$url" lock r2 c1

check "stop succeeds" initd_rc stop 0
check "lockd has exited" wait_until 10 gone "$pid"
check "no pidfile left" no_file "$pidfile"
check "status says not running (3)" initd_rc status 3
check "stop when stopped succeeds" initd_rc stop 0
check "reload when stopped fails (7)" initd_rc reload 7
check "lock survives the restarts" test -f "$tmp/locks/r2.resource.lock"

# --- a stale pidfile: lockd died without removing it ---------------------
sh -c 'exit 0' &
stale=$!
wait "$stale"
echo "$stale" >"$pidfile"
check "status with a stale pidfile says dead (1)" initd_rc status 1
check "start over a stale pidfile succeeds" initd_rc start 0
pid=$(note_started)
check "a new lockd runs" test -n "$pid" -a "$pid" != "$stale"
pid=${pid:-0}
check "stop after a stale start succeeds" initd_rc stop 0
check "lockd has exited again" wait_until 10 gone "$pid"
check "no pidfile left after the stale start" no_file "$pidfile"
check "lockd logged its stop" in_log "stopped"

# --- without start-stop-daemon and lsb-base: the plain fallbacks --------
plain=$tmp/lockd.plain
sed -e 's|/lib/lsb/init-functions|/nonexistent/init-functions|g' \
    -e 's|command -v start-stop-daemon|command -v no-such-start-stop-daemon|' \
    "$initscript" >"$plain"
chmod 0755 "$plain"
realinit=$initscript
initscript=$plain
check "plain start succeeds" initd_rc start 0
pid=$(note_started)
check "plain start runs lockd" test -n "$pid"
pid=${pid:-0}
check "plain status says running (0)" initd_rc status 0
check "plain reload succeeds" initd_rc reload 0
check "plain stop succeeds" initd_rc stop 0
check "plain stop waited for lockd to exit" gone "$pid"
check "plain status says not running (3)" initd_rc status 3
initscript=$realinit

# --- uninstall ------------------------------------------------------------
check "make uninstall DESTDIR=... succeeds" make_in_build uninstall
check "uninstall removes init script, defaults and unit" \
    test ! -e "$initscript" -a ! -e "$defaults" -a ! -e "$unit"
check "uninstall keeps the edited lockd.conf" test -f "$installed_conf"

result
[ "$failed" -eq 0 ]
