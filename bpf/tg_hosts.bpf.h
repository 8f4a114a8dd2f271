/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Host name rules: used by dns_guard (DNS questions and CNAME targets) and
 * stream_guard (TLS server names, CONNECT lines); the daemon shares one map. */
#pragma once

#include "tg_common.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TG_ABI_HOST_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_abi_host_key);
	__type(value, struct tg_abi_net_refs);
} tg_hosts SEC(".maps");

/*
 * tg_hosts entry of {gen, wildcard, the name at src}. src must be followed by
 * TG_ABI_HOST_MAX readable bytes that are zero after the name's NUL (callers
 * keep their name buffers twice that size with the second half zero), so the
 * key is filled 8 bytes at a time with its NUL padding.
 */
static __always_inline struct tg_abi_net_refs *tg_hosts_get(struct tg_abi_host_key *key, const char *src,
							    __u32 gen, __u8 wildcard)
{
	__u32 j;

	key->gen = (__u8)gen;
	key->wildcard = wildcard;
	key->pad = 0;
	for (j = 0; j < TG_ABI_HOST_MAX / 8; j++)
		*(__u64 *)&key->name[j * 8] = *(const __u64 *)&src[j * 8];
	return bpf_map_lookup_elem(&tg_hosts, key);
}
