/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tamper detection and repair (see tamper.h).
 *
 * What is compared with the state recorded at the last apply:
 *  - tg_control (active generation, ABI, backend) and tg_gens[active];
 *  - tg_tools of the active generation;
 *  - tg_strs, tg_rstrs, tg_exempt, tg_affix, tg_hosts, tg_inodes: a digest of
 *    every entry (both generations), plus the daemon's own later inode writes;
 *  - tg_net4/tg_net6: every entry of the apply must still be there (a /32 or
 *    /128 entry may have gained refs: the DNS learner merges into those), and
 *    every other entry must be a /32 or /128 with refs (what the learner adds);
 *  - every link pin: still there, the same link, still attached.
 * Not covered: tg_seen (a cache), the ring buffer and counters, and a root
 * user who also stops or replaces the daemon (README "Known limits").
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <systemd/sd-event.h>

#include "events.h"
#include "kernel.h"
#include "kernel_internal.h"
#include "log.h"
#include "state.h"
#include "tamper.h"
#include "toolguard_abi.h"

#define KEY_MAX	     512u   /* larger than every key and value of the ABI */
#define NET_SNAP_MAX 16384u /* net entries recorded per family; beyond, that family is not checked */
#define LINKS_MAX    16u

struct digest_map {
	const char *name;
	uint32_t tag;
};

static const struct digest_map digest_maps[] = {
    {"tg_strs", 0x737472u},  {"tg_rstrs", 0x727374u}, {"tg_exempt", 0x657865u},
    {"tg_affix", 0x616666u}, {"tg_hosts", 0x686f73u}, {"tg_inodes", TG_TAMPER_TAG_INODES},
};
#define N_DIGEST (sizeof(digest_maps) / sizeof(digest_maps[0]))

struct net_snap {
	const char *name;
	uint32_t full_prefixlen; /* 8 + address bits */
	uint32_t klen, vlen;
	unsigned char *recs; /* n records of klen + vlen bytes, sorted by key */
	size_t n;
	bool skipped; /* more than NET_SNAP_MAX entries, or the map is absent */
};

struct link_snap {
	char name[64];
	uint32_t id;
};

struct tg_tamper {
	struct tg_daemon *d;
	sd_event_source *timer;
	uint64_t interval_usec;
	uint64_t compare_usec; /* how long the last comparison took (not a repair) */

	bool armed;
	const struct tg_kernel *k; /* armed on this kernel */
	struct tg_abi_control ctl;
	struct tg_abi_gen gen;
	struct tg_digest tools;
	struct tg_digest maps[N_DIGEST];
	struct tg_digest inode_writes; /* the kernel's own inode writes at arm time */
	struct net_snap net[2];
	struct link_snap links[LINKS_MAX];
	size_t n_links;

	struct tg_tamper_counters c;
};

/* ---------- digest ---------- */

static bool digest_eq(const struct tg_digest *a, const struct tg_digest *b)
{
	return a->sum == b->sum && a->mix == b->mix && a->n == b->n;
}

static int map_sizes(int fd, uint32_t *klen, uint32_t *vlen)
{
	struct bpf_map_info info = {0};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		return -errno;
	if (info.key_size == 0 || info.key_size > KEY_MAX || info.value_size > KEY_MAX)
		return -E2BIG;
	*klen = info.key_size;
	*vlen = info.value_size;
	return 0;
}

/* Batched read of a hash map: one bpf() call per up to `cap` entries instead
 * of two per entry, which keeps the periodic check cheap on large maps.
 * -EOPNOTSUPP when the map type has no batch operations (LPM tries). */
