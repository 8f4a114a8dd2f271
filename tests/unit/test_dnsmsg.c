/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lib/dnsmsg.c: queries, answers, and every kind of bad packet. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "dnsmsg.h"

struct pkt {
	uint8_t b[70000];
	size_t n;
};

static void p8(struct pkt *p, unsigned v)
{
	p->b[p->n++] = (uint8_t)v;
}

static void p16(struct pkt *p, unsigned v)
{
	p8(p, v >> 8);
	p8(p, v & 0xff);
}

static void p32(struct pkt *p, uint32_t v)
{
	p16(p, v >> 16);
	p16(p, v & 0xffff);
}

static void pname(struct pkt *p, const char *name)
{
	while (*name) {
		const char *d = strchr(name, '.');
		size_t l = d ? (size_t)(d - name) : strlen(name);

		p8(p, (unsigned)l);
		memcpy(p->b + p->n, name, l);
		p->n += l;
		name += l + (d ? 1 : 0);
	}
	p8(p, 0);
}

/* header + question; returns the offset of the question name */
static size_t start(struct pkt *p, uint16_t id, unsigned flags, unsigned an, unsigned ns, const char *q,
		    unsigned qtype)
{
	size_t qoff;

	p->n = 0;
	p16(p, id);
	p16(p, 0x8180 | flags);
	p16(p, 1);
	p16(p, an);
	p16(p, ns);
	p16(p, 0);
	qoff = p->n;
	pname(p, q);
	p16(p, qtype);
	p16(p, 1);
	return qoff;
}

static void rr_hdr(struct pkt *p, size_t owner_ptr, unsigned type, uint32_t ttl, unsigned rdlen)
{
	p16(p, 0xc000 | (unsigned)owner_ptr);
	p16(p, type);
	p16(p, 1);
	p32(p, ttl);
	p16(p, rdlen);
}

static void rr_a(struct pkt *p, size_t owner_ptr, uint32_t ttl, uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	rr_hdr(p, owner_ptr, TG_DNS_TYPE_A, ttl, 4);
	p8(p, a);
	p8(p, b);
	p8(p, c);
	p8(p, d);
}

static void test_query(void **state)
{
	uint8_t buf[TG_DNS_QUERY_MAX];
	size_t n = 0;

	(void)state;
	assert_int_equal(
	    tg_dns_build_query(0x1234, "api.anthropic.com", TG_DNS_TYPE_AAAA, buf, sizeof(buf), &n), 0);
	assert_int_equal(n, 12 + 19 + 4 + 11);
	assert_int_equal(buf[0], 0x12);
	assert_int_equal(buf[12], 3);
	assert_memory_equal(buf + 13, "api", 3);
	assert_int_equal(buf[12 + 19 + 1], 28);
	assert_int_equal(tg_dns_build_query(1, "API.x", 1, buf, sizeof(buf), &n), -EINVAL);
	assert_int_equal(tg_dns_build_query(1, "a..b", 1, buf, sizeof(buf), &n), -EINVAL);
	assert_int_equal(tg_dns_build_query(1, "a.b.", 1, buf, sizeof(buf), &n), -EINVAL);
	assert_int_equal(tg_dns_build_query(1, "*.b", 1, buf, sizeof(buf), &n), -EINVAL);
	assert_int_equal(tg_dns_build_query(1, "a.b", 1, buf, 20, &n), -ENOBUFS);
	{
		char l64[80];

		memset(l64, 'a', 64);
		strcpy(l64 + 64, ".com");
		assert_int_equal(tg_dns_name_check(l64), -EINVAL);
		l64[63] = '.';
		assert_int_equal(tg_dns_name_check(l64), -EINVAL); /* an empty label */
	}
}

