# shellcheck shell=bash
# bench/lib.sh: the setup the benchmark scripts share (sourced by
# run-bench.sh, run-connect-bench.sh, run-dns-bench.sh, run-stream-bench.sh;
# bash, set -euo pipefail). A script calls, in this order, what it needs:
#   bench_init NAME               message prefix; top_srcdir, top_builddir, daemon
#   bench_need_root               not root: exit 77
#   bench_need_programs FILE...   a missing one: exit 1 with what to build
#   bench_cgroup                  cg (the cgroup2 mount), bcg (the benchmark's cgroup)
#   bench_run_prefix [WORD...]    run=(WORD... taskset -c CPU [chrt -f 1]), rtnote
#   bench_lock [--unless-held]    the integration-test lock on fd 9
#   bench_start WORKNAME          work dir, bpf_stats saved, the cleanup trap, bcg made
# then uses bench_daemon_config, bench_daemon_start/stop, bench_unload,
# bench_stats_set, bench_median, bench_host_policy. The trap (bench_cleanup) first runs the
# script's own bench_cleanup_first when it defines one.

# bench_init NAME: NAME starts every message ("connect bench: ..."); the
# defaults of top_srcdir and top_builddir are found from $here (bench/).
bench_init() {
	bench_name=$1
	top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
	top_builddir=${top_builddir:-$top_srcdir}
	daemon=$top_builddir/daemon/toolguardd
	dpid=
	bench_uses_daemon=
	bench_stats_was=
	work=
	cg=
	bcg=
}

bench_need_root() {
	[ "$(id -u)" = 0 ] || { echo "$bench_name: needs root (loads BPF programs)"; exit 77; }
}

bench_need_programs() { # FILE...
	local f
	for f in "$@"; do
		[ -x "$f" ] || { echo "$bench_name: $f missing: run 'make && make bench-programs' first"; exit 1; }
	done
}

# The programs are attached to a cgroup of the benchmark's own (the loop and
# dnsmasq move into it), not to the root: other work on the machine neither
# runs them nor shows in their accounting (BENCH_ROOT=1: the root, as the daemon does).
# bench_start makes it, the cleanup removes it.
bench_cgroup() {
	cg=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
	[ -n "$cg" ] || { echo "$bench_name: no cgroup2 mount"; exit 1; }
	bcg=$cg/tg-bench-$$
	[ "${BENCH_ROOT:-0}" = 1 ] && bcg=$cg
	return 0
}

# shellcheck disable=SC2034 # run, rtnote: used by the scripts
# bench_run_prefix [WORD...]: the loop runs pinned to one CPU (BENCH_CPU,
# default the last) at real-time priority when chrt works (BENCH_RT=0: not),
# so other work on the machine rarely preempts it.
bench_run_prefix() {
	CPU=${BENCH_CPU:-$(($(nproc) - 1))}
	run=("$@" taskset -c "$CPU")
	rtnote=
	if [ "${BENCH_RT:-1}" != 0 ] && chrt -f 1 true 2>/dev/null; then
		run+=(chrt -f 1)
		rtnote=" at SCHED_FIFO 1"
	fi
}

# One BPF user at a time: the integration tests take the same lock.
# --unless-held: not when TG_BENCH_LOCKED is set (run-bench.sh holds it
# when it runs the connect and DNS scripts).
bench_lock() {
	if [ "${1:-}" = --unless-held ] && [ -n "${TG_BENCH_LOCKED:-}" ]; then
		return 0
	fi
	exec 9>>/run/lock/toolguard-integration.lock
	flock -w 900 9 || { echo "$bench_name: the integration-test lock stayed busy for 15 min"; exit 1; }
}

# bench_start WORKNAME: a work directory /tmp/WORKNAME.XXXXXX, the current
# kernel.bpf_stats_enabled kept for the cleanup, the trap, the cgroup made.
bench_start() {
	work=$(mktemp -d "/tmp/$1.XXXXXX")
	bench_stats_was=$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || echo 0)
	trap bench_cleanup EXIT
	# an interrupted run stops here (the EXIT trap cleans up once)
	trap 'exit 130' INT
	trap 'exit 143' TERM
	if [ -n "$bcg" ] && [ "$bcg" != "$cg" ]; then mkdir "$bcg"; fi
}

