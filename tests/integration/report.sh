#!/bin/bash
# Reporting events back (report.url) and a configuration with only policy.url.
#
# The collector is a small python3 (stdlib) HTTPS server on 127.0.0.1 with a
# test CA made here, not nginx: nginx cannot keep POST bodies without an
# upstream to hand them to (client_body_in_file_only keeps temporary files
# only while a proxied request lives), so an nginx in front would still need
# this program behind it and would add nothing the daemon can observe. The
# collector also serves the central policy (GET), and answers POSTs with the
# status codes the test queues (500, 400), then 200.
#
# Checked: a configuration with only policy.url starts with no policy ("no
# policy yet" in STATUS=), fetches, enforces, and refreshes STATUS= with the
# serial; events are delivered as one JSON object per batch; a daemon restart
# with the collector down, then the collector up, delivers every event exactly
# once; 500 then 200 is retried; a 400 drops the batch, counted; a full spool
# drops the oldest, counted; URLs in the log carry no userinfo or query.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_bpf
require_cmd openssl
# Our own pin directory: the harness' cleanup and watchdog remove it.
TG_PIN_DIR=/sys/fs/bpf/toolguard-it-report
[ -d "$TG_PIN_DIR/links" ] && [ -n "$(ls -A "$TG_PIN_DIR/links" 2>/dev/null)" ] &&
	skip_all "$TG_PIN_DIR holds pinned programs of another run: run toolguardd --unload --pin-dir $TG_PIN_DIR"
setup_tmp
on_cleanup "timeout 30 '$TOOLGUARDD' --unload --pin-dir '$TG_PIN_DIR'; rm -rf '$TG_PIN_DIR'"

K=$TG_TMP/keys
C=$TG_TMP/collector
W=$C/www
SPOOL=$TG_TMP/spool
mkdir -p "$K" "$W" "$SPOOL"
make_test_ca "$K" 127.0.0.1 IP:127.0.0.1,DNS:localhost

cat >"$C/collector.py" <<'PY'
# POST: answer the next queued status (file "queue": codes separated by spaces,
# else 200); log every request to requests.jsonl; events of 2xx answers go to
# delivered.jsonl (one event a line, with the batch_id). GET: files from www/.
import http.server, json, os, ssl, sys
port, cert, key, d = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

def next_status():
    q = os.path.join(d, "queue")
    try:
        codes = open(q).read().split()
    except OSError:
        codes = []
    if not codes:
        return 200
    with open(q + ".new", "w") as f:
        f.write(" ".join(codes[1:]))
    os.replace(q + ".new", q)
    return int(codes[0])

class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        p = os.path.join(d, "www", os.path.basename(self.path))
        try:
            body = open(p, "rb").read()
        except OSError:
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n) if 0 < n <= (8 << 20) else b""
        code = next_status()
        rec = {"path": self.path, "status": code, "ctype": self.headers.get("Content-Type"),
               "auth": bool(self.headers.get("Authorization"))}
        try:
            doc = json.loads(raw)
            rec.update(batch_id=doc.get("batch_id"), machine_id=doc.get("machine_id"),
                       hostname=doc.get("hostname"), n=len(doc.get("events", [])))
        except ValueError:
            doc = None
            rec["bad_json"] = True
        with open(os.path.join(d, "requests.jsonl"), "a") as f:
            f.write(json.dumps(rec) + "\n")
        if 200 <= code < 300 and doc:
            with open(os.path.join(d, "delivered.jsonl"), "a") as f:
                for ev in doc.get("events", []):
                    ev["_batch_id"] = doc.get("batch_id")
                    f.write(json.dumps(ev) + "\n")
        body = b"bad batch for this test\n" if code == 400 else b"ok\n"
        self.send_response(code); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)

