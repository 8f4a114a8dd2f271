#!/bin/bash
# Names become addresses ahead of time (daemon/resolve.c): a real dnsmasq on
# 127.0.0.1 (a random port, not 53: the kernel's DNS learner stays out of
# it) serves api.anthropic.com, claude.ai (127.77.20.x, fd77::20:1) and
# names under tg-resolve.test with a 2 s TTL; the daemon asks it
# (TOOLGUARD_RESOLVERS). Asserted: a connect to a pre-resolved address fails
# with EPERM although the client never asked DNS, and the event names the
# host; toolctl test --host/--ip explain it with the addresses held; toolctl
# status counts them; when dnsmasq moves a name and the TTL passes the old
# address is released (connects again) and the new one banned; a rule removed
# on reload releases its addresses at once; a DNS server that never answers
# delays neither the start nor any decision. A pre-resolved address that
# also answers for an allowed name (a DNS answer from port 53 the kernel
# sees) is shared: TCP connects again (SNI decides), UDP and a CIDR rule's
# address stay refused. Only 127.77.20.0/24,
# 127.77.21.0/24 and fd77::20:1 (added to lo here) are ever banned.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_bpf
require_cmd ip dnsmasq
setup_tmp

have6=0
if [ "$(cat /proc/sys/net/ipv6/conf/lo/disable_ipv6 2>/dev/null)" = 0 ]; then
	if ip -6 addr show dev lo | grep -q 'fd77::20:1/128'; then
		have6=1
	elif ip -6 addr add fd77::20:1/128 dev lo nodad 2>/dev/null; then
		have6=1
		on_cleanup "ip -6 addr del fd77::20:1/128 dev lo"
	fi
fi

port=$((20000 + RANDOM % 20000))
dport=$((40000 + RANDOM % 10000))
SOCK=$TG_TMP/control.sock
tc() { timeout 20 "$TOOLCTL" --socket "$SOCK" "$@"; }

cat >"$TG_TMP/client.py" <<'PY'
# client.py ADDR PORT: a TCP connect by address (no name, no DNS): OK or the
# errno name; a second line: how long connect() took, in ms.
import errno, socket, sys, time
addr, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(3)
t = time.monotonic()
try:
    s.connect((addr, port))
    print("OK")
    rc = 0
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)), e.strerror)
    rc = 1
print(int((time.monotonic() - t) * 1000))
sys.exit(rc)
PY
cat >"$TG_TMP/silent_dns.py" <<'PY'
# A "DNS server" that reads every query and never answers.
import os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.1", int(sys.argv[1])))
t.listen(16)
print("listening", flush=True)
n = 0
while True:
    s.recv(4096)
    n += 1
    with open(sys.argv[2] + ".new", "w") as f:
        f.write(str(n))
    os.rename(sys.argv[2] + ".new", sys.argv[2])
PY

addrs=(127.77.20.1 127.77.20.2 127.77.20.3 127.77.20.4 127.77.21.1 127.0.0.1)
specs=()
for a in "${addrs[@]}"; do specs+=("$a:$port"); done
[ "$have6" = 1 ] && specs+=("[fd77::20:1]:$port")
"$PYTHON" "$top_srcdir/tests/integration/listen.py" "${specs[@]}" >"$TG_TMP/server.out" 2>&1 &
bg_pid $!
for ((i = 0; i < 50; i++)); do grep -q listening "$TG_TMP/server.out" && break; sleep 0.1; done
grep -q listening "$TG_TMP/server.out" || { diag_file "$TG_TMP/server.out"; bail "test listeners did not start"; }

conn() { timeout 10 "$PYTHON" "$TG_TMP/client.py" "$1" "$port" 2>&1 | head -n1; }
# wait_conn ADDR WANT SECONDS: poll until a connect gives WANT (OK or EPERM)
wait_conn() {
	local i got
	for ((i = 0; i < $3 * 5; i++)); do
		got=$(conn "$1")
		[[ $got == "$2"* ]] && { echo "$got"; return 0; }
		sleep 0.2
	done
	echo "$got"
	return 1
}