# bench_stats_set 0|1: kernel.bpf_stats_enabled (the cleanup restores the old value)
bench_stats_set() {
	echo "$1" >/proc/sys/kernel/bpf_stats_enabled 2>/dev/null || true
}

bench_cleanup() {
	set +e # every step, whatever the one before did
	if declare -F bench_cleanup_first >/dev/null; then bench_cleanup_first; fi
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null
	[ -n "$bench_uses_daemon" ] && bench_unload
	[ -n "$bench_stats_was" ] && bench_stats_set "$bench_stats_was"
	[ -n "$work" ] && rm -rf "$work"
	if [ -n "$bcg" ] && [ "$bcg" != "$cg" ] && [ -d "$bcg" ]; then
		for _ in 1 2 3 4 5; do rmdir "$bcg" 2>/dev/null && break; sleep 0.2; done
	fi
	return 0
}

# The daemon's programs: with PIN set, pinned there (--pin-dir), else in the
# daemon's default pin directory.
bench_unload() {
	"$daemon" --unload ${PIN:+--pin-dir "$PIN"} >/dev/null 2>&1 || rm -rf "${PIN:-/sys/fs/bpf/toolguard}"
}

# bench_daemon_config: $work/toolguard.conf, events and control socket in $work.
bench_daemon_config() {
	bench_uses_daemon=1
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
}

# bench_daemon_start POLICY: the daemon in the background ($dpid), back once
# it has applied POLICY; its output in $work/daemon.log.
bench_daemon_start() {
	"$daemon" --config "$work/toolguard.conf" --policy "$1" ${PIN:+--pin-dir "$PIN"} --foreground >"$work/daemon.log" 2>&1 &
	dpid=$!
	for _ in $(seq 1 300); do
		grep -qE 'Policy .* serial [0-9]+: ' "$work/daemon.log" 2>/dev/null && return 0
		kill -0 "$dpid" 2>/dev/null || break
		sleep 0.1
	done
	echo "$bench_name: daemon did not start:"
	cat "$work/daemon.log"
	exit 1
}

# bench_daemon_stop [--keep]: stops the daemon and unloads its programs
# (--keep: they stay pinned and enforcing).
bench_daemon_stop() {
	kill "$dpid" 2>/dev/null || true
	wait "$dpid" 2>/dev/null || true
	dpid=
	if [ "${1:-}" != --keep ]; then "$daemon" --unload ${PIN:+--pin-dir "$PIN"} >/dev/null 2>&1 || true; fi
}

# bench_median "N N N ...": the median (the lower middle one of an even count)
# shellcheck disable=SC2086 # one number a word
# bench_host_policy hosts|cidr N FILE: N block rules the loops never touch,
# 1,000 to a tool: host names (exact and "*." alternately, under .invalid,
# which never resolves) or /32s of the benchmarking range 198.18.0.0/15.
bench_host_policy() {
	local kind=$1 n=$2 out=$3 i t per=1000
	{
		echo "apiVersion: toolguard/v1"
		echo "kind: Policy"
		echo "metadata: {name: bench-$kind-$n, serial: 1}"
		echo "tools:"
		for ((t = 0; t * per < n; t++)); do
			echo "  - id: bench-$kind-$t"
			echo "    action: block"
			echo "    match:"
			echo "      hosts:"
			for ((i = t * per; i < (t + 1) * per && i < n; i++)); do
				if [ "$kind" = cidr ]; then
					echo "        - 198.$((18 + (i >> 16))).$(((i >> 8) & 255)).$((i & 255))/32"
				elif ((i % 2)); then
					echo "        - \"*.w$i.tg-bench.invalid\""
				else
					echo "        - h$i.tg-bench.invalid"
				fi
			done
		done
	} >"$out"
}

bench_median() { printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
