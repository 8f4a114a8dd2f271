# toolguard integration tests: shared helpers (sourced by tests/integration/*.sh).
#
# These tests load the real BPF programs through the real daemon, so they act
# on the whole machine. Safety rules kept here, once:
#  - everything banned lives under a per-test temporary directory, in
#    127.77.0.0/16-ish and fd77::/16-ish ranges, or is a binary called `claude`;
#  - a trap ALWAYS runs `toolguardd --unload`, removes the pins as a last resort
#    and kills the daemon; a watchdog process does the same if the test shell
#    itself is killed; the whole test runs under `timeout`;
#  - one integration test at a time on a machine (flock), and never on top of a
#    toolguard someone else loaded.
#
# Environment: top_builddir, top_srcdir (absolute; set by `make check`),
# TG_TOOLS_DIR (cache of the real AI tools, see tests/tools/fetch-ai-tools.sh),
# TOOLGUARD_SKIP_KERNEL_TESTS=1 (skip all of these, e.g. in distcheck),
# TG_IT_TIMEOUT (seconds for one test file, default 300),
# TG_IT_FOREIGN_WAIT (seconds to wait for another toolguardd to go, default 0),
# TG_IT_FORCE_UNLOAD=1 (remove stale pins at /sys/fs/bpf/toolguard first),
# TG_IT_KEEP=1 (keep the temp dir: daemon log, events, outputs),
# TG_IT_TIME_LEAD (exec-time.sh: seconds to the ban, default 8),
# TG_IT_PIN_DIR (only to test this harness with a fake daemon).
#
# Each test: require_bpf; setup_tmp; start_or_bail POLICY; expect_blocked /
# expect_runs (kernel verdict + output + event + `toolctl test` on the same
# policy and command line); stop_daemon; done_testing.

# One integration test at a time on a machine (they share the pins): take the
# lock (fd 9, inherited), then re-run the whole test under timeout(1), once.
TG_LOCK=/run/lock/toolguard-integration.lock
if [ -z "${TG_IT_UNDER_TIMEOUT:-}" ]; then
	export TG_IT_UNDER_TIMEOUT=1
	if [ "$(id -u)" = 0 ] && [ "${TOOLGUARD_SKIP_KERNEL_TESTS:-0}" != 1 ] && command -v flock >/dev/null &&
		mkdir -p "${TG_LOCK%/*}" && exec 9>>"$TG_LOCK"; then
		flock -w 1800 9 || { echo "1..0 # SKIP another integration test held $TG_LOCK for 30 min"; exit 0; }
	fi
	exec timeout -k 20 "${TG_IT_TIMEOUT:-300}" bash "$0" "$@"
fi

set -u
export LC_ALL=C

: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
TOOLGUARDD=$top_builddir/daemon/toolguardd
TOOLCTL=$top_builddir/cli/toolctl
TG_PIN_DIR=${TG_IT_PIN_DIR:-/sys/fs/bpf/toolguard} # override only to test this harness with a fake daemon
TG_TOOLS_DIR=${TG_TOOLS_DIR:-/var/cache/toolguard-tests/npm}
# The system python (other users must be able to run it too).
if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=$(command -v python3 || echo python3); fi

tap_n=0
tap_planned=0
tap_failed=0
TG_TMP=
TG_DAEMON_PID=
TG_DAEMON_LOG=
TG_EVENTS=
TG_CONF=
TG_NOTIFY_SKIP=0
TG_BACKEND=unknown
EV_MATCHER=
TG_CLEANUPS=()

# ---------- TAP ----------

