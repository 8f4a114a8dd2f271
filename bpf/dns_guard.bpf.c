// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cgroup_skb/ingress on the cgroup v2 root: learn the addresses of banned
 * host names from the DNS answers processes receive, so that the connect
 * hooks refuse them ("Host names (DNS)" in toolguard_abi.h). Changes no
 * packet; drops none but TCP segments from port 53 that TCP then sends
 * again (tg_dns_tcp): one after a gap, one while another CPU is at the same
 * stream, the rest of one that holds more messages than DNS_TCP_STEPS take.
 *
 * Seen: responses from port 53 over UDP (one in IP fragments as IP put it
 * back together before the socket gets it) and over TCP however
 * the stream is cut into segments (a message over several, several in one,
 * the 2-byte length split), followed per socket in sequence order; IPv4 and
 * IPv6 (after up to TG_IPV6_EXT_MAX hop-by-hop, routing, destination
 * options and fragment headers). One question; the first DNS_MAX_RECS answer
 * records within the first DNS_BUF bytes of the message. The chain of names
 * starts at the question and follows CNAMEs (in any order, up to
 * DNS_MAX_CHAIN names, compared by a 64-bit hash of the lower-case name);
 * when any name of it matches tg_hosts (names of up to TG_ABI_HOST_MAX - 1
 * characters), every A/AAAA record owned by a name of the chain is learned
 * (its refs marked as name refs); when none does, those records' addresses
 * go into tg_shared for their TTL instead (an allowed name answers there:
 * connect_guard leaves TCP to them to stream_guard's SNI/CONNECT check).
 * Compression pointers must point strictly before the previous one (what
 * every compressor writes), so loops and forward pointers end the parse;
 * malformed input only ever means "nothing learned" (records before the
 * fault may still count). tests/integration/test_dns_guard checks all of
 * this through BPF_PROG_TEST_RUN, here and in Debian's 6.1 kernel
 * (tests/system/dns-qemu.sh).
 */
#include "tg_common.bpf.h"
#include "tg_hosts.bpf.h"
#include "tg_net.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define TG_ETH_P_IP	0x0800
#define TG_ETH_P_IPV6	0x86DD
#define TG_IPPROTO_TCP	6
#define TG_IPPROTO_UDP	17
#define TG_IPPROTO_HOPOPTS 0
#define TG_IPPROTO_ROUTING 43
#define TG_IPPROTO_DSTOPTS 60
#define TG_IPPROTO_FRAGMENT 44
#define TG_IPV6_EXT_MAX	4 /* extension headers skipped */
#define DNS_BUF		2048u /* bytes of a message loaded (power of two) */
#define DNS_MASK	(DNS_BUF - 1)
#define DNS_HDR_LEN	12u
#define DNS_MAX_RECS	32u /* answer records examined (power of two) */
#define DNS_MAX_CHAIN	8u  /* names in one CNAME chain, question included */
#define DNS_NAME_STEPS	160u /* loop steps for one name: at most 127 labels (255 wire bytes) + pointers */
#define DNS_NAME_WIRE	255u /* RFC 1035: a name is at most 255 octets, lengths included */
#define DNS_MAX_HOPS	16u  /* compression pointers followed in one name */
#define DNS_T_A		1u
#define DNS_T_CNAME	5u
#define DNS_T_AAAA	28u
#define REC_IN_CHAIN	1u /* a CNAME whose owner is in the chain */
#define TG_SHARE_MEMO	4u /* power of two */
#define TG_SHARE_FRESH_NS 1000000000ULL
#define TG_AF_INET	2
#define TG_AF_INET6	10

/* One answer record, as far as the chain needs it. */
struct tg_dns_rec {
	__u64 owner;  /* hash of the owner name */
	__u64 target; /* CNAME: hash of the target name, 0 = unreadable */
	__u16 type;
	__u16 rdoff; /* message offset of the RDATA */
	__u16 rdlen;
	__u16 flags; /* REC_* */
	__u32 ttl;
	__u32 pad;
};

/*
 * Loop state lives in the scratch map, not on the stack: 6.1's verifier
 * walks a bpf_loop callback once, from the caller's stack as it was, and
 * would drop as dead every branch that a constant initial value (a label
 * length of 0) rules out on that first step. Map values are unknown to it.
 */
struct tg_name_ctx {
	__u64 hash;  /* FNV-1a of the dotted lower-case name */
	__u32 i;     /* next message byte */
	__u32 o;     /* next byte of s->name */
	__u32 end;   /* offset after the name where it was written, 0 = not yet known */
	__u32 lim;   /* a pointer must point below this */
	__u32 hops;  /* pointers followed */
	__u32 done;  /* 1 = whole name read, 2 = malformed */
	__u32 trunc; /* s->name could not hold it */
	__u32 wire;  /* octets of the name so far (length bytes and labels) */
};

struct tg_rec_ctx {
	__u64 qhash; /* the question's name */
	__u32 off;   /* next record */
	__u32 an;    /* ANCOUNT */
	__u32 cnames;
	__u32 pad;
};

struct tg_dns_scratch {
	__u8 msg[DNS_BUF + 16]; /* the message; 16 bytes of slack after any masked offset */
	/* last decoded name, dotted, lower case, NUL-padded; the second half
	 * stays zero, so a suffix can be copied 8 bytes at a time */
	char name[2 * TG_ABI_HOST_MAX];
	__u8 dots[64]; /* offsets of the dots in name */
	struct tg_abi_host_key key;
	struct tg_abi_net_refs refs; /* of the matching host entries */
	struct tg_abi_net_refs merged;
	struct tg_dns_rec rec[DNS_MAX_RECS];
	__u64 chain[DNS_MAX_CHAIN]; /* hashes of the chain's names */
	__u8 rd[16];		    /* an answer's address */
	__u64 hash;		    /* of the last decoded name */
	__u64 now;		    /* bpf_ktime_get_tai_ns() of an answer to share */
	__u32 name_ok;		    /* name holds the whole last decoded name */
	__u32 len;		    /* bytes of msg loaded */
	__u32 gen;
	__u32 found;
	__u32 nrec;
	__u32 nchain;
	__u32 changed;
	__u32 ndots;
	__u32 lens_ok; /* host_lens, wild_lens: the generation's (TG_ABI_GEN_HOST_LENS) */
	__u64 host_lens[TG_ABI_HOST_MAX / 64];
	__u64 wild_lens[TG_ABI_HOST_MAX / 64];
	struct tg_name_ctx nc; /* tg_dns_name */
	struct tg_rec_ctx rc;  /* the record loop */
	/* what this CPU last wrote to tg_shared, a slot per address hash:
	 * the same address with an expiry at most TG_SHARE_FRESH_NS later,
	 * within TG_SHARE_FRESH_NS, skips the map (a popular name is asked
	 * for again and again; the lookup is most of what sharing costs).
	 * Only ever makes tg_shared lag, or an evicted entry stay missing,
	 * by that much. */
	struct tg_share_memo {
		struct tg_abi_shared_key k;
		__u32 pad;
		__u64 at;  /* when written (CLOCK_TAI ns) */
		__u64 exp; /* the expiry written */
	} memo[TG_SHARE_MEMO];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_dns_scratch);
} tg_dns_scratch SEC(".maps");

