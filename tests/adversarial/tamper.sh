#!/bin/bash
# Tampering (issue 8): another root process edits toolguard's pinned maps and
# links with bpftool. Each edit must first really lift the ban (else the test
# proves nothing), then the daemon must find it (timer every 5 s, or SIGHUP),
# repair it (the banned file is refused again), and say so in a "tamper" event
# and in `toolctl status`. Prints the time each repair took.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# Own pin directory: never the machine's /sys/fs/bpf/toolguard.
export TG_IT_PIN_DIR=${TG_IT_PIN_DIR:-/sys/fs/bpf/toolguard-tamper-test}
. "${top_srcdir:-$(dirname "$0")/../..}/tests/adversarial/lib.sh"

# Unload our pin directory, not the default one (lib.sh's tg_unload).
tg_unload() {
	[ -e "$TG_TMP/.loaded" ] || return 0
	timeout 30 "$TOOLGUARDD" --unload --pin-dir "$TG_PIN_DIR" >>"$TG_TMP/unload.log" 2>&1
	rm -rf "$TG_PIN_DIR" "$TG_PIN_DIR-new" "$TG_PIN_DIR-old" 2>/dev/null
	rm -f "$TG_TMP/.loaded"
}

require_bpf
require_cmd bpftool
setup_tmp
[ -x "$ADV_TOOL" ] || bail "build tests/adversarial/tgadv-tool first (make check builds it)"
export TGADV_DELAY_MS=0
REPAIR_WAIT=${TG_TAMPER_WAIT:-25} # seconds: the check runs every 5 s, a link repair takes about 5 s more

T=$TG_TMP
mkdir -p "$T/ban"
banned=$T/ban/tgtamper-banned
cp "$ADV_TOOL" "$banned" && chmod 755 "$banned" || bail "cannot make $banned"
[ "$(timeout 10 "$banned")" = tgadv-ran ] || bail "baseline: $banned does not run"
DEST=127.77.66.1

pol=$T/policy.yaml
cat >"$pol" <<YAML
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: adversarial-tamper
  serial: 1
tools:
  - id: tgtamper
    name: Tamper test binary
    action: block
    match:
      executables:
        - path: "$banned"
      hosts:
        - host: 127.77.66.0/24
YAML

# bpftool edits of the pinned maps, as an attacker would make them.
tgmap() { # OP ...
	"$PYTHON" - "$TG_PIN_DIR/maps" "$@" <<'PY'
import json, subprocess, sys
maps, op = sys.argv[1], sys.argv[2]
def bt(*a):
    return subprocess.run(["bpftool", *a], check=True, capture_output=True, text=True).stdout
def dump(m):
    return json.loads(bt("-j", "map", "dump", "pinned", f"{maps}/{m}"))
def hexs(b):
    return [f"0x{int(x, 16) if isinstance(x, str) else x:02x}" for x in b]
def active():
    return int(dump("tg_control")[0]["value"][0], 16) & 1
if op == "delete-gen":  # MAP GEN_OFFSET: delete every key of the active generation
    m, off, g, n = sys.argv[3], int(sys.argv[4]), active(), 0
    for e in dump(m):
        if int(e["key"][off], 16) == g:
            bt("map", "delete", "pinned", f"{maps}/{m}", "key", "hex", *[x[2:] for x in e["key"]])
            n += 1
    print(n)
elif op == "flip-gen":
    e = dump("tg_control")[0]
    v = [int(x, 16) for x in e["value"]]
    v[0] ^= 1
    bt("map", "update", "pinned", f"{maps}/tg_control", "key", "hex", *[x[2:] for x in e["key"]],
       "value", "hex", *[f"{x:02x}" for x in v])
    print(v[0])
elif op == "expire-tool":  # the first tool of the active generation: end_ns = 1 (expired)
    idx = active() * 4096
    key = [f"{(idx >> (8 * i)) & 0xff:02x}" for i in range(4)]
    e = [x for x in dump("tg_tools") if [y[2:] for y in x["key"]] == key][0]
    v = [int(x, 16) for x in e["value"]]
    v[16:24] = [1, 0, 0, 0, 0, 0, 0, 0]
    bt("map", "update", "pinned", f"{maps}/tg_tools", "key", "hex", *key, "value", "hex",
       *[f"{x:02x}" for x in v])
    print(idx)
PY
}

# "refused" / "ran" / "other:RC"
try_banned() {
	run_direct "$banned"
	if is_refused_status "$RUN_RC"; then echo refused
	elif grep -q tgadv-ran "$RUN_OUT"; then echo ran
	else echo "other:$RUN_RC"; fi
}
# EPERM / ECONNREFUSED / ...
try_connect() {
	"$PYTHON" -c '
import errno, socket, sys
s = socket.socket()
s.settimeout(3)
try:
    s.connect((sys.argv[1], 9)); print("connected")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))' "$DEST" 2>/dev/null
}
tamper_events() { _events_grep kind=tamper 2>/dev/null | wc -l; }

