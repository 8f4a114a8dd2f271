#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# TAP: a short libFuzzer run of each parser target (TG_FUZZ_SECONDS, default 20);
# fuzz_dns_bpf and fuzz_stream_bpf (the kernel DNS and CONNECT/SNI parsers)
# are skipped unless root with BPF.
# Skipped when clang's libFuzzer runtime is missing (Debian: libclang-rt-NN-dev).
set -u

secs=${TG_FUZZ_SECONDS:-20}
: "${top_srcdir:?top_srcdir must be set (run through make check)}"
: "${top_builddir:?top_builddir must be set (run through make check)}"

fuzz_cc=$(sed -n 's/^FUZZ_CC = //p' "$top_builddir/Makefile")
if test -z "$fuzz_cc" || ! command -v "$fuzz_cc" >/dev/null 2>&1; then
	echo "1..0 # SKIP no clang (FUZZ_CC) to build libFuzzer targets"
	exit 0
fi
probe=$(mktemp -d "${TMPDIR:-/tmp}/tg-fuzz-probe.XXXXXX") || exit 1
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
	>"$probe/p.c"
if ! "$fuzz_cc" -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >/dev/null 2>&1; then
	echo "1..0 # SKIP $fuzz_cc cannot link -fsanitize=fuzzer (install libclang-rt-dev for this clang)"
	exit 0
fi

echo "1..6"
n=0
for t in fuzz_policy fuzz_config fuzz_protocol fuzz_dnsmsg fuzz_dns_bpf fuzz_stream_bpf; do
	n=$((n + 1))
	case $t in
	fuzz_*_bpf)
		if test "${TOOLGUARD_SKIP_KERNEL_TESTS:-0}" = 1; then
			echo "ok $n - $t # SKIP TOOLGUARD_SKIP_KERNEL_TESTS=1 (it runs the kernel parser)"
			continue
		fi
		;;
	esac
	out=$(sh "$top_srcdir/tests/fuzz/run-fuzz.sh" "$secs" "$t" 2>"$probe/$t.err")
	rc=$?
	case "$rc:$out" in
	"0:$t: "*" 0 crashes")
		echo "ok $n - $out"
		;;
	"0:$t: skipped: "*)
		echo "ok $n - $t # SKIP ${out#"$t: skipped: "}"
		;;
	*)
		echo "not ok $n - $t: ${out:-no result} (rc $rc)"
		sed 's/^/# /' "$probe/$t.err" | tail -n 60
		;;
	esac
done
