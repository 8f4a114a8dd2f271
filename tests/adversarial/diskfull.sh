#!/bin/bash
# Disk full (issue 8): the events log and the hash cache on a 64 KiB tmpfs
# that is then filled. Enforcement must go on, the failure must show in
# `toolctl status` and be logged once (not per event) with what to do, a
# reload must still work, and writing must resume by itself when space
# returns, with no torn line in the log. (The cached central policy on a full
# disk is tested in tests/integration/fetch.sh: "ENOSPC: ...".)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
export TG_IT_PIN_DIR=${TG_IT_PIN_DIR:-/sys/fs/bpf/toolguard-diskfull-test}
. "${top_srcdir:-$(dirname "$0")/../..}/tests/adversarial/lib.sh"

tg_unload() {
	[ -e "$TG_TMP/.loaded" ] || return 0
	timeout 30 "$TOOLGUARDD" --unload --pin-dir "$TG_PIN_DIR" >>"$TG_TMP/unload.log" 2>&1
	rm -rf "$TG_PIN_DIR" "$TG_PIN_DIR-new" "$TG_PIN_DIR-old" 2>/dev/null
	rm -f "$TG_TMP/.loaded"
}

require_bpf
setup_tmp
[ -x "$ADV_TOOL" ] || bail "build tests/adversarial/tgadv-tool first (make check builds it)"
export TGADV_DELAY_MS=0
T=$TG_TMP
TINY=$T/tiny
mkdir -p "$T/ban" "$TINY"
mount -t tmpfs -o size=64k,mode=0755 tmpfs "$TINY" 2>/dev/null || skip_all "cannot mount a tmpfs here"
on_cleanup "umount -l '$TINY'"
banned=$T/ban/tgfull-banned
cp "$ADV_TOOL" "$banned" && chmod 755 "$banned" || bail "cannot make $banned"

pol=$T/policy.yaml
cat >"$pol" <<YAML
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: adversarial-diskfull
  serial: 1
tools:
  - id: tgfull
    name: Disk full test binary
    action: block
    match:
      executables:
        - path: "$banned"
YAML

# start_daemon writes its own configuration: point its events log at the tmpfs.
write_config() {
	cat >"$1" <<EOF
mode: ${3:-enforce}
policy:
  file: $2
  cache: $TINY/policy-cache.yaml
notices:
  tty: false
  desktop: false
events:
  log: $TINY/events.jsonl
control:
  socket: $T/control.sock
EOF
}
export TOOLGUARD_HASH_CACHE=$TINY/hashcache
status_json() { timeout 20 "$TOOLCTL" --socket "$T/control.sock" status --json >"$1" 2>"$T/status.err"; }
sget() { "$PYTHON" -c 'import json, sys
d = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d = d[k]
print(d)' "$1" "$2" 2>/dev/null; }
EVLOG=$TINY/events.jsonl
ev_blocked() { grep -c '"kind":"exec","verdict":"blocked".*"tool":"tgfull"' "$EVLOG" 2>/dev/null || true; }

start_or_bail "$pol" --pin-dir "$TG_PIN_DIR"
TG_EVENTS=$EVLOG # for events_find
run_direct "$banned"
is_refused_status "$RUN_RC" || bail "the banned file is not refused after start"
EVENT_WAIT=3 events_find kind=exec verdict=blocked tool=tgfull >/dev/null
ok $? "before: the blocked exec is in the events log on the tmpfs"

tried "fill the tmpfs that holds the events log and the hash cache"
head -c 200000 /dev/zero >"$TINY/filler" 2>/dev/null
df -k "$TINY" | tail -n1 | awk '{print "# tmpfs: " $2 " kB, " $4 " kB free"}'
# (the log's last page still takes a few lines: tmpfs allocates whole pages)
refused=0
for ((i = 0; i < 40; i++)); do
	run_direct "$banned"
	is_refused_status "$RUN_RC" && refused=$((refused + 1))
done
[ "$refused" -eq 40 ]
ok $? "enforcement goes on with the disk full ($refused of 40 execs refused)"
sleep 1
status_json "$T/full.json"
fails=$(sget "$T/full.json" events.log_write_failures)
[ "${fails:-0}" -ge 10 ]
ok $? "toolctl status reports the failed writes (events.log_write_failures $fails)"
n=$(grep -c "cannot write events log" "$TG_DAEMON_LOG")
[ "$n" -eq 1 ]
ok $? "the failure is logged once, not per event ($n messages for $fails failures)"
grep -m1 "cannot write events log" "$TG_DAEMON_LOG" | grep -q "free space"
ok $? "the message says what to do: $(grep -m1 -o 'cannot write events log.*' "$TG_DAEMON_LOG" | head -c 240)"
diag "$(ev_blocked) blocked-exec lines in the events log, $fails events not written"

tried "reload (SIGHUP) with the disk still full"
n=$(grep -c "Loaded policy" "$TG_DAEMON_LOG")
kill -HUP "$TG_DAEMON_PID"
for ((i = 0; i < 100; i++)); do
	[ "$(grep -c "Loaded policy" "$TG_DAEMON_LOG")" -gt "$n" ] && break
	sleep 0.1
done
[ "$(grep -c "Loaded policy" "$TG_DAEMON_LOG")" -gt "$n" ] && kill -0 "$TG_DAEMON_PID"
ok $? "the reload works on a full disk"
run_direct "$banned"
is_refused_status "$RUN_RC"
ok $? "still refused after the reload (exit $RUN_RC)"

tried "free the space again"
rm -f "$TINY/filler"
run_direct "$banned"
is_refused_status "$RUN_RC"
ok $? "refused (exit $RUN_RC)"
EVENT_WAIT=3 events_find kind=exec verdict=blocked tool=tgfull pid="$RUN_PID" >/dev/null
ok $? "writing resumed by itself: the event of pid $RUN_PID is in the events log"
grep -q "is written again" "$TG_DAEMON_LOG"
ok $? "the daemon says so: $(grep -m1 -o 'events log .* is written again.*' "$TG_DAEMON_LOG" | head -c 200)"
"$PYTHON" -c '
import json, sys
for n, l in enumerate(open(sys.argv[1]), 1):
    if l.strip():
        json.loads(l)
' "$EVLOG" 2>"$T/json.err"
ok $? "every line of the events log is whole JSON ($(wc -l <"$EVLOG") lines) $(head -c 200 "$T/json.err")"
kill -0 "$TG_DAEMON_PID"
ok $? "the daemon runs"

done_testing
