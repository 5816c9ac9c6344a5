#!/bin/sh
# SPDX-License-Identifier: MIT
#
# tests/valgrind.sh DAEMON
#
# Runs the daemon's black-box suites tests/rpc/test_protocol.py and
# tests/rpc/test_hostile.py against DAEMON (a build WITHOUT AddressSanitizer,
# e.g. _build/dev/server/lockd) with every daemon under valgrind's memcheck.
# Any memcheck error or definite leak makes valgrind exit with status 99,
# which the tests see as a failed clean shutdown: a failed test.
#
# Prints one line per suite, then as its LAST line the sum:
#     suite-result: N passed, M failed
# Exit status 0 if nothing failed, 1 otherwise, 2 on a usage error.
#
# Environment: VALGRIND (default valgrind), PYTHON (default python3),
# VALGRIND_SUITE_TIMEOUT (seconds per suite, default 600),
# VALGRIND_LOG_DIR (keep each suite's stderr there; default: a temporary
# directory, removed at the end; a failed suite's log is printed),
# VALGRIND_SKIP (test method names not run under valgrind; default below).
#
# Skipped by default: the two starvation tests of test_hostile.py.  They
# hold 100-200 connections open and then require an answer within 2 s;
# under valgrind every request is 20-50 times slower, so they measure
# valgrind, not lockd (they run in every `make check` against the ASan
# build).  Their code paths (idle and half-sent connections) are still
# covered here by test_everything_on_one_daemon and test_short_body.
# Suppressions for defects inside xmlrpc-c: tests/valgrind.supp.

set -u

usage() {
	echo "usage: $0 DAEMON   (a non-ASan lockd, e.g. _build/dev/server/lockd)" >&2
	exit 2
}

[ $# -eq 1 ] || usage
case $1 in
/*) daemon=$1 ;;
*) daemon=$(pwd)/$1 ;;
esac
if ! [ -f "$daemon" ] || ! [ -x "$daemon" ]; then
	echo "$0: $1 is not an executable file" >&2
	exit 2
fi
if grep -q __asan_init "$daemon" 2>/dev/null; then
	echo "$0: $1 is built with AddressSanitizer, which does not run" \
	    "under valgrind; give a build configured without --enable-asan" >&2
	exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
VALGRIND=${VALGRIND:-valgrind}
PYTHON=${PYTHON:-python3}
suite_timeout=${VALGRIND_SUITE_TIMEOUT:-600}
skip=${VALGRIND_SKIP-test_idle_connections_do_not_starve test_half_sent_requests_do_not_starve}
command -v "$VALGRIND" >/dev/null 2>&1 || {
	echo "$0: $VALGRIND not found (apt-get install valgrind)" >&2
	exit 2
}

if [ -n "${VALGRIND_LOG_DIR:-}" ]; then
	logdir=$VALGRIND_LOG_DIR
	mkdir -p "$logdir" || exit 2
	keep=1
else
	logdir=$(mktemp -d "${TMPDIR:-/tmp}/lockd-valgrind.XXXXXX") || exit 2
	keep=0
	trap 'rm -rf "$logdir"' EXIT
	trap 'exit 130' INT TERM
fi

LOCKD=$daemon
lockcmd=$(dirname "$daemon")/../client/lockcmd
if [ -x "$lockcmd" ]; then
	LOCKCMD=$(cd "$(dirname "$lockcmd")" && pwd)/lockcmd
	export LOCKCMD
fi
LOCKD_WRAPPER="$VALGRIND --error-exitcode=99 --leak-check=full"
LOCKD_WRAPPER="$LOCKD_WRAPPER --errors-for-leak-kinds=definite"
LOCKD_WRAPPER="$LOCKD_WRAPPER --show-leak-kinds=definite -q"
LOCKD_WRAPPER="$LOCKD_WRAPPER --suppressions=$here/valgrind.supp"
# The leak check at exit takes a while: give SIGTERM more time.
LOCKD_STOP_TIMEOUT=${LOCKD_STOP_TIMEOUT:-60}
LOCKD_SUITE_TIMEOUT=$suite_timeout
PYTHONPATH=$here/rpc
PYTHONDONTWRITEBYTECODE=1
export LOCKD LOCKD_WRAPPER LOCKD_STOP_TIMEOUT LOCKD_SUITE_TIMEOUT PYTHONPATH \
    PYTHONDONTWRITEBYTECODE
unset LSAN_OPTIONS ASAN_OPTIONS 2>/dev/null || :

passed=0
failed=0
for suite in test_protocol.py test_hostile.py; do
	log=$logdir/${suite%.py}.log
	out=$logdir/${suite%.py}.out
	# The suite's tests by name (Class.test_method), without the skipped.
	names=$("$PYTHON" - "$here/rpc" "${suite%.py}" "$skip" <<'PYEOF'
import sys
import unittest
sys.path.insert(0, sys.argv[1])
module = __import__(sys.argv[2])
skip = set(sys.argv[3].split())


def flat(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from flat(t)
        else:
            yield t


tests = unittest.TestLoader().loadTestsFromModule(module)
for t in flat(tests):
    cls, method = t.id().split('.')[-2:]
    print(('-' if method in skip else '') + cls + '.' + method)
PYEOF
	) || {
		echo "valgrind $suite: cannot list its tests" >&2
		names=
	}
	run=$(printf '%s\n' "$names" | grep -v '^-' | tr '\n' ' ')
	skipped=$(printf '%s\n' "$names" | sed -n 's/^-[^.]*\.//p' | tr '\n' ' ')
	start=$(date +%s)
	# The harness has its own suite watchdog; timeout(1) is the last resort.
	if [ -n "$run" ]; then
		# shellcheck disable=SC2086 # one argument per test name
		# (test names are identifiers: no globbing characters)
		timeout -k 10 $((suite_timeout + 60)) \
		    "$PYTHON" "$here/rpc/$suite" $run >"$out" 2>"$log"
		status=$?
	else
		: >"$out"
		: >"$log"
		status=1
	fi
	took=$(($(date +%s) - start))
	line=$(grep '^suite-result: ' "$out" | tail -n 1)
	p=$(printf '%s\n' "$line" | sed -n 's/^suite-result: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
	f=$(printf '%s\n' "$line" | sed -n 's/^suite-result: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
	if [ -z "$p" ] || [ -z "$f" ]; then
		# No summary: the suite crashed or was killed.
		p=0
		f=1
		line="no suite-result line (exit status $status)"
	elif [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		line="$line, but exit status $status"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	[ -n "$skipped" ] && line="$line; not run under valgrind: ${skipped% }"
	echo "valgrind $suite: $line (${took} s)"
	if [ "$f" -ne 0 ]; then
		echo "--- $suite: stderr ---" >&2
		cat "$log" >&2
		echo "--- end of $suite ---" >&2
	fi
done
[ "$keep" -eq 1 ] && echo "valgrind logs in $logdir"
echo "suite-result: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
