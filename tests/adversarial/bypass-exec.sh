#!/bin/bash
# Ways around an exec ban (issue 8), each one tried for real and required to
# fail: a banned binary (by name, by path glob under the temp dir and by
# sha256 of a copy with random bytes appended: nothing else on the machine
# matches) and a banned node script under the temp dir. Known bypasses are
# TODO lines (see README.md "Known limits").
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/adversarial/lib.sh"

require_bpf
require_cmd node unshare chroot mount ldd
setup_tmp
[ -x "$ADV_TOOL" ] && [ -x "$ADV_EXEC" ] || bail "build tests/adversarial/tgadv-tool and tgadv-exec first (make check builds them)"

T=$TG_TMP
mkdir -p "$T/ban" "$T/x" "$T/s" "$T/elsewhere" "$T/root/bin"
banned=$T/ban/tgadv-banned
cp "$ADV_TOOL" "$banned" && head -c 64 /dev/urandom >>"$banned" && chmod 755 "$banned" || bail "cannot make $banned"
sum=$(sha256sum "$banned" | cut -d' ' -f1)
cp "$banned" "$T/x/renamed-before" # a renamed copy made before the daemon starts
ln "$banned" "$T/x/hardlink" || bail "cannot hardlink in $T"
ln -s "$banned" "$T/x/symlink"
echo 'console.log("tgadv script ran")' >"$T/s/banned.js"
echo 'setTimeout(() => console.log("tgadv script ran"), 4000)' >"$T/s/slow.js"
node=$(command -v node)
cp "$(readlink -f "$node")" "$T/x/n" # the interpreter under another name (made before start)
cp /bin/true "$T/x/t" # an unrelated renamed binary: must keep running
cp "$T/s/banned.js" "$T/elsewhere/copied.js"
ln -s "$T/s/banned.js" "$T/x/link.js"
ln -s "$T/elsewhere/copied.js" "$T/x/link2.js"
script_sum=$(sha256sum "$T/s/banned.js" | cut -d' ' -f1)
# A script banned by path only (no sha256 rule names it): a copy elsewhere is another script.
mkdir -p "$T/p"
echo 'console.log("tgadv path-only script ran")' >"$T/p/ponly.js"
cp "$T/p/ponly.js" "$T/elsewhere/ponly-copy.js"

# Without toolguard each of these runs (otherwise a "refused" below proves nothing).
for c in "$banned" "$T/x/hardlink" "$T/x/symlink"; do
	out=$(TGADV_DELAY_MS=0 timeout 10 "$c" 2>&1)
	[ "$out" = tgadv-ran ] || bail "baseline: $c printed '$out', want tgadv-ran"
done
[ "$(timeout 30 "$T/x/n" "$T/s/banned.js" 2>&1)" = "tgadv script ran" ] || bail "baseline: copied node cannot run banned.js"

pol=$T/policy.yaml
cat >"$pol" <<YAML
apiVersion: toolguard/v1
kind: Policy
metadata:
  name: adversarial-exec
  serial: 1
tools:
  - id: tgadv-bin
    name: Adversarial test binary
    action: block
    match:
      executables:
        - name: tgadv-banned
        - path: "$T/ban/**"
        - sha256: $sum
  - id: tgadv-script
    name: Adversarial test script
    action: block
    match:
      scripts:
        - path: "$T/s/**"
        - sha256: $script_sum
  - id: tgadv-ponly
    name: Adversarial test script banned by path only
    action: block
    match:
      scripts:
        - path: "$T/p/**"
YAML
# $T/x stands for an install location: scanned at start (the copy of node
# made before start is recognised by content there), watched afterwards.
export TOOLGUARD_SCAN_EXTRA=$T/x
start_or_bail "$pol"
cd "$T" || bail "cd $T"

tried "$banned (control: the banned binary by its own path)"
adv_refused "direct path" tgadv-bin -- "$banned"

