# tests/system: whole-system tests. lsm-qemu.sh boots Debian's kernel under
# qemu TCG (BPF LSM allowed there) with toolguardd in a busybox initramfs; it
# skips without root, qemu-system-x86, linux-image-amd64 or busybox-static.
TESTS += tests/system/lsm-qemu.sh
dist_check_SCRIPTS += tests/system/lsm-qemu.sh
CLEANFILES += tests/system/lsm-qemu.console.log
# dns-qemu.sh: tests/integration/test_dns_guard in the same Debian kernel.
TESTS += tests/system/dns-qemu.sh
dist_check_SCRIPTS += tests/system/dns-qemu.sh
# nspawn-deb.sh: the .deb (from 'make deb') under systemd as PID 1 in
# systemd-nspawn; skips without root, systemd-nspawn or a built .deb.
TESTS += tests/system/nspawn-deb.sh
dist_check_SCRIPTS += tests/system/nspawn-deb.sh
CLEANFILES += tests/system/make-deb.log
# qemu-systemd.sh: the same .deb in a Debian image (mkfs.ext4 -d) booted by
# qemu with Debian's kernel, systemd as PID 1, BPF LSM backend (after
# nspawn-deb.sh: it reuses its .deb and rootfs cache); about 160 s.
TESTS += tests/system/qemu-systemd.sh
dist_check_SCRIPTS += tests/system/qemu-systemd.sh
CLEANFILES += tests/system/qemu-systemd.console.log
# rpm-pkg.sh: 'make dist' + rpmbuild (Debian's rpm), then the package read
# back with rpm(8) and its binaries run from an rpm2cpio unpack; ~2 minutes.
TESTS += tests/system/rpm-pkg.sh
dist_check_SCRIPTS += tests/system/rpm-pkg.sh
CLEANFILES += tests/system/rpm-build.log
# lib.sh: the .deb and the cached bookworm rootfs, for nspawn-deb.sh and qemu-systemd.sh.
EXTRA_DIST += tests/system/lib.sh
