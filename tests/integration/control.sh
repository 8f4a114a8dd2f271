#!/bin/bash
# The control socket and toolctl against a running daemon: status (fields,
# counters, --json), test and policy answered by the daemon, events and
# events --follow, reload, who may reload/unload, oversized and malformed
# requests, many idle and concurrent clients, and unload (pins removed, the
# daemon stops).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_bpf
require_cmd runuser
setup_tmp

bin=$(make_test_binary tg-ctl-banned)
pol=$TG_TMP/policy.yaml
future=$(date -d '+3 days' +%Y-%m-%dT%H:%M:%S%:z)
cat >"$pol" <<POLICY
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: it-control
  serial: 7
tools:
  - id: ctl-tool
    name: A banned binary
    action: block
    match:
      executables:
        - path: "$bin"
  - id: later-tool
    name: Banned later
    action: block
    effective: "$future"
    match:
      executables:
        - path: "$TG_TMP/bin/not-there"
POLICY
start_or_bail "$pol"
SOCK=$TG_TMP/control.sock
tc() { timeout 20 "$TOOLCTL" --socket "$SOCK" "$@"; }
# JSON without jq: jget FILE EXPR (a python expression on d)
jget() { "$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }

# --- status ---
[ -S "$SOCK" ] && [ "$(stat -c %a "$SOCK")" = 666 ]
ok $? "the daemon created the control socket with mode 0666"
tc status >"$TG_TMP/status.txt" 2>"$TG_TMP/status.err"
ok $? "toolctl status: exit 0"
missing=
for f in "running" "version" "uptime" "mode" "exec backend" "connect backend" "lockdown" "pinned" \
	"name" "serial" "sha256" "source" "loaded at" "tools" "next transition" "url" "last attempt" \
	"last success" "last error" "next attempt" "BLOCKED EXECS" "BLOCKED CONNECTS" "WARNINGS" "ALERTS" \
	"total" "dropped"; do
	grep -q "^  $f \| $f " "$TG_TMP/status.txt" || missing="$missing [$f]"
done
[ -z "$missing" ]
ok $? "status shows every field of toolctl.md${missing:+ (missing:$missing)}"
[ -z "$missing" ] || diag_file "$TG_TMP/status.txt" 60
grep -Eq "^  exec backend +$TG_BACKEND" "$TG_TMP/status.txt" && grep -Eq "^  name +it-control$" "$TG_TMP/status.txt" &&
	grep -Eq "^  serial +7$" "$TG_TMP/status.txt" && grep -Eq "^  pinned +yes" "$TG_TMP/status.txt"
ok $? "status: backend $TG_BACKEND, policy it-control serial 7, pinned yes"
grep -Eq "^  next transition +later-tool: blocks from .*, in [23] d$" "$TG_TMP/status.txt"
ok $? "status: next transition \"later-tool: blocks from ..., in 3 d\""
# aligned: in the key/value rows every value starts in the same column (20)
bad_rows=$(grep -E '^  [a-z]' "$TG_TMP/status.txt" | grep -vE '^  [a-z][a-z0-9 ]{15}  [^ ]' |
	grep -vE '^  [a-z0-9-]+ +(inactive|warning|blocking|alert|allow|expired) ')
[ -z "$bad_rows" ]
ok $? "status: values aligned in one column${bad_rows:+ (not: $bad_rows)}"
if grep -q $'\033' "$TG_TMP/status.txt"; then
	fail "status: no colour when stdout is not a terminal"
else
	pass "status: no colour when stdout is not a terminal"
fi

tc status --json >"$TG_TMP/status.json"
ok $? "status --json: exit 0"
"$PYTHON" -m json.tool "$TG_TMP/status.json" >/dev/null
ok $? "status --json parses (python3 -m json.tool)"
schema_out=$("$PYTHON" "$top_srcdir/tests/integration/check-schema.py" \
	"$top_srcdir/tests/integration/status.schema.json" "$TG_TMP/status.json")
ok $? "status --json matches tests/integration/status.schema.json${schema_out:+: $schema_out}"
[ "$(jget "$TG_TMP/status.json" 'd["daemon"]["pid"]')" = "$TG_DAEMON_PID" ] &&
	[ "$(jget "$TG_TMP/status.json" 'd["policy"]["serial"]')" = 7 ] &&
	[ "$(jget "$TG_TMP/status.json" 'd["kernel"]["exec_backend"]')" = "$TG_BACKEND" ] &&
	[ "$(jget "$TG_TMP/status.json" 'd["kernel"]["pinned"]')" = True ]
ok $? "status --json: daemon.pid, policy.serial, kernel.exec_backend, kernel.pinned"
before=$(jget "$TG_TMP/status.json" '[t for t in d["tools"] if t["id"]=="ctl-tool"][0]["blocked_execs"]')

# --- test via the daemon agrees with offline ---
tc test -- "$bin" x >"$TG_TMP/t-daemon.out" 2>"$TG_TMP/t-daemon.err"
rc_d=$?
"$TOOLCTL" test --policy "$pol" -- "$bin" x >"$TG_TMP/t-off.out" 2>/dev/null
rc_o=$?
[ "$rc_d" = 1 ] && [ "$rc_o" = 1 ] && ! grep -q offline "$TG_TMP/t-daemon.err" &&
	[ "$(head -n1 "$TG_TMP/t-daemon.out")" = "$(head -n1 "$TG_TMP/t-off.out")" ]
if ! ok $? "test via the daemon (no --policy) agrees with offline: blocked, same verdict line"; then
	diag_file "$TG_TMP/t-daemon.out" 5
	diag_file "$TG_TMP/t-daemon.err" 5
fi
tc policy show | grep -q "name: \"\?it-control"
ok $? "policy show answers from the daemon's policy in force"

# --- a blocked exec: counters, events ---
run_direct "$bin" hello
is_refused_status "$RUN_RC"
ok $? "the banned binary is refused (exit $RUN_RC)"
pid1=$RUN_PID
sleep 0.5
tc status --json >"$TG_TMP/status2.json"
after=$(jget "$TG_TMP/status2.json" '[t for t in d["tools"] if t["id"]=="ctl-tool"][0]["blocked_execs"]')
[ -n "$after" ] && [ "$after" -gt "${before:-0}" ]
ok $? "status: blocked execs of ctl-tool went up ($before -> $after)"
tc events --json --tool ctl-tool >"$TG_TMP/events.out"
grep -q "\"pid\":$pid1[,}]" "$TG_TMP/events.out"
ok $? "events --tool ctl-tool --json shows the blocked exec (pid $pid1)"
tc events | grep -q "blocked.*ctl-tool"
ok $? "events (human) shows the blocked exec"

tc events --follow --json --tool ctl-tool >"$TG_TMP/follow.out" 2>&1 &
fpid=$!
bg_pid "$fpid"
sleep 0.5
run_direct "$bin" again
pid2=$RUN_PID
for ((i = 0; i < 30; i++)); do
	grep -q "\"pid\":$pid2[,}]" "$TG_TMP/follow.out" && break
	sleep 0.1
done
grep -q "\"pid\":$pid2[,}]" "$TG_TMP/follow.out"
ok $? "events --follow receives the new blocked exec (pid $pid2)"
kill "$fpid" 2>/dev/null

# --- reload and who may do it ---
tc reload >"$TG_TMP/reload.out" 2>&1
ok $? "reload as root: exit 0 ($(head -c 100 "$TG_TMP/reload.out"))"
for c in reload unload sync; do
	runuser -u nobody -- timeout 20 "$TOOLCTL" --socket "$SOCK" $c >/dev/null 2>"$TG_TMP/nobody.err"
	rc=$?
	[ "$rc" = 1 ] && grep -q "toolctl: $c needs root or membership of group toolguard-admin" "$TG_TMP/nobody.err"
	ok $? "$c as nobody: refused, exit 1, says why (rc $rc: $(head -c 120 "$TG_TMP/nobody.err"))"
done
runuser -u nobody -- timeout 20 "$TOOLCTL" --socket "$SOCK" status >/dev/null 2>&1
ok $? "status as nobody: allowed"
runuser -u nobody -- timeout 20 "$TOOLCTL" --socket "$SOCK" test -- "$bin" >/dev/null 2>&1
[ $? = 1 ]
ok $? "test as nobody: answered (blocked)"

# --- abuse: oversized, malformed, many idle and concurrent clients ---
big=$("$PYTHON" - "$SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
try:
    s.sendall(b"x" * 70000)
except OSError:
    pass
data = b""
try:
    while not data.endswith(b"\n"):
        k = s.recv(4096)
        if not k: break
        data += k
except OSError:
    pass
print(data.decode(errors="replace").strip())
PY
)
case $big in *'"ok":false'*"too long"*) true ;; *) false ;; esac
ok $? "a request line over 64 KiB is refused with an error ($(head -c 100 <<<"$big"))"
bad=$("$PYTHON" - "$SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
s.sendall(b'{"v":1,"cmd":"nope"}\n{garbage\n{"v":2,"cmd":"status"}\n{"v":1,"cmd":"status"}')
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    k = s.recv(65536)
    if not k: break
    data += k
print(data.decode(errors="replace"))
PY
)
[ "$(grep -c '"ok":false' <<<"$bad")" = 3 ] && [ "$(grep -c '"ok":true' <<<"$bad")" = 1 ]
ok $? "malformed requests get one error line each; a half-closed last request is still answered"
"$PYTHON" - "$SOCK" 70 "$TG_TMP/idle.ready" <<'PY' &
import socket, sys, time
socks = []
for i in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); socks.append(s)
open(sys.argv[3], "w").close()
time.sleep(8)
PY
ipid=$!
bg_pid "$ipid"
for ((i = 0; i < 50; i++)); do
	[ -e "$TG_TMP/idle.ready" ] && break
	sleep 0.1