/* ANDs the compiler cannot drop: the verifier needs them to bound offsets. */
static __always_inline __u32 tg_m63(__u32 v)
{
	asm volatile("%0 &= 63" : "+r"(v));
	return v;
}

static __always_inline __u32 tg_m127(__u32 v)
{
	asm volatile("%0 &= 127" : "+r"(v));
	return v;
}

static __always_inline __u32 tg_mbuf(__u32 v)
{
	asm volatile("%0 &= 2047" : "+r"(v));
	return v;
}

static __always_inline __u32 tg_mrec(__u32 v)
{
	asm volatile("%0 &= 31" : "+r"(v));
	return v;
}

static __always_inline __u32 tg_mchain(__u32 v)
{
	asm volatile("%0 &= 7" : "+r"(v));
	return v;
}

/* bpf_loop callbacks get the scratch from their caller (a spilled pointer:
 * no map lookup a step). */
struct tg_sctx {
	struct tg_dns_scratch *s;
};

static __always_inline struct tg_dns_scratch *tg_dns_s(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tg_dns_scratch, &zero);
}

static __always_inline __u32 tg_be16(const struct tg_dns_scratch *s, __u32 off)
{
	return ((__u32)s->msg[tg_mbuf(off)] << 8) | s->msg[tg_mbuf(off + 1)];
}

/* dst += src, without duplicates, as far as dst has room (added refs are
 * marked as name refs); returns the number of refs of src that dst did not have. */
static __always_inline __u32 tg_refs_add(struct tg_abi_net_refs *dst, const struct tg_abi_net_refs *src)
{
	__u32 i, j, missing = 0;

	for (i = 0; i < TG_ABI_NET_REFS; i++) {
		bool dup = false;

		if (i >= src->n)
			break;
		for (j = 0; j < TG_ABI_NET_REFS; j++) {
			if (j >= dst->n)
				break;
			if (dst->ref[j].tool == src->ref[i].tool && dst->ref[j].matcher == src->ref[i].matcher)
				dup = true;
		}
		if (dup)
			continue;
		missing++;
		if (dst->n >= TG_ABI_NET_REFS)
			continue;
		dst->ref[dst->n & (TG_ABI_NET_REFS - 1)] = src->ref[i];
		dst->flags |= TG_ABI_NET_NAME_REF(dst->n & (TG_ABI_NET_REFS - 1));
		dst->n++;
	}
	return missing;
}

