#!/bin/bash
# DNS benchmark: a UDP query loop (bench/dns_loop) against dnsmasq with and
# without the DNS program (dns_guard.bpf.c) attached to the cgroup v2 root;
# rounds alternate (ABBA) and the medians are printed as ratios. Two loops
# a condition: an allowed name (the answer is parsed and matches nothing:
# what almost all DNS traffic costs) and a banned one (matched, its address
# looked up in the trie on every answer and written the first time).
#   bench/run-dns-bench.sh [--quick]      (root; also run by run-bench.sh)
# The program is loaded by bench/dns_attach with private maps (nothing
# pinned, no connect hooks) holding NAMES exact names and a wildcard, and
# is detached when that process ends. dnsmasq and the loop run in a network
# namespace made here; the names resolve to 127.77.99.x, never connected to.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
dnsloop=$top_builddir/bench/dns_loop
dnsattach=$top_builddir/bench/dns_attach

QUERIES=${QUERIES:-10000}
ROUNDS=${ROUNDS:-10}
NAMES=${NAMES:-1000}
[ "${1:-}" = --quick ] && { QUERIES=3000; ROUNDS=4; }

[ "$(id -u)" = 0 ] || { echo "dns bench: needs root (loads BPF programs)"; exit 77; }
command -v dnsmasq >/dev/null || { echo "dns bench: dnsmasq not installed (apt-get install dnsmasq-base) — skipped"; exit 77; }
for f in "$dnsloop" "$dnsattach"; do
	[ -x "$f" ] || { echo "dns bench: $f missing: run 'make && make bench-programs' first"; exit 1; }
done

# One BPF user at a time (run-bench.sh already holds the lock when it runs this).
if [ -z "${TG_BENCH_LOCKED:-}" ]; then
	exec 9>>/run/lock/toolguard-integration.lock
	flock -w 900 9 || { echo "dns bench: the integration-test lock stayed busy for 15 min"; exit 1; }
fi

work=$(mktemp -d /tmp/tgdnsbench.XXXXXX)
ns=tg-dnsbench-$$
mpid=
apid=
stats_was=
cleanup() {
	[ -n "$apid" ] && kill "$apid" 2>/dev/null # the program is detached with it
	[ -n "$mpid" ] && kill "$mpid" 2>/dev/null
	[ -n "$stats_was" ] && echo "$stats_was" >/proc/sys/kernel/bpf_stats_enabled
	ip netns del "$ns" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
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
cg=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
[ -n "$cg" ] || { echo "dns bench: no cgroup2 mount"; exit 1; }

attach() {
	"$dnsattach" "$cg" "${names[@]}" >"$work/attach.out" 2>&1 9>&- &
	apid=$!
	for _ in $(seq 1 100); do
		grep -q '^attached' "$work/attach.out" && return 0
		kill -0 "$apid" 2>/dev/null || break
		sleep 0.05
	done
	echo "dns bench: the DNS program could not be attached:"
	cat "$work/attach.out"
	exit 1
}
detach() {
	kill "$apid" 2>/dev/null || true
	wait "$apid" 2>/dev/null || true
	apid=
}

# samples[LABEL.NAME.STAT]: one value a round; STAT mean, p10 or p50 (ns).
declare -A samples
one_round() { # LABEL
	local name out
	for name in allowed banned; do
		out=$(ip netns exec "$ns" "$dnsloop" "$QUERIES" 127.0.0.1 \
			"$([ $name = allowed ] && echo allowed.bench.test || echo api.anthropic.com)")
		samples[$1.$name.mean]+="$(sed -n 's/.*ns_per_query=\([0-9.]*\).*/\1/p' <<<"$out") "
		samples[$1.$name.p10]+="$(sed -n 's/.*p10_ns=\([0-9.]*\).*/\1/p' <<<"$out") "
		samples[$1.$name.p50]+="$(sed -n 's/.*p50_ns=\([0-9.]*\).*/\1/p' <<<"$out") "
	done
}
median() { printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.1f%%", (a / b - 1) * 100}'; }

for ((round = 0; round < ROUNDS; round++)); do
	if ((round % 2 == 0)); then
		one_round none
		attach
		one_round dns
		detach
	else
		attach
		one_round dns
		detach
		one_round none
	fi
done

# The kernel's own accounting of the program's run time, for the record.
per_run="? (bpftool or kernel.bpf_stats_enabled unavailable)"
if command -v bpftool >/dev/null && [ -w /proc/sys/kernel/bpf_stats_enabled ]; then
	stats_was=$(cat /proc/sys/kernel/bpf_stats_enabled)
	echo 1 >/proc/sys/kernel/bpf_stats_enabled
	attach
	ip netns exec "$ns" "$dnsloop" "$QUERIES" 127.0.0.1 allowed.bench.test >/dev/null
	ip netns exec "$ns" "$dnsloop" "$QUERIES" 127.0.0.1 api.anthropic.com >/dev/null
	id=$(sed -n 's/^attached prog_id=\([0-9]*\).*/\1/p' "$work/attach.out")
	per_run=$(bpftool -j prog show id "$id" | python3 -c '
import json, sys
p = json.load(sys.stdin)
print("%.0f ns a run over %d runs (a query to dnsmasq and its answer: 2 runs)" % (p["run_time_ns"] / p["run_cnt"], p["run_cnt"]))
' || echo "?")
	detach
	echo "$stats_was" >/proc/sys/kernel/bpf_stats_enabled
	stats_was=
fi

printf 'DNS query loop (UDP to dnsmasq, %d queries x %d alternating rounds; DNS program with %d names + a wildcard),\n' \
	"$QUERIES" "$ROUNDS" "$NAMES"
echo "median over the rounds of each round's mean, 10th and 50th percentile round trip (ns), without -> with the DNS program:"
for name in allowed banned; do
	line="  $name name:"
	for stat in mean p10 p50; do
		a=$(median "${samples[none.$name.$stat]}")
		b=$(median "${samples[dns.$name.$stat]}")
		line+="  $stat $a -> $b ratio $(ratio "$b" "$a") ($(pct "$b" "$a"))"
	done
	echo "$line"
	echo "    p50 rounds without [${samples[none.$name.p50]% }] with [${samples[dns.$name.p50]% }]"
done
echo "  the DNS program's own time (kernel bpf_stats): $per_run"
