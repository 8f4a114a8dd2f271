#!/bin/bash
# toolctl test --at: the example's Claude Code rule over time
# (warn 14 d before 2026-07-10T00:00:00+08:00, blocked until 2027-07-10T00:00:00+08:00).
. "$(dirname "$0")/lib.sh"
RUN_PATH=$TMP/empty-path # `claude` answered by name whether or not it is installed
t() { run "$TOOLCTL" test --policy "$EXAMPLE" --at "$1" -- claude --version; }

t 2026-06-01
ok "before the warning window: allowed, exit 0" all 'rc_is 0' 'out_first "allow: no tool matches"'
ok "before the warning window: says when it starts" out_line "  note: claude-code (Claude Code) matches via executables[0].name, but is not in force yet: warning from 2026-06-25 16:00 +00:00 (in 24 d)"

t 2026-06-25T15:59:59Z
ok "one second before the window: allowed" all 'rc_is 0' 'out_first "allow: no tool matches"'
t 2026-06-25T16:00:00Z
ok "first second of the window: warned, runs" all 'rc_is 0' 'out_first "warn: claude-code (Claude Code) via executables[0].name \"claude\""'

t 2026-07-01T00:00:00+08:00
ok "inside the window: warn, exit 0" all 'rc_is 0' 'out_first "warn: claude-code (Claude Code) via executables[0].name \"claude\""'
ok "inside the window: when the block starts and in how long" out_line "  state: warning: runs, with a notice; blocked from 2026-07-10 00:00 +08:00 (in 9 d)"
ok "inside the window: the message and the alternative" all 'out_has "  message: Claude Code is not approved"' 'out_line "  alternative: Qoder"'

t 2026-07-09T23:59:59+08:00
ok "last second of the window: warned" all 'rc_is 0' 'out_has "blocked from 2026-07-10 00:00 +08:00 (in 1 s)"'
t 2026-07-10T00:00:00+08:00
ok "at effective: blocked, exit 1" all 'rc_is 1' 'out_first "block: claude-code (Claude Code) via executables[0].name \"claude\""'
t 2026-12-01
ok "after effective: blocked" all 'rc_is 1' 'out_line "  state: blocking since 2026-07-10 00:00 +08:00, until 2027-07-10 00:00 +08:00"'

t 2027-07-10T00:00:00+08:00
ok "at expiry: allowed again, exit 0" all 'rc_is 0' 'out_first "allow: no tool matches"'
t 2027-08-01
ok "after expiry: says the rule expired" all 'rc_is 0' 'out_line "  note: claude-code (Claude Code) matches via executables[0].name, but its rule expired at 2027-07-10 00:00 +08:00"'

run "$TOOLCTL" test --policy "$EXAMPLE" --at 2026-07-01T00:00:00+08:00 --mode monitor -- claude
ok "monitor mode before effective: still a warning" all 'rc_is 0' 'out_first "warn: claude-code (Claude Code) via executables[0].name \"claude\""'
run "$TOOLCTL" test --policy "$EXAMPLE" --at 2026-08-01 --mode monitor -- claude
ok "monitor mode: would-block, runs (exit 0)" all 'rc_is 0' 'out_has "would-block: claude-code"' 'out_has "  mode: monitor:"'

run "$TOOLCTL" test --policy "$EXAMPLE" --at now -- claude
ok "--at now is accepted" all '[ "$RC" -le 1 ]' '[ -n "$OUT" ]'
run "$TOOLCTL" test --policy "$EXAMPLE" --at +3d -- claude
ok "--at +3d is accepted" all '[ "$RC" -le 1 ]' '[ -n "$OUT" ]'
run "$TOOLCTL" test --policy "$EXAMPLE" --at @1783612800 -- claude
ok "--at @EPOCH (2026-07-09T16:00Z = effective)" rc_is 1
run "$TOOLCTL" test --policy "$EXAMPLE" --at 2026-13-01 -- claude
ok "invalid --at: usage error naming the forms" all 'rc_is 2' 'err_has "invalid --at \"2026-13-01\""'

run "$TOOLCTL" test --policy "$EXAMPLE" --json --at 2026-07-01T00:00:00+08:00 -- claude
ok "--json in the window" all 'rc_is 0' 'out_has "\"verdict\":\"warn\""' 'out_has "\"runs\":true"' 'out_has "\"state\":\"warning\""' \
	'out_has "\"at\":\"2026-06-30T16:00:00Z\""'

done_testing
