#!/bin/bash
# DNS benchmark: a UDP query loop (bench/dns_loop, one query in flight)
# against dnsmasq with and without the DNS program (dns_guard.bpf.c) on the
# cgroup v2 root, alternating in many short rounds (A B B A, B A A B, ...).
# Two names: an allowed one (the answer is parsed and matches nothing: what
# almost all DNS traffic costs) and a banned one (matched, its address looked
# up in the trie on every answer, written the first time). Target: at most +3%.
#   bench/run-dns-bench.sh [--quick]      (root; also run by run-bench.sh)
# bench/dns_attach --hold loads the program with private maps (nothing
# pinned, no connect hooks) holding NAMES exact names and a wildcard;
# bench/hook_toggle attaches and detaches it between rounds in microseconds.
# dnsmasq and the loop run in a network namespace made here, both pinned to
# one CPU at real-time priority (when chrt works) so that other work on the
# machine rarely preempts a round trip; the names resolve to 127.77.99.x,
# never connected to. Printed per name: the median of the block ratios of
# the mean round trip, with quartiles, and the kernel's own time of the
# program per query (kernel.bpf_stats_enabled, in a separate pass, against
# an empty program at the same hook).
# Env: BLOCKS, QUERIES (a round), NAMES, ALL_LENGTHS=1, BENCH_CPU, BENCH_RT=0, DNS_ATTACH.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_init "dns bench"
dnsloop=$top_builddir/bench/dns_loop
dnsattach=${DNS_ATTACH:-$top_builddir/bench/dns_attach} # another build of the program, to compare
toggle=$top_builddir/bench/hook_toggle

BLOCKS=${BLOCKS:-30}
QUERIES=${QUERIES:-2000}
NAMES=${NAMES:-1000}
[ "${1:-}" = --quick ] && { BLOCKS=10; QUERIES=1500; }

bench_need_root
command -v dnsmasq >/dev/null || { echo "dns bench: dnsmasq not installed (apt-get install dnsmasq-base) — skipped"; exit 77; }
bench_need_programs "$dnsloop" "$dnsattach" "$toggle"
bench_cgroup
bench_run_prefix sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$bcg"
# run-bench.sh already holds the lock when it runs this
bench_lock --unless-held

ns=tg-dnsbench-$$
mpid=
apid=
tpid=
bench_cleanup_first() {
	[ -n "$tpid" ] && kill "$tpid" 2>/dev/null # detaches the program
	[ -n "$tpid" ] && wait "$tpid" 2>/dev/null
	[ -n "$apid" ] && kill "$apid" 2>/dev/null # unloads it
	[ -n "$mpid" ] && kill "$mpid" 2>/dev/null && wait "$mpid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
}
bench_start tgdnsbench
start=$SECONDS

ip netns add "$ns"
ip -n "$ns" link set lo up
"${run[@]}" ip netns exec "$ns" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
	--listen-address=127.0.0.1 --bind-interfaces --port=53 --pid-file= --user=root --group=root \
	--host-record=allowed.bench.test,127.77.99.1 --host-record=api.anthropic.com,127.77.99.2 \
	--log-facility="$work/dnsmasq.log" 9>&- &
mpid=$!
for _ in $(seq 1 50); do
	ip netns exec "$ns" "$dnsloop" 1 127.0.0.1 allowed.bench.test >/dev/null 2>&1 && break
	sleep 0.1
done
ip netns exec "$ns" "$dnsloop" 1 127.0.0.1 allowed.bench.test >/dev/null ||
	{ echo "dns bench: dnsmasq does not answer"; cat "$work/dnsmasq.log"; exit 1; }

# The learner looks up each answer's name and its parents.
names=("*.anthropic.com" api.anthropic.com)
for ((i = 0; i < NAMES; i++)); do names+=("n$i.banned.bench.test"); done
# ALL_LENGTHS=1: also an exact name and a wildcard of every length 1..127,
# so the program's "no rule name this long" test never saves a lookup (the
# worst case, as with a very large policy)
lens_note=
if [ "${ALL_LENGTHS:-0}" = 1 ]; then
	z=$(printf 'z%.0s' $(seq 1 127))
	for ((l = 1; l < 128; l++)); do names+=("${z:0:l}" "*.${z:0:l}"); done
	lens_note=", plus names of every length (ALL_LENGTHS=1)"
