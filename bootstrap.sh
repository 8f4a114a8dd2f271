#!/bin/bash
# Quick start on a fresh Debian 12 machine, as root (README.md):
#   ./bootstrap.sh              install the build and test dependencies, build in this
#                               tree, then run toolguardd in the foreground on
#                               the example policy
#   ./bootstrap.sh --no-run     the same, without starting the daemon
#   ./bootstrap.sh --deps-only  only install the dependencies (.ci/run uses this)
#   ./bootstrap.sh -- ARGS      extra arguments for toolguardd (e.g. --mode monitor)
set -euo pipefail
cd "$(dirname "$0")"

deps=(build-essential autoconf automake libtool pkg-config clang llvm libbpf-dev bpftool
	libyaml-dev libcurl4-openssl-dev libsystemd-dev libssl-dev libjson-c-dev libcmocka-dev
	libelf-dev zlib1g-dev)
# What `make check` needs beyond the build: real components the tests drive
# (qemu and Debian's kernel for the BPF-LSM backend, systemd-nspawn and the
# packaging tools for the system test of the .deb).
test_deps=(socat python3 nginx tinyproxy dnsmasq-base curl openssl dbus-daemon iproute2 procps util-linux passwd busybox-static cpio valgrind
	qemu-system-x86 linux-image-amd64 e2fsprogs systemd-container debootstrap dpkg-dev debhelper fakeroot rpm)
deps+=("${test_deps[@]}")
run_daemon=1 build=1
daemon_args=()
while [ $# -gt 0 ]; do
	case $1 in
	--deps-only) build=0 run_daemon=0 ;;
	--no-run) run_daemon=0 ;;
	--) shift; daemon_args=("$@"); break ;;
	-h | --help) sed -n '2,8s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "bootstrap.sh: unknown argument '$1' (see ./bootstrap.sh --help)" >&2; exit 2 ;;
	esac
	shift
done

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Install only what is missing (a second run needs no network).
missing=()
for p in "${deps[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	command -v apt-get >/dev/null || { echo "bootstrap.sh: apt-get not found: this script is for Debian 12; install ${missing[*]} by hand" >&2; exit 1; }
	echo "==> installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	as_root apt-get update -q
	# INITRD=No: the Debian kernel is only booted by qemu with the tests' own initramfs.
	as_root env INITRD=No apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The real AI tools (test subjects), from the npm registry.
tests/tools/fetch-ai-tools.sh || echo "bootstrap.sh: could not fetch the AI tools; tests that need them will skip" >&2
[ "$build" = 1 ] || exit 0

echo "==> building"
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
	./autogen.sh
fi
if [ ! -f config.status ]; then
	./configure -q --prefix=/usr --sysconfdir=/etc --localstatedir=/var --runstatedir=/run
fi
make -j"$(nproc)"

echo "==> checking the example policy"
./cli/toolctl policy check etc/example-policy.yaml
[ "$run_daemon" = 1 ] || exit 0

if [ ! -x daemon/toolguardd ]; then
	echo "==> toolguardd is not built in this tree; here is what the example policy says:"
	./cli/toolctl policy show --policy etc/example-policy.yaml
	exit 0
fi
cat <<'EOF'
==> starting toolguardd in the foreground on etc/example-policy.yaml
    It bans Claude Code on THIS machine (its programs and its API hosts).
    Try it from another terminal:  ./cli/toolctl test -- claude --version
    Ctrl-C stops the daemon; the ban stays pinned in the kernel until:
        ./daemon/toolguardd --unload
EOF
exec ./daemon/toolguardd --foreground --policy etc/example-policy.yaml "${daemon_args[@]}"
