#!/bin/bash
# The RPM as an administrator on an RPM distribution receives it: built by
# rpmbuild from 'make dist's tarball (packaging/build-rpm.sh, 'make rpm'),
# then read back with rpm(8): files in the right places, configuration marked
# %config(noreplace), the unit handled by the systemd scriptlets; and unpacked
# (rpm2cpio) to run the packaged binaries against the packaged example policy.
# Debian's rpm package builds it here (--nodeps: the Fedora BuildRequires name
# Fedora packages). No root or kernel needed. About 2 minutes (a full build).
set -u
export LC_ALL=C
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"

skip() {
	echo "1..0 # SKIP $1"
	exit 0
}
# distcheck sets these: the package is built and checked once, in the main run
[ "${TOOLGUARD_SKIP_SYSTEM_TESTS:-0}" = 1 ] && skip "TOOLGUARD_SKIP_SYSTEM_TESTS=1"
[ "${TOOLGUARD_SKIP_KERNEL_TESTS:-0}" = 1 ] && skip "TOOLGUARD_SKIP_KERNEL_TESTS=1 (distcheck: checked in the main run)"
for c in rpmbuild rpm rpm2cpio cpio; do
	command -v "$c" >/dev/null || skip "$c missing (apt-get install rpm cpio)"
done
[ -f "$top_builddir/Makefile" ] || skip "no configured build tree at $top_builddir"

tap_n=0
tap_failed=0
ok() { # ok STATUS DESCRIPTION
	tap_n=$((tap_n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}
diag() { printf '# %s\n' "$*"; }

T=$(mktemp -d "${TMPDIR:-/tmp}/tg-rpm.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM
echo "1..15"

# Build from this tree's tarball (what 'make rpm' does), into a private dir so
# a stale package from an earlier build is never the one tested.
log=$top_builddir/tests/system/rpm-build.log
t0=$(date +%s)
if make -C "$top_builddir" dist-gzip >"$log" 2>&1 &&
	tarball=$(ls -t "$top_builddir"/toolguard-*.tar.gz | head -n1) &&
	sh "$top_srcdir/packaging/build-rpm.sh" "$tarball" "$T/out" >>"$log" 2>&1; then
	rc=0
else
	rc=1
fi
RPM=$(ls "$T"/out/toolguard-[0-9]*.rpm 2>/dev/null | head -n1)
[ $rc = 0 ] && [ -n "$RPM" ]
ok $? "rpmbuild builds the package from 'make dist's tarball ($(($(date +%s) - t0)) s)"
if [ -z "$RPM" ]; then
	tail -n 30 "$log" | sed 's/^/# /'
	for i in $(seq 2 15); do echo "not ok $i - (no package)"; done
	exit 1
fi
diag "package: $(basename "$RPM") ($(du -k "$RPM" | cut -f1) KiB)"

list=$(rpm -qlp "$RPM" 2>/dev/null)
has() { grep -qx -- "$1" <<<"$list"; }
has /usr/sbin/toolguardd && has /usr/bin/toolctl
ok $? "contains the daemon and toolctl"
has /usr/lib/systemd/system/toolguard.service
ok $? "contains the unit file in the systemd unit directory"
has /usr/lib/tmpfiles.d/toolguard.conf && has /usr/lib/sysusers.d/toolguard.conf
ok $? "contains the tmpfiles.d and sysusers.d entries"
n_man=0
for m in man8/toolctl.8 man8/toolguardd.8 man5/toolguard-policy.5 man5/toolguard.conf.5; do
	grep -q "^/usr/share/man/$m\(\.gz\|\.bz2\|\.xz\|\.zst\)\?$" <<<"$list" && n_man=$((n_man + 1))
done
[ $n_man = 4 ]
ok $? "contains the four man pages ($n_man of 4)"
has /usr/share/bash-completion/completions/toolctl
ok $? "contains the bash completion"
grep -q '^/usr/share/toolguard/.*example-policy.yaml$' <<<"$list"
ok $? "contains the example policy"

conf=$(rpm -qcp "$RPM" 2>/dev/null)
grep -qx /etc/toolguard/toolguard.conf <<<"$conf" && grep -qx /etc/toolguard/policy.yaml <<<"$conf"
ok $? "configuration files are marked %config"
# noreplace: rpm's file flags (%config = 1, noreplace = 16)
flags=$(rpm -qp --qf '[%{FILEFLAGS} %{FILENAMES}\n]' "$RPM" 2>/dev/null | awk '$2 == "/etc/toolguard/policy.yaml" {print $1}')
[ -n "$flags" ] && [ $((flags & 16)) != 0 ]
ok $? "the policy is %config(noreplace): an upgrade keeps the administrator's policy (flags ${flags:-none})"

scripts=$(rpm -qp --scripts "$RPM" 2>/dev/null)
section() { awk -v want="$1" '/^[a-z]+ scriptlet/ {on = ($1 == want)} on' <<<"$scripts"; }
section postinstall | grep -Eq "preset.*toolguard\.service|install-system-units toolguard\.service"
ok $? "%post presets (enables) the unit on first install"
section preuninstall | grep -Eq "disable --now toolguard\.service|remove-system-units toolguard\.service" &&
	section preuninstall | grep -q "toolguardd --unload"
ok $? "%preun disables and stops the unit on erase and unloads the kernel programs"
section postuninstall | grep -Eq "try-restart toolguard\.service|mark-restart-system-units toolguard\.service"
ok $? "%postun restarts (never stop-then-start) on upgrade: the new daemon adopts the pins"

# Unpack and run what was packaged.
mkdir "$T/root"
(cd "$T/root" && rpm2cpio "$RPM" | cpio -idm --quiet 2>/dev/null)
ver=$("$T/root/usr/bin/toolctl" --version 2>&1 | head -n1)
[[ $ver == *"$(rpm -qp --qf '%{VERSION}' "$RPM" 2>/dev/null)"* ]]
ok $? "the packaged toolctl runs and reports the package's version ($ver)"
ex=$(ls "$T"/root/usr/share/toolguard/*example-policy.yaml 2>/dev/null | head -n1)
out=$("$T/root/usr/bin/toolctl" policy check "${ex:-/nonexistent}" 2>&1)
rc=$?
[ $rc = 0 ]
ok $? "the packaged toolctl accepts the packaged example policy (exit $rc: $(head -n1 <<<"$out"))"
# The packaged configuration with its policy path moved into the unpacked tree.
sed "s|/etc/toolguard/policy.yaml|$T/root/etc/toolguard/policy.yaml|" "$T/root/etc/toolguard/toolguard.conf" >"$T/conf"
out=$("$T/root/usr/sbin/toolguardd" --check --config "$T/conf" 2>&1)
rc=$?
[ $rc = 0 ]
ok $? "the packaged toolguardd --check accepts the packaged configuration and policy (exit $rc: $(head -n1 <<<"$out"))"

exit $((tap_failed > 0))
