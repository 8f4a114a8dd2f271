# tests/system: whole-system tests. lsm-qemu.sh boots Debian's kernel under
# qemu TCG (BPF LSM allowed there) with toolguardd in a busybox initramfs; it
# skips without root, qemu-system-x86, linux-image-amd64 or busybox-static.
TESTS += tests/system/lsm-qemu.sh
dist_check_SCRIPTS += tests/system/lsm-qemu.sh
CLEANFILES += tests/system/lsm-qemu.console.log
# nspawn-deb.sh: the .deb (from 'make deb') under systemd as PID 1 in
# systemd-nspawn; skips without root, systemd-nspawn or a built .deb.
TESTS += tests/system/nspawn-deb.sh
dist_check_SCRIPTS += tests/system/nspawn-deb.sh
CLEANFILES += tests/system/make-deb.log