/* key.name = s->name from offset from (NUL-padded); then look it up. */
static __always_inline bool tg_host_lookup(struct tg_dns_scratch *s, __u32 from, __u8 wildcard)
{
	struct tg_abi_net_refs *refs;
	__u32 len = tg_m127(s->nc.o - from);
	__u64 w;

	/* no name of this length in tg_hosts: no lookup (a hash bucket in a
	 * large table is a cache miss or two) */
	if (s->lens_ok) {
		if (wildcard)
			w = len < 64 ? s->wild_lens[0] : s->wild_lens[1];
		else
			w = len < 64 ? s->host_lens[0] : s->host_lens[1];
		if (!(w & (1ULL << (len & 63))))
			return false;
	}

	refs = tg_hosts_get(&s->key, &s->name[tg_m127(from)], s->gen, wildcard);
	if (!refs)
		return false;
	if (!s->found)
		s->refs = *refs;
	else
		tg_refs_add(&s->refs, refs);
	s->found = 1;
	return true;
}

/* bpf_loop step: after the i-th dot, the rest of the name as a "*."
 * suffix. Left to right, so the most specific wildcard wins. */
static long tg_wild_step(__u32 i, void *ctx)
{
	struct tg_dns_scratch *s = ((struct tg_sctx *)ctx)->s;

	if (!s || i >= s->ndots || i >= 64)
		return 1;
	return tg_host_lookup(s, (__u32)s->dots[tg_m63(i)] + 1, 1) ? 1 : 0;
}

static __always_inline void tg_name_char(struct tg_dns_scratch *s, struct tg_name_ctx *c, __u8 ch)
{
	__u32 o = c->o;

	c->hash = (c->hash ^ ch) * 0x100000001b3ULL;
	if (ch == 0 || o >= TG_ABI_HOST_MAX - 1) {
		c->trunc = 1;
		return;
	}
	s->name[tg_m127(o)] = (char)ch;
	c->o = o + 1;
}

/* One step of a name: a whole label, or a pointer (bpf_loop callback:
 * 6.1's verifier cannot follow a loop over a whole name; a label is at
 * most 63 bytes, and a step a label keeps the callbacks few). */
static long tg_name_step(__u32 step, void *ctx)
{
	struct tg_dns_scratch *s = ((struct tg_sctx *)ctx)->s;
	struct tg_name_ctx *c;
	__u32 i, ptr, k;
	__u8 ch;

	if (!s)
		return 1;
	c = &s->nc;
	i = c->i;
	if (i >= s->len || i >= DNS_BUF)
		goto bad;
	ch = s->msg[tg_mbuf(i)];
	if ((ch & 0xc0) == 0xc0) {
		if (i + 1 >= s->len)
			goto bad;
		ptr = ((__u32)(ch & 0x3f) << 8) | s->msg[tg_mbuf(i + 1)];
		/* strictly backwards, past the header: no loops, nothing out of range */
		if (ptr >= c->lim || ptr < DNS_HDR_LEN || ++c->hops > DNS_MAX_HOPS)
			goto bad;
		if (!c->end)
			c->end = i + 2;
		c->lim = ptr;
		c->i = ptr;
		return 0;
	}
	if (ch & 0xc0)
		goto bad; /* extended label types (0x40, 0x80): obsolete */
	if (ch == 0) {
		if (!c->end)
			c->end = i + 1;
		s->name[tg_m127(c->o)] = 0;
		c->done = 1;
		return 1;
	}
	if (c->o || c->trunc) {
		if (s->ndots < 64 && c->o < TG_ABI_HOST_MAX - 1)
			s->dots[tg_m63(s->ndots)] = (__u8)c->o;
		s->ndots++;
		tg_name_char(s, c, '.');
	}
	/* the label's ch bytes (1..63), lower-cased; the terminating zero
	 * octet must still fit in DNS_NAME_WIRE */
	c->wire += ch + 1;
	if (i + ch >= s->len || c->wire >= DNS_NAME_WIRE)
		goto bad;
	for (k = 1; k <= 63; k++) {
		__u8 b;

		if (k > ch)
			break;
		b = s->msg[tg_mbuf(i + k)];
		if (b >= 'A' && b <= 'Z')
			b += 'a' - 'A';
		tg_name_char(s, c, b);
	}
	c->i = i + 1 + ch;
	return 0;
bad:
	c->done = 2;
	return 1;
}

/*
 * The helpers below are global functions (verified once, not per call site)
 * that find the scratch themselves.
 */

/* The name at message offset off -> s->name (when it fits: s->name_ok),
 * s->hash; returns the offset after it, 0 when it is malformed. */
__noinline __u32 tg_dns_name(__u32 off)
{
	struct tg_dns_scratch *s = tg_dns_s();
	struct tg_sctx x;

	if (!s)
		return 0;
	__builtin_memset(&s->nc, 0, sizeof(s->nc));
	__builtin_memset(s->name, 0, TG_ABI_HOST_MAX);
	s->ndots = 0;
	s->nc.hash = 0xcbf29ce484222325ULL;
	s->nc.i = off;
	s->nc.lim = off;
	x.s = s;
	bpf_loop(DNS_NAME_STEPS, tg_name_step, &x, 0);
	if (s->nc.done != 1)
		return 0;
	s->hash = s->nc.hash;
	s->name_ok = !s->nc.trunc && s->nc.o > 0;
	return s->nc.end;
}

/* The name in s->name, else its parents as "*." suffixes; refs of a match
 * are added to s->refs. */
