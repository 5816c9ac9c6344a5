#!/bin/sh
# Sums the suites of a "make check" run in build directory $1: every suite
# ends its log with "suite-result: N passed, M failed"; a suite whose log
# lacks that line (it crashed or hung) counts as one failure.  Prints each
# suite's result, CUnit's run summaries, the logs of failed suites, and as
# the very last line "N passed, M failed".  Exits 1 if anything failed.
set -u
dir=${1:-.}
passed=0
failed=0
logs=$(find "$dir/tests" -name '*.log' ! -name 'test-suite.log' | sort)
[ -n "$logs" ] || { echo "no test logs in $dir/tests"; echo "0 passed, 1 failed"; exit 1; }
for log in $logs; do
	name=${log#"$dir"/}
	name=${name%.log}
	line=$(grep -E '^suite-result: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
	if grep -q '^Run Summary:' "$log"; then
		sed -n '/^Run Summary:/,/^Elapsed time/p' "$log"
	fi
	if [ -z "$line" ]; then
		echo "== $name: no result line (crashed or killed); last lines:"
		tail -n 30 "$log"
		failed=$((failed + 1))
		continue
	fi
	p=$(echo "$line" | sed -E 's/^suite-result: ([0-9]+) passed, ([0-9]+) failed$/\1/')
	f=$(echo "$line" | sed -E 's/^suite-result: ([0-9]+) passed, ([0-9]+) failed$/\2/')
	echo "== $name: $p passed, $f failed"
	if [ "$f" -ne 0 ]; then
		tail -n 60 "$log"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
