#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds lockd's libFuzzer targets with clang, ASan and UBSan in a build
# directory of their own and runs each for a bounded time.
#
#   tests/fuzz/run.sh [SECONDS]      or      make fuzz [FUZZ_SECONDS=N]
#
# SECONDS per target, default 60 (or $FUZZ_SECONDS).  Environment:
#   FUZZ_BUILD_DIR  build directory (default <checkout>/_build/fuzz)
#   FUZZ_TARGETS    targets to run (default "name lockfile conf request
#                   fastpath")
#   FUZZ_CC         compiler (default clang)
# The checked-in seeds (tests/fuzz/corpus/<target>) are copied to a scratch
# corpus under the build directory; crash artifacts and logs stay there too.
# Prints executions and the outcome per target; the last line is
# "suite-result: N passed, M failed".  Exit status 0 when all passed,
# 1 when a target failed, 2 when the fuzzers cannot be built.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-${FUZZ_SECONDS:-60}}
build=${FUZZ_BUILD_DIR:-$top/_build/fuzz}
targets=${FUZZ_TARGETS:-name lockfile conf request fastpath}
cc=${FUZZ_CC:-clang}
fz=$build/fuzz

# The fuzz build must not pick up options of a "make fuzz" that called us.
unset MAKEFLAGS MFLAGS MAKELEVEL

ntargets=0
for t in $targets; do
	ntargets=$((ntargets + 1))
done

# setup_failed MESSAGE: nothing could run.
setup_failed() {
	echo "run.sh: $*" >&2
	echo "suite-result: 0 passed, $ntargets failed"
	exit 2
}

case $seconds in
''|*[!0-9]*|0)
	setup_failed "SECONDS must be a positive whole number, not '$seconds'" ;;
esac
for t in $targets; do
	[ -f "$top/tests/fuzz/fuzz_$t.c" ] ||
	    setup_failed "unknown target '$t' (no tests/fuzz/fuzz_$t.c)"
done

# --- toolchain --------------------------------------------------------------
mkdir -p "$fz" || setup_failed "cannot create $fz"
command -v "$cc" >/dev/null 2>&1 ||
    setup_failed "$cc not found: install clang and libclang-rt-14-dev" \
	"(apt-get install clang libclang-rt-14-dev)"
cat > "$fz/probe.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return 0; }
EOF
"$cc" -fsanitize=fuzzer,address,undefined "$fz/probe.c" -o "$fz/probe" \
    > "$fz/probe.log" 2>&1 ||
    setup_failed "$cc cannot link a libFuzzer program (see $fz/probe.log):" \
	"install libclang-rt-14-dev (apt-get install libclang-rt-14-dev)"

# --- build ------------------------------------------------------------------
# Project objects get coverage instrumentation and both sanitizers; only
# the fuzz programs link libFuzzer itself.  configure runs without the
# sanitizers: their runtimes define functions such as crypt_r, which would
# make configure conclude that no library is needed for them.
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $san"
if [ ! -x "$top/configure" ]; then
	(cd "$top" && ./autogen.sh) > "$fz/autogen.log" 2>&1 ||
	    setup_failed "autogen.sh failed (see $fz/autogen.log)"
fi
if [ ! -f "$build/Makefile" ] || [ "$top/configure" -nt "$build/Makefile" ] ||
    [ "$(cat "$fz/configured" 2>/dev/null)" != "$cc" ]; then
	echo "run.sh: configuring $build" >&2
	rm -f "$fz/flags"
	(cd "$build" && "$top/configure" CC="$cc" CFLAGS="-g -O1") \
	    > "$fz/configure.log" 2>&1 ||
	    setup_failed "configure failed (see $fz/configure.log)"
	echo "$cc" > "$fz/configured"
fi
# Objects built with other flags are rebuilt.
if [ "$(cat "$fz/flags" 2>/dev/null)" != "$cflags" ]; then
	make -C "$build" clean > /dev/null 2>&1
	echo "$cflags" > "$fz/flags"
fi

# An edited Makefile.am regenerates the Makefile here, not in print_var.
make -C "$build" Makefile > "$fz/make.log" 2>&1 ||
    setup_failed "cannot update the Makefile (see $fz/make.log)"

# print_var NAME: the value of a variable of the generated Makefile.
print_var() {
	printf 'print-%%:\n\t@echo "print-var:$($*)"\n' |
	    make -s --no-print-directory -C "$build" -f Makefile -f - \
	    "print-$1" | sed -n 's/^print-var://p'
}