__noinline __u32 tg_dns_match(void)
{
	struct tg_dns_scratch *s = tg_dns_s();
	struct tg_sctx x = {.s = s};

	if (!s || !s->name_ok)
		return 0;
	if (!tg_host_lookup(s, 0, 0))
		bpf_loop(64, tg_wild_step, &x, 0);
	return s->found;
}

/* One answer record -> s->rec[step]. */
static long tg_rec_step(__u32 step, void *ctx)
{
	struct tg_dns_scratch *s = ((struct tg_sctx *)ctx)->s;
	struct tg_rec_ctx *c;
	struct tg_dns_rec *r;
	__u32 off, end, rdoff, rdlen;
	__u64 owner;

	if (!s)
		return 1;
	c = &s->rc;
	off = c->off;
	if (step >= c->an || step >= DNS_MAX_RECS || off + 11 >= s->len)
		return 1;
	/* the owner is nearly always a pointer to the question */
	if (s->msg[tg_mbuf(off)] == 0xc0 && s->msg[tg_mbuf(off + 1)] == DNS_HDR_LEN) {
		owner = c->qhash;
		end = off + 2;
	} else {
		end = tg_dns_name(off);
		if (!end)
			return 1;
		owner = s->hash;
	}
	if (end + 10 > s->len)
		return 1;
	rdoff = end + 10;
	rdlen = tg_be16(s, end + 8);
	if (rdoff + rdlen > s->len)
		return 1; /* beyond what was loaded */
	r = &s->rec[tg_mrec(step)];
	r->owner = owner;
	r->target = 0;
	r->type = (__u16)tg_be16(s, end);
	r->rdoff = (__u16)rdoff;
	r->rdlen = (__u16)rdlen;
	r->flags = 0;
	r->ttl = (tg_be16(s, end + 4) << 16) | tg_be16(s, end + 6);
	if (r->type == DNS_T_CNAME) {
		if (tg_dns_name(rdoff))
			r->target = s->hash;
		s->rc.cnames++;
	}
	s->nrec = step + 1;
	s->rc.off = rdoff + rdlen;
	return 0;
}

static __always_inline bool tg_in_chain(const struct tg_dns_scratch *s, __u64 h)
{
	__u32 i;

	for (i = 0; i < DNS_MAX_CHAIN; i++) {
		if (i >= s->nchain)
			break;
		if (s->chain[i] == h)
			return true;
	}
	return false;
}

/* Passes over the records: a CNAME owned by a chain name adds its target.
 * Step i looks at record i % DNS_MAX_RECS; a pass that adds nothing ends it. */
static long tg_chain_step(__u32 step, void *ctx)
{
	struct tg_dns_scratch *s = ((struct tg_sctx *)ctx)->s;
	__u32 i = step & (DNS_MAX_RECS - 1);
	struct tg_dns_rec *r;

	if (!s)
		return 1;
	if (i == 0) {
		if (step && !s->changed)
			return 1;
		s->changed = 0;
	}
	if (i >= s->nrec)
		return 0;
	r = &s->rec[tg_mrec(i)];
	if (r->type != DNS_T_CNAME || !r->target || (r->flags & REC_IN_CHAIN) || !tg_in_chain(s, r->owner))
		return 0;
	r->flags |= REC_IN_CHAIN;
	s->changed = 1;
	if (!tg_in_chain(s, r->target) && s->nchain < DNS_MAX_CHAIN) {
		s->chain[tg_mchain(s->nchain)] = r->target;
		s->nchain++;
	}
	return 0;
}

/* The chain's CNAME targets against tg_hosts. */
static long tg_target_step(__u32 i, void *ctx)
{
	struct tg_dns_scratch *s = ((struct tg_sctx *)ctx)->s;
	struct tg_dns_rec *r;

	if (!s || i >= s->nrec || i >= DNS_MAX_RECS)
		return 1;
	r = &s->rec[tg_mrec(i)];
	if (!(r->flags & REC_IN_CHAIN))
		return 0;
	if (tg_dns_name(r->rdoff))
		tg_dns_match();
	return 0;
}

/* s->rd holds an address of the name: add it with the host's refs. */
__noinline __u32 tg_dns_learn(__u32 v6)
{
	struct tg_dns_scratch *s = tg_dns_s();
	struct tg_abi_net_refs *old;

	if (!s)
		return 0;
	/* what covers the address now (a /32 learned earlier or a CIDR rule)
	 * plus the name's refs; nothing to write when it has them all already */
	if (!v6) {
		struct tg_abi_net4_key k = {.prefixlen = 8 + 32, .gen = (__u8)s->gen};

		__builtin_memcpy(k.addr, s->rd, 4);
		old = bpf_map_lookup_elem(&tg_net4, &k);
		if (old) {
			s->merged = *old;
			if (!tg_refs_add(&s->merged, &s->refs))
				return 0;
		} else {
			__builtin_memset(&s->merged, 0, sizeof(s->merged));
			tg_refs_add(&s->merged, &s->refs);
		}
		bpf_map_update_elem(&tg_net4, &k, &s->merged, BPF_ANY);
	} else {
		struct tg_abi_net6_key k = {.prefixlen = 8 + 128, .gen = (__u8)s->gen};

		__builtin_memcpy(k.addr, s->rd, 16);
		old = bpf_map_lookup_elem(&tg_net6, &k);
		if (old) {
			s->merged = *old;
			if (!tg_refs_add(&s->merged, &s->refs))
				return 0;
		} else {
			__builtin_memset(&s->merged, 0, sizeof(s->merged));
			tg_refs_add(&s->merged, &s->refs);
		}
		bpf_map_update_elem(&tg_net6, &k, &s->merged, BPF_ANY);
	}
	return 1;
}

