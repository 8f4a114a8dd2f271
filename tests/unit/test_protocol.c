/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Control socket protocol: request parsing, validation, framing (lib/protocol.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol.h"

static int parse(const char *s, struct tg_ctl_request *r, const char **err)
{
	return tg_ctl_request_parse(s, strlen(s), r, err);
}

static void test_simple_commands(void **state)
{
	static const struct {
		const char *line;
		enum tg_ctl_cmd cmd;
	} cases[] = {
	    {"{\"v\":1,\"cmd\":\"status\"}", TG_CTL_STATUS}, {"{\"cmd\":\"reload\",\"v\":1}", TG_CTL_RELOAD},
	    {"{\"v\":1,\"cmd\":\"sync\"}  ", TG_CTL_SYNC},   {"{\"v\":1,\"cmd\":\"unload\"}", TG_CTL_UNLOAD},
	    {"{\"v\":1,\"cmd\":\"policy\"}", TG_CTL_POLICY},
	};
	struct tg_ctl_request r;
	const char *err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(cases[i].line, &r, &err), 0);
		assert_int_equal(r.cmd, cases[i].cmd);
		assert_null(err);
		tg_ctl_request_free(&r);
	}
	assert_int_equal(parse("{\"v\":1,\"cmd\":\"policy\",\"text\":true}", &r, &err), 0);
	assert_true(r.policy_text);
	tg_ctl_request_free(&r);
	assert_true(tg_ctl_cmd_privileged(TG_CTL_RELOAD));
	assert_true(tg_ctl_cmd_privileged(TG_CTL_SYNC));
	assert_true(tg_ctl_cmd_privileged(TG_CTL_UNLOAD));
	assert_false(tg_ctl_cmd_privileged(TG_CTL_STATUS));
	assert_false(tg_ctl_cmd_privileged(TG_CTL_TEST));
	assert_false(tg_ctl_cmd_privileged(TG_CTL_EVENTS));
	assert_string_equal(tg_ctl_cmd_name(TG_CTL_EVENTS), "events");
}

static void test_test_requests(void **state)
{
	struct tg_ctl_request r;
	const char *err;

	(void)state;
	assert_int_equal(
	    parse("{\"v\":1,\"cmd\":\"test\",\"exec\":{\"argv\":[\"claude\",\"-p\",\"\"],\"cwd\":\"/"
		  "home/a\",\"uid\":1000}}",
		  &r, &err),
	    0);
	assert_true(r.test_exec);
	assert_int_equal(r.argc, 3);
	assert_string_equal(r.argv[0], "claude");
	assert_string_equal(r.argv[2], "");
	assert_null(r.argv[3]);
	assert_string_equal(r.cwd, "/home/a");
	assert_true(r.has_uid);
	assert_int_equal(r.uid, 1000);
	tg_ctl_request_free(&r);

	assert_int_equal(
	    parse("{\"v\":1,\"cmd\":\"test\",\"dest\":{\"host\":\"api.anthropic.com\",\"port\":443}}", &r,
		  &err),
	    0);
	assert_true(r.test_dest);
	assert_string_equal(r.host, "api.anthropic.com");
	assert_int_equal(r.port, 443);
	tg_ctl_request_free(&r);

	assert_int_equal(parse("{\"v\":1,\"cmd\":\"test\",\"dest\":{\"ip\":\"127.77.0.1\"}}", &r, &err), 0);
	assert_string_equal(r.ip, "127.77.0.1");
	assert_int_equal(r.port, 0);
	tg_ctl_request_free(&r);
}

static void test_events_requests(void **state)
{
	struct tg_ctl_request r;
	const char *err;

	(void)state;
	assert_int_equal(parse("{\"v\":1,\"cmd\":\"events\",\"since\":1700000000,\"tool\":\"claude-code\","
			       "\"follow\":true,\"limit\":10}",
			       &r, &err),
			 0);
	assert_true(r.has_since);
	assert_true(r.since_ns == 1700000000LL * 1000000000LL);
	assert_string_equal(r.tool, "claude-code");
	assert_true(r.follow);
	assert_int_equal(r.limit, 10);
	tg_ctl_request_free(&r);
	assert_int_equal(parse("{\"v\":1,\"cmd\":\"events\"}", &r, &err), 0);
	assert_false(r.follow);
	assert_false(r.has_since);
	assert_null(r.tool);
	tg_ctl_request_free(&r);
}

