#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# toolguard system test: the Debian package under a real systemd (PID 1) on
# the BPF LSM backend. Debian's 6.1 kernel (CONFIG_BPF_LSM) boots under qemu
# (TCG, or KVM when /dev/kvm exists) a full Debian bookworm image made with
# 'mkfs.ext4 -d' from a rootfs with the .deb installed (no loop mount). A
# tiny busybox initramfs loads the virtio/ext4 modules (the Debian kernel has
# them as modules and is installed with INITRD=No) and switches to
# /lib/systemd/systemd on /dev/vda.
#
# In the VM a oneshot unit (tg-systest.service, after toolguard.service and
# multi-user.target) checks: the service came up in early boot, 'toolctl
# status' answers with exec backend lsm, a banned executable is refused with
# EPERM (LSM denies the exec; nothing is killed), an allowed one runs, a
# banned test address gets EPERM, 'systemctl reload' applies a new policy,
# 'systemctl kill -s KILL' is followed by a restart with the ban holding,
# 'systemd-analyze security' gives the exposure; then it reboots (qemu
# exits, -no-reboot; the host boots the image again) and checks the ban again
# after boot, and powers off. Results go to a second serial port (ttyS1 -> a file on the host) as
# "R KEY STATUS DETAIL" / "D TEXT" lines; this script turns them into TAP.
#
# Safety: nothing is loaded into this machine's kernel; inside the VM the
# policy bans only /opt/tg-qemu/** and 127.77.9.0/24.
# About 160 s on an idle 2-core machine with TCG (rootfs and .deb cached;
# two cold loads of the BPF programs under TCG are most of it), 300+ s when
# other jobs share the cores.
#
# Environment: TOOLGUARD_DEB (the .deb; default $top_builddir/packages/
# toolguard_*.deb, made by 'make deb' when missing), TG_QEMU_KERNEL (a
# vmlinuz-VER; modules from /lib/modules/VER), TG_QEMU_TIMEOUT (s a boot,
# default 480), TG_QEMU_KEEP=1 (keep the work directory), TG_NSPAWN_CACHE
# (rootfs tarball cache shared with nspawn-deb.sh, default
# /var/cache/toolguard-tests), TG_TOOLS_DIR (the real Claude Code; set
# TG_QEMU_REAL_CLAUDE=0 to use a stand-in),
# TOOLGUARD_SKIP_SYSTEM_TESTS=1, TOOLGUARD_SKIP_KERNEL_TESTS=1.

skip() {
	echo "1..0 # SKIP $*"
	exit 0
}

[ "${TOOLGUARD_SKIP_SYSTEM_TESTS:-0}" = 1 ] && skip "TOOLGUARD_SKIP_SYSTEM_TESTS=1"
[ "${TOOLGUARD_SKIP_KERNEL_TESTS:-0}" = 1 ] && skip "TOOLGUARD_SKIP_KERNEL_TESTS=1"
[ "$(id -u)" = 0 ] || skip "needs root (chroot dpkg, image ownership; CI runs as root)"

# The whole run is bounded in time (image building included).
if [ -z "${TG_QEMU_SYSTEMD_UNDER_TIMEOUT:-}" ]; then
	command -v timeout >/dev/null || skip "timeout missing (coreutils)"
	export TG_QEMU_SYSTEMD_UNDER_TIMEOUT=1
	exec timeout -k 20 "${TG_QEMU_SYSTEMD_TOTAL_TIMEOUT:-1200}" bash "$0" "$@"
fi

set -u
export LC_ALL=C
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# The same rootfs as nspawn-deb.sh (same tarball and package list): built once.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/system/lib.sh"
GUEST_TIMEOUT=${TG_QEMU_TIMEOUT:-480}	# a boot (about 70 s idle, 160 s on a loaded machine)

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
for c in mkfs.ext4 cpio gzip chroot dpkg-deb; do
	command -v $c >/dev/null || skip "$c missing (apt-get install e2fsprogs cpio gzip coreutils dpkg)"
done
if [ -n "${TG_QEMU_KERNEL:-}" ]; then
	kernel=$TG_QEMU_KERNEL
else
	kernel=$(ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n 1)
