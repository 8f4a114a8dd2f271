// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cgroup/connect4, connect6, sendmsg4, sendmsg6 on the cgroup v2 root:
 * refuse (EPERM) connecting or sending to a banned destination.
 * IPv4-mapped IPv6 destinations are looked up in the IPv4 trie.
 * Exemptions see the real uid and primary gid only (no task access here).
 * TCP to an address an allowed name also answered with (tg_shared) ignores
 * the entry's host-name refs: stream_guard decides by SNI / CONNECT there.
 */
#include "tg_common.bpf.h"
#include "tg_net.bpf.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#define TG_IPPROTO_TCP 6

char LICENSE[] SEC("license") = "GPL";

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

/* addr: 16 bytes, IPv4 in the first 4. Returns 1 to allow, 0 to refuse. */
static __always_inline int tg_decide_dest(struct bpf_sock_addr *ctx, bool v6, bool sendmsg)
{
	struct tg_abi_connect_event ev = {};
	struct tg_abi_net_refs *refs = NULL;
	struct tg_best best = {};
	struct tg_who who = {};
	struct tg_abi_gen *g;
	__u32 gen = 0, i, flags = 0;
	__u16 port, names = 0;
	__u64 ug, now;

	g = tg_active(&gen);
	if (!g)
		return 1;
	port = bpf_ntohs((__u16)ctx->user_port);
	if (!v6) {
		struct tg_abi_net4_key k4 = {.prefixlen = 8 + 32, .gen = (__u8)gen};

		__builtin_memcpy(k4.addr, &ctx->user_ip4, 4);
		__builtin_memcpy(ev.addr, k4.addr, 4);
		refs = bpf_map_lookup_elem(&tg_net4, &k4);
	} else {
		__u32 a0 = ctx->user_ip6[0], a1 = ctx->user_ip6[1], a2 = ctx->user_ip6[2],
		      a3 = ctx->user_ip6[3];

		if (a0 == 0 && a1 == 0 && a2 == bpf_htonl(0xffff)) {
			struct tg_abi_net4_key k4 = {.prefixlen = 8 + 32, .gen = (__u8)gen};

			__builtin_memcpy(k4.addr, &a3, 4);
			__builtin_memcpy(ev.addr, &a3, 4);
			flags |= TG_ABI_EV_V4MAPPED;
			refs = bpf_map_lookup_elem(&tg_net4, &k4);
		} else {
			struct tg_abi_net6_key k6 = {.prefixlen = 8 + 128, .gen = (__u8)gen};

			__builtin_memcpy(&k6.addr[0], &a0, 4);
			__builtin_memcpy(&k6.addr[4], &a1, 4);
			__builtin_memcpy(&k6.addr[8], &a2, 4);
			__builtin_memcpy(&k6.addr[12], &a3, 4);
			__builtin_memcpy(ev.addr, k6.addr, 16);
			refs = bpf_map_lookup_elem(&tg_net6, &k6);
		}
	}
	if (!refs)
		return 1;

	now = bpf_ktime_get_tai_ns();
	/* ev.addr holds the destination (v4-mapped as IPv4) */
	if (refs->flags && ctx->protocol == TG_IPPROTO_TCP &&
	    tg_shared_addr(ev.addr, v6 && !(flags & TG_ABI_EV_V4MAPPED) ? AF_INET6 : AF_INET, now))
		names = refs->flags;
	/* the name refs are skipped here: the server name decides, whatever the
	 * port, on a socket marked for stream_guard; no mark, no skipping */
	if (names && (!ctx->sk || !bpf_sk_storage_get(&tg_inspect_sk, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE)))
		names = 0;
	ug = bpf_get_current_uid_gid();
	who.uid = (__u32)ug;
	who.gid = (__u32)(ug >> 32);
	for (i = 0; i < TG_ABI_NET_REFS; i++) {
		const struct tg_abi_net_ref *r;

		if (i >= refs->n)
			break;
		r = &refs->ref[i];
		if ((names & TG_ABI_NET_NAME_REF(i)) || !tg_port_ok(r, port))
			continue;
		tg_consider(&best, gen, r->tool, r->matcher, now, &who, 0);
	}
	if (best.verdict == TG_ABI_VERDICT_NONE)
		return 1;

	flags |= best.flags | (sendmsg ? TG_ABI_EV_SENDMSG : 0);
	if (best.verdict == TG_ABI_VERDICT_BLOCK) {
		if (g->mode == TG_ABI_MODE_ENFORCE)
			flags |= TG_ABI_EV_DENIED;
		else
			flags |= TG_ABI_EV_WOULD_BLOCK;
	}
	tg_fill_hdr(&ev.hdr, TG_ABI_REC_CONNECT, sizeof(ev), now);
	ev.policy_serial = g->policy_serial;
	ev.pid = (__u32)(bpf_get_current_pid_tgid() >> 32);
	ev.uid = who.uid;
	ev.gid = who.gid;
	ev.tool = best.tool;
	ev.matcher = best.matcher;
	ev.verdict = (__u8)best.verdict;
	ev.family = v6 ? AF_INET6 : AF_INET;
	ev.protocol = (__u8)ctx->protocol;
	ev.gen = (__u8)gen;
	ev.flags = flags;
	ev.port = port;
	bpf_get_current_comm(ev.comm, sizeof(ev.comm));
	tg_emit(&ev, sizeof(ev));
	return (flags & TG_ABI_EV_DENIED) ? 0 : 1;
}

SEC("cgroup/connect4")
int tg_connect4(struct bpf_sock_addr *ctx)
{
	return tg_decide_dest(ctx, false, false);
}

SEC("cgroup/connect6")
int tg_connect6(struct bpf_sock_addr *ctx)
{
	return tg_decide_dest(ctx, true, false);
}

SEC("cgroup/sendmsg4")
int tg_sendmsg4(struct bpf_sock_addr *ctx)
{
	return tg_decide_dest(ctx, false, true);
}

SEC("cgroup/sendmsg6")
int tg_sendmsg6(struct bpf_sock_addr *ctx)
{
	return tg_decide_dest(ctx, true, true);
}
