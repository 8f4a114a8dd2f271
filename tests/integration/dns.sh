#!/bin/bash
# Host names learned from DNS answers (dns_guard.bpf.c), end to end with real
# components in a network namespace made here: dnsmasq on its 127.0.0.1
# serves api.anthropic.com, claude.ai, x.y.anthropic.com, a CNAME
# alias.allowed.test -> api.anthropic.com and allowed names (one address
# shared by two of them, and cdn.allowed.test on claude.ai's address), all
# pointing at 127.77.10.x / fd77::10:x where nginx
# serves TLS with a test CA made here. `ip netns exec` bind-mounts
# /etc/netns/NAME/{resolv.conf,hosts,nsswitch.conf}, so every resolver
# inside asks dnsmasq. Under a policy banning Anthropic's hosts, with no
# address known in advance: resolving then connecting at once (one process)
# fails with EPERM, so does curl, for the exact, wildcard and CNAME names,
# over UDP and TCP DNS, IPv4 and IPv6; allowed names work; each refusal is an
# event naming the host rule. An address shared by claude.ai and the allowed
# cdn.allowed.test (either answer first): the allowed name works, claude.ai
# is refused by its TLS server name (SNI). With the real Claude Code installed: a run
# pointed at https://api.anthropic.com cannot connect; an exempt user's run
# reaches nginx. Answers cut up on the way: a UDP answer in IP fragments
# (a server in a second namespace behind MTU 1280), TCP answers cut into
# pieces, one whose end comes late, one whose segments arrive out of order
# (TCP made by hand on a TUN device); IPv6 answers behind a destination
# options header. The daemon runs outside the namespace
# (the hooks are on the cgroup root); only 127.77.10.0/24 and
# fd77::10:0/112 are ever learned.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_bpf
require_cmd ip dnsmasq nginx openssl curl getent setpriv
setup_tmp

NS=tg-dns-$$
ip netns add "$NS" 2>"$TG_TMP/netns.err" || skip_all "cannot create a network namespace: $(cat "$TG_TMP/netns.err")"
on_cleanup "ip netns del $NS"
on_cleanup "rm -rf /etc/netns/$NS"
nsx() { ip netns exec "$NS" "$@"; }
ip -n "$NS" link set lo up || bail "cannot bring lo up in $NS"
# getaddrinfo(AI_ADDRCONFIG) wants a non-loopback address of each family:
# a veth pair inside the namespace carries TEST-NET-1 and the fd77 addresses.
ip -n "$NS" link add tgdns0 type veth peer name tgdns1 || skip_all "cannot create a veth pair (no veth support?)"
ip -n "$NS" link set tgdns0 up && ip -n "$NS" link set tgdns1 up && ip -n "$NS" addr add 192.0.2.1/32 dev tgdns0 ||
	bail "cannot configure tgdns0 in $NS"
for a in 1 2 3 9; do
	ip -n "$NS" -6 addr add "fd77::10:$a/128" dev lo nodad || skip_all "cannot add fd77::10:$a in $NS (IPv6 disabled?)"
done
mkdir -p "/etc/netns/$NS"
echo "nameserver 127.0.0.1" >"/etc/netns/$NS/resolv.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"/etc/netns/$NS/hosts"
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"/etc/netns/$NS/nsswitch.conf"
use_udp_dns() { echo "nameserver 127.0.0.1" >"/etc/netns/$NS/resolv.conf"; }
use_tcp_dns() { printf 'nameserver 127.0.0.1\noptions use-vc\n' >"/etc/netns/$NS/resolv.conf"; }

# ---------- dnsmasq ----------
ip netns exec "$NS" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
	--listen-address=127.0.0.1 --bind-interfaces --port=53 --pid-file= --user=root --group=root \
	--log-queries --log-facility="$TG_TMP/dnsmasq.log" \
	--host-record=api.anthropic.com,127.77.10.1,fd77::10:1 \
	--host-record=claude.ai,127.77.10.2,fd77::10:2 \
	--host-record=x.y.anthropic.com,127.77.10.3,fd77::10:3 \
	--host-record=allowed.test,127.77.10.9,fd77::10:9 \
	--host-record=shared.allowed.test,127.77.10.9,fd77::10:9 \
	--host-record=cdn.allowed.test,127.77.10.2,fd77::10:2 \
	--cname=alias.allowed.test,api.anthropic.com \
	>"$TG_TMP/dnsmasq.out" 2>&1 9>&- &
bg_pid $!
for ((i = 0; i < 50; i++)); do
	[ "$(nsx getent ahostsv4 allowed.test 2>/dev/null | awk 'NR == 1 {print $1}')" = 127.77.10.9 ] && break
	sleep 0.1
done
[ "$i" -lt 50 ] || { diag_file "$TG_TMP/dnsmasq.out"; diag_file "$TG_TMP/dnsmasq.log"; bail "dnsmasq in $NS does not answer"; }