cp "$banned" "$T/x/renamed-after"
tried "cp $banned $T/x/renamed-after && $T/x/renamed-after (sha256; copy made while the daemon runs)"
adv_refused "renamed copy (made after start)" tgadv-bin -- "$T/x/renamed-after"
tried "$T/x/renamed-before (renamed copy made before the daemon started)"
adv_refused "renamed copy (made before start)" tgadv-bin -- "$T/x/renamed-before"

tried "ln $banned $T/x/hardlink && $T/x/hardlink"
adv_refused "hardlink" tgadv-bin -- "$T/x/hardlink"
tried "ln -s $banned $T/x/symlink && $T/x/symlink"
adv_refused "symlink" tgadv-bin -- "$T/x/symlink"
tried "cd $T && ban/tgadv-banned"
adv_refused "relative path" tgadv-bin -- ban/tgadv-banned
tried "cd $T/ban && ./tgadv-banned"
adv_refused "cd dir && ./x" tgadv-bin -- bash -c 'cd ban && exec ./tgadv-banned'
tried "cd $T/x && ./renamed-before (relative path to a renamed copy)"
adv_refused "cd dir && ./renamed" tgadv-bin -- bash -c 'cd x && exec ./renamed-before'

tried "tgadv-exec procfd $T/x/hardlink: open() then execv(\"/proc/self/fd/N\")"
adv_refused "exec through /proc/self/fd/N" tgadv-bin -- "$ADV_EXEC" procfd "$T/x/hardlink"
tried "$PYTHON: os.execv(\"/proc/self/fd/N\") of $T/x/renamed-before"
adv_refused "python os.execv /proc/self/fd/N" tgadv-bin -- "$PYTHON" -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.set_inheritable(fd, True); os.execv("/proc/self/fd/%d" % fd, ["x"])' "$T/x/renamed-before"
tried "tgadv-exec execveat $banned: execveat(fd, \"\", AT_EMPTY_PATH)"
adv_refused "execveat AT_EMPTY_PATH" tgadv-bin -- "$ADV_EXEC" execveat "$banned"
tried "tgadv-exec memfd $banned: memfd_create, copy the bytes, fexecve (a new inode with no path)"
adv_refused "memfd + fexecve" tgadv-bin -- "$ADV_EXEC" memfd "$banned"

# The loader named in the binary's PT_INTERP (this machine may also have a 32-bit one).
ldso=$(file -L "$banned" 2>/dev/null | sed -n 's/.*interpreter \([^,]*\),.*/\1/p')
[ -x "$ldso" ] || ldso=
if [ -n "$ldso" ]; then
	tried "$ldso $banned (the loader run directly on the banned file itself)"
	adv_refused "dynamic loader run directly (banned path)" tgadv-bin -- "$ldso" "$banned"
	# Banned only by sha256: the loader maps the file itself (no exec of it).
	# Tracepoint backend: the exec of the loader asks the daemon, which
	# hashes the program argument and kills after the fact; LSM backend:
	# lsm/mmap_file refuses the executable mapping of a known banned inode
	# (tests/system/lsm-qemu.sh).
	tried "$ldso $T/x/renamed-before (renamed copy banned only by sha256; backend $TG_BACKEND)"
	t0=$(date +%s%N)
	adv_refused "dynamic loader run directly (renamed copy, $TG_BACKEND backend)" tgadv-bin -- "$ldso" "$T/x/renamed-before"
	diag "ld.so renamed-before: exit $RUN_RC after $((($(date +%s%N) - t0) / 1000000)) ms (the test binary waits 5 s before printing)"
	ev=$(events_find kind=exec verdict=blocked tool=tgadv-bin pid="$RUN_PID" | head -n1)
	case $(json_field matcher <<<"$ev") in
	*sha256*) pass "dynamic loader run directly (renamed copy): the event names the sha256 rule" ;;
	*) fail "dynamic loader run directly (renamed copy): the event names the sha256 rule (got: $(head -c 300 <<<"$ev"))" ;;
	esac
	mkdir -p "$T/x/-"
	cp "$T/x/renamed-before" "$T/x/-/r2"
	tried "cd $T/x && $ldso -/r2 (a new copy, run through a path that looks like an option)"
	adv_refused "dynamic loader run directly (new copy, '-/r2')" tgadv-bin -- bash -c 'cd "$1" && exec "$2" -/r2' _ "$T/x" "$ldso"
	cp "$ldso" "$T/elsewhere/l"
	tried "cp $ldso $T/elsewhere/l && $T/elsewhere/l $T/x/renamed-before (a copy of the loader under another name)"
	adv_known "a copy of the dynamic loader under another name" \
		"a loader is recognised by the interpreter list (name) only: a renamed copy of it is not asked about (the LSM backend refuses the mapping of a known banned file whatever maps it)" \
		'^tgadv-ran' -- "$T/elsewhere/l" "$T/x/renamed-before"
