#!/bin/bash
# Script rules: a node script under the temp dir is refused however it is
# started (node PATH, node OPTION PATH, relative path, shebang through
# /usr/bin/env or straight to node); other scripts, and the banned name given
# as a mere argument, run. Compared with `toolctl test` each time.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_bpf
require_cmd node
setup_tmp

node=$(command -v node)
node_real=$(readlink -f "$node")
mkdir -p "$TG_TMP/x" "$TG_TMP/y" "$TG_TMP/z"
echo 'console.log("banned script ran")' >"$TG_TMP/x/banned.js"
echo 'console.log("allowed script ran")' >"$TG_TMP/x/allowed.js"
printf '#!/usr/bin/env node\nconsole.log("banned script ran")\n' >"$TG_TMP/y/banned.js"
printf '#!%s\nconsole.log("banned script ran")\n' "$node_real" >"$TG_TMP/z/banned.js"
printf '#!/usr/bin/env node\nconsole.log("allowed script ran")\n' >"$TG_TMP/y/allowed.js"
# A second rule in the suffix form "**/NAME" (the kernel can match it without
# finding the file first); NAME is unique to this run.
sfx=$(basename "$TG_TMP")-sfx.js
echo 'console.log("banned script ran")' >"$TG_TMP/x/$sfx"
printf '#!/usr/bin/env node\nconsole.log("banned script ran")\n' >"$TG_TMP/y/$sfx"
chmod 755 "$TG_TMP"/y/*.js "$TG_TMP"/z/*.js

pol=$TG_TMP/policy.yaml
cat >"$pol" <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: it-exec-scripts
  serial: 1
tools:
  - id: banned-script
    name: A banned node script
    action: block
    match:
      scripts:
        - path: "$TG_TMP/**/banned.js"
  - id: banned-suffix
    name: A banned node script, by suffix
    action: block
    match:
      scripts:
        - path: "**/$sfx"
EOF

start_or_bail "$pol"
cd "$TG_TMP" || bail "cd $TG_TMP"

expect_blocked "node ABS/x/banned.js" banned-script "$pol" -- "$node" "$TG_TMP/x/banned.js"
expect_blocked "node x/banned.js (relative, cwd $TG_TMP)" banned-script "$pol" -- "$node" x/banned.js
expect_blocked "node --no-warnings x/banned.js" banned-script "$pol" -- "$node" --no-warnings x/banned.js
expect_blocked "shebang #!/usr/bin/env node, run directly" banned-script "$pol" -- "$TG_TMP/y/banned.js"
expect_blocked "shebang #!$node_real, run directly" banned-script "$pol" -- "$TG_TMP/z/banned.js"
expect_blocked "shebang script, relative ./y/banned.js" banned-script "$pol" -- ./y/banned.js
expect_blocked "suffix rule: node x/$sfx" banned-suffix "$pol" -- "$node" "x/$sfx"
expect_blocked "suffix rule: shebang y/$sfx run directly" banned-suffix "$pol" -- "$TG_TMP/y/$sfx"
expect_runs "node x/allowed.js" "allowed script ran" "$pol" -- "$node" x/allowed.js
expect_runs "node x/allowed.js banned.js (banned name only an argument)" "allowed script ran" "$pol" -- "$node" x/allowed.js x/banned.js
expect_runs "shebang #!/usr/bin/env node allowed.js" "allowed script ran" "$pol" -- "$TG_TMP/y/allowed.js"
expect_runs "node -e (no script)" "^3$" "$pol" -- "$node" -e 'console.log(1+2)'

stop_daemon
done_testing