fi
[ -n "$kernel" ] && [ -r "$kernel" ] ||
	skip "no Debian kernel image /boot/vmlinuz-*-amd64 (INITRD=No apt-get install --no-install-recommends linux-image-amd64)"
kver=${kernel##*/vmlinuz-}
MODDIR=/lib/modules/$kver
[ -r "$MODDIR/modules.dep" ] || skip "no modules for $kver in $MODDIR (linux-image-$kver)"
busybox=
for b in /bin/busybox /usr/bin/busybox; do
	[ -x "$b" ] && busybox=$b && break
done
[ -n "$busybox" ] || skip "busybox missing (apt-get install busybox-static)"
# The initramfs has no libraries: ldd fails on a static binary.
ldd "$busybox" >/dev/null 2>&1 && skip "$busybox is not static (apt-get install busybox-static)"

sys_find_deb

diag() { echo "# $*" | tr '\n' ' '; echo; }

WORK=
cleanup() {
	if [ -n "$WORK" ]; then
		if [ "${TG_QEMU_KEEP:-0}" = 1 ]; then
			echo "# kept $WORK" >&2
		else
			rm -rf "$WORK"
		fi
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

t_start=$(date +%s)

# --- rootfs (cached, shared with nspawn-deb.sh) ------------------------------
sys_rootfs

WORK=$(mktemp -d /var/tmp/tg-qemu-systemd.XXXXXX) || skip "cannot create a work directory in /var/tmp"
ROOT=$WORK/root
BANNED=/opt/tg-qemu/node_modules/@anthropic-ai/claude-code/bin/claude.exe

fail_build() { # the tools are all there: a failure here is a bug, not a skip
	echo "1..1"
	echo "not ok 1 - build the VM image: $1"
	[ -f "$WORK/build.log" ] && tail -n 30 "$WORK/build.log" | sed 's/^/# /'
	exit 0
}

write_policy() { # write_policy FILE SERIAL EXTRA-EXECUTABLE-LINES
	cat >"$1" <<EOF
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: qemu-test
  serial: $2
tools:
  - id: claude-code
    name: Claude Code
    action: block
    message: Claude Code is not approved here (qemu test).
    match:
      executables:
        - path: "/opt/tg-qemu/node_modules/**"
$3
      hosts:
        - 127.77.9.0/24
EOF
}

# The script tg-systest.service runs in the VM, once per boot.
write_guest_test() {
	cat >"$ROOT/usr/local/sbin/tg-systest" <<'GUEST'
#!/bin/bash
# toolguard qemu system test, guest side (see tests/system/qemu-systemd.sh).
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
BANNED=@BANNED@
STATE=/var/lib/tg-systest
mkdir -p "$STATE"
stty -F /dev/ttyS1 115200 -opost 2>/dev/null
exec 3>/dev/ttyS1
res() { printf 'R %s %s %s\n' "$1" "$2" "$(echo "$3" | tr '\n' ' ')" >&3; }
diag() { printf 'D %s\n' "$(echo "$*" | tr '\n' ' ')" >&3; }
up() { cut -d' ' -f1 /proc/uptime; }
prop() { systemctl show -P "$1" "${2:-toolguard.service}"; }
# eperm PROGRAM...: the exec is refused by the kernel (bash: rc 126, EPERM).
eperm() {
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	last="rc=$rc: $(echo "$out" | head -n1)"
	[ $rc = 126 ] && [[ $out == *"Operation not permitted"* ]]
}
serial_is() { # wait (5 s at most) until the service's status names policy serial $1
	local i
	for i in $(seq 1 50); do
		case $(prop StatusText) in *"enforcing policy qemu-test serial $1"*) return 0 ;; esac
		sleep 0.1
	done
	return 1
}
backend() { # the exec backend from 'toolctl status --json' (kernel.exec_backend)
	toolctl status --json 2>/dev/null | tr -d '\n' | sed -n 's/.*"exec_backend" *: *"\([a-z]*\)".*/\1/p'
}
early() { # the daemon was ready before sysinit.target (and before logind)
	local tg si
	tg=$(prop ActiveEnterTimestampMonotonic)
	si=$(prop ActiveEnterTimestampMonotonic sysinit.target)
	diag "toolguard active at ${tg}us, sysinit.target at ${si}us (monotonic)"
	[ "${tg:-0}" -gt 0 ] && [ "$tg" -le "${si:-0}" ]
}
boot=1
[ -e "$STATE/stage1" ] && boot=2
[ -e "$STATE/stage2" ] && { systemctl --no-block poweroff; exit 0; }
diag "boot $boot: kernel $(uname -r), lsm=$(cat /sys/kernel/security/lsm), test unit at $(up) s"

if [ $boot = 1 ]; then
	active=$(systemctl is-active toolguard.service)
	status=$(prop StatusText)
	[ "$active" = active ] && serial_is 1
	res s1_active $? "$active; $status"
	early
	res s1_early $? ""

	out=$(toolctl status 2>&1)
	rc=$?
	diag "toolctl status (rc $rc): $(echo "$out" | grep -E 'exec backend|connect backend|pinned|lockdown' | tr -s ' ')"
	res s1_status $rc ""
	be=$(backend)
	[ "$be" = lsm ]
	res s1_backend $? "exec_backend=$be"

	eperm "$BANNED" --version
	res s1_banned $? "$last"
	ev=
	for _ in $(seq 1 50); do
		ev=$(toolctl events --json --tool claude-code 2>&1 | grep '"verdict": *"blocked"' | grep '"kind": *"exec"' | tail -n1)
		[ -n "$ev" ] && break
		sleep 0.1
	done
	[ -n "$ev" ]
	res s1_event $? "$ev"
	/opt/tg-allowed/fine
	res s1_allowed $? ""

	out=$(bash -c 'exec 4<>/dev/tcp/127.77.9.9/443' 2>&1)
	other=$(bash -c 'exec 4<>/dev/tcp/127.0.0.1/9' 2>&1)
	[[ $out == *"Operation not permitted"* ]] && [[ $other != *"not permitted"* ]]
	res s1_connect $? "127.77.9.9:443: $out; 127.0.0.1:9: $other"

	cp /usr/local/share/tg-systest/policy-2.yaml /etc/toolguard/policy.yaml.new &&
		mv /etc/toolguard/policy.yaml.new /etc/toolguard/policy.yaml
	systemctl reload toolguard.service
	serial_is 2 && eperm /opt/tg-qemu/other/tool2
	res s1_reload $? "$(prop StatusText); tool2 $last"

	pid1=$(prop MainPID)
	systemctl kill -s KILL toolguard.service
	gap=$(prop ActiveState)/$(prop SubState)
	eperm "$BANNED" --version
	rc_gap=$?
	gap_last=$last
	for _ in $(seq 1 100); do
		pid2=$(prop MainPID)
		[ "$(systemctl is-active toolguard.service)" = active ] && [ "$pid2" != 0 ] && [ "$pid2" != "$pid1" ] && break
		sleep 0.1
	done
	nr=$(prop NRestarts)
	eperm "$BANNED" --version
	rc_after=$?
	be=$(backend)
	diag "killed pid $pid1 (then $gap); new pid $pid2, NRestarts=$nr, backend $be; banned exec in the gap: $gap_last, after: $last"
	[ "$pid2" != "$pid1" ] && [ "$pid2" != 0 ] && [ "${nr:-0}" -ge 1 ] && [ $rc_gap = 0 ] && [ $rc_after = 0 ] && [ "$be" = lsm ]
	res s1_kill $? ""

	LC_ALL=C.UTF-8 systemd-analyze security --no-pager toolguard.service >"$STATE/security.txt" 2>&1
	line=$(grep -a 'Overall exposure level' "$STATE/security.txt")
	grep -a '^✗' "$STATE/security.txt" | sed 's/  */ /g' | while read -r l; do diag "security: $l"; done
	[ -n "$line" ]
	res s1_security $? "$line"

	journalctl -b -u toolguard.service --no-pager -p warning >"$STATE/warn.txt" 2>&1
	if grep -Eqi 'operation not permitted|permission denied|read-only file system' "$STATE/warn.txt"; then
		res s1_journal 1 "$(grep -Ei 'operation not permitted|permission denied|read-only file system' "$STATE/warn.txt" | head -n3)"
	else
		res s1_journal 0 ""
	fi
	journalctl -b -u toolguard.service --no-pager | tail -n 8 | while read -r l; do diag "journal: $l"; done

	touch "$STATE/stage1"
	sync
	diag "boot 1 done at $(up) s: rebooting"
	systemctl --no-block reboot
	exit 0
fi

active=$(systemctl is-active toolguard.service)
[ "$active" = active ] && serial_is 2 && early
res s2_active $? "$active; $(prop StatusText)"
be=$(backend)
[ "$be" = lsm ]
res s2_backend $? "exec_backend=$be"
eperm "$BANNED" --version && l1=$last && eperm /opt/tg-qemu/other/tool2
res s2_banned $? "${l1:-$last}; $last"
/opt/tg-allowed/fine
res s2_allowed $? ""
touch "$STATE/stage2"
sync
diag "boot 2 done at $(up) s: powering off"
systemctl --no-block poweroff
GUEST
	sed -i "s|@BANNED@|$BANNED|" "$ROOT/usr/local/sbin/tg-systest" &&
		chmod 0755 "$ROOT/usr/local/sbin/tg-systest" || return 1
	cat >"$ROOT/etc/systemd/system/tg-systest.service" <<'EOF'
[Unit]
Description=toolguard system test (qemu-systemd.sh)
After=multi-user.target toolguard.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/tg-systest
TimeoutStartSec=240

[Install]
WantedBy=multi-user.target
EOF
	mkdir -p "$ROOT/etc/systemd/system/multi-user.target.wants" &&
		ln -sf /etc/systemd/system/tg-systest.service "$ROOT/etc/systemd/system/multi-user.target.wants/"
}

# The initramfs: busybox, the modules for /dev/vda (virtio) and ext4, and an
# /init that mounts the image and hands over to systemd.
write_initramfs() {
	local ir=$WORK/initramfs m mods
	mkdir -p "$ir/bin" "$ir/dev" "$ir/proc" "$ir/sys" "$ir/newroot" "$ir/modules" || return 1
	cp "$busybox" "$ir/bin/busybox" || return 1
	for a in sh mount umount insmod sleep switch_root poweroff cat echo mkdir; do
		ln -s busybox "$ir/bin/$a" || return 1
	done
	# The modules and their dependencies, dependencies first (modules.dep
	# lists them in the reverse of loading order, as modprobe reads it).
	mods=
	for m in kernel/crypto/crc32c_generic.ko kernel/drivers/virtio/virtio_pci.ko \
		kernel/drivers/block/virtio_blk.ko kernel/fs/ext4/ext4.ko; do
		mods="$mods $(sed -n "s|^$m:||p" "$MODDIR/modules.dep" | tr ' ' '\n' | tac | tr '\n' ' ') $m"
	done
	n=0
	for m in $mods; do
		ls "$ir/modules/"*"-${m##*/}" >/dev/null 2>&1 && continue
		[ -r "$MODDIR/$m" ] || { echo "missing module $MODDIR/$m"; return 1; }
		n=$((n + 1))
		cp "$MODDIR/$m" "$ir/modules/$(printf %02d $n)-${m##*/}" || return 1
	done
	cat >"$ir/init" <<'EOF'
#!/bin/sh
# Load virtio and ext4, mount /dev/vda, start init= (systemd).
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in /modules/*.ko; do insmod "$m" || echo "TG-INIT: insmod $m failed"; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if ! mount -t ext4 -o rw /dev/vda /newroot; then
	echo "TG-INIT: cannot mount /dev/vda; block devices:"
	cat /proc/partitions
	poweroff -f
fi
init=/lib/systemd/systemd
for w in $(cat /proc/cmdline); do
	case $w in init=*) init=${w#init=} ;; esac
done
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot "$init"
EOF
	chmod 0755 "$ir/init" || return 1
	(cd "$ir" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$WORK/initramfs.gz"
}

build_image() {
	mkdir "$ROOT" && tar -xf "$ROOTFS_TAR" --numeric-owner -C "$ROOT" || return 1
	# Banned and allowed executables: the real Claude Code when the cache has
	# it, else a copy of /bin/true in the same place.
	local claude=$TG_TOOLS_DIR/node_modules/@anthropic-ai/claude-code/bin/claude.exe
	mkdir -p "$ROOT${BANNED%/*}" "$ROOT/opt/tg-qemu/other" "$ROOT/opt/tg-allowed" \
		"$ROOT/usr/local/share/tg-systest" "$ROOT/etc/toolguard" || return 1
	if [ -x "$claude" ] && [ "${TG_QEMU_REAL_CLAUDE:-1}" = 1 ]; then
		cp "$claude" "$ROOT$BANNED" || return 1
		echo "banned: the real Claude Code"
	else
		cp "$ROOT/bin/true" "$ROOT$BANNED" || return 1
		echo "banned: a copy of /bin/true"
	fi
	cp "$ROOT/bin/true" "$ROOT/opt/tg-qemu/other/tool2" &&
		cp "$ROOT/bin/true" "$ROOT/opt/tg-allowed/fine" || return 1
	# The administrator's policy is there before the package (dpkg keeps it).
	write_policy "$ROOT/etc/toolguard/policy.yaml" 1 "" &&
		write_policy "$ROOT/usr/local/share/tg-systest/policy-2.yaml" 2 '        - path: "/opt/tg-qemu/other/*"' || return 1

	# Install the package in the image: the postinst creates the admin group
	# and enables the unit; no systemd runs in the chroot, so nothing starts.
	cp "$DEB" "$ROOT/root/toolguard.deb" || return 1
	printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d" && chmod 0755 "$ROOT/usr/sbin/policy-rc.d" || return 1
	chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		dpkg -i --force-confold /root/toolguard.deb || return 1
	rm -f "$ROOT/usr/sbin/policy-rc.d" "$ROOT/root/toolguard.deb"
	[ -L "$ROOT/etc/systemd/system/sysinit.target.wants/toolguard.service" ] ||
		{ echo "the package did not enable toolguard.service"; return 1; }

	write_guest_test || return 1
	# A quiet, quick boot: no logins on the consoles, no timers doing work.
	for u in serial-getty@ttyS0.service serial-getty@ttyS1.service getty@tty1.service \
		apt-daily.timer apt-daily-upgrade.timer fstrim.timer; do
		ln -sf /dev/null "$ROOT/etc/systemd/system/$u" || return 1
	done
	echo tg-qemu >"$ROOT/etc/hostname"
	: >"$ROOT/etc/fstab"

	write_initramfs || return 1
	local mb
	mb=$(du -sm "$ROOT" | cut -f1)
	mkfs.ext4 -q -F -L tgroot -d "$ROOT" "$WORK/root.img" "$((mb + 512))M" || return 1
	rm -rf "$ROOT"
}

build_image >"$WORK/build.log" 2>&1 || fail_build "see the log below"
t_image=$(date +%s)

# --- boot twice -------------------------------------------------------------
# The guest's 'systemctl reboot' ends the first qemu run (-no-reboot: a reset
# under TCG leaves the guest's clock unreliable, measured), the same image is
# then booted again. A panic ends the run at once (panic=-1, -no-reboot).
if [ -w /dev/kvm ]; then
	accel="-accel kvm -cpu host"
else
	accel="-accel tcg -cpu ${TG_QEMU_CPU:-max}"
fi
run_vm() { # run_vm N: boot the image; serial 0 -> console-N.log, 1 -> results-N.log
	timeout "$GUEST_TIMEOUT" qemu-system-x86_64 $accel -smp 2 -m 1024 -display none -monitor none \
		-no-reboot -nic none -serial "file:$WORK/console-$1.log" -serial "file:$WORK/results-$1.log" \
		-drive "file=$WORK/root.img,format=raw,if=virtio,cache=unsafe" \
		-kernel "$kernel" -initrd "$WORK/initramfs.gz" \
		-append "root=/dev/vda console=ttyS0 lsm=lockdown,capability,landlock,yama,bpf panic=-1 quiet systemd.show_status=0 init=/lib/systemd/systemd" \
		</dev/null >>"$WORK/qemu.log" 2>&1
}
diaglog=$top_builddir/tests/system/qemu-systemd.console.log
mkdir -p "${diaglog%/*}"
: >"$WORK/results.txt"
: >"$diaglog"
qrc2=
t_boot2=
run_vm 1
qrc1=$?
t_boot1=$(date +%s)
for n in 1 2; do
	[ -f "$WORK/results-$n.log" ] || continue
	tr -d '\r' <"$WORK/results-$n.log" >>"$WORK/results.txt"
	tr -d '\r\033' <"$WORK/console-$n.log" >"$WORK/console-$n.txt"
	{ echo "=== boot $n"; cat "$WORK/console-$n.txt"; } >>"$diaglog"
	[ $n = 1 ] || break
	# Boot again only after the first boot's checks and its reboot.
	if [ $qrc1 = 0 ] && grep -aq '^R s1_journal ' "$WORK/results.txt" &&
		grep -aq 'reboot: Restarting system' "$WORK/console-1.txt"; then
		run_vm 2
		qrc2=$?
		t_boot2=$(date +%s)
	fi
done
t_end=$(date +%s)

keys=(s1_active s1_early s1_status s1_backend s1_banned s1_event s1_allowed s1_connect
	s1_reload s1_kill s1_security s1_journal s2_active s2_backend s2_banned s2_allowed)
descs=(
	"after boot toolguard.service (installed from the .deb) is active on the admin's policy"
	"the daemon was ready before sysinit.target (early boot)"
	"toolctl status answers"
	"toolctl status: exec backend lsm (BPF LSM on Debian's kernel)"
	"banned executable refused with EPERM (rc 126, Operation not permitted), not killed"
	"the refusal is recorded (toolctl events: exec blocked)"
	"an allowed program runs"
	"connect to a banned test address refused with EPERM, others not"
	"systemctl reload applies a new policy"
	"systemctl kill -s KILL: systemd restarts it, the ban holds throughout, backend still lsm"
	"systemd-analyze security toolguard.service gives an exposure level"
	"no EPERM/EACCES/EROFS in the service's log (unit hardening vs. the LSM backend)"
	"after a reboot inside the VM: active before sysinit.target on the reloaded policy"
	"after reboot: exec backend lsm"
	"after reboot: both banned executables refused with EPERM"
	"after reboot: an allowed program runs"
)
echo "1..$((${#keys[@]} + 1))"
diag "kernel $kver ($([ -w /dev/kvm ] && echo KVM || echo TCG)), package $(basename "$DEB")"
diag "image built in $((t_image - t_start)) s; boot 1 (checks, reboot) $((t_boot1 - t_image)) s, qemu exit $qrc1;" \
	"boot 2 $([ -n "$t_boot2" ] && echo "$((t_boot2 - t_boot1)) s, qemu exit $qrc2" || echo "not run"); total $((t_end - t_start)) s (timeout $GUEST_TIMEOUT s a boot)"
[ "$qrc1" = 124 ] || [ "$qrc2" = 124 ] && diag "qemu was stopped by the $GUEST_TIMEOUT s timeout (TG_QEMU_TIMEOUT)"
sed -n 's/^banned: /banned executable: /p' "$WORK/build.log" | while read -r l; do diag "$l"; done
grep -a '^D ' "$WORK/results.txt" | sed 's/^D /# /'
failed=0
for i in "${!keys[@]}"; do
	line=$(grep -a "^R ${keys[$i]} " "$WORK/results.txt" | tail -n1)
	st=$(echo "$line" | cut -d' ' -f3)
	detail=$(echo "$line" | cut -d' ' -f4-)
	if [ "$st" = 0 ]; then
		echo "ok $((i + 1)) - ${descs[$i]}"
	else
		echo "not ok $((i + 1)) - ${descs[$i]}"
		[ -z "$line" ] && detail="no result: the VM did not get there"
		failed=1
	fi
	[ -n "${detail// /}" ] && echo "#   $detail"
done
# Rebooted, then powered off by the guest's systemd (not by the timeout).
[ "$qrc2" = 0 ] && grep -aq '^R s2_allowed ' "$WORK/results.txt" &&
	grep -aq 'reboot: Power down' "$WORK/console-2.txt"
st=$?
[ $st = 0 ] || failed=1
echo "$([ $st = 0 ] || echo "not ")ok $((${#keys[@]} + 1)) - the guest's systemctl reboot, then systemctl poweroff, ended each boot"
if [ $failed = 1 ]; then
	echo "# --- last 40 console lines of each boot (full log: $diaglog) ---"
	for n in 1 2; do
		[ -f "$WORK/console-$n.txt" ] && tail -n 40 "$WORK/console-$n.txt" | sed "s/^/# boot $n: /"
	done
	sed 's/^/# qemu: /' "$WORK/qemu.log" | tail -n 5
fi
exit 0