# ---------- test CA and nginx ----------
K=$TG_TMP/keys
mkdir -p "$K" "$TG_TMP/nginx"
(
	cd "$K" || exit 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
		-days 2 -subj /CN=toolguard-dns-test-ca &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr \
			-subj /CN=api.anthropic.com &&
		printf 'subjectAltName=DNS:api.anthropic.com,DNS:claude.ai,DNS:x.y.anthropic.com,DNS:alias.allowed.test,DNS:allowed.test,DNS:shared.allowed.test,DNS:cdn.allowed.test\n' >srv.ext &&
		openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile srv.ext
) >"$TG_TMP/openssl.log" 2>&1 || { diag_file "$TG_TMP/openssl.log" 20; bail "openssl could not make the test CA"; }
chmod 755 "$K" && chmod 644 "$K"/*
CA=$K/ca.pem
cat >"$TG_TMP/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
pid $TG_TMP/nginx/nginx.pid;
error_log $TG_TMP/nginx/error.log;
events { worker_connections 64; }
http {
	log_format tg '\$host \$request_method \$request_uri \$status';
	access_log $TG_TMP/nginx/access.log tg;
	client_body_temp_path $TG_TMP/nginx/body;
	proxy_temp_path $TG_TMP/nginx/proxy;
	fastcgi_temp_path $TG_TMP/nginx/fastcgi;
	uwsgi_temp_path $TG_TMP/nginx/uwsgi;
	scgi_temp_path $TG_TMP/nginx/scgi;
	server {
		listen 443 ssl;
		listen [::]:443 ssl;
		ssl_certificate $K/srv.pem;
		ssl_certificate_key $K/srv.key;
		location / { default_type text/plain; return 200 "hello from \$host\n"; }
	}
}
EOF
ip netns exec "$NS" nginx -p "$TG_TMP/nginx" -c "$TG_TMP/nginx/nginx.conf" >"$TG_TMP/nginx/out" 2>&1 9>&- &
bg_pid $!
for ((i = 0; i < 50; i++)); do
	nsx curl -s --cacert "$CA" -o /dev/null https://allowed.test/ 2>/dev/null && break
	sleep 0.1
done
[ "$i" -lt 50 ] || { diag_file "$TG_TMP/nginx/error.log"; bail "nginx in $NS does not answer"; }

# serve OUT CMD...: a test server in the background (its output in OUT);
# waits up to 5 s for it to print "listening"
serve() {
	local out=$1 i
	shift
	"$@" >"$out" 2>&1 9>&- &
	bg_pid $!
	for ((i = 0; i < 50; i++)); do
		grep -q listening "$out" && return 0
		sleep 0.1
	done
	diag_file "$out"
	bail "a test server did not start: $*"
}

# ---------- clients ----------
# dnswire.py beside the scripts below: their "import dnswire"
cp "$top_srcdir/tests/integration/dnswire.py" "$TG_TMP/" && chmod 644 "$TG_TMP/dnswire.py" || bail "cannot copy dnswire.py"
cat >"$TG_TMP/resolve_connect.py" <<'PY'
# resolve_connect.py NAME 4|6 [tcpdns]: resolve NAME (getaddrinfo, or one
# query over TCP to 127.0.0.1:53), then connect to port 443 of the first
# address at once, in this one process. Prints "ADDR OK" or "ADDR ERRNO text".
import socket, struct, sys
import dnswire
name, fam = sys.argv[1], socket.AF_INET6 if sys.argv[2] == "6" else socket.AF_INET
if len(sys.argv) > 3 and sys.argv[3] == "tcpdns":
    qtype = 28 if fam == socket.AF_INET6 else 1
    t = socket.create_connection(("127.0.0.1", 53), timeout=5)
    t.sendall(dnswire.framed(dnswire.query(name, qtype)))
    m = dnswire.recv_framed(t)
    t.close()
    an = struct.unpack(">H", m[6:8])[0]
    def skip(o):
        while m[o]:
            if m[o] >= 0xC0:
                return o + 2
            o += m[o] + 1
        return o + 1
    o = dnswire.question_end(m)
    addr = None
    for _ in range(an):
        o = skip(o)
        typ, _, _, rdlen = struct.unpack(">HHIH", m[o:o + 10])
        o += 10
        if typ == qtype and addr is None:
            addr = socket.inet_ntop(fam, m[o:o + rdlen])
        o += rdlen
    if addr is None:
        print("- NOANSWER")
        sys.exit(2)
else:
    try:
        addr = socket.getaddrinfo(name, 443, fam, socket.SOCK_STREAM)[0][4][0]
    except socket.gaierror as e:
        print("- RESOLVE", e)
        sys.exit(2)
r = dnswire.connect_443(addr)
print(r)
sys.exit(0 if r.endswith(" OK") else 1)
PY

# The blocked connect events to an address (after the first EV_SKIP lines
# of the events log): their dest.host, one a line.
ev_hosts() { # IP [PID]
	"$PYTHON" - "$TG_EVENTS" "${EV_SKIP:-0}" "$@" <<'PY'
import json, sys
path, skip, ip = sys.argv[1], int(sys.argv[2]), sys.argv[3]
pid = sys.argv[4] if len(sys.argv) > 4 else None
try:
    lines = open(path, errors="replace").read().splitlines()[skip:]
except OSError:
    lines = []
for line in lines:
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    d = ev.get("dest") or {}
    if ev.get("kind") == "connect" and ev.get("verdict") == "blocked" and d.get("ip") == ip and \
            (pid is None or str(ev.get("pid")) == pid):
        print(d.get("host") or "-")
PY
}
# event_names DESC IP HOST [PID]: a blocked connect event to IP naming HOST (waits 2 s).
event_names() {
	local got i
	for ((i = 0; i < 20; i++)); do
		got=$(ev_hosts "$2" ${4:+"$4"} | sort -u | tr '\n' ' ')
		grep -qw -- "$3" <<<"$got" && break
		sleep 0.1
	done
	grep -qF -- "$3" <<<"$got"
	ok $? "$1: event {kind connect, verdict blocked, dest $2} names host $3 (got: ${got:-none})"
}

# resolve_then_connect DESC NAME FAMILY WANT_ADDR HOST_RULE [tcpdns]
resolve_then_connect() {
	run_direct ip netns exec "$NS" "$PYTHON" "$TG_TMP/resolve_connect.py" "$2" "$3" ${6:-}
	local got
	got=$(head -n1 "$RUN_OUT")
	[ "$got" = "$4 EPERM Operation not permitted" ]
	ok $? "$1: resolve $2 then connect at once (one process) fails with EPERM (got: ${got:-exit $RUN_RC $(head -c 200 "$RUN_ERR")})"
	event_names "$1" "$4" "$5" "$RUN_PID"
}

# curl_blocked DESC NAME FAMILY ADDR HOST_RULE
curl_blocked() {
	run_cmd ip netns exec "$NS" curl -sS -v --max-time 10 --cacert "$CA" "-$3" "https://$2/"
	if [ "$RUN_RC" = 7 ] && grep -q "Operation not permitted" "$RUN_ERR"; then
		pass "$1: curl -$3 https://$2/ fails to connect: $(grep -m1 'Operation not permitted' "$RUN_ERR" | tr -d '*' | head -c 120)"
	else
		fail "$1: curl -$3 https://$2/ fails to connect with EPERM (got exit $RUN_RC)"
		diag_file "$RUN_ERR" 8
	fi
	event_names "$1" "$4" "$5"
}

# curl_works DESC NAME FAMILY
curl_works() {
	run_cmd ip netns exec "$NS" curl -sS --max-time 10 --cacert "$CA" "-$3" "https://$2/"
	[ "$RUN_RC" = 0 ] && grep -qx "hello from $2" "$RUN_OUT"
	ok $? "$1: curl -$3 https://$2/ works (exit $RUN_RC: $(head -c 80 "$RUN_OUT" | tr '\n' ' ')$(head -c 120 "$RUN_ERR"))"
}

# curl_sni_blocked DESC NAME FAMILY ADDR: the connect goes through (the
# address is shared with an allowed name), the ClientHello naming NAME is
# refused (EACCES: curl's send fails, nginx sees nothing), and an event
# names NAME.
curl_sni_blocked() {
	local ev0 n0 n1
	ev0=$(wc -l <"$TG_EVENTS" 2>/dev/null || echo 0)
	n0=$(grep -c "^$2 " "$TG_TMP/nginx/access.log")
	run_cmd ip netns exec "$NS" curl -sS -v --max-time 10 --cacert "$CA" "-$3" "https://$2/"
	n1=$(grep -c "^$2 " "$TG_TMP/nginx/access.log")
	if [ "$RUN_RC" != 0 ] && [ "$RUN_RC" != 7 ] && grep -q "Connected to" "$RUN_ERR" &&
		grep -q "Permission denied" "$RUN_ERR" && [ "$n0" = "$n1" ]; then
		pass "$1: curl -$3 https://$2/ connects to the shared address, its TLS hello is refused (exit $RUN_RC: $(grep -m1 'Permission denied' "$RUN_ERR" | tr -d '*' | head -c 120))"
	else
		fail "$1: curl -$3 https://$2/ refused by SNI after connecting (got exit $RUN_RC, nginx requests $n0 -> $n1)"
		diag_file "$RUN_ERR" 8
	fi
	EV_SKIP=$ev0 event_names "$1 (SNI)" "$4" "$2"
}

# ---------- without toolguard: everything connects ----------
for n in api.anthropic.com claude.ai x.y.anthropic.com alias.allowed.test allowed.test shared.allowed.test cdn.allowed.test; do
	for f in 4 6; do
		out=$(nsx curl -sS --max-time 10 --cacert "$CA" "-$f" "https://$n/" 2>&1)
		[ "$out" = "hello from $n" ] || bail "baseline without toolguard: curl -$f https://$n/ gave '$out'"
	done
done

# ---------- the policy ----------
exempt_user=nobody
pol=$TG_TMP/policy.yaml
cat >"$pol" <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: it-dns
  serial: 1
tools:
  - id: anthropic-hosts
    name: Anthropic services (test)
    action: block
    match:
      hosts:
        - api.anthropic.com
        - claude.ai
        - "*.anthropic.com"
    exempt:
      users: [$exempt_user]
EOF

# A fresh daemon (no address learned yet) for each DNS transport.
fresh_daemon() {
	stop_daemon
	tg_unload
	start_or_bail "$pol"
}

# ---------- UDP DNS ----------
use_udp_dns
fresh_daemon
resolve_then_connect "UDP DNS, exact name" claude.ai 4 127.77.10.2 claude.ai
curl_blocked "UDP DNS, wildcard" x.y.anthropic.com 4 127.77.10.3 "*.anthropic.com"
curl_blocked "UDP DNS, CNAME alias.allowed.test -> api.anthropic.com" alias.allowed.test 4 127.77.10.1 api.anthropic.com
curl_blocked "UDP DNS, api.anthropic.com (address learned by the CNAME answer)" api.anthropic.com 4 127.77.10.1 api.anthropic.com
curl_works "UDP DNS, allowed name" allowed.test 4
curl_works "UDP DNS, allowed name sharing allowed.test's address" shared.allowed.test 4
resolve_then_connect "UDP DNS, IPv6 (AAAA)" x.y.anthropic.com 6 fd77::10:3 "*.anthropic.com"
curl_blocked "UDP DNS, IPv6 (AAAA)" claude.ai 6 fd77::10:2 claude.ai
curl_works "UDP DNS, IPv6 allowed name" allowed.test 6
# getent ahosts and a connect from bash right after it (two programs, no pause)
run_direct ip netns exec "$NS" bash -c 'a=$(getent ahostsv6 api.anthropic.com | awk "NR == 1 {print \$1}"); echo "$a"; exec 3<>"/dev/tcp/$a/443"'
grep -q "Operation not permitted" "$RUN_ERR" && [ "$(head -n1 "$RUN_OUT")" = fd77::10:1 ]
ok $? "UDP DNS, IPv6: getent ahostsv6 api.anthropic.com then bash /dev/tcp connect: EPERM (got: $(head -n1 "$RUN_OUT") $(head -c 120 "$RUN_ERR"))"
run_direct ip netns exec "$NS" "$PYTHON" "$TG_TMP/resolve_connect.py" claude.ai 4
out=$(head -n1 "$RUN_OUT")
run_cmd ip netns exec "$NS" setpriv --reuid="$(id -u "$exempt_user")" --regid="$(id -g "$exempt_user")" \
	--clear-groups -- "$PYTHON" "$TG_TMP/resolve_connect.py" claude.ai 4
[ "$out" = "127.77.10.2 EPERM Operation not permitted" ] && [ "$(head -n1 "$RUN_OUT")" = "127.77.10.2 OK" ]
ok $? "UDP DNS: claude.ai refused for root ($out), connects for exempt user $exempt_user ($(head -n1 "$RUN_OUT"))"

# A UDP answer bigger than the path's MTU arrives in IP fragments; the
# program sees the datagram IP put back together. A server in a second
# namespace, behind a veth pair with MTU 1280, answers with 150 A records
# (2.4 KB) over IPv4 and IPv6; the client connects to the first address.
NS2=tg-dnsfrag-$$
if ip netns add "$NS2" 2>/dev/null; then
	on_cleanup "ip netns del $NS2"
	ip -n "$NS2" link set lo up
	ip -n "$NS" link add tgfrag0 mtu 1280 type veth peer name tgfrag1 mtu 1280 netns "$NS2" &&
		ip -n "$NS" addr add 10.78.0.2/24 dev tgfrag0 && ip -n "$NS2" addr add 10.78.0.1/24 dev tgfrag1 &&
		ip -n "$NS" -6 addr add fd78::2/64 dev tgfrag0 nodad && ip -n "$NS2" -6 addr add fd78::1/64 dev tgfrag1 nodad &&
		ip -n "$NS" link set tgfrag0 up && ip -n "$NS2" link set tgfrag1 up || bail "cannot set up the veth pair to $NS2"
	cat >"$TG_TMP/udp_big_dns.py" <<'PY'
# udp_big_dns.py serve | ask 4|6 NAME: a UDP DNS server on 10.78.0.1 and
# fd78::1 port 53 that answers any A question with 150 records
# 127.77.10.100, .101, ... (more than one 1280-byte packet holds), and the
# client that asks for NAME and connects to port 443 of the first address
# ("ADDR OK|ERRNO text (SIZE bytes)").
import select, socket, sys
import dnswire
if sys.argv[1] == "serve":
    socks = []
    for fam, a in ((socket.AF_INET, "10.78.0.1"), (socket.AF_INET6, "fd78::1")):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind((a, 53))
        socks.append(s)
    print("listening", flush=True)
    while True:
        for s in select.select(socks, [], [])[0]:
            q, peer = s.recvfrom(4096)
            s.sendto(dnswire.answer(q, ["127.77.10.%d" % (100 + i) for i in range(150)]), peer)
else:
    fam = socket.AF_INET6 if sys.argv[2] == "6" else socket.AF_INET
    c = socket.socket(fam, socket.SOCK_DGRAM)
    c.settimeout(5)
    q = dnswire.query(sys.argv[3])
    c.sendto(q, ("fd78::1" if fam == socket.AF_INET6 else "10.78.0.1", 53))
    m = c.recv(8192)
    first = dnswire.question_end(m) + 12
    print("%s (%d bytes)" % (dnswire.connect_443(socket.inet_ntoa(m[first:first + 4])), len(m)))
PY
	serve "$TG_TMP/big_dns.out" ip netns exec "$NS2" "$PYTHON" "$TG_TMP/udp_big_dns.py" serve
	r0=$(ip netns exec "$NS" nstat -asz IpReasmOKs Ip6ReasmOKs 2>/dev/null | awk '/ReasmOKs/ {n += $2} END {print n + 0}')
	for fam in 4 6; do
		run_direct ip netns exec "$NS" timeout 30 "$PYTHON" "$TG_TMP/udp_big_dns.py" ask "$fam" "big$fam.frag.anthropic.com"
		[[ "$(head -n1 "$RUN_OUT")" =~ ^127\.77\.10\.100\ EPERM\ .*\ \(24[0-9][0-9]\ bytes\)$ ]]
		ok $? "UDP DNS over IPv$fam, a 2.4 KB answer in IP fragments (MTU 1280): its first address refused at once (got: $(head -n1 "$RUN_OUT") $(head -c 200 "$RUN_ERR"))"
	done
	r1=$(ip netns exec "$NS" nstat -asz IpReasmOKs Ip6ReasmOKs 2>/dev/null | awk '/ReasmOKs/ {n += $2} END {print n + 0}')
	[ "$((r1 - r0))" -ge 2 ]
	ok $? "the client's kernel put both answers together from fragments (IpReasmOKs + Ip6ReasmOKs: $r0 -> $r1)"
else
	skip "UDP DNS answers in IP fragments" "cannot create a second network namespace"
fi

# Answers over IPv6 with extension headers before UDP or TCP (IPV6_HOPOPTS,
# IPV6_DSTOPTS on the server's socket): the program skips them.
cat >"$TG_TMP/ext6_dns.py" <<'PY'
# ext6_dns.py udp|tcp NAME ADDR: a DNS server on [::1]:53 whose answer (A
# ADDR) carries IPv6 extension headers (UDP: hop-by-hop and destination
# options; TCP: destination options), and its client, in one process; then
# a connect to ADDR:443 ("ADDR OK|ERRNO text").
import socket, sys
import dnswire
mode, name, addr = sys.argv[1:4]
DST = bytes([0, 0, 1, 4, 0, 0, 0, 0])  # next header (set by the kernel), 8 bytes, PadN
q = dnswire.query(name)
if mode == "udp":
    srv = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    srv.bind(("::1", 53))
    srv.settimeout(5)
    c = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    c.settimeout(5)
    c.sendto(q, ("::1", 53))
    got, peer = srv.recvfrom(512)
    srv.sendmsg([dnswire.answer(got, [addr])],
                [(socket.IPPROTO_IPV6, socket.IPV6_HOPOPTS, DST), (socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS, DST)], 0, peer)
    m = c.recv(512)
else:
    lst = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("::1", 53))
    lst.listen(1)
    c = socket.create_connection(("::1", 53), timeout=5)
    a, _ = lst.accept()
    a.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS, DST)
    c.sendall(dnswire.framed(q))
    a.sendall(dnswire.framed(dnswire.answer(dnswire.recv_framed(a), [addr])))
    m = dnswire.recv_framed(c)
print(dnswire.connect_443(socket.inet_ntoa(m[-4:])))
PY
for t in udp:127.77.10.40 tcp:127.77.10.41; do
	tp=${t%%:*}
	run_direct ip netns exec "$NS" timeout 30 "$PYTHON" "$TG_TMP/ext6_dns.py" "$tp" "$tp.ext.anthropic.com" "${t#*:}"
	[ "$(head -n1 "$RUN_OUT")" = "${t#*:} EPERM Operation not permitted" ]
	ok $? "${tp^^} DNS over IPv6 with extension headers ($([ "$tp" = udp ] && echo "hop-by-hop and destination options" || echo "destination options")): the address refused at once (got: $(head -n1 "$RUN_OUT") $(head -c 200 "$RUN_ERR"))"
done

# ---------- TCP DNS (fresh daemon: nothing learned over UDP) ----------
use_tcp_dns
fresh_daemon
q0=$(grep -c 'query\[' "$TG_TMP/dnsmasq.log")
resolve_then_connect "TCP DNS (query over TCP), exact name" claude.ai 4 127.77.10.2 claude.ai tcpdns
resolve_then_connect "TCP DNS (query over TCP), IPv6" api.anthropic.com 6 fd77::10:1 api.anthropic.com tcpdns
resolve_then_connect "TCP DNS (resolv.conf use-vc), wildcard" x.y.anthropic.com 4 127.77.10.3 "*.anthropic.com"
curl_blocked "TCP DNS (resolv.conf use-vc), CNAME" alias.allowed.test 4 127.77.10.1 api.anthropic.com
curl_blocked "TCP DNS (resolv.conf use-vc), IPv6" claude.ai 6 fd77::10:2 claude.ai
curl_works "TCP DNS (resolv.conf use-vc), allowed name" allowed.test 4
# A TCP DNS server that cuts its answers: the 2-byte length split, a message
# over three segments, two messages in one segment, and a message whose end
# comes only after the client has used its first record (tcp_split_dns.py, on 127.0.0.2:53).
# The client asks for names of *.anthropic.com on one connection and
# connects to each address at once, the last one's first address as soon
# as it has read that much.
cat >"$TG_TMP/tcp_split_dns.py" <<'PY'
# tcp_split_dns.py serve | ask: a DNS server on 127.0.0.2:53 over TCP that
# answers NAME.split.anthropic.com A with 127.77.10.(4 + the NAME's number)
# (p1: two records, .10 and .11), writing its answers in pieces
# (TCP_NODELAY, a pause between), and the client that asks for a1, a2, a3
# on one connection, then connects to port 443 of each answer ("ADDR OK" or
# "ADDR ERRNO text"), then asks for p1 and connects to its first address as
# soon as it has that much of the answer ("partial ADDR ..." with the bytes
# it had).
import socket, struct, sys, time
import dnswire
def answer(q):
    label = dnswire.qname(q).split(".")[0]
    addrs = ["127.77.10.10", "127.77.10.11"] if label == "p1" else ["127.77.10.%d" % (4 + int(label[1:]))]
    return dnswire.framed(dnswire.answer(q, addrs))
if sys.argv[1] == "serve":
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.2", 53))
    srv.listen(4)
    print("listening", flush=True)
    while True:
        c, _ = srv.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            msgs = [answer(dnswire.recv_framed(c)) for _ in range(3)]
            first = msgs[0]
            for piece in (first[:1], first[1:9], first[9:]):
                c.sendall(piece)
                time.sleep(0.05)
            c.sendall(msgs[1] + msgs[2])
            wire = answer(dnswire.recv_framed(c))
            c.sendall(wire[:-6])  # the first record whole, not the second
            c.settimeout(10)
            c.recv(1)  # the client has connected (or given up)
            c.sendall(wire[-6:])
        except (EOFError, OSError):
            pass
        c.close()
else:
    t = socket.create_connection(("127.0.0.2", 53), timeout=5)
    for i in (1, 2, 3):
        t.sendall(dnswire.framed(dnswire.query("a%d.split.anthropic.com" % i, qid=i)))
    addrs = [socket.inet_ntoa(dnswire.recv_framed(t)[-4:]) for _ in range(3)]
    for a in addrs:
        print(dnswire.connect_443(a))
    q = dnswire.query("p1.split.anthropic.com", qid=4)
    t.sendall(dnswire.framed(q))
    first = 2 + dnswire.question_end(q) + 12  # the first record's address: after the question and the record's header
    part = b""
    while len(part) < first + 4:
        d = t.recv(4096)
        if not d:
            raise EOFError("the server closed after %d bytes" % len(part))
        part += d
    total = 2 + struct.unpack(">H", part[:2])[0]
    print("partial (%d of %d bytes) %s" % (len(part), total, dnswire.connect_443(socket.inet_ntoa(part[first:first + 4]))))
    t.sendall(b"\0")  # the rest may come
    t.close()
PY
serve "$TG_TMP/split_dns.out" ip netns exec "$NS" "$PYTHON" "$TG_TMP/tcp_split_dns.py" serve
run_direct ip netns exec "$NS" timeout 30 "$PYTHON" "$TG_TMP/tcp_split_dns.py" ask
want=$'127.77.10.5 EPERM Operation not permitted\n127.77.10.6 EPERM Operation not permitted\n127.77.10.7 EPERM Operation not permitted'
[ "$(head -n3 "$RUN_OUT")" = "$want" ]
ok $? "TCP DNS cut into pieces (length split, a message over 3 segments, 2 messages in 1 segment): each address refused at once (got: $(head -n3 "$RUN_OUT" | tr '\n' ';') $(head -c 200 "$RUN_ERR"))"
# the reader has 58 to 68 of the 74 bytes (the first address ends at 58)
[[ "$(sed -n 4p "$RUN_OUT")" =~ ^partial\ \((5[89]|6[0-8])\ of\ 74\ bytes\)\ 127\.77\.10\.10\ EPERM ]]
ok $? "TCP DNS message whose end is late: its first address refused as soon as the reader has it (got: $(sed -n 4p "$RUN_OUT"))"
# An answer whose second segment overtakes the first (TCP made by hand on a
# TUN device, tcp_reorder_dns.py): the early segment is dropped (the client
# acknowledges only the first segment's 10 bytes), the answer still arrives
# whole, and its address is refused at once.
cat >"$TG_TMP/tcp_reorder_dns.py" <<'PY'
# tcp_reorder_dns.py NAME ADDR: a DNS server over TCP made by hand on a TUN
# device (10.77.0.2, this side 10.77.0.1), to send an answer's segments out
# of order. The client in a thread asks for NAME over TCP; the server
# answers A ADDR in two segments, the second first, then the first, then
# the second again (a retransmission). Prints what the client acknowledged
# after the first segment ("ack-after-first N of M": N = 10 when the early
# second segment was dropped, M when TCP kept it), and the client's result:
# "ADDR OK|ERRNO" for a connect to ADDR:443 right after the answer.
import fcntl, os, select, socket, struct, subprocess, sys, threading, time
import dnswire
name, addr = sys.argv[1], sys.argv[2]
TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
try:
    tun = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", b"tgtun0", IFF_TUN | IFF_NO_PI))
except OSError as e:
    print("no TUN device:", e)
    sys.exit(77)
subprocess.run(["ip", "addr", "add", "10.77.0.1/24", "dev", "tgtun0"], check=True)
subprocess.run(["ip", "link", "set", "tgtun0", "up"], check=True)
ME, PEER = socket.inet_aton("10.77.0.2"), socket.inet_aton("10.77.0.1")

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

def send(sport, dport, seq, ack, flags, data=b""):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + data
    c = csum(ME + PEER + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, ME, PEER)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    os.write(tun, ip + tcp)

def packets(until, timeout):
    """TCP packets from the client, (sport, seq, ack, flags, payload), until
    until(the packets so far) holds or timeout s have passed"""
    out, end = [], time.time() + timeout
    while not until(out) and time.time() < end:
        if not select.select([tun], [], [], max(0.0, end - time.time()))[0]:
            break
        p = os.read(tun, 65536)
        if len(p) < 40 or p[0] >> 4 != 4 or p[9] != 6:
            continue
        ihl = (p[0] & 15) * 4
        sport, dport, seq, ack, off, flags = struct.unpack("!HHIIBB", p[ihl:ihl + 14])
        out.append((sport, seq, ack, flags, p[ihl + (off >> 4) * 4:]))
    return out

result = []
def client():
    try:
        t = socket.create_connection(("10.77.0.2", 53), timeout=10)
        t.sendall(dnswire.framed(dnswire.query(name)))
        result.append(dnswire.connect_443(socket.inet_ntoa(dnswire.recv_framed(t)[-4:])))
    except Exception as e:
        result.append("client: %r" % e)
th = threading.Thread(target=client, daemon=True)
th.start()
ISN = 1000
syn = [p for p in packets(lambda ps: any(p[3] & 0x02 for p in ps), 10) if p[3] & 0x02]
if not syn:
    sys.exit("no SYN from the client")
cport, cseq = syn[0][0], syn[0][1]
send(53, cport, ISN, cseq + 1, 0x12)  # SYN-ACK
def query_of(ps):
    data = {}
    for p in ps:
        if p[4] and p[0] == cport:
            data[p[1]] = p[4]
    q, want = b"", cseq + 1
    while want in data:
        q += data[want]
        want += len(data[want])
    return q
def whole(ps):
    q = query_of(ps)
    return len(q) >= 2 and len(q) >= 2 + struct.unpack(">H", q[:2])[0]
query = query_of(packets(whole, 10))
if len(query) < 14:
    sys.exit("no query from the client (%d bytes)" % len(query))
wire = dnswire.framed(dnswire.answer(query[2:], [addr]))
ack = cseq + 1 + len(query)
PSH_ACK = 0x18
def acked(n):
    return lambda ps: any(p[3] & 0x10 and p[2] - ISN - 1 >= n for p in ps)
send(53, cport, ISN + 1 + 10, ack, PSH_ACK, wire[10:])  # the second segment first
packets(lambda ps: False, 0.3)
send(53, cport, ISN + 1, ack, PSH_ACK, wire[:10])  # then the first
acks = [p[2] - ISN - 1 for p in packets(acked(10), 5) if p[3] & 0x10]
first = max(acks) if acks else -1
send(53, cport, ISN + 1 + 10, ack, PSH_ACK, wire[10:])  # the second again
packets(acked(len(wire)), 5)
th.join(15)
send(53, cport, ISN + 1 + len(wire), ack, 0x04)  # RST: done
print("ack-after-first %d of %d" % (first, len(wire)))
print(result[0] if result else "client: no result")
PY
run_direct ip netns exec "$NS" timeout 30 "$PYTHON" "$TG_TMP/tcp_reorder_dns.py" r.reorder.anthropic.com 127.77.10.8
if [ "$RUN_RC" = 77 ]; then
	skip "TCP DNS answer with its segments out of order" "$(head -n1 "$RUN_OUT")"
else
	got=$(tr '\n' ';' <"$RUN_OUT")
	grep -q '^ack-after-first 10 of ' "$RUN_OUT" && grep -qx '127.77.10.8 EPERM Operation not permitted' "$RUN_OUT"
	ok $? "TCP DNS answer with its second segment first: that segment dropped until the first came (client acked 10 bytes), the address refused at once (got: $got $(head -c 200 "$RUN_ERR"))"
fi
# dnsmasq answers TCP queries from a forked child: other pids than its own in the log
dpid=$(sed -n 's/.*dnsmasq\[\([0-9]*\)\]: started.*/\1/p' "$TG_TMP/dnsmasq.log" | head -n1)
tcp_q=$(grep 'query\[' "$TG_TMP/dnsmasq.log" | tail -n +$((q0 + 1)) | grep -vc "dnsmasq\[$dpid\]")
all_q=$(grep 'query\[' "$TG_TMP/dnsmasq.log" | tail -n +$((q0 + 1)) | grep -c .)
[ "$tcp_q" -gt 0 ] && [ "$tcp_q" = "$all_q" ]
ok $? "TCP DNS phase: dnsmasq answered all $all_q queries over TCP ($tcp_q from its TCP children)"
use_udp_dns