# wait_until DESC CMD WANT: poll CMD until it prints WANT; prints the seconds it took.
wait_until() {
	local desc=$1 cmd=$2 want=$3 start now got
	start=$(date +%s.%N)
	while :; do
		got=$($cmd)
		now=$(date +%s.%N)
		[ "$got" = "$want" ] && break
		if awk "BEGIN{exit !($now - $start > $REPAIR_WAIT)}"; then
			fail "$desc: repaired within $REPAIR_WAIT s (still '$got')"
			diag_file "$TG_DAEMON_LOG" 10
			return 1
		fi
		sleep 0.2
	done
	pass "$desc: repaired after $(awk "BEGIN{printf \"%.1f\", $now - $start}") s ($cmd: $want again)"
}

# scenario DESC EDIT CHECK_CMD BROKEN_RESULT [hup]
scenario() {
	local desc=$1 edit=$2 cmd=$3 broken=$4 hup=${5:-} before got ev
	before=$(tamper_events)
	tried "$desc ($edit)"
	eval "$edit" >"$T/edit.out" 2>&1 || { fail "$desc: the edit itself failed: $(head -c 300 "$T/edit.out")"; return; }
	got=$($cmd)
	if [ "$got" = "$broken" ]; then
		pass "$desc: the edit lifted the ban ($cmd: $got)"
	else
		# the check may already have run: that is fine, but say so
		pass "$desc: the edit was made (already repaired or not effective: $cmd: $got)"
	fi
	[ -n "$hup" ] && kill -HUP "$TG_DAEMON_PID"
	wait_until "$desc" "$cmd" "$(case $cmd in try_banned) echo refused ;; *) echo EPERM ;; esac)"
	for ((i = 0; i < 50; i++)); do
		[ "$(tamper_events)" -gt "$before" ] && break
		sleep 0.1
	done
	ev=$(_events_grep kind=tamper 2>/dev/null | tail -n1)
	if [ "$(tamper_events)" -gt "$before" ] && [ "$(json_field verdict <<<"$ev")" = repaired ]; then
		pass "$desc: event {tamper, repaired}: $(json_field found <<<"$ev"); $(json_field action <<<"$ev") (trigger $(json_field trigger <<<"$ev"))"
	else
		fail "$desc: a {tamper, repaired} event"
		diag_file "$TG_EVENTS" 3
	fi
	if [ -n "$hup" ]; then
		[ "$(json_field trigger <<<"$ev")" = SIGHUP ]
		ok $? "$desc: found by the check SIGHUP runs (trigger $(json_field trigger <<<"$ev"))"
	fi
	kill -0 "$TG_DAEMON_PID" 2>/dev/null
	ok $? "$desc: the daemon still runs"
}

start_or_bail "$pol" --pin-dir "$TG_PIN_DIR"
[ "$(try_banned)" = refused ] || bail "the banned file is not refused after start (backend $TG_BACKEND)"
[ "$(try_connect)" = EPERM ] || bail "connect to $DEST is not refused after start"

scenario "delete the path entries (tg_strs)" "tgmap delete-gen tg_strs 4" try_banned ran
scenario "flip the active generation (tg_control)" "tgmap flip-gen" try_banned ran
scenario "expire the tool (tg_tools end_ns)" "tgmap expire-tool" try_banned ran hup
scenario "delete the CIDR entry (tg_net4)" "tgmap delete-gen tg_net4 4" try_connect ECONNREFUSED
if [ -e "$TG_PIN_DIR/links/connect4" ]; then
	scenario "detach the connect4 link" \
		'bpftool link detach pinned "$TG_PIN_DIR/links/connect4"' try_connect ECONNREFUSED
else
	skip "detach the connect4 link" "no connect4 link pinned"
fi

# An unpinned link is only detached when nothing else holds it: restart the
# daemon so that it adopts the pins (holds no link), then unpin the exec link.
stop_daemon
start_or_bail "$pol" --pin-dir "$TG_PIN_DIR"
scenario "unpin the exec link (adopted pins)" 'rm -f "$TG_PIN_DIR/links/exec"' try_banned ran
[ -e "$TG_PIN_DIR/links/exec" ]
ok $? "the exec link is pinned again"

timeout 20 "$TOOLCTL" --socket "$T/control.sock" status --json >"$T/status.json" 2>"$T/status.err"
tget() { "$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["tamper"][sys.argv[2]])' "$T/status.json" "$1" 2>/dev/null; }
det=$(tget detected)
rep=$(tget repaired)
[ "${det:-0}" -ge 1 ] && [ "${rep:-0}" -eq "${det:-0}" ]
ok $? "toolctl status --json counts it: tamper.detected $det, repaired $rep (this daemon run), last: $(tget last_finding)"
schema_out=$("$PYTHON" "$top_srcdir/tests/integration/check-schema.py" \
	"$top_srcdir/tests/integration/status.schema.json" "$T/status.json" 2>&1)
ok $? "status --json still matches status.schema.json${schema_out:+: $schema_out}"
"$TOOLCTL" --socket "$T/control.sock" status 2>/dev/null | grep -q "Tampering"
ok $? "toolctl status shows a Tampering section"

done_testing