srv = http.server.HTTPServer(("127.0.0.1", port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("listening", flush=True)
srv.serve_forever()
PY

PORT=
COLLECTOR_PID=
collector_up() {
	"$PYTHON" "$C/collector.py" "$PORT" "$K/srv.pem" "$K/srv.key" "$C" >"$C/out.log" 2>&1 9>&- &
	COLLECTOR_PID=$!
	bg_pid "$COLLECTOR_PID"
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q listening "$C/out.log" 2>/dev/null && return 0
		kill -0 "$COLLECTOR_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
collector_down() {
	[ -n "$COLLECTOR_PID" ] && kill "$COLLECTOR_PID" 2>/dev/null && wait "$COLLECTOR_PID" 2>/dev/null
	COLLECTOR_PID=
}
for try in 1 2 3 4 5; do
	PORT=$((20000 + RANDOM % 20000))
	collector_up && break
	PORT=
done
[ -n "$PORT" ] || { diag_file "$C/out.log"; bail "the python3 HTTPS collector did not start"; }
BASE=https://127.0.0.1:$PORT
# Userinfo and query stand for secrets: they must never reach the log.
REPORT_URL="https://tguser:tgsecret1@127.0.0.1:$PORT/ingest?token=tgsecret2"

bin_a=$(make_test_binary tg-report-a)
cat >"$W/policy.yaml" <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: it-report
  serial: 7
tools:
  - id: report-tool
    name: A banned binary
    action: block
    match:
      executables:
        - path: "$bin_a"
EOF

TG_EVENTS=$TG_TMP/events.jsonl
TG_CONF=$TG_TMP/toolguard.conf
write_report_config() { # [SPOOL_MAX]
	cat >"$TG_CONF" <<EOF
mode: enforce
policy:
  # no local file and no cache at the first start: only the url
  file: $TG_TMP/no-such-policy.yaml
  url: $BASE/policy.yaml
  interval: 10m
  ca_file: $K/ca.pem
  cache: $TG_TMP/cache/policy.yaml
notices:
  tty: false
  desktop: false
events:
  log: $TG_EVENTS
control:
  socket: $TG_TMP/control.sock
report:
  url: "$REPORT_URL"
  spool: $SPOOL
  retry_max: 2s
${1:+  spool_max: $1}
EOF
}

start_report_daemon() {
	local i
	start_notify_listener
	TG_DAEMON_LOG=$TG_TMP/daemon.$(date +%s%N).log
	touch "$TG_TMP/.loaded"
	TG_NOTIFY_SKIP=$(wc -l <"$TG_NOTIFY_LOG")
	NOTIFY_SOCKET=$TG_TMP/notify.sock "$TOOLGUARDD" --config "$TG_CONF" --pin-dir "$TG_PIN_DIR" \
		--foreground --verbose >"$TG_DAEMON_LOG" 2>&1 9>&- &
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
tc() { timeout 20 "$TOOLCTL" --socket "$TG_TMP/control.sock" "$@"; }
status_field() { # KEY of the "report" object of status --json
	tc status --json 2>/dev/null | "$PYTHON" -c 'import json, sys
v = json.load(sys.stdin).get("report", {}).get(sys.argv[1])
print("" if v is None else v)' "$1"
}
# The last STATUS= the daemon sent (READY=1 or a later update).
last_status() { tail -n +$((TG_NOTIFY_SKIP + 1)) "$TG_NOTIFY_LOG" | grep 'STATUS=' | tail -n1 | sed -n 's/.*STATUS=//p'; }
blocked() { run_direct "$1" x; is_refused_status "$RUN_RC" && [ ! -s "$RUN_OUT" ]; }

# delivered PID...: prints how many times each pid's exec event was delivered ("pid:count ...")
delivered_counts() {
	"$PYTHON" - "$C/delivered.jsonl" "$@" <<'PY'
import json, sys
want = sys.argv[2:]
n = dict.fromkeys(want, 0)
try:
    for line in open(sys.argv[1]):
        ev = json.loads(line)
        if ev.get("kind") == "exec" and str(ev.get("pid")) in n:
            n[str(ev["pid"])] += 1
except OSError:
    pass
print(" ".join(f"{p}:{n[p]}" for p in want))
PY
}
# wait_delivered SECONDS PID...: until each pid was delivered at least once
wait_delivered() {
	local secs=$1 i out
	shift
	for ((i = 0; i < secs * 10; i++)); do
		out=$(delivered_counts "$@")
		grep -q ':0\b' <<<"$out" || return 0
		sleep 0.1
	done
	return 1
}
all_once() { # PID...: every pid delivered exactly once
	local out
	out=$(delivered_counts "$@")
	DELIVERED=$out
	! grep -qE ':(0|[2-9]|[1-9][0-9]+)( |$)' <<<"$out"
}

# ---------- only policy.url: start with no policy, fetch, enforce ----------
write_report_config
start_report_daemon || bail "toolguardd did not start with only policy.url configured"
echo "# backend: $TG_BACKEND, collector $BASE"
st=$(daemon_status)
case $st in
*"no policy yet, fetching from URL"*) pass "only policy.url: starts, READY=1 says \"no policy yet\" ($st)" ;;
*"enforcing policy it-report serial 7"*) pass "only policy.url: starts (the fetch was faster than READY=1: $st)" ;;
*) fail "only policy.url: starts with \"no policy yet, fetching from URL\" (got: $st)" ;;
esac
for ((i = 0; i < 150; i++)); do
	case $(last_status) in *"enforcing policy it-report serial 7"*) break ;; esac
	sleep 0.1
