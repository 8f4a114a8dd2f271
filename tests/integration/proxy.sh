#!/bin/bash
# Host names in a stream's first bytes (bpf/stream_guard.bpf.c): through a
# real HTTP proxy (tinyproxy on loopback) the "CONNECT host:port" line of a
# banned name is refused in the kernel (curl fails at once with "Permission
# denied", nothing reaches the proxy) while an allowed name goes through; a
# direct TLS connection to an address shared by banned and allowed names
# (nginx on 127.77.9.1 with a test CA) is refused by its ClientHello's
# server_name for the banned ones only. Exact and wildcard rules, no apex for
# "*.", case and trailing dot ignored, a ClientHello written in two pieces,
# a port-limited rule, monitor mode, events naming the host. No DNS is
# involved: names reach curl through --resolve and the proxy through a private
# /etc/hosts (mount namespace). Own pin directory; the trap unloads.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# Before lib.sh: its foreign-pin check, unload and watchdog use this directory.
export TG_IT_PIN_DIR=${TG_IT_PIN_DIR:-/sys/fs/bpf/toolguard-it-proxy}
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_bpf
require_cmd nginx openssl curl tinyproxy unshare ip script
setup_tmp

# The daemon's configuration with terminal notices on (lib.sh's turns them off).
write_config() {
	cat >"$1" <<EOF
mode: ${3:-enforce}
policy:
  file: $2
  cache: $TG_TMP/policy-cache.yaml
notices:
  tty: true
  desktop: false
  interval: 1m
events:
  log: $TG_EVENTS
control:
  socket: $TG_TMP/control.sock
network:
  inspect_ports: ${INSPECT:-[$PPORT, $PORT]}
EOF
}
PIN_ARGS=(--pin-dir "$TG_PIN_DIR")
# lib.sh's unload does not know the pin directory: unload it here first.
on_cleanup "timeout 30 '$TOOLGUARDD' --unload --pin-dir '$TG_PIN_DIR'; rm -rf '$TG_PIN_DIR'"

ADDR=127.77.9.1
if ! ip -4 addr show dev lo | grep -q "inet $ADDR/"; then
	ip addr add "$ADDR/32" dev lo || skip_all "cannot add $ADDR to lo"
	on_cleanup "ip addr del $ADDR/32 dev lo"
fi

BANNED=api.tg-banned.test
PORTED=ported.tg-banned.test
WILD_APEX=tg-wild.test
WILD_SUB=x.y.tg-wild.test
ALLOWED=ok.tg-allowed.test
names=("$BANNED" "$PORTED" "$WILD_APEX" "$WILD_SUB" "$ALLOWED")
K=$TG_TMP/keys
mkdir -p "$K" "$TG_TMP/nginx" "$TG_TMP/www"
echo hello-from-nginx >"$TG_TMP/www/index.html"
chmod -R a+rX "$TG_TMP/www"

# ---------- test CA and one certificate for every test name ----------
make_test_ca "$K" "$ALLOWED" "$(printf 'DNS:%s,' "${names[@]}")IP:$ADDR"

# ---------- nginx: TLS on the shared address ----------
start_nginx_tls "$ADDR" "	access_log $TG_TMP/nginx/access.log;" "		ssl_certificate $K/srv.pem;
		ssl_certificate_key $K/srv.key;
		root $TG_TMP/www;"

# ---------- tinyproxy on 127.0.0.1, resolving the test names privately ----------
{
	grep -v "[[:space:]]tg-" /etc/hosts
	for n in "${names[@]}"; do echo "$ADDR $n"; done
} >"$TG_TMP/hosts"
chmod 644 "$TG_TMP/hosts"
PPORT=
for try in 1 2 3 4 5; do
	PPORT=$((20000 + RANDOM % 20000))
	[ "$PPORT" = "$PORT" ] && continue
	cat >"$TG_TMP/tinyproxy.conf" <<EOF