/* A/AAAA records owned by a chain name become banned addresses. */
static long tg_learn_step(__u32 i, void *ctx)
{
	struct tg_dns_scratch *s = ((struct tg_sctx *)ctx)->s;
	struct tg_dns_rec *r;
	__u32 off;

	if (!s || i >= s->nrec || i >= DNS_MAX_RECS)
		return 1;
	r = &s->rec[tg_mrec(i)];
	off = tg_mbuf(r->rdoff);
	if (r->type == DNS_T_A && r->rdlen == 4 && tg_in_chain(s, r->owner)) {
		__builtin_memcpy(s->rd, &s->msg[off], 4);
		tg_dns_learn(0);
	} else if (r->type == DNS_T_AAAA && r->rdlen == 16 && tg_in_chain(s, r->owner)) {
		__builtin_memcpy(s->rd, &s->msg[off], 16);
		tg_dns_learn(1);
	}
	return 0;
}

_Static_assert(sizeof(struct tg_abi_shared_key) == 20, "tg_abi_shared_key: 5 words");

static __always_inline bool tg_shared_key_eq(const struct tg_abi_shared_key *a, const struct tg_abi_shared_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4];
}

/* The memo slot of an address: by the address, so that a resolver that
 * rotates its records still finds each one where it left it. */
static __always_inline __u32 tg_shared_key_slot(const struct tg_abi_shared_key *k)
{
	const __u32 *x = (const __u32 *)k;
	__u32 h = x[1] ^ x[2] ^ x[3] ^ x[4];

	h ^= h >> 16;
	h ^= h >> 8;
	return h & (TG_SHARE_MEMO - 1);
}

/* An answer no rule matched: its A/AAAA addresses (of chain names) answer
 * for an allowed name, so connect_guard leaves TCP to them to the SNI check. */
static long tg_share_step(__u32 i, void *ctx)
{
	struct tg_dns_scratch *s = ((struct tg_sctx *)ctx)->s;
	struct tg_abi_shared_key k = {};
	struct tg_share_memo *m;
	struct tg_dns_rec *r;
	__u64 exp, *old;
	__u32 off, ttl;

	if (!s || i >= s->nrec || i >= DNS_MAX_RECS)
		return 1;
	r = &s->rec[tg_mrec(i)];
	off = tg_mbuf(r->rdoff);
	if (r->type == DNS_T_A && r->rdlen == 4 && tg_in_chain(s, r->owner)) {
		k.family = TG_AF_INET;
		__builtin_memcpy(k.addr, &s->msg[off], 4);
	} else if (r->type == DNS_T_AAAA && r->rdlen == 16 && tg_in_chain(s, r->owner)) {
		k.family = TG_AF_INET6;
		__builtin_memcpy(k.addr, &s->msg[off], 16);
	} else {
		return 0;
	}
	ttl = r->ttl;
	if (ttl < TG_ABI_SHARED_TTL_MIN)
		ttl = TG_ABI_SHARED_TTL_MIN;
	if (ttl > TG_ABI_SHARED_TTL_MAX)
		ttl = TG_ABI_SHARED_TTL_MAX;
	exp = s->now + (__u64)ttl * 1000000000ULL;
	m = &s->memo[tg_shared_key_slot(&k)];
	if (tg_shared_key_eq(&m->k, &k) && s->now - m->at < TG_SHARE_FRESH_NS &&
	    m->exp + TG_SHARE_FRESH_NS >= exp)
		return 0;
	old = bpf_map_lookup_elem(&tg_shared, &k);
	if (old) {
		if (*old < exp)
			*old = exp;
	} else if (bpf_map_update_elem(&tg_shared, &k, &exp, BPF_ANY)) {
		return 0; /* not remembered: the next answer tries again */
	}
	m->k = k;
	m->at = s->now;
	m->exp = exp;
	return 0;
}

/* The DNS message in s->msg, len bytes of it (1..DNS_BUF) loaded; partial:
 * the first len bytes of a longer one (TCP), whose addresses an allowed
 * name cannot share yet (only a whole message's can). */