# ---------- an address shared by a banned and an allowed name ----------
# claude.ai and cdn.allowed.test both answer 127.77.10.2 / fd77::10:2. The
# allowed name's answer marks the address shared (tg_shared): TCP to it is
# no longer refused for the name rule, the TLS server name decides.
fresh_daemon
run_cmd ip netns exec "$NS" getent ahosts claude.ai
curl_blocked "shared address, banned name resolved first" claude.ai 4 127.77.10.2 claude.ai
curl_works "shared address, banned name resolved first: the allowed name on it" cdn.allowed.test 4
curl_works "shared address, banned name resolved first: the allowed name on it" cdn.allowed.test 6
curl_sni_blocked "shared address, banned name resolved first" claude.ai 4 127.77.10.2
curl_sni_blocked "shared address, banned name resolved first" claude.ai 6 fd77::10:2
# Port 443 is not in network.inspect_ports here: the shared address alone
# sends the connection to the server-name check.
TG_EXTRA_CONF=$'network:\n  inspect_ports: [1]'
fresh_daemon
TG_EXTRA_CONF=
grep -q 'TLS server names on ports 1 and to addresses shared' "$TG_DAEMON_LOG"
ok $? "network.inspect_ports: [1] is in force (daemon log: $(grep -o 'TLS server names on ports [^(]*' "$TG_DAEMON_LOG" | head -n1))"
curl_works "shared address, allowed name resolved first" cdn.allowed.test 4
curl_works "shared address, allowed name resolved first" cdn.allowed.test 6
curl_sni_blocked "shared address, allowed name resolved first" claude.ai 4 127.77.10.2
curl_sni_blocked "shared address, allowed name resolved first" claude.ai 6 fd77::10:2
curl_works "shared address, allowed name resolved first: still works after the banned answer" cdn.allowed.test 4
# UDP to the shared address stays refused by the name rule (no SNI to check there)
run_cmd ip netns exec "$NS" "$PYTHON" -c 'import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
try:
    s.sendto(b"x",("127.77.10.2",443)); print("sent")