for s in "${specs[@]}"; do
	a=${s%:*}
	a=${a#[}
	a=${a%]}
	[ "$(conn "$a")" = OK ] || bail "baseline without toolguard: $a port $port does not connect"
done

# ---------- dnsmasq ----------
HOSTS=$TG_TMP/hosts
write_hosts() { # the address of moved.tg-resolve.test
	{
		echo "127.77.20.1 api.anthropic.com"
		[ "$have6" = 1 ] && echo "fd77::20:1 api.anthropic.com"
		echo "127.77.20.2 claude.ai"
		echo "$1 moved.tg-resolve.test"
		# 100 addresses: over the 1232-byte EDNS limit, the UDP answer comes truncated (TCP)
		for ((j = 1; j <= 100; j++)); do echo "127.77.22.$j many.tg-resolve.test"; done
	} >"$HOSTS.new" && mv "$HOSTS.new" "$HOSTS"
}
write_hosts 127.77.20.3
dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
	--listen-address=127.0.0.1 --bind-interfaces --port="$dport" --pid-file= --user=root --group=root \
	--addn-hosts="$HOSTS" --local=/anthropic.com/ --local=/claude.ai/ --local=/tg-resolve.test/ --local-ttl=2 --log-queries --log-facility="$TG_TMP/dnsmasq.log" \
	>"$TG_TMP/dnsmasq.out" 2>&1 9>&- &
DNSMASQ_PID=$!
bg_pid $DNSMASQ_PID
cat >"$TG_TMP/ask.py" <<'PY'
# ask.py PORT NAME: the first A address dnsmasq gives for NAME, or nothing.
import socket, struct, sys
port, name = int(sys.argv[1]), sys.argv[2]
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
s.sendto(q, ("127.0.0.1", port))
m = s.recv(4096)
if struct.unpack(">H", m[6:8])[0] > 0 and len(m) >= 4:
    print(socket.inet_ntoa(m[-4:]))
PY
for ((i = 0; i < 50; i++)); do
	[ "$("$PYTHON" "$TG_TMP/ask.py" "$dport" claude.ai 2>/dev/null)" = 127.77.20.2 ] && break
	sleep 0.1
done
[ "$i" -lt 50 ] || { diag_file "$TG_TMP/dnsmasq.out"; diag_file "$TG_TMP/dnsmasq.log"; bail "dnsmasq on 127.0.0.1:$dport does not answer"; }

pol=$TG_TMP/policy.yaml
write_policy() { # SERIAL WITH_CLAUDE_AI(0/1)
	cat >"$pol" <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: it-resolve
  serial: $1
tools:
  - id: test-claude
    name: Test Claude hosts
    action: block
    match:
      hosts:
        - API.Anthropic.com.
$([ "$2" = 1 ] && echo "        - claude.ai")
        - "*.anthropic.com"
  - id: test-names
    name: Test names
    action: block
    match:
      hosts:
        - moved.tg-resolve.test
        - many.tg-resolve.test
        - 127.77.21.0/24
EOF
}
write_policy 1 1

export TOOLGUARD_RESOLVERS=127.0.0.1:$dport
t0=$(date +%s%N)
start_or_bail "$pol"
base_ms=$((($(date +%s%N) - t0) / 1000000))