__noinline int tg_dns_parse(__u32 len, __u32 gen, __u32 partial)
{
	struct tg_dns_scratch *s = tg_dns_s();
	struct tg_abi_gen *g;
	struct tg_sctx x;
	__u32 qend, an;

	if (!s || len < DNS_HDR_LEN + 5 || len > DNS_BUF)
		return 0;
	/* a response, no error, one question, some answers */
	if (!(s->msg[2] & 0x80) || (s->msg[3] & 0x0f) || s->msg[4] || s->msg[5] != 1)
		return 0;
	an = ((__u32)s->msg[6] << 8) | s->msg[7];
	if (!an)
		return 0;
	s->len = len;
	s->gen = gen;
	s->found = 0;
	s->nrec = 0;
	s->nchain = 0;
	s->changed = 0;
	s->lens_ok = 0;
	g = bpf_map_lookup_elem(&tg_gens, &gen);
	if (g && (g->flags & TG_ABI_GEN_HOST_LENS)) {
		__builtin_memcpy(s->host_lens, g->host_lens, sizeof(s->host_lens));
		__builtin_memcpy(s->wild_lens, g->wild_lens, sizeof(s->wild_lens));
		s->lens_ok = 1;
	}

	qend = tg_dns_name(DNS_HDR_LEN);
	if (!qend)
		return 0;
	s->chain[0] = s->hash;
	s->nchain = 1;
	tg_dns_match();

	s->rc.qhash = s->hash;
	s->rc.off = qend + 4; /* QTYPE, QCLASS */
	s->rc.an = an;
	s->rc.cnames = 0;
	x.s = s;
	bpf_loop(DNS_MAX_RECS, tg_rec_step, &x, 0);
	if (!s->nrec)
		return 0;
	if (s->rc.cnames) {
		bpf_loop(DNS_MAX_RECS * DNS_MAX_CHAIN, tg_chain_step, &x, 0);
		bpf_loop(DNS_MAX_RECS, tg_target_step, &x, 0);
	}
	if (s->found) {
		bpf_loop(DNS_MAX_RECS, tg_learn_step, &x, 0);
	} else if (!partial) {
		s->now = bpf_ktime_get_tai_ns();
		bpf_loop(DNS_MAX_RECS, tg_share_step, &x, 0);
	}
	return 0;
}

/* The DNS message at skb offset off, msglen bytes long. */
static __always_inline int tg_dns_message(struct __sk_buff *skb, __u32 off, __u32 msglen, __u32 gen)
{
	struct tg_dns_scratch *s;
	__u32 len;

	if (!skb || msglen < DNS_HDR_LEN + 5)
		return 0;
	s = tg_dns_s();
	if (!s)
		return 0;
	len = msglen > DNS_BUF ? DNS_BUF : msglen;
	len = tg_mbuf(len - 1) + 1; /* 1..DNS_BUF, in a way the verifier sees */
	if (bpf_skb_load_bytes(skb, off, s->msg, len))
		return 0;
	return tg_dns_parse(len, gen, 0);
}

/*
 * DNS over TCP: messages follow each other on the stream, each after its
 * 2-byte length, and a segment may hold a part of one, or several. A socket
 * whose peer port is 53 gets a tg_dns_stream at its SYN-ACK (or, for a
 * connection older than the program, at the first data segment seen): it
 * follows the stream in sequence order and keeps the first DNS_BUF bytes of
 * the message in progress. The message is parsed as it grows (the records
 * complete so far count: a reader may take the first part before the rest
 * comes) and whole when its last byte arrives, each time before TCP can
 * hand the new bytes to the reader. A segment that comes before an earlier
 * one (a gap) is dropped, so that TCP sends it again in order; a gap still
 * open after TG_STREAM_HOLD_NS (a segment this program did not see: more
 * IPv6 extension headers than it skips) lets the stream be followed again
 * from the segment at hand. Streams are followed while no host rule is in force too, so that
 * one gets a gap only from the network. Bytes are taken once: a segment
 * that TCP throws away after this program read it (its checksum is checked
 * later) is not read again when it comes back, so a server that sends a bad
 * copy first can hide the good one (it could as well answer on another
 * port, or over DoH).
 */
#define TG_STREAM_HOLD_NS 2000000000ULL
#define TG_STREAM_BUSY_NS 1000000ULL /* another CPU is at this stream */
#define DNS_TCP_STEPS	1024u /* steps through one segment (2 a message it holds whole) */
#define TG_TCP_SYN	0x02
#define TG_TCP_ACK	0x10
#define TG_TCP_SYN_SENT 2 /* BPF_TCP_SYN_SENT */

struct tg_dns_stream {
	__u64 busy;   /* bpf_ktime_get_ns() of the CPU at it, 0 = free */
	__u64 gap_at; /* when a segment first came after a gap (0: no gap) */
	__u32 next;   /* sequence number of the next stream byte */
	__u32 need;   /* length of the message in progress */
	__u32 have;   /* its bytes seen so far */
	__u8 lenb;    /* bytes of its 2-byte length seen (0..2) */
	__u8 len0;    /* the first of them */
	__u8 on;      /* next is valid */
	__u8 pad;
	__u8 buf[2 * DNS_BUF]; /* the first DNS_BUF bytes of the message (twice: masked offset + masked length) */
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tg_dns_stream);
} tg_dns_streams SEC(".maps");