else
	skip "dynamic loader run directly" "no PT_INTERP loader found for $banned"
fi

bb=$(command -v busybox)
if [ -n "$bb" ] && file -L "$bb" 2>/dev/null | grep -q 'statically linked'; then
	ln -s "$bb" "$T/x/tgadv-banned"
	tried "ln -s $bb $T/x/tgadv-banned && $T/x/tgadv-banned (multi-call binary named after the tool)"
	adv_refused "busybox-style multi-call symlink" tgadv-bin -- "$T/x/tgadv-banned" echo tgadv-ran
	cp "$bb" "$T/root/bin/tgadv-banned"
	tried "chroot $T/root /bin/tgadv-banned (static busybox copy named after the tool inside a chroot)"
	adv_refused "chroot: static multi-call binary named after the tool" tgadv-bin -- chroot "$T/root" /bin/tgadv-banned echo tgadv-ran
else
	skip "busybox-style multi-call symlink" "no static busybox (apt-get install busybox-static)"
	skip "chroot: static multi-call binary named after the tool" "no static busybox"
fi

# chroot with the banned file's own inode under another name, plus its libraries.
ln "$banned" "$T/root/bin/t" 2>/dev/null || cp "$banned" "$T/root/bin/t"
# ldd runs the dynamic loader on its argument, which toolguard refuses for a
# banned file: list the libraries of the unbanned original instead.
for lib in $(ldd "$ADV_TOOL" | grep -o '/[^ ]*'); do cp --parents -L "$lib" "$T/root/" 2>/dev/null; done
tried "chroot $T/root /bin/t (the banned file hardlinked as /bin/t, libraries copied)"
adv_refused "chroot: a different path to the same file" tgadv-bin -- chroot "$T/root" /bin/t

touch "$T/x/mnt-target"
tried "unshare -m: mount --bind $banned $T/x/mnt-target; exec $T/x/mnt-target"
adv_refused "new mount namespace, bind mount" tgadv-bin -- unshare -m bash -c 'mount --bind "$1" "$2" && exec "$2"' _ "$banned" "$T/x/mnt-target"
mkdir -p "$T/mnt"
tried "unshare -m: mount --bind $T/ban $T/mnt; exec $T/mnt/tgadv-banned"
adv_refused "new mount namespace, bind-mounted directory" tgadv-bin -- unshare -m bash -c 'mount --bind "$1" "$2" && exec "$2/tgadv-banned"' _ "$T/ban" "$T/mnt"

cg=$TG_CGROUP2/tgadv-$$
if mkdir "$cg" 2>/dev/null; then
	on_cleanup "rmdir '$cg'"
	tried "mkdir $cg; echo \$\$ > $cg/cgroup.procs; exec $T/x/hardlink"
	adv_refused "a new child cgroup" tgadv-bin -- bash -c 'echo $$ >"$1/cgroup.procs" && exec "$2"' _ "$cg" "$T/x/hardlink"
else
	skip "a new child cgroup" "cannot create $cg"