static void test_answer_a_and_cname(void **state)
{
	struct pkt *p = malloc(sizeof(*p));
	struct tg_dns_result *res = malloc(sizeof(*res));
	size_t q, cn;

	(void)state;
	q = start(p, 7, 0, 3, 0, "Claude.AI", TG_DNS_TYPE_A);
	/* claude.ai CNAME edge.anthropic.com (ttl 100); edge A 127.77.1.1 (ttl 300), 127.77.1.2 (30) */
	rr_hdr(p, q, TG_DNS_TYPE_CNAME, 100, 0);
	cn = p->n;
	pname(p, "edge.anthropic.com");
	/* rdlength: the name just written */
	p->b[cn - 2] = 0;
	p->b[cn - 1] = (uint8_t)(p->n - cn);
	rr_a(p, cn, 300, 127, 77, 1, 1);
	rr_a(p, cn, 30, 127, 77, 1, 2);
	assert_int_equal(tg_dns_parse_response(p->b, p->n, 7, "claude.ai", TG_DNS_TYPE_A, res), 0);
	assert_int_equal(res->rcode, 0);
	assert_int_equal(res->n_chain, 2);
	assert_string_equal(res->chain[1], "edge.anthropic.com");
	assert_int_equal(res->n_addrs, 2);
	assert_int_equal(res->addrs[0].family, AF_INET);
	assert_int_equal(res->addrs[0].addr[3], 1);
	assert_int_equal(res->addrs[0].ttl, 100); /* the CNAME's TTL caps it */
	assert_int_equal(res->addrs[1].ttl, 30);
	/* wrong id, wrong question, wrong type */
	assert_int_equal(tg_dns_parse_response(p->b, p->n, 8, "claude.ai", TG_DNS_TYPE_A, res), -EBADMSG);
	assert_int_equal(tg_dns_parse_response(p->b, p->n, 7, "claude.com", TG_DNS_TYPE_A, res), -EBADMSG);
	assert_int_equal(tg_dns_parse_response(p->b, p->n, 7, "claude.ai", TG_DNS_TYPE_AAAA, res), -EBADMSG);
	/* only A and AAAA are address types: a CNAME (or TXT) question is refused
	 * before any record is read (found by fuzz_dnsmsg: its data was copied
	 * into the 16-byte address) */
	assert_int_equal(tg_dns_parse_response(p->b, p->n, 7, "claude.ai", TG_DNS_TYPE_CNAME, res), -EINVAL);
	assert_int_equal(tg_dns_parse_response(p->b, p->n, 7, "claude.ai", 16, res), -EINVAL);
	/* every truncation of it is refused, never read past */
	for (size_t n = 0; n < p->n; n++) {
		uint8_t *copy = malloc(n ? n : 1);

		memcpy(copy, p->b, n);
		assert_int_equal(tg_dns_parse_response(copy, n, 7, "claude.ai", TG_DNS_TYPE_A, res),
				 -EBADMSG);
		free(copy);
	}
	free(p);
	free(res);
}

static void test_records_not_on_chain_ignored(void **state)
{
	struct pkt *p = malloc(sizeof(*p));
	struct tg_dns_result *res = malloc(sizeof(*res));
	size_t q, other;

	(void)state;
	q = start(p, 9, 0, 2, 0, "a.example", TG_DNS_TYPE_A);
	/* an A record for another name (cache poisoning attempt) */
	other = p->n;
	pname(p, "evil.example");
	p16(p, TG_DNS_TYPE_A);
	p16(p, 1);
	p32(p, 60);
	p16(p, 4);
	p32(p, 0x7f4d0909);
	rr_a(p, q, 60, 127, 77, 9, 8);
	(void)other;
	assert_int_equal(tg_dns_parse_response(p->b, p->n, 9, "a.example", TG_DNS_TYPE_A, res), 0);
	assert_int_equal(res->n_addrs, 1);
	assert_int_equal(res->addrs[0].addr[2], 9);
	assert_int_equal(res->addrs[0].addr[3], 8);
	free(p);
	free(res);
}

