#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The BPF LSM exec backend, proven on a kernel that allows it: Debian's 6.1
# kernel (CONFIG_BPF_LSM, BTF) booted under qemu TCG with a busybox initramfs
# that runs the built toolguardd. The machine running this test only needs
# the packages qemu-system-x86 linux-image-amd64 busybox-static; its own
# kernel is not touched. Judged only from the markers the guest prints on its
# console (qemu's exit status says nothing about the guest).
#
# Environment: top_builddir (from make check), TG_QEMU_KERNEL (a vmlinuz to
# boot instead of the newest /boot/vmlinuz-*-amd64), TG_QEMU_TIMEOUT (s, 240),
# TG_QEMU_KEEP=1 (keep the work directory), TG_QEMU_VERBOSE=1 (toolguardd --verbose).

set -u

skip() {
	echo "1..0 # SKIP $*"
	exit 0
}

builddir=${top_builddir:-$(pwd)}
daemon=$builddir/daemon/toolguardd
timeout_s=${TG_QEMU_TIMEOUT:-240}

[ "$(id -u)" = 0 ] || skip "needs root (builds the image with root-owned device-free files; run 'sudo make check')"
command -v qemu-system-x86_64 >/dev/null 2>&1 ||
	skip "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
for t in cpio gzip ldd timeout; do
	command -v $t >/dev/null 2>&1 || skip "$t missing"
done
if [ -n "${TG_QEMU_KERNEL:-}" ]; then
	kernel=$TG_QEMU_KERNEL
else
	# Newest Debian kernel image (linux-image-amd64).
	kernel=$(ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n 1)
fi
[ -n "$kernel" ] && [ -r "$kernel" ] ||
	skip "no Debian kernel image /boot/vmlinuz-*-amd64 (INITRD=No apt-get install --no-install-recommends linux-image-amd64)"
