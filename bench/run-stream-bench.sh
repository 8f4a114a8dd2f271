#!/bin/bash
# The cost of the stream checks (bpf/stream_guard.bpf.c) on connections:
#   bench/run-stream-bench.sh [--quick]      (root, BPF kernel, after make bench-programs)
# The loopback connect loop (bench/connect_loop) without toolguard, with a
# policy of 10,000 CIDR/basename rules and NO host names (the sockops program
# runs and returns at once), and with 10,000 host-name rules (every connection
# enters the tg_streams sockhash: a psock per socket, removed at close).
# Rounds interleaved; medians and ratios printed. With kernel.bpf_stats_enabled
# the kernel's own run time of the sockops program is printed too.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_init bench
connloop=$top_builddir/bench/connect_loop
CONNECTS=${CONNECTS:-20000}
ROUNDS=${ROUNDS:-5}
[ "${1:-}" = --quick ] && { CONNECTS=5000; ROUNDS=3; }
PIN=/sys/fs/bpf/toolguard-bench-stream

bench_need_root
bench_need_programs "$daemon" "$connloop"
bench_lock
bench_start tgstreambench

bench_host_policy cidr 10000 "$work/nohosts.yaml"
bench_host_policy hosts 10000 "$work/hosts.yaml"
bench_daemon_config

loop() { "$connloop" "$CONNECTS" 127.0.0.1 | sed -n 's/.*ns_per_connect=\([0-9.]*\).*/\1/p'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f (%+.1f%%)", a / b, (a / b - 1) * 100}'; }
# run_cnt and run_time_ns of this run's sockops program (through its pinned link)
sockops_stats() {
	local id
	id=$(bpftool -j link show pinned "$PIN/links/stream_sockops" 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["prog_id"])' 2>/dev/null) || { echo 0 0; return; }
	bpftool -j prog show id "$id" 2>/dev/null |
		python3 -c 'import json, sys; p = json.load(sys.stdin); print(p.get("run_cnt", 0), p.get("run_time_ns", 0))' 2>/dev/null ||
		echo 0 0
}

bench_stats_set 1
declare -A s
cnt=0 tns=0 ncnt=0 ntns=0
for ((r = 0; r < ROUNDS; r++)); do
	s[none]+="$(loop) "
	bench_daemon_start "$work/nohosts.yaml"
	read -r c0 t0 < <(sockops_stats)
	s[nohosts]+="$(loop) "
	read -r c1 t1 < <(sockops_stats)
	ncnt=$((ncnt + c1 - c0)) ntns=$((ntns + t1 - t0))
	bench_daemon_stop
	bench_daemon_start "$work/hosts.yaml"
	grep -q "names checked" "$work/daemon.log" || { echo "bench: stream checks not loaded:"; cat "$work/daemon.log"; exit 1; }
	read -r c0 t0 < <(sockops_stats)
	s[hosts]+="$(loop) "
	read -r c1 t1 < <(sockops_stats)
	cnt=$((cnt + c1 - c0)) tns=$((tns + t1 - t0))
	bench_daemon_stop
done
none=$(bench_median "${s[none]}")
echo "stream checks benchmark ($(uname -r), $(nproc) cores) — median of $ROUNDS rounds of $CONNECTS loopback connects"
printf 'no daemon:                          %s ns/connect (rounds: %s)\n' "$none" "${s[none]}"
printf '10,000 CIDR rules, no host names:   %s ns  ratio %s (rounds: %s)\n' "$(bench_median "${s[nohosts]}")" "$(ratio "$(bench_median "${s[nohosts]}")" "$none")" "${s[nohosts]}"
printf '10,000 host-name rules:             %s ns  ratio %s (rounds: %s)\n' "$(bench_median "${s[hosts]}")" "$(ratio "$(bench_median "${s[hosts]}")" "$none")" "${s[hosts]}"
if [ "$ncnt" -gt 0 ]; then
	printf 'sockops program without host names (bpf_stats): %d runs, %.0f ns a run, %.0f ns a connection\n' \
		"$ncnt" "$(awk -v t="$ntns" -v c="$ncnt" 'BEGIN {print t / c}')" "$(awk -v t="$ntns" -v n="$CONNECTS" -v r="$ROUNDS" 'BEGIN {print t / (n * r)}')"
fi
if [ "$cnt" -gt 0 ]; then
	printf 'sockops program (bpf_stats): %d runs, %.0f ns a run, %.0f ns a connection (both ends; sockhash insert included)\n' \
		"$cnt" "$(awk -v t="$tns" -v c="$cnt" 'BEGIN {print t / c}')" "$(awk -v t="$tns" -v n="$CONNECTS" -v r="$ROUNDS" 'BEGIN {print t / (n * r)}')"
fi
