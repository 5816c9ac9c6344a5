# SPDX-License-Identifier: MIT
# The checks of lockd's shell test suites, sourced by each of them:
# counting, one line per check, the closing "suite-result: N passed, M
# failed" line that tests/summary.sh reads, and a bounded poll.
passed=0
failed=0

result() {
	echo "suite-result: $passed passed, $failed failed"
}

ok() {
	passed=$((passed + 1))
	echo "ok - $1"
}

fail() {
	failed=$((failed + 1))
	echo "FAIL - $1"
}

# check NAME COMMAND...: one check, passed when COMMAND succeeds.
check() {
	name=$1
	shift
	if "$@"; then ok "$name"; else fail "$name"; fi
}

# wait_until SECONDS COMMAND...: polls COMMAND until it succeeds or the
# deadline passes.
wait_until() {
	ticks=$(($1 * 10))
	shift
	while ! "$@"; do
		[ "$ticks" -gt 0 ] || return 1
		sleep 0.1
		ticks=$((ticks - 1))
	done
	return 0
}