kver=${kernel##*/vmlinuz-}
busybox=
for b in /bin/busybox /usr/bin/busybox; do
	[ -x "$b" ] && busybox=$b && break
done
[ -n "$busybox" ] || skip "busybox missing (apt-get install busybox-static)"
[ -x "$daemon" ] || skip "toolguardd not built ($daemon missing; run make first)"

work=$(mktemp -d "${TMPDIR:-/tmp}/tg-lsm-qemu.XXXXXX") || skip "cannot create a temporary directory"
cleanup() {
	if [ "${TG_QEMU_KEEP:-0}" = 1 ]; then
		echo "# kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

root=$work/root
console=$work/console.log
diaglog=$builddir/tests/system/lsm-qemu.console.log

# Copy an executable to the same path under $root, with the shared libraries
# ldd names and the dynamic loader (a static binary has none).
copy_with_libs() {
	src=$1
	dst=${2:-$1}
	mkdir -p "$root${dst%/*}" || return 1
	cp -L "$src" "$root$dst" || return 1
	ldd "$src" 2>/dev/null | while read -r a b c rest; do
		# "libx.so => /path (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)", "linux-vdso.so.1 (0x...)"
		case $b in
		"=>") lib=$c ;;
		*) lib=$a ;;
		esac
		case $lib in
		/*) ;;
		*) continue ;;
		esac
		[ -e "$root$lib" ] && continue
		mkdir -p "$root${lib%/*}" && cp -L "$lib" "$root$lib" || exit 1
	done
}

build_image() {
	mkdir -p "$root" && cd "$root" || return 1
	mkdir -p bin dev proc sys tmp run var/log var/lib etc/tg etc/toolguard usr/share/toolguard root || return 1
	copy_with_libs "$busybox" /bin/busybox || return 1
	for a in $("$root/bin/busybox" --list); do
		[ "$a" = busybox ] || ln -s busybox "bin/$a" || return 1
	done
	copy_with_libs "$daemon" /usr/sbin/toolguardd || return 1
	# The loader is found through its absolute path; keep /lib64 -> lib names usable too.
	[ -e lib64 ] || [ ! -d usr/lib64 ] || ln -s usr/lib64 lib64
	printf 'root:x:0:0:root:/root:/bin/sh\n' >etc/passwd
	printf 'root:x:0:\n' >etc/group

	cat >etc/tg/policy.yaml <<-'EOF'
	apiVersion: toolguard/v1
	kind: Policy
	metadata:
	  name: qemu-lsm
	  serial: 7
	tools:
	  - id: banned-tool
	    name: Banned test tool
	    action: block
	    message: banned-tool is banned in this test VM.
	    match:
	      executables:
	        - name: banned-tool
	        - path: "/tmp/t/globbed/**"
	EOF
	cat >etc/tg/toolguard.conf <<-'EOF'
	mode: enforce
	policy:
	  file: /etc/tg/policy.yaml
	  cache: /var/lib/toolguard/policy.yaml
	notices:
	  tty: false
	  desktop: false
	events:
	  log: /tmp/tg/events.jsonl
	control:
	  socket: /run/toolguard/control.sock
	EOF

	cat >init <<-'EOF'
	#!/bin/sh
	# PID 1 of the test VM: start toolguardd, try banned and allowed execs, print markers.
	export PATH=/usr/sbin:/usr/bin:/sbin:/bin
	mark() { echo "TG-MARK $*"; }
	finish() { mark done; sync; poweroff -f; sleep 5; }
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev
	mount -t securityfs securityfs /sys/kernel/security
	mount -t bpf bpf /sys/fs/bpf
	mount -t cgroup2 cgroup2 /sys/fs/cgroup
	mount -t tmpfs -o mode=1777 tmpfs /tmp
	mount -t tmpfs -o mode=0755 tmpfs /run
	# The host's time (tg.epoch=), in case the emulated RTC is off.
	verbose=
	for w in $(cat /proc/cmdline); do
	        case $w in
	        tg.epoch=*) date -u -s "@${w#tg.epoch=}" >/dev/null ;;
	        tg.verbose=1) verbose=--verbose ;;
	        esac
	done
	mark "boot kernel=$(uname -r) lsm=$(cat /sys/kernel/security/lsm) date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"

	mkdir -p /tmp/t/globbed /tmp/t/allowed /tmp/tg
	cp /bin/busybox /tmp/t/banned-tool
	cp /bin/busybox /tmp/t/globbed/busybox
	cp /bin/busybox /tmp/t/allowed/busybox

	log=/tmp/tg/daemon.log
	toolguardd --foreground $verbose --policy /etc/tg/policy.yaml --config /etc/tg/toolguard.conf >"$log" 2>&1 &
	pid=$!
	ready=0
	i=0
	while [ $i -lt 600 ]; do
	        # The daemon logs the kernel backend, then the applied policy.
	        if grep -q "info: Policy qemu-lsm serial 7" "$log"; then ready=1; break; fi
	        kill -0 $pid 2>/dev/null || break
	        sleep 0.2
	        i=$((i + 1))
	done
	sed 's/^/TG-LOG /' "$log"
	if [ $ready = 1 ]; then
	        mark "daemon ready pid=$pid after=$((i / 5))s"
	else
	        kill -0 $pid 2>/dev/null && mark "daemon not-ready" || { wait $pid; mark "daemon exited rc=$?"; }
	        finish
	fi
	b=$(sed -n 's/.*Kernel: exec backend \([a-z]*\),.*/\1/p' "$log" | head -n 1)
	mark "backend=${b:-unknown}"

	try() { # name program: run "program true", report rc and the shell's error
	        out=$("$2" true 2>&1)
	        rc=$?
	        mark "$1 rc=$rc err=$(echo "$out" | sed -n 's/.*: \([^:]*\)$/\1/p' | head -n 1)"
	}
	try banned /tmp/t/banned-tool
	try globbed /tmp/t/globbed/busybox
	try allowed /tmp/t/allowed/busybox

	i=0
	while [ $i -lt 50 ] && [ "$(grep -c '"verdict": *"blocked"' /tmp/tg/events.jsonl 2>/dev/null)" -lt 2 ]; do
	        sleep 0.2
	        i=$((i + 1))
	done
	grep '"kind": *"exec"' /tmp/tg/events.jsonl 2>/dev/null | while read -r line; do
	        mark "event $line"
	done

	# Pinned programs keep enforcing after the daemon stops.
	kill -TERM $pid
	i=0
	while kill -0 $pid 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
	wait $pid
	mark "daemon stopped rc=$?"
	sed -n '/Received SIGTERM/,$s/^/TG-LOG /p' "$log"
	try after-stop /tmp/t/banned-tool
	# --unload lifts the ban (busybox then runs, and knows no applet "banned-tool").
	toolguardd --unload >/tmp/tg/unload.log 2>&1
	mark "unload rc=$?"
	sed 's/^/TG-LOG /' /tmp/tg/unload.log
	try after-unload /tmp/t/banned-tool
	finish
	EOF
	chmod 0755 init || return 1
	find . | cpio -o -H newc -R 0:0 --quiet | gzip -1 >"$work/initramfs.gz"
}

