#!/bin/bash
# Exemptions: an exempt user runs the banned binary (and the event log still
# records it); another user, and root, are refused. Compared with
# `toolctl test --user`.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_bpf
require_cmd useradd userdel setpriv
setup_tmp

exempt_user=tgtest-exempt
other_user=tgtest-other
for u in "$exempt_user" "$other_user"; do
	id -u "$u" >/dev/null 2>&1 || useradd -M -r -s /usr/sbin/nologin "$u" || bail "useradd $u failed"
	on_cleanup "userdel $u"
done

bin=$(make_test_binary tg-exempt-banned)
pol=$TG_TMP/policy.yaml
cat >"$pol" <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: it-exec-exempt
  serial: 1
tools:
  - id: banned-bin
    name: A banned binary
    action: block
    match:
      executables:
        - path: "$bin"
    exempt:
      users: [$exempt_user]
EOF

start_or_bail "$pol"

expect_runs "exempt user $exempt_user runs it" "^hello$" "$pol" --user "$exempt_user" -- "$bin" hello
# Exempt, yet the match is recorded (spec: "events still record it").
if events_find tool=banned-bin uid="$(id -u "$exempt_user")" >/dev/null; then
	pass "exempt user: the event log still records the match"
	diag "$(events_find tool=banned-bin uid="$(id -u "$exempt_user")" | head -n1)"
else
	fail "exempt user: the event log still records the match (tool banned-bin, uid $(id -u "$exempt_user"))"
	diag_file "$TG_EVENTS" 5
fi
expect_blocked "other user $other_user is refused" banned-bin "$pol" --user "$other_user" -- "$bin" hello
expect_blocked "root is refused" banned-bin "$pol" --user root -- "$bin" hello

stop_daemon
done_testing
