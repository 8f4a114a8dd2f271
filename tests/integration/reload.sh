#!/bin/bash
# Reload (SIGHUP): a new policy takes over at once (the old ban ends, the new
# one holds); a broken policy is refused whole and the policy in force stays
# in force; the daemon keeps running throughout.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_bpf
setup_tmp

bin_a=$(make_test_binary tg-reload-a)
bin_b=$(make_test_binary tg-reload-b)
pol=$TG_TMP/policy.yaml
write_policy() { # SERIAL BINARY
	cat >"$pol.new" <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: it-reload
  serial: $1
tools:
  - id: reload-tool
    name: A banned binary
    action: block
    match:
      executables:
        - path: "$2"
EOF
	mv -f "$pol.new" "$pol"
}
# wait_policy_event VERDICT SERIAL: the daemon reports the load attempt.
wait_policy_event() {
	EVENT_WAIT=10 events_find kind=policy verdict="$1" ${2:+policy_serial=$2} >/dev/null
}

write_policy 1 "$bin_a"
start_or_bail "$pol"
expect_blocked "serial 1: A" reload-tool "$pol" -- "$bin_a" a
expect_runs "serial 1: B" "^b$" "$pol" -- "$bin_b" b

write_policy 2 "$bin_b"
kill -HUP "$TG_DAEMON_PID"
wait_policy_event loaded 2
ok $? "SIGHUP with serial 2: policy event {verdict loaded, policy_serial 2}"
expect_runs "serial 2: A runs again" "^a$" "$pol" -- "$bin_a" a
expect_blocked "serial 2: B" reload-tool "$pol" -- "$bin_b" b

cp "$pol" "$TG_TMP/good.yaml"
cat >"$pol" <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: it-reload
  serial: 3
tools:
  - id: reload-tool
    action: block
    no_such_key: true
    match:
      executables:
        - path: "$bin_a"
EOF
kill -HUP "$TG_DAEMON_PID"
wait_policy_event refused
ok $? "SIGHUP with a broken policy: policy event {verdict refused}"
kill -0 "$TG_DAEMON_PID" 2>/dev/null
ok $? "the daemon is still running"
# The kernel must still enforce serial 2: compare with toolctl on the good file.
expect_runs "broken serial 3 refused: A still runs" "^a$" "$TG_TMP/good.yaml" -- "$bin_a" a
expect_blocked "broken serial 3 refused: B still refused" reload-tool "$TG_TMP/good.yaml" -- "$bin_b" b

stop_daemon
done_testing