struct tg_tctx {
	struct __sk_buff *skb;
	struct tg_dns_stream *st;
	struct tg_dns_scratch *s;
	__u32 pos;    /* next skb offset of the segment's payload */
	__u32 end;    /* its end */
	__u32 gen;
	__u32 active; /* host rules in force: parse (else only follow) */
};

/* 64 bytes of the buffered message a step into the scratch. */
static long tg_copy_step(__u32 i, void *ctx)
{
	struct tg_tctx *t = ctx;
	__u32 o = i * 64;

	if (!t->s || !t->st || o >= t->st->have || o >= DNS_BUF)
		return 1;
	o &= DNS_BUF - 64;
	__builtin_memcpy(&t->s->msg[o], &t->st->buf[o], 64);
	return 0;
}

/* One step through a segment's payload: a length byte, or as much of the
 * message body as the segment holds. */
static long tg_tcp_step(__u32 i, void *ctx)
{
	struct tg_tctx *t = ctx;
	struct tg_dns_stream *st = t->st;
	__u32 pos = t->pos, left, n, cp = 0, len;
	__u8 b;

	if (!st || !t->s || pos >= t->end)
		return 1;
	left = t->end - pos;
	if (st->lenb < 2) {
		if (bpf_skb_load_bytes(t->skb, pos, &b, 1))
			goto lost;
		t->pos = pos + 1;
		if (!st->lenb) {
			st->len0 = b;
			st->lenb = 1;
			return 0;
		}
		st->need = ((__u32)st->len0 << 8) | b;
		st->have = 0;
		st->lenb = 2;
		/* a whole message in this segment: parsed from the packet */
		if (st->need && st->need <= left - 1) {
			if (t->active)
				tg_dns_message(t->skb, pos + 1, st->need, t->gen);
			t->pos = pos + 1 + st->need;
			st->lenb = 0;
		}
		return 0;
	}
	n = st->need - st->have;
	if (n > left)
		n = left;
	if (n && st->have < DNS_BUF) {
		cp = DNS_BUF - st->have;
		if (cp > n)
			cp = n;
		if (bpf_skb_load_bytes(t->skb, pos, &st->buf[tg_mbuf(st->have)], tg_mbuf(cp - 1) + 1))
			goto lost;
	}
	st->have += n;
	t->pos = pos + n;
	if (st->have >= st->need)
		st->lenb = 0;
	/* the message so far (when it grew), or whole: the addresses an
	 * allowed name shares only from a whole one */
	len = st->have > DNS_BUF ? DNS_BUF : st->have;
	if (t->active && len >= DNS_HDR_LEN + 5 && (cp || !st->lenb)) {
		bpf_loop(DNS_BUF / 64, tg_copy_step, t, 0);
		tg_dns_parse(len, t->gen, st->lenb ? 1 : 0);
	}
	return 0;
lost: /* not expected (offsets are within the packet): the segment is given up */
	t->pos = t->end;
	st->lenb = 0;
	return 1;
}

/* Takes the stream for this CPU (false: another one is at it). */
static __always_inline bool tg_stream_claim(struct tg_dns_stream *st, __u64 now)
{
	__u64 busy = st->busy;

	return !(busy && now - busy < TG_STREAM_BUSY_NS) && __sync_val_compare_and_swap(&st->busy, busy, now) == busy;
}

/* A TCP segment from port 53 to sk: the IP payload is at off..end. Returns
 * the verdict: 0 (drop) for a segment after a gap, for one that holds more
 * messages than DNS_TCP_STEPS can take (the stream is followed up to where
 * the steps stopped, and TCP's retransmission brings the rest), and while
 * another CPU is at the same stream. */