plan() { tap_planned=$1; echo "1..$1"; }
diag() { local l; while IFS= read -r l; do printf '# %s\n' "$l"; done <<<"$*"; }
skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}
# Abort the whole file: the TAP driver reports it as an error.
bail() {
	echo "Bail out! $*"
	exit 1
}
ok() { # ok CONDITION_STATUS DESCRIPTION  (0 = pass)
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}
pass() { ok 0 "$1"; }
fail() { ok 1 "$1"; }
skip() { # skip DESCRIPTION REASON
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $1 # SKIP $2"
}
# Show a file's tail as diag lines (what the reader needs after a failure).
diag_file() { # FILE [LINES]
	[ -s "$1" ] || return 0
	echo "# --- $(basename "$1") (last ${2:-15} lines)"
	tail -n "${2:-15}" "$1" | sed 's/^/#   /'
}
done_testing() {
	if [ "$tap_planned" -eq 0 ]; then
		echo "1..$tap_n"
	elif [ "$tap_n" -ne "$tap_planned" ]; then
		diag "planned $tap_planned tests but ran $tap_n"
	fi
	[ "$tap_failed" -eq 0 ] || diag "$tap_failed of $tap_n failed"
	# The "not ok" lines carry the failures: a non-zero exit would count them twice (ERROR).
	return 0
}

# ---------- preconditions ----------

require_root() {
	[ "$(id -u)" -eq 0 ] || skip_all "not root (these tests load BPF programs; run make check as root)"
}

require_cmd() { # CMD... : skip when a command is missing
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip_all "$c not found: install it (CI: .ci/run installs test packages)"
	done
}

TG_CGROUP2=
require_bpf() {
	[ "${TOOLGUARD_SKIP_KERNEL_TESTS:-0}" = 1 ] && skip_all "TOOLGUARD_SKIP_KERNEL_TESTS=1"
	require_root
	[ -r /sys/kernel/btf/vmlinux ] || skip_all "no /sys/kernel/btf/vmlinux (kernel without BTF)"
	if ! mountpoint -q /sys/fs/bpf 2>/dev/null; then
		mount -t bpf bpf /sys/fs/bpf 2>/dev/null || skip_all "bpffs is not mounted at /sys/fs/bpf and cannot be mounted"
	fi
	TG_CGROUP2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
	[ -n "$TG_CGROUP2" ] || skip_all "cgroup2 not found (no cgroup2 mount in /proc/self/mounts)"
	require_cmd timeout flock "$PYTHON"
	# The daemon is part of the build: missing means the build is broken.
	if [ ! -x "$TOOLGUARDD" ]; then
		echo "1..1"
		echo "not ok 1 - $TOOLGUARDD exists # build it first (make)"
		exit 1
	fi
	tg_check_foreign
}

# Never unload a toolguard that someone else loaded.
# TG_IT_FOREIGN_WAIT=SECONDS: wait that long for it to go (shared dev machines).
tg_check_foreign() {
	local p i d
	for ((i = 0; i < ${TG_IT_FOREIGN_WAIT:-0}; i++)); do
		pgrep -x toolguardd >/dev/null || tg_foreign_pins >/dev/null || break
		sleep 1
	done
	for p in $(pgrep -x toolguardd 2>/dev/null); do
		skip_all "a toolguardd (pid $p: $(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null)) is already running: stop it first"
	done
	if [ -e "$TG_PIN_DIR" ] && [ "${TG_IT_FORCE_UNLOAD:-0}" = 1 ]; then
		"$TOOLGUARDD" --unload >/dev/null 2>&1
		rm -rf "$TG_PIN_DIR"
	fi
	# Pinned programs enforce without a daemon (e.g. another instance's pin
	# directory): they would change what these tests observe.
	d=$(tg_foreign_pins) &&
		skip_all "$d holds pinned toolguard programs (still enforcing): run toolguardd --unload, or set TG_IT_FORCE_UNLOAD=1 for $TG_PIN_DIR"
	return 0
}
tg_foreign_pins() { # print the first toolguard pin directory with links
	local d
	for d in "$TG_PIN_DIR" /sys/fs/bpf/toolguard*; do
		[ -d "$d/links" ] && [ -n "$(ls -A "$d/links" 2>/dev/null)" ] && { echo "$d"; return 0; }
	done
	return 1
}