User nobody
Group nogroup
Port $PPORT
Listen 127.0.0.1
Timeout 30
MaxClients 20
Allow 127.0.0.1
ConnectPort $PORT
ConnectPort 443
LogLevel Connect
EOF
	# a private mount namespace: the proxy alone sees the test names
	unshare -m bash -c 'mount --bind "$1" /etc/hosts && exec tinyproxy -d -c "$2"' tinyproxy \
		"$TG_TMP/hosts" "$TG_TMP/tinyproxy.conf" >"$TG_TMP/tinyproxy.log" 2>&1 9>&- &
	PROXY_PID=$!
	bg_pid "$PROXY_PID"
	for ((i = 0; i < 30; i++)); do
		curl -s --cacert "$K/ca.pem" -o /dev/null --proxy "http://127.0.0.1:$PPORT" "https://$ALLOWED:$PORT/" && break
		kill -0 "$PROXY_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$PROXY_PID" 2>/dev/null && break
	PPORT=
done
[ -n "$PPORT" ] || { diag_file "$TG_TMP/tinyproxy.log"; bail "tinyproxy did not start"; }
PROXY=http://127.0.0.1:$PPORT

# A raw client for what curl does not do: a CONNECT line as given, a
# ClientHello (made by Python's ssl) written in two pieces.
cat >"$TG_TMP/raw.py" <<'PY'
# raw.py connect HOSTPORT_IN_LINE PROXY_PORT | split NAME ADDR PORT
# prints OK (the peer answered) or the errno name; the time of the failing call
import errno, socket, ssl, sys, time
mode = sys.argv[1]
try:
    if mode == "connect":
        s = socket.create_connection(("127.0.0.1", int(sys.argv[3])), timeout=5)
        s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (sys.argv[2], sys.argv[2])).encode())
        r = s.recv(64)
        print("OK" if r.startswith(b"HTTP/1.") else "NOANSWER %r" % r)
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inb, outb, server_hostname=sys.argv[2])
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = outb.read()
        s = socket.create_connection((sys.argv[3], int(sys.argv[4])), timeout=5)
        s.sendall(hello[:3])
        time.sleep(0.2)
        s.sendall(hello[3:])
        r = s.recv(64)
        print("OK" if r[:1] == b"\x16" else "NOANSWER %r" % r)
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
    sys.exit(1)
PY

# Baselines without toolguard: every path works, else the test itself is broken.
for n in "${names[@]}"; do
	out=$(curl -sS --max-time 10 --cacert "$K/ca.pem" --proxy "$PROXY" "https://$n:$PORT/" 2>&1)
	[ "$out" = hello-from-nginx ] || bail "baseline: $n through the proxy gave '$out'"
	out=$(curl -sS --max-time 10 --cacert "$K/ca.pem" --resolve "$n:$PORT:$ADDR" "https://$n:$PORT/" 2>&1)
	[ "$out" = hello-from-nginx ] || bail "baseline: $n direct gave '$out'"
done
out=$("$PYTHON" "$TG_TMP/raw.py" split "$BANNED" "$ADDR" "$PORT" 2>&1)
[ "$out" = OK ] || bail "baseline: split ClientHello gave '$out'"

pol=$TG_TMP/policy.yaml
cat >"$pol" <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: it-proxy
  serial: 1
tools:
  - id: test-hosts
    name: Test AI service names
    action: block
    match:
      hosts:
        - $BANNED
        - "*.$WILD_APEX"
        - host: $PORTED
          ports: [1]
        - 127.77.9.2/32
EOF

start_or_bail "$pol" "${PIN_ARGS[@]}"
grep -q "CONNECT/SNI checks unavailable" "$TG_DAEMON_LOG" && diag_file "$TG_DAEMON_LOG" 5
[ -e "$TG_PIN_DIR/links/stream_sockops" ]
ok $? "the stream checks are loaded (pinned link $TG_PIN_DIR/links/stream_sockops)"

# curl_case DESC WANT(blocked|ok) HOST CURL-ARGS...: runs curl, checks result + time.
curl_case() {
	local desc=$1 want=$2 host=$3 t0 t1 ms
	shift 3
	t0=$(date +%s%N)
	run_direct curl -sS --max-time 20 --cacert "$K/ca.pem" "$@"
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	if [ "$want" = blocked ]; then
		[ "$RUN_RC" -ne 0 ] && grep -q "Permission denied" "$RUN_ERR" && [ "$ms" -lt 2000 ]
		ok $? "$desc: refused in ${ms} ms (curl exit $RUN_RC: $(head -c 120 "$RUN_ERR" | tr '\n' ' '))"
		ev=$(events_find kind=connect verdict=blocked tool=test-hosts pid="$RUN_PID" | head -n1)
		if grep -qF "\"host\":\"$host\"" <<<"$ev"; then
			pass "$desc: event {kind connect, verdict blocked, pid $RUN_PID} names $host"
		else
			fail "$desc: event {kind connect, verdict blocked, pid $RUN_PID} names $host"
			[ -n "$ev" ] && diag "event: $ev"
			diag_file "$TG_EVENTS" 3
		fi
	else
		[ "$RUN_RC" -eq 0 ] && [ "$(cat "$RUN_OUT")" = hello-from-nginx ]
		ok $? "$desc: goes through (curl exit $RUN_RC in ${ms} ms $(head -c 120 "$RUN_ERR" | tr '\n' ' '))"
	fi
}