static int digest_map_batch(int fd, uint32_t tag, uint32_t klen, uint32_t vlen, struct tg_digest *dg)
{
	unsigned char inb[KEY_MAX] = {0}, outb[KEY_MAX] = {0};
	uint32_t cap = 256;
	unsigned char *keys = NULL, *vals = NULL;
	bool first = true;
	int r = 0;

	for (;;) {
		__u32 count = cap;
		int err;

		if (!keys) {
			/* zeroed: valgrind does not know BPF_MAP_LOOKUP_BATCH's writes */
			keys = calloc(cap, klen);
			vals = calloc(cap, vlen ? vlen : 1);
			if (!keys || !vals) {
				r = -ENOMEM;
				break;
			}
		}
		err = bpf_map_lookup_batch(fd, first ? NULL : inb, outb, keys, vals, &count, NULL) < 0 ? errno : 0;
		if (err == ENOSPC && cap < 65536) { /* a hash bucket larger than the buffer */
			free(keys);
			free(vals);
			keys = vals = NULL;
			cap *= 4;
			continue;
		}
		if (err && err != ENOENT) {
			r = first && (err == EINVAL || err == ENOTSUP || err == EOPNOTSUPP) ? -EOPNOTSUPP : -err;
			break;
		}
		for (__u32 i = 0; i < count && i < cap; i++)
			tg_digest_entry(dg, 1, tag, keys + (size_t)i * klen, klen, vals + (size_t)i * vlen, vlen);
		if (err == ENOENT)
			break;
		memcpy(inb, outb, sizeof(inb));
		first = false;
	}
	free(keys);
	free(vals);
	return r;
}

/* Digest of every entry of a hash map or LPM trie. */
static int digest_map(int fd, uint32_t tag, struct tg_digest *ret)
{
	unsigned char cur[KEY_MAX] = {0}, next[KEY_MAX], val[KEY_MAX];
	struct tg_digest dg = {0};
	uint32_t klen, vlen;
	bool have = false;
	int r;

	r = map_sizes(fd, &klen, &vlen);
	if (r < 0)
		return r;
	r = digest_map_batch(fd, tag, klen, vlen, &dg);
	if (r == 0) {
		*ret = dg;
		return 0;
	}
	if (r != -EOPNOTSUPP)
		return r;
	dg = (struct tg_digest){0};
	while (bpf_map_get_next_key(fd, have ? cur : NULL, next) == 0) {
		/* gone between the two calls: not a finding of ours, the next check sees it */
		if (bpf_map_lookup_elem(fd, next, val) == 0)
			tg_digest_entry(&dg, 1, tag, next, klen, val, vlen);
		memcpy(cur, next, klen);
		have = true;
	}
	*ret = dg;
	return 0;
}

static int digest_tools(struct tg_kernel *k, const struct tg_abi_control *ctl, const struct tg_abi_gen *gen,
			struct tg_digest *ret)
{
	int fd = tg_kernel_map_fd(k, "tg_tools");
	struct tg_digest dg = {0};
	struct tg_abi_tool t;

	if (fd < 0)
		return -ENOENT;
	for (__u32 i = 0; i < gen->n_tools && i < TG_ABI_MAX_TOOLS; i++) {
		__u32 idx = (ctl->active_gen & 1) * TG_ABI_MAX_TOOLS + i;

		if (bpf_map_lookup_elem(fd, &idx, &t) < 0)
			return -errno;
		tg_digest_entry(&dg, 1, 0x746f6fu, &idx, sizeof(idx), &t, sizeof(t));
	}
	*ret = dg;
	return 0;
}

static int read_head(struct tg_kernel *k, struct tg_abi_control *ctl, struct tg_abi_gen *gen)
{
	int cfd = tg_kernel_map_fd(k, "tg_control"), gfd = tg_kernel_map_fd(k, "tg_gens");
	__u32 zero = 0, g;

	if (cfd < 0 || gfd < 0)
		return -ENOENT;
	if (bpf_map_lookup_elem(cfd, &zero, ctl) < 0)
		return -errno;
	g = ctl->active_gen & 1;
	if (bpf_map_lookup_elem(gfd, &g, gen) < 0)
		return -errno;
	return 0;
}

/* ---------- net maps (the DNS learner writes /32 and /128 entries) ---------- */

static size_t snap_klen_for_cmp;
static int cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, snap_klen_for_cmp);
}

static void net_snap_clear(struct net_snap *s)
{
	free(s->recs);
	s->recs = NULL;
	s->n = 0;
	s->skipped = true;
}

