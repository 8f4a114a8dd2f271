#!/bin/bash
# Time: a tool whose ban starts a few seconds from now runs (with a "warned"
# event inside its warn_before window) and is refused right after the instant,
# with no reload; another whose ban expires at that instant runs again. Monitor mode lets a banned tool run and records "would-block".
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_bpf
setup_tmp

bin=$(make_test_binary tg-timed-tool)
bin_exp=$(make_test_binary tg-expiring-tool)
lead=${TG_IT_TIME_LEAD:-8} # seconds from now to the ban; covers the daemon's start-up
eff_epoch=$(($(date +%s) + lead))
eff=$(date -u -d "@$eff_epoch" +%Y-%m-%dT%H:%M:%SZ)
pol=$TG_TMP/policy.yaml
cat >"$pol" <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: it-exec-time
  serial: 1
tools:
  - id: timed-tool
    name: A tool banned a few seconds from now
    action: block
    effective: $eff
    warn_before: 1h
    match:
      executables:
        - path: "$bin"
  - id: expiring-tool
    name: A tool whose ban ends at the same instant
    action: block
    expires: $eff
    match:
      executables:
        - path: "$bin_exp"
EOF
diag "effective: $eff (now $(date -u +%H:%M:%S.%N | cut -c1-12))"

start_or_bail "$pol"
left=$((eff_epoch - $(date +%s)))
if [ "$left" -lt 2 ]; then
	bail "toolguardd took too long to start: only $left s left before the effective instant (raise TG_IT_TIME_LEAD)"
fi

# Before the instant: runs, warned.
run_direct "$bin" before
ok $((RUN_RC != 0)) "before $eff: runs (exit $RUN_RC)"
grep -qx before "$RUN_OUT"
ok $? "before $eff: printed its output"
if events_find kind=exec verdict=warned tool=timed-tool pid="$RUN_PID" >/dev/null; then
	pass "before $eff: event {verdict warned, tool timed-tool, pid $RUN_PID}"
else
	fail "before $eff: event {verdict warned, tool timed-tool, pid $RUN_PID}"
	diag_file "$TG_EVENTS" 5
fi
if ref_test "$pol" --at "$(rfc3339_in -0)" -- "$bin" before; then
	[ "$REF_RC" -eq 0 ] && grep -qi warn <<<"$REF_OUT"
	ok $? "before: toolctl test --at now agrees: runs, warned (exit $REF_RC: $(head -n1 <<<"$REF_OUT"))"
else
	skip "before: toolctl test agrees" "cli/toolctl not built"
fi

expect_blocked "before $eff: the expiring ban holds" expiring-tool "$pol" -- "$bin_exp" before

# Wait past the instant; nobody touches the daemon.
while [ "$(date +%s)" -le "$eff_epoch" ]; do sleep 0.2; done
diag "now $(date -u +%H:%M:%S), past $eff"
expect_blocked "after $eff, no reload" timed-tool "$pol" -- "$bin" after
expect_runs "after $eff, no reload: the expired ban is over" "^after$" "$pol" -- "$bin_exp" after

stop_daemon
tg_unload

# Monitor mode: the ban is recorded as would-block, the tool runs.
bin2=$(make_test_binary tg-monitored-tool)
pol2=$TG_TMP/policy-monitor.yaml
cat >"$pol2" <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: it-exec-monitor
  serial: 2
tools:
  - id: monitored-tool
    name: A banned tool, daemon in monitor mode
    action: block
    match:
      executables:
        - path: "$bin2"
EOF
start_or_bail "$pol2" --mode monitor
run_direct "$bin2" monitored
ok $((RUN_RC != 0)) "monitor mode: banned tool runs (exit $RUN_RC)"
grep -qx monitored "$RUN_OUT"
ok $? "monitor mode: banned tool printed its output"
if events_find kind=exec verdict=would-block tool=monitored-tool pid="$RUN_PID" >/dev/null; then
	pass "monitor mode: event {verdict would-block, tool monitored-tool, pid $RUN_PID}"
else
	fail "monitor mode: event {verdict would-block, tool monitored-tool, pid $RUN_PID}"
	diag_file "$TG_EVENTS" 5
fi
if ref_test "$pol2" --mode monitor -- "$bin2" monitored; then
	[ "$REF_RC" -eq 0 ] && grep -q '^would-block: monitored-tool' <<<"$REF_OUT"
	ok $? "monitor mode: toolctl test --mode monitor agrees: would-block, runs (exit $REF_RC: $(head -n1 <<<"$REF_OUT"))"
else
	skip "monitor mode: toolctl test agrees" "cli/toolctl not built"
fi
stop_daemon

done_testing
