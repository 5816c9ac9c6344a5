#!/bin/sh
# SPDX-License-Identifier: MIT
# The black-box suites again, with lockd keeping its locks in etcd
# (LOCKD_TEST_BACKEND=etcd, tests/rpc/harness.py): one etcd on 127.0.0.1
# with free non-default ports and a temporary data directory, started here
# and stopped by PID at the end (or the one LOCKD_TEST_ETCD_ENDPOINTS
# names).  Tests about the lock directory itself skip themselves there.
# Prints each suite's log and, last, the sum as "suite-result: N passed, M
# failed".  Skips (status 77) when etcd is not installed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
python=${PYTHON:-python3}
suites="${LOCKD_ETCD_SUITES:-test_protocol test_inspect test_tokens
	test_lockcmd test_features test_lockcmd_features test_metrics}"

if [ -z "${LOCKD_TEST_ETCD_ENDPOINTS:-}" ]; then
	if ! command -v "${ETCD:-etcd}" >/dev/null 2>&1; then
		echo "SKIP: no etcd (install etcd-server)"
		echo "suite-result: 0 passed, 0 failed"
		exit 77
	fi
	base=$(mktemp -d "${TMPDIR:-/tmp}/lockd-etcd-rpc.XXXXXX") || exit 1
	# Stopped by the PIDs etcdrun.py recorded, whatever ends this script.
	trap '"$python" "$here/etcdrun.py" stop "$base"' EXIT
	trap 'exit 1' INT TERM HUP
	if ! endpoints=$("$python" "$here/etcdrun.py" start "$base" 1); then
		echo "cannot start etcd; its log:"
		cat "$base"/*.log 2>/dev/null | tail -n 30
		echo "suite-result: 0 passed, 1 failed"
		exit 1
	fi
	LOCKD_TEST_ETCD_ENDPOINTS=$endpoints
fi
LOCKD_TEST_BACKEND=etcd
export LOCKD_TEST_BACKEND LOCKD_TEST_ETCD_ENDPOINTS
echo "etcd: $LOCKD_TEST_ETCD_ENDPOINTS"

passed=0
failed=0
status=0
for s in $suites; do
	log=$(mktemp "${TMPDIR:-/tmp}/lockd-etcd-suite.XXXXXX") || exit 1
	"$python" "$top/tests/rpc/$s.py" >"$log" 2>&1 || status=1
	echo "=== $s (backend etcd)"
	cat "$log"
	line=$(grep -E '^suite-result: [0-9]+ passed, [0-9]+ failed$' "$log" |
	    tail -n 1)
	if [ -z "$line" ]; then
		echo "=== $s: no result line (crashed or killed)"
		rm -f "$log"
		failed=$((failed + 1))
		status=1
		continue
	fi
	p=$(echo "$line" | sed -E 's/^suite-result: ([0-9]+) passed.*/\1/')
	f=$(echo "$line" | sed -E 's/.*, ([0-9]+) failed$/\1/')
	# Skipped tests (lock directory only) count neither way.
	k=$(grep -c '\.\.\. skipped' "$log")
	echo "=== $s: $k skipped (lock directory only)"
	passed=$((passed + p))
	failed=$((failed + f))
	rm -f "$log"
done
echo "suite-result: $passed passed, $failed failed"
exit $status
