// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for lib/dnsmsg.c, every entry point:
 *  - the input as a DNS message: tg_dns_read_name at every offset of the
 *    first 64 bytes, and tg_dns_parse_response both with the question the
 *    message itself carries (so the answer section is reached) and with a
 *    fixed one, for A, AAAA and whatever qtype the message asks for;
 *  - the input as a host name: tg_dns_name_check, and for names it accepts
 *    tg_dns_build_query, whose question must read back as the same name.
 * Invariants beyond "no sanitizer report": names read are NUL-terminated
 * within TG_DNS_NAME_MAX, counts stay within their arrays, addresses come
 * from the message.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dnsmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_result(const struct tg_dns_result *res, const uint8_t *msg, size_t len)
{
	if (res->n_addrs > TG_DNS_MAX_ADDRS || res->n_chain > TG_DNS_MAX_CHAIN + 1)
		abort();
	for (size_t i = 0; i < res->n_chain; i++)
		if (!memchr(res->chain[i], 0, TG_DNS_NAME_MAX))
			abort();
	for (size_t i = 0; i < res->n_addrs; i++) {
		const struct tg_dns_addr *a = &res->addrs[i];
		size_t alen = a->family == AF_INET ? 4 : 16;

		if (a->family != AF_INET && a->family != AF_INET6)
			abort();
		if (!memmem(msg, len, a->addr, alen))
			abort(); /* an address that was not in the answer */
	}
}

static void parse(const uint8_t *msg, size_t len, uint16_t id, const char *name, uint16_t qtype)
{
	struct tg_dns_result *res = malloc(sizeof(*res));

	if (!res)
		abort();
	if (tg_dns_parse_response(msg, len, id, name, qtype, res) == 0)
		check_result(res, msg, len);
	free(res);
}

static void as_message(const uint8_t *data, size_t size)
{
	char name[TG_DNS_NAME_MAX];
	uint16_t id, qtype = 0;
	size_t off;

	for (size_t at = 0; at < size && at < 64; at++) {
		off = at;
		if (tg_dns_read_name(data, size, &off, name) == 0) {
			if (off <= at || off > size || !memchr(name, 0, sizeof(name)))
				abort();
		}
	}
	if (size < 12)
		return;
	id = (uint16_t)((data[0] << 8) | data[1]);
	off = 12;
	if (tg_dns_read_name(data, size, &off, name) < 0)
		snprintf(name, sizeof(name), "claude.ai");
	else if (off + 2 <= size)
		qtype = (uint16_t)((data[off] << 8) | data[off + 1]);
	parse(data, size, id, name, TG_DNS_TYPE_A);
	parse(data, size, id, name, TG_DNS_TYPE_AAAA);
	if (qtype != TG_DNS_TYPE_A && qtype != TG_DNS_TYPE_AAAA) {
		struct tg_dns_result *res = malloc(sizeof(*res));

		/* any other type is refused, not parsed (RDATA of any size) */
		if (!res || tg_dns_parse_response(data, size, id, name, qtype, res) != -EINVAL)
			abort();
		free(res);
	}
	parse(data, size, id, "api.anthropic.com", TG_DNS_TYPE_A);
}

static void as_name(const uint8_t *data, size_t size)
{
	uint8_t q[TG_DNS_QUERY_MAX], small[32];
	char name[300], back[TG_DNS_NAME_MAX];
	size_t n = size < sizeof(name) - 1 ? size : sizeof(name) - 1, qlen, off = 12;

	memcpy(name, data, n);
	name[n] = '\0';
	if (tg_dns_name_check(name) < 0) {
		if (tg_dns_build_query(1, name, TG_DNS_TYPE_A, q, sizeof(q), &qlen) == 0)
			abort(); /* a query for a name the check refuses */
		return;
	}
	if (tg_dns_build_query(0x4242, name, TG_DNS_TYPE_AAAA, q, sizeof(q), &qlen) < 0 || qlen > sizeof(q))
		abort(); /* TG_DNS_QUERY_MAX must hold every query of a valid name */
	if (tg_dns_read_name(q, qlen, &off, back) < 0 || strcmp(back, name) != 0)
		abort();
	(void)tg_dns_build_query(0x4242, name, TG_DNS_TYPE_A, small, sizeof(small), &qlen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > TG_DNS_MSG_MAX)
		return 0;
	as_message(data, size);
	as_name(data, size);
	return 0;
}