# ---------- through the proxy: the CONNECT line ----------
proxied_before=$(grep -c "CONNECT" "$TG_TMP/tinyproxy.log")
curl_case "proxy, exact $BANNED" blocked "$BANNED" --proxy "$PROXY" "https://$BANNED:$PORT/"
curl_case "proxy, wildcard $WILD_SUB" blocked "$WILD_SUB" --proxy "$PROXY" "https://$WILD_SUB:$PORT/"
HTTPS_PROXY=$PROXY curl_case "HTTPS_PROXY, $BANNED" blocked "$BANNED" "https://$BANNED:$PORT/"
grep -i "CONNECT.*tg-banned\|CONNECT.*tg-wild" "$TG_TMP/tinyproxy.log" | tail -n +$((proxied_before + 1)) | grep -q .
ok $((!$?)) "the proxy never saw a CONNECT for a banned name"
curl_case "proxy, allowed $ALLOWED" ok "" --proxy "$PROXY" "https://$ALLOWED:$PORT/"
HTTPS_PROXY=$PROXY curl_case "HTTPS_PROXY, allowed $ALLOWED" ok "" "https://$ALLOWED:$PORT/"
curl_case "proxy, wildcard apex $WILD_APEX (not matched by *.)" ok "" --proxy "$PROXY" "https://$WILD_APEX:$PORT/"
curl_case "proxy, $PORTED on another port than its rule's" ok "" --proxy "$PROXY" "https://$PORTED:$PORT/"

# Case and trailing dot: the request line as a client may write it.
run_direct "$PYTHON" "$TG_TMP/raw.py" connect "API.TG-Banned.Test.:$PORT" "$PPORT"
[ "$(cat "$RUN_OUT")" = EACCES ]
ok $? "CONNECT API.TG-Banned.Test.:$PORT (case, trailing dot): EACCES (got: $(cat "$RUN_OUT"))"
# An IPv4 literal in CONNECT: the CIDR rules decide (the proxy may be remote).
run_direct "$PYTHON" "$TG_TMP/raw.py" connect "127.77.9.2:$PORT" "$PPORT"
[ "$(cat "$RUN_OUT")" = EACCES ]
ok $? "CONNECT 127.77.9.2:$PORT (a banned CIDR): EACCES (got: $(cat "$RUN_OUT"))"
run_direct "$PYTHON" "$TG_TMP/raw.py" connect "$ALLOWED:$PORT" "$PPORT"
[ "$(cat "$RUN_OUT")" = OK ]
ok $? "CONNECT $ALLOWED:$PORT by the raw client: the proxy answers (got: $(cat "$RUN_OUT"))"

# ---------- direct TLS to the shared address: the server name ----------
curl_case "direct TLS, SNI $BANNED on $ADDR" blocked "$BANNED" --resolve "$BANNED:$PORT:$ADDR" "https://$BANNED:$PORT/"
curl_case "direct TLS, SNI $WILD_SUB on $ADDR" blocked "$WILD_SUB" --resolve "$WILD_SUB:$PORT:$ADDR" "https://$WILD_SUB:$PORT/"
curl_case "direct TLS, SNI $ALLOWED on the same address" ok "" --resolve "$ALLOWED:$PORT:$ADDR" "https://$ALLOWED:$PORT/"
curl_case "direct TLS, SNI $WILD_APEX on the same address" ok "" --resolve "$WILD_APEX:$PORT:$ADDR" "https://$WILD_APEX:$PORT/"
curl_case "direct TLS to the address itself (no SNI)" ok "" -k "https://$ADDR:$PORT/"
run_direct "$PYTHON" "$TG_TMP/raw.py" split "$BANNED" "$ADDR" "$PORT"
[ "$(cat "$RUN_OUT")" = EACCES ]
ok $? "a ClientHello for $BANNED written in two pieces: EACCES (got: $(cat "$RUN_OUT"))"
run_direct "$PYTHON" "$TG_TMP/raw.py" split "$ALLOWED" "$ADDR" "$PORT"
[ "$(cat "$RUN_OUT")" = OK ]
ok $? "a ClientHello for $ALLOWED written in two pieces: answered (got: $(cat "$RUN_OUT"))"

