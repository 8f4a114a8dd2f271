#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# tests/integration/test_dns_guard (dns_guard.bpf.c on crafted DNS packets
# through BPF_PROG_TEST_RUN) inside Debian's own kernel (6.1) booted under
# qemu TCG: the program must not only load there but learn the same
# addresses, since an older verifier may remove code it wrongly thinks dead.
# The guest's TAP lines are this test's. Needs root, qemu-system-x86,
# linux-image-amd64 and busybox-static (skips otherwise); about 40 s.
#
# Environment: top_builddir (from make check), TG_QEMU_KERNEL (a vmlinuz to
# boot instead of the newest /boot/vmlinuz-*-amd64), TG_QEMU_TIMEOUT (s, 240),
# TOOLGUARD_SKIP_KERNEL_TESTS=1 (skip).

set -u

skip() {
	echo "1..0 # SKIP $*"
	exit 0
}

builddir=${top_builddir:-$(pwd)}
prog=$builddir/tests/integration/test_dns_guard
timeout_s=${TG_QEMU_TIMEOUT:-240}

[ "${TOOLGUARD_SKIP_KERNEL_TESTS:-0}" != 1 ] || skip "TOOLGUARD_SKIP_KERNEL_TESTS=1"
[ "$(id -u)" = 0 ] || skip "needs root (run 'sudo make check'; CI runs as root)"
command -v qemu-system-x86_64 >/dev/null 2>&1 || skip "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
for t in cpio gzip ldd timeout; do
	command -v $t >/dev/null 2>&1 || skip "$t missing"
done
kernel=${TG_QEMU_KERNEL:-$(ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n 1)}
[ -n "$kernel" ] && [ -r "$kernel" ] ||
	skip "no Debian kernel image /boot/vmlinuz-*-amd64 (INITRD=No apt-get install --no-install-recommends linux-image-amd64)"
busybox=
for b in /bin/busybox /usr/bin/busybox; do
	[ -x "$b" ] && busybox=$b && break
done
[ -n "$busybox" ] || skip "busybox missing (apt-get install busybox-static)"
if [ ! -x "$prog" ]; then
	echo "1..1"
	echo "not ok 1 - $prog exists (build it: make check builds it, or make tests/integration/test_dns_guard)"
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tg-dns-qemu.XXXXXX") || skip "cannot create a temporary directory"
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM HUP
root=$work/root

# An executable under $root at the same path, with the libraries ldd names.
copy_with_libs() {
	mkdir -p "$root${2%/*}" && cp -L "$1" "$root$2" || return 1
	ldd "$1" 2>/dev/null | while read -r a b c rest; do
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
	mkdir -p bin dev proc sys tmp || return 1
	copy_with_libs "$busybox" /bin/busybox || return 1
	for a in sh mount poweroff sed uname; do
		ln -s busybox "bin/$a" || return 1
	done
	copy_with_libs "$prog" /bin/test_dns_guard || return 1
	cat >init <<-'EOF'
	#!/bin/sh
	mount -t proc proc /proc
	mount -t sysfs sys /sys
	mount -t bpf bpf /sys/fs/bpf
	echo "TGT # guest kernel $(uname -r)"
	/bin/test_dns_guard 2>&1 | sed 's/^/TGT /'
	echo TGT-DONE
	poweroff -f
	EOF
	chmod 0755 init || return 1
	find . | cpio -o -H newc -R 0:0 --quiet | gzip -1 >"$work/initramfs.gz"
}

if ! (build_image) >"$work/build.log" 2>&1; then
	echo "1..1"
	echo "not ok 1 - build the initramfs"
	sed 's/^/# /' "$work/build.log"
	exit 0
fi
t0=$(date +%s)
timeout "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 -nographic -no-reboot \
	-nic none -kernel "$kernel" -initrd "$work/initramfs.gz" -append "console=ttyS0 panic=-1 quiet" \
	</dev/null >"$work/console.log" 2>&1
qrc=$?
out=$(tr -d '\r' <"$work/console.log" | sed -n 's/^.*TGT //p')
if ! tr -d '\r' <"$work/console.log" | grep -q 'TGT-DONE' || ! printf '%s\n' "$out" | grep -q '^1\.\.[1-9]'; then
	echo "1..1"
	echo "not ok 1 - test_dns_guard ran to the end in the guest (qemu exit $qrc after $(($(date +%s) - t0)) s)"
	tail -n 30 "$work/console.log" | tr -d '\r' | sed 's/^/# /'
	exit 0
fi
echo "# ${kernel##*/} under qemu TCG, $(($(date +%s) - t0)) s"
printf '%s\n' "$out"
