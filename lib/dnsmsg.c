/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DNS query building and answer parsing with strict bounds (see dnsmsg.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "dnsmsg.h"

#define HDR_LEN	  12u
#define FLAG_QR	  0x8000u
#define FLAG_TC	  0x0200u
#define FLAG_RD	  0x0100u
#define OPCODE(f) (((f) >> 11) & 0xfu)
#define RCODE(f)  ((f)&0xfu)

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int tg_dns_name_check(const char *name)
{
	size_t len, label = 0;

	if (!name)
		return -EINVAL;
	len = strlen(name);
	if (len == 0 || len > 253)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (c == '.') {
			if (label == 0)
				return -EINVAL;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return -EINVAL;
		if (++label > 63)
			return -EINVAL;
	}
	return label == 0 ? -EINVAL : 0; /* no trailing dot: callers normalize */
}

int tg_dns_build_query(uint16_t id, const char *name, uint16_t qtype, uint8_t *buf, size_t len,
		       size_t *ret_len)
{
	size_t off = HDR_LEN, nlen;
	const char *s;

	if (tg_dns_name_check(name) < 0)
		return -EINVAL;
	nlen = strlen(name);
	/* header + name (nlen + 2) + qtype/qclass + OPT (11) */
	if (!buf || len < HDR_LEN + nlen + 2 + 4 + 11)
		return -ENOBUFS;
	memset(buf, 0, HDR_LEN);
	put16(buf, id);
	put16(buf + 2, FLAG_RD);
	put16(buf + 4, 1);  /* qdcount */
	put16(buf + 10, 1); /* arcount: OPT */
	s = name;
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);

		buf[off++] = (uint8_t)l;
		memcpy(buf + off, s, l);
		off += l;
		s += l + (dot ? 1 : 0);
	}
	buf[off++] = 0;
	put16(buf + off, qtype);
	put16(buf + off + 2, TG_DNS_CLASS_IN);
	off += 4;
	/* OPT: root name, type, payload size, ext-rcode/version/flags 0, rdlen 0 */
	buf[off++] = 0;
	put16(buf + off, TG_DNS_TYPE_OPT);
	put16(buf + off + 2, TG_DNS_UDP_SIZE);
	memset(buf + off + 4, 0, 6);
	off += 10;
	*ret_len = off;
	return 0;
}

int tg_dns_read_name(const uint8_t *msg, size_t len, size_t *off, char out[TG_DNS_NAME_MAX])
{
	size_t pos = *off, end = 0, o = 0, wire = 0;
	size_t lowest = pos; /* pointers must go below every place visited: no loops */
	unsigned jumps = 0;
	bool jumped = false;

	for (;;) {
		uint8_t l;

		if (pos >= len)
			return -EBADMSG;
		l = msg[pos];
		if ((l & 0xc0) == 0xc0) {
			size_t target;

			if (pos + 1 >= len)
				return -EBADMSG;
			target = ((size_t)(l & 0x3f) << 8) | msg[pos + 1];
			if (target >= lowest || ++jumps > TG_DNS_MAX_JUMPS)
				return -EBADMSG;
			if (!jumped) {
				end = pos + 2;
				jumped = true;
			}
			lowest = target;
			pos = target;
			continue;
		}
		if (l & 0xc0)
			return -EBADMSG; /* 0x40/0x80: extended label types, unused */
		if (l == 0) {
			pos++;
			break;
		}
		if (pos + 1 + l > len)
			return -EBADMSG;
		wire += 1u + l;
		if (wire + 1 > 255)
			return -EBADMSG;
		if (o > 0)
			out[o++] = '.';
		for (size_t i = 0; i < l; i++) {
			char c = (char)msg[pos + 1 + i];

			if ((unsigned char)c <= 0x20 || (unsigned char)c >= 0x7f || c == '.')
				return -EBADMSG;
			out[o++] = lower(c);
		}
		pos += 1u + l;
	}
	out[o] = '\0';
	*off = jumped ? end : pos;
	return 0;
}

struct rr {
	char owner[TG_DNS_NAME_MAX];
	uint16_t type, class;
	uint32_t ttl;
	size_t rdata, rdlen; /* offset and length of the record data in the message */
};

/* One resource record at *off; *off moves past it. */
static int read_rr(const uint8_t *msg, size_t len, size_t *off, struct rr *rr)
{
	int r = tg_dns_read_name(msg, len, off, rr->owner);

	if (r < 0)
		return r;
	if (*off + 10 > len)
		return -EBADMSG;
	rr->type = get16(msg + *off);
	rr->class = get16(msg + *off + 2);
	rr->ttl = get32(msg + *off + 4);
	if (rr->ttl > 0x7fffffffu)
		rr->ttl = 0; /* RFC 2181: a TTL with the top bit set is zero */
	rr->rdlen = get16(msg + *off + 8);
	rr->rdata = *off + 10;
	if (rr->rdata + rr->rdlen > len)
		return -EBADMSG;
	*off = rr->rdata + rr->rdlen;
	return 0;
}

static int chain_index(const struct tg_dns_result *res, const char *name)
{
	for (size_t i = 0; i < res->n_chain; i++)
		if (strcmp(res->chain[i], name) == 0)
			return (int)i;
	return -1;
}

