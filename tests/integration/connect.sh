#!/bin/bash
# Hosts rules in the kernel: connect and sendto to banned CIDRs fail with EPERM
# for any process (IPv4, IPv6, IPv4-mapped IPv6; TCP and UDP); other loopback
# destinations work; a port-limited rule blocks only its port. Compared with
# `toolctl test --ip`. Only 127.77.0.0/16, 127.78.0.0/16 and fd77::/64 are
# banned; fd77::1 is added to lo for the test and removed afterwards.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_bpf
require_cmd ip
setup_tmp

[ "$(cat /proc/sys/net/ipv6/conf/lo/disable_ipv6 2>/dev/null)" = 0 ] || skip_all "IPv6 is disabled on lo"
if ! ip -6 addr show dev lo | grep -q 'fd77::1/128'; then
	ip -6 addr add fd77::1/128 dev lo nodad || skip_all "cannot add fd77::1/128 to lo"
	on_cleanup "ip -6 addr del fd77::1/128 dev lo"
fi

port=$((20000 + RANDOM % 20000))
cat >"$TG_TMP/client.py" <<'PY'
# client.py tcp|udp|udpconnect inet|inet6 ADDR PORT: prints OK or the errno name and message.
import errno, socket, sys
proto, fam, addr, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
f = socket.AF_INET6 if fam == "inet6" else socket.AF_INET
s = socket.socket(f, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.settimeout(3)
try:
    if proto == "tcp":
        s.connect((addr, port))
    elif proto == "udpconnect":
        s.connect((addr, port))
        s.send(b"x")
    else:
        s.sendto(b"x", (addr, port))
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)), e.strerror)
    sys.exit(1)
PY

"$PYTHON" "$top_srcdir/tests/integration/listen.py" --udp 127.0.0.1:$port 127.77.1.1:$port "[fd77::1]:$port" "[::1]:$port" \
	127.78.0.1:9 127.78.0.1:10 >"$TG_TMP/server.out" 2>&1 &
bg_pid $!
for ((i = 0; i < 50; i++)); do grep -q listening "$TG_TMP/server.out" && break; sleep 0.1; done
grep -q listening "$TG_TMP/server.out" || { diag_file "$TG_TMP/server.out"; bail "test listeners did not start"; }

# Each case: PROTO FAMILY ADDR PORT WANT (EPERM or OK) and toolctl's --ip form.
cases=(
	"tcp inet 127.77.1.1 $port EPERM 127.77.1.1:$port"
	"udp inet 127.77.1.1 $port EPERM 127.77.1.1:$port"
	"udpconnect inet 127.77.1.1 $port EPERM 127.77.1.1:$port"
	"tcp inet6 fd77::1 $port EPERM [fd77::1]:$port"
	"udp inet6 fd77::1 $port EPERM [fd77::1]:$port"
	"tcp inet6 ::ffff:127.77.1.1 $port EPERM [::ffff:127.77.1.1]:$port"
	"udp inet6 ::ffff:127.77.1.1 $port EPERM [::ffff:127.77.1.1]:$port"
	"tcp inet 127.78.0.1 9 EPERM 127.78.0.1:9"
	"udp inet 127.78.0.1 9 EPERM 127.78.0.1:9"
	"tcp inet 127.78.0.1 10 OK 127.78.0.1:10"
	"tcp inet 127.0.0.1 $port OK 127.0.0.1:$port"
	"udp inet 127.0.0.1 $port OK 127.0.0.1:$port"
	"tcp inet6 ::1 $port OK [::1]:$port"
	"udp inet6 ::1 $port OK [::1]:$port"
	"tcp inet6 ::ffff:127.0.0.1 $port OK [::ffff:127.0.0.1]:$port"
)

# Without toolguard every case must connect: otherwise the test itself is broken.
for c in "${cases[@]}"; do
	set -- $c
	out=$(timeout 10 "$PYTHON" "$TG_TMP/client.py" "$1" "$2" "$3" "$4" 2>&1)
	[ "$out" = OK ] || bail "baseline without toolguard: $1 $3 port $4 gave '$out'"
done

pol=$TG_TMP/policy.yaml
cat >"$pol" <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: it-connect
  serial: 1
tools:
  - id: test-net
    name: Test network ranges
    action: block
    match:
      hosts:
        - 127.77.0.0/16
        - fd77::/64
        - host: 127.78.0.0/16
          ports: [9]
EOF

start_or_bail "$pol"

for c in "${cases[@]}"; do
	set -- $c
	proto=$1 fam=$2 addr=$3 p=$4 want=$5 refip=$6
	desc="$proto $fam $addr port $p"
	run_direct "$PYTHON" "$TG_TMP/client.py" "$proto" "$fam" "$addr" "$p" # times out by itself (3 s)
	got=$(head -n1 "$RUN_OUT")
	if [ "$want" = EPERM ]; then
		[[ $got == "EPERM Operation not permitted" ]]
		ok $? "$desc: fails with EPERM (got: ${got:-exit $RUN_RC})"
		ev=$(events_find kind=connect verdict=blocked tool=test-net pid="$RUN_PID" | head -n1)
		if grep -qF -- "$(sed 's/^::ffff://' <<<"$addr")\"" <<<"$ev"; then
			pass "$desc: event {kind connect, verdict blocked, tool test-net, pid $RUN_PID} naming $addr"
		else
			fail "$desc: event {kind connect, verdict blocked, tool test-net, pid $RUN_PID} naming $addr"
			[ -n "$ev" ] && diag "event: $ev"
			diag_file "$TG_EVENTS" 3
		fi
		want_rc=1
	else
		[ "$got" = OK ]
		ok $? "$desc: connects (got: ${got:-exit $RUN_RC})"
		want_rc=0
	fi
	if ref_test "$pol" --ip "$refip"; then
		[ "$REF_RC" -eq "$want_rc" ]
		ok $? "$desc: toolctl test --ip $refip agrees (exit $REF_RC, want $want_rc: $(head -n1 <<<"$REF_OUT" | head -c 100))"
	else
		skip "$desc: toolctl test --ip agrees" "cli/toolctl not built"
	fi
done

# Blocked for every process: a client running as nobody is refused too.
run_direct setpriv --reuid=65534 --regid=65534 --clear-groups -- "$PYTHON" "$TG_TMP/client.py" tcp inet 127.77.1.1 "$port"
[[ $(head -n1 "$RUN_OUT") == EPERM* ]]
ok $? "tcp 127.77.1.1 as nobody: EPERM (got: $(head -n1 "$RUN_OUT"))"

stop_daemon
tg_unload
out=$(timeout 10 "$PYTHON" "$TG_TMP/client.py" tcp inet 127.77.1.1 "$port" 2>&1)
[ "$out" = OK ]
ok $? "after toolguardd --unload: 127.77.1.1 connects again (got: $out)"

done_testing