# The real AI tools, installed by tests/tools/fetch-ai-tools.sh.
require_ai_tools() {
	if [ ! -x "$TG_TOOLS_DIR/node_modules/.bin/claude" ] || [ ! -e "$TG_TOOLS_DIR/node_modules/.bin/qwen" ]; then
		skip_all "real tools not installed: run tests/tools/fetch-ai-tools.sh (looked in $TG_TOOLS_DIR)"
	fi
}

# ---------- sanitizer builds (configure --enable-sanitizers) ----------

# Every ASan/LSan report of any instrumented program a test runs (the daemon,
# toolctl, helpers; also ones whose stderr a test discards) goes to a file
# under $TG_TMP/san (log_path); at exit, tg_san_check turns each report into a
# failure. Options from the caller (e.g. .ci/run) come first, log_path last.
TG_SANITIZED=0
"$top_builddir/config.status" --config 2>/dev/null | grep -q -- '--enable-sanitizers' && TG_SANITIZED=1
# A check that means nothing in a sanitizer build (RSS, valgrind, timing):
# skip it there, with the reason; normal builds are unaffected.
skip_all_if_sanitized() { # REASON
	[ "$TG_SANITIZED" = 1 ] && skip_all "ASan/UBSan build (configure --enable-sanitizers): $*"
	return 0
}
tg_san_setup() {
	[ "$TG_SANITIZED" = 1 ] || return 0
	mkdir -m 1777 "$TG_TMP/san" || bail "cannot create $TG_TMP/san"
	chmod 1777 "$TG_TMP/san" # test users' programs write reports there too
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$TG_TMP/san/asan:log_exe_name=1"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$TG_TMP/san/ubsan:log_exe_name=1"
}
# GCC's UBSan ignores log_path when linked with ASan: its reports go to
# stderr (and, with -fno-sanitize-recover, end the program with status 1), so
# the daemon logs and the tests' saved stderr/output files are searched too.
TG_SAN_RE='ERROR: (AddressSanitizer|LeakSanitizer)|:[0-9]+:[0-9]+: runtime error: '
# Returns 1 (after a "not ok" line and the reports as diag lines) when any
# instrumented program reported.
tg_san_check() {
	[ "$TG_SANITIZED" = 1 ] && [ -n "$TG_TMP" ] && [ -d "$TG_TMP" ] || return 0
	local f found=0
	for f in $(find "$TG_TMP/san" -type f -size +0 2>/dev/null) \
		$(find "$TG_TMP" -maxdepth 3 -type f \( -name '*.log' -o -name '*.err' -o -name '*.out' \) -size -64M \
			-not -path "$TG_TMP/san/*" -exec grep -lE "$TG_SAN_RE" {} + 2>/dev/null); do
		found=1
		tap_n=$((tap_n + 1))
		echo "not ok $tap_n - no sanitizer report (ASan/LSan/UBSan): ${f#"$TG_TMP"/}"
		grep -m1 -E 'ERROR: |runtime error:' "$f" | sed 's/^/# /'
		head -n 60 "$f" | sed 's/^/#   /'
	done
	[ "$found" = 0 ]
}

# ---------- temp dir, cleanup, watchdog ----------

# A helper process of this test (listener, loop): disowned (no job notices),
# killed by the cleanup, or by the watchdog if the test shell dies.
bg_pid() {
	echo "$1" >>"$TG_TMP/bg.pids"
	disown "$1" 2>/dev/null
}

# Run at cleanup, last registered first.
on_cleanup() { TG_CLEANUPS+=("$*"); }

# Only when this test loaded something: never touch someone else's pins.
tg_unload() {
	[ -e "$TG_TMP/.loaded" ] || return 0
	[ -x "$TOOLGUARDD" ] && timeout 30 "$TOOLGUARDD" --unload >>"$TG_TMP/unload.log" 2>&1
	rm -rf "$TG_PIN_DIR" 2>/dev/null
	rm -f "$TG_TMP/.loaded"
}

