# tests/integration: root + real kernel tests (load the BPF programs through
# toolguardd). Each script skips with "1..0 # SKIP reason" when it cannot run
# here (not root, no BTF/bpffs/cgroup2, TOOLGUARD_SKIP_KERNEL_TESTS=1).
# Helper scripts: tests/tools/fetch-ai-tools.sh installs the real AI tools.
integration_tests = \
	tests/integration/exec-claude.sh \
	tests/integration/exec-scripts.sh \
	tests/integration/exec-script-sha.sh \
	tests/integration/exec-exempt.sh \
	tests/integration/exec-time.sh \
	tests/integration/exec-hash.sh \
	tests/integration/connect.sh \
	tests/integration/persist.sh \
	tests/integration/reload.sh \
	tests/integration/control.sh \
	tests/integration/notices.sh \
	tests/integration/fetch.sh \
	tests/integration/report.sh \
	tests/integration/dns.sh \
	tests/integration/proxy.sh \
	tests/integration/resolve.sh

# notices.sh: a minimal org.freedesktop.Notifications server on a test session bus.
check_PROGRAMS += tests/integration/notify_server
tests_integration_notify_server_SOURCES = tests/integration/notify_server.c
tests_integration_notify_server_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
tests_integration_notify_server_LDADD = $(SYSTEMD_LIBS)

# test_dns_guard: bpf/dns_guard.bpf.c on crafted packets (BPF_PROG_TEST_RUN;
# private maps, never attached). dns.sh: DNS learning end to end with dnsmasq.
check_PROGRAMS += tests/integration/test_dns_guard
# tg_fuzz_add_host from the fuzz targets' shared BPF harness (one copy)
tests_integration_test_dns_guard_SOURCES = tests/integration/test_dns_guard.c tests/fuzz/bpf_harness.c \
	tests/fuzz/bpf_harness.h
tests_integration_test_dns_guard_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/fuzz
tests_integration_test_dns_guard_CFLAGS = $(AM_CFLAGS) $(LIBBPF_CFLAGS)
tests_integration_test_dns_guard_LDADD = $(LIBBPF_LIBS)
$(tests_integration_test_dns_guard_OBJECTS): $(tg_bpf_skels)
TESTS += tests/integration/test_dns_guard

TESTS += $(integration_tests)
EXTRA_DIST += $(integration_tests) tests/integration/status.schema.json tests/integration/check-schema.py \
	tests/integration/listen.py \
	tests/integration/dnswire.py \
	tests/integration/lib.sh \
	tests/tools/fetch-ai-tools.sh
