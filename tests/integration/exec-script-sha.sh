#!/bin/bash
# scripts: - sha256: (an extension): a real node tool, Qwen Code's cli.js
# (a 26 MB script), banned by the content hash of its cli.js only, is stopped
# wherever it was copied and however it is reached: the copy's own path, a
# symlink to it (node LINK, and LINK run directly through its "#!/usr/bin/env
# node" line), a relative path, and on stdin. The kernel sends a script
# request for each interpreter run; the daemon opens the script as the
# process sees it, hashes it and kills the process after the fact. Every
# verdict is compared with `toolctl test`; the event names the tool and the
# copy's resolved path. Other node scripts keep running.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_bpf
require_cmd node
require_ai_tools
setup_tmp

pkg=$TG_TOOLS_DIR/node_modules/@qwen-code/qwen-code
[ -f "$pkg/cli.js" ] || skip_all "no Qwen Code cli.js under $pkg (tests/tools/fetch-ai-tools.sh)"
node=$(command -v node)
sum=$(sha256sum "$pkg/cli.js" | cut -d' ' -f1)
# The whole package copied elsewhere (cli.js needs its bundled files), and a
# symlink to the copy under an unrelated name.
mkdir -p "$TG_TMP/elsewhere" "$TG_TMP/bin"
cp -a "$pkg" "$TG_TMP/elsewhere/qw" || bail "cannot copy $pkg"
copy=$TG_TMP/elsewhere/qw/cli.js
ln -s ../elsewhere/qw/cli.js "$TG_TMP/bin/qw"
echo 'console.log("other script ran")' >"$TG_TMP/other.js"
# How long a banned script runs before the kill: it prints node's uptime every 2 ms.
echo 'console.log("start " + process.uptime().toFixed(3)); setInterval(() => console.log(process.uptime().toFixed(3)), 2); setTimeout(() => process.exit(0), 5000)' >"$TG_TMP/ticker.js"
cp "$TG_TMP/ticker.js" "$TG_TMP/elsewhere/tick-copy.js"
version_re='^[0-9]+\.[0-9]+\.[0-9]+'

# Without toolguard the copy runs (otherwise a "refused" below proves nothing).
out=$(cd "$TG_TMP" && timeout 60 "$node" "$TG_TMP/bin/qw" --version 2>&1) ||
	skip_all "the copy of Qwen Code does not run here without toolguard either: $(head -c 200 <<<"$out")"
grep -qE "$version_re" <<<"$out" || skip_all "qwen --version printed '$(head -c 100 <<<"$out")'"

pol=$TG_TMP/policy.yaml
cat >"$pol" <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: it-exec-script-sha
  serial: 1
tools:
  - id: qwen-code
    name: Qwen Code
    action: block
    match:
      scripts:
        - sha256: $sum
  - id: ticker
    name: A ticker script
    action: block
    match:
      scripts:
        - sha256: $(sha256sum "$TG_TMP/ticker.js" | cut -d' ' -f1)
EOF

start_or_bail "$pol"
diag "backend exercised: $TG_BACKEND (the script request is sent by the exec tracepoint in both backends)"
cd "$TG_TMP" || bail "cd $TG_TMP"

# event_exe DESC WANT: the last blocked event of RUN_PID names the resolved script.
event_exe() {
	local ev exe
	ev=$(events_find kind=exec verdict=blocked tool=qwen-code pid="$RUN_PID" | head -n1)
	exe=$(json_field exe <<<"$ev")
	if [ "$exe" = "$2" ]; then
		pass "$1: the event's exe is the script run ($exe)"
	else
		fail "$1: the event's exe is the script run (want $2, got '$exe')"
	fi
}

expect_blocked "node COPY --version ($TG_BACKEND)" qwen-code "$pol" -- "$node" "$copy" --version
event_exe "node COPY" "$copy"
# How long the 26 MB script runs before the kill: a new copy (hashed for the first time), then again (cached).
cp "$copy" "$TG_TMP/elsewhere/qw/cli2.js"
for run in "first run" "second run"; do
	t0=$(date +%s%N)
	run_direct "$node" "$TG_TMP/elsewhere/qw/cli2.js" --version
	ms=$((($(date +%s%N) - t0) / 1000000))
	ok "$(is_refused_status "$RUN_RC" && [ ! -s "$RUN_OUT" ]; echo $?)" "new copy cli2.js, $run: killed before printing (exit $RUN_RC after $ms ms)"
done
expect_blocked "node SYMLINK-to-copy --version ($TG_BACKEND)" qwen-code "$pol" -- "$node" "$TG_TMP/bin/qw" --version
event_exe "node SYMLINK-to-copy" "$copy"
expect_blocked "SYMLINK-to-copy run directly (#!/usr/bin/env node)" qwen-code "$pol" -- "$TG_TMP/bin/qw" --version
event_exe "SYMLINK-to-copy run directly" "$copy"
# env's request ("#!" file) and node's (its script argument) name one script: one event, mostly
diag "SYMLINK-to-copy run directly: $(events_find kind=exec tool=qwen-code pid="$RUN_PID" | wc -l) event(s) for pid $RUN_PID"
expect_blocked "node --no-warnings elsewhere/qw/cli.js (relative)" qwen-code "$pol" -- "$node" --no-warnings elsewhere/qw/cli.js --version

# On stdin (no toolctl test equivalent: it sees no script argument)
run_direct bash -c 'exec "$1" - --version <"$2"' _ "$node" "$copy"
ok "$(is_refused_status "$RUN_RC" && [ ! -s "$RUN_OUT" ]; echo $?)" "node - < COPY: refused (exit $RUN_RC), printed nothing"
event_exe "node - < COPY" "$copy"

# The window: the script starts before the daemon has judged it.
for i in 1 2 3; do
	t0=$(date +%s%N)
	run_direct "$node" "$TG_TMP/elsewhere/tick-copy.js"
	ms=$((($(date +%s%N) - t0) / 1000000))
	ok "$(is_refused_status "$RUN_RC"; echo $?)" "ticker copy run $i: killed (exit $RUN_RC after $ms ms)"
	diag "ticker copy run $i: node uptime at the script's start: $(sed -n 's/^start //p' "$RUN_OUT" | head -n1) s; last tick: $(tail -n1 "$RUN_OUT") s ($(grep -vc start "$RUN_OUT") ticks)"
done

# The original install is banned too (same content), and other scripts run.
expect_blocked "the original .bin/qwen --version" qwen-code "$pol" -- "$TG_TOOLS_DIR/node_modules/.bin/qwen" --version
expect_runs "node other.js" '^other script ran$' "$pol" -- "$node" "$TG_TMP/other.js"
expect_runs "node -e" '^fine$' "$pol" -- "$node" -e 'console.log("fine")'

done_testing