tg_cleanup() {
	# shellcheck disable=SC2320 # the status the test exits with
	local rc=$?
	local i
	trap - EXIT INT TERM HUP
	stop_daemon >/dev/null 2>&1
	tg_unload
	for ((i = ${#TG_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${TG_CLEANUPS[i]}" >/dev/null 2>&1
	done
	# Kill whatever this test still has running (listeners, loops).
	# shellcheck disable=SC2046 # one pid a word
	[ -f "$TG_TMP/bg.pids" ] && kill -KILL $(cat "$TG_TMP/bg.pids") 2>/dev/null
	rm -f "$TG_TMP/bg.pids"
	pkill -KILL -P $$ 2>/dev/null
	# A sanitizer report fails the file (also as exit status: it may come after the plan).
	tg_san_check || TG_SAN_FAILED=1
	[ -n "$TG_TMP" ] && [ "${TG_IT_KEEP:-0}" != 1 ] && rm -rf "$TG_TMP"
	[ -z "${TG_SAN_FAILED:-}" ] || exit 1
	return $rc
}

tg_on_signal() {
	echo "Bail out! interrupted by signal $1 (timeout ${TG_IT_TIMEOUT:-300} s?)"
	tg_cleanup
	exit 1
}

setup_tmp() {
	TG_TMP=$(mktemp -d /tmp/tg-it.XXXXXX) || bail "mktemp failed"
	chmod 755 "$TG_TMP" # test users must reach the binaries inside
	tg_san_setup
	trap tg_cleanup EXIT
	trap 'tg_on_signal TERM' TERM
	trap 'tg_on_signal INT' INT
	trap 'tg_on_signal HUP' HUP
	# If this shell is killed outright (SIGKILL), nobody runs the trap: a
	# detached watchdog unloads when the shell is gone and the temp dir is
	# still there (the trap removes it last).
	setsid bash -c '
		while kill -0 '"$$"' 2>/dev/null; do sleep 1; done
		[ -f "'"$TG_TMP"'/bg.pids" ] && kill -KILL $(cat "'"$TG_TMP"'/bg.pids")
		if [ -e "'"$TG_TMP"'/.loaded" ]; then
			[ -f "'"$TG_TMP"'/daemon.pid" ] && kill -9 "$(cat "'"$TG_TMP"'/daemon.pid")"
			timeout 30 "'"$TOOLGUARDD"'" --unload
			rm -rf "'"$TG_PIN_DIR"'"
			rm -rf "'"$TG_TMP"'"
		fi' </dev/null >/dev/null 2>&1 9>&- &
	disown $! 2>/dev/null
}

# ---------- daemon ----------

# write_config FILE POLICY [MODE]
write_config() {
	cat >"$1" <<EOF
mode: ${3:-enforce}
policy:
  file: $2
  cache: $TG_TMP/policy-cache.yaml
notices:
  tty: false
  desktop: false
events:
  log: $TG_EVENTS
control:
  socket: $TG_TMP/control.sock
${TG_EXTRA_CONF:-}
EOF
}

# The daemon says it is ready the systemd way (sd_notify READY=1 with a STATUS
# line): a datagram listener in the temp dir collects those messages.
TG_NOTIFY_LOG=
start_notify_listener() {
	[ -n "$TG_NOTIFY_LOG" ] && return 0
	TG_NOTIFY_LOG=$TG_TMP/notify.log
	: >"$TG_NOTIFY_LOG"
	"$PYTHON" - "$TG_TMP/notify.sock" "$TG_NOTIFY_LOG" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    out.write("listening\n")
    out.flush()
    while True:
        msg = s.recv(65536).decode(errors="replace")
        out.write(msg.replace("\n", " ") + "\n")
        out.flush()
PY
	bg_pid $!
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q listening "$TG_NOTIFY_LOG" && return 0
		sleep 0.1
	done
	bail "the sd_notify listener did not start"
}

# start_daemon POLICY [EXTRA ARGS...]: start toolguardd in the background and
# wait until it is ready (READY=1) and enforcing that policy. Returns 1 (with
# diag lines) when it does not get there.
start_daemon() {
	local policy=$1 i
	shift
	start_notify_listener
	TG_EVENTS=$TG_TMP/events.jsonl
	TG_CONF=$TG_TMP/toolguard.conf
	TG_DAEMON_LOG=$TG_TMP/daemon.$(date +%s%N).log
	write_config "$TG_CONF" "$policy"
	touch "$TG_TMP/.loaded"
	TG_NOTIFY_SKIP=$(wc -l <"$TG_NOTIFY_LOG") # readiness: only messages from this start
	NOTIFY_SOCKET=$TG_TMP/notify.sock "$TOOLGUARDD" --config "$TG_CONF" --policy "$policy" --foreground "$@" \
		>"$TG_DAEMON_LOG" 2>&1 9>&- &
	TG_DAEMON_PID=$!
	echo "$TG_DAEMON_PID" >"$TG_TMP/daemon.pid"
	for ((i = 0; i < 300; i++)); do # 30 s
		if ! kill -0 "$TG_DAEMON_PID" 2>/dev/null; then
			wait "$TG_DAEMON_PID"
			diag "toolguardd exited during start-up with status $?"
			diag_file "$TG_DAEMON_LOG" 30
			TG_DAEMON_PID=
			return 1
		fi
		daemon_ready && break
		sleep 0.1
	done
	if ! daemon_ready; then
		diag "toolguardd did not report READY=1 within 30 s"
		diag_file "$TG_DAEMON_LOG" 30
		return 1
	fi
	TG_BACKEND=$(sed -n 's/.*exec[ _-]backend[=: "]*\([a-z_]*\).*/\1/p' "$TG_DAEMON_LOG" | head -n1)
	[ -n "$TG_BACKEND" ] || TG_BACKEND=unknown
	echo "# backend: $TG_BACKEND"
	local status
	status=$(daemon_status)
	diag "daemon: $status"
	case $status in
	*"enforcing policy "* | *"monitoring policy "*) return 0 ;;
	esac
	diag "toolguardd is ready but not on the test's policy $policy"
	diag_file "$TG_DAEMON_LOG" 30
	return 1
}

daemon_ready() {
	tail -n +$((TG_NOTIFY_SKIP + 1)) "$TG_NOTIFY_LOG" 2>/dev/null | grep -q 'READY=1'
}
# The STATUS= the daemon sent with READY=1.
daemon_status() {
	tail -n +$((TG_NOTIFY_SKIP + 1)) "$TG_NOTIFY_LOG" | grep 'READY=1' | tail -n1 | sed -n 's/.*STATUS=//p'
}

stop_daemon() {
	[ -n "$TG_DAEMON_PID" ] || return 0
	kill -TERM "$TG_DAEMON_PID" 2>/dev/null
	local i
	for ((i = 0; i < 50; i++)); do
		kill -0 "$TG_DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$TG_DAEMON_PID" 2>/dev/null
	wait "$TG_DAEMON_PID" 2>/dev/null
	TG_DAEMON_PID=
	rm -f "$TG_TMP/daemon.pid"
}

# Kill the daemon hard (no cleanup by it): pins must stay.
crash_daemon() {
	[ -n "$TG_DAEMON_PID" ] || return 0
	kill -KILL "$TG_DAEMON_PID" 2>/dev/null
	wait "$TG_DAEMON_PID" 2>/dev/null
	TG_DAEMON_PID=
	rm -f "$TG_TMP/daemon.pid"
}

# start_or_bail POLICY [ARGS]: no daemon = nothing below can be observed.
start_or_bail() {
	start_daemon "$@" || bail "toolguardd could not start with $1 (see diag lines above)"
}

# ---------- running things and observing the result ----------

# run_cmd CMD ARGS...: run in the background (so its pid is known: the exec
# keeps the pid), wait. Sets RUN_RC, RUN_PID, RUN_OUT, RUN_ERR (file names).
run_seq=0
run_cmd() {
	run_seq=$((run_seq + 1))
	RUN_OUT=$TG_TMP/run$run_seq.out
	RUN_ERR=$TG_TMP/run$run_seq.err
	timeout -k 5 60 "$@" >"$RUN_OUT" 2>"$RUN_ERR" </dev/null &
	RUN_PID=$!
	wait "$RUN_PID" 2>/dev/null # no "Killed" job notice
	RUN_RC=$?
}
# timeout(1) forks: for the pid of the exec itself, run without it (exec fails fast or the program is quick).
run_direct() {
	run_seq=$((run_seq + 1))
	RUN_OUT=$TG_TMP/run$run_seq.out
	RUN_ERR=$TG_TMP/run$run_seq.err
	"$@" >"$RUN_OUT" 2>"$RUN_ERR" </dev/null &
	RUN_PID=$!
	wait "$RUN_PID" 2>/dev/null # no "Killed" job notice
	RUN_RC=$?
}

# How a refused exec looks to the user: killed (tracepoint, 137) or EPERM (lsm, 126).
is_refused_status() {
	case "$TG_BACKEND:$1" in
	tracepoint:137 | lsm:126 | unknown:137 | unknown:126) return 0 ;;
	esac
	return 1
}

# events_find [KEY=VALUE...]: print event lines (JSON) where each top-level key
# equals the value (compared as strings). Waits up to EVENT_WAIT seconds (2).
events_find() {
	local i
	for ((i = 0; i < ${EVENT_WAIT:-2} * 10; i++)); do
		_events_grep "$@" && return 0
		sleep 0.1
	done
	_events_grep "$@"
}
_events_grep() {
	[ -s "$TG_EVENTS" ] || return 1
	"$PYTHON" - "$TG_EVENTS" "$@" <<'PY'
import json, sys
path, conds = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
found = False
with open(path, errors="replace") as f:
    for line in f:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if all(str(ev.get(k)) == v for k, v in conds):
            print(line.rstrip())
            found = True
sys.exit(0 if found else 1)
PY
}

# Reference matcher: `toolctl test` on the same policy and command line.
# Sets REF_RC (1 = blocked) and REF_OUT. Returns 2 when toolctl is not built.
ref_test() { # POLICY [toolctl test options...] -- PROG ARGS
	local policy=$1
	shift
	[ -x "$TOOLCTL" ] || return 2
	REF_OUT=$(timeout 30 "$TOOLCTL" test --policy "$policy" "$@" 2>&1)
	REF_RC=$?
	# (exit 1 is also "blocked": keep a sanitizer report for tg_san_check)
	[ "$TG_SANITIZED" = 1 ] && grep -qE "$TG_SAN_RE" <<<"$REF_OUT" && echo "$REF_OUT" >"$TG_TMP/san/toolctl-test.$RANDOM"
	return 0
}

# ---------- assertions a user would make ----------

# Options before "--": --user U = run as U (setpriv execs in place, so the pid
# stays) and ask toolctl test --user U. Sets refopts, runpfx, cmd (caller's locals).
_parse_opts() {
	refopts=() runpfx=() cmd=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		case $1 in
		--user)
			refopts+=(--user "$2")
			runpfx=(setpriv --reuid="$(id -u "$2")" --regid="$(id -g "$2")" --clear-groups --)
			shift 2
			;;
		*) bail "expect_*: unknown option $1" ;;
		esac
	done
	shift
	cmd=("$@")
}

