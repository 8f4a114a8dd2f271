#!/bin/sh
# Build toolguard's binary RPM from 'make dist's tarball with rpmbuild in a
# private topdir, and copy it to OUTDIR.
# Usage: packaging/build-rpm.sh TARBALL OUTDIR
# On Debian (apt-get install rpm) the Fedora BuildRequires cannot be checked:
# set RPMBUILD_NODEPS=0 to check them (on Fedora/RHEL); default: --nodeps
# when /etc/debian_version exists.
set -eu

[ $# -eq 2 ] || { echo "usage: $0 TARBALL OUTDIR (TARBALL from 'make dist')" >&2; exit 2; }
tarball=$1
outdir=$2
[ -f "$tarball" ] || { echo "$0: $tarball: no such file; run 'make dist' first" >&2; exit 1; }
command -v rpmbuild >/dev/null || { echo "$0: rpmbuild missing: apt-get install rpm (Debian) or dnf install rpm-build" >&2; exit 1; }
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

base=$(basename "$tarball" .tar.gz)
version=${base#toolguard-}
[ "$version" != "$base" ] || { echo "$0: $tarball is not named toolguard-VERSION.tar.gz" >&2; exit 1; }

top=$(mktemp -d "${TMPDIR:-/tmp}/toolguard-rpm.XXXXXX")
trap 'rm -rf "$top"' EXIT INT TERM
mkdir -p "$top/SOURCES" "$top/SPECS"
cp "$tarball" "$top/SOURCES/"
tar -xzf "$tarball" -O "$base/packaging/rpm/toolguard.spec" >"$top/SPECS/toolguard.spec"

nodeps=
if [ "${RPMBUILD_NODEPS:-}" = 1 ] || { [ -z "${RPMBUILD_NODEPS:-}" ] && [ -e /etc/debian_version ]; }; then
	nodeps=--nodeps
fi
rpmbuild -bb $nodeps \
	--define "_topdir $top" \
	--define "tg_version $version" \
	"$top/SPECS/toolguard.spec"
find "$top/RPMS" -name '*.rpm' -exec cp {} "$outdir/" \;
ls "$outdir"/*.rpm
