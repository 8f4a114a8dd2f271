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
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
daemon=$top_builddir/daemon/toolguardd
connloop=$top_builddir/bench/connect_loop
CONNECTS=${CONNECTS:-20000}
ROUNDS=${ROUNDS:-5}
[ "${1:-}" = --quick ] && { CONNECTS=5000; ROUNDS=3; }
PIN=/sys/fs/bpf/toolguard-bench-stream

[ "$(id -u)" = 0 ] || { echo "bench: needs root (loads BPF programs)"; exit 77; }
for f in "$daemon" "$connloop"; do
	[ -x "$f" ] || { echo "bench: $f missing: run 'make && make bench-programs' first"; exit 1; }
done
exec 9>>/run/lock/toolguard-integration.lock
flock -w 900 9 || { echo "bench: the integration-test lock stayed busy for 15 min"; exit 1; }

work=$(mktemp -d /tmp/tgstreambench.XXXXXX)
dpid=
stats_old=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)
cleanup() {
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null
	"$daemon" --unload --pin-dir "$PIN" >/dev/null 2>&1 || rm -rf "$PIN"
	sysctl -qw kernel.bpf_stats_enabled="$stats_old" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

# make_policy N FILE hosts|nohosts: N rules of names never used by the loop
make_policy() {
	local n=$1 out=$2 kind=$3 i t per=1000
	{
		echo "apiVersion: toolguard/v1"
		echo "kind: Policy"
		echo "metadata: {name: stream-bench, serial: 1}"
		echo "tools:"
		for ((t = 0; t * per < n; t++)); do
			echo "  - id: bench-$t"
			echo "    action: block"
			echo "    match:"
			echo "      hosts:"
			for ((i = t * per; i < (t + 1) * per && i < n; i++)); do
				if [ "$kind" = hosts ]; then
					if ((i % 2)); then echo "        - h$i.tg-bench.test"; else echo "        - \"*.w$i.tg-bench.test\""; fi
				else
					echo "        - 198.$((18 + (i >> 16))).$(((i >> 8) & 255)).$((i & 255))/32"
				fi
			done
		done
	} >"$out"
}
make_policy 10000 "$work/nohosts.yaml" nohosts
make_policy 10000 "$work/hosts.yaml" hosts
cat >"$work/toolguard.conf" <<EOF
mode: enforce
events:
  log: $work/events.jsonl
notices:
  tty: false
  desktop: false
control:
  socket: $work/control.sock
EOF

start_daemon() { # POLICY
	"$daemon" --config "$work/toolguard.conf" --policy "$1" --pin-dir "$PIN" --foreground >"$work/daemon.log" 2>&1 &
	dpid=$!
	for _ in $(seq 1 300); do
		grep -qE 'Policy .* serial [0-9]+: ' "$work/daemon.log" 2>/dev/null && return 0
		kill -0 "$dpid" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench: daemon did not start:"; cat "$work/daemon.log"; exit 1
}
stop_daemon() {
	kill "$dpid" 2>/dev/null || true; wait "$dpid" 2>/dev/null || true; dpid=
	"$daemon" --unload --pin-dir "$PIN" >/dev/null 2>&1 || true
}
loop() { "$connloop" "$CONNECTS" 127.0.0.1 | sed -n 's/.*ns_per_connect=\([0-9.]*\).*/\1/p'; }
median() { printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
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

sysctl -qw kernel.bpf_stats_enabled=1 2>/dev/null || true
declare -A s
cnt=0 tns=0 ncnt=0 ntns=0
for ((r = 0; r < ROUNDS; r++)); do
	s[none]+="$(loop) "
	start_daemon "$work/nohosts.yaml"
	read -r c0 t0 < <(sockops_stats)
	s[nohosts]+="$(loop) "
	read -r c1 t1 < <(sockops_stats)
	ncnt=$((ncnt + c1 - c0)) ntns=$((ntns + t1 - t0))
	stop_daemon
	start_daemon "$work/hosts.yaml"
	grep -q "names checked" "$work/daemon.log" || { echo "bench: stream checks not loaded:"; cat "$work/daemon.log"; exit 1; }
	read -r c0 t0 < <(sockops_stats)
	s[hosts]+="$(loop) "
	read -r c1 t1 < <(sockops_stats)
	cnt=$((cnt + c1 - c0)) tns=$((tns + t1 - t0))
	stop_daemon
done
none=$(median "${s[none]}")
echo "stream checks benchmark ($(uname -r), $(nproc) cores) — median of $ROUNDS rounds of $CONNECTS loopback connects"
printf 'no daemon:                          %s ns/connect (rounds: %s)\n' "$none" "${s[none]}"
printf '10,000 CIDR rules, no host names:   %s ns  ratio %s (rounds: %s)\n' "$(median "${s[nohosts]}")" "$(ratio "$(median "${s[nohosts]}")" "$none")" "${s[nohosts]}"
printf '10,000 host-name rules:             %s ns  ratio %s (rounds: %s)\n' "$(median "${s[hosts]}")" "$(ratio "$(median "${s[hosts]}")" "$none")" "${s[hosts]}"
if [ "$ncnt" -gt 0 ]; then
	printf 'sockops program without host names (bpf_stats): %d runs, %.0f ns a run, %.0f ns a connection\n' \
		"$ncnt" "$(awk -v t="$ntns" -v c="$ncnt" 'BEGIN {print t / c}')" "$(awk -v t="$ntns" -v n="$CONNECTS" -v r="$ROUNDS" 'BEGIN {print t / (n * r)}')"
fi
if [ "$cnt" -gt 0 ]; then
	printf 'sockops program (bpf_stats): %d runs, %.0f ns a run, %.0f ns a connection (both ends; sockhash insert included)\n' \
		"$cnt" "$(awk -v t="$tns" -v c="$cnt" 'BEGIN {print t / c}')" "$(awk -v t="$tns" -v n="$CONNECTS" -v r="$ROUNDS" 'BEGIN {print t / (n * r)}')"
fi