# expect_blocked DESC TOOL POLICY [--user U] -- CMD ARGS
# 4 TAP lines: refused status, nothing printed, event recorded, toolctl agrees.
expect_blocked() {
	local desc=$1 tool=$2 policy=$3
	local -a refopts runpfx cmd
	shift 3
	_parse_opts "$@"
	run_direct ${runpfx[@]+"${runpfx[@]}"} "${cmd[@]}"
	# lsm: the shell that ran it says why, as it would in a terminal
	if is_refused_status "$RUN_RC" && { [ "$RUN_RC" != 126 ] || grep -q "Operation not permitted" "$RUN_ERR"; }; then
		pass "$desc: refused (exit $RUN_RC, backend $TG_BACKEND)"
	else
		fail "$desc: refused (got exit $RUN_RC, want 137 killed / 126 \"Operation not permitted\")"
		diag_file "$RUN_OUT" 5
		diag_file "$RUN_ERR" 5
	fi
	if [ ! -s "$RUN_OUT" ]; then
		pass "$desc: printed nothing"
	else
		fail "$desc: printed nothing (it printed: $(head -c 200 "$RUN_OUT"))"
	fi
	local ev
	ev=$(events_find kind=exec verdict=blocked tool="$tool" pid="$RUN_PID" | head -n1)
	if [ -n "$ev" ]; then
		pass "$desc: event {kind exec, verdict blocked, tool $tool, pid $RUN_PID}"
		EV_MATCHER=$(json_field matcher <<<"$ev")
	else
		fail "$desc: event {kind exec, verdict blocked, tool $tool, pid $RUN_PID}"
		diag_file "$TG_EVENTS" 5
		EV_MATCHER=
	fi
	ref_agrees "$desc" 1 "$tool" "$policy" ${refopts[@]+"${refopts[@]}"} -- "${cmd[@]}"
	EV_MATCHER=
}

