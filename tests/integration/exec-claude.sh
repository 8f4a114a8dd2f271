#!/bin/bash
# The real Claude Code (native binary from npm) is refused by name, by path
# glob, by sha256 (renamed copy), through its npm bin symlink and through its
# hardlink in the platform package; it runs when the policy does not ban it;
# Qwen Code (a node script) keeps running under the same policies. Every kernel
# verdict is compared with `toolctl test` on the same policy and command line.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_bpf
require_ai_tools
setup_tmp

# A private install prefix: a real copy (cp -a keeps the hardlink between
# bin/claude.exe and the platform package's claude), so paths are this test's.
prefix=$TG_TMP/prefix
mkdir -p "$prefix"
cp -a "$TG_TOOLS_DIR/node_modules" "$prefix/" || bail "cannot copy $TG_TOOLS_DIR/node_modules"
nm=$prefix/node_modules
bin_link=$nm/.bin/claude                       # -> ../@anthropic-ai/claude-code/bin/claude.exe
bin_exe=$nm/@anthropic-ai/claude-code/bin/claude.exe
plat=$(ls -d "$nm"/@anthropic-ai/claude-code-linux-*/claude 2>/dev/null | head -n1)
qwen=$nm/.bin/qwen
[ -x "$bin_exe" ] && [ -x "$plat" ] || bail "the cached install has no native claude binary (bin/claude.exe, platform package)"
[ "$(stat -c %i "$bin_exe")" = "$(stat -c %i "$plat")" ] && diag "bin/claude.exe and $(basename "$(dirname "$plat")")/claude are one inode (hardlink)"
version_re='^[0-9]+\.[0-9]+\.[0-9]+ \(Claude Code\)'
qwen_re='^[0-9]+\.[0-9]+\.[0-9]+'
# Qwen Code needs node >= 20: where it does not run at all, its checks skip.
qwen_ok=1
timeout 60 "$qwen" --version >/dev/null 2>&1 || qwen_ok=0
expect_qwen_runs() { # LABEL POLICY
	if [ "$qwen_ok" = 1 ]; then
		expect_runs "$1: qwen --version" "$qwen_re" "$2" -- "$qwen" --version
	else
		local i
		for i in 1 2 3; do skip "$1: qwen --version ($i/3)" "qwen does not run here without toolguard either (node $(node --version 2>/dev/null); needs >= 20)"; done
	fi
}

policy() { # FILE TOOL-MATCH-YAML
	serial=$((serial + 1))
	cat >"$1" <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: it-exec-claude
  serial: $serial
tools:
  - id: claude-code
    name: Claude Code
    action: block
    match:
      executables:
$2
  - id: other-tool
    name: Something else
    action: block
    match:
      executables:
        - path: "$TG_TMP/nothing-here/**"
EOF
}
serial=0



# 1. by name
policy "$TG_TMP/p-name.yaml" "        - name: claude"
start_or_bail "$TG_TMP/p-name.yaml"
expect_blocked "name: .bin/claude --version" claude-code "$TG_TMP/p-name.yaml" -- "$bin_link" --version
expect_blocked "name: platform package claude --version" claude-code "$TG_TMP/p-name.yaml" -- "$plat" --version
expect_qwen_runs "name" "$TG_TMP/p-name.yaml"
stop_daemon
tg_unload

# 2a. by path glob under the temp prefix, a prefix form ("DIR/**")
policy "$TG_TMP/p-path.yaml" "        - path: \"$nm/@anthropic-ai/**\""
start_or_bail "$TG_TMP/p-path.yaml"
expect_blocked "path DIR/**: bin/claude.exe --version" claude-code "$TG_TMP/p-path.yaml" -- "$bin_exe" --version
expect_blocked "path DIR/**: .bin/claude symlink --version" claude-code "$TG_TMP/p-path.yaml" -- "$bin_link" --version
expect_blocked "path DIR/**: hardlink in platform package --version" claude-code "$TG_TMP/p-path.yaml" -- "$plat" --version
expect_qwen_runs "path DIR/**" "$TG_TMP/p-path.yaml"
stop_daemon
tg_unload

# 2b. the same with the glob form of the example policy (wildcards inside:
# the daemon must find the files, here outside the usual install locations)
policy "$TG_TMP/p-glob.yaml" "        - path: \"$TG_TMP/**/node_modules/@anthropic-ai/claude-code*/**\""
start_or_bail "$TG_TMP/p-glob.yaml"
expect_blocked "path **/claude-code*/**: bin/claude.exe --version" claude-code "$TG_TMP/p-glob.yaml" -- "$bin_exe" --version
expect_blocked "path **/claude-code*/**: .bin/claude symlink --version" claude-code "$TG_TMP/p-glob.yaml" -- "$bin_link" --version
expect_blocked "path **/claude-code*/**: hardlink in platform package --version" claude-code "$TG_TMP/p-glob.yaml" -- "$plat" --version
expect_qwen_runs "path **/claude-code*/**" "$TG_TMP/p-glob.yaml"
stop_daemon
tg_unload

# 3. by sha256: renamed copies anywhere (here the temp dir, made before and
# after the daemon starts), and in a directory the daemon is told to scan
# (TOOLGUARD_SCAN_EXTRA): tells "not found" apart from "not enforced".
sum=$(sha256sum "$bin_exe" | cut -d' ' -f1)
diag "sha256 of claude.exe: $sum"
mkdir -p "$TG_TMP/scanned"
cp "$bin_exe" "$TG_TMP/xyz-before"
cp "$bin_exe" "$TG_TMP/scanned/xyz-before"
policy "$TG_TMP/p-sha.yaml" "        - sha256: $sum"
TOOLGUARD_SCAN_EXTRA=$TG_TMP/scanned start_or_bail "$TG_TMP/p-sha.yaml"
cp "$bin_exe" "$TG_TMP/xyz-renamed"
cp "$bin_exe" "$TG_TMP/scanned/xyz-after"
sleep 2 # a new file is hashed by the daemon's watcher: allow it a moment
expect_blocked "sha256: copy $TG_TMP/xyz-renamed (made after start)" claude-code "$TG_TMP/p-sha.yaml" -- "$TG_TMP/xyz-renamed" --version
expect_blocked "sha256: copy $TG_TMP/xyz-before (made before start)" claude-code "$TG_TMP/p-sha.yaml" -- "$TG_TMP/xyz-before" --version
expect_blocked "sha256: copy in a scanned dir (made before start)" claude-code "$TG_TMP/p-sha.yaml" -- "$TG_TMP/scanned/xyz-before" --version
expect_blocked "sha256: copy in a scanned dir (made after start)" claude-code "$TG_TMP/p-sha.yaml" -- "$TG_TMP/scanned/xyz-after" --version
expect_blocked "sha256: .bin/claude symlink" claude-code "$TG_TMP/p-sha.yaml" -- "$bin_link" --version
expect_qwen_runs "sha256" "$TG_TMP/p-sha.yaml"
stop_daemon
tg_unload

# 4. a policy that does not ban claude: it runs
policy "$TG_TMP/p-none.yaml" "        - name: not-claude-xyz"
start_or_bail "$TG_TMP/p-none.yaml"
expect_runs "unbanned: .bin/claude --version" "$version_re" "$TG_TMP/p-none.yaml" -- "$bin_link" --version
expect_runs "unbanned: platform package claude --version" "$version_re" "$TG_TMP/p-none.yaml" -- "$plat" --version
expect_runs "unbanned: xyz-renamed --version" "$version_re" "$TG_TMP/p-none.yaml" -- "$TG_TMP/xyz-renamed" --version
stop_daemon

done_testing
