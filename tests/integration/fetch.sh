#!/bin/bash
# Central policy (policy.url): real nginx on 127.0.0.1 with HTTPS from a test
# CA made here, Ed25519-signed policies. First fetch enforced; an unchanged
# policy costs a 304; a published change is enforced within one interval;
# bad/missing/other signature, rollback, broken YAML, 404, 500, a redirect
# loop, a body over the cap, a stalled server and a refused connection are
# each refused with a policy event saying why while the policy in force stays
# enforced; the cache is never replaced by a refused policy; a restart with the
# server down enforces the cache; a full disk while writing the cache loses
# nothing. SIGUSR1 (what `toolctl sync` does) starts a fetch at once.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_bpf
require_cmd nginx openssl
setup_tmp

W=$TG_TMP/www
K=$TG_TMP/keys
CACHE_DIR=$TG_TMP/cache
mkdir -p "$W" "$K" "$CACHE_DIR" "$TG_TMP/nginx"
chmod 755 "$W"

# ---------- test CA, server certificate, signing keys ----------
make_test_ca "$K" 127.0.0.1 IP:127.0.0.1,DNS:localhost
(
	cd "$K" || exit 1
	openssl genpkey -algorithm ed25519 -out sign.key &&
		openssl pkey -in sign.key -pubout -out sign.pub &&
		openssl genpkey -algorithm ed25519 -out other.key
) >"$TG_TMP/openssl.log" 2>&1 || { diag_file "$TG_TMP/openssl.log" 20; bail "openssl could not make the signing keys"; }
chmod 644 "$K"/*

# ---------- nginx ----------
start_nginx_tls 127.0.0.1 "	default_type application/octet-stream;
	log_format tg '\$request_uri \$status \$body_bytes_sent';
	access_log $TG_TMP/nginx/access.log tg;" "		ssl_certificate $K/srv.pem;
		ssl_certificate_key $K/srv.key;
		root $W;
		etag on;
		location = /loop.yaml { return 302 /loop.yaml; }
		location = /e500.yaml { return 500; }"
BASE=https://127.0.0.1:$PORT
ACCESS=$TG_TMP/nginx/access.log

bin_a=$(make_test_binary tg-fetch-a)
bin_b=$(make_test_binary tg-fetch-b)
bin_c=$(make_test_binary tg-fetch-c)
bin_r=$(make_test_binary tg-fetch-rollout)
bin_h=$(make_test_binary tg-fetch-half)

# policy_text SERIAL BINARY [EXTRA TOOL YAML]
policy_text() {
	cat <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: it-fetch
  serial: $1
tools:
  - id: fetch-tool
    name: A banned binary
    action: block
    match:
      executables:
        - path: "$2"
  - id: rollout-none
    name: Not rolled out anywhere
    action: block
    rollout: {percent: 0}
    match:
      executables:
        - path: "$bin_r"
  - id: rollout-half
    name: Rolled out to half the machines
    action: block
    rollout: {percent: 50}
    match:
      executables:
        - path: "$bin_h"
EOF
}
sign() { # FILE [KEY] -> FILE.sig
	openssl pkeyutl -sign -rawin -inkey "${2:-$K/sign.key}" -in "$1" | base64 -w0 >"$1.sig.new" &&
		mv -f "$1.sig.new" "$1.sig"
}
publish() { # NAME SERIAL BINARY: signed
	policy_text "$2" "$3" >"$W/$1.new" && mv -f "$W/$1.new" "$W/$1" && sign "$W/$1"
}

blocked() { run_direct "$1" x; is_refused_status "$RUN_RC" && [ ! -s "$RUN_OUT" ]; }
runs() { run_direct "$1" x; [ "$RUN_RC" = 0 ] && grep -qx x "$RUN_OUT"; }

n_policy_events() { cat "$TG_EVENTS" 2>/dev/null | grep -c '"kind": *"policy"'; }
# After the next policy event: prints it (JSON line). Fails after WAIT seconds (15).
LAST_EV=
wait_policy_event_after() { # COUNT
	local i
	for ((i = 0; i < ${WAIT:-15} * 10; i++)); do
		if [ "$(n_policy_events)" -gt "$1" ]; then
			LAST_EV=$(grep '"kind": *"policy"' "$TG_EVENTS" | tail -n1)
			return 0
		fi
		sleep 0.1
	done
	LAST_EV=
	return 1
}
sync_now() { # fetch now and wait for its policy event (a sync that changes nothing emits none)
	local n
	n=$(n_policy_events)
	kill -USR1 "$TG_DAEMON_PID"
	wait_policy_event_after "$n"
}
ev_field() { [ -n "$LAST_EV" ] && json_field "$1" <<<"$LAST_EV" 2>/dev/null; }

# write_fetch_config URL
write_fetch_config() {
	TG_EVENTS=$TG_TMP/events.jsonl
	TG_CONF=$TG_TMP/toolguard.conf
	cat >"$TG_CONF" <<EOF
mode: enforce
policy:
  file: $TG_TMP/local.yaml
  url: $1
  interval: 10s
  ca_file: $K/ca.pem
  public_key: $K/sign.pub
  cache: $CACHE_DIR/policy.yaml
notices:
  tty: false
  desktop: false
events:
  log: $TG_EVENTS
control:
  socket: $TG_TMP/control.sock
EOF
}

# Like start_daemon, but with the configuration's policy (no --policy).
start_fetch_daemon() {
	local i
	start_notify_listener
	TG_DAEMON_LOG=$TG_TMP/daemon.$(date +%s%N).log
	touch "$TG_TMP/.loaded"
	TG_NOTIFY_SKIP=$(wc -l <"$TG_NOTIFY_LOG")
	TOOLGUARD_FETCH_STALL_SEC=3 NOTIFY_SOCKET=$TG_TMP/notify.sock "$TOOLGUARDD" --config "$TG_CONF" \
		--foreground --verbose "$@" >"$TG_DAEMON_LOG" 2>&1 9>&- &
	TG_DAEMON_PID=$!
	echo "$TG_DAEMON_PID" >"$TG_TMP/daemon.pid"
	for ((i = 0; i < 300; i++)); do
		kill -0 "$TG_DAEMON_PID" 2>/dev/null || break
		daemon_ready && break
		sleep 0.1
	done
	if ! daemon_ready; then
		diag_file "$TG_DAEMON_LOG" 30
		return 1
	fi
	TG_BACKEND=$(sed -n 's/.*exec[ _-]backend[=: "]*\([a-z_]*\).*/\1/p' "$TG_DAEMON_LOG" | head -n1)
	[ -n "$TG_BACKEND" ] || TG_BACKEND=unknown
	return 0
}

