#!/bin/sh
# The two newcomer commands (see README), and what CI needs first:
#   ./dev.sh start   install what is missing, build, run lockd in the foreground
#                    on 127.0.0.1:8044 with the lock directory ./var/lockd
#   ./dev.sh deps    install what is missing (the Debian packages below)
#   ./dev.sh test    install what is missing, build with ASan/UBSan and -Werror,
#                    run every test suite (make check), the libFuzzer targets
#                    (60 s each under CI=true, else 10 s; FUZZ_SECONDS sets
#                    it), the black-box suites with the daemon under
#                    valgrind, and under CI=true make distcheck and the
#                    Debian packages (tests/package/test_deb.sh: builds,
#                    installs, runs and purges them); the last line is
#                    "N passed, N failed"
set -eu

top=$(cd "$(dirname "$0")" && pwd)
packages="autoconf automake make gcc pkg-config python3 libxmlrpc-core-c3-dev libcurl4-openssl-dev libcrypt-dev zlib1g-dev libcunit1-dev openssl stunnel4 clang libclang-rt-14-dev valgrind libjson-c-dev etcd-server etcd-client librpc-xml-perl libxmlrpc-lite-perl php-cli php-xmlrpc xmlrpc-api-utils python3-fusepy fuse3"

install_missing() {
	missing=
	for p in $packages; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q 'install ok installed' || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "dev.sh: installing$missing" >&2
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -q >&2
	# shellcheck disable=SC2086
	$sudo apt-get install -y -q $missing >&2
}

# build DIR CONFIGURE-ARGS...: a VPATH build, so start and test builds coexist.
build() {
	dir=$1
	shift
	# Makefile.in too: a package build's clean removes some of them.
	if [ ! -x "$top/configure" ] || [ ! -f "$top/Makefile.in" ]; then
		"$top/autogen.sh" >&2
	fi
	mkdir -p "$dir"
	cd "$dir"
	if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ]; then
		"$top/configure" "$@" >&2
	fi
	make -j"$(nproc)" >&2
}

cmd=${1:-start}
case $cmd in
deps)
	install_missing
	;;
start)
	install_missing
	build "$top/_build/run"
	mkdir -p "$top/var/lockd"
	chmod 0700 "$top/var/lockd"
	# Run as whoever started it: as root that means "user root", since a
	# development checkout has no service user.
	exec "$top/_build/run/server/lockd" --foreground \
	    --lockdir "$top/var/lockd" --listen 127.0.0.1 --user "$(id -un)"
	;;
test)
	install_missing
	build "$top/_build/test" --enable-asan --enable-werror
	status=0
	# More suites, each logged where summary.sh finds it.
	logs=$top/_build/test/tests
	rm -f "$logs/fuzz.log" "$logs/valgrind.log" "$logs/distcheck.log" \
	    "$logs/package.log"
	make -j"$(nproc)" check >&2 || status=$?
	if [ "${CI:-}" = true ]; then
		fuzz_seconds=${FUZZ_SECONDS:-60}
	else
		fuzz_seconds=${FUZZ_SECONDS:-10}
	fi
	echo "dev.sh: fuzzing each target for ${fuzz_seconds}s" >&2
	sh "$top/tests/fuzz/run.sh" "$fuzz_seconds" > "$logs/fuzz.log" 2>&1 ||
	    status=1
	build "$top/_build/run"
	echo "dev.sh: black-box suites under valgrind" >&2
	sh "$top/tests/valgrind.sh" "$top/_build/run/server/lockd" \
	    > "$logs/valgrind.log" 2>&1 || status=1
	if [ "${CI:-}" = true ]; then
		echo "dev.sh: make distcheck" >&2
		# The etcd suites ran in full above: one of them here.
		if (cd "$top/_build/run" &&
		    LOCKD_ETCD_SUITES=test_protocol make -j"$(nproc)" distcheck) \
		    > "$logs/distcheck.log" 2>&1; then
			echo "suite-result: 1 passed, 0 failed" >> "$logs/distcheck.log"
		else
			echo "suite-result: 0 passed, 1 failed" >> "$logs/distcheck.log"
			status=1
		fi
		echo "dev.sh: the Debian packages (tests/package)" >&2
		sh "$top/tests/package/test_deb.sh" > "$logs/package.log" 2>&1 ||
		    status=1
	fi
	sh "$top/tests/summary.sh" "$top/_build/test" || status=1
	exit $status
	;;
*)
	echo "usage: ./dev.sh [start|test|deps]" >&2
	exit 64
	;;
esac