# The user's terminal gets the notice, as for a refused exec (the first block
# on a terminal: the ones above ran without one). An ASan/UBSan daemon is slower to write it.
nwait=1.5
[ "$TG_SANITIZED" = 1 ] && nwait=5
out=$(script -qec "curl -sS --max-time 10 --cacert '$K/ca.pem' --proxy '$PROXY' 'https://$BANNED:$PORT/'; sleep $nwait" /dev/null 2>&1)
grep -q "\\[toolguard\\]" <<<"$out" && grep -q "Connection: $BANNED" <<<"$out"
ok $? "a refused CONNECT in a terminal: the notice there names $BANNED ($(grep -m1 -o 'Connection: [^)]*)' <<<"$out"))"
grep -q "Connection: $BANNED" <<<"$out" || diag "$out"

# Another user is refused too (the check is on the socket, not the tool).
run_direct setpriv --reuid=65534 --regid=65534 --clear-groups -- curl -sS --max-time 20 --cacert "$K/ca.pem" \
	--proxy "$PROXY" "https://$BANNED:$PORT/"
[ "$RUN_RC" -ne 0 ] && grep -q "Permission denied" "$RUN_ERR"
ok $? "as nobody through the proxy: refused (curl exit $RUN_RC)"

# ---------- network.inspect_ports: which connections are inspected ----------
# The runs above listed both ports. With only the proxy's port, a direct TLS
# connection to port $PORT of $ADDR (no DNS answer made it a shared address)
# is not inspected, as documented; "all" inspects every connection.
stop_daemon
INSPECT="[$PPORT]" start_or_bail "$pol" "${PIN_ARGS[@]}"
curl_case "inspect_ports [$PPORT]: $BANNED through the proxy" blocked "$BANNED" --proxy "$PROXY" "https://$BANNED:$PORT/"
curl_case "inspect_ports [$PPORT]: direct TLS, SNI $BANNED to port $PORT (not inspected)" ok "" \
	--resolve "$BANNED:$PORT:$ADDR" "https://$BANNED:$PORT/"
stop_daemon
INSPECT=all start_or_bail "$pol" "${PIN_ARGS[@]}"
curl_case "inspect_ports all: direct TLS, SNI $BANNED to port $PORT" blocked "$BANNED" \
	--resolve "$BANNED:$PORT:$ADDR" "https://$BANNED:$PORT/"
curl_case "inspect_ports all: $BANNED through the proxy" blocked "$BANNED" --proxy "$PROXY" "https://$BANNED:$PORT/"

# ---------- monitor mode: recorded, not refused ----------
stop_daemon
start_or_bail "$pol" "${PIN_ARGS[@]}" --mode monitor
run_direct curl -sS --max-time 20 --cacert "$K/ca.pem" --proxy "$PROXY" "https://$BANNED:$PORT/"
[ "$RUN_RC" -eq 0 ]
ok $? "monitor mode: $BANNED through the proxy goes through (curl exit $RUN_RC)"
ev=$(events_find kind=connect verdict=would-block pid="$RUN_PID" | head -n1)
[ -z "$ev" ] && ev=$(events_find kind=connect pid="$RUN_PID" | head -n1)
grep -qF "\"host\":\"$BANNED\"" <<<"$ev" && ! grep -q '"verdict":"blocked"' <<<"$ev"
ok $? "monitor mode: an event names $BANNED without a block (${ev:0:200})"

stop_daemon
timeout 30 "$TOOLGUARDD" --unload --pin-dir "$TG_PIN_DIR" >/dev/null 2>&1
rm -f "$TG_TMP/.loaded"
out=$(curl -sS --max-time 10 --cacert "$K/ca.pem" --proxy "$PROXY" "https://$BANNED:$PORT/" 2>&1)
[ "$out" = hello-from-nginx ]
ok $? "after toolguardd --unload: $BANNED through the proxy works again (got: $out)"

done_testing
