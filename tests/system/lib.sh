# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by tests/system/nspawn-deb.sh and qemu-systemd.sh (sourced after the
# caller defined skip()): finding or building the .deb under test, and the
# Debian bookworm rootfs both install it into (built once, cached as a tar).
#
# Environment: TOOLGUARD_DEB, TG_NSPAWN_CACHE, TG_TOOLS_DIR (see the callers).

CACHE=${TG_NSPAWN_CACHE:-/var/cache/toolguard-tests}
ROOTFS_TAR=$CACHE/bookworm-nspawn.tar
ROOTFS_PKGS=systemd,systemd-sysv,dbus,libbpf1,iproute2,libyaml-0-2,libcurl4,libjson-c5,libssl3,procps
TG_TOOLS_DIR=${TG_TOOLS_DIR:-$CACHE/npm}

# sys_find_deb: sets DEB to TOOLGUARD_DEB or the newest package 'make deb'
# left in $top_builddir/packages/, building one when there is none (the whole
# suite is one command); a failed build is a failing test, no tools a skip.
sys_find_deb() {
	DEB=${TOOLGUARD_DEB:-}
	if [ -z "$DEB" ]; then
		DEB=$(ls -t "$top_builddir"/packages/toolguard_*.deb 2>/dev/null | head -n1)
	fi
	if [ -z "$DEB" ] && command -v dpkg-buildpackage >/dev/null; then
		echo "# no .deb yet: building one with 'make deb' (about 3 minutes)"
		if ! make -C "$top_builddir" deb >"$top_builddir/tests/system/make-deb.log" 2>&1; then
			echo "1..1"
			echo "not ok 1 - 'make deb' builds the package"
			tail -n 30 "$top_builddir/tests/system/make-deb.log" | sed 's/^/# /'
			exit 0
		fi
		DEB=$(ls -t "$top_builddir"/packages/toolguard_*.deb 2>/dev/null | head -n1)
	fi
	[ -n "$DEB" ] && [ -f "$DEB" ] ||
		skip "no toolguard .deb: run 'make deb' first (or set TOOLGUARD_DEB=FILE; needs dpkg-dev debhelper)"
}

# sys_rootfs: makes $ROOTFS_TAR with debootstrap unless it is cached; no
# debootstrap or no mirror is a skip (the test cannot build its machine).
sys_rootfs() {
	local tmp mirror
	[ -s "$ROOTFS_TAR" ] && return 0
	command -v debootstrap >/dev/null ||
		skip "debootstrap missing and no cached rootfs $ROOTFS_TAR (apt-get install debootstrap)"
	mkdir -p "$CACHE"
	tmp=$(mktemp -d "$CACHE/rootfs.XXXXXX") || skip "cannot create a directory in $CACHE"
	echo "# building the bookworm rootfs (once; cached in $ROOTFS_TAR)"
	# The same Debian mirror apt uses on this machine (debootstrap's default otherwise).
	mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\(https\{0,1\}:[^ ]*\) bookworm main.*/\2/p' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1)
	[ -n "$mirror" ] || mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
	# shellcheck disable=SC2086 # no mirror: debootstrap's default
	if ! debootstrap --variant=minbase --include="$ROOTFS_PKGS" bookworm "$tmp" $mirror >"$tmp.log" 2>&1; then
		rm -rf "$tmp"
		skip "debootstrap failed (network?), see $tmp.log"
	fi
	tar -cf "$ROOTFS_TAR.tmp" --numeric-owner -C "$tmp" . && mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
	rm -rf "$tmp" "$tmp.log"
}
