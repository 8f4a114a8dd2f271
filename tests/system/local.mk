# tests/system: whole-system tests. lsm-qemu.sh boots Debian's kernel under
# qemu TCG (BPF LSM allowed there) with toolguardd in a busybox initramfs; it
# skips without root, qemu-system-x86, linux-image-amd64 or busybox-static.
TESTS += tests/system/lsm-qemu.sh
dist_check_SCRIPTS += tests/system/lsm-qemu.sh
CLEANFILES += tests/system/lsm-qemu.console.log