# refused_keeps DESC REASON_REGEX: the last sync was refused for that reason,
# serial 2 (bans B) stays enforced and the cache still holds it.
refused_keeps() {
	local reason
	reason=$(ev_field reason)
	if [ "$(ev_field verdict)" = refused ] && grep -Eq "$2" <<<"$reason"; then
		pass "$1: refused, policy event says: $reason"
	else
		fail "$1: refused with a policy event matching /$2/ (got: ${LAST_EV:-no event})"
		diag_file "$TG_DAEMON_LOG" 10
	fi
	if blocked "$bin_b" && runs "$bin_a"; then
		pass "$1: serial 2 still enforced (B killed, A runs)"
	else
		fail "$1: serial 2 still enforced (B rc $RUN_RC)"
	fi
	cmp -s "$CACHE_DIR/policy.yaml" "$TG_TMP/good2.yaml"
	ok $? "$1: the cache still holds serial 2"
}

# ---------- local policy (serial 1, bans C) until the first fetch ----------
policy_text 1 "$bin_c" >"$TG_TMP/local.yaml"
publish policy.yaml 1 "$bin_a"
write_fetch_config "$BASE/policy.yaml"
start_fetch_daemon || bail "toolguardd did not start (see diag lines)"
echo "# backend: $TG_BACKEND, server $BASE"

