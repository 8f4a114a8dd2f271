#!/bin/bash
# toolguard system test: the Debian package under a real systemd (PID 1 in a
# systemd-nspawn container with a Debian bookworm rootfs).
#
# Installs the .deb (postinst enables and starts toolguard.service), then:
# start returns only when ready, a banned executable (the real Claude Code
# when cached) is killed, a banned destination is refused, 'systemctl reload'
# applies a new policy, 'systemctl kill -s KILL' is followed by a restart with
# the ban holding throughout, an upgrade keeps the ban with no gap, after a
# reboot the daemon is ready before sysinit.target, 'dpkg -r' unloads the
# programs and 'dpkg --purge' removes the rest.
#
# Safety: the exec tracepoint program is machine-wide, so the policy bans only
# paths under /opt/tg-nspawn (inside the container) and 127.77.9.0/24; it is
# in place before the package first starts the daemon (dpkg --force-confold).
# The container gets a bpffs instance of its own, unmounted at the end, which
# detaches everything still pinned there. Runs under the integration tests'
# lock and a timeout; about 30 s with the rootfs cached (+70 s to build it).
#
# Environment: TOOLGUARD_DEB (the .deb; default $top_builddir/packages/
# toolguard_*.deb, made by 'make deb'), TOOLGUARD_SKIP_SYSTEM_TESTS=1,
# TG_NSPAWN_CACHE (rootfs tarball cache dir, default /var/cache/toolguard-tests),
# TG_TOOLS_DIR (the real Claude Code, see tests/tools/fetch-ai-tools.sh).

skip() {
	echo "1..0 # SKIP $*"
	exit 0
}

[ "${TOOLGUARD_SKIP_SYSTEM_TESTS:-0}" = 1 ] && skip "TOOLGUARD_SKIP_SYSTEM_TESTS=1"
[ "${TOOLGUARD_SKIP_KERNEL_TESTS:-0}" = 1 ] && skip "TOOLGUARD_SKIP_KERNEL_TESTS=1"
[ "$(id -u)" = 0 ] || skip "needs root (systemd-nspawn, BPF)"

# One kernel test at a time on a machine, whole run bounded in time.
TG_LOCK=/run/lock/toolguard-integration.lock
if [ -z "${TG_NSPAWN_UNDER_TIMEOUT:-}" ]; then
	export TG_NSPAWN_UNDER_TIMEOUT=1
	command -v flock >/dev/null || skip "flock missing (util-linux)"
	mkdir -p "${TG_LOCK%/*}" && exec 9>>"$TG_LOCK" || skip "cannot open $TG_LOCK"
	flock -w 1800 9 || skip "another kernel test held $TG_LOCK for 30 min"
	exec timeout -k 20 "${TG_NSPAWN_TIMEOUT:-420}" bash "$0" "$@"
fi

set -u
export LC_ALL=C
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/system/lib.sh"
MACHINE=tg-nspawn-$$

for c in systemd-nspawn nsenter mountpoint; do
	command -v "$c" >/dev/null || skip "$c missing (apt-get install systemd-container util-linux)"