static void test_compression_loops(void **state)
{
	struct pkt *p = malloc(sizeof(*p));
	struct tg_dns_result *res = malloc(sizeof(*res));
	char out[TG_DNS_NAME_MAX];
	size_t off, rr;

	(void)state;
	start(p, 1, 0, 1, 0, "a.example", TG_DNS_TYPE_A);
	/* owner: a pointer to itself */
	rr = p->n;
	p16(p, 0xc000 | (unsigned)rr);
	p16(p, 1);
	p16(p, 1);
	p32(p, 1);
	p16(p, 4);
	p32(p, 0);
	off = rr;
	assert_int_equal(tg_dns_read_name(p->b, p->n, &off, out), -EBADMSG);
	assert_int_equal(tg_dns_parse_response(p->b, p->n, 1, "a.example", TG_DNS_TYPE_A, res), -EBADMSG);
	/* a forward pointer */
	p->b[rr] = 0xc0;
	p->b[rr + 1] = (uint8_t)(rr + 4);
	assert_int_equal(tg_dns_parse_response(p->b, p->n, 1, "a.example", TG_DNS_TYPE_A, res), -EBADMSG);
	/* two labels pointing at each other: "x" -> ptr(B), B: "y" -> ptr(A) */
	p->n = 0;
	p8(p, 1);
	p8(p, 'x');
	p16(p, 0xc000 | 4); /* A at 0 -> B at 4 (forward: refused) */
	p8(p, 1);
	p8(p, 'y');
	p16(p, 0xc000 | 0); /* B at 4 -> A at 0 */
	off = 4;
	assert_int_equal(tg_dns_read_name(p->b, p->n, &off, out), -EBADMSG);
	off = 0;
	assert_int_equal(tg_dns_read_name(p->b, p->n, &off, out), -EBADMSG);
	/* a long backwards chain of pointers: bounded by TG_DNS_MAX_JUMPS */
	p->n = 0;
	p8(p, 0);
	for (unsigned i = 0; i < 100; i++)
		p16(p, 0xc000 | (unsigned)(p->n - (i ? 2 : 1)));
	off = p->n - 2;
	assert_int_equal(tg_dns_read_name(p->b, p->n, &off, out), -EBADMSG);
	off = 1 + 2 * 10; /* 11 jumps: fine */
	assert_int_equal(tg_dns_read_name(p->b, p->n, &off, out), 0);
	assert_string_equal(out, "");
	free(p);
	free(res);
}

static void test_oversized(void **state)
{
	struct pkt *p = malloc(sizeof(*p));
	char out[TG_DNS_NAME_MAX];
	size_t off;

	(void)state;
	/* a label of 64: refused (0x40 is an extended label type) */
	p->n = 0;
	p8(p, 64);
	memset(p->b + p->n, 'a', 64);
	p->n += 64;
	p8(p, 0);
	off = 0;
	assert_int_equal(tg_dns_read_name(p->b, p->n, &off, out), -EBADMSG);
	/* 5 labels of 63: 320 octets, over 255 */
	p->n = 0;
	for (int i = 0; i < 5; i++) {
		p8(p, 63);
		memset(p->b + p->n, 'b', 63);
		p->n += 63;
	}
	p8(p, 0);
	off = 0;
	assert_int_equal(tg_dns_read_name(p->b, p->n, &off, out), -EBADMSG);
	/* 3 labels of 63 and one of 61: 253 characters, 255 octets: fine */
	p->n = 0;
	for (int i = 0; i < 4; i++) {
		unsigned l = i < 3 ? 63 : 61;

		p8(p, l);
		memset(p->b + p->n, 'c', l);
		p->n += l;
	}
	p8(p, 0);
	off = 0;
	assert_int_equal(tg_dns_read_name(p->b, p->n, &off, out), 0);
	assert_int_equal(strlen(out), 253);
	assert_int_equal(off, p->n);
	/* a dot or a control byte inside a label */
	p->n = 0;
	p8(p, 3);
	memcpy(p->b + p->n, "a.b", 3);
	p->n += 3;
	p8(p, 0);
	off = 0;
	assert_int_equal(tg_dns_read_name(p->b, p->n, &off, out), -EBADMSG);
	free(p);
}