done
case $(last_status) in
*"enforcing policy it-report serial 7"*) pass "the fetched policy applied: STATUS= refreshed ($(last_status))" ;;
*) fail "STATUS= names serial 7 after the fetch (got: $(last_status))"; diag_file "$TG_DAEMON_LOG" 15 ;;
esac
blocked "$bin_a"
ok $? "only policy.url: the fetched policy is enforced (rc $RUN_RC)"

# ---------- events are delivered ----------
pids=()
for i in 1 2 3; do
	run_direct "$bin_a" x
	pids+=("$RUN_PID")
done
wait_delivered 15 "${pids[@]}"
ok $? "3 blocked execs delivered to the collector ($(delivered_counts "${pids[@]}"))"
all_once "${pids[@]}"
ok $? "each delivered once ($DELIVERED)"
"$PYTHON" - "$C/requests.jsonl" <<'PY'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
ok = reqs and all(r["ctype"] == "application/json" and r.get("batch_id") and r.get("hostname") is not None
                  and r.get("n", 0) > 0 and not r.get("bad_json") for r in reqs)
sys.exit(0 if ok else 1)
PY
ok $? "every POST is application/json with batch_id, hostname and events ($(wc -l <"$C/requests.jsonl") requests)"
grep -q '"kind": "policy"' "$C/delivered.jsonl"
ok $? "the policy load events are reported too"
[ "$(status_field sent)" -ge 3 ] 2>/dev/null && [ "$(status_field queued)" = 0 ] &&
	[ "$(status_field url)" = "https://127.0.0.1:$PORT/ingest" ]
ok $? "status: sent $(status_field sent), queued $(status_field queued), url $(status_field url) (no userinfo, no query)"
tc status --json >"$TG_TMP/status.json" 2>/dev/null
schema_out=$("$PYTHON" "$top_srcdir/tests/integration/check-schema.py" \
	"$top_srcdir/tests/integration/status.schema.json" "$TG_TMP/status.json" 2>&1)
ok $? "status --json (with report) matches status.schema.json${schema_out:+: $schema_out}"
tc status 2>/dev/null | grep -A3 '^Report' | grep -q 'events in'
ok $? "toolctl status shows a Report section"

# ---------- 500, 500, then 200: retried ----------
echo "500 500" >"$C/queue"
n0=$(wc -l <"$C/requests.jsonl")
run_direct "$bin_a" x
p=$RUN_PID
wait_delivered 20 "$p"
ok $? "after two HTTP 500 answers the batch is delivered ($(delivered_counts "$p"))"
"$PYTHON" - "$C/requests.jsonl" "$n0" <<'PY'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])][int(sys.argv[2]):]
codes = [r["status"] for r in reqs]
ids = {r["batch_id"] for r in reqs}
print("# statuses after: %s, batches %d" % (codes, len(ids)))
sys.exit(0 if codes[:3] == [500, 500, 200] and len(ids) == 1 else 1)
PY
ok $? "the same batch was posted 3 times: 500, 500, 200"
[ "$(status_field failures)" -ge 2 ] 2>/dev/null
ok $? "status counts the failures ($(status_field failures))"