done
sleep 0.5 # idle for real
timeout 5 "$TOOLCTL" --socket "$SOCK" status >/dev/null 2>&1
ok $? "70 idle clients connected: status still answers"
# A slow client: half a request, then silence. It is dropped after the idle
# timeout (10 s) and nobody else waits for it.
"$PYTHON" - "$SOCK" >"$TG_TMP/slow.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(20)
s.sendall(b'{"v":1,"cmd":')
t0 = time.time()
try:
    data = s.recv(4096)
except socket.timeout:
    data = None
print("closed" if data == b"" or (data and b'"ok":false' in data) else "still-open", round(time.time() - t0))
PY
spid=$!
timeout 5 "$TOOLCTL" --socket "$SOCK" status >/dev/null 2>&1
ok $? "a slow client holding half a request: status still answers"
wait "$spid"
read -r slow_state slow_secs <"$TG_TMP/slow.out"
[ "$slow_state" = closed ] && [ "${slow_secs:-99}" -le 15 ]
ok $? "the slow client is dropped by the idle timeout (${slow_state:-?} after ${slow_secs:-?} s)"
pids=()
for ((i = 0; i < 100; i++)); do
	timeout 20 "$TOOLCTL" --socket "$SOCK" status --json >/dev/null 2>&1 &
	pids+=($!)
