# bpf: the kernel programs (CO-RE objects) and their libbpf skeletons.
# Objects and skeletons are generated in the build tree (VPATH/distcheck-safe)
# from the sources in $(srcdir)/bpf; skeletons are written to a temporary name
# and renamed, so a failing bpftool leaves no half-written skeleton.

# toolguard_abi.h is included by the daemon and by tests (source tree).
AM_CPPFLAGS += -I$(top_srcdir)/bpf

tg_bpf_srcs = bpf/exec_guard.bpf.c bpf/connect_guard.bpf.c bpf/dns_guard.bpf.c bpf/stream_guard.bpf.c
tg_bpf_hdrs = bpf/toolguard_abi.h bpf/tg_common.bpf.h bpf/tg_net.bpf.h bpf/tg_hosts.bpf.h bpf/vmlinux.h
tg_bpf_objs = bpf/exec_guard.bpf.o bpf/connect_guard.bpf.o bpf/dns_guard.bpf.o bpf/stream_guard.bpf.o
tg_bpf_skels = bpf/exec_guard.skel.h bpf/connect_guard.skel.h bpf/dns_guard.skel.h bpf/stream_guard.skel.h

tg_bpf_cflags = -g -O2 -Wall -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -I$(srcdir)/bpf -I$(builddir)/bpf
tg_bpf_deps = $(tg_bpf_hdrs:%=$(srcdir)/%)

bpf/exec_guard.bpf.o: $(srcdir)/bpf/exec_guard.bpf.c $(tg_bpf_deps)
	@$(MKDIR_P) bpf
	$(AM_V_GEN)$(CLANG) $(tg_bpf_cflags) -c $(srcdir)/bpf/exec_guard.bpf.c -o $@

bpf/connect_guard.bpf.o: $(srcdir)/bpf/connect_guard.bpf.c $(tg_bpf_deps)
	@$(MKDIR_P) bpf
	$(AM_V_GEN)$(CLANG) $(tg_bpf_cflags) -c $(srcdir)/bpf/connect_guard.bpf.c -o $@

bpf/dns_guard.bpf.o: $(srcdir)/bpf/dns_guard.bpf.c $(tg_bpf_deps)
	@$(MKDIR_P) bpf
	$(AM_V_GEN)$(CLANG) $(tg_bpf_cflags) -c $(srcdir)/bpf/dns_guard.bpf.c -o $@

bpf/stream_guard.bpf.o: $(srcdir)/bpf/stream_guard.bpf.c $(tg_bpf_deps)
	@$(MKDIR_P) bpf
	$(AM_V_GEN)$(CLANG) $(tg_bpf_cflags) -c $(srcdir)/bpf/stream_guard.bpf.c -o $@

bpf/exec_guard.skel.h: bpf/exec_guard.bpf.o
	$(AM_V_GEN)$(BPFTOOL) gen skeleton bpf/exec_guard.bpf.o name exec_guard > $@.tmp && mv $@.tmp $@

bpf/connect_guard.skel.h: bpf/connect_guard.bpf.o
	$(AM_V_GEN)$(BPFTOOL) gen skeleton bpf/connect_guard.bpf.o name connect_guard > $@.tmp && mv $@.tmp $@

bpf/dns_guard.skel.h: bpf/dns_guard.bpf.o
	$(AM_V_GEN)$(BPFTOOL) gen skeleton bpf/dns_guard.bpf.o name dns_guard > $@.tmp && mv $@.tmp $@

bpf/stream_guard.skel.h: bpf/stream_guard.bpf.o
	$(AM_V_GEN)$(BPFTOOL) gen skeleton bpf/stream_guard.bpf.o name stream_guard > $@.tmp && mv $@.tmp $@

BUILT_SOURCES += $(tg_bpf_skels)
CLEANFILES += $(tg_bpf_objs) $(tg_bpf_skels)
EXTRA_DIST += $(tg_bpf_srcs) $(tg_bpf_hdrs)

# Smoke tests of the kernel side without the policy compiler: kernel-smoke.sh
# on this kernel (root; narrow bans, own pin directory, trap + timeout) and
# qemu-smoke.sh in Debian's 6.1 kernel under qemu (LSM + tracepoint backends).
noinst_PROGRAMS += bpf/kernel_smoke
bpf_kernel_smoke_SOURCES = bpf/kernel_smoke.c daemon/kernel.c daemon/kernel.h daemon/kernel_internal.h \
	daemon/procinfo.c daemon/procinfo.h
bpf_kernel_smoke_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon
bpf_kernel_smoke_CFLAGS = $(AM_CFLAGS) $(LIBBPF_CFLAGS)
bpf_kernel_smoke_LDADD = $(TG_LIB_LIBS) $(LIBBPF_LIBS)
$(bpf_kernel_smoke_OBJECTS): $(tg_bpf_skels)
EXTRA_DIST += bpf/kernel-smoke.sh bpf/qemu-smoke.sh bpf/README.md
# Both print TAP and skip when they cannot run (not root; qemu-smoke.sh
# unless TOOLGUARD_QEMU_TESTS=1).
TESTS += bpf/kernel-smoke.sh bpf/qemu-smoke.sh
