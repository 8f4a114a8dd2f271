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
# TG_QEMU_KEEP=1 (keep the work directory), TG_QEMU_VERBOSE=1 (toolguardd --verbose),
# TOOLGUARD_SKIP_KERNEL_TESTS=1 (skip, e.g. in distcheck).

set -u

skip() {
	echo "1..0 # SKIP $*"
	exit 0
}

builddir=${top_builddir:-$(pwd)}
daemon=$builddir/daemon/toolguardd
timeout_s=${TG_QEMU_TIMEOUT:-240}

[ "${TOOLGUARD_SKIP_KERNEL_TESTS:-0}" != 1 ] || skip "TOOLGUARD_SKIP_KERNEL_TESTS=1"
[ "$(id -u)" = 0 ] || skip "needs root (run 'sudo make check'; CI runs as root)"
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
if [ -z "$kernel" ] || [ ! -r "$kernel" ]; then
	skip "no Debian kernel image /boot/vmlinuz-*-amd64 (INITRD=No apt-get install --no-install-recommends linux-image-amd64)"
fi
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
	mkdir -p bin dev proc sys tmp run var/log var/lib etc/tg root || return 1
	copy_with_libs "$busybox" /bin/busybox || return 1
	for a in $("$root/bin/busybox" --list); do
		[ "$a" = busybox ] || ln -s busybox "bin/$a" || return 1
	done
	copy_with_libs "$daemon" /usr/sbin/toolguardd || return 1
	# "ld.so FILE" (issue 8): dynamically linked programs banned only by sha256
	# (copies with random bytes appended: nothing else matches), with the loader.
	mkdir -p opt/tgsha || return 1
	copy_with_libs /bin/echo /usr/bin/echo || return 1
	copy_with_libs /bin/sleep /usr/bin/sleep || return 1
	for p in echo sleep; do
		cp "/bin/$p" "opt/tgsha/sha-$p" && head -c 64 /dev/urandom >>"opt/tgsha/sha-$p" || return 1
	done
	sha_echo=$(sha256sum opt/tgsha/sha-echo | cut -d' ' -f1)
	sha_sleep=$(sha256sum opt/tgsha/sha-sleep | cut -d' ' -f1)
	ldso=$(ldd /bin/echo | sed -n 's|^[[:space:]]*\(/[^ ]*ld-linux[^ ]*\) .*|\1|p' | head -n 1)
	[ -n "$ldso" ] && [ -n "$sha_echo" ] && [ -n "$sha_sleep" ] || return 1
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
	        - sha256: SHA_ECHO
	        - sha256: SHA_SLEEP
	      scripts:
	        - path: "/tmp/t/scripts/**"
	        - sha256: SHA_SCRIPT
	interpreters:
	  - ash
	  - "ld-linux*.so*"
	EOF
	# scripts[].sha256 (extension): the content of /tmp/t/else/copy.sh below
	sha_script=$(printf 'sleep 2\necho script-sha-ran\n' | sha256sum | cut -d' ' -f1)
	sed -i "s/SHA_ECHO/$sha_echo/; s/SHA_SLEEP/$sha_sleep/; s/SHA_SCRIPT/$sha_script/" etc/tg/policy.yaml || return 1
	echo "$ldso" >etc/tg/ldso
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
	mark() { echo "TG-MARK $*"; echo "TG-TIME $(cut -d' ' -f1 /proc/uptime) $*"; }
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
	# A script interpreter (a busybox named ash is a shell), banned and allowed scripts.
	mkdir -p /tmp/t/interp /tmp/t/scripts
	cp /bin/busybox /tmp/t/interp/ash
	printf 'echo script-ran\n' >/tmp/t/scripts/tool.sh
	printf 'echo script-ran\n' >/tmp/t/allowed/ok.sh
	printf '#!/tmp/t/interp/ash\necho script-ran\n' >/tmp/t/scripts/direct
	chmod 0755 /tmp/t/scripts/direct
	# A script banned by sha256 only, outside the banned paths, and a symlink to it.
	mkdir -p /tmp/t/else
	printf 'sleep 2\necho script-sha-ran\n' >/tmp/t/else/copy.sh
	ln -s /tmp/t/else/copy.sh /tmp/t/link.sh
	# Renamed copies banned by sha256: /tmp/t/sha is scanned (known inodes);
	# /fresh, a file system the daemon does not watch, is not (a copy the
	# daemon first meets when it runs).
	ldso=$(cat /etc/tg/ldso)
	mkdir -p /tmp/t/sha /fresh
	mount -t tmpfs tmpfs /fresh
	cp /opt/tgsha/sha-echo /tmp/t/sha/e
	cp /opt/tgsha/sha-sleep /tmp/t/sha/s
	export TOOLGUARD_SCAN_EXTRA=/tmp/t/sha
	# ldrun NAME FILE ARG...: "ld.so FILE ARG..." (prints ld-ran if FILE ran)
	ldrun() {
	        name=$1
	        shift
	        t0=$(cut -d' ' -f1 /proc/uptime)
	        out=$("$ldso" "$@" 2>&1)
	        rc=$?
	        mark "$name rc=$rc ran=$(echo "$out" | grep -c ld-ran) after=$(cut -d' ' -f1 /proc/uptime)-$t0 err=$(echo "$out" | head -n 1)"
	}

	try() { # name command...: run it, report rc and the shell's error
	        name=$1
	        shift
	        out=$("$@" 2>&1)
	        rc=$?
	        mark "$name rc=$rc err=$(echo "$out" | sed -n 's/.*: \([^:]*\)$/\1/p' | head -n 1)"
	}
	# start PHASE [OPTION...]: start toolguardd, wait until it applied the policy.
	start() {
	        phase=$1
	        shift
	        log=/tmp/tg/daemon-$phase.log
	        toolguardd --foreground $verbose "$@" --policy /etc/tg/policy.yaml \
	                --config /etc/tg/toolguard.conf >"$log" 2>&1 &
	        pid=$!
	        ready=0
	        i=0
	        while [ $i -lt 600 ]; do
	                # It logs the kernel backend, then the applied policy.
	                if grep -q "info: Policy qemu-lsm serial 7" "$log"; then ready=1; break; fi
	                kill -0 $pid 2>/dev/null || break
	                sleep 0.2
	                i=$((i + 1))
	        done
	        sed "s/^/TG-LOG $phase: /" "$log"
	        if [ $ready = 0 ]; then
	                if kill -0 $pid 2>/dev/null; then
	                        mark "$phase daemon not-ready"
	                else
	                        wait $pid
	                        mark "$phase daemon exited rc=$?"
	                fi
	                finish
	        fi
	        mark "$phase daemon ready pid=$pid"
	        b=$(sed -n 's/.*Kernel: exec backend \([a-z]*\),.*/\1/p' "$log" | head -n 1)
	        mark "$phase backend=${b:-unknown}"
	        b=$(sed -n 's/.*Kernel: exec backend [a-z]*, connect backend \([a-z]*\).*/\1/p' "$log" | head -n 1)
	        mark "$phase connect=${b:-unknown}"
	        grep -q "Kernel: host names checked in HTTP CONNECT lines and TLS server names on ports" "$log" &&
	                mark "$phase streams=checked"
	}
	# stop: SIGTERM the daemon (the pinned programs stay).
	stop() {
	        kill -TERM $pid
	        i=0
	        while kill -0 $pid 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
	        wait $pid
	        mark "$phase daemon stopped rc=$?"
	        sed -n "/Received SIGTERM/,\$s/^/TG-LOG $phase: /p" "$log"
	}
	blocked() { grep -c '"verdict": *"blocked"' /tmp/tg/events.jsonl 2>/dev/null; }
	# events PREFIX FIRST WANT: wait (10 s at most) for WANT blocked events in
	# events.jsonl, then mark its exec events from the FIRST on.
	events() {
	        i=0
	        while [ $i -lt 50 ] && [ "$(blocked)" -lt "$3" ]; do
	                sleep 0.2
	                i=$((i + 1))
	        done
	        grep '"kind": *"exec"' /tmp/tg/events.jsonl 2>/dev/null | sed -n "$2,\$p" | while read -r line; do
	                mark "$1 $line"
	        done
	}
	# unload: toolguardd --unload
	unload() {
	        toolguardd --unload >/tmp/tg/unload.log 2>&1
	        mark "$phase unload rc=$?"
	        sed "s/^/TG-LOG $phase: /" /tmp/tg/unload.log
	}

	# Phase 1: the backend the daemon picks by itself (lsm on this kernel;
	# interpreter scripts are still decided by the tracepoint).
	start lsm
	try banned /tmp/t/banned-tool true
	try globbed /tmp/t/globbed/busybox true
	try allowed /tmp/t/allowed/busybox true
	try script /tmp/t/interp/ash /tmp/t/scripts/tool.sh
	try shebang /tmp/t/scripts/direct
	try script-allowed /tmp/t/interp/ash /tmp/t/allowed/ok.sh
	events event 1 4
	# "ld.so FILE": the loader maps FILE itself; lsm/mmap_file refuses the
	# executable mapping of a known banned inode before FILE runs.
	nb=$(blocked)
	try sha-exec /tmp/t/sha/e ld-ran
	ldrun ldso-known /tmp/t/sha/e ld-ran
	ldrun ldso-allowed /usr/bin/echo ld-ran
	# A copy the daemon has not seen: the exec of the loader asks the
	# daemon, which hashes FILE and kills the process after the fact.
	cp /opt/tgsha/sha-sleep /fresh/s2
	ldrun ldso-fresh /fresh/s2 4
	ldrun ldso-fresh-again /fresh/s2 4
	events ldso-event $((nb + 1)) $((nb + 4))
	# scripts[].sha256: the tracepoint's script request, judged by the daemon
	# (the script's content, symlink resolved), killed after the fact.
	ns=$(blocked)
	try script-sha /tmp/t/interp/ash /tmp/t/else/copy.sh
	try script-sha-link /tmp/t/interp/ash /tmp/t/link.sh
	events script-sha-event $((ns + 1)) $((ns + 2))
	# Cost of the LSM programs (kernel.bpf_stats_enabled): run counts and
	# time of each program after 30 runs of a dynamically linked program.
	echo 1 >/proc/sys/kernel/bpf_stats_enabled
	i=0
	while [ $i -lt 30 ]; do /usr/bin/echo x >/dev/null; i=$((i + 1)); done
	for f in /proc/$pid/fdinfo/*; do
	        grep -q '^prog_type:' "$f" 2>/dev/null || continue
	        mark "progstat $(grep -E '^(prog_type|run_time_ns|run_cnt):' "$f" | tr -s '\t\n' '  ')"
	done
	echo 0 >/proc/sys/kernel/bpf_stats_enabled
	# Pinned programs keep enforcing after the daemon stops.
	stop
	try after-stop /tmp/t/banned-tool true
	# --unload lifts the ban (busybox then runs, and knows no applet "banned-tool").
	unload
	try after-unload /tmp/t/banned-tool true

	# Phase 2: the tracepoint backend on the same kernel (Debian 12's own):
	# the banned program is killed at exec (SIGKILL: rc 137).
	nlsm=$(blocked)
	start tp --force-tracepoint
	try tp-banned /tmp/t/banned-tool true
	try tp-allowed /tmp/t/allowed/busybox true
	try tp-script /tmp/t/interp/ash /tmp/t/scripts/tool.sh
	ldrun tp-ldso /tmp/t/sha/s 4
	events tp-event $((nlsm + 1)) $((nlsm + 3))
	stop
	unload
	finish
	EOF
	chmod 0755 init || return 1
	find . | cpio -o -H newc -R 0:0 --quiet | gzip -1 >"$work/initramfs.gz"
}

t0=$(date +%s)
if ! (build_image) >"$work/build.log" 2>&1; then
	# The tools are all there: a failure here is a bug of this test, not a reason to skip.
	echo "1..1"
	echo "not ok 1 - build the initramfs"
	sed 's/^/# /' "$work/build.log"
	exit 0
fi
t1=$(date +%s)

timeout "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 -nographic -no-reboot \
	-nic none -kernel "$kernel" -initrd "$work/initramfs.gz" \
	-append "lsm=lockdown,capability,landlock,yama,bpf console=ttyS0 panic=-1 quiet tg.epoch=$(date -u +%s) tg.verbose=${TG_QEMU_VERBOSE:-0}" \
	</dev/null >"$console" 2>&1
qrc=$?
t2=$(date +%s)
tr -d '\r\033' <"$console" >"$console.txt"
mkdir -p "${diaglog%/*}" 2>/dev/null && cp "$console.txt" "$diaglog" 2>/dev/null

marks=$work/marks
grep -a '^TG-MARK ' "$console.txt" | sed 's/^TG-MARK //' >"$marks"
has() { grep -q -E "$1" "$marks"; }
has_all() {
	for re in "$@"; do
		has "$re" || return 1
	done
}

echo "1..31"
echo "# backend: lsm (qemu, Debian kernel $kver)"
echo "# image built in $((t1 - t0)) s, guest ran $((t2 - t1)) s (qemu exit $qrc, timeout $timeout_s s)"
[ $qrc = 124 ] && echo "# qemu was stopped by the $timeout_s s timeout (TG_QEMU_TIMEOUT)"
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
eperm='rc=126 err=Operation not permitted$'
check "toolguardd started in the VM and applied the policy" has '^lsm daemon ready'
check "exec backend reported is lsm" has '^lsm backend=lsm$'
# the connect and stream objects load in this kernel's verifier too
check "connect backend reported is cgroup (connect_guard loaded)" has '^lsm connect=cgroup$'
check "CONNECT/SNI checks loaded (stream_guard's sockops and sk_msg)" has '^lsm streams=checked$'
check "exec banned by name refused with EPERM (rc 126, Operation not permitted)" has "^banned $eperm"
check "exec banned by path glob refused with EPERM" has "^globbed $eperm"
check "allowed copy of the same binary runs (rc 0)" has '^allowed rc=0 '
check "blocked exec recorded in events.jsonl with verdict blocked" \
	has '^event .*"kind": *"exec".*"verdict": *"blocked".*"tool": *"banned-tool"'
check "the refused exec's event has its argv (read from the execve call)" \
	has '^event .*"verdict": *"blocked".*"tool": *"banned-tool".*"argv": *\[ *"/tmp/t/banned-tool", *"true" *\]'
# The new image's argv is not mapped at bprm_check_security: with the lsm
# backend the tracepoint still decides interpreter scripts (argv[1]) and kills
# them at exec.
check "script of a banned tool run by an interpreter killed at exec (rc 137)" has '^script rc=137 '
check "the script event names the script and the interpreter's argv" \
	has '^event .*"matcher": *"scripts\[0\]\.path".*"exe": *"/tmp/t/scripts/tool\.sh".*"argv": *\[ *"/tmp/t/interp/ash", *"/tmp/t/scripts/tool\.sh" *\]'
check "shebang script of a banned tool refused with EPERM" has "^shebang $eperm"
check "allowed script run by the same interpreter runs (rc 0)" has '^script-allowed rc=0 '
# "ld.so FILE" of a file banned only by sha256 (issue 8).
check "renamed copy banned by sha256, exec'd: refused with EPERM" has "^sha-exec $eperm"
check "ld.so FILE (known banned inode): the executable mapping is refused, FILE never runs (ld.so rc 127)" \
	has '^ldso-known rc=127 ran=0 '
check "ld.so FILE: the refusal is recorded with the sha256 match and the file's path" \
	has '^ldso-event .*"verdict": *"blocked".*"matcher": *"executables\[2\]\.sha256".*"exe": *"/tmp/t/sha/e"'
check "ld.so with an allowed program runs it (rc 0)" has '^ldso-allowed rc=0 ran=1 '
# The daemon learns FILE either after the loader mapped it (then it kills:
# rc 137) or before (then lsm/mmap_file refuses the mapping: rc 127).
check "ld.so FILE (a new copy, first run): stopped, FILE did not finish (rc 137 killed by the daemon, or 127 refused)" \
	has '^ldso-fresh rc=(137|127) ran=0 '
check "ld.so FILE (a new copy): one event per run (2 runs)" \
	test "$(grep -c '^ldso-event .*"exe": *"/fresh/s2"' "$marks")" = 2
check "ld.so FILE (a new copy): the decision is recorded with the sha256 match" \
	has '^ldso-event .*"verdict": *"blocked".*"matcher": *"executables\[3\]\.sha256".*"exe": *"/fresh/s2"'
check "ld.so FILE (the new copy, again): now refused in the kernel (rc 127)" has '^ldso-fresh-again rc=127 ran=0 '
check "LSM backend: a copy of a script banned by sha256, and a symlink to it, killed after the fact (rc 137)" \
	has_all '^script-sha rc=137 ' '^script-sha-link rc=137 '
check "LSM backend: the script events name the sha256 rule and the copy" \
	has '^script-sha-event .*"verdict": *"blocked".*"matcher": *"scripts\[1\]\.sha256".*"exe": *"/tmp/t/else/copy\.sh"'
check "pinned programs keep refusing after SIGTERM to the daemon" has "^after-stop $eperm"
check "toolguardd --unload lifts the ban" has_all '^lsm unload rc=0$' '^after-unload rc=127 '
check "--force-tracepoint on the same kernel: backend tracepoint" \
	has_all '^tp daemon ready' '^tp backend=tracepoint$'
check "tracepoint backend kills the banned exec (rc 137)" has '^tp-banned rc=137 '
check "tracepoint backend lets the allowed copy run" has '^tp-allowed rc=0 '
check "tracepoint backend kills the banned script's interpreter (rc 137)" has '^tp-script rc=137 '
check "tracepoint backend records the kill in events.jsonl" \
	has '^tp-event .*"kind": *"exec".*"verdict": *"blocked".*"tool": *"banned-tool"'
check "tracepoint backend: ld.so FILE (sha256) killed after the fact (rc 137)" has '^tp-ldso rc=137 '

# BPF program costs in the guest (TCG: emulated, many times slower than a real CPU).
sed -n 's/^progstat prog_type: *\([0-9]*\) run_time_ns: *\([0-9]*\) run_cnt: *\([0-9]*\).*/\1 \2 \3/p' "$marks" |
	while read -r type ns cnt; do
		[ "$cnt" -gt 0 ] 2>/dev/null && echo "# cost: prog_type $type: $cnt runs, $((ns / cnt)) ns per run (TCG)"
	done
sed 's/^/# /' "$marks"
if [ $failed = 1 ]; then
	echo "# --- last 60 console lines (full log: $diaglog) ---"
	tail -n 60 "$console.txt" | sed 's/^/# /'
fi
exit 0