int tg_dns_parse_response(const uint8_t *msg, size_t len, uint16_t id, const char *name, uint16_t qtype,
			  struct tg_dns_result *ret)
{
	uint16_t flags, qd, an, ns;
	size_t off = HDR_LEN, answers;
	uint32_t chain_ttl[TG_DNS_MAX_CHAIN + 1];
	char qname[TG_DNS_NAME_MAX];
	struct rr rr;
	int r;

	/* only A/AAAA: their fixed RDATA size is what keeps the copy below in addrs[].addr */
	if (!msg || !name || !ret || (qtype != TG_DNS_TYPE_A && qtype != TG_DNS_TYPE_AAAA))
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	if (len < HDR_LEN || len > TG_DNS_MSG_MAX)
		return -EBADMSG;
	flags = get16(msg + 2);
	qd = get16(msg + 4);
	an = get16(msg + 6);
	ns = get16(msg + 8);
	if (get16(msg) != id || !(flags & FLAG_QR) || OPCODE(flags) != 0)
		return -EBADMSG;
	if (flags & FLAG_TC) {
		ret->truncated = true;
		return 0;
	}
	/* the question must be ours: an answer to something else is not trusted */
	if (qd != 1)
		return -EBADMSG;
	r = tg_dns_read_name(msg, len, &off, qname);
	if (r < 0)
		return r;
	if (off + 4 > len || get16(msg + off) != qtype || get16(msg + off + 2) != TG_DNS_CLASS_IN)
		return -EBADMSG;
	off += 4;
	for (size_t i = 0; name[i] || qname[i]; i++)
		if (lower(name[i]) != qname[i])
			return -EBADMSG;
	ret->rcode = RCODE(flags);
	if (ret->rcode != TG_DNS_RCODE_NOERROR && ret->rcode != TG_DNS_RCODE_NXDOMAIN)
		return 0;

	snprintf(ret->chain[0], sizeof(ret->chain[0]), "%s", qname);
	chain_ttl[0] = UINT32_MAX;
	ret->n_chain = 1;
	answers = off;
	/* CNAME chain: each pass over the answers may add the next hop; records can come in any order */
	for (unsigned pass = 0; pass < TG_DNS_MAX_CHAIN && ret->n_chain <= TG_DNS_MAX_CHAIN; pass++) {
		const char *cur = ret->chain[ret->n_chain - 1];
		bool added = false;

		off = answers;
		for (unsigned i = 0; i < an; i++) {
			char target[TG_DNS_NAME_MAX];
			size_t t;

			r = read_rr(msg, len, &off, &rr);
			if (r < 0)
				return r;
			if (rr.type != TG_DNS_TYPE_CNAME || rr.class != TG_DNS_CLASS_IN ||
			    strcmp(rr.owner, cur) != 0)
				continue;
			t = rr.rdata;
			r = tg_dns_read_name(msg, len, &t, target);
			if (r < 0)
				return r;
			if (t != rr.rdata + rr.rdlen)
				return -EBADMSG;
			if (chain_index(ret, target) >= 0 || ret->n_chain >= TG_DNS_MAX_CHAIN + 1)
				break; /* a CNAME loop, or too long: stop following */
			snprintf(ret->chain[ret->n_chain], sizeof(ret->chain[0]), "%s", target);
			chain_ttl[ret->n_chain] =
			    rr.ttl < chain_ttl[ret->n_chain - 1] ? rr.ttl : chain_ttl[ret->n_chain - 1];
			ret->n_chain++;
			added = true;
			break;
		}
		if (!added)
			break;
	}

	off = answers;
	for (unsigned i = 0; i < an; i++) {
		struct tg_dns_addr *a;
		int ci;

		r = read_rr(msg, len, &off, &rr);
		if (r < 0)
			return r;
		if (rr.type != qtype || rr.class != TG_DNS_CLASS_IN)
			continue;
		ci = chain_index(ret, rr.owner);
		if (ci < 0)
			continue; /* not on our chain: ignored, never trusted */
		if ((qtype == TG_DNS_TYPE_A && rr.rdlen != 4) ||
		    (qtype == TG_DNS_TYPE_AAAA && rr.rdlen != 16))
			return -EBADMSG;
		if (ret->n_addrs >= TG_DNS_MAX_ADDRS) {
			ret->more_addrs = true;
			continue;
		}
		a = &ret->addrs[ret->n_addrs++];
		memset(a, 0, sizeof(*a));
		a->family = qtype == TG_DNS_TYPE_A ? AF_INET : AF_INET6;
		memcpy(a->addr, msg + rr.rdata, rr.rdlen);
		a->ttl = rr.ttl < chain_ttl[ci] ? rr.ttl : chain_ttl[ci];
	}
	/* negative caching time: the SOA of the authority section */
	if (ret->n_addrs == 0) {
		for (unsigned i = 0; i < ns; i++) {
			r = read_rr(msg, len, &off, &rr);
			if (r < 0)
				break; /* the answer is complete; a bad authority section only loses the hint
					*/
			if (rr.type == TG_DNS_TYPE_SOA && rr.rdlen >= 22 && rr.rdata + rr.rdlen <= len) {
				uint32_t min = get32(msg + rr.rdata + rr.rdlen - 4);

				ret->neg_ttl = min < rr.ttl ? min : rr.ttl;
				break;
			}
		}
	}
	return 0;
}