static int net_snap_take(struct tg_kernel *k, struct net_snap *s)
{
	unsigned char cur[KEY_MAX] = {0}, next[KEY_MAX];
	int fd = tg_kernel_map_fd(k, s->name);
	size_t cap = 0;
	bool have = false;
	int r;

	net_snap_clear(s);
	if (fd < 0)
		return 0;
	r = map_sizes(fd, &s->klen, &s->vlen);
	if (r < 0)
		return r;
	while (bpf_map_get_next_key(fd, have ? cur : NULL, next) == 0) {
		size_t rl = s->klen + s->vlen;

		memcpy(cur, next, s->klen);
		have = true;
		if (s->n >= NET_SNAP_MAX) {
			net_snap_clear(s);
			return 0;
		}
		if (s->n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			unsigned char *nr = realloc(s->recs, ncap * rl);

			if (!nr) {
				net_snap_clear(s);
				return -ENOMEM;
			}
			s->recs = nr;
			cap = ncap;
		}
		memcpy(s->recs + s->n * rl, next, s->klen);
		if (bpf_map_lookup_elem(fd, next, s->recs + s->n * rl + s->klen) < 0)
			continue;
		s->n++;
	}
	snap_klen_for_cmp = s->klen;
	if (s->n > 1)
		qsort(s->recs, s->n, s->klen + s->vlen, cmp_key);
	s->skipped = false;
	return 0;
}

static bool net_refs_cover(const struct tg_abi_net_refs *have, const struct tg_abi_net_refs *want)
{
	for (unsigned i = 0; i < want->n && i < TG_ABI_NET_REFS; i++) {
		bool found = false;

		for (unsigned j = 0; j < have->n && j < TG_ABI_NET_REFS && !found; j++)
			found = memcmp(&have->ref[j], &want->ref[i], sizeof(want->ref[i])) == 0;
		if (!found)
			return false;
	}
	return true;
}

/* 0 intact, 1 finding (in what). */
static int net_check(struct tg_kernel *k, const struct net_snap *s, char *what, size_t len)
{
	unsigned char cur[KEY_MAX] = {0}, next[KEY_MAX], val[KEY_MAX];
	int fd = tg_kernel_map_fd(k, s->name);
	size_t matched = 0, rl = s->klen + s->vlen;
	bool have = false;

	if (s->skipped || fd < 0 || s->vlen != sizeof(struct tg_abi_net_refs))
		return 0;
	snap_klen_for_cmp = s->klen;
	while (bpf_map_get_next_key(fd, have ? cur : NULL, next) == 0) {
		const unsigned char *rec;
		__u32 prefixlen;
		bool full;

		memcpy(cur, next, s->klen);
		have = true;
		if (bpf_map_lookup_elem(fd, next, val) < 0)
			continue;
		memcpy(&prefixlen, next, sizeof(prefixlen));
		full = prefixlen == s->full_prefixlen;
		rec = s->n ? bsearch(next, s->recs, s->n, rl, cmp_key) : NULL;
		if (rec) {
			if (memcmp(rec + s->klen, val, s->vlen) == 0 ||
			    (full && net_refs_cover((const void *)val, (const void *)(rec + s->klen)))) {
				matched++;
				continue;
			}
			snprintf(what, len, "%s: an entry (prefix length %u) was changed", s->name,
				 prefixlen - 8);
			return 1;
		}
		if (!full || ((const struct tg_abi_net_refs *)(const void *)val)->n == 0) {
			snprintf(what, len, "%s: an entry (prefix length %u) was added", s->name,
				 prefixlen - 8);
			return 1;
		}
	}
	if (matched != s->n) {
		snprintf(what, len, "%s: %zu of %zu entries were deleted", s->name, s->n - matched, s->n);
		return 1;
	}
	return 0;
}

/* ---------- links ---------- */

/* A detached link keeps its pin and id but loses its target. */
static bool link_attached(const struct bpf_link_info *info)
{
	if (info->prog_id == 0)
		return false;
	switch (info->type) {
	case BPF_LINK_TYPE_CGROUP:
		return info->cgroup.cgroup_id != 0;
	default:
		return true;
	}
}