# json_field KEY < one JSON object: print the value of a top-level key.
json_field() {
	"$PYTHON" -c 'import json, sys; v = json.loads(sys.stdin.read()).get(sys.argv[1]); print("" if v is None else v)' "$1"
}

# expect_runs DESC OUTPUT_REGEX POLICY [--user U] -- CMD ARGS
# 3 TAP lines: exit 0, expected output, toolctl agrees (not blocked).
expect_runs() {
	local desc=$1 want=$2 policy=$3
	local -a refopts runpfx cmd
	shift 3
	_parse_opts "$@"
	run_cmd ${runpfx[@]+"${runpfx[@]}"} "${cmd[@]}"
	if [ "$RUN_RC" -eq 0 ]; then
		pass "$desc: runs (exit 0)"
	else
		fail "$desc: runs (got exit $RUN_RC)"
		diag_file "$RUN_ERR" 5
	fi
	if grep -qE -- "$want" "$RUN_OUT"; then
		pass "$desc: prints /$want/ ($(head -n1 "$RUN_OUT" | head -c 80))"
	else
		fail "$desc: prints /$want/ (got: $(head -c 200 "$RUN_OUT"))"
	fi
	ref_agrees "$desc" 0 "" "$policy" ${refopts[@]+"${refopts[@]}"} -- "${cmd[@]}"
}

