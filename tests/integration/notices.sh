#!/bin/bash
# Notices: a refused launch inside a real pseudo-terminal shows the notice on
# that terminal (tool, message, since when, alternative, URL, policy) once per
# minute, with the policy's control characters neutralised; a terminal of
# another user is not written to; a tool inside its warn_before window runs
# and warns once; the desktop notice reaches a session bus (a test
# dbus-daemon + tests/integration/notify_server owning
# org.freedesktop.Notifications) from the user's uid; no session bus: the
# launch is still refused and the daemon goes on. A click on the notice's
# action (the test server plays the user) opens the policy URL as the user
# with the configured notices.opener (a stand-in recording its uid, argument
# and the session's DISPLAY); a notice closed unclicked opens nothing; the
# waiting child ends either way.
# TOOLGUARD_TEST_USER_BUS_DIR (test only) points the daemon's per-user bus
# path /run/user/UID/bus at DIR/UID/bus.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_bpf
require_cmd useradd userdel setpriv dbus-daemon
NOTIFY_SERVER=$top_builddir/tests/integration/notify_server
[ -x "$NOTIFY_SERVER" ] || skip_all "$NOTIFY_SERVER not built (make check builds it)"
setup_tmp

# The daemon's configuration with notices on (lib.sh's turns them off).
write_config() {
	cat >"$1" <<EOF
mode: ${3:-enforce}
policy:
  file: $2
  cache: $TG_TMP/policy-cache.yaml
notices:
  tty: true
  desktop: true
  interval: 1m
  opener: $TG_TMP/bin/fake-opener
events:
  log: $TG_EVENTS
control:
  socket: $TG_TMP/control.sock
EOF
}

tuser=tgtest-notice
id -u "$tuser" >/dev/null 2>&1 || useradd -M -r -s /usr/sbin/nologin "$tuser" || bail "useradd $tuser failed"
on_cleanup "userdel $tuser"
tuid=$(id -u "$tuser")
tgid=$(id -g "$tuser")
asuser=(setpriv --reuid="$tuid" --regid="$tgid" --clear-groups --)

bin=$(make_test_binary tg-noticed-tool)
bin2=$(make_test_binary tg-nobus-tool)
wbin=$(make_test_binary tg-warned-tool)
bin3=$(make_test_binary tg-noserver-tool)
bin4=$(make_test_binary tg-stale-tool)
bin5=$(make_test_binary tg-closed-tool)
# The stand-in for xdg-open: who ran it, with what, in which session.
opened=$TG_TMP/opened.log
cat >"$TG_TMP/bin/fake-opener" <<EOF
#!/bin/sh
printf 'uid=%s argc=%s url=%s display=%s wayland=%s bus=%s\\n' "\$(id -u)" "\$#" "\$1" "\$DISPLAY" "\$WAYLAND_DISPLAY" "\$DBUS_SESSION_BUS_ADDRESS" >>"$opened"
EOF
chmod 755 "$TG_TMP/bin/fake-opener"
: >"$opened"
# 2 days and an hour from now: "in 2 days"
warn_eff=$(rfc3339_in $((2 * 86400 + 3600)))
pol=$TG_TMP/policy.yaml
cat >"$pol" <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: it-notices
  serial: 7
defaults:
  notice:
    url: https://intranet.example/ai-tools
tools:
  - id: noticed-tool
    name: Noticed Tool
    action: block
    effective: "2026-01-01T00:00:00+08:00"
    alternative: Qwen Code
    message: "Noticed Tool is not approved\e[31m here.\a Use Qwen Code."
    match:
      executables:
        - path: "$bin"
  - id: nobus-tool
    name: No Bus Tool
    action: block
    match:
      executables:
        - path: "$bin2"
  - id: noserver-tool
    name: No Server Tool
    action: block
    match:
      executables:
        - path: "$bin3"
  - id: closed-tool
    name: Closed Tool
    action: block
    match:
      executables:
        - path: "$bin5"
  - id: noticed-host
    name: Noticed Host
    action: block
    alternative: Qwen Code
    match:
      hosts:
        - 127.77.6.1/32
  - id: stale-tool
    name: Stale Bus Tool
    action: block
    match:
      executables:
        - path: "$bin4"
  - id: warned-tool
    name: Warned Tool
    action: block
    effective: $warn_eff
    warn_before: 7d
    alternative: Qwen Code
    match:
      executables:
        - path: "$wbin"
EOF

