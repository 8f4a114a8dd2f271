#!/bin/bash
# Connect benchmark, robust against a busy machine: the loopback TCP connect
# loop (bench/connect_loop) with and without toolguard's cgroup programs,
# alternating in many short rounds (A B B A, B A A B, ...).
#   bench/run-connect-bench.sh [--quick] [--parts]    (root, BPF kernel, after make bench-programs)
# For each policy (10,000 host-name rules: the issue's target, at most +2%;
# 10,000 CIDR rules for comparison) the daemon loads and applies it with its
# own pin directory and is stopped (the pinned programs keep enforcing);
# bench/hook_toggle then takes the programs over from the pinned links and
# switches them on and off between rounds in microseconds, so both sides of
# a ratio are measured a few milliseconds apart. The loop runs pinned to
# one CPU at real-time priority (when chrt works) so other work on the
# machine rarely preempts it. Printed per policy: the median of the block
# ratios with quartiles, and the kernel's own time of each program
# (kernel.bpf_stats_enabled, measured in a separate pass: the accounting
# itself costs a little).
# Env: BLOCKS (blocks of 4 rounds), CONNECTS (a round), POLICIES, BENCH_CPU, BENCH_RT=0.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_init "connect bench"
connloop=$top_builddir/bench/connect_loop
toggle=$top_builddir/bench/hook_toggle
BLOCKS=${BLOCKS:-40}
CONNECTS=${CONNECTS:-2000}
POLICIES=${POLICIES:-"hosts cidr"}
PARTS=
for a in "$@"; do
	case $a in
	--quick) BLOCKS=12 CONNECTS=1500 ;;
	--parts) PARTS=1 ;; # also each program alone (hosts policy)
	*) echo "usage: run-connect-bench.sh [--quick] [--parts]"; exit 2 ;;
	esac
done
PIN=/sys/fs/bpf/toolguard-bench-connect

bench_need_root
bench_need_programs "$daemon" "$connloop" "$toggle"
bench_cgroup
bench_run_prefix
# run-bench.sh already holds the lock when it runs this
bench_lock --unless-held

tpid=
bench_cleanup_first() {
	[ -n "$tpid" ] && kill "$tpid" 2>/dev/null # detaches what it attached
	[ -n "$tpid" ] && wait "$tpid" 2>/dev/null
}
bench_start tgconnbench

bench_daemon_config

# The daemon applies POLICY and is stopped; its pinned programs stay.
load_policy() {
	bench_daemon_start "$1"
	sleep 1 # the resolver's first queries for the exact names
	bench_daemon_stop --keep
}

coproc_toggle() { # the programs pinned under $PIN/links, detached until "on"
	coproc TOG { exec "$toggle" "$bcg" --links "$PIN/links" --sockmap "$PIN/maps/tg_streams" 2>"$work/toggle.err"; }
	tpid=$TOG_PID
	read -r line <&"${TOG[0]}" || { echo "connect bench: hook_toggle failed:"; cat "$work/toggle.err"; exit 1; }
	case $line in ready*) ;; *) echo "connect bench: hook_toggle: $line"; cat "$work/toggle.err"; exit 1 ;; esac
	nprogs=${line#ready }
	nprogs=${nprogs% programs}
}
tog() { # on|off|stats -> reply in $reply
	echo "$1" >&"${TOG[1]}"
	read -r reply <&"${TOG[0]}"
	case $reply in ok | stats*) ;; *) echo "connect bench: hook_toggle $1: $reply"; cat "$work/toggle.err"; exit 1 ;; esac
}
stop_toggle() {
	eval "exec ${TOG[1]}>&-"
	wait "$tpid" 2>/dev/null || true
	tpid=
}
# series LABEL ON_COMMAND BLOCKS TARGET_PCT [OFF_COMMAND]: alternating rounds, the ratio printed
series() {
	local blk c order
	: >"$work/rounds"
	for ((blk = 0; blk < $3; blk++)); do
		if ((blk % 2)); then order="B A A B"; else order="A B B A"; fi
		for c in $order; do
			tog "$([ "$c" = B ] && echo "$2" || echo "${5:-off}")"
			echo "$c $(loop)" >>"$work/rounds"
		done
	done
	tog "${5:-off}"
	awk -v label="$1, ns a connect" -v target="$4" -v unit=ns -f "$here/stats.awk" "$work/rounds"
}
# LOOP_ARGS: "--join" alone = the client ends only in the programs' cgroup
# (the listener is made outside it, like a server on another machine);
# otherwise the whole loop runs in it.
LOOP_ARGS=()
loop() {
	if [ "${LOOP_ARGS[0]:-}" = --join ]; then
		"${run[@]}" "$connloop" "$CONNECTS" 127.0.0.1 --join "$bcg" "${LOOP_ARGS[@]:1}"
	else
		sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$bcg" "${run[@]}" "$connloop" "$CONNECTS" 127.0.0.1 "${LOOP_ARGS[@]}"
	fi | sed -n 's/.*ns_per_connect=\([0-9.]*\).*/\1/p'
}
prog_costs() { # BEFORE AFTER OPS
	awk -v b="$1" -v a="$2" -v ops="$3" -v op=connect -f "$here/progcost.awk"
}

echo "connect benchmark ($(uname -r), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)):"
echo "$BLOCKS blocks of 4 alternating rounds of $CONNECTS loopback TCP connects, on CPU $CPU$rtnote, programs on ${bcg#"$cg"}/"
for pol in $POLICIES; do
	start=$SECONDS
	bench_host_policy "$pol" 10000 "$work/$pol.yaml"
	load_policy "$work/$pol.yaml"
	coproc_toggle
	case $pol in
	hosts) what="10,000 host-name rules (connect, DNS and stream programs)" ;;
	*) what="10,000 CIDR rules (the same programs, no host names)" ;;
	esac
	series "$what" on "$BLOCKS" 2
	if [ "$pol" = hosts ]; then
		LOOP_ARGS=(--join)
		series "the same, client ends only (the listener outside the cgroup, as on another machine)" on "$BLOCKS" 2
		# an inspected port: every connection goes through the sockhash (no target: for scale)
		LOOP_ARGS=(--join --port 443)
		series "the same, to port 443 (in network.inspect_ports: sockhash insert and teardown; the loop sends no data)" on $(((BLOCKS + 1) / 2)) ""
		LOOP_ARGS=()
	fi
	if [ -n "$PARTS" ] && [ "$pol" = hosts ]; then
		# one program at a time: where the overhead comes from
		for p in tg_connect4 tg_dns_ingress tg_stream_socko; do
			series "only $p" "only $p" $(((BLOCKS + 1) / 2)) 2
		done
		series "empty programs at the same hooks" nop $(((BLOCKS + 1) / 2)) 2 nopoff
	fi
	if [ -w /proc/sys/kernel/bpf_stats_enabled ]; then
		bench_stats_set 1
		tog on
		tog nop # the floor: what an empty program costs a run
		loop >/dev/null # warm-up
		tog stats; s0=$reply
		n=0
		for ((k = 0; k < 4; k++)); do loop >/dev/null; n=$((n + CONNECTS)); done
		tog stats; s1=$reply
		tog nopoff
		tog off
		bench_stats_set "$bench_stats_was"
		echo "    kernel time of each program (bpf_stats, $n connects, $nprogs programs, empty ones included):"
		prog_costs "$s0" "$s1" "$n"
	fi
	stop_toggle
	bench_unload
	echo "    ($((SECONDS - start)) s)"
done