# Every daemon object but main(), and what the daemon links with, as the
# Makefile says: new server files need no change here.
objs=$(print_var server_lockd_OBJECTS)
[ -n "$objs" ] || setup_failed "cannot read the Makefile in $build"
ldadd=$(print_var server_lockd_LDADD)
xmlrpc_cflags=$(print_var XMLRPC_CFLAGS)
jobs=$(nproc 2>/dev/null || echo 2)
echo "run.sh: building lockd's objects in $build" >&2
# shellcheck disable=SC2086
make -C "$build" -j"$jobs" CFLAGS="$cflags" lib/liblockstore.a $objs \
    >> "$fz/make.log" 2>&1 ||
    setup_failed "make failed (see $fz/make.log)"
rm -f "$fz/libserver.a"
server_objs=
for o in $objs; do
	case $o in
	*-main.o) ;;
	*) server_objs="$server_objs $build/$o" ;;
	esac
done
# shellcheck disable=SC2086
ar rc "$fz/libserver.a" $server_objs && ranlib "$fz/libserver.a" ||
    setup_failed "cannot archive the server objects"

for t in $targets; do
	echo "run.sh: building fuzz_$t" >&2
	# The harness's own comparisons would only slow the fuzzer down.
	# shellcheck disable=SC2086
	"$cc" $cflags -fno-sanitize-coverage=trace-cmp -Wall -Wextra \
	    -Wno-unused-parameter -I"$build" -I"$top/lib" -I"$top/server" \
	    $xmlrpc_cflags \
	    -c "$top/tests/fuzz/fuzz_$t.c" -o "$fz/fuzz_$t.o" \
	    > "$fz/build-$t.log" 2>&1 &&
	(cd "$build" && "$cc" -fsanitize=fuzzer,address,undefined \
	    "$fz/fuzz_$t.o" "$fz/libserver.a" $ldadd -o "$fz/fuzz_$t") \
	    >> "$fz/build-$t.log" 2>&1 ||
	    { cat "$fz/build-$t.log" >&2;
	      setup_failed "cannot build fuzz_$t (see $fz/build-$t.log)"; }
done

# --- run --------------------------------------------------------------------
# max_len per target: two names just over the limit; the largest lock file
# lockd reads; several over-long config lines; the daemon's request limit.
max_len() {
	case $1 in
	name)		echo 8195 ;;
	lockfile)	echo 16640 ;;
	conf)		echo 16384 ;;
	request)	echo 65536 ;;
	fastpath)	echo 65536 ;;
	*)		echo 4096 ;;
	esac
}

lsan_supp=$top/tests/lsan.supp
report='==[0-9]*==ERROR\|runtime error\|^fuzz_[a-z]*: \|ERROR: libFuzzer'
report="$report\\|Deadly signal"
passed=0
failed=0
for t in $targets; do
	work=$fz/run/$t
	art=$fz/artifacts/$t
	rm -rf "$work" "$art"
	mkdir -p "$work/corpus" "$work/tmp" "$art"
	if [ -d "$top/tests/fuzz/corpus/$t" ]; then
		cp "$top/tests/fuzz/corpus/$t"/* "$work/corpus/" 2>/dev/null
	fi
	dict=
	case $t in
	request|fastpath) dict=-dict=$top/tests/fuzz/xmlrpc.dict ;;
	esac
	echo "run.sh: running fuzz_$t for $seconds s" >&2
	# shellcheck disable=SC2086
	(cd "$work" &&
	    TMPDIR=$work/tmp \
	    ASAN_OPTIONS=detect_leaks=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    LSAN_OPTIONS=suppressions=$lsan_supp:print_suppressions=0 \
	    "$fz/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 \
	    -rss_limit_mb=2048 -timeout=10 -max_len="$(max_len "$t")" \
	    -artifact_prefix="$art/" $dict corpus) > "$work/log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" |
	    tail -n 1)
	[ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' \
	    "$work/log" | tail -n 1)
	inputs=$(ls "$work/corpus" | wc -l)
	found=$(ls "$art" | head -n 1)
	if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
		passed=$((passed + 1))
		echo "fuzz_$t: passed: ${execs:-?} executions in $seconds s," \
		    "corpus of $inputs inputs"
		rm -rf "$work/tmp"
		continue
	fi
	failed=$((failed + 1))
	echo "fuzz_$t: FAILED (exit status $rc) after ${execs:-?} executions;" \
	    "log: $work/log"
	for a in "$art"/*; do
		[ -f "$a" ] || continue
		echo "  artifact: $a ($(wc -c < "$a") bytes)"
		echo "  reproduce: $fz/fuzz_$t $a"
		od -A x -t x1z -v "$a" | head -n 16 | sed 's/^/    /'
	done
	# The sanitizer or harness report, from its first line.
	sed -n "/$report/,\$p" "$work/log" | head -n 40 | sed 's/^/  | /'
done
echo "suite-result: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