static int link_info(const char *path, struct bpf_link_info *ret)
{
	__u32 len = sizeof(*ret);
	int fd = bpf_obj_get(path), r = 0;

	if (fd < 0)
		return -errno;
	memset(ret, 0, sizeof(*ret));
	if (bpf_obj_get_info_by_fd(fd, ret, &len) < 0)
		r = -errno;
	close(fd);
	return r;
}

static void links_take(struct tg_tamper *t, struct tg_kernel *k)
{
	char dir[PATH_MAX], path[PATH_MAX + 64];
	struct dirent *de;
	DIR *dp;

	t->n_links = 0;
	snprintf(dir, sizeof(dir), "%s/links", tg_kernel_pin_dir(k));
	dp = opendir(dir);
	if (!dp)
		return;
	while ((de = readdir(dp)) && t->n_links < LINKS_MAX) {
		struct bpf_link_info info;

		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(t->links[0].name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (link_info(path, &info) < 0)
			continue;
		snprintf(t->links[t->n_links].name, sizeof(t->links[0].name), "%s", de->d_name);
		t->links[t->n_links].id = info.id;
		t->n_links++;
	}
	closedir(dp);
}

static int links_check(struct tg_tamper *t, struct tg_kernel *k, char *what, size_t len)
{
	char path[PATH_MAX + 64];

	for (size_t i = 0; i < t->n_links; i++) {
		struct bpf_link_info info;
		int r;

		snprintf(path, sizeof(path), "%s/links/%s", tg_kernel_pin_dir(k), t->links[i].name);
		r = link_info(path, &info);
		if (r < 0) {
			snprintf(what, len, "link %s: pin %.200s is gone (%s)", t->links[i].name, path,
				 strerror(-r));
			return 1;
		}
		if (info.id != t->links[i].id) {
			snprintf(what, len, "link %s: pin %.200s holds another link (id %u, was %u)",
				 t->links[i].name, path, info.id, t->links[i].id);
			return 1;
		}
		if (!link_attached(&info)) {
			snprintf(what, len, "link %s (id %u) was detached", t->links[i].name, info.id);
			return 1;
		}
	}
	return 0;
}

/* ---------- arm and check ---------- */

void tg_tamper_arm(struct tg_tamper *t)
{
	struct tg_kernel *k;
	int r;

	if (!t)
		return;
	t->armed = false;
	k = t->d->kernel;
	if (!k || !t->d->policy || !tg_kernel_compiled(k))
		return;
	r = read_head(k, &t->ctl, &t->gen);
	if (r >= 0)
		r = digest_tools(k, &t->ctl, &t->gen, &t->tools);
	for (size_t i = 0; r >= 0 && i < N_DIGEST; i++) {
		int fd = tg_kernel_map_fd(k, digest_maps[i].name);

		memset(&t->maps[i], 0, sizeof(t->maps[i]));
		if (fd >= 0)
			r = digest_map(fd, digest_maps[i].tag, &t->maps[i]);
	}
	for (size_t i = 0; r >= 0 && i < 2; i++)
		r = net_snap_take(k, &t->net[i]);
	if (r < 0) {
		log_warning_errno(r,
				  "Tamper check: cannot read the maps just written: %m; not checking them");
		return;
	}
	tg_kernel_inode_writes(k, &t->inode_writes);
	links_take(t, k);
	t->k = k;
	t->armed = true;
}

/* 0 intact, 1 finding (what), -errno. */
static int compare(struct tg_tamper *t, struct tg_kernel *k, bool *ret_links, char *what, size_t len)
{
	struct tg_abi_control ctl;
	struct tg_abi_gen gen;
	struct tg_digest dg, adj;
	int r;

	*ret_links = false;
	if (links_check(t, k, what, len)) {
		*ret_links = true;
		return 1;
	}
	r = read_head(k, &ctl, &gen);
	if (r < 0) {
		snprintf(what, len, "tg_control/tg_gens cannot be read: %s", strerror(-r));
		return 1;
	}
	if (ctl.active_gen != t->ctl.active_gen) {
		snprintf(what, len, "tg_control: active generation flipped from %u to %u", t->ctl.active_gen,
			 ctl.active_gen);
		return 1;
	}
	if (memcmp(&ctl, &t->ctl, sizeof(ctl)) != 0) {
		snprintf(what, len, "tg_control was changed (abi %u backend %u build %08x)", ctl.abi_version,
			 ctl.exec_backend, ctl.build_id);
		return 1;
	}
	if (memcmp(&gen, &t->gen, sizeof(gen)) != 0) {
		snprintf(what, len,
			 "tg_gens[%u] was changed (mode %u, was %u; serial %" PRIu64 ", was %" PRIu64 ")",
			 ctl.active_gen & 1, gen.mode, t->gen.mode, (uint64_t)gen.policy_serial,
			 (uint64_t)t->gen.policy_serial);
		return 1;
	}
	r = digest_tools(k, &ctl, &gen, &dg);
	if (r < 0 || !digest_eq(&dg, &t->tools)) {
		snprintf(what, len, "tg_tools: a tool's settings (times, action, flags) were changed");
		return 1;
	}
	tg_kernel_inode_writes(k, &adj);
	for (size_t i = 0; i < N_DIGEST; i++) {
		struct tg_digest want = t->maps[i];
		int fd = tg_kernel_map_fd(k, digest_maps[i].name);

		if (fd < 0)
			continue;
		if (digest_maps[i].tag == TG_TAMPER_TAG_INODES) {
			/* what the daemon itself wrote since the arm */
			want.sum += adj.sum - t->inode_writes.sum;
			want.mix ^= adj.mix ^ t->inode_writes.mix;
			want.n += adj.n - t->inode_writes.n;
		}
		r = digest_map(fd, digest_maps[i].tag, &dg);
		if (r < 0) {
			snprintf(what, len, "%s cannot be read: %s", digest_maps[i].name, strerror(-r));
			return 1;
		}
		if (!digest_eq(&dg, &want)) {
			if (dg.n < want.n)
				snprintf(what, len, "%s: %" PRId64 " entries deleted", digest_maps[i].name,
					 want.n - dg.n);
			else if (dg.n > want.n)
				snprintf(what, len, "%s: %" PRId64 " entries added", digest_maps[i].name,
					 dg.n - want.n);
			else
				snprintf(what, len, "%s: entries changed", digest_maps[i].name);
			return 1;
		}
	}
	for (size_t i = 0; i < 2; i++)
		if (net_check(k, &t->net[i], what, len))
			return 1;
	return 0;
}

/* Load fresh programs (a link is gone or detached) and apply the policy to them. */
static int repair_links(struct tg_tamper *t, char *why, size_t why_len)
{
	struct tg_daemon *d = t->d;
	struct tg_kernel_options kopts = {
	    .force_tracepoint = d->force_tracepoint,
	    .verbose = d->verbose,
	    .pin_dir = d->pin_dir,
	    .replace = true,
	};
	struct tg_kernel *nk = NULL;
	int r;

	r = tg_kernel_open(&kopts, &nk, why, why_len);
	if (r < 0)
		return r;
	tg_kernel_set_inspect(nk, d->config);
	r = tg_kernel_apply_policy(nk, d->policy, d->mode, why, why_len);
	if (r < 0) {
		char ignored[128];

		/* the new programs never took the pins' place: remove them */
		(void)tg_kernel_unload_at(tg_kernel_pin_dir(nk), ignored, sizeof(ignored));
		tg_kernel_close(nk);
		return r;
	}
	return tg_daemon_swap_kernel(d, nk);
}

int tg_tamper_check(struct tg_tamper *t, const char *trigger)
{
	struct tg_daemon *d;
	char what[400] = "", why[512] = "", action[600];
	bool links = false;
	uint64_t start;
	int r;

	if (!t || !t->armed || !t->d->kernel || !t->d->policy)
		return 0;
	d = t->d;
	if (t->k != d->kernel) {
		tg_tamper_arm(t); /* another kernel object: record it first */
		return 0;
	}
	t->c.checks++;
	start = now_usec(CLOCK_MONOTONIC);
	r = compare(t, d->kernel, &links, what, sizeof(what));
	t->compare_usec = now_usec(CLOCK_MONOTONIC) - start;
	if (r <= 0)
		return 0;

	t->c.detected++;
	t->c.last_detected_usec = now_usec(CLOCK_REALTIME);
	snprintf(t->c.last_finding, sizeof(t->c.last_finding), "%s", what);
	log_warning("Tampering with the pinned programs or maps detected (%s check): %s; repairing", trigger,
		    what);
	start = now_usec(CLOCK_MONOTONIC);
	/* everything the old ring holds refers to the policy in force */
	(void)tg_kernel_consume(d->kernel, tg_events_on_kernel_event, d->events);
	if (links)
		r = repair_links(t, why, sizeof(why));
	else
		r = tg_kernel_apply_policy(d->kernel, d->policy, d->mode, why, sizeof(why));
	t->c.last_repair_usec = now_usec(CLOCK_MONOTONIC) - start;
	if (r < 0) {
		t->c.repair_failures++;
		snprintf(action, sizeof(action), "repair failed: %s", why[0] ? why : strerror(-r));
		log_error("Could not repair the tampered %s: %s; the kernel may not enforce policy %s serial "
			  "%" PRIu64 " fully: restart toolguardd",
			  links ? "links" : "maps", why[0] ? why : strerror(-r),
			  d->policy->name ? d->policy->name : "?", d->policy->serial);
		t->armed = false; /* do not repeat the same finding every few seconds */
	} else {
		t->c.repaired++;
		snprintf(action, sizeof(action), "%s policy %s serial %" PRIu64 " in %.3f s",
			 links ? "loaded fresh programs and applied" : "applied again",
			 d->policy->name ? d->policy->name : "?", d->policy->serial,
			 (double)t->c.last_repair_usec / 1e6);
		log_notice("Tampering repaired: %s", action);
		tg_tamper_arm(t);
	}
	tg_events_tamper(d->events, trigger, what, r >= 0, action, t->c.last_repair_usec);
	return 1;
}

/* ---------- timer ---------- */

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct tg_tamper *t = userdata;

	uint64_t took, next;

	t->compare_usec = 0;
	(void)tg_tamper_check(t, "timer");
	tg_events_tick(t->d->events); /* journal summaries of ended flood windows */
	/* at most about 0.2% of a CPU on checking, however large the maps grow
	 * (LPM tries have no batch reads: two bpf() calls an entry) */
	took = t->compare_usec;
	next = t->interval_usec > took * 500 ? t->interval_usec : took * 500;
	if (next > 60ull * 1000000ull)
		next = 60ull * 1000000ull;
	(void)sd_event_source_set_time(s, now_usec(CLOCK_MONOTONIC) + next);
	(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

int tg_tamper_new(struct tg_daemon *d, struct tg_tamper **ret)
{
	struct tg_tamper *t;
	const char *env = getenv("TOOLGUARD_TAMPER_INTERVAL_MS");

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->d = d;
	t->net[0] = (struct net_snap){.name = "tg_net4", .full_prefixlen = 8 + 32, .skipped = true};
	t->net[1] = (struct net_snap){.name = "tg_net6", .full_prefixlen = 8 + 128, .skipped = true};
	t->interval_usec = TG_TAMPER_INTERVAL_USEC;
	if (env && *env) {
		char *end;
		unsigned long long ms = strtoull(env, &end, 10);

		if (*end == 0 && ms <= 3600000ull)
			t->interval_usec = ms * 1000ull;
	}
	if (t->interval_usec > 0 && d->event) {
		int r = sd_event_add_time(d->event, &t->timer, CLOCK_MONOTONIC,
					  now_usec(CLOCK_MONOTONIC) + t->interval_usec, 100000, on_timer, t);
		if (r < 0) {
			free(t);
			return r;
		}
		(void)sd_event_source_set_description(t->timer, "tamper-check");
	}
	tg_tamper_arm(t);
	*ret = t;
	return 0;
}

void tg_tamper_free(struct tg_tamper *t)
{
	if (!t)
		return;
	sd_event_source_disable_unref(t->timer);
	for (size_t i = 0; i < 2; i++)
		net_snap_clear(&t->net[i]);
	free(t);
}

const struct tg_tamper_counters *tg_tamper_counters(const struct tg_tamper *t)
{
	static const struct tg_tamper_counters none;

	return t ? &t->c : &none;
}
