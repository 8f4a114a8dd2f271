/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * DNS messages, the pure parts the daemon's resolver needs (daemon/resolve.c):
 * build an A/AAAA query, parse its answer with strict bounds. Every length
 * read from the packet is checked against the packet; compression pointers
 * must point strictly backwards and at most TG_DNS_MAX_JUMPS are followed, so
 * a loop cannot hang; names longer than 255 octets or labels longer than 63
 * are refused. No I/O, no logging, no global state.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_DNS_TYPE_A	  1u
#define TG_DNS_TYPE_CNAME 5u
#define TG_DNS_TYPE_SOA	  6u
#define TG_DNS_TYPE_AAAA  28u
#define TG_DNS_TYPE_OPT	  41u
#define TG_DNS_CLASS_IN	  1u

#define TG_DNS_NAME_MAX	 254u	/* dotted text, with NUL (255 wire octets) */
#define TG_DNS_MSG_MAX	 65535u /* a TCP message */
#define TG_DNS_UDP_SIZE	 1232u	/* EDNS0 payload size we advertise */
#define TG_DNS_QUERY_MAX 300u	/* a query built here always fits */
#define TG_DNS_MAX_JUMPS 32u	/* compression pointers followed in one name */
#define TG_DNS_MAX_CHAIN 8u	/* CNAME hops followed from the question name */
#define TG_DNS_MAX_ADDRS 32u	/* addresses kept from one answer */

#define TG_DNS_RCODE_NOERROR  0u
#define TG_DNS_RCODE_SERVFAIL 2u
#define TG_DNS_RCODE_NXDOMAIN 3u

struct tg_dns_addr {
	int family; /* AF_INET / AF_INET6 */
	uint8_t addr[16];
	uint32_t ttl; /* min of the record's TTL and the TTLs of the CNAMEs leading to it */
};

struct tg_dns_result {
	unsigned rcode;
	bool truncated; /* TC: ask again over TCP */
	size_t n_addrs;
	struct tg_dns_addr addrs[TG_DNS_MAX_ADDRS];
	bool more_addrs;  /* the answer had more than TG_DNS_MAX_ADDRS */
	uint32_t neg_ttl; /* no address: SOA minimum from the authority section, 0 if none */
	size_t n_chain;	  /* names followed: chain[0] is the question name */
	char chain[TG_DNS_MAX_CHAIN + 1][TG_DNS_NAME_MAX];
};

/*
 * Normalize a host name for a query: lower case, no trailing dot, labels
 * 1..63 octets of [a-z0-9_-] (and '*' never), at most 253 characters.
 * 0 or -EINVAL.
 */
int tg_dns_name_check(const char *name);

/* Query for name (checked with tg_dns_name_check), recursion desired, one
 * EDNS0 OPT record. 0 and *ret_len, or -EINVAL / -ENOBUFS. */
int tg_dns_build_query(uint16_t id, const char *name, uint16_t qtype, uint8_t *buf, size_t len,
		       size_t *ret_len);

/*
 * Read the (possibly compressed) name at *off of msg[0..len) into out
 * (dotted, lower case, no trailing dot; "" for the root); *off moves past the
 * name as it is written at that place. 0, or -EBADMSG for anything out of
 * bounds, a forward or looping pointer, a label over 63, a name over 255
 * octets, or a byte that has no place in a host name.
 */
int tg_dns_read_name(const uint8_t *msg, size_t len, size_t *off, char out[TG_DNS_NAME_MAX]);

/*
 * Parse the answer to the query (id, name, qtype): the header must be a
 * response with that id and exactly that question. Follows the CNAME chain
 * from name inside the answer section and keeps the qtype addresses of any
 * name on it. TC set: 0 with ->truncated (nothing else filled). rcode other
 * than NOERROR: 0 with ->rcode. -EBADMSG for any malformed or mismatched
 * message (nothing of it is to be trusted); -EINVAL for a qtype other than
 * A or AAAA.
 */
int tg_dns_parse_response(const uint8_t *msg, size_t len, uint16_t id, const char *name, uint16_t qtype,
			  struct tg_dns_result *ret);
