# tests/adversarial: the ways around a ban (issue 8), each a TAP test that
# must fail to get through (root + real kernel; skips like tests/integration).
# Known bypasses are "not ok ... # TODO known bypass: why" (XFAIL).
adversarial_tests = \
	tests/adversarial/bypass-exec.sh \
	tests/adversarial/bypass-net.sh \
	tests/adversarial/tamper.sh \
	tests/adversarial/flood.sh \
	tests/adversarial/diskfull.sh \
	tests/adversarial/valgrind-reload.sh

check_PROGRAMS += tests/adversarial/tgadv-tool tests/adversarial/tgadv-exec tests/adversarial/tgadv-flood
tests_adversarial_tgadv_flood_SOURCES = tests/adversarial/tgadv-flood.c
tests_adversarial_tgadv_tool_SOURCES = tests/adversarial/tgadv-tool.c
tests_adversarial_tgadv_exec_SOURCES = tests/adversarial/tgadv-exec.c

TESTS += $(adversarial_tests)
EXTRA_DIST += $(adversarial_tests) tests/adversarial/lib.sh tests/adversarial/valgrind.supp