done
nfail=0
for p in "${pids[@]}"; do wait "$p" || nfail=$((nfail + 1)); done
[ "$nfail" = 0 ]
ok $? "100 concurrent toolctl status: all succeed ($nfail failed)"
kill "$ipid" 2>/dev/null
kill -0 "$TG_DAEMON_PID" 2>/dev/null
ok $? "the daemon is still running"

# --- unload ---
tc unload >"$TG_TMP/unload.out" 2>&1
ok $? "unload as root: exit 0 ($(head -c 100 "$TG_TMP/unload.out"))"
for ((i = 0; i < 50; i++)); do
	kill -0 "$TG_DAEMON_PID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$TG_DAEMON_PID" 2>/dev/null; then
	fail "unload stops the daemon"
else
	wait "$TG_DAEMON_PID"
	ok $? "unload stops the daemon with exit status 0"
	TG_DAEMON_PID=
	rm -f "$TG_TMP/daemon.pid"
fi
[ ! -e "$TG_PIN_DIR" ]
ok $? "unload removed the pins ($TG_PIN_DIR)"
run_direct "$bin" free
[ "$RUN_RC" = 0 ]
ok $? "the binary runs again after unload"
tc status >/dev/null 2>&1
[ $? = 3 ]
ok $? "status after unload: exit 3 (not running)"

done_testing
