#!/bin/bash
# Enforcement outlives the daemon: after kill -9 the ban holds; a new daemon
# adopts the pins while a loop keeps launching the banned binary, and not one
# launch gets through; `toolguardd --unload` ends it all and removes the pins.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_bpf
setup_tmp

bin=$(make_test_binary tg-persist-banned)
pol=$TG_TMP/policy.yaml
cat >"$pol" <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: it-persist
  serial: 1
tools:
  - id: persist-tool
    name: A banned binary
    action: block
    match:
      executables:
        - path: "$bin"
EOF

start_or_bail "$pol"
expect_blocked "daemon running" persist-tool "$pol" -- "$bin" hello
[ -d "$TG_PIN_DIR" ]
ok $? "pins exist under $TG_PIN_DIR ($(ls "$TG_PIN_DIR" 2>/dev/null | tr '\n' ' ' | head -c 150))"

crash_daemon
run_direct "$bin" hello
is_refused_status "$RUN_RC" && [ ! -s "$RUN_OUT" ]
ok $? "after kill -9 of the daemon: still refused (exit $RUN_RC, printed '$(head -c 50 "$RUN_OUT")')"

# A loop launching the banned binary back to back, across the restart.
stop=$TG_TMP/loop.stop
bash -c '
	n=0 through=0
	while [ ! -e "$1" ]; do
		"$2" got-through >>"$3" 2>/dev/null && through=$((through + 1))
		n=$((n + 1))
	done
	echo "$n $through" >"$4"' loop "$stop" "$bin" "$TG_TMP/loop.leaks" "$TG_TMP/loop.count" 2>/dev/null &
loop_pid=$!
sleep 0.5
t0=$(date +%s%N)
start_daemon "$pol"
ok $? "a new daemon starts while the pins are there"
t1=$(date +%s%N)
diag "restart took $(((t1 - t0) / 1000000)) ms; daemon says: $(grep -i adopt "$TG_DAEMON_LOG" | head -n1)"
sleep 1
touch "$stop"
wait "$loop_pid"
read -r launches through <"$TG_TMP/loop.count"
[ "${launches:-0}" -gt 20 ] && [ "${through:-1}" -eq 0 ]
ok $? "launches during the restart: $launches, got through: ${through:-?} (want 0)"
expect_blocked "after the restart" persist-tool "$pol" -- "$bin" hello

stop_daemon
run_direct "$bin" hello
is_refused_status "$RUN_RC"
ok $? "after SIGTERM to the daemon: still refused (exit $RUN_RC)"

"$TOOLGUARDD" --unload >"$TG_TMP/unload.out" 2>&1
ok $? "toolguardd --unload succeeds ($(head -n1 "$TG_TMP/unload.out"))"
[ ! -e "$TG_PIN_DIR" ]
ok $? "$TG_PIN_DIR is gone"
run_cmd "$bin" hello
[ "$RUN_RC" -eq 0 ] && grep -qx hello "$RUN_OUT"
ok $? "after unload the binary runs again (exit $RUN_RC)"

done_testing
