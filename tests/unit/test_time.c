/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Instants, durations and their display (lib/timeutil.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "policy.h"

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static int64_t inst(const char *s)
{
	struct tg_instant in;

	assert_int_equal(tg_parse_instant(s, &in), 0);
	assert_true(in.set);
	return in.t;
}

static void test_rfc3339(void **state)
{
	struct tg_instant in;

	(void)state;
	assert_int_equal(tg_parse_instant("2026-07-10T00:00:00Z", &in), 0);
	assert_true(in.set);
	assert_false(in.bare_date);
	assert_int_equal(in.t, 1783641600);
	assert_int_equal(in.utcoff_min, 0);

	assert_int_equal(tg_parse_instant("2026-07-10T00:00:00+08:00", &in), 0);
	assert_int_equal(in.t, 1783612800);
	assert_int_equal(in.utcoff_min, 480);

	assert_int_equal(tg_parse_instant("2026-03-01T09:30:00-05:30", &in), 0);
	assert_int_equal(in.t, 1772377200);
	assert_int_equal(in.utcoff_min, -330);

	/* lower-case t/z, space separator, fraction, seconds optional */
	assert_int_equal(inst("2026-07-10t00:00:00z"), 1783641600);
	assert_int_equal(inst("2026-07-10 00:00:00Z"), 1783641600);
	assert_int_equal(inst("2026-07-10T00:00:00.999999999Z"), 1783641600);
	assert_int_equal(inst("2026-07-10T08:00+08:00"), 1783641600);
	assert_int_equal(inst("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(inst("1969-12-31T23:59:59Z"), -1);
	assert_int_equal(inst("0001-01-01T00:00:00Z"), -62135596800LL);
	assert_int_equal(inst("9999-12-31T23:59:59Z"), 253402300799LL);
	/* leap years */
	assert_int_equal(inst("2024-02-29T00:00:00Z"), 1709164800);
	assert_int_equal(inst("2000-02-29T00:00:00Z"), 951782400);
	/* RFC 3339 leap second lands on the next second */
	assert_int_equal(inst("2016-12-31T23:59:60Z"), 1483228800);
}

static void test_rfc3339_invalid(void **state)
{
	static const char *const bad[] = {
	    "",
	    "2026",
	    "2026-7-10",
	    "2026-07-1",
	    "26-07-10",
	    "2026/07/10",
	    "2026-00-10",
	    "2026-13-01",
	    "2026-01-00",
	    "2026-01-32",
	    "2026-02-29",
	    "1900-02-29T00:00:00Z",
	    "2027-02-29T00:00:00Z",
	    "2026-04-31T00:00:00Z",
	    "2026-06-31",
	    "2026-07-10T24:00:00Z",
	    "2026-07-10T23:60:00Z",
	    "2026-07-10T23:59:61Z",
	    "2026-07-10T00:00:00", /* no offset */
	    "2026-07-10T00:00:00+8:00",
	    "2026-07-10T00:00:00+0800",
	    "2026-07-10T00:00:00+24:00",
	    "2026-07-10T00:00:00+08:60",
	    "2026-07-10T00:00:00.Z",
	    "2026-07-10T00:00:00ZZ",
	    "2026-07-10T00:00:00Z ",
	    " 2026-07-10",
	    "2026-07-10 ",
	    "2026-07-10X00:00:00Z",
	    "2026-07-10T0:00:00Z",
	    "0000-01-01",
	    "tomorrow",
	};
	struct tg_instant in = {.set = false, .t = 12345};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (tg_parse_instant(bad[i], &in) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		/* untouched on error */
		assert_false(in.set);
		assert_int_equal(in.t, 12345);
	}
	assert_int_equal(tg_parse_instant(NULL, &in), -EINVAL);
}

static void test_bare_date_local(void **state)
{
	struct tg_instant in;
	char buf[64];

	(void)state;
	set_tz("CST-8"); /* UTC+8, no DST */
	assert_int_equal(tg_parse_instant("2026-07-10", &in), 0);
	assert_true(in.bare_date);
	assert_int_equal(in.t, 1783612800);
	assert_int_equal(in.utcoff_min, 480);
	assert_string_equal(tg_format_instant(&in, buf, sizeof(buf)), "2026-07-10 00:00 +08:00");

	/* A zone with DST: summer and winter offsets differ */
	set_tz("CET-1CEST,M3.5.0,M10.5.0/3");
	assert_int_equal(tg_parse_instant("2026-07-10", &in), 0);
	assert_int_equal(in.utcoff_min, 120);
	assert_int_equal(in.t, 1783641600 - 7200);
	assert_int_equal(tg_parse_instant("2026-01-10", &in), 0);
	assert_int_equal(in.utcoff_min, 60);
	assert_string_equal(tg_format_instant(&in, buf, sizeof(buf)), "2026-01-10 00:00 +01:00");

	set_tz("UTC0");
	assert_int_equal(tg_parse_instant("2024-02-29", &in), 0);
	assert_int_equal(in.t, 1709164800);
	assert_int_equal(in.utcoff_min, 0);
}

static void test_duration(void **state)
{
	static const struct {
		const char *s;
		int64_t v;
	} good[] = {
	    {"0", 0},	      {"0s", 0},      {"30s", 30},	 {"10m", 600},		 {"12h", 43200},
	    {"14d", 1209600}, {"1w", 604800}, {"1d12h", 129600}, {"1w2d3h4m5s", 788645}, {"90m", 5400},
	    {"1h30m", 5400},  {"007s", 7},
	};
	static const char *const bad[] = {
	    "",	  "d",	  "10",	 "1x",	"1h1d", "1d1d", "-1d", " 1d",  "1d ",
	    "1D", "1.5h", "1 d", "1dd", "h1",	"+1d",	"1ms", "1min",
	};
	int64_t v = -7;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(tg_parse_duration(good[i].s, &v), 0);
		if (v != good[i].v)
			fail_msg("\"%s\": got %lld, want %lld", good[i].s, (long long)v,
				 (long long)good[i].v);
	}
	v = -7;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (tg_parse_duration(bad[i], &v) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(v, -7);
	assert_int_equal(tg_parse_duration("99999999999999999999d", &v), -ERANGE);
	assert_int_equal(tg_parse_duration("1000000000000000w", &v), -ERANGE);
	assert_int_equal(tg_parse_duration("9223372036854775807s", &v), 0);
	assert_int_equal(v, INT64_MAX);
	assert_int_equal(tg_parse_duration("9223372036854775807m1s", &v), -ERANGE);
	assert_int_equal(tg_parse_duration("9223372036854775807s", &v), 0);
	assert_int_equal(tg_parse_duration("15250284452471w4d", &v), -ERANGE); /* only the sum overflows */
	assert_int_equal(v, INT64_MAX);
}

static void test_format_instant(void **state)
{
	struct tg_instant in = {0};
	char buf[64];

	(void)state;
	assert_string_equal(tg_format_instant(&in, buf, sizeof(buf)), "not set");
	assert_int_equal(tg_parse_instant("2026-07-10T00:00:00+08:00", &in), 0);
	assert_string_equal(tg_format_instant(&in, buf, sizeof(buf)), "2026-07-10 00:00 +08:00");
	assert_int_equal(tg_parse_instant("2026-07-09T16:00:00Z", &in), 0);
	assert_string_equal(tg_format_instant(&in, buf, sizeof(buf)), "2026-07-09 16:00 +00:00");
	assert_int_equal(tg_parse_instant("2026-03-01T09:30:15.5-05:30", &in), 0);
	assert_string_equal(tg_format_instant(&in, buf, sizeof(buf)), "2026-03-01 09:30:15 -05:30");
	/* truncation is safe */
	tg_format_instant(&in, buf, 8);
	assert_string_equal(buf, "2026-03");
}

static void test_format_time_local(void **state)
{
	char buf[64];

	(void)state;
	set_tz("CST-8");
	assert_string_equal(tg_format_time_local(1783612800, buf, sizeof(buf)), "2026-07-10 00:00 +08:00");
	set_tz("UTC0");
	assert_string_equal(tg_format_time_local(0, buf, sizeof(buf)), "1970-01-01 00:00 +00:00");
	set_tz("EST5EDT,M3.2.0,M11.1.0");
	assert_string_equal(tg_format_time_local(1783641600, buf, sizeof(buf)), "2026-07-09 20:00 -04:00");
	set_tz("UTC0");
}

static void test_format_span(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(tg_format_span(3 * 86400, buf, sizeof(buf)), "3 d");
	assert_string_equal(tg_format_span(3 * 86400 + 86399, buf, sizeof(buf)), "3 d");
	assert_string_equal(tg_format_span(5 * 3600, buf, sizeof(buf)), "5 h");
	assert_string_equal(tg_format_span(86399, buf, sizeof(buf)), "23 h");
	assert_string_equal(tg_format_span(12 * 60 + 59, buf, sizeof(buf)), "12 min");
	assert_string_equal(tg_format_span(40, buf, sizeof(buf)), "40 s");
	assert_string_equal(tg_format_span(0, buf, sizeof(buf)), "0 s");
	assert_string_equal(tg_format_span(-7200, buf, sizeof(buf)), "-2 h");
	assert_string_equal(tg_format_span(INT64_MIN, buf, sizeof(buf)), "-106751991167300 d");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc3339),	    cmocka_unit_test(test_rfc3339_invalid),
	    cmocka_unit_test(test_bare_date_local), cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_format_instant),  cmocka_unit_test(test_format_time_local),
	    cmocka_unit_test(test_format_span),
	};

	return cmocka_run_group_tests_name("time", tests, NULL, NULL);
}