# pty_run OUT WAIT CMD...: run CMD (a shell line) in a new session whose
# controlling terminal is a fresh pty opened by this (root) test; keep the
# terminal open and record everything written to it until WAIT seconds after
# CMD exits. Prints the pty's name.
cat >"$TG_TMP/ptyrun.py" <<'PY'
import fcntl, os, select, sys, termios, time
out, wait, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
master, slave = os.openpty()
print(os.ttyname(slave), flush=True)
pid = os.fork()
if pid == 0:
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(master)
    os.execvp(cmd[0], cmd)
data = b""
deadline = None
while True:
    if deadline is None:
        r = os.waitpid(pid, os.WNOHANG)
        if r[0] == pid:
            deadline = time.time() + wait
    elif time.time() >= deadline:
        break
    rl, _, _ = select.select([master], [], [], 0.1)
    if rl:
        try:
            data += os.read(master, 65536)
        except OSError:
            break
with open(out, "wb") as f:
    f.write(data)
PY
pty_run() { # OUT WAIT CMD...
	timeout -k 5 60 "$PYTHON" "$TG_TMP/ptyrun.py" "$@"
}
notices_in() { grep -c '\[toolguard\]' "$1"; }

export TOOLGUARD_TEST_USER_BUS_DIR=$TG_TMP/userbus
start_or_bail "$pol"

# ---------- terminal: blocked launch, twice within the minute ----------
# pty_run records the terminal until WAIT s after the session ends, then
# closes it: a daemon slowed by make -j2 check once wrote the first notice
# after a 2 s WAIT (3 s after the launch), so both sessions here get 6 s.
pts=$(pty_run "$TG_TMP/pty1.out" 6 bash -c "$bin first; echo rc=\$?; sleep 1; $bin second; echo rc=\$?")
diag "terminal $pts"
out=$TG_TMP/pty1.out
grep -q 'rc=137\|rc=126' "$out"
ok $? "blocked launch in a pty is refused ($(grep -o 'rc=[0-9]*' "$out" | tr '\n' ' '))"
grep -qF '[toolguard] Noticed Tool is blocked on this machine (since 2026-01-01 00:00 +08:00).' "$out"
ok $? "the terminal shows the notice: tool name and since when"
grep -qF "Program: $bin" "$out"
ok $? "the notice says what was blocked ($bin)"
grep -qF 'Use instead: Qwen Code — https://intranet.example/ai-tools' "$out"
ok $? "the notice gives the alternative and the URL"
grep -qF '(policy it-notices, serial 7)' "$out"
ok $? "the notice names the policy and its serial"
grep -qF 'Noticed Tool is not approved?[31m here.? Use Qwen Code.' "$out" && ! grep -q $'[\x1b\x07]' "$out"
ok $? "control characters of the policy message are neutralised (no ESC/BEL reach the terminal)"
n=$(notices_in "$out")
[ "$n" = 1 ]
ok $? "a second launch within the minute does not repeat the notice ($n notices)"
if [ "$(notices_in "$out")" != 1 ]; then
	sed 's/^/#   /' "$out" | cat -v
fi
evs=$(events_find kind=exec verdict=blocked tool=noticed-tool uid=0)
grep -q '"notified":true' <<<"$evs" && grep -q '"notified":false' <<<"$evs"
ok $? "events say whether the user was told (first notified, second not)"
events_find kind=exec verdict=blocked tool=noticed-tool tty="${pts#/dev/}" >/dev/null
ok $? "events name the terminal as ps and who do (${pts#/dev/}, not the kernel's ${pts#/dev/pts/}pts form)"

# ---------- terminal: a blocked connection ----------
# (the terminal of a connecting process is read from /proc: it must still be
# there, as a tool that retries or reports the failure is; 3 s, as one
# second was once too short for a daemon busy on a loaded CI machine)
pts=$(pty_run "$TG_TMP/pty4.out" 1 bash -c "exec 3<>/dev/tcp/127.77.6.1/9; echo rc=\$?; sleep 3; :")
out=$TG_TMP/pty4.out
grep -q 'Operation not permitted' "$out"
ok $? "a connection to a banned address from a pty is refused"
grep -qF '[toolguard] Noticed Host is blocked on this machine.' "$out" &&
	grep -qF 'Connection: 127.77.6.1 port 9 by bash' "$out"
ok $? "the terminal of the connecting process shows the notice"
if [ "$(notices_in "$out")" != 1 ]; then sed 's/^/#   /' "$out" | cat -v; fi
events_find kind=connect verdict=blocked tool=noticed-host tty="${pts#/dev/}" notified=True >/dev/null
ok $? "the connect event names the terminal (${pts#/dev/}) and says notified true"
events_find kind=connect verdict=blocked tool=noticed-host "argv=['bash', '-c', 'exec 3<>/dev/tcp/127.77.6.1/9; echo rc=\$?; sleep 3; :']" >/dev/null
rc=$?
ok $rc "the connect event has the process's argv"
[ $rc = 0 ] || diag "$(events_find kind=connect tool=noticed-host)"