fi
tried "unshare -m -p -f --mount-proc $T/x/renamed-before (container-ish: new mount + pid namespace)"
# unshare --fork cannot always re-raise its child's SIGKILL ("sigprocmask
# unblock failed"): a shell inside reports the child's status instead.
inner='"$@"; rc=$?; exit $rc'
adv_refused "unshare -m -p -f --mount-proc" tgadv-bin --anypid -- unshare -m -p -f --mount-proc bash -c "$inner" _ "$T/x/renamed-before"
tried "unshare -m -p -f -n -u -i --mount-proc: chroot $T/root /bin/t"
adv_refused "unshare (all namespaces) + chroot" tgadv-bin --anypid -- unshare -m -p -f -n -u -i --mount-proc bash -c "$inner" _ chroot "$T/root" /bin/t

# Scripts.
tried "$node $T/s/banned.js (control)"
adv_refused "node banned.js" tgadv-script -- "$node" "$T/s/banned.js"
tried "cd $T/s && node ./banned.js"
adv_refused "node ./banned.js (relative)" tgadv-script -- bash -c 'cd s && exec "$1" ./banned.js' _ "$node"
tried "cp node $T/x/n (before the daemon started) && $T/x/n $T/s/banned.js (the interpreter under another name)"
adv_refused "interpreter copied as 'n' (made before start)" tgadv-script -- "$T/x/n" "$T/s/banned.js"
cp "$(readlink -f "$node")" "$T/elsewhere/n2"
sleep 1 # the watcher hashes new files as they are written (the instant case is measured below)
tried "cp node $T/elsewhere/n2 (while the daemon runs) && $T/elsewhere/n2 $T/s/banned.js"
adv_refused "interpreter copied as 'n2' (made after start)" tgadv-script -- "$T/elsewhere/n2" "$T/s/banned.js"
tried "cd $T/s && $T/x/n ./banned.js (renamed interpreter, relative script)"
adv_refused "interpreter copied as 'n', relative script" tgadv-script -- bash -c 'cd s && exec "$1" ./banned.js' _ "$T/x/n"
run_direct "$T/x/n" -e 'console.log("fine")'
ok "$([ "$RUN_RC" -eq 0 ] && grep -qx fine "$RUN_OUT"; echo $?)" "the renamed copy of node still runs other code (exit $RUN_RC)"
run_direct "$T/x/t"
ok "$([ "$RUN_RC" -eq 0 ]; echo $?)" "an unrelated renamed binary (cp /bin/true $T/x/t) still runs (exit $RUN_RC)"
# The window: a copy run the instant it is written, before the watcher hashed
# it, is asked about by the kernel ("unknown inode") and judged by the daemon
# after it started; from then on the kernel knows it.
t0=$(date +%s%N)
cp "$(readlink -f "$node")" "$T/elsewhere/n3" && run_direct "$T/elsewhere/n3" "$T/s/banned.js"
ms=$((($(date +%s%N) - t0) / 1000000))
diag "window: a copy of node run the instant it was written: exit $RUN_RC after $ms ms (copy included), printed '$(head -c 40 "$RUN_OUT")'"
t0=$(date +%s%N)
cp "$(readlink -f "$node")" "$T/elsewhere/n4" && run_direct "$T/elsewhere/n4" "$T/s/slow.js"
ms=$((($(date +%s%N) - t0) / 1000000))
tried "cp node $T/elsewhere/n4 && $T/elsewhere/n4 $T/s/slow.js at once (a banned script that runs for 4 s)"
ok "$(is_refused_status "$RUN_RC" && [ ! -s "$RUN_OUT" ]; echo $?)" \
	"interpreter copied and run at once: stopped after the fact (exit $RUN_RC after $ms ms, copy included)"
