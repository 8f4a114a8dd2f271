#!/bin/bash
# toolctl test --user: exemptions by uid and by group, compared for root
# (exempt) and nobody (not); nothing is created on the system.
. "$(dirname "$0")/lib.sh"
P=$top_srcdir/tests/cli/exempt-root.yaml
RUN_PATH=$TMP/empty-path
if ! getent passwd nobody >/dev/null 2>&1 || ! getent passwd root >/dev/null 2>&1; then
	echo "1..0 # SKIP users root and nobody are needed in the user database"
	exit 0
fi

run "$TOOLCTL" test --policy "$P" --user root -- tg-test-tool-a
ok "uid 0 exempt: root allowed, exit 0" all 'rc_is 0' 'out_first "allow: by-uid (Exempt by uid) via executables[0].name \"tg-test-tool-a\""' \
	'out_line "  exempt: user root (uid 0) is exempt; the run is still recorded"'
run "$TOOLCTL" test --policy "$P" --user nobody -- tg-test-tool-a
ok "uid 0 exempt: nobody blocked, exit 1" all 'rc_is 1' 'out_first "block: by-uid (Exempt by uid) via executables[0].name \"tg-test-tool-a\""'

run "$TOOLCTL" test --policy "$P" --user 0 --at 2029-12-31T23:59:59Z -- tg-test-tool-b
ok "group root exempt (numeric --user 0): allowed until the date" all 'rc_is 0' 'out_has "allow: by-group"' \
	'out_line "  exempt: user root (uid 0) is in exempt group root (gid 0) until 2030-01-01 00:00 +00:00; the run is still recorded"'
run "$TOOLCTL" test --policy "$P" --user 0 --at 2030-01-01T00:00:00Z -- tg-test-tool-b
ok "group exemption expired: root blocked" all 'rc_is 1' 'out_first "block: by-group (Exempt by group) via executables[0].name \"tg-test-tool-b\""'
run "$TOOLCTL" test --policy "$P" --user nobody --at 2029-01-01T00:00:00Z -- tg-test-tool-b
ok "group root exempt: nobody blocked" all 'rc_is 1' 'out_has "block: by-group"'

run "$TOOLCTL" test --policy "$P" --user 3999999 -- tg-test-tool-a
ok "a uid with no passwd entry: not exempt" all 'rc_is 1' 'out_has "block: by-uid"'

run "$TOOLCTL" test --policy "$P" --user root --host tool-a.test.example
ok "exemptions apply to destinations too" all 'rc_is 0' 'out_has "allow: by-uid"'
run "$TOOLCTL" test --policy "$P" --user nobody --host tool-a.test.example:443
ok "destination blocked for nobody" all 'rc_is 1' 'out_has "block: by-uid (Exempt by uid) via hosts[0] \"tool-a.test.example\""'

run "$TOOLCTL" test --policy "$P" --user no-such-user-tg -- tg-test-tool-a
ok "unknown user: exit 1, says so" all 'rc_is 1' 'err_has "no user \"no-such-user-tg\""'

run "$TOOLCTL" test --policy "$P" --user nobody --json -- tg-test-tool-a
ok "--json shows the user and groups" all 'rc_is 1' 'out_has "\"user\":\"nobody\""' 'out_has "\"uid\":65534"' 'out_has "\"exempt\":false"'
run "$TOOLCTL" test --policy "$P" --user root --json -- tg-test-tool-a
ok "--json: exempt, and why" all 'rc_is 0' 'out_has "\"verdict\":\"allow\""' 'out_has "\"exempt\":true"' 'out_has "\"exempt_reason\":\"user root (uid 0) is exempt\""'

# The example exempts group ai-research until 2026-12-31; nobody is not in it.
run "$TOOLCTL" test --policy "$EXAMPLE" --user nobody --at 2026-08-01 -- claude
ok "example: nobody is not exempt" all 'rc_is 1' 'out_has "block: claude-code"'

done_testing
