/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared by exec_guard.bpf.c and connect_guard.bpf.c: the maps both objects
 * use (the daemon loads the exec object first and hands its map fds to the
 * connect object with bpf_map__reuse_fd) and the per-tool decision, so every
 * hook decides the same way. Layout and semantics: toolguard_abi.h.
 */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "toolguard_abi.h"

#ifndef EPERM
#define EPERM 1
#endif
#ifndef SIGKILL
#define SIGKILL 9
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_abi_control);
} tg_control SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct tg_abi_gen);
} tg_gens SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * TG_ABI_MAX_TOOLS);
	__type(key, __u32);
	__type(value, struct tg_abi_tool);
} tg_tools SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TG_ABI_EXEMPT_ENTRIES);
	__type(key, struct tg_abi_exempt_key);
	__type(value, __u8);
} tg_exempt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TG_ABI_RINGBUF_BYTES);
} tg_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TG_ABI_DROP__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} tg_dropped SEC(".maps");

/* Who is asking: real uid/gid and the first supplementary groups. */
struct tg_who {
	__u32 uid;
	__u32 gid;
	__u32 ngroups;
	__u32 pad;
	__u32 groups[TG_ABI_MAX_GROUPS];
};

/* The winning ref so far. */
struct tg_best {
	__u32 verdict;
	__u32 flags; /* TG_ABI_EV_EXEMPT | TG_ABI_EV_BY_* */
	__u16 tool;
	__u16 matcher;
	__u32 pad;
};

static __always_inline void tg_count_drop(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&tg_dropped, &idx);

	if (c)
		__sync_fetch_and_add(c, 1);
}

/* Active generation and its settings, or NULL when no policy is in force. */
static __always_inline struct tg_abi_gen *tg_active(__u32 *ret_gen)
{
	__u32 zero = 0, gen;
	struct tg_abi_control *ctl = bpf_map_lookup_elem(&tg_control, &zero);
	struct tg_abi_gen *g;

	if (!ctl)
		return NULL;
	gen = *(volatile __u32 *)&ctl->active_gen & 1;
	g = bpf_map_lookup_elem(&tg_gens, &gen);
	if (!g || g->mode == TG_ABI_MODE_OFF)
		return NULL;
	*ret_gen = gen;
	return g;
}

static __always_inline __u32 tg_backend(void)
{
	__u32 zero = 0;
	struct tg_abi_control *ctl = bpf_map_lookup_elem(&tg_control, &zero);

	return ctl ? ctl->exec_backend : TG_ABI_BACKEND_NONE;
}

static __always_inline bool tg_exempt_id(__u32 gen, __u16 tool, __u8 kind, __u32 id)
{
	struct tg_abi_exempt_key k = {.id = id, .tool = tool, .gen = (__u8)gen, .kind = kind};

	return bpf_map_lookup_elem(&tg_exempt, &k) != NULL;
}

/* Verdict of one ref for `who` at `now` (see "Decision" in toolguard_abi.h). */
static __noinline __u32 tg_tool_verdict(__u32 gen, __u32 tool_idx, __u64 now, const struct tg_who *who,
					__u32 *ret_exempt)
{
	__u32 key, v, i;
	struct tg_abi_tool *t;

	*ret_exempt = 0;
	if (tool_idx >= TG_ABI_MAX_TOOLS)
		return TG_ABI_VERDICT_NONE;
	key = (gen & 1) * TG_ABI_MAX_TOOLS + tool_idx;
	t = bpf_map_lookup_elem(&tg_tools, &key);
	if (!t || !(t->flags & TG_ABI_TOOL_PRESENT))
		return TG_ABI_VERDICT_NONE;
	if (now < t->start_ns || now >= t->end_ns)
		return TG_ABI_VERDICT_NONE;
	switch (t->action) {
	case TG_ABI_ACTION_BLOCK:
		v = now < t->block_ns ? TG_ABI_VERDICT_WARN : TG_ABI_VERDICT_BLOCK;
		break;
	case TG_ABI_ACTION_ALERT:
		v = TG_ABI_VERDICT_ALERT;
		break;
	case TG_ABI_ACTION_ALLOW:
		return TG_ABI_VERDICT_ALLOW;
	default:
		return TG_ABI_VERDICT_NONE;
	}
	if (now >= t->exempt_end_ns)
		return v;
	if ((t->flags & TG_ABI_TOOL_EXEMPT_UIDS) && tg_exempt_id(gen, tool_idx, TG_ABI_EXEMPT_UID, who->uid))
		goto exempt;
	if (t->flags & TG_ABI_TOOL_EXEMPT_GIDS) {
		if (tg_exempt_id(gen, tool_idx, TG_ABI_EXEMPT_GID, who->gid))
			goto exempt;
		for (i = 0; i < TG_ABI_MAX_GROUPS; i++) {
			if (i >= who->ngroups)
				break;
			if (tg_exempt_id(gen, tool_idx, TG_ABI_EXEMPT_GID, who->groups[i]))
				goto exempt;
		}
	}
	return v;
exempt:
	*ret_exempt = 1;
	return TG_ABI_VERDICT_ALLOW;
}

/* Fold one ref into best: the highest verdict wins, ties keep the first. */
static __always_inline void tg_consider(struct tg_best *best, __u32 gen, __u16 tool, __u16 matcher, __u64 now,
					const struct tg_who *who, __u32 by_flag)
{
	__u32 exempt = 0;
	__u32 v = tg_tool_verdict(gen, tool, now, who, &exempt);

	if (v > best->verdict) {
		best->verdict = v;
		best->tool = tool;
		best->matcher = matcher;
		best->flags = by_flag | (exempt ? TG_ABI_EV_EXEMPT : 0);
	}
}

static __always_inline void tg_fill_hdr(struct tg_abi_rec_hdr *h, __u16 type, __u32 size, __u64 now)
{
	h->type = type;
	h->version = TG_ABI_VERSION;
	h->size = size;
	h->ktime_tai_ns = now;
}

static __always_inline void tg_emit(void *rec, __u64 size)
{
	if (bpf_ringbuf_output(&tg_events, rec, size, 0))
		tg_count_drop(TG_ABI_DROP_RINGBUF);
}