WAIT=20 wait_policy_event_after 1 # the local policy's event, then the fetched one
ok $? "first fetch: a policy event follows the local policy's"
[ "$(ev_field verdict)" = loaded ] && [ "$(ev_field policy_serial)" = 1 ] && [ "$(ev_field source)" = "$BASE/policy.yaml" ]
ok $? "first fetch: loaded serial 1 from $BASE/policy.yaml ($(ev_field verdict) $(ev_field policy_serial) $(ev_field source))"
blocked "$bin_a"
ok $? "first fetch: A (banned by the server's policy) is killed (rc $RUN_RC)"
runs "$bin_c"
ok $? "first fetch: C (banned only by the local policy) runs"
runs "$bin_r"
ok $? "rollout percent 0: the tool is inactive on this machine (rc $RUN_RC)"
grep -q "rollout-none: not in its rollout" "$TG_DAEMON_LOG"
ok $? "rollout percent 0: the daemon says this machine is not in"
# The documented selection, computed independently: sha256(machine-id "\n" tool id)[0:8] % 100 < 50.
half_in=$("$PYTHON" -c 'import hashlib
w = open("/etc/machine-id").read().split()
mid = w[0] if w else ""
h = hashlib.sha256((mid + "\n" + "rollout-half").encode()).digest()
print(1 if not mid or int.from_bytes(h[:8], "big") % 100 < 50 else 0)' 2>/dev/null)
if [ "$half_in" = 1 ]; then
	blocked "$bin_h"
	ok $? "rollout percent 50: this machine is in by the documented hash, the tool is enforced (rc $RUN_RC)"
else
	runs "$bin_h"
	ok $? "rollout percent 50: this machine is out by the documented hash, the tool is inactive (rc $RUN_RC)"
fi
cmp -s "$CACHE_DIR/policy.yaml" "$W/policy.yaml"
ok $? "first fetch: the cache holds the exact bytes served"
grep -q '^etag "' "$CACHE_DIR/policy.yaml.meta"
ok $? "first fetch: the ETag is kept next to the cache ($(grep etag "$CACHE_DIR/policy.yaml.meta"))"

# ---------- 304 on the next poll (interval 10 s +-10%) ----------
for ((i = 0; i < 130; i++)); do
	[ "$(grep -c '^/policy.yaml ' "$ACCESS")" -ge 2 ] && break
	sleep 0.1
done
grep '^/policy.yaml ' "$ACCESS" | sed -n 2p | grep -q '^/policy.yaml 304 '
ok $? "the next poll within one interval costs a 304 ($(grep '^/policy.yaml ' "$ACCESS" | sed -n 2p))"

# ---------- a published change is enforced within one interval ----------
publish policy.yaml 2 "$bin_b"
cp "$W/policy.yaml" "$TG_TMP/good2.yaml"
t0=$(date +%s)
WAIT=13 wait_policy_event_after "$(n_policy_events)"
ok $? "published serial 2: a policy event within one interval ($(($(date +%s) - t0)) s)"
[ "$(ev_field verdict)" = loaded ] && [ "$(ev_field policy_serial)" = 2 ]
ok $? "published serial 2: loaded ($(ev_field verdict) $(ev_field policy_serial))"
blocked "$bin_b" && runs "$bin_a"
ok $? "serial 2 enforced: B killed, A runs again"

# ---------- refusals: each keeps serial 2 in force and in the cache ----------
cp "$W/policy.yaml" "$W/policy.yaml.good"
cp "$W/policy.yaml.sig" "$W/policy.yaml.sig.good"
restore() { cp "$W/policy.yaml.good" "$W/policy.yaml"; cp "$W/policy.yaml.sig.good" "$W/policy.yaml.sig"; }

policy_text 3 "$bin_a" >"$W/policy.yaml"
head -c 64 /dev/zero | base64 -w0 >"$W/policy.yaml.sig"
sync_now
refused_keeps "bad signature (64 zero bytes)" "bad signature"

policy_text 3 "$bin_a" >"$W/policy.yaml"
echo "this is not base64!" >"$W/policy.yaml.sig"
sync_now
refused_keeps "garbage signature" "not base64"

policy_text 3 "$bin_a" >"$W/policy.yaml"
sign "$W/policy.yaml" "$K/other.key"
sync_now
refused_keeps "signature by another key" "bad signature"

policy_text 3 "$bin_a" >"$W/policy.yaml"
cp "$W/policy.yaml.sig.good" "$W/policy.yaml.sig" # a genuine signature, of other bytes
sync_now
refused_keeps "signature of other bytes" "bad signature"

policy_text 3 "$bin_a" >"$W/policy.yaml"
rm -f "$W/policy.yaml.sig"
sync_now
refused_keeps "missing signature" "missing signature"

publish policy.yaml 1 "$bin_a"
sync_now
refused_keeps "serial rollback (1 < 2)" "rollback"

{ policy_text 3 "$bin_a"; echo "    no_such_key: true"; } >"$W/policy.yaml"
sign "$W/policy.yaml"
sync_now
refused_keeps "broken policy" "invalid policy"

head -c $((20 * 1024 * 1024)) /dev/zero | tr '\0' '#' >"$W/policy.yaml"
sign "$W/policy.yaml"
sync_now
refused_keeps "a 20 MB response" "larger than"
restore

# Other URLs: a configuration reload (SIGHUP) points the daemon there and fetches at once.
point_to() { # URL
	local n
	write_fetch_config "$1"
	n=$(n_policy_events)
	kill -HUP "$TG_DAEMON_PID"
	# the reload's own "loaded" event for the cache, then the fetch's
	WAIT=20 wait_policy_event_after $((n + 1))
}
point_to "$BASE/missing.yaml"
refused_keeps "HTTP 404" "HTTP 404"
point_to "$BASE/e500.yaml"
refused_keeps "HTTP 500" "HTTP 500"
point_to "$BASE/loop.yaml"
refused_keeps "redirect loop" "[Rr]edirect"

# A server that answers the headers and part of the body, then stalls.
STALL_PORT=$((PORT + 1))
"$PYTHON" - "$STALL_PORT" "$K/srv.pem" "$K/srv.key" <<'PY' 9>&- &
import socket, ssl, sys, time, threading
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
def serve(c):
    try:
        t = ctx.wrap_socket(c, server_side=True)
        req = t.recv(65536)
        if b" /big.yaml" in req:
            # no Content-Length: only the running count can stop it
            t.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            chunk = b"#" * 65536
            for _ in range(200):  # 12.5 MiB
                t.sendall(chunk)
            t.close()
            return
        t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\napiVersion: toolguard/v1\n")
        time.sleep(600)
    except Exception:
        pass
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
bg_pid $!
sleep 0.5
t0=$(date +%s)
point_to "https://127.0.0.1:$STALL_PORT/policy.yaml"
refused_keeps "a server that stalls mid-body (stall limit 3 s in this test)" "[Tt]imeout|too slow|[Ss]peed"
diag "stalled fetch gave up after $(($(date +%s) - t0)) s"
point_to "https://127.0.0.1:$STALL_PORT/big.yaml"
refused_keeps "12.5 MiB without Content-Length" "larger than 8388608 bytes \(refused\)"

point_to "https://127.0.0.1:$((PORT + 2))/policy.yaml"
refused_keeps "connection refused" "[Cc]ouldn't connect|[Cc]onnection refused|[Ff]ailed to connect"

# ---------- a full disk while writing the cache loses nothing ----------
TINY=$TG_TMP/tiny
mkdir -p "$TINY"
if mount -t tmpfs -o size=64k tmpfs "$TINY" 2>/dev/null; then
	on_cleanup "umount -l '$TINY'"
	cp "$TG_TMP/good2.yaml" "$TINY/policy.yaml"
	head -c 40000 /dev/zero >"$TINY/filler" 2>/dev/null
	# Serial 3 is bigger than what is left on the tmpfs.
	{ policy_text 3 "$bin_a"; for ((i = 0; i < 400; i++)); do echo "# padding line $i ......................................................"; done; } >"$W/policy.yaml"
	sign "$W/policy.yaml"
	write_fetch_config "$BASE/policy.yaml"
	sed -i "s#cache: .*#cache: $TINY/policy.yaml#" "$TG_CONF"
	n=$(n_policy_events)
	kill -HUP "$TG_DAEMON_PID"
	WAIT=20 wait_policy_event_after $((n + 1))
	[ "$(ev_field verdict)" = loaded ] && [ "$(ev_field policy_serial)" = 3 ]
	ok $? "ENOSPC: serial 3 itself is enforced ($(ev_field verdict) $(ev_field policy_serial))"
	cmp -s "$TINY/policy.yaml" "$TG_TMP/good2.yaml"
	ok $? "ENOSPC: the old cache (serial 2) stays whole"
	[ -z "$(find "$TINY" -name 'policy.yaml.??????')" ]
	ok $? "ENOSPC: no temporary file left behind"
	grep -q "Failed to write the last good policy" "$TG_DAEMON_LOG"
	ok $? "ENOSPC: the daemon says the cache was not updated"
	umount -l "$TINY"
	write_fetch_config "$BASE/policy.yaml"
else
	for t in "serial 3 enforced" "old cache whole" "no temporary file" "daemon says so"; do
		skip "ENOSPC: $t" "cannot mount a tmpfs here"
	done
	write_fetch_config "$BASE/policy.yaml"
fi

# ---------- restart with the server down: the cache is enforced ----------
# The cache holds serial 2 (B banned); the local file bans C.
stop_daemon
kill "$NGINX_PID" 2>/dev/null
wait "$NGINX_PID" 2>/dev/null
"$TOOLGUARDD" --unload >/dev/null 2>&1 # a fresh boot: nothing pinned
rm -f "$CACHE_DIR/policy.yaml.meta"
: >"$TG_EVENTS"
start_fetch_daemon || bail "toolguardd did not restart with the server down"
EVENT_WAIT=5 events_find kind=policy verdict=loaded policy_serial=2 source="$CACHE_DIR/policy.yaml" >/dev/null
ok $? "restart with the server down: the cache (serial 2) is loaded"
blocked "$bin_b" && runs "$bin_c"
ok $? "restart with the server down: B killed, C runs"
WAIT=15 wait_policy_event_after 1
[ "$(ev_field verdict)" = refused ]
ok $? "restart with the server down: the failed fetch is reported ($(ev_field reason))"
kill -0 "$TG_DAEMON_PID"
ok $? "the daemon is still running"

stop_daemon
done_testing
