# toolctl tests: shared helpers (sourced by tests/cli/*.sh). TAP on stdout,
# the plan printed at the end. No root, no daemon, nothing changed outside a
# temporary directory.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
export LC_ALL=C TZ=UTC
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
TOOLCTL=$top_builddir/cli/toolctl
EXAMPLE=$top_srcdir/etc/example-policy.yaml
# Never answer from a configuration installed on this machine.
export TOOLGUARD_CONFIG=/nonexistent/toolguard-test.conf

tap_n=0
tap_failed=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/toolctl-test.XXXXXX") || { echo "1..0 # SKIP cannot create a temporary directory"; exit 0; }
trap 'rm -rf "$TMP"' EXIT

if [ ! -x "$TOOLCTL" ]; then
	echo "1..0 # SKIP $TOOLCTL is not built"
	exit 0
fi

diag() { local l; while IFS= read -r l; do printf '# %s\n' "$l"; done <<<"$*"; }

# run CMD...: OUT, ERR, RC. With RUN_PATH set, CMD runs with that PATH.
run() {
	OUT=$(env ${RUN_PATH:+PATH="$RUN_PATH"} "$@" 2>"$TMP/stderr")
	RC=$?
	ERR=$(cat "$TMP/stderr")
}

ok() { # ok DESC COND...
	local desc=$1
	shift
	tap_n=$((tap_n + 1))
	if "$@"; then
		echo "ok $tap_n - $desc"
	else
		echo "not ok $tap_n - $desc"
		tap_failed=$((tap_failed + 1))
		diag "rc=$RC"
		diag "stdout: $OUT"
		diag "stderr: $ERR"
	fi
}

rc_is() { [ "$RC" -eq "$1" ]; }
out_has() { grep -qF -- "$1" <<<"$OUT"; }
out_line() { grep -qxF -- "$1" <<<"$OUT"; }
out_first() { [ "$(head -n1 <<<"$OUT")" = "$1" ]; }
err_has() { grep -qF -- "$1" <<<"$ERR"; }
err_line() { grep -qxF -- "$1" <<<"$ERR"; }
all() { local c; for c in "$@"; do eval "$c" || return 1; done; }

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
	exit $?
}