done
[ -r /sys/kernel/btf/vmlinux ] || skip "kernel without BTF (/sys/kernel/btf/vmlinux)"
[ -d /sys/fs/cgroup/unified ] || [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || skip "no cgroup v2 hierarchy"

sys_find_deb
for p in $(pgrep -x toolguardd); do
	skip "a toolguardd (pid $p) is already running on this machine: stop it first"
done

tap_n=0
tap_failed=0
ok() { # ok COND-STATUS DESCRIPTION
	tap_n=$((tap_n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}
skip_one() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $1 # SKIP $2"
}
diag() { echo "# $*" | tr '\n' ' '; echo; }

WORK=
BPFFS=
NSPAWN_PID=
LEADER=
CG=
cleanup() {
	if [ -n "$LEADER" ] && kill -0 "$LEADER" 2>/dev/null; then
		nsenter -t "$LEADER" -a systemctl poweroff --no-block >/dev/null 2>&1
	fi
	if [ -n "$NSPAWN_PID" ]; then
		for _ in $(seq 1 100); do
			kill -0 "$NSPAWN_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$NSPAWN_PID" 2>/dev/null
		wait "$NSPAWN_PID" 2>/dev/null
	fi
	# A container whose nspawn died: killing its init ends its PID namespace.
	[ -n "$LEADER" ] && grep -qs "/$CG/" "/proc/$LEADER/cgroup" && kill -KILL "$LEADER" && sleep 0.5
	if [ -n "$CG" ]; then
		for h in unified systemd; do
			[ -d "/sys/fs/cgroup/$h/$CG" ] || continue
			find "/sys/fs/cgroup/$h/$CG" -depth -type d -exec rmdir {} + 2>/dev/null
		done
	fi
	if [ -n "$BPFFS" ]; then
		umount "$BPFFS" 2>/dev/null || umount -l "$BPFFS"
	fi
	[ -n "$WORK" ] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- rootfs (cached) -------------------------------------------------------
sys_rootfs

WORK=$(mktemp -d /var/tmp/tg-nspawn.XXXXXX)
ROOT=$WORK/root
mkdir "$ROOT" && tar -xf "$ROOTFS_TAR" -C "$ROOT" || { echo "1..1"; echo "not ok 1 - unpack $ROOTFS_TAR"; exit 1; }

# Banned and allowed executables inside the container. The real Claude Code
# when the cache has it, else a copy of /bin/true under the same layout.
CLAUDE_SRC=$TG_TOOLS_DIR/node_modules/@anthropic-ai/claude-code/bin/claude.exe
BANNED=/opt/tg-nspawn/node_modules/@anthropic-ai/claude-code/bin/claude.exe
mkdir -p "$ROOT${BANNED%/*}" "$ROOT/opt/tg-nspawn/other" "$ROOT/opt/tg-allowed"
if [ -x "$CLAUDE_SRC" ]; then
	cp "$CLAUDE_SRC" "$ROOT$BANNED"
	REAL_CLAUDE=1
else
	cp "$ROOT/bin/true" "$ROOT$BANNED"
	REAL_CLAUDE=0
fi
cp "$ROOT/bin/true" "$ROOT/opt/tg-nspawn/other/tool2"
cp "$ROOT/bin/true" "$ROOT/opt/tg-allowed/fine"
ln -sf "$BANNED" "$ROOT/usr/local/bin/claude"

write_policy() { # write_policy SERIAL EXTRA-EXECUTABLE-LINES
	cat >"$ROOT/etc/toolguard/policy.yaml.new" <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: nspawn-test
  serial: $1
defaults:
  action: block
tools:
  - id: claude-code
    name: Claude Code
    action: block
    message: Claude Code is not approved here (nspawn test).
    match:
      executables:
        - path: "/opt/tg-nspawn/node_modules/**"
$2
      hosts:
        - 127.77.9.0/24
EOF
	mv "$ROOT/etc/toolguard/policy.yaml.new" "$ROOT/etc/toolguard/policy.yaml"
}
# The administrator's policy is there before the package: dpkg keeps it.
mkdir -p "$ROOT/etc/toolguard"
write_policy 1 ""
cp "$DEB" "$ROOT/root/toolguard.deb"

# An upgrade: the same package with a higher version.
mkdir "$WORK/up"
dpkg-deb -R "$DEB" "$WORK/up/pkg" &&
	sed -i 's/^Version: \(.*\)$/Version: \1+up1/' "$WORK/up/pkg/DEBIAN/control" &&
	dpkg-deb -b "$WORK/up/pkg" "$ROOT/root/toolguard-up.deb" >/dev/null ||
	diag "cannot make the upgrade package"

# --- boot ------------------------------------------------------------------
# nspawn from its own cgroup, else it litters the host's root cgroup.
CG=tg-nspawn-$$
for h in unified systemd; do
	[ -d "/sys/fs/cgroup/$h" ] && mkdir -p "/sys/fs/cgroup/$h/$CG"
done
# PID 1 mounts bpffs on a real machine, but nspawn's /sys has no fs/bpf: give
# the container a bpffs instance of its own (a new mount is a new instance;
# unmounting it at the end detaches whatever is still pinned in it).
mkdir "$WORK/bpffs" && mount -t bpf -o mode=0700 bpf "$WORK/bpffs" && BPFFS=$WORK/bpffs ||
	{ echo "1..1"; echo "not ok 1 - mount a bpffs instance for the container"; exit 1; }

boot() { # boot: start the container, wait until its systemd is up; sets LEADER, state
	LEADER=
	(
		for h in unified systemd; do
			[ -d "/sys/fs/cgroup/$h/$CG" ] && echo $BASHPID >"/sys/fs/cgroup/$h/$CG/cgroup.procs"
		done
		SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 exec systemd-nspawn -q -b -D "$ROOT" -M "$MACHINE" \
			--register=no --keep-unit --console=passive --capability=all \
			--system-call-filter='bpf perf_event_open' --private-network \
			--bind="$BPFFS:/sys/fs/bpf"
	) >>"$WORK/console.log" 2>&1 &
	NSPAWN_PID=$!
	for _ in $(seq 1 300); do
		for n in $(pgrep -f -- "systemd-nspawn .*-M $MACHINE "); do
			LEADER=$(pgrep -P "$n" -x systemd | head -n1)
			[ -n "$LEADER" ] && break
		done
		[ -n "$LEADER" ] && break
		kill -0 "$NSPAWN_PID" 2>/dev/null || break
		sleep 0.1
	done
	# Until PID 1 answers on its private socket, systemctl prints nothing.
	state=
	for _ in $(seq 1 120); do
		[ -n "$LEADER" ] || break
		state=$(timeout 60 nsenter -t "$LEADER" -a systemctl is-system-running --wait 2>/dev/null)
		case $state in running | degraded) break ;; esac
		sleep 0.5
	done
}
shutdown_ct() {
	[ -n "$LEADER" ] && nsenter -t "$LEADER" -a systemctl poweroff --no-block >/dev/null 2>&1
	for _ in $(seq 1 150); do
		kill -0 "$NSPAWN_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$NSPAWN_PID" 2>/dev/null
	wait "$NSPAWN_PID" 2>/dev/null
	[ -n "$LEADER" ] && grep -qs "/$CG/" "/proc/$LEADER/cgroup" && kill -KILL "$LEADER"
	NSPAWN_PID=
	LEADER=
}
in_ct() { nsenter -t "$LEADER" -a "$@"; }
# Run as a unit of the container's systemd (its seccomp filter, its cgroup).
run_unit() { in_ct systemd-run --quiet --wait --pipe --collect "$@"; }

boot
echo "1..16"
case $state in
running | degraded) ok 0 "container booted (systemd $state)" ;;
*)
	ok 1 "container booted (state '${state:-none}')"
	sed 's/^/# /' "$WORK/console.log" | tail -n 20
	exit 1
	;;
