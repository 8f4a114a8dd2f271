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