# ---------- 400: dropped with a reason, counted ----------
echo "400" >"$C/queue"
run_direct "$bin_a" x
p400=$RUN_PID
for ((i = 0; i < 100; i++)); do
	[ "$(status_field rejected)" -ge 1 ] 2>/dev/null && break
	sleep 0.1
done
[ "$(status_field rejected)" -ge 1 ] 2>/dev/null && grep -q "HTTP 400: bad batch" "$TG_DAEMON_LOG"
ok $? "a 400 drops the batch, counted ($(status_field rejected)) and logged with the collector's reason"
run_direct "$bin_a" x
p=$RUN_PID
wait_delivered 10 "$p" && [ "$(delivered_counts "$p400")" = "$p400:0" ]
ok $? "the next batch is delivered, the refused one is not retried"

# ---------- restart with the collector down: every event exactly once ----------
collector_down
pids=()
for i in 1 2 3 4 5; do
	run_direct "$bin_a" x
	pids+=("$RUN_PID")
done
sleep 2 # at least one failed attempt
stop_daemon
ls "$SPOOL"/*.jsonl >/dev/null 2>&1
ok $? "collector down, daemon stopped: the events wait in the spool ($(ls "$SPOOL" | wc -l) files)"
start_report_daemon || bail "toolguardd did not restart"
for i in 6 7; do
	run_direct "$bin_a" x
	pids+=("$RUN_PID")
done
sleep 1
collector_up || bail "the collector did not restart"
wait_delivered 20 "${pids[@]}"
ok $? "collector up again: all 7 events delivered ($(delivered_counts "${pids[@]}"))"
sleep 1
all_once "${pids[@]}"
ok $? "each exactly once ($DELIVERED)"
"$PYTHON" - "$C/requests.jsonl" <<'PY'
import json, sys
ok = [json.loads(l)["batch_id"] for l in open(sys.argv[1]) if json.loads(l)["status"] // 100 == 2]
sys.exit(0 if len(ok) == len(set(ok)) else 1)
PY
ok $? "no batch was accepted twice"
grep -q "tgsecret" "$TG_DAEMON_LOG" $TG_TMP/daemon.*.log
ok $((!$?)) "no userinfo or query of report.url in the daemon's log"

# ---------- a full spool drops the oldest, counted ----------
collector_down
write_report_config 64k
kill -HUP "$TG_DAEMON_PID"
sleep 1
pids=()
for ((i = 0; i < 250; i++)); do
	run_direct "$bin_a" x
	pids+=("$RUN_PID")
done
sleep 2
dropped=$(status_field dropped)
bytes=$(du -sb "$SPOOL" | cut -f1)
[ "${dropped:-0}" -gt 0 ] 2>/dev/null && [ "$(status_field spool_bytes)" -le 65536 ]
ok $? "250 events into a 64 KiB spool: $dropped dropped, spool $(status_field spool_bytes) bytes ($bytes on disk)"
grep -q "dropped .* events (the spool is full" "$TG_DAEMON_LOG"
ok $? "the drop is logged"
collector_up || bail "the collector did not restart"
last=${pids[${#pids[@]} - 1]}
wait_delivered 30 "$last"
ok $? "collector up: the newest event is delivered"
"$PYTHON" - "$C/delivered.jsonl" "${pids[@]}" <<'PY'
import json, sys
pids = sys.argv[2:]
got = {str(json.loads(l).get("pid")) for l in open(sys.argv[1])}
flags = [p in got for p in pids]
# The oldest went, everything after the last dropped one arrived (a batch in
# flight while the spool filled is kept even when older ones go).
last_dropped = max(i for i, f in enumerate(flags) if not f) if not all(flags) else -1
print("# delivered %d of %d; the oldest %s; all after #%d delivered" %
      (sum(flags), len(flags), "dropped" if not flags[0] else "delivered", last_dropped))
sys.exit(0 if not flags[0] and last_dropped < len(flags) - 1 and all(flags[last_dropped + 1:]) else 1)
PY
ok $? "the oldest were dropped, every newer event delivered"

stop_daemon
done_testing