t0=$(date +%s)
if ! (build_image) >"$work/build.log" 2>&1; then
	echo "1..0 # SKIP could not build the initramfs: $(tail -n 1 "$work/build.log")"
	exit 0
fi
t1=$(date +%s)

timeout "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 -nographic -no-reboot \
	-nic none -kernel "$kernel" -initrd "$work/initramfs.gz" \
	-append "lsm=lockdown,capability,landlock,yama,bpf console=ttyS0 panic=-1 quiet tg.epoch=$(date -u +%s) tg.verbose=${TG_QEMU_VERBOSE:-0}" \
	</dev/null >"$console" 2>&1
qrc=$?
t2=$(date +%s)
tr -d '\r' <"$console" >"$console.txt"
mkdir -p "${diaglog%/*}" 2>/dev/null && cp "$console.txt" "$diaglog" 2>/dev/null

marks=$work/marks
grep -a '^TG-MARK ' "$console.txt" | sed 's/^TG-MARK //' >"$marks"
has() { grep -q -E "$1" "$marks"; }

echo "1..8"
echo "# backend: lsm (qemu, Debian kernel $kver)"
echo "# image built in $((t1 - t0)) s, guest ran $((t2 - t1)) s (qemu exit $qrc, timeout $timeout_s s)"
n=0
failed=0
check() { # description, test
	n=$((n + 1))
	desc=$1
	shift
	if "$@"; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		failed=1
	fi
}
check "toolguardd started in the VM and applied the policy" has '^daemon ready'
check "exec backend reported is lsm" has '^backend=lsm$'
check "exec banned by name refused with EPERM (rc 126, Operation not permitted)" \
	has '^banned rc=126 err=Operation not permitted$'
check "exec banned by path glob refused with EPERM" has '^globbed rc=126 err=Operation not permitted$'
check "allowed copy of the same binary runs (rc 0)" has '^allowed rc=0 '
check "blocked exec recorded in events.jsonl with verdict blocked" \
	has '^event .*"kind": *"exec".*"verdict": *"blocked".*"tool": *"banned-tool"'
check "pinned programs keep refusing after SIGTERM to the daemon" \
	has '^after-stop rc=126 err=Operation not permitted$'
check "toolguardd --unload lifts the ban" sh -c "grep -q '^unload rc=0$' '$marks' && grep -q '^after-unload rc=127 ' '$marks'"

sed 's/^/# /' "$marks"
if [ $failed = 1 ]; then
	echo "# --- last 60 console lines (full log: $diaglog) ---"
	tail -n 60 "$console.txt" | sed 's/^/# /'
fi
exit 0