# ---------- terminal of another user: not written to ----------
pts=$(pty_run "$TG_TMP/pty2.out" 2 "${asuser[@]}" bash -c "$bin2 other; echo rc=\$?")
out=$TG_TMP/pty2.out
grep -q 'rc=137\|rc=126' "$out"
ok $? "as $tuser in root's pty: refused ($(grep -o 'rc=[0-9]*' "$out"))"
n=$(notices_in "$out")
[ "$n" = 0 ]
ok $? "a terminal owned by another user is not written to ($n notices)"
events_find kind=exec verdict=blocked tool=nobus-tool uid="$tuid" notified=False >/dev/null
ok $? "that event says notified false (no terminal of the user, no session bus)"
kill -0 "$TG_DAEMON_PID" 2>/dev/null
ok $? "no session bus for $tuser: the daemon keeps running"

# ---------- warning before the cutoff ----------
pts=$(pty_run "$TG_TMP/pty3.out" 6 bash -c "$wbin warned-1; echo rc=\$?; $wbin warned-2; echo rc=\$?")
out=$TG_TMP/pty3.out
grep -q '^warned-1' "$out" && grep -q '^warned-2' "$out" && [ "$(grep -c 'rc=0' "$out")" = 2 ]
ok $? "a tool effective in 2 days runs"
grep -qE '\[toolguard\] Warned Tool will be blocked on this machine from [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}(:[0-9]{2})? [+-][0-9]{2}:[0-9]{2}, in 2 days\. Use Qwen Code instead\.' "$out"
ok $? "the terminal shows the warning: from when, in 2 days, the alternative"
n=$(notices_in "$out")
[ "$n" = 1 ]
ok $? "the warning is given once per user per tool per day ($n)"
if [ "$n" != 1 ]; then sed 's/^/#   /' "$out" | cat -v; fi
events_find kind=exec verdict=warned tool=warned-tool notified=True >/dev/null
ok $? "the warned event says notified true"

# ---------- desktop ----------
busdir=$TG_TMP/userbus/$tuid
mkdir -p "$busdir" && chown "$tuser" "$busdir" && chmod 700 "$busdir" && chmod 755 "$TG_TMP/userbus"
dbus_pid=$("${asuser[@]}" dbus-daemon --session --address="unix:path=$busdir/bus" --fork --print-pid 2>"$TG_TMP/dbus.err")
if [ -n "$dbus_pid" ]; then
	on_cleanup "kill $dbus_pid"
	pass "session dbus-daemon for $tuser (pid $dbus_pid)"
else
	fail "session dbus-daemon for $tuser"
	diag_file "$TG_TMP/dbus.err"
fi
notes=$TG_TMP/notifications.log
: >"$notes"
chown "$tuser" "$notes" "$opened"
"${asuser[@]}" "$NOTIFY_SERVER" "unix:path=$busdir/bus" "$notes" click >"$TG_TMP/server.out" 2>&1 &
bg_pid $!
for ((i = 0; i < 50; i++)); do grep -q ready "$TG_TMP/server.out" && break; sleep 0.1; done
grep -q ready "$TG_TMP/server.out"
ok $? "a notification server owns org.freedesktop.Notifications on that bus"

# From a shell of the user's graphical session (its environment names the display).
run_direct "${asuser[@]}" env DISPLAY=:77 WAYLAND_DISPLAY=wayland-77 bash -c "$bin desktop; rc=\$?; sleep 1; exit \$rc"
is_refused_status "$RUN_RC"
ok $? "as $tuser without a terminal: refused (exit $RUN_RC)"
for ((i = 0; i < 40; i++)); do [ -s "$notes" ] && break; sleep 0.1; done
line=$(head -n1 "$notes")
diag "Notify: $line"
grep -q "^uid=$tuid " <<<"$line"
ok $? "the Notify call came from $tuser's uid $tuid (not root)"
grep -qF 'app=toolguard icon=dialog-warning summary=Noticed Tool is blocked on this machine (since 2026-01-01 00:00 +08:00).' <<<"$line"
ok $? "Notify summary names the tool and since when"
grep -qF 'Noticed Tool is not approved?[31m here.? Use Qwen Code.' <<<"$line" &&
	grep -qF 'Use instead: Qwen Code — https://intranet.example/ai-tools' <<<"$line" &&
	grep -qF '(policy it-notices, serial 7)' <<<"$line"
