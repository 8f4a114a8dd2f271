/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The destination tries: used by connect_guard (decisions) and dns_guard
 * (addresses learned from DNS answers); the daemon shares one pair. */
#pragma once

#include "tg_common.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TG_ABI_NET_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_abi_net4_key);
	__type(value, struct tg_abi_net_refs);
} tg_net4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TG_ABI_NET_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_abi_net6_key);
	__type(value, struct tg_abi_net_refs);
} tg_net6 SEC(".maps");

/* Addresses an allowed name answered with (dns_guard writes, connect_guard
 * reads): no generation, entries expire by their value. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TG_ABI_SHARED_ENTRIES);
	__type(key, struct tg_abi_shared_key);
	__type(value, __u64);
} tg_shared SEC(".maps");

/* Sockets connect_guard let through to a shared address although the
 * address has host-name refs: stream_guard inspects those whatever their
 * port (the value is unused; the entry lives and dies with the socket). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u32);
} tg_inspect_sk SEC(".maps");

/* The destination answers for an allowed name too (not expired).
 * addr: 16 bytes, IPv4 in the first 4. */
static __always_inline bool tg_shared_addr(const __u8 *addr, __u32 family, __u64 now)
{
	struct tg_abi_shared_key k = {.family = family};
	__u64 *exp;

	__builtin_memcpy(k.addr, addr, 16);
	exp = bpf_map_lookup_elem(&tg_shared, &k);
	return exp && *exp > now;
}
