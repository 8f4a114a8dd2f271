#!/bin/sh
# Build toolguard's .deb from 'make dist's tarball, the way a Debian build
# machine would: unpack it in a temporary directory, put packaging/debian at
# the top as debian/, run dpkg-buildpackage -b, and copy the results out.
# Usage: packaging/build-deb.sh TARBALL OUTDIR
#   e.g. make dist && packaging/build-deb.sh toolguard-0.1.0.tar.gz out/
# Needs: dpkg-dev debhelper fakeroot and the Build-Depends of debian/control
# (dpkg-buildpackage names what is missing).
set -eu

usage() {
	echo "usage: $0 TARBALL OUTDIR (TARBALL from 'make dist')" >&2
	exit 2
}
[ $# -eq 2 ] || usage
tarball=$1
outdir=$2
[ -f "$tarball" ] || { echo "$0: $tarball: no such file; run 'make dist' first" >&2; exit 1; }
command -v dpkg-buildpackage >/dev/null || {
	echo "$0: dpkg-buildpackage missing: apt-get install dpkg-dev debhelper fakeroot" >&2
	exit 1
}
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")

work=$(mktemp -d "${TMPDIR:-/tmp}/toolguard-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
tar -xzf "$tarball" -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'toolguard-*' | head -n 1)
[ -n "$src" ] && [ -d "$src/packaging/debian" ] || {
	echo "$0: $tarball has no toolguard-*/packaging/debian; is it from 'make dist'?" >&2
	exit 1
}
cp -a "$src/packaging/debian" "$src/debian"

# The package version follows the tarball's (toolguard-VERSION.tar.gz).
upstream=${src##*/toolguard-}
have=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
if [ "${have%-*}" != "$upstream" ]; then
	(cd "$src" && DEBEMAIL=${DEBEMAIL:-toolguard@intranet.example} DEBFULLNAME=${DEBFULLNAME:-toolguard build} \
		dch --newversion "$upstream-1" --distribution unstable --force-distribution \
		"Build of upstream $upstream." >/dev/null 2>&1) || {
		echo "$0: debian/changelog says $have but the tarball is $upstream; install devscripts (dch) or update the changelog" >&2
		exit 1
	}
fi

(cd "$src" && dpkg-buildpackage -b -us -uc)
for f in "$work"/*.deb "$work"/*.ddeb "$work"/*.buildinfo "$work"/*.changes; do
	[ -e "$f" ] && cp "$f" "$outdir/"
done
ls "$outdir"/*.deb
