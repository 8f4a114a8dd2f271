// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cgroup_skb/ingress on the cgroup v2 root: learn the addresses of banned
 * host names from the DNS answers processes receive, so that the connect
 * hooks refuse them ("Host names (DNS)" in toolguard_abi.h). Never drops or
 * changes a packet.
 * Parse limits: UDP only, unfragmented, one question, question names up to
 * TG_ABI_HOST_MAX - 1 characters, the first DNS_MAX_ANSWERS records, answer
 * owner names compressed (a pointer, as every resolver writes them).
 */
#include "tg_common.bpf.h"
#include "tg_net.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define TG_ETH_P_IP	0x0800
#define TG_ETH_P_IPV6	0x86DD
#define TG_IPPROTO_UDP	17
#define DNS_RAW		256u /* bytes of the question section loaded */
#define DNS_MAX_ANSWERS 16u
#define NAME_MASK	(TG_ABI_HOST_MAX - 1)

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TG_ABI_HOST_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_abi_host_key);
	__type(value, struct tg_abi_net_refs);
} tg_hosts SEC(".maps");

struct tg_dns_scratch {
	__u8 raw[DNS_RAW];
	char name[TG_ABI_HOST_MAX]; /* question name, dotted, lower case */
	struct tg_abi_host_key key;
	struct tg_abi_net_refs refs; /* of the matching host entry */
	struct tg_abi_net_refs merged;
	__u8 rd[16]; /* an answer's address */
	__u32 gen;
	__u32 found;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_dns_scratch);
} tg_dns_scratch SEC(".maps");

struct tg_dns_hdr {
	__u16 id;
	__u16 flags;
	__u16 qdcount;
	__u16 ancount;
	__u16 nscount;
	__u16 arcount;
};

struct tg_dns_rr {
	__u16 type;
	__u16 class;
	__u16 ttl_hi; /* the TTL, unaligned in the packet */
	__u16 ttl_lo;
	__u16 rdlength;
};

/* ANDs the compiler cannot drop: the verifier needs them to bound offsets. */
static __always_inline __u32 tg_m127(__u32 v)
{
	asm volatile("%0 &= 127" : "+r"(v));
	return v;
}

static __always_inline __u32 tg_m255(__u32 v)
{
	asm volatile("%0 &= 255" : "+r"(v));
	return v;
}

static __always_inline struct tg_dns_scratch *tg_dns_s(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tg_dns_scratch, &zero);
}

/* key.name = s->name from offset from (NUL-padded); then look it up. */
static __always_inline bool tg_host_lookup(struct tg_dns_scratch *s, __u32 from, __u8 wildcard)
{
	struct tg_abi_net_refs *refs;
	__u32 j;

	__builtin_memset(s->key.name, 0, sizeof(s->key.name));
	s->key.gen = (__u8)s->gen;
	s->key.wildcard = wildcard;
	for (j = 0; j < TG_ABI_HOST_MAX - 1; j++) {
		char c;

		if (from + j >= TG_ABI_HOST_MAX - 1)
			break;
		c = s->name[tg_m127(from + j)];
		if (!c)
			break;
		s->key.name[tg_m127(j)] = c;
	}
	refs = bpf_map_lookup_elem(&tg_hosts, &s->key);
	if (!refs)
		return false;
	s->refs = *refs;
	s->found = 1;
	return true;
}

/* bpf_loop step: at each '.', the rest of the name as a "*." suffix. Left
 * to right, so the most specific wildcard wins. */
static long tg_wild_step(__u32 i, void *ctx)
{
	struct tg_dns_scratch *s = tg_dns_s();

	if (!s || i >= TG_ABI_HOST_MAX - 1)
		return 1;
	if (!s->name[tg_m127(i)])
		return 1;
	if (s->name[tg_m127(i)] != '.')
		return 0;
	return tg_host_lookup(s, i + 1, 1) ? 1 : 0;
}

struct tg_qname_ctx {
	__u32 i;      /* next raw byte */
	__u32 o;      /* next name byte */
	__u32 left;   /* bytes left in the current label */
	__u32 rawlen; /* raw bytes loaded */
	__u32 done;   /* raw bytes the name took, 0 = not parsed */
};

/* One raw byte of the question name (bpf_loop callback: 6.1's verifier
 * could not follow the unrolled loop). */
static long tg_qname_step(__u32 step, struct tg_qname_ctx *c)
{
	struct tg_dns_scratch *s = tg_dns_s();
	__u32 i = c->i, o = c->o;
	__u8 ch;

	if (!s || i >= c->rawlen || i >= DNS_RAW)
		return 1;
	ch = s->raw[tg_m255(i)];
	c->i = i + 1;
	if (c->left == 0) {
		if (ch == 0) {
			if (o) {
				s->name[tg_m127(o)] = 0;
				c->done = i + 1;
			}
			return 1;
		}
		if (ch > 63)
			return 1; /* compression or extended labels: not in questions */
		c->left = ch;
		if (o) {
			if (o >= TG_ABI_HOST_MAX - 1)
				return 1;
			s->name[tg_m127(o)] = '.';
			c->o = o + 1;
		}
		return 0;
	}
	if (o >= TG_ABI_HOST_MAX - 1)
		return 1;
	if (ch >= 'A' && ch <= 'Z')
		ch += 'a' - 'A';
	s->name[tg_m127(o)] = (char)ch;
	c->o = o + 1;
	c->left--;
	return 0;
}

/*
 * The helpers below are global functions (verified once, not per call site)
 * that find the scratch themselves.
 */

/* Question name (wire format at s->raw) -> s->name; returns the bytes it
 * took in the packet, 0 when it cannot be parsed. */