# ---------- resolved ahead of time ----------
got=$(wait_conn 127.77.20.1 EPERM 5)
[[ $got == "EPERM Operation not permitted" ]]
ok $? "api.anthropic.com's address 127.77.20.1, never asked by the client: EPERM (got: $got)"
run_direct "$PYTHON" "$TG_TMP/client.py" 127.77.20.1 "$port"
ev=$(events_find kind=connect verdict=blocked tool=test-claude pid="$RUN_PID" | head -n1)
grep -q '"api.anthropic.com"' <<<"$ev"
ok $? "the event names the host api.anthropic.com (event: ${ev:0:300})"
got=$(wait_conn 127.77.20.2 EPERM 5)
[[ $got == EPERM* ]]
ok $? "claude.ai's address 127.77.20.2: EPERM (got: $got)"
got=$(wait_conn 127.77.20.3 EPERM 5)
[[ $got == EPERM* ]]
ok $? "moved.tg-resolve.test's address 127.77.20.3: EPERM (got: $got)"
if [ "$have6" = 1 ]; then
	got=$(wait_conn fd77::20:1 EPERM 5)
	[[ $got == EPERM* ]]
	ok $? "api.anthropic.com's AAAA fd77::20:1: EPERM (got: $got)"
else
	skip "api.anthropic.com's AAAA fd77::20:1: EPERM" "IPv6 unavailable on lo"
fi
got=$(conn 127.0.0.1)
[ "$got" = OK ]
ok $? "127.0.0.1 (not banned) connects (got: $got)"
grep -q "query\[A\] api.anthropic.com from 127.0.0.1" "$TG_TMP/dnsmasq.log"
ok $? "the daemon asked dnsmasq for api.anthropic.com (A)"