# ref_agrees DESC WANT_RC TOOL POLICY [opts] -- CMD ARGS
ref_agrees() {
	local desc=$1 want=$2 tool=$3 policy=$4
	shift 4
	if ! ref_test "$policy" "$@"; then
		skip "$desc: toolctl test agrees" "cli/toolctl not built"
		return
	fi
	# Same verdict, same tool, and (when the kernel reported one) the same matcher.
	local ref_line ref_matcher
	ref_line=$(head -n1 <<<"$REF_OUT")
	ref_matcher=$(sed -n 's/^[a-z-]*: .* via \([^ ]*\).*/\1/p' <<<"$ref_line")
	if [ "$REF_RC" -eq "$want" ] && { [ -z "$tool" ] || grep -q -- "^[a-z-]*: $tool " <<<"$ref_line"; } &&
		{ [ -z "${EV_MATCHER:-}" ] || [ "$EV_MATCHER" = "$ref_matcher" ]; }; then
		pass "$desc: toolctl test agrees (exit $REF_RC: $(head -c 100 <<<"$ref_line")${EV_MATCHER:+; kernel via $EV_MATCHER})"
	else
		fail "$desc: toolctl test agrees (want exit $want${tool:+ naming $tool}${EV_MATCHER:+ via $EV_MATCHER}, got $REF_RC: $(head -n2 <<<"$REF_OUT" | tr '\n' ' ' | head -c 200))"
	fi
}