static void test_answer_counts(void **state)
{
	struct pkt *p = malloc(sizeof(*p));
	struct tg_dns_result *res = malloc(sizeof(*res));
	size_t q;

	(void)state;
	/* 0 answers: NODATA with an SOA (negative TTL) */
	start(p, 3, 0, 0, 1, "b.example", TG_DNS_TYPE_AAAA);
	pname(p, "example");
	p16(p, TG_DNS_TYPE_SOA);
	p16(p, 1);
	p32(p, 600);
	p16(p, 2 + 2 + 20);
	p16(p, 0); /* mname, rname: root */
	p->n -= 2;
	p8(p, 0);
	p8(p, 0);
	p32(p, 1);
	p32(p, 2);
	p32(p, 3);
	p32(p, 4);
	p32(p, 45); /* minimum */
	/* rdlength above counts 2+2+20 = 24 but we wrote 22: fix */
	p->b[p->n - 22 - 1] = 22;
	assert_int_equal(tg_dns_parse_response(p->b, p->n, 3, "b.example", TG_DNS_TYPE_AAAA, res), 0);
	assert_int_equal(res->n_addrs, 0);
	assert_int_equal(res->neg_ttl, 45);
	/* 65535 answers claimed, 2 present: refused */
	q = start(p, 4, 0, 65535, 0, "c.example", TG_DNS_TYPE_A);
	rr_a(p, q, 5, 127, 77, 0, 1);
	rr_a(p, q, 5, 127, 77, 0, 2);
	assert_int_equal(tg_dns_parse_response(p->b, p->n, 4, "c.example", TG_DNS_TYPE_A, res), -EBADMSG);
	/* 65535 answers present (a 65535-byte TCP message holds ~4000): we keep TG_DNS_MAX_ADDRS */
	q = start(p, 5, 0, 0, 0, "d.example", TG_DNS_TYPE_A);
	{
		unsigned n = 0;

		while (p->n + 16 <= TG_DNS_MSG_MAX) {
			rr_a(p, q, 5, 127, 77, (uint8_t)(n >> 8), (uint8_t)n);
			n++;
		}
		p->b[6] = (uint8_t)(n >> 8);
		p->b[7] = (uint8_t)n;
		assert_int_equal(tg_dns_parse_response(p->b, p->n, 5, "d.example", TG_DNS_TYPE_A, res), 0);
		assert_int_equal(res->n_addrs, TG_DNS_MAX_ADDRS);
		assert_true(res->more_addrs);
	}
	/* TC: ask again over TCP */
	start(p, 6, 0x0200, 0, 0, "e.example", TG_DNS_TYPE_A);
	assert_int_equal(tg_dns_parse_response(p->b, p->n, 6, "e.example", TG_DNS_TYPE_A, res), 0);
	assert_true(res->truncated);
	/* SERVFAIL */
	start(p, 6, 2, 0, 0, "e.example", TG_DNS_TYPE_A);
	assert_int_equal(tg_dns_parse_response(p->b, p->n, 6, "e.example", TG_DNS_TYPE_A, res), 0);
	assert_int_equal(res->rcode, 2);
	/* a query (QR clear) is not an answer */
	start(p, 6, 0, 0, 0, "e.example", TG_DNS_TYPE_A);
	p->b[2] &= 0x7f;
	assert_int_equal(tg_dns_parse_response(p->b, p->n, 6, "e.example", TG_DNS_TYPE_A, res), -EBADMSG);
	/* A record with a wrong rdlength */
	q = start(p, 7, 0, 1, 0, "f.example", TG_DNS_TYPE_A);
	rr_hdr(p, q, TG_DNS_TYPE_A, 5, 3);
	p8(p, 1);
	p8(p, 2);
	p8(p, 3);
	assert_int_equal(tg_dns_parse_response(p->b, p->n, 7, "f.example", TG_DNS_TYPE_A, res), -EBADMSG);
	free(p);
	free(res);
}

static void test_cname_loop(void **state)
{
	struct pkt *p = malloc(sizeof(*p));
	struct tg_dns_result *res = malloc(sizeof(*res));
	size_t q, b;

	(void)state;
	/* a.example CNAME b.example; b.example CNAME a.example; A of b */
	q = start(p, 2, 0, 3, 0, "a.example", TG_DNS_TYPE_A);
	rr_hdr(p, q, TG_DNS_TYPE_CNAME, 60, 11);
	b = p->n;
	pname(p, "b.example");
	rr_hdr(p, b, TG_DNS_TYPE_CNAME, 60, 2);
	p16(p, 0xc000 | (unsigned)q);
	rr_a(p, b, 60, 127, 77, 2, 2);
	assert_int_equal(tg_dns_parse_response(p->b, p->n, 2, "a.example", TG_DNS_TYPE_A, res), 0);
	assert_int_equal(res->n_chain, 2);
	assert_int_equal(res->n_addrs, 1);
	free(p);
	free(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_query),
	    cmocka_unit_test(test_answer_a_and_cname),
	    cmocka_unit_test(test_records_not_on_chain_ignored),
	    cmocka_unit_test(test_compression_loops),
	    cmocka_unit_test(test_oversized),
	    cmocka_unit_test(test_answer_counts),
	    cmocka_unit_test(test_cname_loop),
	};

	return cmocka_run_group_tests_name("dnsmsg", tests, NULL, NULL);
}
