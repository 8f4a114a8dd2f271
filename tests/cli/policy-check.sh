#!/bin/bash
# toolctl policy check: "FILE: OK (N tools)", or every error as FILE:LINE:COL (exit 1).
. "$(dirname "$0")/lib.sh"
BAD=$top_srcdir/tests/cli/bad-policy.yaml

run "$TOOLCTL" policy check "$EXAMPLE"
ok "example policy is valid" all 'rc_is 0' "out_line '$EXAMPLE: OK (5 tools)'" '[ -z "$ERR" ]'

cd "$top_srcdir/tests/cli" || exit 1
run "$TOOLCTL" policy check bad-policy.yaml
ok "bad policy: exit 1, nothing on stdout" all 'rc_is 1' '[ -z "$OUT" ]'
ok "bad policy: error 1 at 8:9" err_line "bad-policy.yaml:8:9: invalid tool id \"Claude\": expected 1..64 lower-case letters, digits and '-' ([a-z0-9-]+)"
ok "bad policy: error 2 at 9:13" err_line 'bad-policy.yaml:9:13: invalid tools[0].action "forbid": expected block, alert or allow'
ok "bad policy: error 3 at 14:11 suggests the network" err_line 'bad-policy.yaml:14:11: host bits are set in CIDR "160.79.104.1/23": did you mean 160.79.104.0/23?'
ok "bad policy: exactly three lines" [ "$(wc -l <<<"$ERR")" -eq 3 ]

run "$TOOLCTL" policy check "$EXAMPLE" bad-policy.yaml
ok "good + bad: the good one is OK, exit 1" all 'rc_is 1' "out_line '$EXAMPLE: OK (5 tools)'" 'err_has "bad-policy.yaml:8:9:"'

run "$TOOLCTL" policy check "$TMP/missing.yaml"
ok "missing file: one line naming it, exit 1" all 'rc_is 1' "err_line '$TMP/missing.yaml: cannot open the policy file: No such file or directory'"

run "$TOOLCTL" policy check
ok "no file: usage error (exit 2)" all 'rc_is 2' 'err_has "name at least one FILE"'

OUT=$("$TOOLCTL" policy check - <"$EXAMPLE" 2>&1)
RC=$?
ok "standard input" all 'rc_is 0' 'out_line "-: OK (5 tools)"'

run "$TOOLCTL" policy check --json "$EXAMPLE" bad-policy.yaml
ok "--json: exit 1, both files" all 'rc_is 1' 'out_has "\"ok\":true"' 'out_has "\"ok\":false"' 'out_has "\"tools\":5"'
ok "--json: positions of the errors" all 'out_has "\"line\":8"' 'out_has "\"column\":9"' 'out_has "\"line\":14"'

# Every policy the parser's own tests call good is good here too.
n=0 bad=""
for f in "$top_srcdir"/tests/policies/good/*.yaml; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	"$TOOLCTL" policy check "$f" >/dev/null 2>&1 || bad="$bad $f"
done
RC=0 OUT=$bad ERR=
ok "tests/policies/good: all $n valid" [ -z "$bad" ]
n=0 bad=""
for f in "$top_srcdir"/tests/policies/bad/*.yaml; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	"$TOOLCTL" policy check "$f" >/dev/null 2>"$TMP/e"
	rc=$?
	# every error line names the file
	{ [ "$rc" -eq 1 ] && [ -s "$TMP/e" ] && ! grep -qv "^$f:" "$TMP/e"; } || bad="$bad $f(rc=$rc)"
done
OUT=$bad
ok "tests/policies/bad: all $n rejected with FILE: errors" [ -z "$bad" ]

done_testing