esac

# --- install ---------------------------------------------------------------
t0=$(date +%s%N)
in_ct env DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold /root/toolguard.deb >"$WORK/dpkg.log" 2>&1
rc=$?
[ $rc = 0 ] || sed 's/^/# /' "$WORK/dpkg.log" | tail -n 20
ok $rc "dpkg -i installs the package"

active=$(in_ct systemctl is-active toolguard.service)
status=$(in_ct systemctl show -P StatusText toolguard.service)
enabled=$(in_ct systemctl is-enabled toolguard.service)
group=$(in_ct getent group toolguard-admin)
diag "after install: $active, $enabled, group '$group', status: $status ($((($(date +%s%N) - t0) / 1000000)) ms)"
[ "$active" = active ] && [ "$enabled" = enabled ] && [ -n "$group" ] && case $status in *"enforcing policy nspawn-test serial 1"*) true ;; *) false ;; esac
ok $? "postinst created the admin group, enabled and started the service on the admin's policy"
if [ "$active" != active ]; then
	in_ct journalctl -b -u toolguard.service --no-pager | tail -n 30 | sed 's/^/# /'
fi

# 'systemctl start' returns only once READY=1 was sent: the status text comes
# with READY=1, so it is there the moment start returns.
in_ct systemctl stop toolguard.service
in_ct systemctl start toolguard.service
status=$(in_ct systemctl show -P StatusText toolguard.service)
case $status in *"enforcing policy nspawn-test"*) rc=0 ;; *) rc=1 ;; esac
diag "right after start: $status"
ok $rc "systemctl start returns when the daemon is ready"

