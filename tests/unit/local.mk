# C unit tests (cmocka, TAP output). Each test_*.c is one program.
TG_UNIT_TESTS = \
	tests/unit/test_time \
	tests/unit/test_netaddr \
	tests/unit/test_parse \
	tests/unit/test_config \
	tests/unit/test_glob \
	tests/unit/test_matcher \
	tests/unit/test_protocol \
	tests/unit/test_compile \
	tests/unit/test_notice \
	tests/unit/test_dnsmsg \
	tests/unit/test_fetchrule
check_PROGRAMS += $(TG_UNIT_TESTS)
TESTS += $(TG_UNIT_TESTS)
TG_UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -DTG_TEST_POLICIES='"$(abs_top_srcdir)/tests/policies"'
TG_UNIT_LDADD = $(TG_LIB_LIBS) $(CMOCKA_LIBS)
tests_unit_test_time_CFLAGS = $(TG_UNIT_CFLAGS)
tests_unit_test_time_LDADD = $(TG_UNIT_LDADD)
tests_unit_test_netaddr_CFLAGS = $(TG_UNIT_CFLAGS)
tests_unit_test_netaddr_LDADD = $(TG_UNIT_LDADD)
tests_unit_test_parse_CFLAGS = $(TG_UNIT_CFLAGS)
tests_unit_test_parse_LDADD = $(TG_UNIT_LDADD)
tests_unit_test_config_CFLAGS = $(TG_UNIT_CFLAGS)
tests_unit_test_config_LDADD = $(TG_UNIT_LDADD)
tests_unit_test_glob_CFLAGS = $(TG_UNIT_CFLAGS)
tests_unit_test_glob_LDADD = $(TG_UNIT_LDADD)
tests_unit_test_matcher_CFLAGS = $(TG_UNIT_CFLAGS)
tests_unit_test_matcher_LDADD = $(TG_UNIT_LDADD)
tests_unit_test_protocol_CFLAGS = $(TG_UNIT_CFLAGS) $(JSONC_CFLAGS)
tests_unit_test_protocol_LDADD = $(TG_UNIT_LDADD)
EXTRA_DIST += tests/policies
tests_unit_test_compile_SOURCES = daemon/test_compile.c daemon/compile.c daemon/compile.h daemon/scan.c \
	daemon/scan.h daemon/hashcache.c daemon/hashcache.h daemon/kernel_internal.h daemon/procinfo.c \
	daemon/procinfo.h
tests_unit_test_compile_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon -I$(top_srcdir)/bpf
tests_unit_test_compile_CFLAGS = $(TG_UNIT_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_compile_LDADD = $(TG_UNIT_LDADD) $(OPENSSL_LIBS)
# daemon/notice.c (terminal notices, neutralising text): added by J
tests_unit_test_notice_SOURCES = daemon/test_notice.c daemon/notice.c daemon/notice.h daemon/log.c daemon/log.h \
	daemon/procinfo.c daemon/procinfo.h
tests_unit_test_notice_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon
tests_unit_test_notice_CFLAGS = $(TG_UNIT_CFLAGS) $(SYSTEMD_CFLAGS) $(JSONC_CFLAGS)
tests_unit_test_notice_LDADD = $(TG_UNIT_LDADD) $(SYSTEMD_LIBS) -lutil
# lib/dnsmsg.c: DNS answers with strict bounds (resolver of issue #4)
tests_unit_test_dnsmsg_CFLAGS = $(TG_UNIT_CFLAGS)
tests_unit_test_dnsmsg_LDADD = $(TG_UNIT_LDADD)
# lib/fetchrule.c: poll jitter, failure backoff, .sig check (daemon/fetch.c, bench/fleet_poll.c)
tests_unit_test_fetchrule_CFLAGS = $(TG_UNIT_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_fetchrule_LDADD = $(TG_UNIT_LDADD)
# daemon/loader.c: "ld.so FILE" program argument and executable mappings (issue 8)
check_PROGRAMS += tests/unit/test_loader
TESTS += tests/unit/test_loader
tests_unit_test_loader_SOURCES = daemon/test_loader.c daemon/loader.c daemon/loader.h daemon/kernel_internal.h \
	daemon/procinfo.c daemon/procinfo.h
tests_unit_test_loader_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon -I$(top_srcdir)/bpf
tests_unit_test_loader_CFLAGS = $(TG_UNIT_CFLAGS)
tests_unit_test_loader_LDADD = $(TG_UNIT_LDADD)
