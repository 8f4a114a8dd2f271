/* SPDX-License-Identifier: GPL-2.0-or-later */
/* CIDR parsing/containment and host name normalisation (lib/netaddr.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "policy.h"

static void addr_of(int family, const char *s, uint8_t out[16])
{
	memset(out, 0, 16);
	assert_int_equal(inet_pton(family, s, out), 1);
}

static void test_cidr_v4(void **state)
{
	struct tg_cidr c;
	const uint8_t want[4] = {160, 79, 104, 0};

	(void)state;
	assert_int_equal(tg_parse_cidr("160.79.104.0/23", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefixlen, 23);
	assert_memory_equal(c.addr, want, 4);

	assert_int_equal(tg_parse_cidr("127.77.1.2", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefixlen, 32);
	assert_int_equal(c.addr[3], 2);

	assert_int_equal(tg_parse_cidr("0.0.0.0/0", &c), 0);
	assert_int_equal(c.prefixlen, 0);
	assert_int_equal(tg_parse_cidr("10.0.0.0/8", &c), 0);
	assert_int_equal(tg_parse_cidr("127.77.0.1/32", &c), 0);
}

static void test_cidr_v6(void **state)
{
	struct tg_cidr c;
	uint8_t want[16];

	(void)state;
	assert_int_equal(tg_parse_cidr("2607:6bc0::/48", &c), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefixlen, 48);
	addr_of(AF_INET6, "2607:6bc0::", want);
	assert_memory_equal(c.addr, want, 16);

	assert_int_equal(tg_parse_cidr("::1", &c), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefixlen, 128);
	assert_int_equal(c.addr[15], 1);

	assert_int_equal(tg_parse_cidr("fd77::/16", &c), 0);
	assert_int_equal(c.prefixlen, 16);
}

static void test_cidr_v4_mapped(void **state)
{
	struct tg_cidr c;
	const uint8_t want[16] = {10, 0, 0, 0};

	(void)state;
	/* ::ffff:a.b.c.d/N is normalised to IPv4 a.b.c.d/(N-96) */
	assert_int_equal(tg_parse_cidr("::ffff:10.0.0.0/104", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefixlen, 8);
	assert_memory_equal(c.addr, want, 16);

	assert_int_equal(tg_parse_cidr("::ffff:127.77.1.2", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefixlen, 32);
	assert_int_equal(c.addr[0], 127);
	assert_int_equal(c.addr[3], 2);
	assert_int_equal(c.addr[4], 0);

	assert_int_equal(tg_parse_cidr("::ffff:0.0.0.0/96", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefixlen, 0);
	/* shorter than /96 reaches outside the mapped range */
	assert_int_equal(tg_parse_cidr("::ffff:0.0.0.0/95", &c), -EINVAL);
}

static void test_cidr_invalid(void **state)
{
	static const char *const bad[] = {
	    "",
	    "/24",
	    "1.2.3.4/",
	    "1.2.3.4/33",
	    "1.2.3.4/-1",
	    "1.2.3.4/+8",
	    "1.2.3.4/ 8",
	    "1.2.3.4/8 ",
	    "1.2.3/24",
	    "1.2.3.4.5",
	    "1.2.3.256",
	    "01.2.3.4",
	    "::1/129",
	    "2607:6bc0:::/48",
	    "fe80::1%eth0",
	    "1.2.3.4/1000",
	    "1.2.3.4/24/1",
	    "example.com",
	    "::ffff:1.2.3.0/64",
	    " 1.2.3.4",
	};
	struct tg_cidr c = {.family = 99};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (tg_parse_cidr(bad[i], &c) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(c.family, 99);
	/* host bits set: a distinct error so callers can suggest the network */
	assert_int_equal(tg_parse_cidr("160.79.105.0/23", &c), -EDOM);
	assert_int_equal(tg_parse_cidr("1.2.3.4/24", &c), -EDOM);
	assert_int_equal(tg_parse_cidr("2607:6bc0::1/48", &c), -EDOM);
	assert_int_equal(tg_parse_cidr("::ffff:10.0.0.1/104", &c), -EDOM);
	assert_int_equal(c.family, 99);
}

static void test_cidr_contains(void **state)
{
	struct tg_cidr c4, c6, all;
	uint8_t a[16];

	(void)state;
	assert_int_equal(tg_parse_cidr("160.79.104.0/23", &c4), 0);
	addr_of(AF_INET, "160.79.104.0", a);
	assert_true(tg_cidr_contains(&c4, AF_INET, a));
	addr_of(AF_INET, "160.79.105.255", a);
	assert_true(tg_cidr_contains(&c4, AF_INET, a));
	addr_of(AF_INET, "160.79.106.0", a);
	assert_false(tg_cidr_contains(&c4, AF_INET, a));
	addr_of(AF_INET, "160.79.103.255", a);
	assert_false(tg_cidr_contains(&c4, AF_INET, a));
	/* IPv4-mapped IPv6 destination is the IPv4 address */
	addr_of(AF_INET6, "::ffff:160.79.105.1", a);
	assert_true(tg_cidr_contains(&c4, AF_INET6, a));
	addr_of(AF_INET6, "::ffff:160.79.107.1", a);
	assert_false(tg_cidr_contains(&c4, AF_INET6, a));

	assert_int_equal(tg_parse_cidr("2607:6bc0::/48", &c6), 0);
	addr_of(AF_INET6, "2607:6bc0:0:ffff::1", a);
	assert_true(tg_cidr_contains(&c6, AF_INET6, a));
	addr_of(AF_INET6, "2607:6bc0:1::1", a);
	assert_false(tg_cidr_contains(&c6, AF_INET6, a));
	/* family mismatch */
	addr_of(AF_INET, "38.7.107.192", a); /* same first bytes as 2607:6bc0 */
	assert_false(tg_cidr_contains(&c6, AF_INET, a));

	assert_int_equal(tg_parse_cidr("0.0.0.0/0", &all), 0);
	addr_of(AF_INET, "255.255.255.255", a);
	assert_true(tg_cidr_contains(&all, AF_INET, a));
	addr_of(AF_INET6, "::1", a);
	assert_false(tg_cidr_contains(&all, AF_INET6, a));

	assert_int_equal(tg_parse_cidr("127.77.1.2", &c4), 0);
	addr_of(AF_INET, "127.77.1.2", a);
	assert_true(tg_cidr_contains(&c4, AF_INET, a));
	addr_of(AF_INET, "127.77.1.3", a);
	assert_false(tg_cidr_contains(&c4, AF_INET, a));
}

static void check_host(const char *in, bool allow_wildcard, const char *want, bool want_wild)
{
	char *out = NULL;
	bool wild = !want_wild;
	int r = tg_hostname_normalize(in, allow_wildcard, &out, &wild);

	if (r != 0)
		fail_msg("\"%s\" rejected (%d)", in, r);
	assert_string_equal(out, want);
	assert_int_equal(wild, want_wild);
	free(out);
}

static void test_hostname(void **state)
{
	char l63[64], name253[254];

	(void)state;
	check_host("api.anthropic.com", false, "api.anthropic.com", false);
	check_host("API.Anthropic.COM.", false, "api.anthropic.com", false);
	check_host("claude.ai", true, "claude.ai", false);
	check_host("localhost", false, "localhost", false);
	check_host("com.", false, "com", false);
	check_host("*.anthropic.com", true, "*.anthropic.com", true);
	check_host("*.Anthropic.COM.", true, "*.anthropic.com", true);
	check_host("xn--bcher-kva.example", false, "xn--bcher-kva.example", false);
	check_host("3com.com", false, "3com.com", false);
	check_host("a-b.c0m", false, "a-b.c0m", false);
	check_host("1.2.3.a", false, "1.2.3.a", false);

	memset(l63, 'a', 63);
	l63[63] = '\0';
	check_host(l63, false, l63, false);
	/* 253 characters: 63.63.63.61 */
	snprintf(name253, sizeof(name253), "%.63s.%.63s.%.63s.%.61s", l63, l63, l63, l63);
	assert_int_equal(strlen(name253), 253);
	check_host(name253, false, name253, false);
}

static void test_hostname_invalid(void **state)
{
	static const char *const bad[] = {
	    "",	       ".",	     "..",	  "a..b",  ".a",  "a.com..",  "-a.com", "a-.com",
	    "a_b.com", "a b.com",    "a.*.com",	  "*",	   "*.",  "**.a.com", "*a.com", "a.*",
	    "1.2.3.4", "127.0.0.1.", "1.2.3.256", "a.123", "::1", "a/b",      "ä.com",	"a.com:443",
	};
	char l64[65], name254[256];
	char *out = (char *)"untouched";
	bool wild = false;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (tg_hostname_normalize(bad[i], true, &out, &wild) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_string_equal(out, "untouched");
	/* wildcard only when allowed */
	assert_int_equal(tg_hostname_normalize("*.anthropic.com", false, &out, &wild), -EINVAL);

	memset(l64, 'a', 64);
	l64[64] = '\0';
	assert_int_equal(tg_hostname_normalize(l64, false, &out, &wild), -EINVAL);
	memset(name254, 'a', sizeof(name254));
	for (size_t i = 63; i < 254; i += 64)
		name254[i] = '.';
	name254[254] = '\0';
	assert_int_equal(tg_hostname_normalize(name254, false, &out, &wild), -EINVAL);
	/* ... but 253 plus the root dot is fine */
	name254[253] = '.';
	name254[254] = '\0';
	assert_int_equal(tg_hostname_normalize(name254, false, &out, &wild), 0);
	assert_int_equal(strlen(out), 253);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cidr_v4),	     cmocka_unit_test(test_cidr_v6),
	    cmocka_unit_test(test_cidr_v4_mapped),   cmocka_unit_test(test_cidr_invalid),
	    cmocka_unit_test(test_cidr_contains),    cmocka_unit_test(test_hostname),
	    cmocka_unit_test(test_hostname_invalid),
	};

	return cmocka_run_group_tests_name("netaddr", tests, NULL, NULL);
}
