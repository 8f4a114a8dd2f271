#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Smoke test of the kernel side alone (bpf/kernel_smoke: daemon/kernel.c and
# the BPF objects, map entries built by hand). Root only; acts on the whole
# machine, so everything banned is narrow: files under a fresh temporary
# directory and 127.77.0.0/16, fd77::/16. Pins go to their own directory
# (/sys/fs/bpf/toolguard-smoke), never the daemon's. A trap unloads on exit
# and every step runs under `timeout`. Prints TAP.
#   sudo top_builddir=/path/to/build sh bpf/kernel-smoke.sh
set -u

B=${top_builddir:-$(pwd)}
SMOKE=$B/bpf/kernel_smoke
export SMOKE_PIN_DIR=/sys/fs/bpf/toolguard-smoke

if [ "${TOOLGUARD_SKIP_KERNEL_TESTS:-0}" = 1 ]; then echo "1..0 # SKIP TOOLGUARD_SKIP_KERNEL_TESTS=1"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root (loads BPF programs)"; exit 0; fi
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 missing (socket tests)"; exit 0; }
if [ ! -x "$SMOKE" ]; then echo "1..0 # SKIP $SMOKE not built (make bpf/kernel_smoke)"; exit 0; fi
if [ ! -r /sys/kernel/btf/vmlinux ]; then echo "1..0 # SKIP kernel without BTF"; exit 0; fi

# One kernel test at a time on this machine (the integration suites' lock):
# another test's programs ban addresses this one expects to reach.
if command -v flock >/dev/null; then
	exec 9>>/run/lock/toolguard-integration.lock
	flock -w 1800 9 || { echo "1..0 # SKIP the integration-test lock stayed busy for 30 min"; exit 0; }
fi