# RFC 3339 UTC for now + N seconds.
rfc3339_in() { date -u -d "@$(($(date +%s) + $1))" +%Y-%m-%dT%H:%M:%SZ; }

# A private copy of a small system binary under the temp dir (to be banned by
# path; never ban a system binary itself, never by sha256: the copy has the
# same content as the original).
make_test_binary() { # NAME -> prints path
	mkdir -p "$TG_TMP/bin"
	cp /bin/echo "$TG_TMP/bin/$1" && chmod 755 "$TG_TMP/bin/$1" && echo "$TG_TMP/bin/$1"
}

# ---------- TLS servers: a test CA and nginx ----------

# make_test_ca DIR CN SAN: a CA made for this test (DIR/ca.pem) and a server
# certificate it signed (DIR/srv.pem, DIR/srv.key; P-256, valid 2 days) for
# CN and SAN ("DNS:a.test,IP:127.77.9.1"); bails when openssl fails.
make_test_ca() {
	mkdir -p "$1" || bail "cannot create $1"
	(
		cd "$1" || exit 1
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
			-days 2 -subj /CN=toolguard-test-ca &&
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr \
				-subj "/CN=$2" &&
			printf 'subjectAltName=%s\n' "$3" >srv.ext &&
			openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 \
				-extfile srv.ext
	) >"$TG_TMP/openssl.log" 2>&1 || { diag_file "$TG_TMP/openssl.log" 20; bail "openssl could not make the test CA in $1"; }
	# nginx workers and unprivileged clients read them
	chmod 755 "$1" && chmod 644 "$1"/*
}

# nginx_conf FILE HTTP-LINES SERVER-LINES: a single-process foreground nginx
# whose pid, logs and temp files live beside FILE; HTTP-LINES go into http{},
# SERVER-LINES into its one server{} (listen, certificates, locations).
nginx_conf() {
	local d=${1%/*}
	cat >"$1" <<NGINX
daemon off;
master_process off;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 64; }
http {
$2
	client_body_temp_path $d/body;
	proxy_temp_path $d/proxy;
	fastcgi_temp_path $d/fastcgi;
	uwsgi_temp_path $d/uwsgi;
	scgi_temp_path $d/scgi;
	server {
$3
	}
}
NGINX
}

# start_nginx_tls ADDR HTTP-LINES SERVER-LINES: nginx (configured by
# nginx_conf in $TG_TMP/nginx) listening with TLS on ADDR at a random free
# port; sets PORT and NGINX_PID once it answers, bails after 5 ports.
start_nginx_tls() {
	local try i
	mkdir -p "$TG_TMP/nginx"
	for try in 1 2 3 4 5; do
		PORT=$((20000 + RANDOM % 20000))
		nginx_conf "$TG_TMP/nginx/nginx.conf" "$2" "		listen $1:$PORT ssl;
$3"
		: >"$TG_TMP/nginx/error.log"
		nginx -p "$TG_TMP/nginx" -c "$TG_TMP/nginx/nginx.conf" 9>&- &
		NGINX_PID=$!
		bg_pid "$NGINX_PID"
		for ((i = 0; i < 30; i++)); do
			curl -sk -o /dev/null "https://$1:$PORT/" 2>/dev/null && break
			kill -0 "$NGINX_PID" 2>/dev/null || break
			sleep 0.1
		done
		# nginx exits at once when the port was taken: try another
		kill -0 "$NGINX_PID" 2>/dev/null && return 0
	done
	diag_file "$TG_TMP/nginx/error.log"
	bail "nginx did not start on $1 (tried 5 random ports)"
}
