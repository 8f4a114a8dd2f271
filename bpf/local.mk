# bpf: the kernel programs (CO-RE objects) and their libbpf skeletons.
# Objects and skeletons are generated in the build tree (VPATH/distcheck-safe)
# from the sources in $(srcdir)/bpf; .DELETE_ON_ERROR (Makefile.am) removes a
# half-written skeleton when bpftool fails.

# toolguard_abi.h is included by the daemon and by tests (source tree).
AM_CPPFLAGS += -I$(top_srcdir)/bpf

BPF_SOURCES = bpf/exec_guard.bpf.c bpf/connect_guard.bpf.c
BPF_HEADERS = bpf/toolguard_abi.h bpf/tg_common.bpf.h bpf/vmlinux.h
BPF_OBJECTS = bpf/exec_guard.bpf.o bpf/connect_guard.bpf.o
BPF_SKELETONS = bpf/exec_guard.skel.h bpf/connect_guard.skel.h

BPF_CFLAGS = -g -O2 -Wall -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -I$(srcdir)/bpf -I$(builddir)/bpf
BPF_DEPS = $(BPF_HEADERS:%=$(srcdir)/%)

AM_V_BPF = $(am__v_BPF_$(V))
am__v_BPF_ = $(am__v_BPF_$(AM_DEFAULT_VERBOSITY))
am__v_BPF_0 = @echo "  BPF     " $@;
am__v_BPF_1 =
AM_V_SKEL = $(am__v_SKEL_$(V))
am__v_SKEL_ = $(am__v_SKEL_$(AM_DEFAULT_VERBOSITY))
am__v_SKEL_0 = @echo "  SKEL    " $@;
am__v_SKEL_1 =

bpf/exec_guard.bpf.o: $(srcdir)/bpf/exec_guard.bpf.c $(BPF_DEPS)
	@$(MKDIR_P) bpf
	$(AM_V_BPF)$(CLANG) $(BPF_CFLAGS) -c $(srcdir)/bpf/exec_guard.bpf.c -o $@

bpf/connect_guard.bpf.o: $(srcdir)/bpf/connect_guard.bpf.c $(BPF_DEPS)
	@$(MKDIR_P) bpf
	$(AM_V_BPF)$(CLANG) $(BPF_CFLAGS) -c $(srcdir)/bpf/connect_guard.bpf.c -o $@

bpf/exec_guard.skel.h: bpf/exec_guard.bpf.o
	$(AM_V_SKEL)$(BPFTOOL) gen skeleton bpf/exec_guard.bpf.o name exec_guard > $@

bpf/connect_guard.skel.h: bpf/connect_guard.bpf.o
	$(AM_V_SKEL)$(BPFTOOL) gen skeleton bpf/connect_guard.bpf.o name connect_guard > $@

BUILT_SOURCES += $(BPF_SKELETONS)
CLEANFILES += $(BPF_OBJECTS) $(BPF_SKELETONS)
EXTRA_DIST += $(BPF_SOURCES) $(BPF_HEADERS)

# Smoke test of the kernel side (root; not part of 'make check': it acts on
# the whole machine). Run: sudo bpf/kernel-smoke.sh (see that file).
noinst_PROGRAMS += bpf/kernel_smoke
bpf_kernel_smoke_SOURCES = bpf/kernel_smoke.c daemon/kernel.c daemon/kernel.h daemon/kernel_internal.h
bpf_kernel_smoke_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon -DTG_KERNEL_SMOKE
bpf_kernel_smoke_CFLAGS = $(AM_CFLAGS) $(LIBBPF_CFLAGS)
bpf_kernel_smoke_LDADD = $(TG_LIB_LIBS) $(LIBBPF_LIBS)
$(bpf_kernel_smoke_OBJECTS): $(BPF_SKELETONS)
EXTRA_DIST += bpf/kernel-smoke.sh
