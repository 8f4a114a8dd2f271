#!/bin/bash
# toolctl test -- PROGRAM: the exec query as the kernel would see it, on a fake
# npm layout made here (the real one: .bin/claude -> ../@anthropic-ai/claude-code/bin/claude.exe,
# hardlinked to the platform package's binary).
. "$(dirname "$0")/lib.sh"
AT=--at=2026-08-01T00:00:00Z # blocking, before expiry

nm=$TMP/proj/node_modules
mkdir -p "$nm/.bin" "$nm/@anthropic-ai/claude-code/bin" "$nm/@anthropic-ai/claude-code-linux-x64" "$TMP/bin" || exit 1
printf '\177ELF fake claude for toolctl tests\n' >"$nm/@anthropic-ai/claude-code/bin/claude.exe"
chmod 755 "$nm/@anthropic-ai/claude-code/bin/claude.exe"
ln "$nm/@anthropic-ai/claude-code/bin/claude.exe" "$nm/@anthropic-ai/claude-code-linux-x64/claude"
ln -s ../@anthropic-ai/claude-code/bin/claude.exe "$nm/.bin/claude"
cp "$nm/@anthropic-ai/claude-code/bin/claude.exe" "$TMP/bin/renamed-tool"
printf '#!/usr/bin/env node\nconsole.log("old claude")\n' >"$nm/@anthropic-ai/claude-code/cli.js"
chmod 755 "$nm/@anthropic-ai/claude-code/cli.js"
printf '#!%s --version\n' "$nm/@anthropic-ai/claude-code-linux-x64/claude" >"$TMP/bin/wrapper"
chmod 755 "$TMP/bin/wrapper"
cd "$TMP/proj" || exit 1

run "$TOOLCTL" test --policy "$EXAMPLE" $AT -- node_modules/.bin/claude --version
ok "npm .bin/claude: blocked by name, exit 1" all 'rc_is 1' 'out_first "block: claude-code (Claude Code) via executables[0].name \"claude\""' \
	"out_line '  matched: $nm/.bin/claude'"
ok "block explains: state, message, alternative, notice" all 'out_line "  state: blocking since 2026-07-10 00:00 +08:00, until 2027-07-10 00:00 +08:00"' \
	'out_has "  message: Claude Code is not approved for work at Acme"' 'out_line "  alternative: Qoder"' \
	'out_line "  notice: https://intranet.acme.example/ai-policy#claude-code"'

PATH=$nm/.bin:$PATH run "$TOOLCTL" test --policy "$EXAMPLE" $AT -- claude --version
ok "claude found through PATH: blocked by name" all 'rc_is 1' 'out_first "block: claude-code (Claude Code) via executables[0].name \"claude\""' '[ -z "$ERR" ]'

RUN_PATH=$TMP/empty-path run "$TOOLCTL" test --policy "$EXAMPLE" $AT -- claude --version
ok "claude not installed: answered for the name, with a note" all 'rc_is 1' 'out_first "block: claude-code (Claude Code) via executables[0].name \"claude\""' \
	'out_line "  matched: claude"' 'err_has "(note: \"claude\" is not in PATH here"'

run "$TOOLCTL" test --policy "$EXAMPLE" $AT -- "$nm/@anthropic-ai/claude-code/bin/claude.exe"
ok "claude.exe run directly: blocked by path" all 'rc_is 1' \
	'out_first "block: claude-code (Claude Code) via executables[1].path \"**/node_modules/@anthropic-ai/claude-code*/**\""'

run "$TOOLCTL" test --policy "$EXAMPLE" $AT -- ./node_modules/@anthropic-ai/claude-code-linux-x64/claude
ok "platform package binary: blocked" all 'rc_is 1' 'out_has "block: claude-code"' \
	"out_line '  matched: $nm/@anthropic-ai/claude-code-linux-x64/claude'"