except OSError as e:
    print(e.strerror)'
[ "$(cat "$RUN_OUT")" = "Operation not permitted" ]
ok $? "shared address: UDP (QUIC) to 127.77.10.2:443 is still refused by the claude.ai rule (got: $(head -c 80 "$RUN_OUT"))"
tc() { timeout 20 "$TOOLCTL" --socket "$TG_TMP/control.sock" "$@"; }
status=$(tc status --json 2>&1 | "$PYTHON" -c 'import json,sys
try: print(json.load(sys.stdin)["resolver"]["shared_addresses"])
except Exception as e: print("?", e)')
[ "${status%% *}" -ge 2 ] 2>/dev/null
ok $? "toolctl status --json: resolver.shared_addresses counts 127.77.10.2 and fd77::10:2 (got: $status)"
out=$(tc status 2>&1)
grep -q "shared addresses.*allowed names" <<<"$out"
ok $? "toolctl status: $(grep 'shared addresses' <<<"$out" | sed 's/^ *//' | head -c 160)"
out=$(tc test --ip 127.77.10.2:443 2>&1)
grep -q "also answers for an allowed name" <<<"$out"
ok $? "toolctl test --ip 127.77.10.2:443 explains the shared address"
diag "$out"

# ---------- the real Claude Code ----------
claude_bin=$TG_TOOLS_DIR/node_modules/.bin/claude
if [ ! -x "$claude_bin" ]; then
	skip "Claude Code pointed at https://api.anthropic.com cannot connect" "not installed (tests/tools/fetch-ai-tools.sh; looked in $TG_TOOLS_DIR)"
	skip "Claude Code run by exempt user $exempt_user reaches nginx" "not installed"
else
	fresh_daemon
	chome=$TG_TMP/claude-home
	mkdir -p "$chome/root" "$chome/exempt"
	chown "$exempt_user" "$chome/exempt"
	claude_run() { # HOME [setpriv prefix...]
		local home=$1
		shift
		run_cmd ip netns exec "$NS" "$@" env -i PATH=/usr/bin:/bin HOME="$home" \
			ANTHROPIC_BASE_URL=https://api.anthropic.com ANTHROPIC_API_KEY=sk-ant-dummy-test \
			NODE_EXTRA_CA_CERTS="$CA" SSL_CERT_FILE="$CA" DISABLE_AUTOUPDATER=1 \
			CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_TELEMETRY=1 DISABLE_ERROR_REPORTING=1 \
			CLAUDE_CODE_MAX_RETRIES=0 API_TIMEOUT_MS=15000 \
			timeout 40 "$claude_bin" -p "say hi" --max-turns 1
	}
	n0=$(grep -c 'POST /v1/messages' "$TG_TMP/nginx/access.log")
	ev0=$(cat "$TG_EVENTS" 2>/dev/null | wc -l)
	claude_run "$chome/root"
	n1=$(grep -c 'POST /v1/messages' "$TG_TMP/nginx/access.log")
	cerr=$(cat "$RUN_OUT" "$RUN_ERR" | tr '\n' ' ' | head -c 300)
	ev=$(EV_SKIP=$ev0 ev_hosts 127.77.10.1; EV_SKIP=$ev0 ev_hosts fd77::10:1)
	if [ "$RUN_RC" != 0 ] && [ "$n1" = "$n0" ] && grep -q api.anthropic.com <<<"$ev"; then
		pass "Claude Code pointed at https://api.anthropic.com cannot connect (exit $RUN_RC, nginx saw nothing, event names api.anthropic.com; it said: ${cerr:0:160})"
	else
		fail "Claude Code pointed at https://api.anthropic.com cannot connect (exit $RUN_RC, nginx requests $n0 -> $n1, events: $(tr '\n' ' ' <<<"$ev"); it said: $cerr)"
	fi
	grep -qiE "EPERM|not permitted|connect|Connection" <<<"$cerr"
	ok $? "Claude Code's error is a connection error (${cerr:0:160})"
	claude_run "$chome/exempt" setpriv --reuid="$(id -u "$exempt_user")" --regid="$(id -g "$exempt_user")" --clear-groups --
	n2=$(grep -c 'POST /v1/messages' "$TG_TMP/nginx/access.log")
	[ "$n2" -gt "$n1" ]
	ok $? "Claude Code run by exempt user $exempt_user reaches nginx (POST /v1/messages: $n1 -> $n2; exit $RUN_RC)"
	[ "$n2" -gt "$n1" ] || { diag_file "$RUN_ERR" 5; diag_file "$TG_TMP/nginx/error.log" 5; }
fi

stop_daemon
tg_unload
out=$(nsx curl -sS --max-time 10 --cacert "$CA" -4 https://claude.ai/ 2>&1)
[ "$out" = "hello from claude.ai" ]
ok $? "after toolguardd --unload: curl https://claude.ai/ works again (got: $out)"

done_testing
