# tests/fuzz: libFuzzer targets for the parsers (tests/fuzz/README.md).
# `make fuzz` builds them with $(FUZZ_CC) (clang) and the parser sources compiled
# with the same sanitizer flags (not lib/libtoolguard.a, which has the normal ones).
# tests/fuzz/run-fuzz.sh SECONDS runs them; fuzz-smoke.sh is the short run in TESTS.
# fuzz_dns_bpf runs the kernel DNS parser (bpf/dns_guard.bpf.c) itself through
# BPF_PROG_TEST_RUN; fuzz_stream_bpf the kernel CONNECT/SNI parser (stream_guard's
# sk_msg program on a private sockhash holding only its own loopback sockets).
# Both need root + BPF to run (exit 77 otherwise), not to build.
FUZZ_TARGETS = tests/fuzz/fuzz_policy tests/fuzz/fuzz_config tests/fuzz/fuzz_protocol \
	tests/fuzz/fuzz_dnsmsg tests/fuzz/fuzz_dns_bpf tests/fuzz/fuzz_stream_bpf
FUZZ_LIB_SRCS = \
	$(top_srcdir)/lib/diag.c \
	$(top_srcdir)/lib/timeutil.c \
	$(top_srcdir)/lib/netaddr.c \
	$(top_srcdir)/lib/yaml_walk.c \
	$(top_srcdir)/lib/glob.c \
	$(top_srcdir)/lib/policy_parse.c \
	$(top_srcdir)/lib/config.c
FUZZ_DEPS = $(FUZZ_LIB_SRCS) $(top_srcdir)/lib/policy.h $(top_srcdir)/lib/yaml_walk.h \
	$(top_srcdir)/lib/paths.h config.h
FUZZ_CPPFLAGS = -include $(top_builddir)/config.h -I$(top_srcdir)/lib -D_GNU_SOURCE \
	-DSYSCONFDIR='"$(sysconfdir)"' -DLOCALSTATEDIR='"$(localstatedir)"' \
	-DRUNSTATEDIR='"$(runstatedir)"' -DPKGDATADIR='"$(pkgdatadir)"'
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined $(YAML_CFLAGS) $(OPENSSL_CFLAGS)
FUZZ_LIBS = $(YAML_LIBS) $(OPENSSL_LIBS)
# The kernel-parser targets share skip/load/feedback code (bpf_harness.c).
FUZZ_BPF_HARNESS = $(top_srcdir)/tests/fuzz/bpf_harness.c
FUZZ_BPF_DEPS = $(FUZZ_BPF_HARNESS) $(top_srcdir)/tests/fuzz/bpf_harness.h \
	$(top_srcdir)/bpf/toolguard_abi.h config.h

tests/fuzz/fuzz_policy: $(top_srcdir)/tests/fuzz/fuzz_policy.c $(FUZZ_DEPS)
	@$(MKDIR_P) tests/fuzz
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -o $@ \
		$(top_srcdir)/tests/fuzz/fuzz_policy.c $(FUZZ_LIB_SRCS) $(FUZZ_LIBS)

tests/fuzz/fuzz_config: $(top_srcdir)/tests/fuzz/fuzz_config.c $(FUZZ_DEPS)
	@$(MKDIR_P) tests/fuzz
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -o $@ \
		$(top_srcdir)/tests/fuzz/fuzz_config.c $(FUZZ_LIB_SRCS) $(FUZZ_LIBS)

tests/fuzz/fuzz_protocol: $(top_srcdir)/tests/fuzz/fuzz_protocol.c $(top_srcdir)/lib/protocol.c \
		$(top_srcdir)/lib/protocol.h config.h
	@$(MKDIR_P) tests/fuzz
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) $(JSONC_CFLAGS) -o $@ \
		$(top_srcdir)/tests/fuzz/fuzz_protocol.c $(top_srcdir)/lib/protocol.c $(JSONC_LIBS)

tests/fuzz/fuzz_dnsmsg: $(top_srcdir)/tests/fuzz/fuzz_dnsmsg.c $(top_srcdir)/lib/dnsmsg.c \
		$(top_srcdir)/lib/dnsmsg.h config.h
	@$(MKDIR_P) tests/fuzz
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -o $@ \
		$(top_srcdir)/tests/fuzz/fuzz_dnsmsg.c $(top_srcdir)/lib/dnsmsg.c

tests/fuzz/fuzz_dns_bpf: $(top_srcdir)/tests/fuzz/fuzz_dns_bpf.c bpf/dns_guard.skel.h $(FUZZ_BPF_DEPS)
	@$(MKDIR_P) tests/fuzz
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_CPPFLAGS) -I$(top_srcdir)/bpf -I$(top_builddir)/bpf $(FUZZ_CFLAGS) \
		$(LIBBPF_CFLAGS) -o $@ $(top_srcdir)/tests/fuzz/fuzz_dns_bpf.c $(FUZZ_BPF_HARNESS) $(LIBBPF_LIBS)

tests/fuzz/fuzz_stream_bpf: $(top_srcdir)/tests/fuzz/fuzz_stream_bpf.c bpf/stream_guard.skel.h $(FUZZ_BPF_DEPS)
	@$(MKDIR_P) tests/fuzz
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_CPPFLAGS) -I$(top_srcdir)/bpf -I$(top_builddir)/bpf $(FUZZ_CFLAGS) \
		$(LIBBPF_CFLAGS) -o $@ $(top_srcdir)/tests/fuzz/fuzz_stream_bpf.c $(FUZZ_BPF_HARNESS) \
		$(LIBBPF_LIBS)

fuzz: $(FUZZ_TARGETS)
.PHONY: fuzz

CLEANFILES += $(FUZZ_TARGETS)

EXTRA_DIST += \
	tests/fuzz/fuzz_policy.c \
	tests/fuzz/fuzz_config.c \
	tests/fuzz/fuzz_protocol.c \
	tests/fuzz/fuzz_dnsmsg.c \
	tests/fuzz/fuzz_dns_bpf.c \
	tests/fuzz/fuzz_stream_bpf.c \
	tests/fuzz/bpf_harness.c \
	tests/fuzz/bpf_harness.h \
	tests/fuzz/gen-net-seeds.py \
	tests/fuzz/README.md \
	tests/fuzz/policy.dict \
	tests/fuzz/run-fuzz.sh \
	tests/fuzz/corpus

dist_check_SCRIPTS += tests/fuzz/fuzz-smoke.sh
TESTS += tests/fuzz/fuzz-smoke.sh
