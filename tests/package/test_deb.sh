#!/bin/sh
# SPDX-License-Identifier: MIT
# The Debian packages end to end: builds lockd and lockd-client with
# dpkg-buildpackage -b in a copy of the tree, checks them with lintian,
# installs them with apt-get, runs lockd through /etc/init.d/lockd (no
# systemd needed), locks through lockcmd and Python's xmlrpc.client, checks
# the audit trail, reload, restart, stop, remove and purge; then once more
# with policy-rc.d allowing starts, to see install start lockd and remove
# stop it.  It changes the machine (packages, the user lockd, policy-rc.d
# for a while) and undoes it even on failure, so it runs only as root with
# CI=true or LOCKD_TEST_PACKAGE=1.  DEB_BUILD_OPTIONS defaults to nocheck.
# Last line: "suite-result: N passed, M failed".
set -u

. "$(dirname "$0")/../checks.sh"
skip() {
	echo "SKIP: $*"
	result
	exit 0
}
# abort MESSAGE: the machine is not fit for the test; nothing was changed.
abort() {
	fail "$1"
	result
	exit 1
}

[ "${CI:-}" = true ] || [ "${LOCKD_TEST_PACKAGE:-}" = 1 ] ||
    skip "installs packages: runs with CI=true or LOCKD_TEST_PACKAGE=1"
[ "$(id -u)" -eq 0 ] || skip "installs packages: needs root"
command -v apt-get >/dev/null 2>&1 || skip "no apt-get: not Debian"
[ -d /run/systemd/system ] &&
    skip "systemd runs here: this test drives the init script (no systemd)"

top=$(cd "$(dirname "$0")/../.." && pwd)
pidfile=/run/lockd/lockd.pid
testlog=/var/log/lockd-pkgtest.log
export DEBIAN_FRONTEND=noninteractive

# lockd_pids: every running /usr/sbin/lockd (ours: the test refuses to
# start while one runs).
lockd_pids() {
	for d in /proc/[0-9]*; do
		case $(readlink "$d/exe" 2>/dev/null) in
		/usr/sbin/lockd | "/usr/sbin/lockd (deleted)") echo "${d#/proc/}" ;;
		esac
	done
}
installed() {
	dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null |
	    grep -qv '^not-installed$'
}
port_busy() {
	python3 -c 'import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", 8044))
except OSError:
    sys.exit(0)
sys.exit(1)'
}

for p in lockd lockd-client; do
	installed "$p" && abort "package $p is installed: the test would purge it"
done
for f in /etc/lockd.conf /etc/init.d/lockd /etc/default/lockd; do
	[ -e "$f" ] && abort "$f exists (a make install?): uninstall it first"
done
[ -n "$(lockd_pids)" ] && abort "a /usr/sbin/lockd runs already"
port_busy && abort "127.0.0.1:8044 is in use: the packaged lockd needs it"
user_existed=no
getent passwd lockd >/dev/null && user_existed=yes
lockdir_existed=no
[ -e /var/lib/lockd ] && lockdir_existed=yes
policy_saved=no

tmp=$(mktemp -d /tmp/lockd-deb.XXXXXX) || exit 1

cleanup() {
	for pid in $(lockd_pids); do
		kill -TERM "$pid" 2>/dev/null
		i=0
		while [ -d "/proc/$pid" ] && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$pid" 2>/dev/null
	done
	if installed lockd || installed lockd-client; then
		apt-get purge -y -q lockd lockd-client >/dev/null 2>&1
	fi
	if [ "$policy_saved" = yes ]; then
		mv -f "$tmp/policy-rc.d" /usr/sbin/policy-rc.d
	elif [ "$policy_saved" = none ]; then
		rm -f /usr/sbin/policy-rc.d
	fi
	[ "$lockdir_existed" = no ] && rm -rf /var/lib/lockd
	if [ "$user_existed" = no ] && getent passwd lockd >/dev/null; then
		deluser --system --quiet lockd >/dev/null 2>&1
		delgroup --system --quiet lockd >/dev/null 2>&1
	fi
	rm -f "$testlog"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# --- build and lintian ------------------------------------------------------
src=$tmp/lockd
mkdir -p "$src"
# The tree as git sees it (tracked and new files, not build output).
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	    tar --null --ignore-failed-read -T - -cf -) | tar -C "$src" -xf -
else
	tar -C "$top" --exclude=./_build --exclude=./var -cf - . |
	    tar -C "$src" -xf -