fi
"$dnsattach" --hold "$cg" "${names[@]}" >"$work/attach.out" 2>&1 9>&- &
apid=$!
for _ in $(seq 1 100); do
	grep -q '^loaded' "$work/attach.out" && break
	kill -0 "$apid" 2>/dev/null || break
	sleep 0.05
done
id=$(sed -n 's/^loaded prog_id=\([0-9]*\).*/\1/p' "$work/attach.out")
[ -n "$id" ] && [ "$id" != 0 ] || { echo "dns bench: the DNS program could not be loaded:"; cat "$work/attach.out"; exit 1; }

coproc TOG { exec "$toggle" "$bcg" "$id:ingress" 2>"$work/toggle.err"; }
tpid=$TOG_PID
read -r line <&"${TOG[0]}" || { echo "dns bench: hook_toggle failed:"; cat "$work/toggle.err"; exit 1; }
case $line in ready*) ;; *) echo "dns bench: hook_toggle: $line"; exit 1 ;; esac
tog() { # on|off|nop|nopoff|stats -> reply in $reply
	echo "$1" >&"${TOG[1]}"
	read -r reply <&"${TOG[0]}"
	case $reply in ok | stats*) ;; *) echo "dns bench: hook_toggle $1: $reply"; cat "$work/toggle.err"; exit 1 ;; esac
}
loop() { # N NAME -> "mean p50" (ns)
	"${run[@]}" ip netns exec "$ns" "$dnsloop" "$1" 127.0.0.1 "$2" |
		sed -n 's/.*ns_per_query=\([0-9.]*\).*p50_ns=\([0-9.]*\).*/\1 \2/p'
}

echo "DNS benchmark ($(uname -r), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)):"
echo "$BLOCKS blocks of 4 alternating rounds of $QUERIES UDP queries to dnsmasq (one in flight), on CPU $CPU$rtnote,"
echo "program on the cgroup ${bcg#"$cg"}/;"
echo "the DNS program holds $NAMES names and a wildcard$lens_note"
for name in allowed.bench.test api.anthropic.com; do
	: >"$work/mean"
	: >"$work/p50"
	for ((blk = 0; blk < BLOCKS; blk++)); do
		if ((blk % 2)); then order="B A A B"; else order="A B B A"; fi
		for c in $order; do
			tog "$([ "$c" = B ] && echo on || echo off)"
			read -r mean p50 < <(loop "$QUERIES" "$name")
			echo "$c $mean" >>"$work/mean"
			echo "$c $p50" >>"$work/p50"
		done
	done
	tog off
	what="allowed name ($name)"
	[ "$name" = allowed.bench.test ] || what="banned name ($name)"
	awk -v label="$what, mean round trip" -v target=3 -v unit=ns -f "$here/stats.awk" "$work/mean"
	awk -v label="$what, median round trip" -v target=3 -v unit=ns -f "$here/stats.awk" "$work/p50"
done

if [ -w /proc/sys/kernel/bpf_stats_enabled ]; then
	bench_stats_set 1
	tog on
	tog nop # the floor: an empty program at the same hook
	loop "$QUERIES" allowed.bench.test >/dev/null # warm-up
	for name in allowed.bench.test api.anthropic.com; do
		tog stats; s0=$reply
		loop "$((4 * QUERIES))" "$name" >/dev/null
		tog stats; s1=$reply
		echo "  kernel time a query for $name (bpf_stats, $((4 * QUERIES)) queries; a query and its answer are 2 runs):"
		awk -v b="$s0" -v a="$s1" -v ops="$((4 * QUERIES))" -v op=query -f "$here/progcost.awk"
	done
	tog nopoff
	tog off
	bench_stats_set "$bench_stats_was"
fi
echo "  ($((SECONDS - start)) s)"