# The control socket (daemon/control.c): status answers and names the backend
# (no BPF LSM on this kernel: the tracepoint one).
out=$(in_ct toolctl status 2>&1)
rc=$?
be=$(echo "$out" | sed -n 's/^ *exec backend *\([a-z]*\).*/\1/p' | head -n1)
diag "toolctl status: exit $rc, exec backend '${be}'$([ $rc = 0 ] || echo ": $(echo "$out" | head -n1)")"
[ $rc = 0 ] && [ "$be" = tracepoint ]
ok $? "toolctl status answers (exec backend tracepoint)"

# --- enforcement -----------------------------------------------------------
banned_runs() { # exit status of the banned tool, run as a container unit
	run_unit "$@" >/dev/null 2>&1
}
banned_runs "$BANNED" --version
rc=$?
diag "banned exec ($([ $REAL_CLAUDE = 1 ] && echo "real Claude Code" || echo "stand-in")): exit status $rc"
[ $rc != 0 ]
ok $? "the banned tool is blocked inside the container"
run_unit /opt/tg-allowed/fine
ok $? "an allowed program still runs"

out=$(run_unit bash -c 'exec 3<>/dev/tcp/127.77.9.9/443' 2>&1)
diag "connect to 127.77.9.9:443: $out"
case $out in *"not permitted"*) rc=0 ;; *) rc=1 ;; esac
ok $rc "a banned destination is refused (EPERM)"

# --- reload ----------------------------------------------------------------
write_policy 2 '        - path: "/opt/tg-nspawn/other/*"'
in_ct systemctl reload toolguard.service
for _ in $(seq 1 50); do
	status=$(in_ct systemctl show -P StatusText toolguard.service)
	case $status in *"serial 2"*) break ;; esac
	sleep 0.1
done
run_unit /opt/tg-nspawn/other/tool2
rc=$?
diag "after reload: $status; tool2 exit status $rc"
case $status in *"serial 2"*) [ $rc != 0 ] ;; *) false ;; esac
ok $? "systemctl reload applies a new policy"

# --- crash: restarted by systemd, ban held meanwhile -----------------------
pid1=$(in_ct systemctl show -P MainPID toolguard.service)
in_ct systemctl kill -s KILL toolguard.service
gap_state=$(in_ct systemctl show -P ActiveState,SubState toolguard.service | tr '\n' '/')
banned_runs "$BANNED" --version
rc_gap=$?
for _ in $(seq 1 100); do
	pid2=$(in_ct systemctl show -P MainPID toolguard.service)
	[ "$(in_ct systemctl is-active toolguard.service)" = active ] && [ "$pid2" != 0 ] && [ "$pid2" != "$pid1" ] && break
	sleep 0.1
done
nrestarts=$(in_ct systemctl show -P NRestarts toolguard.service)
banned_runs "$BANNED" --version
rc_after=$?
diag "killed pid $pid1 (then $gap_state); new pid $pid2, NRestarts=$nrestarts; banned exec in the gap: $rc_gap, after: $rc_after"
[ "$pid2" != "$pid1" ] && [ "$pid2" != 0 ] && [ "${nrestarts:-0}" -ge 1 ] && [ $rc_gap != 0 ] && [ $rc_after != 0 ]
ok $? "systemctl kill -s KILL: systemd restarts it and the ban holds throughout"

# --- upgrade: no window ----------------------------------------------------
# A unit runs the banned tool in a loop during the upgrade and counts runs
# that were not blocked.
pid_before=$(in_ct systemctl show -P MainPID toolguard.service)
in_ct systemd-run --quiet --unit=tg-probe --collect bash -c \
	'n=0; t=0; while [ ! -e /run/tg-probe.stop ]; do t=$((t+1)); '"$BANNED"' --version >/dev/null 2>&1 && n=$((n+1)); sleep 0.05; done; echo "$n $t" >/run/tg-probe.count'
sleep 0.5
in_ct env DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold /root/toolguard-up.deb >"$WORK/dpkg-up.log" 2>&1
rc=$?
sleep 0.5
in_ct touch /run/tg-probe.stop
for _ in $(seq 1 50); do
	in_ct test -s /run/tg-probe.count && break
	sleep 0.1