__noinline __u32 tg_dns_parse(__u32 rawlen)
{
	struct tg_qname_ctx c = {.rawlen = rawlen};

	bpf_loop(DNS_RAW, tg_qname_step, &c, 0);
	return c.done;
}

/* merged = the host's refs + refs already covering the address. */
static __always_inline void tg_merge(struct tg_dns_scratch *s, const struct tg_abi_net_refs *old)
{
	__u32 i, j;

	s->merged = s->refs;
	if (!old)
		return;
	for (i = 0; i < TG_ABI_NET_REFS; i++) {
		bool dup = false;

		if (i >= old->n)
			break;
		for (j = 0; j < TG_ABI_NET_REFS; j++) {
			if (j >= s->merged.n)
				break;
			if (s->merged.ref[j].tool == old->ref[i].tool &&
			    s->merged.ref[j].matcher == old->ref[i].matcher)
				dup = true;
		}
		if (dup || s->merged.n >= TG_ABI_NET_REFS)
			continue;
		s->merged.ref[s->merged.n & (TG_ABI_NET_REFS - 1)] = old->ref[i];
		s->merged.n++;
	}
}

/* s->rd holds an address of the name: add it with the host's refs. */
__noinline __u32 tg_dns_learn(__u32 v6)
{
	struct tg_dns_scratch *s = tg_dns_s();

	if (!s)
		return 0;
	if (!v6) {
		struct tg_abi_net4_key k = {.prefixlen = 8 + 32, .gen = (__u8)s->gen};

		__builtin_memcpy(k.addr, s->rd, 4);
		tg_merge(s, bpf_map_lookup_elem(&tg_net4, &k));
		bpf_map_update_elem(&tg_net4, &k, &s->merged, BPF_ANY);
	} else {
		struct tg_abi_net6_key k = {.prefixlen = 8 + 128, .gen = (__u8)s->gen};

		__builtin_memcpy(k.addr, s->rd, 16);
		tg_merge(s, bpf_map_lookup_elem(&tg_net6, &k));
		bpf_map_update_elem(&tg_net6, &k, &s->merged, BPF_ANY);
	}
	return 1;
}

/* The name itself, else its parents as "*." suffixes. */
__noinline __u32 tg_dns_match(void)
{
	struct tg_dns_scratch *s = tg_dns_s();

	if (!s)
		return 0;
	if (!tg_host_lookup(s, 0, 0))
		bpf_loop(TG_ABI_HOST_MAX - 1, tg_wild_step, NULL, 0);
	return s->found;
}

SEC("cgroup_skb/ingress")
int tg_dns_ingress(struct __sk_buff *skb)
{
	struct tg_dns_scratch *s;
	struct tg_dns_hdr h;
	struct tg_abi_gen *g;
	__u32 gen = 0, off, len, qlen, a, an;
	__u16 sport;

	g = tg_active(&gen);
	if (!g || !(g->flags & TG_ABI_GEN_HOSTS))
		return 1;
	if (skb->protocol == bpf_htons(TG_ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return 1;
		if (ip.protocol != TG_IPPROTO_UDP || (ip.frag_off & bpf_htons(0x3fff)))
			return 1;
		off = (__u32)ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(TG_ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return 1;
		if (ip6.nexthdr != TG_IPPROTO_UDP)
			return 1;
		off = sizeof(ip6);
	} else {
		return 1;
	}
	if (bpf_skb_load_bytes(skb, off, &sport, sizeof(sport)) || sport != bpf_htons(53))
		return 1;
	off += 8; /* UDP header */
	if (bpf_skb_load_bytes(skb, off, &h, sizeof(h)))
		return 1;
	/* a response, no error, one question, some answers */
	if (!(h.flags & bpf_htons(0x8000)) || (h.flags & bpf_htons(0x000f)) || h.qdcount != bpf_htons(1) ||
	    !h.ancount)
		return 1;
	off += sizeof(h);

	s = tg_dns_s();
	if (!s)
		return 1;
	s->gen = gen;
	s->found = 0;
	if (skb->len <= off + 5)
		return 1;
	len = skb->len - off;
	if (len > DNS_RAW)
		len = DNS_RAW;
	len = tg_m255(len - 1) + 1; /* 1..DNS_RAW, in a way the verifier sees */
	if (bpf_skb_load_bytes(skb, off, s->raw, len))
		return 1;
	qlen = tg_dns_parse(len);
	if (!qlen || !tg_dns_match())
		return 1;

	off += qlen + 4; /* QTYPE, QCLASS */
	an = bpf_ntohs(h.ancount);
	for (a = 0; a < DNS_MAX_ANSWERS; a++) {
		struct tg_dns_rr rr;
		__u16 type, rdlen;
		__u8 nb;

		if (a >= an)
			break;
		if (bpf_skb_load_bytes(skb, off, &nb, 1) || (nb & 0xc0) != 0xc0)
			break; /* uncompressed owner name: stop here */
		off += 2;
		if (bpf_skb_load_bytes(skb, off, &rr, sizeof(rr)))
			break;
		off += sizeof(rr);
		type = bpf_ntohs(rr.type);
		rdlen = bpf_ntohs(rr.rdlength);
		if (type == 1 && rdlen == 4) {
			if (bpf_skb_load_bytes(skb, off, s->rd, 4))
				break;
			tg_dns_learn(0);
		} else if (type == 28 && rdlen == 16) {
			if (bpf_skb_load_bytes(skb, off, s->rd, 16))
				break;
			tg_dns_learn(1);
		}
		off += rdlen;
		if (off > 0xffff)
			break;
	}
	return 1;
}
