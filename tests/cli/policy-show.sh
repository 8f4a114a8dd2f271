#!/bin/bash
# toolctl policy show: the normalized policy, offline, YAML-ish or JSON.
. "$(dirname "$0")/lib.sh"

run "$TOOLCTL" policy show --policy "$EXAMPLE"
ok "show: exit 0" rc_is 0
ok "show: metadata" all 'out_has "name: \"acme-ai-tools\""' 'out_has "serial: 2026071001"'
ok "show: tool with its schedule" all 'out_has "  - id: \"claude-code\""' 'out_has "effective: 2026-07-10T00:00:00+08:00"' 'out_has "warn_before: 14d"'
ok "show: says how the kernel matches a glob" all 'out_has "cli.js\"   # kernel: suffix"' 'out_has "claude-code*/**\"   # kernel: scan"'
ok "show: hosts with ports" all 'out_has "- host: \"statsig.anthropic.com\""' 'out_has "ports: [443]"'

"$TOOLCTL" policy show --policy "$EXAMPLE" >"$TMP/shown.yaml" 2>/dev/null
run "$TOOLCTL" policy check "$TMP/shown.yaml"
ok "show: its output is a valid policy again" all 'rc_is 0' "out_line '$TMP/shown.yaml: OK (5 tools)'"
"$TOOLCTL" policy show --policy "$TMP/shown.yaml" 2>/dev/null | grep -v '^#' >"$TMP/shown2.yaml"
grep -v '^#' "$TMP/shown.yaml" >"$TMP/shown1.yaml"
RC=0 OUT=$(diff "$TMP/shown1.yaml" "$TMP/shown2.yaml") ERR=
ok "show: normalizing twice changes nothing" [ -z "$OUT" ]

run "$TOOLCTL" policy show --policy "$EXAMPLE" --json
ok "show --json" all 'rc_is 0' 'out_has "\"serial\":2026071001"' 'out_has "\"kernel_form\":\"suffix\""' 'out_has "\"warn_before_seconds\":1209600"'
if command -v python3 >/dev/null; then
	python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["tools"]) == 5' <<<"$OUT"
	RC=$?
	ok "show --json: valid JSON with 5 tools" rc_is 0
fi

# Without --policy: the configured file (the daemon is not asked yet).
cat >"$TMP/toolguard.conf" <<CONF
mode: enforce
policy:
  file: $EXAMPLE
CONF
TOOLGUARD_CONFIG=$TMP/toolguard.conf run "$TOOLCTL" policy show
ok "show without --policy: answers from the configured file" all 'rc_is 0' "err_line '(offline: daemon not reachable, answering from $EXAMPLE)'" 'out_has "acme-ai-tools"'

printf 'mode: sometimes\n' >"$TMP/bad.conf"
run "$TOOLCTL" --config "$TMP/bad.conf" policy show
ok "invalid configuration: its error with position, exit 1" all 'rc_is 1' "err_has '$TMP/bad.conf:1:7: invalid mode'"

run "$TOOLCTL" policy show --policy "$top_srcdir/tests/cli/bad-policy.yaml"
ok "show of an invalid policy: errors, exit 1" all 'rc_is 1' 'err_has "bad-policy.yaml:8:9:"' 'err_has "toolctl policy check"'

done_testing
