// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The first bytes an outgoing TCP connection sends, checked against the host
 * name rules ("Host names in streams" in toolguard_abi.h):
 *  - sockops on the cgroup v2 root: when a connection this machine opened is
 *    established (and the policy has host rules) to an inspected port or to
 *    an address shared with an allowed name, the socket goes into the
 *    tg_streams sockhash (bounded; the kernel drops an entry when its socket
 *    closes);
 *  - sk_msg on tg_streams: the first sendmsg of such a socket is parsed as an
 *    HTTP "CONNECT host:port" request line or a TLS ClientHello (server_name);
 *    a banned name makes that sendmsg, and every later one, fail with EACCES
 *    (SK_DROP) before a byte leaves. Whatever the verdict, it covers the rest
 *    of the stream (bpf_msg_apply_bytes), so the program runs once a connection.
 * sk_msg cannot delete sockhash entries and has no socket cookie: the
 * sockhash key is the 4-tuple, and the entry lives as long as the socket.
 */
#include "tg_common.bpf.h"
#include "tg_hosts.bpf.h"
#include "tg_net.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#define TG_IPPROTO_TCP 6

#define STREAM_RAW     4096u /* first bytes of a stream examined (a ClientHello with a PQ key share is ~2 KB) */
#define STREAM_MASK    (STREAM_RAW - 1)
#define NAME_MASK      (TG_ABI_HOST_MAX - 1)
#define TLS_MAX_EXTS   64u
#define STREAM_ENTRIES 65536u
#define APPLY_ALL      0xffffffffu /* the verdict covers the rest of the stream */

struct tg_stream_key {
	__u32 family;
	__u32 local_port;  /* host order, as sockops and sk_msg give it */
	__u32 remote_port; /* network order in the upper half, as given */
	__u32 local_ip[4];
	__u32 remote_ip[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, STREAM_ENTRIES);
	__type(key, struct tg_stream_key);
	__type(value, __u64);
} tg_streams SEC(".maps");

struct tg_stream_scratch {
	__u8 raw[STREAM_RAW];
	/* lower case, no trailing dot; the second half stays zero (tg_hosts_get) */
	char name[2 * TG_ABI_HOST_MAX];
	struct tg_abi_host_key key;
	struct tg_abi_net_refs refs;
	struct tg_abi_connect_host_event ev;
	__u32 gen;
	__u32 found;
	__u32 port; /* CONNECT's port, else the socket's */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_stream_scratch);
} tg_stream_scratch SEC(".maps");

/* ANDs the compiler cannot drop: the verifier needs them to bound offsets. */
static __always_inline __u32 tg_mraw(__u32 v)
{
	asm volatile("%0 &= 4095" : "+r"(v));
	return v;
}

static __always_inline __u32 tg_mname(__u32 v)
{
	asm volatile("%0 &= 127" : "+r"(v));
	return v;
}

static __always_inline struct tg_stream_scratch *tg_stream_s(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tg_stream_scratch, &zero);
}

static __always_inline __u32 tg_be16(const struct tg_stream_scratch *s, __u32 off)
{
	return ((__u32)s->raw[tg_mraw(off)] << 8) | s->raw[tg_mraw(off + 1)];
}