fi
tools=
for t in dpkg-dev debhelper fakeroot lintian; do
	installed "$t" || tools="$tools $t"
done
deps() {
	# shellcheck disable=SC2086
	{ [ -z "$tools" ] || apt-get install -y -q --no-install-recommends \
	    $tools; } && apt-get build-dep -y -q "$src"
} >"$tmp/deps.log" 2>&1
check "build dependencies installed" deps || tail -n 20 "$tmp/deps.log"
build() {
	(cd "$src" && DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS-nocheck}
	    parallel=$(nproc)" dpkg-buildpackage -b -us -uc) \
	    >"$tmp/build.log" 2>&1
}
if ! check "dpkg-buildpackage -b -us -uc builds" build; then
	tail -n 40 "$tmp/build.log"
	result
	exit 1
fi
deb=$(ls "$tmp"/lockd_*.deb)
cdeb=$(ls "$tmp"/lockd-client_*.deb)
lintian --tag-display-limit 0 "$tmp"/lockd_*.changes >"$tmp/lintian.out" \
    2>/dev/null
sed 's/^/    lintian: /' "$tmp/lintian.out"
check "lintian: no errors, no warnings" \
    test -z "$(grep -E '^[EW]: ' "$tmp/lintian.out")"

# --- helpers for the installed service ---------------------------------------
initd() {
	/etc/init.d/lockd "$1" >"$tmp/initd.out" 2>&1
	rc=$?
	sed 's/^/    initd: /' "$tmp/initd.out"
	return $rc
}
running_pid() {
	[ -r "$pidfile" ] || return 1
	read -r p <"$pidfile" || return 1
	case $(cat "/proc/$p/stat" 2>/dev/null) in
	*"(lockd) "[!Z]*) echo "$p" ;;
	*) return 1 ;;
	esac
}
is_running() {
	running_pid >/dev/null
}
nothing_runs() {
	[ -z "$(lockd_pids)" ]
}
stat_is() {
	[ "$(stat -c "$2" "$1" 2>/dev/null)" = "$3" ]
}
syslog_listens() {
	python3 -c 'import socket, sys
for t in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
    try:
        socket.socket(socket.AF_UNIX, t).connect("/dev/log")
        sys.exit(0)
    except OSError:
        pass
sys.exit(1)'
}
# audit_log: where the packaged lockd logs: syslog, or the fallback file.
audit_log() {
	if [ "$syslog" = no ]; then
		cat /var/log/lockd.log
	elif [ -r /var/log/syslog ]; then
		cat /var/log/syslog
	else
		journalctl -q --no-pager -t lockd
	fi
}
in_audit() {
	audit_log 2>/dev/null | grep -q -- "$1"
}
in_file() {
	grep -q -- "$2" "$1" 2>/dev/null
}
# policy_allows ACTION: what invoke-rc.d will do about lockd ACTION.
policy_allows() {
	[ -x /usr/sbin/policy-rc.d ] || return 0
	/usr/sbin/policy-rc.d lockd "$1" >/dev/null 2>&1
	[ $? -ne 101 ]
}
etc_clean() {
	for f in /etc/lockd.conf /etc/init.d/lockd /etc/default/lockd \
	    /etc/logrotate.d/lockd /etc/rc?.d/*lockd; do
		[ -e "$f" ] && { echo "    left: $f"; return 1; }
	done
	return 0
}
python_locks() {
	python3 - <<'PY'
import sys
import xmlrpc.client
p = xmlrpc.client.ServerProxy('http://127.0.0.1:8044/')
assert p.lock('vm42', 'host3') is None
try:
    p.lock('vm42', 'host7')
    sys.exit('vm42 granted twice')
except xmlrpc.client.Fault as f:
    assert (f.faultCode, f.faultString) == (
        1, "Resource already locked by 'host3'"), f
assert p.unlock('vm42', 'host3') is None
PY
}

# --- install with the machine's policy-rc.d -------------------------------
apt_install() {
	apt-get install -y -q "$deb" "$cdeb" >"$tmp/apt.log" 2>&1
	rc=$?
	sed 's/^/    apt: /' "$tmp/apt.log" | tail -n 15
	return $rc
}
check "apt-get install ./lockd_*.deb ./lockd-client_*.deb" apt_install
check "user lockd: system user, home /var/lib/lockd, no login" \
    test "$(getent passwd lockd | cut -d: -f6,7)" = \
    "/var/lib/lockd:/usr/sbin/nologin"
has_group() {
	getent group lockd >/dev/null
}
check "group lockd exists" has_group
check "/var/lib/lockd is 0700 lockd:lockd" \
    stat_is /var/lib/lockd '%a %U %G' "700 lockd lockd"
check "lockd.conf, init script, defaults, logrotate are conffiles" \
    test "$(dpkg-query -W -f='${Conffiles}\n' lockd | awk 'NF {print $1}' |
    sort | tr '\n' ' ')" = "/etc/default/lockd /etc/init.d/lockd \
/etc/lockd.conf /etc/logrotate.d/lockd "
registered() {
	ls /etc/rc2.d/S*lockd >/dev/null 2>&1
}
check "init script registered for boot" registered
check "lockcmd and its man page installed" \
    test -x /usr/bin/lockcmd -a -f /usr/share/man/man1/lockcmd.1.gz
if policy_allows start; then
	check "postinst started lockd (policy-rc.d allows)" is_running
else
	check "postinst left lockd stopped (policy-rc.d says no)" nothing_runs
fi

# --- the service through the init script -----------------------------------
syslog=yes
syslog_listens || syslog=no
echo "    syslog listener on /dev/log: $syslog"
check "init.d start succeeds" initd start
pid=$(running_pid) || pid=
check "pidfile names a running lockd" test -n "$pid"
check "lockd runs as lockd" \
    test "$(ps -o user= -p "${pid:-0}" | tr -d ' ')" = lockd
check "/run/lockd belongs to lockd" stat_is /run/lockd '%U' lockd
if [ "$syslog" = no ]; then
	check "start says no syslog daemon listens, names the file" \
	    grep -q "no syslog daemon listens on /dev/log: logging to /var/log/lockd.log" \
	    "$tmp/initd.out"
	check "the fallback log says why it is used" \
	    in_file /var/log/lockd.log "no syslog daemon listens"
fi
check "lockcmd lock r1 host1" lockcmd lock r1 host1
lockcmd lock r1 host2 >/dev/null 2>&1
check "lockcmd lock r1 host2 is refused (exit 1)" test $? -eq 1
check "lockcmd unlock r1 host1" lockcmd unlock r1 host1
check "xmlrpc.client lock, refusal, unlock" python_locks
check "audit line: lockcmd's lock granted with its token" wait_until 10 \
    in_audit "lock 'r1' client 'host1' from 127.0.0.1:[0-9]*: granted: token [0-9]"
check "audit line: refused" wait_until 10 \
    in_audit "lock 'r1' client 'host2' from 127.0.0.1:[0-9]*: refused (held)"
check "audit line: Python's unlock released" wait_until 10 \
    in_audit "unlock 'vm42' client 'host3' from 127.0.0.1:[0-9]*: released"

# Reload with "log" changed: its messages reach the new file.
install -o lockd -g adm -m 0640 /dev/null "$testlog"
echo "log $testlog" >>/etc/lockd.conf
check "init.d reload succeeds" initd reload
check "reload: the new log says where logging came from" wait_until 10 \
    in_file "$testlog" "reload: logging moved here from"
check "reload: the new log has the reload's messages" wait_until 10 \
    in_file "$testlog" "reload: configuration re-read"
lockcmd lock r2 host1 >/dev/null 2>&1
check "audit lines go to the new log" wait_until 10 \
    in_file "$testlog" "lock 'r2' client 'host1' from .*: granted: token"
check "lockd still runs after the reload" test "$(running_pid)" = "$pid"

# A root-owned run directory (a failed start) is corrected at the start.
chown root:root /run/lockd
check "init.d restart succeeds" initd restart
check "restart gave /run/lockd back to lockd" stat_is /run/lockd '%U' lockd
newpid=$(running_pid) || newpid=
check "restart runs a new lockd" test -n "$newpid" -a "$newpid" != "$pid"
check "the lock survived the restart" lockcmd unlock r2 host1
check "init.d stop succeeds" initd stop
check "lockd stopped" wait_until 15 nothing_runs
check "init.d status says not running (3)" sh -c \
    '/etc/init.d/lockd status >/dev/null 2>&1; test $? -eq 3'

# A missing user: the init script says what to do.
sed -i 's/^log .*/user lockd-missing/' /etc/lockd.conf
initd start
check "start without the user fails, says how to create it" \
    grep -q "user 'lockd-missing' does not exist: create it with \"adduser --system --group" \
    "$tmp/initd.out"
sed -i '/^user lockd-missing$/d' /etc/lockd.conf

# --- purge with a lock held -----------------------------------------------
initd start >/dev/null
lockcmd lock held1 host1 >/dev/null 2>&1
initd stop >/dev/null
apt_purge() {
	apt-get purge -y -q lockd lockd-client >"$tmp/apt.log" 2>&1
	rc=$?
	sed 's/^/    apt: /' "$tmp/apt.log" | tail -n 15
	return $rc
}
check "apt-get purge succeeds" apt_purge
check "purge keeps the lock directory holding a lock, says so" \
    test -f /var/lib/lockd/held1.resource.lock -a -n \
    "$(grep "keeping /var/lib/lockd: it holds 1 lock" "$tmp/apt.log")"
check "purge removes lockd's files in /etc and its boot links" etc_clean
check "purge removes the fallback log" test ! -e /var/log/lockd.log
check "nothing left running" nothing_runs
rm -rf /var/lib/lockd

# --- again, with policy-rc.d allowing: install starts, remove stops ----------
if [ -e /usr/sbin/policy-rc.d ]; then
	mv /usr/sbin/policy-rc.d "$tmp/policy-rc.d" && policy_saved=yes
else
	policy_saved=none
fi
printf '#!/bin/sh\nexit 0\n' >/usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
check "apt-get install again (the user exists)" apt_install
check "postinst started lockd" wait_until 10 is_running
check "the started lockd serves" lockcmd lock r3 host1
check "lockcmd unlock r3 host1" lockcmd unlock r3 host1
# The upgrade path (postinst configure with the old version): a restart.
oldpid=$(running_pid) || oldpid=
lockcmd lock r4 host1 >/dev/null 2>&1
apt_reinstall() {
	apt-get install -y -q --reinstall "$deb" "$cdeb" >"$tmp/apt.log" 2>&1
}
check "apt-get install --reinstall (the upgrade path)" apt_reinstall
upgraded() {
	p=$(running_pid) && [ "$p" != "$oldpid" ]
}
check "the upgrade restarted lockd" wait_until 10 upgraded
check "the lock survived the upgrade" lockcmd unlock r4 host1
check "/var/lib/lockd is still 0700 lockd:lockd" \
    stat_is /var/lib/lockd '%a %U %G' "700 lockd lockd"
apt_remove() {
	apt-get remove -y -q lockd lockd-client >"$tmp/apt.log" 2>&1
}
check "apt-get remove succeeds" apt_remove
check "remove stopped lockd" wait_until 15 nothing_runs
check "remove keeps /etc/lockd.conf" test -f /etc/lockd.conf
check "apt-get purge after remove succeeds" apt_purge
check "purge removes the lock directory without locks" \
    test ! -e /var/lib/lockd
check "purge leaves nothing of lockd in /etc" etc_clean
check "nothing left running at the end" nothing_runs

result
[ "$failed" -eq 0 ]
