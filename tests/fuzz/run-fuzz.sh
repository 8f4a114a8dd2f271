#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Usage: tests/fuzz/run-fuzz.sh SECONDS [TARGET...]
# Builds the libFuzzer targets (make fuzz) if needed and runs each for SECONDS,
# starting from a copy of the seed corpus (the source tree is never written).
# Prints "fuzz_policy: N execs, K crashes" per target; exits 1 if any crashed.
# fuzz_dns_bpf and fuzz_stream_bpf run the kernel DNS and CONNECT/SNI parsers
# and need root + BPF: without them they print "T: skipped: REASON" (not a failure).
# Environment: top_srcdir, top_builddir (default: from this script / the cwd),
# TG_FUZZ_KEEP=DIR keeps the grown corpora and crash files in DIR.
set -u

secs=${1:-60}
shift 2>/dev/null || true
targets=${*:-"fuzz_policy fuzz_config fuzz_protocol fuzz_dnsmsg fuzz_dns_bpf fuzz_stream_bpf"}

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}

if ! test -f "$top_builddir/Makefile"; then
	echo "run-fuzz.sh: no Makefile in $top_builddir: run it from the build directory or set top_builddir" >&2
	exit 2
fi
# A nested make must not join the jobserver of a make that runs us as a test.
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" fuzz >&2; then
	echo "run-fuzz.sh: 'make fuzz' failed" >&2
	exit 2
fi

work=${TG_FUZZ_KEEP:-}
if test -z "$work"; then
	work=$(mktemp -d "${TMPDIR:-/tmp}/tg-fuzz.XXXXXX") || exit 2
	trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"

failed=0
for t in $targets; do
	case $t in
	fuzz_policy) seeds=$top_srcdir/tests/fuzz/corpus/policy ;;
	fuzz_config) seeds=$top_srcdir/tests/fuzz/corpus/config ;;
	fuzz_protocol) seeds=$top_srcdir/tests/fuzz/corpus/protocol ;;
	fuzz_dnsmsg) seeds=$top_srcdir/tests/fuzz/corpus/dnsmsg ;;
	fuzz_dns_bpf) seeds=$top_srcdir/tests/fuzz/corpus/dns_bpf ;;
	fuzz_stream_bpf) seeds=$top_srcdir/tests/fuzz/corpus/stream ;;
	*) echo "run-fuzz.sh: unknown target $t" >&2; exit 2 ;;
	esac
	corpus=$work/$t-corpus
	artifacts=$work/$t-artifacts
	mkdir -p "$corpus" "$artifacts"
	cp "$seeds"/* "$corpus"/ 2>/dev/null
	log=$work/$t.log
	case $t in
	fuzz_dns* | fuzz_stream*) dict= ;;
	*) dict=-dict=$top_srcdir/tests/fuzz/policy.dict ;;
	esac
	"$top_builddir/tests/fuzz/$t" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
		$dict -artifact_prefix="$artifacts/" -print_final_stats=1 \
		"$corpus" >"$log" 2>&1
	rc=$?
	if test "$rc" -eq 77 && grep -q "^$t: SKIP " "$log"; then
		echo "$t: skipped: $(sed -n "s/^$t: SKIP //p" "$log" | head -n 1)"
		continue
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	test -n "$execs" || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
	test -n "$execs" || execs=0
	crashes=$(find "$artifacts" -type f | wc -l)
	if test "$rc" -ne 0 && test "$crashes" -eq 0; then
		crashes=1
	fi
	echo "$t: $execs execs, $crashes crashes"
	if test "$crashes" -ne 0; then
		failed=1
		echo "--- $t log (tail) ---" >&2
		tail -n 40 "$log" >&2
		ls -l "$artifacts" >&2
	fi
done
exit $failed