run "$TOOLCTL" test --policy "$EXAMPLE" $AT -- node node_modules/@anthropic-ai/claude-code/cli.js
ok "node cli.js (older versions): blocked as a script" all 'rc_is 1' \
	'out_first "block: claude-code (Claude Code) via scripts[0].path \"**/node_modules/@anthropic-ai/claude-code/cli.js\""'

run "$TOOLCTL" test --policy "$EXAMPLE" $AT -- "$TMP/bin/wrapper"
ok "a \"#!\" script whose interpreter is the banned binary: blocked, says why" all 'rc_is 1' 'out_has "block: claude-code"' \
	"out_line '  via: the \"#!\" line of $TMP/bin/wrapper runs $nm/@anthropic-ai/claude-code-linux-x64/claude'"

run "$TOOLCTL" test --policy "$EXAMPLE" $AT -- env FOO=1 claude
ok "env runs claude: blocked" all 'rc_is 1' 'out_has "block: claude-code"' 'out_line "  via: env runs claude"'

run "$TOOLCTL" test --policy "$EXAMPLE" $AT -- "$TMP/bin/renamed-tool"
ok "a renamed copy: not matched by name or path" all 'rc_is 0' 'out_first "allow: no tool matches"'

sum=$(sha256sum "$TMP/bin/renamed-tool" | cut -d' ' -f1)
cat >"$TMP/sha.yaml" <<POL
apiVersion: toolguard/v1
kind: Policy
metadata: {name: sha-test, serial: 1}
tools:
  - id: fake-claude
    match:
      executables:
        - sha256: $sum
POL
run "$TOOLCTL" test --policy "$TMP/sha.yaml" -- "$TMP/bin/renamed-tool"
ok "the renamed copy: blocked by sha256" all 'rc_is 1' "out_first 'block: fake-claude (fake-claude) via executables[0].sha256 \"$sum\"'"

run "$TOOLCTL" test --policy "$EXAMPLE" $AT -- qwen --version
ok "qwen (the approved alternative): allowed" all 'rc_is 0' 'out_first "allow: no tool matches"'
mkdir -p "$nm/@qwen-code/qwen-code" && printf '#!/usr/bin/env node\n' >"$nm/@qwen-code/qwen-code/cli.js"
run "$TOOLCTL" test --policy "$EXAMPLE" $AT -- node "$nm/@qwen-code/qwen-code/cli.js"
ok "node .../qwen-code/cli.js: allowed" all 'rc_is 0' 'out_first "allow: no tool matches"'

run "$TOOLCTL" test --policy "$EXAMPLE" $AT -- codex exec hello
ok "codex: alert, runs (exit 0)" all 'rc_is 0' 'out_first "alert: openai-codex (OpenAI Codex CLI) via executables[0].name \"codex\""' \
	'out_line "  state: alert: runs, and the run is recorded"'

run "$TOOLCTL" test --policy "$EXAMPLE" $AT -- /bin/true
ok "/bin/true: allowed" all 'rc_is 0' 'out_first "allow: no tool matches"'

run "$TOOLCTL" test --policy "$EXAMPLE" $AT --json -- node_modules/.bin/claude
ok "--json: verdict, matcher, steps" all 'rc_is 1' 'out_has "\"verdict\":\"block\""' 'out_has "\"runs\":false"' \
	'out_has "\"matcher\":\"executables[0].name\""' "out_has '\"path_resolved\":\"$nm/@anthropic-ai/claude-code/bin/claude.exe\"'"

run "$TOOLCTL" test --policy "$EXAMPLE" $AT
ok "no program: usage error" rc_is 2
run "$TOOLCTL" test --policy "$EXAMPLE" --bogus -- claude
ok "unknown option: usage error" rc_is 2
run "$TOOLCTL" test --policy "$TMP/none.yaml" -- claude
ok "missing policy file: exit 1, says which" all 'rc_is 1' "err_has '$TMP/none.yaml: cannot open the policy file'"

done_testing