T=$(mktemp -d /tmp/tgsmoke.XXXXXX) || exit 1
RUNPID=
cleanup() {
	[ -n "$RUNPID" ] && kill "$RUNPID" 2>/dev/null
	timeout 20 "$SMOKE" unload >/dev/null 2>&1 || rm -rf "$SMOKE_PIN_DIR" "$SMOKE_PIN_DIR-new" "$SMOKE_PIN_DIR-old"
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $*"; }
check() { # check "description" command...
	d=$1; shift
	if "$@"; then ok "$d"; else notok "$d"; fi
}

mkdir -p "$T/banned-dir" "$T/x" "$T/exact" "$T/scripts" "$T/other"
cp /bin/echo "$T/tgtest-banned"
cp /bin/echo "$T/tgtest-allowed"
cp /bin/echo "$T/banned-dir/anything"
cp /bin/echo "$T/x/tgtest-suffix"
cp /bin/echo "$T/exact/tgtest-exact"
cp /bin/echo "$T/exact/tgtest-exact2"
mkdir -p "$T/affix/a/b" "$T/noaffix"
cp /bin/echo "$T/affix/a/b/tgtest-affix"
cp /bin/echo "$T/affix/tgtest-affix"
cp /bin/echo "$T/affix/a/tgtest-affix2"
cp /bin/echo "$T/noaffix/tgtest-affix"
cp /bin/echo "$T/tgtest-alert"
cp /bin/echo "$T/tgtest-exempt"
cp /bin/echo "$T/tgtest-warn"
ln -s "$T/tgtest-banned" "$T/innocent-link"
cp /bin/sh "$T/tgtest-interp"
cp /bin/sleep "$T/tgtest-hashme"
printf 'echo script-ran\n' >"$T/scripts/s.sh"
printf 'echo script-ran\n' >"$T/other/s.sh"
printf '#!/bin/sh\necho shebang-ran\n' >"$T/scripts/run.sh"
chmod +x "$T/scripts/run.sh"

# run NAME ARGS...: sets rc and out
run() { out=$(timeout 10 "$@" 2>&1); rc=$?; } 2>/dev/null
killed() { run "$@"; [ "$rc" = 137 ] && [ -z "$out" ]; }
runs() { run "$@"; [ "$rc" = 0 ] && [ -n "$out" ]; }

start() { # start [monitor]
	timeout 120 "$SMOKE" run "$T" 60 "$@" >"$T/events.log" 2>&1 &
	RUNPID=$!
	i=0
	while ! grep -q '^ready' "$T/events.log" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 $RUNPID 2>/dev/null; then
			echo "Bail out! kernel_smoke did not start: $(cat "$T/events.log")"
			exit 1
		fi
		sleep 0.1
	done
}
stop() {
	kill "$RUNPID" 2>/dev/null
	wait "$RUNPID" 2>/dev/null
	RUNPID=
}
# connect/send via python: prints "ok" or the errno name
net() { timeout 10 python3 - "$@" <<'EOF'
import errno, socket, sys
fam, proto, addr, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
f = socket.AF_INET6 if fam == "6" else socket.AF_INET
t = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
s = socket.socket(f, t)
s.settimeout(2)
try:
    if proto == "tcp":
        s.connect((addr, port))
    elif proto == "udpconnect":
        s.connect((addr, port))
    else:
        s.sendto(b"x", (addr, port))
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
}

start
grep -q 'backend=tracepoint .*dns=1' "$T/events.log" && ok "loaded: $(head -1 "$T/events.log")" || notok "loaded"

check "banned name: killed before printing (137)" killed "$T/tgtest-banned" hello
check "allowed copy of the same binary runs" runs "$T/tgtest-allowed" hello
check "path prefix $T/banned-dir/: killed" killed "$T/banned-dir/anything" hello
check "path suffix /tgtest-suffix: killed" killed "$T/x/tgtest-suffix" hello
check "exact path: killed" killed "$T/exact/tgtest-exact" hello
check "exact path does not match a longer name" runs "$T/exact/tgtest-exact2" hello
check "symlink to a banned name (resolved name): killed" killed "$T/innocent-link" hello
check "relative invocation: killed" sh -c "cd '$T' && out=\$(timeout 10 ./tgtest-banned hi 2>/dev/null); [ \$? = 137 ] && [ -z \"\$out\" ]" 2>/dev/null
check "prefix+suffix glob DIR/affix/**/tgtest-affix: deep file killed" killed "$T/affix/a/b/tgtest-affix" hello
check "prefix+suffix glob: zero directories between, killed" killed "$T/affix/tgtest-affix" hello
check "prefix+suffix glob: prefix only (other name) runs" runs "$T/affix/a/tgtest-affix2" hello
check "prefix+suffix glob: suffix only (other dir) runs" runs "$T/noaffix/tgtest-affix" hello
check "alert rule: runs" runs "$T/tgtest-alert" hello
check "warning window: runs" runs "$T/tgtest-warn" hello
check "exempt uid: runs" runs "$T/tgtest-exempt" hello
check "interpreter + banned script (absolute): killed" killed "$T/tgtest-interp" "$T/scripts/s.sh"
check "interpreter + banned script (relative, cwd): killed" sh -c "cd '$T/scripts' && timeout 10 ../tgtest-interp s.sh >/dev/null 2>&1; [ \$? = 137 ]"
check "interpreter + options + banned script: killed" killed "$T/tgtest-interp" -e "$T/scripts/s.sh"
check "interpreter + other script runs" runs "$T/tgtest-interp" "$T/other/s.sh"
check "shebang script under banned dir: killed" killed "$T/scripts/run.sh"

# sha256 stand-in: the first exec of an unknown inode is asked about and
# killed from userspace; the answer lands in tg_inodes, the next exec dies in
# the kernel before printing
run "$T/tgtest-hashme" 5; check "hash request: first exec killed by the daemon side (rc $rc)" [ "$rc" = 137 ]
check "hash request: second exec killed in the kernel (inode entry)" killed "$T/tgtest-hashme" 5
# DNS learning: a DNS answer (from port 53, crafted here) for a banned name
# makes its addresses banned; names not banned and the apex of a wildcard do not
dns() { # dns NAME A|AAAA ADDR: deliver one answer to a local UDP socket
	timeout 10 python3 - "$@" <<'EOF'
import socket, struct, sys
name, qtype, addr = sys.argv[1], sys.argv[2], sys.argv[3]
q = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
t = 1 if qtype == "A" else 28
rd = socket.inet_pton(socket.AF_INET if t == 1 else socket.AF_INET6, addr)
msg = struct.pack("!HHHHHH", 0x1234, 0x8180, 1, 1, 0, 0) + q + struct.pack("!HH", t, 1)
msg += struct.pack("!HHHIH", 0xC00C, t, 1, 60, len(rd)) + rd
cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); cli.bind(("127.0.0.1", 0)); cli.settimeout(2)
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); srv.bind(("127.0.0.2", 53))
srv.sendto(msg, cli.getsockname())
print("delivered" if cli.recv(512) == msg else "mangled")
EOF
}
r=$(net 4 tcp 127.79.1.1 80); check "before its DNS answer 127.79.1.1 is not blocked ($r)" [ "$r" = ECONNREFUSED ]
d=$(dns tgtest-banned.example A 127.79.1.1 2>&1); check "DNS answer for a banned name delivered untouched ($d)" [ "$d" = delivered ]
r=$(net 4 tcp 127.79.1.1 80); check "after it, TCP connect 127.79.1.1 -> EPERM ($r)" [ "$r" = EPERM ]
r=$(net 4 tcp 127.79.1.2 80); check "an address not in the answer stays allowed ($r)" [ "$r" = ECONNREFUSED ]
dns tgtest-banned.example AAAA fd79::1 >/dev/null 2>&1
r=$(net 6 tcp fd79::1 80); check "AAAA answer: TCP connect [fd79::1] -> EPERM ($r)" [ "$r" = EPERM ]
dns a.B.tgtest-wild.example A 127.79.2.2 >/dev/null 2>&1
r=$(net 4 tcp 127.79.2.2 443); check "wildcard *.tgtest-wild.example (any depth, any case): port 443 -> EPERM ($r)" [ "$r" = EPERM ]
r=$(net 4 tcp 127.79.2.2 80); check "wildcard rule limited to port 443: port 80 allowed ($r)" [ "$r" = ECONNREFUSED ]
dns tgtest-wild.example A 127.79.3.3 >/dev/null 2>&1
r=$(net 4 tcp 127.79.3.3 443); check "the wildcard's apex is not banned ($r)" [ "$r" = ECONNREFUSED ]
dns other.example A 127.79.4.4 >/dev/null 2>&1
r=$(net 4 tcp 127.79.4.4 443); check "other names learn nothing ($r)" [ "$r" = ECONNREFUSED ]