sleep 1
tried "cp node $T/elsewhere/n3 && $T/elsewhere/n3 $T/s/banned.js at once; then again"
adv_refused "interpreter copied as 'n3' and run at once: the next run" tgadv-script -- "$T/elsewhere/n3" "$T/s/banned.js"
# Scripts judged by content (scripts: - sha256:, an extension): the kernel
# sends a script request for each interpreter run; the daemon opens the
# script as the process sees it (symlinks resolved; stdin when it is a
# regular file), hashes it and kills the process after the fact.
tried "cp $T/s/banned.js $T/elsewhere/copied.js && node $T/elsewhere/copied.js (sha256 rule; backend $TG_BACKEND)"
adv_refused "script copied elsewhere (sha256 rule)" tgadv-script -- "$node" "$T/elsewhere/copied.js"
tried "ln -s $T/s/banned.js $T/x/link.js && node $T/x/link.js"
adv_refused "script through a symlink" tgadv-script -- "$node" "$T/x/link.js"
tried "ln -s $T/elsewhere/copied.js $T/x/link2.js && cd $T/x && node ./link2.js (a symlink to a copy, relative)"
adv_refused "symlink to a copy, relative" tgadv-script -- bash -c 'cd x && exec "$1" ./link2.js' _ "$node"
tried "node - < $T/s/banned.js (the script on stdin)"
adv_refused "script on stdin" tgadv-script -- bash -c 'exec "$1" - <"$2"' _ "$node" "$T/s/banned.js"
tried "node < $T/elsewhere/copied.js (a copy on stdin, no argument)"
adv_refused "copy on stdin, no argument" tgadv-script -- bash -c 'exec "$1" <"$2"' _ "$node" "$T/elsewhere/copied.js"
tried "$T/x/n $T/x/link.js (the renamed interpreter through a symlink)"
adv_refused "renamed interpreter, script through a symlink" tgadv-script -- "$T/x/n" "$T/x/link.js"
run_direct "$node" -e 'console.log("fine")'
ok "$([ "$RUN_RC" -eq 0 ] && grep -qx fine "$RUN_OUT"; echo $?)" "node still runs other code with script requests on (exit $RUN_RC)"
tried "cat $T/s/banned.js | node (the script through a pipe)"
adv_known "script piped on stdin" "a pipe cannot be read by the daemon without taking the bytes from the interpreter" \
	'tgadv script ran' -- bash -c 'cat "$2" | exec "$1"' _ "$node" "$T/s/banned.js"
tried "cp $T/p/ponly.js $T/elsewhere/ponly-copy.js && node $T/elsewhere/ponly-copy.js (path rule only)"
adv_known "script copied elsewhere (path rule only)" "a path rule names a place: a copy elsewhere is another script (ban it by sha256)" \
	'tgadv path-only script ran' -- "$node" "$T/elsewhere/ponly-copy.js"
tried "node -e \"\$(cat $T/s/banned.js)\" (the script's text as -e code)"
adv_known "script text as -e code" "code given with -e/-p/-c has no file to hash" \
	'tgadv script ran' -- bash -c 'exec "$1" -e "$(cat "$2")"' _ "$node" "$T/s/banned.js"

# The daemon killed first: the pinned programs and maps keep enforcing.
crash_daemon
tried "kill -9 toolguardd; then $banned, $T/x/hardlink, $T/x/renamed-before, node banned.js"
adv_refused "daemon killed: direct path" tgadv-bin --noevent -- "$banned"
adv_refused "daemon killed: hardlink (inode learnt before)" tgadv-bin --noevent -- "$T/x/hardlink"
adv_refused "daemon killed: renamed copy (inode learnt before)" tgadv-bin --noevent -- "$T/x/renamed-before"
adv_refused "daemon killed: node banned.js" tgadv-script --noevent -- "$node" "$T/s/banned.js"
cp "$banned" "$T/x/renamed-dead"
tried "kill -9 toolguardd; cp $banned $T/x/renamed-dead && $T/x/renamed-dead"
adv_known "daemon killed: a NEW renamed copy" "sha256 rules need the daemon to hash a file the kernel has not seen; with the daemon dead a new copy runs (path and name rules and learnt inodes stay enforced)" \
	'tgadv-ran' -- "$T/x/renamed-dead"

done_testing
