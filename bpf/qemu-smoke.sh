#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Run the kernel-side smoke test inside Debian's kernel under qemu (TCG), once
# with the BPF LSM backend and once with the tracepoint backend: the way to
# test the LSM here, where the host kernel refuses lsm/* programs. Needs
# qemu-system-x86, busybox-static, a /boot/vmlinuz-* with CONFIG_BPF_LSM and
# BTF, static libbpf/libelf/libz; about 90 s. Prints TAP from console markers
# (qemu's exit status says nothing).
#   TOOLGUARD_QEMU_TESTS=1 top_builddir=/path/to/build sh bpf/qemu-smoke.sh [/boot/vmlinuz-VERSION]
set -u
B=${top_builddir:-$(pwd)}
KERNEL=${1:-$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)}
skip() { echo "1..0 # SKIP $*"; exit 0; }
# slow (a VM boot, ~60-90 s): only when asked for
[ "${TOOLGUARD_QEMU_TESTS:-0}" = 1 ] || skip "set TOOLGUARD_QEMU_TESTS=1 to boot Debian's kernel under qemu (BPF LSM backend)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
[ -x /bin/busybox ] || skip "busybox missing (apt-get install busybox-static)"
[ -r "$KERNEL" ] || skip "no kernel image in /boot (apt-get install linux-image-amd64)"
[ -f "$B/bpf/kernel_smoke-kernel_smoke.o" ] || skip "build bpf/kernel_smoke first (make bpf/kernel_smoke)"

W=$(mktemp -d /tmp/tgqemu.XXXXXX) || exit 1
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/root/bin" "$W/root/proc" "$W/root/sys" "$W/root/tmp" "$W/root/dev"
cp /bin/busybox "$W/root/bin/"
gcc -static -o "$W/root/bin/kernel_smoke" "$B/bpf/kernel_smoke-kernel_smoke.o" \
	"$B/daemon/bpf_kernel_smoke-kernel.o" "$B/lib/libtoolguard.a" -lbpf -lelf -lz 2>/dev/null ||
	skip "static link failed (libbpf-dev, libelf-dev, zlib1g-dev static libraries)"
printf '#include <stdio.h>\nint main(void){puts("hello");return 0;}\n' >"$W/hello.c"
gcc -static -O2 -o "$W/root/bin/hello" "$W/hello.c" || skip "static hello failed"

cat >"$W/root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t securityfs none /sys/kernel/security; mkdir -p /sys/fs/bpf; mount -t bpf bpf /sys/fs/bpf
mkdir -p /sys/fs/cgroup; mount -t cgroup2 none /sys/fs/cgroup; mount -t tmpfs tmp /tmp
ip link set lo up
echo "MARK # kernel $(uname -r) lsm=$(cat /sys/kernel/security/lsm)"
T=/tmp/t; mkdir -p $T/scripts $T/other
cp /bin/hello $T/tgtest-banned; cp /bin/hello $T/tgtest-allowed; cp /bin/busybox $T/tgtest-interp
printf 'echo script-ran\n' > $T/scripts/s.sh; printf 'echo script-ran\n' > $T/other/s.sh
printf '#!/bin/sh\necho shebang-ran\n' > $T/scripts/run.sh; chmod +x $T/scripts/run.sh
export SMOKE_PIN_DIR=/sys/fs/bpf/toolguard-smoke
mark() { if [ "$1" = 0 ]; then echo "MARK ok - $2"; else echo "MARK not ok - $2"; fi; }
for backend in lsm tracepoint; do
  if [ $backend = lsm ]; then export SMOKE_TRY_LSM=1; else unset SMOKE_TRY_LSM; fi
  SMOKE_VERBOSE=1 kernel_smoke run $T 20 > /tmp/ev.$backend 2>&1 &
  P=$!
  i=0; while ! grep -q '^ready' /tmp/ev.$backend; do i=$((i+1)); [ $i -gt 150 ] && break; sleep 0.2; done
  grep -q "backend=$backend .*dns=1" /tmp/ev.$backend; mark $? "$backend: loaded with DNS learning ($(grep "^ready" /tmp/ev.$backend))"
  out=$($T/tgtest-banned 2>&1); rc=$?
  if [ $backend = lsm ]; then [ $rc = 126 ] && [ "$out" != hello ]; else [ $rc = 137 ] && [ -z "$out" ]; fi
  mark $? "$backend: banned refused (rc=$rc)"
  out=$($T/tgtest-allowed 2>&1); rc=$?; [ "$out" = hello ]; mark $? "$backend: allowed runs (rc=$rc)"
  out=$($T/tgtest-interp $T/scripts/s.sh 2>&1); rc=$?; [ $rc = 137 ]; mark $? "$backend: interpreter + banned script killed (rc=$rc)"
  out=$($T/tgtest-interp $T/other/s.sh 2>&1); rc=$?; [ $rc != 137 ]; mark $? "$backend: interpreter + other script not killed (rc=$rc)"
  out=$($T/scripts/run.sh 2>&1); rc=$?
  if [ $backend = lsm ]; then [ $rc = 126 ]; else [ $rc = 137 ]; fi; mark $? "$backend: shebang script refused (rc=$rc)"
  out=$(nc -w 2 127.77.1.1 80 </dev/null 2>&1); echo "$out" | grep -q "not permitted"; mark $? "$backend: connect 127.77.1.1 refused"
  out=$(nc -w 2 127.0.0.1 9 </dev/null 2>&1); echo "$out" | grep -q "refused"; mark $? "$backend: connect 127.0.0.1 not blocked"
  sleep 1; kill $P; wait $P
  grep -q "verdict=block .*tool=smoke-banned" /tmp/ev.$backend; mark $? "$backend: block event"
  grep "^event" /tmp/ev.$backend | head -8 | sed 's/^/MARK # /'
  grep -A40 "BEGIN PROG LOAD LOG" /tmp/ev.$backend | grep -v mark_precise | tail -20 | sed 's/^/MARK # /'
  kernel_smoke unload > /dev/null; [ ! -e $SMOKE_PIN_DIR ]; mark $? "$backend: unloaded"
  out=$($T/tgtest-banned 2>&1); [ "$out" = hello ]; mark $? "$backend: banned runs after unload"
done
echo "MARK done"
poweroff -f
EOF
chmod +x "$W/root/init"
(cd "$W/root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$W/initramfs.gz"
timeout 400 qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 -nographic -no-reboot -nic none \
	-kernel "$KERNEL" -initrd "$W/initramfs.gz" \
	-append "lsm=lockdown,capability,landlock,yama,bpf console=ttyS0 panic=-1 quiet" 2>&1 |
	tr -d '\r' | sed -n 's/.*MARK //p' >"$W/out"
if ! grep -q '^done' "$W/out"; then
	cat "$W/out"
	echo "Bail out! the VM did not finish (timeout or boot failure)"
	exit 1
fi
grep -v '^done' "$W/out" >"$W/tap"
echo "1..$(grep -c '^ok\|^not ok' "$W/tap")"
awk '/^(ok|not ok)/ { n++; sub(/^(ok|not ok)/, "& " n); } { print }' "$W/tap"
! grep -q '^not ok' "$W/tap"