done
read -r leaked tries < <(in_ct cat /run/tg-probe.count 2>/dev/null)
pid_after=$(in_ct systemctl show -P MainPID toolguard.service)
ver=$(in_ct dpkg-query -W -f '${Version}' toolguard)
active=$(in_ct systemctl is-active toolguard.service)
diag "upgrade to $ver: dpkg $rc, service $active, daemon pid $pid_before -> $pid_after; banned tool run ${tries:-?} times during the upgrade, not blocked ${leaked:-?} times"
[ $rc = 0 ] || sed 's/^/# /' "$WORK/dpkg-up.log" | tail -n 20
[ $rc = 0 ] && [ "$active" = active ] && [ "$pid_before" != "$pid_after" ] && [ "${leaked:-x}" = 0 ] && [ "${tries:-0}" -gt 5 ] && case $ver in *+up1) true ;; *) false ;; esac
ok $? "package upgrade restarts the daemon with no window for the banned tool"

# --- hardening did not get in the way --------------------------------------
in_ct journalctl -b -u toolguard.service --no-pager -p warning >"$WORK/warn.log" 2>&1
if grep -Eqi 'operation not permitted|permission denied|read-only file system' "$WORK/warn.log"; then
	sed 's/^/# /' "$WORK/warn.log" | tail -n 20
	ok 1 "no EPERM/EACCES/EROFS in the service's log (unit hardening)"
else
	ok 0 "no EPERM/EACCES/EROFS in the service's log (unit hardening)"
fi

# --- reboot: enforcement starts in early boot ------------------------------
shutdown_ct
boot
if [ "$state" = running ] || [ "$state" = degraded ]; then
	tg=$(in_ct systemctl show -P ActiveEnterTimestampMonotonic toolguard.service)
	si=$(in_ct systemctl show -P ActiveEnterTimestampMonotonic sysinit.target)
	lg=$(in_ct systemctl show -P InactiveExitTimestampMonotonic systemd-logind.service)
	active=$(in_ct systemctl is-active toolguard.service)
	diag "after reboot: toolguard $active at ${tg}us, sysinit.target at ${si}us, logind started at ${lg}us (monotonic)"
	[ "$active" = active ] && [ "${tg:-0}" -gt 0 ] && [ "$tg" -le "${si:-0}" ] && [ "$tg" -le "${lg:-0}" ]
	ok $? "at boot the daemon is ready before sysinit.target and before logins (logind)"
	banned_runs "$BANNED" --version
	[ $? != 0 ]
	ok $? "after reboot the banned tool is blocked"
else
	ok 1 "container rebooted (state '${state:-none}')"
	ok 1 "after reboot the banned tool is blocked"
	exit 1
fi

# --- remove, then purge ---------------------------------------------------
in_ct env DEBIAN_FRONTEND=noninteractive dpkg -r toolguard >"$WORK/dpkg-remove.log" 2>&1
rc=$?
[ $rc = 0 ] || sed 's/^/# /' "$WORK/dpkg-remove.log" | tail -n 20
pins=$(in_ct sh -c 'ls -d /sys/fs/bpf/toolguard* 2>/dev/null')
in_ct test -f /etc/toolguard/policy.yaml
conf_kept=$?
banned_runs "$BANNED" --version
rc_run=$?
diag "remove: dpkg $rc; pins left: '${pins}'; configuration kept: $([ $conf_kept = 0 ] && echo yes || echo no); formerly banned tool: exit status $rc_run"
[ $rc = 0 ] && [ -z "$pins" ] && [ $conf_kept = 0 ] && [ $rc_run = 0 ]
ok $? "dpkg -r stops the service and unloads the programs; configuration stays"

in_ct env DEBIAN_FRONTEND=noninteractive dpkg --purge toolguard >"$WORK/dpkg-purge.log" 2>&1
rc=$?
[ $rc = 0 ] || sed 's/^/# /' "$WORK/dpkg-purge.log" | tail -n 20
left=$(in_ct sh -c 'ls -d /sys/fs/bpf/toolguard* /var/lib/toolguard /var/log/toolguard /etc/toolguard 2>/dev/null')
diag "purge: dpkg $rc; left: '${left}'"
[ $rc = 0 ] && [ -z "$left" ]
ok $? "dpkg --purge removes configuration, state and logs"

exit $((tap_failed > 0))