ok $? "Notify body: message (neutralised), alternative, URL, policy"
grep -q 'actions=default,Open policy urgency=2 timeout=-1' <<<"$line"
ok $? "Notify offers the policy as an action (server has 'actions'), critical urgency"
events_find kind=exec verdict=blocked tool=noticed-tool ppid="$RUN_PID" notified=True >/dev/null
ok $? "the desktop-notified event says notified true"

# The server "clicks" the action: the link opens as the user, in that session.
for ((i = 0; i < 50; i++)); do [ -s "$opened" ] && break; sleep 0.1; done
oline=$(head -n1 "$opened")
diag "opener: $oline"
grep -qF "uid=$tuid argc=1 url=https://intranet.example/ai-tools " <<<"$oline"
ok $? "a click on the action runs the opener as $tuser (uid $tuid) with the policy URL as its only argument"
grep -qF "display=:77 wayland=wayland-77 bus=unix:path=$busdir/bus" <<<"$oline"
ok $? "the opener gets the session's DISPLAY/WAYLAND_DISPLAY and the user's bus"
# The desktop child has toolguardd's name; it must not linger after the click.
child_gone() {
	local i
	for ((i = 0; i < 30; i++)); do
		pgrep -u "$tuid" -x toolguardd >/dev/null || return 0
		sleep 0.1
	done
	return 1
}
child_gone
ok $? "the child waiting for the click is gone once the link is opened"

run_direct "${asuser[@]}" "$bin" again
sleep 1
n=$(wc -l <"$notes")
[ "$n" = 1 ]
ok $? "a second launch within the minute: no second desktop notice ($n)"

# Another tool: its notice is dismissed (NotificationClosed), nothing is opened.
run_direct "${asuser[@]}" "$bin5" closed
for ((i = 0; i < 40; i++)); do grep -q NotificationClosed "$TG_TMP/server.out" && break; sleep 0.1; done
grep -q NotificationClosed "$TG_TMP/server.out" && child_gone
ok $? "a notice closed without a click: the waiting child ends"
sleep 0.3
n=$(wc -l <"$opened")
[ "$n" = 1 ]
ok $? "a notice closed without a click opens nothing ($n openings in all)"

# A bus without a notification server: Notify fails, nothing else happens.
kill "$(cat "$TG_TMP/bg.pids" | tail -n1)" 2>/dev/null
sleep 0.3
expect_blocked "session bus without a notification server" noserver-tool "$pol" --user "$tuser" -- "$bin3" noserver
# The session bus is gone, its socket left behind: still refused, daemon fine.
kill "$dbus_pid" 2>/dev/null
for ((i = 0; i < 20; i++)); do kill -0 "$dbus_pid" 2>/dev/null || break; sleep 0.1; done
expect_blocked "stale session bus socket" stale-tool "$pol" --user "$tuser" -- "$bin4" stale
sleep 2.5 # the desktop child gives up within 2 s
kill -0 "$TG_DAEMON_PID" 2>/dev/null
ok $? "the daemon keeps running after notices that could not be delivered"

# The same counters in toolctl status, for people and machines.
st=$(timeout 20 "$TOOLCTL" --socket "$TG_TMP/control.sock" status 2>&1)
grep -qE '^ *terminal +3 sent, 2 suppressed, 0 failed$' <<<"$st" &&
	grep -qE '^ *desktop +2 sent, 3 suppressed, 1 failed, 1 links opened$' <<<"$st" &&
	grep -qE '^ *warnings +1 sent$' <<<"$st"
rc=$?
ok $rc "toolctl status counts notices sent, suppressed, failed and links opened"
[ $rc = 0 ] || diag "$(grep -A4 -i 'notices' <<<"$st")"
timeout 20 "$TOOLCTL" --socket "$TG_TMP/control.sock" status --json |
	"$PYTHON" -c 'import json,sys; n=json.load(sys.stdin)["notices"]; sys.exit(0 if (n["tty_sent"], n["tty_suppressed"], n["desktop_sent"], n["desktop_opened"], n["warnings_sent"]) == (3, 2, 2, 1, 1) else 1)'
ok $? "toolctl status --json: notices.tty_sent 3, tty_suppressed 2, desktop_sent 2, desktop_opened 1, warnings_sent 1"

stop_daemon
# What was told, held back, or could not be told (counters for toolctl status).
summary=$(grep 'notices at exit' "$TG_DAEMON_LOG")
diag "$summary"
grep -q 'terminal 3 sent, 2 suppressed, 0 failed, 1 not the user.s terminal; desktop 2 sent, 3 suppressed, 1 failed, 5 no session bus, 1 links opened .0 could not be.; 1 warnings' <<<"$summary"
ok $? "notice counters: terminal sent/suppressed/not owner, desktop sent/suppressed/failed/no bus, warnings"
done_testing