static void test_invalid(void **state)
{
	static const struct {
		const char *line;
		int err;
		const char *msg;
	} cases[] = {
	    {"", -EINVAL, "not one JSON object"},
	    {"status", -EINVAL, "not one JSON object"},
	    {"[1,2]", -EINVAL, "not one JSON object"},
	    {"{\"v\":1,\"cmd\":\"status\"} x", -EINVAL, "not one JSON object"},
	    {"{\"v\":1,\"cmd\":\"status\"}{}", -EINVAL, "not one JSON object"},
	    {"{\"cmd\":\"status\"}", -EINVAL, "protocol version"},
	    {"{\"v\":\"1\",\"cmd\":\"status\"}", -EINVAL, "protocol version"},
	    {"{\"v\":2,\"cmd\":\"status\"}", -EPROTONOSUPPORT, "unsupported protocol version"},
	    {"{\"v\":1}", -EINVAL, "no \"cmd\""},
	    {"{\"v\":1,\"cmd\":7}", -EINVAL, "no \"cmd\""},
	    {"{\"v\":1,\"cmd\":\"frob\"}", -EINVAL, "unknown \"cmd\""},
	    {"{\"v\":1,\"cmd\":\"test\"}", -EINVAL, "exactly one of"},
	    {"{\"v\":1,\"cmd\":\"test\",\"exec\":{\"argv\":[]}}", -EINVAL, "non-empty array"},
	    {"{\"v\":1,\"cmd\":\"test\",\"exec\":{\"argv\":[1]}}", -EINVAL, "non-empty array"},
	    {"{\"v\":1,\"cmd\":\"test\",\"exec\":{\"argv\":[\"\"]}}", -EINVAL, "argv[0] not empty"},
	    {"{\"v\":1,\"cmd\":\"test\",\"exec\":{\"argv\":[\"a\"],\"cwd\":\"rel\"}}", -EINVAL,
	     "absolute path"},
	    {"{\"v\":1,\"cmd\":\"test\",\"exec\":{\"argv\":[\"a\"],\"uid\":-1}}", -EINVAL, "user id"},
	    {"{\"v\":1,\"cmd\":\"test\",\"exec\":{\"argv\":[\"a\"],\"uid\":4294967295}}", -EINVAL, "user id"},
	    {"{\"v\":1,\"cmd\":\"test\",\"dest\":{\"host\":\"a\",\"ip\":\"1.2.3.4\"}}", -EINVAL,
	     "exactly one of"},
	    {"{\"v\":1,\"cmd\":\"test\",\"dest\":{\"ip\":\"1.2.3.4\",\"port\":65536}}", -EINVAL,
	     "port number"},
	    {"{\"v\":1,\"cmd\":\"test\",\"dest\":{\"host\":\"\"}}", -EINVAL, "host name"},
	    {"{\"v\":1,\"cmd\":\"events\",\"since\":\"yesterday\"}", -EINVAL, "seconds since the epoch"},
	    {"{\"v\":1,\"cmd\":\"events\",\"follow\":1}", -EINVAL, "true or false"},
	    {"{\"v\":1,\"cmd\":\"events\",\"limit\":5000}", -EINVAL, "0 .. 1024"},
	    {"{\"v\":1,\"cmd\":\"policy\",\"text\":\"yes\"}", -EINVAL, "true or false"},
	};
	struct tg_ctl_request r = {0};
	const char *err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err = NULL;
		assert_int_equal(parse(cases[i].line, &r, &err), cases[i].err);
		assert_non_null(err);
		if (!strstr(err, cases[i].msg))
			fail_msg("%s: error \"%s\" does not say \"%s\"", cases[i].line, err, cases[i].msg);
	}
	/* a NUL inside the line */
	assert_int_equal(tg_ctl_request_parse("{\"v\":1,\0\"cmd\":\"status\"}", 24, &r, &err), -EINVAL);
	assert_non_null(strstr(err, "NUL"));
	/* a NUL inside a JSON string */
	assert_int_equal(parse("{\"v\":1,\"cmd\":\"test\",\"exec\":{\"argv\":[\"a\\u0000b\"]}}", &r, &err),
			 -EINVAL);
}

static void test_limits(void **state)
{
	struct tg_ctl_request r;
	const char *err;
	char *big = malloc(TG_CTL_MAX_LINE + 16), *p;
	size_t n = 0;

	(void)state;
	assert_non_null(big);
	memset(big, ' ', TG_CTL_MAX_LINE + 1);
	assert_int_equal(tg_ctl_request_parse(big, TG_CTL_MAX_LINE, &r, &err), -E2BIG);
	assert_non_null(strstr(err, "64 KiB"));

	/* 257 argv entries */
	p = big;
	p += sprintf(p, "{\"v\":1,\"cmd\":\"test\",\"exec\":{\"argv\":[");
	for (int i = 0; i < 257; i++)
		p += sprintf(p, "%s\"a\"", i ? "," : "");
	sprintf(p, "]}}");
	assert_int_equal(parse(big, &r, &err), -EINVAL);
	assert_non_null(strstr(err, "too many"));
	free(big);

	/* framing */
	assert_int_equal(tg_ctl_find_line("abc", 3, 16, &n), 0);
	assert_int_equal(tg_ctl_find_line("abc\ndef", 7, 16, &n), 1);
	assert_int_equal(n, 3);
	assert_int_equal(tg_ctl_find_line("\n", 1, 16, &n), 1);
	assert_int_equal(n, 0);
	assert_int_equal(tg_ctl_find_line("0123456789abcdef", 16, 16, &n), -E2BIG);
	/* a newline past the limit does not count */
	assert_int_equal(tg_ctl_find_line("0123456789abcdef\n", 17, 16, &n), -E2BIG);
}

static void test_error_line(void **state)
{
	char *s = tg_ctl_error_line(EPERM, "reload needs root or membership of group \"x\"");

	(void)state;
	assert_non_null(s);
	assert_string_equal(s, "{\"v\":1,\"ok\":false,\"error\":\"reload needs root or membership of group "
			       "\\\"x\\\"\",\"code\":1}\n");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple_commands), cmocka_unit_test(test_test_requests),
	    cmocka_unit_test(test_events_requests), cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_limits),	    cmocka_unit_test(test_error_line),
	};

	return cmocka_run_group_tests_name("protocol", tests, NULL, NULL);
}