static __always_inline int tg_dns_tcp(struct __sk_buff *skb, struct bpf_sock *sk, __u32 off, __u32 end, __u32 gen,
				      __u32 active)
{
	struct tg_dns_stream *st;
	struct tg_tctx t = {};
	__u8 hdr[16];
	__u32 seq, p;
	__u64 now;
	__s32 d;
	int verdict = 1;

	/* sequence number, data offset and flags */
	if (end < off + 20 || bpf_skb_load_bytes(skb, off, hdr, sizeof(hdr)))
		return 1;
	p = off + (__u32)(hdr[12] >> 4) * 4;
	if (p > end)
		return 1;
	seq = ((__u32)hdr[4] << 24) | ((__u32)hdr[5] << 16) | ((__u32)hdr[6] << 8) | hdr[7];
	if (hdr[13] & TG_TCP_SYN) {
		/* The SYN-ACK of this socket's connect anchors the stream, so
		 * that a data segment that overtakes the first one is seen as
		 * after a gap. Any data in it is thrown away by TCP (the
		 * server sends it again): not read. */
		if (!(hdr[13] & TG_TCP_ACK) || sk->state != TG_TCP_SYN_SENT)
			return 1;
		st = bpf_sk_storage_get(&tg_dns_streams, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!st)
			return 1;
		if (!tg_stream_claim(st, bpf_ktime_get_ns()))
			return 1;
		st->on = 1;
		st->next = seq + 1;
		st->lenb = 0;
		st->gap_at = 0;
		st->busy = 0;
		return 1;
	}
	if (p == end)
		return 1; /* no payload */
	t.s = tg_dns_s();
	if (!t.s)
		return 1;
	st = bpf_sk_storage_get(&tg_dns_streams, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		/* no room for the socket's state (optmem_max): a segment that
		 * holds a whole message after its length is still read */
		__u16 mlen;

		if (active && end >= p + 2 && !bpf_skb_load_bytes(skb, p, &mlen, 2) && bpf_ntohs(mlen) <= end - p - 2)
			tg_dns_message(skb, p + 2, bpf_ntohs(mlen), gen);
		return 1;
	}
	now = bpf_ktime_get_ns();
	if (!tg_stream_claim(st, now))
		return 0; /* TCP sends it again */
	if (st->on) {
		d = (__s32)(seq - st->next);
		if (d > 0) {
			if (!st->gap_at)
				st->gap_at = now;
			if (now - st->gap_at < TG_STREAM_HOLD_NS) {
				verdict = 0;
				goto out;
			}
			st->lenb = 0; /* lost: follow the stream again from here */
		} else if (d < 0) {
			if ((__u32)-d >= end - p)
				goto out; /* seen already (a retransmission) */
			p += (__u32)-d;
			seq = st->next;
		}
	} else {
		st->on = 1;
		st->lenb = 0;
	}
	st->gap_at = 0;
	t.skb = skb;
	t.st = st;
	t.pos = p;
	t.end = end;
	t.gen = gen;
	t.active = active;
	bpf_loop(DNS_TCP_STEPS, tg_tcp_step, &t, 0);
	if (t.pos > end)
		t.pos = end;
	st->next = seq + (t.pos - p);
	if (t.pos < end)
		verdict = 0;
out:
	st->busy = 0;
	return verdict;
}

SEC("cgroup_skb/ingress")
int tg_dns_ingress(struct __sk_buff *skb)
{
	struct bpf_sock *sk = NULL;
	struct tg_abi_gen *g;
	__u32 gen = 0, off, proto, end, active;
	__u16 ports[2];
	__u32 rport;

	/* Cheapest test first: a socket with a peer (TCP, connected UDP) only
	 * receives from that peer, so a peer port other than 53 cannot bring
	 * an answer, and a TCP socket without one is a listener, which gets
	 * no answers either. remote_port is in network order, in the upper
	 * half on little-endian kernels; 0 = no peer. */
	rport = skb->remote_port;
	if (rport != bpf_htons(53) && rport != (__u32)bpf_htons(53) << 16) {
		if (rport)
			return 1;
		sk = skb->sk;
		if (sk)
			sk = bpf_sk_fullsock(sk);
		if (sk && sk->protocol == TG_IPPROTO_TCP)
			return 1;
	}
	g = tg_active(&gen);
	active = g && (g->flags & TG_ABI_GEN_HOSTS);
	/* without host rules, TCP streams from port 53 are still followed
	 * (tg_dns_tcp), nothing else is looked at */
	if (!active && !rport)
		return 1;
	if (skb->protocol == bpf_htons(TG_ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return 1;
		if (ip.frag_off & bpf_htons(0x3fff))
			return 1;
		proto = ip.protocol;
		off = (__u32)ip.ihl * 4;
		end = bpf_ntohs(ip.tot_len);
		if (!end)
			end = skb->len; /* BIG TCP: more than 64 KB */
	} else if (skb->protocol == bpf_htons(TG_ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return 1;
		proto = ip6.nexthdr;
		off = sizeof(ip6);
		end = ip6.payload_len ? off + bpf_ntohs(ip6.payload_len) : skb->len; /* 0: BIG TCP */
		/* hop-by-hop, routing, destination options and fragment headers
		 * before the transport header (a fragment header is left only
		 * in an atomic fragment: IP removes it when it puts a datagram
		 * back together; its second byte is zero) */
		for (int i = 0; i < TG_IPV6_EXT_MAX; i++) {
			__u8 ext[2];

			if (proto != TG_IPPROTO_HOPOPTS && proto != TG_IPPROTO_ROUTING && proto != TG_IPPROTO_DSTOPTS &&
			    proto != TG_IPPROTO_FRAGMENT)
				break;
			if (bpf_skb_load_bytes(skb, off, ext, sizeof(ext)))
				return 1;
			proto = ext[0];
			off += ((__u32)ext[1] + 1) * 8;
		}
	} else {
		return 1;
	}
	if (proto != TG_IPPROTO_UDP && proto != TG_IPPROTO_TCP)
		return 1;
	if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)) || ports[0] != bpf_htons(53))
		return 1;
	if (end > skb->len)
		end = skb->len;
	if (proto == TG_IPPROTO_UDP) {
		off += 8;
		if (!active || end <= off)
			return 1;
		tg_dns_message(skb, off, end - off, gen);
	} else {
		sk = skb->sk;
		if (sk)
			sk = bpf_sk_fullsock(sk);
		if (sk)
			return tg_dns_tcp(skb, sk, off, end, gen, active);
	}
	return 1;
}
