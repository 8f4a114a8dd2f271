#!/bin/bash
# The daemon under valgrind (issue 8): real BPF load, then 50 reloads
# (SIGHUP) that alternate between two policies, each followed by control
# socket requests, with the tamper check running. Fails on definite leaks
# and on invalid accesses. valgrind does not know every bpf() attribute
# layout: its reports about bpf() syscall parameters (libbpf's partly set
# attribute unions) are suppressed (valgrind.supp), nothing else is.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
export TG_IT_PIN_DIR=${TG_IT_PIN_DIR:-/sys/fs/bpf/toolguard-valgrind-test}
export TG_IT_TIMEOUT=${TG_IT_TIMEOUT:-600}
. "${top_srcdir:-$(dirname "$0")/../..}/tests/adversarial/lib.sh"

tg_unload() {
	[ -e "$TG_TMP/.loaded" ] || return 0
	timeout 30 "$TOOLGUARDD" --unload --pin-dir "$TG_PIN_DIR" >>"$TG_TMP/unload.log" 2>&1
	rm -rf "$TG_PIN_DIR" "$TG_PIN_DIR-new" "$TG_PIN_DIR-old" 2>/dev/null
	rm -f "$TG_TMP/.loaded"
}

RELOADS=${TG_VALGRIND_RELOADS:-50}
require_bpf
# The ASan/UBSan run of this reload loop is reload.sh; valgrind cannot run an ASan binary.
skip_all_if_sanitized "valgrind cannot run an AddressSanitizer binary (its shadow memory)"
require_cmd valgrind
setup_tmp
T=$TG_TMP
mkdir -p "$T/ban"
for x in a b; do cp "$ADV_TOOL" "$T/ban/tgvg-$x" && chmod 755 "$T/ban/tgvg-$x" || bail "cannot copy $ADV_TOOL"; done

policy() { # SERIAL BANNED
	cat <<YAML
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: adversarial-valgrind
  serial: $1
tools:
  - id: tgvg
    name: Valgrind test binary
    action: block
    match:
      executables:
        - path: "$2"
        - name: tgvg-name-$1
      hosts:
        - host: 127.77.68.$(($1 % 250))/32
  - id: tgvg-alert
    name: Alert only
    action: alert
    match:
      executables:
        - path: "$T/ban/alert-$1/**"
YAML
}
pol=$T/policy.yaml
policy 1 "$T/ban/tgvg-a" >"$pol"
TG_EVENTS=$T/events.jsonl
TG_CONF=$T/toolguard.conf
TG_DAEMON_LOG=$T/daemon.log
VGLOG=$T/valgrind.log
write_config "$TG_CONF" "$pol"
start_notify_listener
touch "$T/.loaded"
TG_NOTIFY_SKIP=$(wc -l <"$TG_NOTIFY_LOG")
t0=$SECONDS
NOTIFY_SOCKET=$T/notify.sock valgrind --leak-check=full --errors-for-leak-kinds=definite \
	--show-leak-kinds=definite --error-exitcode=99 --suppressions="$top_srcdir/tests/adversarial/valgrind.supp" \
	--log-file="$VGLOG" "$TOOLGUARDD" --config "$TG_CONF" --foreground --pin-dir "$TG_PIN_DIR" \
	>"$TG_DAEMON_LOG" 2>&1 9>&- &
TG_DAEMON_PID=$!
echo "$TG_DAEMON_PID" >"$T/daemon.pid"
for ((i = 0; i < 1800; i++)); do # 180 s
	kill -0 "$TG_DAEMON_PID" 2>/dev/null || break
	daemon_ready && break
	sleep 0.1
done
daemon_ready || { diag_file "$TG_DAEMON_LOG" 20; diag_file "$VGLOG" 40; bail "toolguardd under valgrind did not get ready"; }
pass "toolguardd started under valgrind in $((SECONDS - t0)) s (BPF programs loaded)"

tc() { timeout 60 "$TOOLCTL" --socket "$T/control.sock" "$@" >/dev/null 2>&1; }
loaded() { grep -c "Loaded policy" "$TG_DAEMON_LOG"; }
t1=$SECONDS
bad=0 ctl_bad=0
for ((n = 2; n <= RELOADS + 1; n++)); do
	if ((n % 2)); then policy "$n" "$T/ban/tgvg-a" >"$pol"; else policy "$n" "$T/ban/tgvg-b" >"$pol"; fi
	before=$(loaded)
	kill -HUP "$TG_DAEMON_PID"
	for ((i = 0; i < 600; i++)); do
		[ "$(loaded)" -gt "$before" ] && break
		kill -0 "$TG_DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ "$(loaded)" -gt "$before" ] || bad=$((bad + 1))
	tc status --json || ctl_bad=$((ctl_bad + 1))
	((n % 5)) || { tc policy show --json || ctl_bad=$((ctl_bad + 1)); }
	((n % 7)) || { tc events --json || ctl_bad=$((ctl_bad + 1)); }
	((n % 10)) || { tc test -- "$T/ban/tgvg-a" || true; }
done
[ "$bad" -eq 0 ]
ok $? "$RELOADS reloads with policy changes applied ($bad failed) in $((SECONDS - t1)) s"
[ "$ctl_bad" -eq 0 ]
ok $? "the control socket answered every request ($ctl_bad failed)"
run_direct "$T/ban/tgvg-$( ((RELOADS % 2)) && echo b || echo a)"
TG_BACKEND=$(sed -n 's/.*exec[ _-]backend[=: "]*\([a-z_]*\).*/\1/p' "$TG_DAEMON_LOG" | head -n1)
is_refused_status "$RUN_RC"
ok $? "the last policy is enforced (exit $RUN_RC)"

kill -TERM "$TG_DAEMON_PID"
for ((i = 0; i < 1200; i++)); do
	kill -0 "$TG_DAEMON_PID" 2>/dev/null || break
	sleep 0.1
done
wait "$TG_DAEMON_PID"
rc=$?
TG_DAEMON_PID=
rm -f "$T/daemon.pid"
diag "valgrind: $(grep -E 'ERROR SUMMARY' "$VGLOG" | head -n1 | sed 's/^==[0-9]*== //') (exit $rc, total $((SECONDS - t0)) s)"
grep -qE "Invalid (read|write|free)|Mismatched free|uninitialised value|Conditional jump" "$VGLOG"
[ $? -ne 0 ]
ok $? "no invalid accesses or use of uninitialised values"
grep -q "definitely lost" "$VGLOG" && ! grep -q "definitely lost: 0 bytes" "$VGLOG"
[ $? -ne 0 ]
ok $? "no definite leaks"
[ "$rc" -eq 0 ]
ok $? "valgrind exit status 0 (99 = errors found)"
[ "$rc" -eq 0 ] || diag_file "$VGLOG" 60

done_testing