r=$(net 4 tcp 127.77.1.1 80); check "TCP connect 127.77.1.1 -> EPERM ($r)" [ "$r" = EPERM ]
r=$(net 4 udp 127.77.1.1 53); check "UDP sendto 127.77.1.1 -> EPERM ($r)" [ "$r" = EPERM ]
r=$(net 4 udpconnect 127.77.2.2 53); check "UDP connect 127.77.2.2 -> EPERM ($r)" [ "$r" = EPERM ]
r=$(net 4 tcp 127.0.0.1 9); check "TCP connect 127.0.0.1:9 not blocked ($r)" [ "$r" = ECONNREFUSED ]
r=$(net 4 udp 127.0.0.1 9); check "UDP sendto 127.0.0.1 works ($r)" [ "$r" = ok ]
r=$(net 6 tcp fd77::1 80); check "TCP connect [fd77::1] -> EPERM ($r)" [ "$r" = EPERM ]
r=$(net 6 tcp ::ffff:127.77.1.1 80); check "TCP connect [::ffff:127.77.1.1] (v4-mapped) -> EPERM ($r)" [ "$r" = EPERM ]

sleep 0.5
stop
ev=$T/events.log
check "event: block by name, tool named, argv" grep -q "verdict=block .*tool=smoke-banned matcher=executables\[0\] .*argv1=hello" "$ev"
check "events: alert, warn, exempt" sh -c "grep -q 'verdict=alert .*tool=smoke-alert' '$ev' && grep -q 'verdict=warn .*tool=smoke-warn' '$ev' && grep -q 'verdict=allow would_block=0 exempt=1 .*tool=smoke-exempt' '$ev'"
check "event: script matcher with the absolute script" grep -q "tool=smoke-script matcher=scripts\[0\] .*exe=$T/scripts/s.sh" "$ev"
check "event: hash request answered, block event" sh -c "grep -q 'hash_request .*path=$T/tgtest-hashme' '$ev' && grep -q 'verdict=block .*matcher=executables\[4\]' '$ev'"
check "event: connect with address and port" grep -q "kind=connect verdict=block .*addr=127.77.1.1 port=80 proto=6" "$ev"

# the programs stay when the loader has gone (pins): still enforcing
check "enforcement continues with no process holding it" killed "$T/tgtest-banned" hello
a=$(timeout 20 "$SMOKE" adopt 2>&1)
check "reopen adopts the pins ($a)" sh -c "echo '$a' | grep -q adopted=1"

# pins of another ABI version: replaced (new programs pinned aside, moved in
# at the first apply), not adopted
bpftool map update pinned "$SMOKE_PIN_DIR/maps/tg_control" key 0 0 0 0 \
	value 1 0 0 0 99 0 0 0 2 0 0 0 0 0 0 0 >/dev/null 2>&1
start monitor
check "pins of another ABI version are replaced, not adopted" sh -c "grep -q 'ready adopted=0' '$T/events.log' && [ -e '$SMOKE_PIN_DIR/links/exec' ] && [ ! -e '$SMOKE_PIN_DIR-new' ] && [ ! -e '$SMOKE_PIN_DIR-old' ]"
check "monitor mode: banned runs" runs "$T/tgtest-banned" hello
sleep 0.5
stop
timeout 20 "$SMOKE" unload >/dev/null 2>&1
check "monitor mode: event says would_block" grep -q "verdict=block would_block=1 .*tool=smoke-banned" "$T/events.log"
check "unload: banned runs, pins gone" sh -c "out=\$(timeout 10 '$T/tgtest-banned' hi); [ \"\$out\" = hi ] && [ ! -e '$SMOKE_PIN_DIR' ]"
echo "1..$n" # trailing plan: the count is the checks above
exit $((fails > 0))
