# cli: toolctl (dispatch in toolctl.c; offline commands in cmd_policy.c, cmd_test.c)
bin_PROGRAMS += cli/toolctl
cli_toolctl_SOURCES = \
	cli/toolctl.c cli/toolctl.h \
	cli/cmd_policy.c \
	cli/cmd_test.c \
	cli/cmd_daemon.c
cli_toolctl_CPPFLAGS = $(AM_CPPFLAGS) -DSBINDIR='"$(sbindir)"'
cli_toolctl_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(OPENSSL_CFLAGS) $(YAML_CFLAGS)
cli_toolctl_LDADD = $(TG_LIB_LIBS) $(JSONC_LIBS) $(OPENSSL_LIBS) $(YAML_LIBS)

# TAP shell tests of toolctl (no daemon, no root needed).
cli_tests = \
	tests/cli/policy-check.sh \
	tests/cli/policy-show.sh \
	tests/cli/test-exec.sh \
	tests/cli/test-time.sh \
	tests/cli/test-user.sh \
	tests/cli/test-dest.sh \
	tests/cli/commands.sh
TESTS += $(cli_tests)
EXTRA_DIST += $(cli_tests) \
	tests/cli/lib.sh \
	tests/cli/bad-policy.yaml \
	tests/cli/exempt-root.yaml
