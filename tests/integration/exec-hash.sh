#!/bin/bash
# Rules the kernel cannot decide alone (sha256, globs with wildcards inside) on
# a FAST program: the first exec of a file nobody has hashed yet, outside the
# usual install locations, and the exec after it. A user must not get even one
# run out of a renamed copy ("a renamed or copied binary is still caught").
# The subject is a private binary: /bin/echo with random bytes appended (so its
# sha256 is unique to this run; never ban a system binary's content).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_bpf
setup_tmp

uniq=$TG_TMP/uniq-echo
cp /bin/echo "$uniq" && head -c 64 /dev/urandom >>"$uniq" && chmod 755 "$uniq"
"$uniq" works >/dev/null || bail "a binary with a trailer does not run here"
sum=$(sha256sum "$uniq" | cut -d' ' -f1)
mkdir -p "$TG_TMP/a/cglob-1" "$TG_TMP/a/cglob-2"
cp "$uniq" "$TG_TMP/a/renamed-before"
cp /bin/echo "$TG_TMP/a/cglob-1/tool"

pol=$TG_TMP/policy.yaml
cat >"$pol" <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: it-exec-hash
  serial: 1
tools:
  - id: by-hash
    name: Banned by content
    action: block
    match:
      executables:
        - sha256: $sum
  - id: by-glob
    name: Banned by a glob with a wildcard inside
    action: block
    match:
      executables:
        - path: "$TG_TMP/**/cglob-*/tool"
EOF

start_or_bail "$pol"
cp "$uniq" "$TG_TMP/a/renamed-after"
cp /bin/echo "$TG_TMP/a/cglob-2/tool"

expect_blocked "sha256: renamed copy made before start, first exec" by-hash "$pol" -- "$TG_TMP/a/renamed-before" leaked
expect_blocked "sha256: renamed copy made before start, second exec" by-hash "$pol" -- "$TG_TMP/a/renamed-before" leaked
expect_blocked "sha256: renamed copy made after start, first exec" by-hash "$pol" -- "$TG_TMP/a/renamed-after" leaked
expect_blocked "sha256: renamed copy made after start, second exec" by-hash "$pol" -- "$TG_TMP/a/renamed-after" leaked
expect_blocked "glob **/cglob-*/tool: file made before start, first exec" by-glob "$pol" -- "$TG_TMP/a/cglob-1/tool" leaked
expect_blocked "glob **/cglob-*/tool: file made before start, second exec" by-glob "$pol" -- "$TG_TMP/a/cglob-1/tool" leaked
expect_blocked "glob **/cglob-*/tool: file made after start, first exec" by-glob "$pol" -- "$TG_TMP/a/cglob-2/tool" leaked
expect_blocked "glob **/cglob-*/tool: file made after start, second exec" by-glob "$pol" -- "$TG_TMP/a/cglob-2/tool" leaked
expect_runs "/bin/echo itself is not affected" "^fine$" "$pol" -- /bin/echo fine

stop_daemon
done_testing