static __always_inline char tg_lower(__u8 c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

/* ---------- parsers (global functions: verified once) ---------- */

struct tg_ext_ctx {
	__u32 off;  /* next extension */
	__u32 eend; /* end of the extensions (within what we have) */
	__u32 name; /* offset of the server name */
	__u32 nl;   /* its length, 0 = not found */
};

/* bpf_loop step: one extension; stops at server_name or at the end. */
static long tg_ext_step(__u32 k, struct tg_ext_ctx *c)
{
	struct tg_stream_scratch *s = tg_stream_s();
	__u32 off = c->off, type, elen, nl;

	if (!s || off + 4 > c->eend || off > STREAM_RAW)
		return 1;
	type = tg_be16(s, off);
	elen = tg_be16(s, off + 2);
	off += 4;
	if (type != 0) {
		c->off = off + elen;
		return 0;
	}
	/* server_name: list length, name type (0 = host_name), name length, name */
	if (elen < 5 || off + elen > c->eend || s->raw[tg_mraw(off + 2)] != 0)
		return 1;
	nl = tg_be16(s, off + 3);
	if (nl == 0 || nl >= TG_ABI_HOST_MAX || 5 + nl > elen)
		return 1;
	c->name = off + 5;
	c->nl = nl;
	return 1;
}

/* bpf_loop step: one byte of the name, lower-cased. */
static long tg_name_step(__u32 j, struct tg_ext_ctx *c)
{
	struct tg_stream_scratch *s = tg_stream_s();

	if (!s || j >= c->nl || j >= TG_ABI_HOST_MAX - 1)
		return 1;
	s->name[tg_mname(j)] = tg_lower(s->raw[tg_mraw(c->name + j)]);
	return 0;
}

/*
 * A TLS ClientHello in s->raw[0..have): s->name = its server_name. Returns the
 * name's length, 0 when there is none or it is not complete in these bytes.
 * Strict bounds: every length is checked against the record and what we have.
 */
__noinline __u32 tg_sni_parse(__u32 have)
{
	struct tg_stream_scratch *s = tg_stream_s();
	struct tg_ext_ctx c = {};
	__u32 lim, off, n;

	if (!s || have < 44 || have > STREAM_RAW)
		return 0;
	/* record: handshake, TLS 1.x; handshake: ClientHello */
	if (s->raw[0] != 0x16 || s->raw[1] != 3 || s->raw[5] != 1)
		return 0;
	lim = 5 + tg_be16(s, 3);
	if (lim > have)
		lim = have;
	off = 9 + 2 + 32; /* handshake header, legacy_version, random */
	n = s->raw[tg_mraw(off)];
	if (n > 32)
		return 0;
	off += 1 + n; /* session id */
	if (off + 2 > lim)
		return 0;
	off += 2 + tg_be16(s, off); /* cipher suites */
	if (off + 1 > lim)
		return 0;
	off += 1 + s->raw[tg_mraw(off)]; /* compression methods */
	if (off + 2 > lim)
		return 0;
	c.eend = off + 2 + tg_be16(s, off);
	c.off = off + 2;
	if (c.eend > lim)
		c.eend = lim;
	bpf_loop(TLS_MAX_EXTS, tg_ext_step, &c, 0);
	if (!c.nl || c.nl >= TG_ABI_HOST_MAX)
		return 0;
	bpf_loop(TG_ABI_HOST_MAX - 1, tg_name_step, &c, 0);
	s->name[tg_mname(c.nl)] = 0;
	return c.nl;
}

/* "CONNECT host:port HTTP/1.x" in s->raw[0..have): s->name = host, s->port =
 * port. Returns the name's length, 0 when it is not such a request line
 * (IPv6 literals "[...]" are not parsed). */
__noinline __u32 tg_connect_parse(__u32 have)
{
	struct tg_stream_scratch *s = tg_stream_s();
	__u32 j, o = 0, port = 0, digits = 0, i;
	char c;

	if (!s || have < 12 || have > STREAM_RAW)
		return 0;
	if (s->raw[0] != 'C' || s->raw[1] != 'O' || s->raw[2] != 'N' || s->raw[3] != 'N' ||
	    s->raw[4] != 'E' || s->raw[5] != 'C' || s->raw[6] != 'T' || s->raw[7] != ' ')
		return 0;
	for (j = 0; j < TG_ABI_HOST_MAX; j++) {
		i = 8 + j;
		if (i >= have)
			return 0;
		c = (char)s->raw[tg_mraw(i)];
		if (c == ':')
			break;
		/* a name stops at ':'; anything that cannot be in one ends the parse */
		if (c == ' ' || c == '/' || c == '[' || c == '@' || c == '\r' || c == '\n' || c == 0 ||
		    j >= TG_ABI_HOST_MAX - 1)
			return 0;
		s->name[tg_mname(j)] = tg_lower((__u8)c);
		o = j + 1;
	}
	if (o == 0)
		return 0;
	for (j = 0; j < 6; j++) {
		i = 8 + o + 1 + j;
		if (i >= have)
			return 0;
		c = (char)s->raw[tg_mraw(i)];
		if (c == ' ')
			break;
		if (c < '0' || c > '9' || j == 5)
			return 0;
		port = port * 10 + (__u32)(c - '0');
		digits++;
	}
	if (!digits || port == 0 || port > 65535)
		return 0;
	s->port = port;
	s->name[tg_mname(o)] = 0;
	return o;
}

/* ---------- matching (as dns_guard.bpf.c does) ---------- */

/* key.name = s->name from offset from (NUL-padded); then look it up. */
static __always_inline bool tg_host_lookup(struct tg_stream_scratch *s, __u32 from, __u8 wildcard)
{
	struct tg_abi_net_refs *refs;

	refs = tg_hosts_get(&s->key, &s->name[tg_mname(from)], s->gen, wildcard);
	if (!refs)
		return false;
	s->refs = *refs;
	s->found = 1;
	return true;
}

/* bpf_loop step: at each '.', the rest of the name as a "*." suffix (never
 * the apex: "*.a.b" is stored as "a.b" with wildcard=1 and only suffixes after
 * a '.' are tried). Left to right: the most specific wildcard wins. */
static long tg_wild_step(__u32 i, void *ctx)
{
	struct tg_stream_scratch *s = tg_stream_s();

	if (!s || i >= TG_ABI_HOST_MAX - 1)
		return 1;
	if (!s->name[tg_mname(i)])
		return 1;
	if (s->name[tg_mname(i)] != '.')
		return 0;
	return tg_host_lookup(s, i + 1, 1) ? 1 : 0;
}

/* The name (trailing dot dropped), else its parents as "*." suffixes. */
__noinline __u32 tg_stream_match(__u32 len)
{
	struct tg_stream_scratch *s = tg_stream_s();

	if (!s || len == 0 || len >= TG_ABI_HOST_MAX)
		return 0;
	if (s->name[tg_mname(len - 1)] == '.')
		s->name[tg_mname(len - 1)] = 0;
	if (!s->name[0])
		return 0;
	s->found = 0;
	if (!tg_host_lookup(s, 0, 0))
		bpf_loop(TG_ABI_HOST_MAX - 1, tg_wild_step, NULL, 0);
	return s->found;
}

struct tg_ip4_ctx {
	__u32 octet;
	__u32 val;
	__u32 digits;
	__u32 bad;
	__u8 addr[4];
};

/* bpf_loop step: one character of a dotted-quad IPv4 literal. */
static long tg_ip4_step(__u32 i, struct tg_ip4_ctx *c)
{
	struct tg_stream_scratch *s = tg_stream_s();
	char ch;

	if (!s || i >= TG_ABI_HOST_MAX - 1)
		return 1;
	ch = s->name[tg_mname(i)];
	if (!ch)
		return 1;
	if (ch == '.') {
		if (!c->digits || c->octet >= 3) {
			c->bad = 1;
			return 1;
		}
		c->addr[c->octet & 3] = (__u8)c->val;
		c->octet++;
		c->val = 0;
		c->digits = 0;
		return 0;
	}
	if (ch < '0' || ch > '9' || c->digits >= 3) {
		c->bad = 1;
		return 1;
	}
	c->val = c->val * 10 + (__u32)(ch - '0');
	c->digits++;
	if (c->val > 255)
		c->bad = 1;
	return c->bad ? 1 : 0;
}

/* A CONNECT to an IPv4 literal: the CIDR rules decide, as for a connect()
 * (the proxy may be on another machine). */
__noinline __u32 tg_stream_match_ip4(void)
{
	struct tg_stream_scratch *s = tg_stream_s();
	struct tg_ip4_ctx c = {};
	struct tg_abi_net4_key k = {.prefixlen = 8 + 32};
	struct tg_abi_net_refs *refs;

	if (!s)
		return 0;
	bpf_loop(TG_ABI_HOST_MAX - 1, tg_ip4_step, &c, 0);
	if (c.bad || c.octet != 3 || !c.digits)
		return 0;
	c.addr[3] = (__u8)c.val;
	k.gen = (__u8)s->gen;
	__builtin_memcpy(k.addr, c.addr, 4);
	refs = bpf_map_lookup_elem(&tg_net4, &k);
	if (!refs)
		return 0;
	s->refs = *refs;
	s->found = 1;
	return 1;
}

static __always_inline bool tg_port_ok(const struct tg_abi_net_ref *r, __u16 port)
{
	__u32 i;

	if (r->n_ports == 0)
		return true;
	for (i = 0; i < TG_ABI_NET_PORTS; i++) {
		if (i >= r->n_ports)
			break;
		if (r->ports[i] == port)
			return true;
	}
	return false;
}

/* ---------- programs ---------- */

/* Whether an established connection goes into tg_streams: see "Host names
 * in streams" in toolguard_abi.h. */
static __always_inline bool tg_inspect(const struct tg_abi_gen *g, struct bpf_sock_ops *ops)
{
	struct bpf_sock *sk;
	__u16 port;
	__u32 i;

	if (g->flags & TG_ABI_GEN_INSPECT_ALL)
		return true;
	port = (__u16)bpf_ntohl(ops->remote_port);
	for (i = 0; i < TG_ABI_INSPECT_PORTS; i++) {
		if (!g->inspect_ports[i])
			break;
		if (g->inspect_ports[i] == port)
			return true;
	}
	/* connect_guard's mark: a shared address with host-name refs */
	sk = ops->sk;
	return sk && bpf_sk_storage_get(&tg_inspect_sk, sk, 0, 0);
}

SEC("sockops")
int tg_stream_sockops(struct bpf_sock_ops *ops)
{
	struct tg_stream_key key = {};
	struct tg_abi_gen *g;
	__u32 gen = 0;

	if (ops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		return 1;
	g = tg_active(&gen);
	if (!g || !(g->flags & TG_ABI_GEN_HOSTS))
		return 1;
	key.family = ops->family;
	key.local_port = ops->local_port;
	key.remote_port = ops->remote_port;
	if (ops->family == AF_INET) {
		key.local_ip[0] = ops->local_ip4;
		key.remote_ip[0] = ops->remote_ip4;
	} else if (ops->family == AF_INET6) {
		key.local_ip[0] = ops->local_ip6[0];
		key.local_ip[1] = ops->local_ip6[1];
		key.local_ip[2] = ops->local_ip6[2];
		key.local_ip[3] = ops->local_ip6[3];
		key.remote_ip[0] = ops->remote_ip6[0];
		key.remote_ip[1] = ops->remote_ip6[1];
		key.remote_ip[2] = ops->remote_ip6[2];
		key.remote_ip[3] = ops->remote_ip6[3];
	} else {
		return 1;
	}
	if (!tg_inspect(g, ops))
		return 1;
	/* full map or a socket another sockmap user owns: not inspected */
	(void)bpf_sock_hash_update(ops, &tg_streams, &key, BPF_NOEXIST);
	return 1;
}

SEC("sk_msg")
int tg_stream_msg(struct sk_msg_md *msg)
{
	struct tg_stream_scratch *s;
	struct tg_best best = {};
	struct tg_who who = {};
	struct tg_abi_gen *g;
	__u32 gen = 0, len, have = 0, i, nl, flags, need;
	void *data, *end;
	__u64 ug, now;
	__u16 port;

	g = tg_active(&gen);
	if (!g || !(g->flags & TG_ABI_GEN_HOSTS))
		goto pass;
	s = tg_stream_s();
	if (!s)
		goto pass;
	len = msg->size;
	if (len > STREAM_RAW)
		len = STREAM_RAW;
	if (len < 1)
		goto pass;
	if (bpf_msg_pull_data(msg, 0, len, 0))
		goto pass;
	data = msg->data;
	end = msg->data_end;
	/* whole words from the start; the last len % 8 bytes through a second
	 * view ending at len (a copy length the verifier follows would make it
	 * walk the rest of the program once per possible length) */
	for (i = 0; i < STREAM_RAW / 8; i++) {
		if (data + (i + 1) * 8 > end)
			break;
		*(__u64 *)&s->raw[i * 8] = *(__u64 *)(data + i * 8);
	}
	if (len & 7) {
		if (len >= 8) {
			if (bpf_msg_pull_data(msg, len - 8, len, 0))
				goto pass;
			data = msg->data;
			end = msg->data_end;
			if (data + 8 > end)
				goto pass;
			__builtin_memcpy(&s->raw[tg_mraw(len - 8)], data, 8);
		} else {
			/* fresh pointers: the loop's are dead, so its exits merge */
			data = msg->data;
			end = msg->data_end;
#pragma unroll
			for (i = 0; i < 7; i++) {
				if (data + i + 1 > end)
					break;
				s->raw[i] = *(__u8 *)(data + i);
			}
		}
	}
	have = len;

	__builtin_memset(s->name, 0, sizeof(s->name));
	s->gen = gen;
	port = (__u16)bpf_ntohl(msg->remote_port);
	s->port = port;
	flags = TG_ABI_EV_TLS_SNI;
	if (have < 5 && s->raw[0] == 0x16) {
		/* not even a whole TLS record header yet */
		bpf_msg_cork_bytes(msg, 5);
		return SK_PASS;
	}
	nl = tg_sni_parse(have);
	if (!nl && have >= 5 && s->raw[0] == 0x16 && s->raw[1] == 3) {
		/* a ClientHello cut short by the writer: wait for the whole record
		 * (up to STREAM_RAW), the program then sees it again from the start */
		need = 5 + tg_be16(s, 3);
		if (need > STREAM_RAW)
			need = STREAM_RAW;
		if (need > msg->size) {
			bpf_msg_cork_bytes(msg, need);
			return SK_PASS;
		}
	}
	if (!nl) {
		flags = TG_ABI_EV_PROXY_CONNECT;
		nl = tg_connect_parse(have);
		port = (__u16)s->port;
	}
	if (!nl)
		goto pass;
	if (!tg_stream_match(nl) && (flags != TG_ABI_EV_PROXY_CONNECT || !tg_stream_match_ip4()))
		goto pass;

	now = bpf_ktime_get_tai_ns();
	ug = bpf_get_current_uid_gid();
	who.uid = (__u32)ug;
	who.gid = (__u32)(ug >> 32);
	for (i = 0; i < TG_ABI_NET_REFS; i++) {
		const struct tg_abi_net_ref *r;

		if (i >= s->refs.n)
			break;
		r = &s->refs.ref[i];
		if (!tg_port_ok(r, port))
			continue;
		tg_consider(&best, gen, r->tool, r->matcher, now, &who, 0);
	}
	if (best.verdict == TG_ABI_VERDICT_NONE)
		goto pass;
	flags |= best.flags;
	if (best.verdict == TG_ABI_VERDICT_BLOCK) {
		if (g->mode == TG_ABI_MODE_ENFORCE)
			flags |= TG_ABI_EV_DENIED;
		else
			flags |= TG_ABI_EV_WOULD_BLOCK;
	}

	__builtin_memset(&s->ev, 0, sizeof(s->ev));
	tg_fill_hdr(&s->ev.conn.hdr, TG_ABI_REC_CONNECT_HOST, sizeof(s->ev), now);
	s->ev.conn.policy_serial = g->policy_serial;
	s->ev.conn.pid = (__u32)(bpf_get_current_pid_tgid() >> 32);
	s->ev.conn.uid = who.uid;
	s->ev.conn.gid = who.gid;
	s->ev.conn.tool = best.tool;
	s->ev.conn.matcher = best.matcher;
	s->ev.conn.verdict = (__u8)best.verdict;
	s->ev.conn.protocol = TG_IPPROTO_TCP;
	s->ev.conn.gen = (__u8)gen;
	s->ev.conn.flags = flags;
	s->ev.conn.port = (__u16)bpf_ntohl(msg->remote_port);
	if (msg->family == AF_INET6) {
		__u32 a0 = msg->remote_ip6[0], a1 = msg->remote_ip6[1], a2 = msg->remote_ip6[2],
		      a3 = msg->remote_ip6[3];

		s->ev.conn.family = AF_INET6;
		__builtin_memcpy(&s->ev.conn.addr[0], &a0, 4);
		__builtin_memcpy(&s->ev.conn.addr[4], &a1, 4);
		__builtin_memcpy(&s->ev.conn.addr[8], &a2, 4);
		__builtin_memcpy(&s->ev.conn.addr[12], &a3, 4);
	} else {
		__u32 a = msg->remote_ip4;

		s->ev.conn.family = AF_INET;
		__builtin_memcpy(&s->ev.conn.addr[0], &a, 4);
	}
	__builtin_memcpy(s->ev.host, s->name, sizeof(s->ev.host));
	tg_emit(&s->ev, sizeof(s->ev));
	bpf_msg_apply_bytes(msg, APPLY_ALL);
	return (flags & TG_ABI_EV_DENIED) ? SK_DROP : SK_PASS;
pass:
	bpf_msg_apply_bytes(msg, APPLY_ALL);
	return SK_PASS;
}