# ---------- explanations ----------
out=$(tc test --host api.anthropic.com 2>&1)
rc=$?
[ "$rc" = 1 ] && grep -q "127.77.20.1" <<<"$out" && grep -qi "exact" <<<"$out"
ok $? "toolctl test --host api.anthropic.com: blocked, exact rule, address 127.77.20.1 held (rc $rc)"
diag "$out"
out=$(tc test --host API.ANTHROPIC.COM. --json 2>&1)
"$PYTHON" -c '
import json, sys
o = json.loads(sys.stdin.read())
r = o.get("resolved") or {}
addrs = [a["ip"] for n in r.get("names", []) for a in n["addresses"]]
assert o["verdict"] in ("block", "blocked"), o["verdict"]
assert o.get("host_match", {}).get("kind") == "exact", o.get("host_match")
assert "127.77.20.1" in addrs, addrs
assert all(a.get("expires") for n in r["names"] for a in n["addresses"])
' <<<"$out" 2>"$TG_TMP/json.err"
ok $? "toolctl test --host API.ANTHROPIC.COM. --json: exact match, addresses with expiry $(head -c 200 "$TG_TMP/json.err")"
out=$(tc test --host x.api.anthropic.com 2>&1)
rc=$?
[ "$rc" = 1 ] && grep -qi "wildcard" <<<"$out"
ok $? "toolctl test --host x.api.anthropic.com: blocked by the wildcard rule (rc $rc)"
out=$(tc test --host anthropic.com 2>&1)
rc=$?
[ "$rc" = 0 ]
ok $? "toolctl test --host anthropic.com: the apex is not matched by *.anthropic.com (rc $rc)"
out=$(tc test --ip 127.77.20.3 2>&1)
rc=$?
[ "$rc" = 1 ] && grep -q "moved.tg-resolve.test" <<<"$out"
ok $? "toolctl test --ip 127.77.20.3: blocked, resolved from moved.tg-resolve.test (rc $rc)"
diag "$out"
out=$(tc status 2>&1)
grep -q "host names .*4 resolved of 4" <<<"$out"
ok $? "toolctl status: $(grep 'host names' <<<"$out" | sed 's/^ *//')"
st=$(tc status --json 2>&1)
"$PYTHON" -c '
import json, sys
r = json.loads(sys.stdin.read())["resolver"]
assert r["names"] == 4, r
assert r["names_resolved"] == 4, r
assert r["addresses"] >= 4, r
assert r["next_resolve"], r
' <<<"$st" 2>"$TG_TMP/st.err"
ok $? "toolctl status --json: resolver {names 4, names_resolved 4, addresses >= 4, next_resolve} $(tail -c 200 "$TG_TMP/st.err")"
# truncated over UDP: the daemon asked again over TCP and holds what fits (32 of 100)
out=$(tc test --host many.tg-resolve.test --json 2>&1)
many=$("$PYTHON" -c '
import json, sys
o = json.loads(sys.stdin.read())
print(" ".join(a["ip"] for n in o["resolved"]["names"] for a in n["addresses"]))
' <<<"$out" 2>/dev/null)
set -- $many
got=
[ $# -ge 1 ] && got=$(conn "$1")
# 32 from an answer; a re-query (2 s TTL) may bring another 32 of the 100
# while the earlier ones are held until they expire
[ $# -ge 32 ] && [ $# -le 64 ] && [[ $got == EPERM* ]]
ok $? "many.tg-resolve.test (100 A records, truncated over UDP): $# addresses held after the TCP retry, ${1:-none} refused (${got:-no address})"
# dnsmasq answers TCP queries from a forked child: another pid in its log
dpid=$(sed -n 's/.*dnsmasq\[\([0-9]*\)\]: started.*/\1/p' "$TG_TMP/dnsmasq.log" | head -n1)
ntcp=$(grep 'query\[A\] many.tg-resolve.test' "$TG_TMP/dnsmasq.log" | grep -vc "dnsmasq\[$dpid\]")
[ -n "$dpid" ] && [ "$ntcp" -ge 1 ]
ok $? "dnsmasq answered many.tg-resolve.test over TCP ($ntcp queries from its TCP children)"
printf '%s\n' "$st" >"$TG_TMP/status.json"
"$PYTHON" "$top_srcdir/tests/integration/check-schema.py" "$top_srcdir/tests/integration/status.schema.json" \
	"$TG_TMP/status.json" >"$TG_TMP/schema.out" 2>&1
ok $? "status --json matches status.schema.json $(head -c 200 "$TG_TMP/schema.out")"

# ---------- the TTL passes: released, the new address banned ----------
write_hosts 127.77.20.4
kill -HUP "$DNSMASQ_PID"
t0=$(date +%s)
got=$(wait_conn 127.77.20.4 EPERM 10)
[[ $got == EPERM* ]]
ok $? "moved.tg-resolve.test now at 127.77.20.4: banned after re-resolving (got: $got, $(($(date +%s) - t0)) s)"
got=$(wait_conn 127.77.20.3 OK 10)
[ "$got" = OK ]
ok $? "its old address 127.77.20.3 is released once the TTL passed (got: $got, $(($(date +%s) - t0)) s)"
got=$(conn 127.77.20.1)
[[ $got == EPERM* ]]
ok $? "api.anthropic.com (unchanged, re-resolved) stays banned (got: $got)"

# ---------- rule removed on reload ----------
write_policy 2 0
kill -HUP "$TG_DAEMON_PID"
got=$(wait_conn 127.77.20.2 OK 5)
[ "$got" = OK ]
ok $? "claude.ai removed from the policy: 127.77.20.2 released on reload (got: $got)"
got=$(conn 127.77.20.1)
[[ $got == EPERM* ]]
ok $? "after the reload api.anthropic.com's address is still banned in the new generation (got: $got)"
got=$(conn 127.77.20.4)
[[ $got == EPERM* ]]
ok $? "after the reload moved.tg-resolve.test's address is still banned (got: $got)"

# ---------- a pre-resolved address shared with an allowed name ----------
# An answer for cdn.tg-allowed.example carrying 127.77.20.4 (the daemon's
# pre-resolved moved.tg-resolve.test) and 127.77.21.1 (a CIDR rule), sent
# from port 53 to a local socket: the kernel's DNS learner sees it.
cat >"$TG_TMP/shared_answer.py" <<'PY'
import socket, struct
name = b"".join(bytes([len(l)]) + l for l in b"cdn.tg-allowed.example".split(b".")) + b"\0"
m = struct.pack(">HHHHHH", 0x5151, 0x8180, 1, 2, 0, 0) + name + struct.pack(">HH", 1, 1)
for a in ("127.77.20.4", "127.77.21.1"):
    m += struct.pack(">HHHIH", 0xC00C, 1, 1, 300, 4) + socket.inet_aton(a)
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.bind(("127.0.0.1", 0))
c.settimeout(3)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.77.22.53", 53))
s.sendto(m, c.getsockname())
print(len(c.recv(4096)))
PY
out=$(timeout 10 "$PYTHON" "$TG_TMP/shared_answer.py" 2>&1)
got=$(conn 127.77.20.4)
[ "$got" = OK ]
ok $? "allowed name answered with pre-resolved 127.77.20.4: TCP connects (SNI decides there) (got: $got; answer: $out)"
got=$(timeout 10 "$PYTHON" -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b"x", ("127.77.20.4", 443)); print("sent")
except OSError as e:
    print(e.strerror)' 2>&1)
[ "$got" = "Operation not permitted" ]
ok $? "shared 127.77.20.4: UDP is still refused by the name rule (got: $got)"
got=$(conn 127.77.21.1)
[[ $got == EPERM* ]]
ok $? "shared 127.77.21.1: its CIDR rule still refuses TCP (got: $got)"
out=$(tc test --ip 127.77.20.4 2>&1)
grep -q "also answers for an allowed name" <<<"$out"
ok $? "toolctl test --ip 127.77.20.4 says the address is shared"
diag "$out"
stop_daemon
tg_unload

# ---------- a DNS server that never answers ----------
sport=$((dport + 1))
"$PYTHON" "$TG_TMP/silent_dns.py" "$sport" "$TG_TMP/silent.count" >"$TG_TMP/silent.out" 2>&1 &
bg_pid $!
for ((i = 0; i < 50; i++)); do grep -q listening "$TG_TMP/silent.out" && break; sleep 0.1; done
write_policy 3 1
export TOOLGUARD_RESOLVERS=127.0.0.1:$sport
t0=$(date +%s%N)
start_or_bail "$pol"
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
# a start that waited for DNS would take 3 s per query more (2 attempts of 1.5 s)
[ "$ms" -lt $((base_ms + 2500)) ] || [ "$ms" -lt 3000 ]
ok $? "silent DNS server: the daemon was ready in $ms ms (with dnsmasq: $base_ms ms)"
out=$(timeout 10 "$PYTHON" "$TG_TMP/client.py" 127.77.21.1 "$port" 2>&1)
[[ $out == EPERM* ]] && [ "$(sed -n 2p <<<"$out")" -lt 500 ]
ok $? "silent DNS server: the CIDR rule refuses 127.77.21.1 at once (got: $(tr '\n' ' ' <<<"$out")ms)"
out=$(timeout 10 "$PYTHON" "$TG_TMP/client.py" 127.0.0.1 "$port" 2>&1)
[[ $out == OK* ]] && [ "$(sed -n 2p <<<"$out")" -lt 500 ]
ok $? "silent DNS server: 127.0.0.1 connects at once (got: $(tr '\n' ' ' <<<"$out")ms)"
t0=$(date +%s%N)
timeout 10 /bin/true
rc=$?
t1=$(date +%s%N)
[ "$rc" = 0 ] && [ $(((t1 - t0) / 1000000)) -lt 1000 ]
ok $? "silent DNS server: an exec runs at once ($(((t1 - t0) / 1000000)) ms)"
sleep 2
nq=$(cat "$TG_TMP/silent.count" 2>/dev/null)
[ "${nq:-0}" -gt 0 ]
ok $? "the silent server did receive the daemon's queries (${nq:-0})"
out=$(tc status 2>&1)
rc=$?
[ "$rc" = 0 ]
ok $? "toolctl status answers while queries hang (rc $rc)"
stop_daemon
tg_unload

done_testing
