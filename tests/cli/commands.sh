#!/bin/bash
# toolctl's command table: help, version, usage errors, the daemon commands
# (exit 3 without toolguardd), unload's root check, the offline fallback.
. "$(dirname "$0")/lib.sh"
SOCK=$TMP/control.sock
cat >"$TMP/toolguard.conf" <<CONF
mode: monitor
policy:
  file: $EXAMPLE
control:
  socket: $SOCK
CONF
export TOOLGUARD_CONFIG=$TMP/toolguard.conf

run "$TOOLCTL" --help
ok "--help: usage on stdout, exit 0" all 'rc_is 0' 'out_has "Usage: toolctl"' 'out_has "policy check FILE..."'
run "$TOOLCTL" --version
ok "--version" all 'rc_is 0' 'out_has "toolctl (toolguard) "'
run "$TOOLCTL"
ok "no command: usage error" rc_is 2
run "$TOOLCTL" frobnicate
ok "unknown command: usage error, one line" all 'rc_is 2' 'err_line "toolctl: unknown command \"frobnicate\" (see toolctl --help)"'
run "$TOOLCTL" policy
ok "policy without a subcommand: usage error" rc_is 2
run "$TOOLCTL" --bogus status
ok "unknown global option: usage error" rc_is 2

run "$TOOLCTL" status
ok "status without the daemon: exit 3, says how to start it" all 'rc_is 3' \
	"err_has 'toolguardd is not running (no control socket at $SOCK); start it with: systemctl start toolguard'"
run "$TOOLCTL" status --json
ok "status --json without the daemon: data on stdout, exit 3" all 'rc_is 3' 'out_has "\"running\":false"' "out_has '\"control_socket\":\"$SOCK\"'"
for c in events reload sync; do
	run "$TOOLCTL" $c
	ok "$c without the daemon: exit 3" all 'rc_is 3' "err_has 'toolctl: $c: toolguardd is not running (no control socket at $SOCK)'"
done

run "$TOOLCTL" test -- claude
ok "test without --policy: answers from the configured policy, says so" all \
	"err_has '(offline: daemon not reachable, answering from $EXAMPLE)'" 'out_has "claude-code"'
run "$TOOLCTL" test --at 2026-08-01 -- claude
ok "test without --policy: the configured mode (monitor) applies" all 'rc_is 0' 'out_first "would-block: claude-code (Claude Code) via executables[0].name \"claude\""'
run "$TOOLCTL" test --at 2026-08-01 --mode enforce -- claude
ok "--mode overrides the configured mode" all 'rc_is 1' 'out_first "block: claude-code (Claude Code) via executables[0].name \"claude\""'

printf 'policy:\n  file: %s/none.yaml\n' "$TMP" >"$TMP/nopolicy.conf"
run "$TOOLCTL" --config "$TMP/nopolicy.conf" test -- claude
ok "no policy file anywhere: exit 1, says what to do" all 'rc_is 1' 'err_has "pass --policy FILE"'

if [ "$(id -u)" = 0 ]; then
	if command -v setpriv >/dev/null; then
		run setpriv --reuid=65534 --regid=65534 --clear-groups "$TOOLCTL" unload
		ok "unload as a user: exit 1, needs root" all 'rc_is 1' 'err_line "toolctl: unload: needs root (run: sudo toolctl unload)"'
	else
		echo "ok $((tap_n += 1)) # SKIP setpriv not installed"
	fi
else
	run "$TOOLCTL" unload
	ok "unload as a user: exit 1, needs root" all 'rc_is 1' 'err_line "toolctl: unload: needs root (run: sudo toolctl unload)"'
fi

done_testing
