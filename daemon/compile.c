/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Policy -> map entries for one generation (see compile.h for the mapping and
 * bpf/toolguard_abi.h for the layouts), hash requests and the file watcher.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "compile.h"
#include "matcher.h"
#include "procinfo.h"

#define MAX_COMPILE_WARNINGS 200u
/* Per generation: both generations share a map during a swap. The watcher
 * adds inodes to the active generation, so leave it room. */
#define STR_LIMIT    (TG_ABI_STR_ENTRIES / 2u)
#define INODE_LIMIT  (TG_ABI_INODE_ENTRIES / 2u - 8192u)
#define EXEMPT_LIMIT (TG_ABI_EXEMPT_ENTRIES / 2u)
#define NET_LIMIT    (TG_ABI_NET_ENTRIES / 2u)

static const char *const default_interpreters[] = {"node", "nodejs",   "bun",
						   "deno", "python3*", "ld-linux*.so*"};

/* ---------- small helpers ---------- */

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	nv = reallocarray(*v, ncap, size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

__attribute__((format(printf, 3, 4))) static int fail(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Lower sorts first in refs: block tools decide over alert over allow. */
static uint8_t action_rank(enum tg_action a)
{
	switch (a) {
	case TG_ACTION_BLOCK:
		return 0;
	case TG_ACTION_ALERT:
		return 1;
	default:
		return 2;
	}
}

/* ---------- refs ---------- */

struct cref {
	uint16_t tool, matcher;
	uint16_t spec; /* specificity: bytes (strings) or prefix bits (networks) of its own entry */
	uint8_t rank;
	const uint16_t *ports; /* networks */
	size_t n_ports;
};

struct crefs {
	struct cref *v;
	size_t n, cap;
};

static int crefs_add(struct crefs *rs, const struct cref *r)
{
	if (grow((void **)&rs->v, &rs->cap, rs->n, sizeof(*rs->v)) < 0)
		return -ENOMEM;
	rs->v[rs->n++] = *r;
	return 0;
}

/* By tool, then matcher: the reference matcher reports a tool's first matcher
 * (executables before scripts, in file order). */
static int cref_order(const void *a, const void *b)
{
	const struct cref *x = a, *y = b;

	if (x->tool != y->tool)
		return x->tool < y->tool ? -1 : 1;
	return x->matcher < y->matcher ? -1 : x->matcher > y->matcher;
}

/* Which refs to keep when there are too many: block tools first. */
static int cref_keep_order(const void *a, const void *b)
{
	const struct cref *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->tool < y->tool ? -1 : x->tool > y->tool;
}

/*
 * One ref per tool (its first matcher), in the policy's tool order: the kernel
 * keeps the first ref on a verdict tie, as lib/matcher.c keeps the first tool.
 * Returns the number of distinct tools; when more than TG_ABI_MAX_REFS, block
 * tools are kept first.
 */
static size_t crefs_to_abi(struct crefs *rs, struct tg_abi_refs *out)
{
	size_t n = 0;

	out->n = 0;
	if (rs->n == 0)
		return 0;
	qsort(rs->v, rs->n, sizeof(*rs->v), cref_order);
	for (size_t i = 0; i < rs->n; i++)
		if (n == 0 || rs->v[n - 1].tool != rs->v[i].tool)
			rs->v[n++] = rs->v[i];
	rs->n = n;
	if (n > TG_ABI_MAX_REFS) {
		qsort(rs->v, rs->n, sizeof(*rs->v), cref_keep_order);
		qsort(rs->v, TG_ABI_MAX_REFS, sizeof(*rs->v), cref_order);
	}
	for (size_t i = 0; i < rs->n && i < TG_ABI_MAX_REFS; i++) {
		out->ref[i].tool = rs->v[i].tool;
		out->ref[i].matcher = rs->v[i].matcher;
		out->n++;
	}
	return n;
}

/* ---------- string entries ---------- */

struct sent {
	uint8_t space;
	uint16_t nbytes; /* bytes of str that must match */
	uint16_t flags;
	uint8_t str[TG_ABI_STR_MAX];
	struct crefs refs;
	struct crefs closure;
};

struct slist {
	struct sent *v;
	size_t n, cap;
};

static void slist_free(struct slist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].refs.v);
		free(l->v[i].closure.v);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* nbytes > 0 and <= TG_ABI_STR_MAX (checked by callers). */
static int slist_add(struct slist *l, uint8_t space, const uint8_t *s, size_t nbytes, uint16_t flags,
		     const struct cref *ref)
{
	struct sent *e;

	if (grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v)) < 0)
		return -ENOMEM;
	e = &l->v[l->n++];
	memset(e, 0, sizeof(*e));
	e->space = space;
	e->nbytes = (uint16_t)nbytes;
	e->flags = flags;
	memcpy(e->str, s, nbytes);
	if (ref)
		return crefs_add(&e->refs, ref);
	return 0;
}

static int sent_cmp(const void *a, const void *b)
{
	const struct sent *x = a, *y = b;

	if (x->space != y->space)
		return x->space < y->space ? -1 : 1;
	if (x->nbytes != y->nbytes)
		return x->nbytes < y->nbytes ? -1 : 1;
	return memcmp(x->str, y->str, x->nbytes);
}

/* Sort, merge duplicates, then give every entry the refs of the entries that
 * are prefixes of it (the trie only returns the longest). */
static int slist_finish(struct slist *l, const char *mapname, char *why, size_t why_len)
{
	uint8_t(*lens)[TG_ABI_STR_MAX + 1] = NULL; /* [space][length]: lengths present */
	size_t n = 0;
	int r = 0;

	if (l->n == 0)
		return 0;
	qsort(l->v, l->n, sizeof(*l->v), sent_cmp);
	for (size_t i = 0; i < l->n; i++) {
		if (n > 0 && sent_cmp(&l->v[n - 1], &l->v[i]) == 0) {
			struct sent *d = &l->v[n - 1];

			d->flags |= l->v[i].flags;
			for (size_t k = 0; k < l->v[i].refs.n; k++)
				if (crefs_add(&d->refs, &l->v[i].refs.v[k]) < 0)
					return -ENOMEM;
			free(l->v[i].refs.v);
			continue;
		}
		l->v[n++] = l->v[i];
	}
	l->n = n;
	if (l->n > STR_LIMIT)
		return fail(why, why_len,
			    "the policy needs %zu entries in %s, more than the %u that fit: use fewer "
			    "names/paths or broader globs",
			    l->n, mapname, STR_LIMIT);

	lens = calloc(256, sizeof(*lens));
	if (!lens)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++)
		lens[l->v[i].space][l->v[i].nbytes] = 1;
	for (size_t i = 0; i < l->n; i++) {
		struct sent *e = &l->v[i];
		struct sent key = {0};

		for (size_t k = 0; k < e->refs.n && r >= 0; k++)
			r = crefs_add(&e->closure, &e->refs.v[k]);
		for (unsigned len = 1; len < e->nbytes && r >= 0; len++) {
			struct sent *f;

			if (!lens[e->space][len])
				continue;
			key.space = e->space;
			key.nbytes = (uint16_t)len;
			memcpy(key.str, e->str, len);
			f = bsearch(&key, l->v, l->n, sizeof(*l->v), sent_cmp);
			if (!f)
				continue;
			e->flags |= f->flags;
			for (size_t k = 0; k < f->refs.n && r >= 0; k++)
				r = crefs_add(&e->closure, &f->refs.v[k]);
		}
	}
	free(lens);
	return r;
}

static void str_for_why(const struct sent *e, bool reversed, char *buf, size_t len)
{
	size_t n = e->nbytes, o = 0;

	for (size_t i = 0; i < n && o + 1 < len; i++) {
		uint8_t c = reversed ? e->str[n - 1 - i] : e->str[i];

		if (c == 0)
			break;
		buf[o++] = (char)c;
	}
	buf[o] = '\0';
}

static int slist_emit(struct slist *l, bool reversed, const struct tg_policy *p,
		      struct tg_abi_str_key **ret_keys, struct tg_abi_refs **ret_vals, size_t *ret_n,
		      char *why, size_t why_len)
{
	struct tg_abi_str_key *keys;
	struct tg_abi_refs *vals;

	*ret_n = 0;
	if (l->n == 0)
		return 0;
	keys = calloc(l->n, sizeof(*keys));
	vals = calloc(l->n, sizeof(*vals));
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < l->n; i++) {
		struct sent *e = &l->v[i];
		size_t tools;

		keys[i].prefixlen = 16u + 8u * e->nbytes;
		keys[i].gen = 0;
		keys[i].space = e->space;
		memcpy(keys[i].str, e->str, e->nbytes);
		tools = crefs_to_abi(&e->closure, &vals[i]);
		vals[i].flags = e->flags;
		if (tools > TG_ABI_MAX_REFS) {
			char s[TG_ABI_STR_MAX + 1];

			str_for_why(e, reversed, s, sizeof(s));
			free(keys);
			free(vals);
			return fail(
			    why, why_len,
			    "%zu tools (%s, %s, ...) match \"%s\"; at most %u tools may share a name or "
			    "overlapping path: merge those tools' rules",
			    tools, p->tools[e->closure.v[0].tool].id, p->tools[e->closure.v[1].tool].id, s,
			    TG_ABI_MAX_REFS);
		}
	}
	*ret_keys = keys;
	*ret_vals = vals;
	*ret_n = l->n;
	return 0;
}

/* ---------- networks ---------- */

struct nent {
	int family;
	uint8_t plen;
	uint8_t addr[16];
	struct crefs refs;
	struct crefs closure;
};

struct nlist {
	struct nent *v;
	size_t n, cap;
};

static void nlist_free(struct nlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].refs.v);
		free(l->v[i].closure.v);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int nent_cmp(const void *a, const void *b)
{
	const struct nent *x = a, *y = b;

	if (x->plen != y->plen)
		return x->plen < y->plen ? -1 : 1;
	return memcmp(x->addr, y->addr, 16);
}

static bool prefix_covers(const uint8_t *net, unsigned plen, const uint8_t *addr)
{
	unsigned full = plen / 8, rem = plen % 8;

	if (memcmp(net, addr, full) != 0)
		return false;
	if (rem == 0)
		return true;
	return ((net[full] ^ addr[full]) & (uint8_t)(0xff00u >> rem)) == 0;
}

static int nlist_finish(struct nlist *l, const char *mapname, char *why, size_t why_len)
{
	size_t n = 0;

	if (l->n == 0)
		return 0;
	qsort(l->v, l->n, sizeof(*l->v), nent_cmp);
	for (size_t i = 0; i < l->n; i++) {
		if (n > 0 && nent_cmp(&l->v[n - 1], &l->v[i]) == 0) {
			for (size_t k = 0; k < l->v[i].refs.n; k++)
				if (crefs_add(&l->v[n - 1].refs, &l->v[i].refs.v[k]) < 0)
					return -ENOMEM;
			free(l->v[i].refs.v);
			continue;
		}
		l->v[n++] = l->v[i];
	}
	l->n = n;
	if (l->n > NET_LIMIT)
		return fail(why, why_len,
			    "the policy needs %zu %s entries, more than the %u that fit: merge CIDRs", l->n,
			    mapname, NET_LIMIT);
	/* sorted by prefix length: every cover of v[i] comes before it (O(n^2), n is small in practice) */
	for (size_t i = 0; i < l->n; i++) {
		struct nent *e = &l->v[i];

		for (size_t j = 0; j <= i; j++) {
			struct nent *f = &l->v[j];

			if (f->plen > e->plen || !prefix_covers(f->addr, f->plen, e->addr))
				continue;
			for (size_t k = 0; k < f->refs.n; k++)
				if (crefs_add(&e->closure, &f->refs.v[k]) < 0)
					return -ENOMEM;
		}
	}
	return 0;
}

static int port_cmp(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Net refs: a tool with an all-ports rule covering the entry needs one ref;
 * otherwise one ref per (tool, matcher) with the union of ports, split into
 * chunks of TG_ABI_NET_PORTS. Returns the refs needed (may exceed the room).
 */
static size_t ncrefs_to_abi(struct crefs *rs, struct tg_abi_net_refs *out)
{
	struct tg_abi_net_ref tmp[64];
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	if (rs->n == 0)
		return 0;
	qsort(rs->v, rs->n, sizeof(*rs->v), cref_order);
	for (size_t i = 0; i < rs->n;) {
		size_t j = i, all = SIZE_MAX;

		while (j < rs->n && rs->v[j].tool == rs->v[i].tool)
			j++;
		for (size_t k = i; k < j; k++)
			if (rs->v[k].n_ports == 0 && all == SIZE_MAX)
				all = k; /* the tool's first all-ports host rule */
		if (all != SIZE_MAX) {
			if (n < 64)
				tmp[n] = (struct tg_abi_net_ref){.tool = rs->v[all].tool,
								 .matcher = rs->v[all].matcher};
			n++;
		} else {
			/* per matcher: union of ports */
			for (size_t k = i; k < j; k++) {
				uint16_t ports[256];
				size_t np = 0, u = 0;
				bool dup = false;

				for (size_t q = i; q < k; q++)
					if (rs->v[q].matcher == rs->v[k].matcher)
						dup = true;
				if (dup)
					continue;
				for (size_t q = k; q < j; q++)
					if (rs->v[q].matcher == rs->v[k].matcher)
						for (size_t z = 0; z < rs->v[q].n_ports && np < 256; z++)
							ports[np++] = rs->v[q].ports[z];
				qsort(ports, np, sizeof(ports[0]), port_cmp);
				for (size_t z = 0; z < np; z++)
					if (u == 0 || ports[u - 1] != ports[z])
						ports[u++] = ports[z];
				for (size_t z = 0; z < u; z += TG_ABI_NET_PORTS) {
					if (n < 64) {
						tmp[n] = (struct tg_abi_net_ref){.tool = rs->v[k].tool,
										 .matcher = rs->v[k].matcher};
						for (size_t q = z; q < u && q < z + TG_ABI_NET_PORTS; q++)
							tmp[n].ports[tmp[n].n_ports++] = ports[q];
					}
					n++;
				}
			}
		}
		i = j;
	}
	for (size_t i = 0; i < n && i < TG_ABI_NET_REFS; i++)
		out->ref[out->n++] = tmp[i];
	return n;
}

/* ---------- inode entries ---------- */

struct ient {
	struct tg_abi_inode_key key;
	const struct tg_scan_hit *hit;
};

static int ikey_cmp(const struct tg_abi_inode_key *x, const struct tg_abi_inode_key *y)
{
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->space < y->space ? -1 : x->space > y->space;
}

static int ient_cmp(const void *a, const void *b)
{
	return ikey_cmp(&((const struct ient *)a)->key, &((const struct ient *)b)->key);
}

/* ---------- private part of struct tg_compiled ---------- */

#define INTERP_FILES_MAX 64u /* distinct interpreter files recognised by content */

struct interp_file {
	uint8_t sha256[32];
	uint64_t size;
	uint16_t flags; /* TG_ABI_REFS_INTERP, _LDSO */
	char name[64];	/* basename it was found under (its option rules) */
};

struct priv {
	const struct tg_policy *p;
	struct tg_scan_rules rules;
	struct tg_scan_result scan;
	bool scanned;
	uint8_t *rank; /* per tool */
	char **warnings;
	size_t n_warnings, cap_warnings;
	struct tg_compiled_host *hosts;
	size_t n_hosts, cap_hosts;
	struct tg_hashcache *hc;
	int64_t tai_offset_ns;
	unsigned scan_max_depth;
	struct interp_file interps[INTERP_FILES_MAX];
	size_t n_interps;
};

__attribute__((format(printf, 2, 3))) static void cwarn(struct priv *pv, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (pv->n_warnings >= MAX_COMPILE_WARNINGS)
		return;
	if (grow((void **)&pv->warnings, &pv->cap_warnings, pv->n_warnings, sizeof(char *)) < 0)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (s)
		pv->warnings[pv->n_warnings++] = s;
}

static void priv_free(struct priv *pv)
{
	if (!pv)
		return;
	free(pv->rules.v);
	tg_scan_result_free(&pv->scan);
	free(pv->rank);
	for (size_t i = 0; i < pv->n_warnings; i++)
		free(pv->warnings[i]);
	free(pv->warnings);
	free(pv->hosts);
	free(pv);
}

void tg_compiled_free(struct tg_compiled *c)
{
	if (!c)
		return;
	free(c->tools);
	free(c->str_keys);
	free(c->str_vals);
	free(c->rstr_keys);
	free(c->rstr_vals);
	free(c->inode_keys);
	free(c->inode_vals);
	free(c->exempt_keys);
	free(c->affix_keys);
	free(c->affix_vals);
	free(c->net4_keys);
	free(c->net4_vals);
	free(c->net6_keys);
	free(c->net6_vals);
	priv_free(c->priv);
	free(c);
}

/* ---------- time ---------- */

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/* TAI - REALTIME, rounded to whole seconds (the kernel's offset is whole seconds). */
static int64_t sample_tai_offset_ns(void)
{
	struct timespec r1, t, r2;
	int64_t mid, d;

	if (clock_gettime(CLOCK_REALTIME, &r1) < 0 || clock_gettime(CLOCK_TAI, &t) < 0 ||
	    clock_gettime(CLOCK_REALTIME, &r2) < 0)
		return 0;
	mid = ts_ns(&r1) / 2 + ts_ns(&r2) / 2;
	d = ts_ns(&t) - mid;
	return (d >= 0 ? (d + 500000000LL) : (d - 500000000LL)) / 1000000000LL * 1000000000LL;
}

static uint64_t to_tai_ns(int64_t sec, int64_t off_ns)
{
	__int128 v;

	if (sec <= 0)
		return 0;
	v = (__int128)sec * 1000000000 + off_ns;
	if (v <= 0)
		return 0;
	if (v >= (__int128)UINT64_MAX)
		return UINT64_MAX - 1;
	return (uint64_t)v;
}

uint64_t tg_compile_realtime_to_tai_ns(int64_t realtime_sec)
{
	return to_tai_ns(realtime_sec, sample_tai_offset_ns());
}

int64_t tg_compiled_tai_offset_ns(const struct tg_compiled *c)
{
	return c && c->priv ? ((const struct priv *)c->priv)->tai_offset_ns : 0;
}

static void next_after(int64_t *next, int64_t t, int64_t now)
{
	if (t > now && t < *next)
		*next = t;
}

/* ---------- the scan roots the daemon configured ---------- */

static char **cfg_roots;
static size_t n_cfg_roots;

int tg_compile_set_scan_roots(const char *const *roots, size_t n)
{
	char **v = NULL;

	if (n) {
		v = calloc(n, sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			v[i] = strdup(roots[i]);
			if (!v[i]) {
				while (i--)
					free(v[i]);
				free(v);
				return -ENOMEM;
			}
		}
	}
	for (size_t i = 0; i < n_cfg_roots; i++)
		free(cfg_roots[i]);
	free(cfg_roots);
	cfg_roots = v;
	n_cfg_roots = n;
	return 0;
}

/* ---------- the hash cache file the daemon configured ---------- */

static char *cfg_hash_file;
static bool hash_file_loaded;
static uint64_t hash_file_computed; /* computed count at the last load/save */

int tg_compile_set_hashcache_file(const char *path)
{
	char *p = NULL;

	if (path && !(p = strdup(path)))
		return -ENOMEM;
	free(cfg_hash_file);
	cfg_hash_file = p;
	hash_file_loaded = false;
	return 0;
}

/* ---------- rollout (added by K) ---------- */

static char cfg_machine_id[128];

int tg_compile_set_machine_id(const char *id)
{
	if (id && strlen(id) >= sizeof(cfg_machine_id))
		return -EINVAL;
	snprintf(cfg_machine_id, sizeof(cfg_machine_id), "%s", id ? id : "");
	return 0;
}

const char *tg_compile_machine_id(void)
{
	return cfg_machine_id;
}

bool tg_rollout_includes(const char *machine_id, const char *tool_id, int percent)
{
	EVP_MD_CTX *ctx;
	uint8_t h[EVP_MAX_MD_SIZE];
	unsigned hl = 0;
	uint64_t v = 0;
	bool ok;

	if (percent >= 100)
		return true;
	if (percent <= 0)
		return false;
	/* No machine id: enforce (a ban that fails open would be worse). */
	if (!machine_id || !*machine_id || !tool_id)
		return true;
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, machine_id, strlen(machine_id)) == 1 && EVP_DigestUpdate(ctx, "\n", 1) == 1 &&
	     EVP_DigestUpdate(ctx, tool_id, strlen(tool_id)) == 1 && EVP_DigestFinal_ex(ctx, h, &hl) == 1 && hl >= 8;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return true;
	for (int i = 0; i < 8; i++)
		v = v << 8 | h[i];
	return v % 100 < (uint64_t)percent;
}

bool tg_compile_tool_in_rollout(const struct tg_tool *t)
{
	return tg_rollout_includes(cfg_machine_id, t->id, t->rollout_percent);
}

/* ---------- compile ---------- */

struct build {
	const struct tg_policy *p;
	struct priv *pv;
	struct slist strs, rstrs;
	struct nlist net4, net6;
	bool has_sha, has_complex_exe, has_scripts, has_exe_strs;
	bool has_script_sha; /* scripts[].sha256 (extension): the kernel sends script requests */
	struct tg_abi_affix_key *affix_keys; /* "P/ ** /S" globs: minimum lengths */
	struct tg_abi_affix_val *affix_vals;
	size_t n_affix;
	char *why;
	size_t why_len;
};

static int add_scan_rule(struct build *b, enum tg_scan_rule_kind kind, uint16_t tool, uint16_t matcher,
			 const char *glob, const uint8_t *sha)
{
	struct tg_scan_rules *rs = &b->pv->rules;
	size_t cap = rs->n; /* grown one at a time: rules are few */
	struct tg_scan_rule *nv = reallocarray(rs->v, cap + 1, sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	rs->v = nv;
	rs->v[rs->n] = (struct tg_scan_rule){.kind = kind, .tool = tool, .matcher = matcher, .glob = glob};
	if (sha)
		memcpy(rs->v[rs->n].sha256, sha, 32);
	rs->n++;
	return 0;
}

static int add_affix_glob(struct build *b, struct cref ref, uint8_t space, const char *glob, size_t plen,
			  const char *suffix)
{
	size_t slen = strlen(suffix);
	uint8_t rev[TG_ABI_STR_MAX];
	struct tg_abi_affix_key *nk;
	struct tg_abi_affix_val *nv;
	int r;

	if (plen > TG_ABI_STR_MAX || slen > TG_ABI_STR_MAX)
		return -E2BIG;
	if (b->n_affix >= TG_ABI_AFFIX_ENTRIES)
		return fail(b->why, b->why_len, "more than %u prefix+suffix globs do not fit the kernel map tg_affix",
			    TG_ABI_AFFIX_ENTRIES);
	nk = reallocarray(b->affix_keys, b->n_affix + 1, sizeof(*nk));
	if (!nk)
		return -ENOMEM;
	b->affix_keys = nk;
	nv = reallocarray(b->affix_vals, b->n_affix + 1, sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	b->affix_vals = nv;
	b->affix_keys[b->n_affix] = (struct tg_abi_affix_key){.tool = ref.tool, .matcher = ref.matcher};
	b->affix_vals[b->n_affix] = (struct tg_abi_affix_val){.minlen = (uint32_t)(plen + slen - 1)};
	b->n_affix++;

	ref.matcher |= TG_ABI_MATCHER_PART;
	ref.spec = (uint16_t)(plen + slen);
	r = slist_add(&b->strs, space, (const uint8_t *)glob, plen, 0, &ref);
	if (r < 0)
		return r;
	for (size_t i = 0; i < slen; i++)
		rev[i] = (uint8_t)suffix[slen - 1 - i];
	return slist_add(&b->rstrs, space, rev, slen, 0, &ref);
}

/* A path glob of executables[] or scripts[] into the tries, or the scan. */
static int add_path_glob(struct build *b, unsigned ti, unsigned mk, unsigned idx, const char *glob,
			 uint8_t space, const char *what)
{
	struct cref ref = {.tool = (uint16_t)ti, .matcher = TG_ABI_MATCHER(mk, idx), .rank = b->pv->rank[ti]};
	enum tg_scan_rule_kind sk = mk == TG_ABI_MK_EXE ? TG_SCAN_EXE_GLOB : TG_SCAN_SCRIPT_GLOB;
	char *lit = NULL;
	enum tg_glob_form form = tg_glob_reduce(glob, &lit);
	size_t len = lit ? strlen(lit) : 0;
	int r = 0;

	switch (form) {
	case TG_GLOB_EXACT:
		if (len + 1 > TG_ABI_STR_MAX)
			goto too_long;
		ref.spec = (uint16_t)(len + 1);
		r = slist_add(&b->strs, space, (const uint8_t *)lit, len + 1, 0, &ref);
		break;
	case TG_GLOB_PREFIX:
		if (len > TG_ABI_STR_MAX)
			goto too_long;
		ref.spec = (uint16_t)len;
		r = slist_add(&b->strs, space, (const uint8_t *)lit, len, 0, &ref);
		break;
	case TG_GLOB_SUFFIX: {
		uint8_t rev[TG_ABI_STR_MAX];

		if (len > TG_ABI_STR_MAX)
			goto too_long;
		for (size_t i = 0; i < len; i++)
			rev[i] = (uint8_t)lit[len - 1 - i];
		ref.spec = (uint16_t)len;
		r = slist_add(&b->rstrs, space, rev, len, 0, &ref);
		break;
	}
	case TG_GLOB_COMPLEX: {
		size_t plen;
		const char *suffix;

		if (tg_glob_split_affix(glob, &plen, &suffix)) {
			r = add_affix_glob(b, ref, space, glob, plen, suffix);
			if (r == -E2BIG)
				goto too_long;
			break;
		}
		r = add_scan_rule(b, sk, (uint16_t)ti, ref.matcher, glob, NULL);
		if (mk == TG_ABI_MK_EXE)
			b->has_complex_exe = true;
		break;
	}
	}
	free(lit);
	return r;

too_long:
	free(lit);
	cwarn(b->pv,
	      "tool %s: %s: literal part longer than %u bytes does not fit the kernel's tries; files are "
	      "found by the install-location scan instead",
	      b->p->tools[ti].id, what, TG_ABI_STR_MAX - 1);
	if (mk == TG_ABI_MK_EXE)
		b->has_complex_exe = true;
	return add_scan_rule(b, sk, (uint16_t)ti, ref.matcher, glob, NULL);
}

static int compile_exes(struct build *b, unsigned ti)
{
	const struct tg_tool *t = &b->p->tools[ti];
	int r = 0;

	for (size_t i = 0; i < t->n_exes && r >= 0; i++) {
		const struct tg_exe_match *m = &t->exes[i];
		uint16_t matcher = TG_ABI_MATCHER(TG_ABI_MK_EXE, i);
		char what[64];

		snprintf(what, sizeof(what), "executables[%zu].path", i);
		switch (m->kind) {
		case TG_EXE_NAME: {
			size_t len = strlen(m->value);
			struct cref ref = {.tool = (uint16_t)ti,
					   .matcher = matcher,
					   .rank = b->pv->rank[ti],
					   .spec = (uint16_t)(len + 1)};

			b->has_exe_strs = true;

			if (len == 0 || len + 1 > TG_ABI_STR_MAX || strchr(m->value, '/')) {
				cwarn(
				    b->pv,
				    "tool %s: executables[%zu].name \"%.40s\" cannot be a file name; ignored",
				    t->id, i, m->value);
				break;
			}
			r = slist_add(&b->strs, TG_ABI_SPACE_EXE_NAME, (const uint8_t *)m->value, len + 1, 0,
				      &ref);
			break;
		}
		case TG_EXE_PATH:
			b->has_exe_strs = true;
			r = add_path_glob(b, ti, TG_ABI_MK_EXE, (unsigned)i, m->value, TG_ABI_SPACE_EXE_PATH,
					  what);
			break;
		case TG_EXE_SHA256:
			b->has_sha = true;
			r = add_scan_rule(b, TG_SCAN_SHA256, (uint16_t)ti, matcher, NULL, m->sha256);
			break;
		}
	}
	for (size_t i = 0; i < t->n_scripts && r >= 0; i++) {
		char what[64];

		snprintf(what, sizeof(what), "scripts[%zu].path", i);
		b->has_scripts = true;
		if (!t->scripts[i].path) {
			/* content rules: judged by the daemon (script_request.c) */
			b->has_script_sha = true;
			continue;
		}
		r = add_path_glob(b, ti, TG_ABI_MK_SCRIPT, (unsigned)i, t->scripts[i].path,
				  TG_ABI_SPACE_SCRIPT_PATH, what);
	}
	return r;
}

static int compile_hosts(struct build *b, unsigned ti)
{
	const struct tg_tool *t = &b->p->tools[ti];

	for (size_t i = 0; i < t->n_hosts; i++) {
		const struct tg_host_match *h = &t->hosts[i];
		uint16_t matcher = TG_ABI_MATCHER(TG_ABI_MK_HOST, i);

		if (h->kind != TG_HOST_CIDR) {
			struct priv *pv = b->pv;

			if (grow((void **)&pv->hosts, &pv->cap_hosts, pv->n_hosts, sizeof(*pv->hosts)) < 0)
				return -ENOMEM;
			pv->hosts[pv->n_hosts++] = (struct tg_compiled_host){
			    .tool = (uint16_t)ti,
			    .matcher = matcher,
			    .name = h->name,
			    .wildcard = h->kind == TG_HOST_WILDCARD,
			    .ports = h->ports,
			    .n_ports = h->n_ports,
			};
			continue;
		}
		{
			const struct tg_cidr *c = &h->cidr;
			bool v4 = c->family == AF_INET;
			unsigned max = v4 ? 32 : 128;
			struct nlist *l = v4 ? &b->net4 : &b->net6;
			struct nent *e;
			struct cref ref = {.tool = (uint16_t)ti,
					   .matcher = matcher,
					   .rank = b->pv->rank[ti],
					   .spec = c->prefixlen,
					   .ports = h->ports,
					   .n_ports = h->n_ports};

			if ((c->family != AF_INET && c->family != AF_INET6) || c->prefixlen > max)
				return fail(b->why, b->why_len, "tool %s: hosts[%zu]: not an IPv4/IPv6 CIDR",
					    t->id, i);
			if (grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v)) < 0)
				return -ENOMEM;
			e = &l->v[l->n++];
			memset(e, 0, sizeof(*e));
			e->family = c->family;
			e->plen = c->prefixlen;
			memcpy(e->addr, c->addr, v4 ? 4 : 16);
			/* host bits are zero per the parser; mask anyway, the trie needs it */
			for (unsigned bit = c->prefixlen; bit < max; bit++)
				e->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
			if (crefs_add(&e->refs, &ref) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

static int compile_interpreters(struct build *b)
{
	const struct tg_policy *p = b->p;
	const char *const *list = (const char *const *)p->interpreters;
	size_t n = p->n_interpreters;
	int r = 0;

	/* NULL means the default list, as in lib/matcher.c */
	if (!p->interpreters) {
		list = default_interpreters;
		n = sizeof(default_interpreters) / sizeof(default_interpreters[0]);
	}
	for (size_t i = 0; i < n && r >= 0; i++) {
		const char *g = list[i];
		uint8_t lit[TG_ABI_STR_MAX];
		size_t o = 0;
		bool wild = false, only_star = false, too_long = false;
		uint16_t flags = TG_ABI_REFS_INTERP;

		for (const char *s = g; *s; s++) {
			if (*s == '*' || *s == '?' || *s == '[') {
				wild = true;
				only_star = s[0] == '*' && s[1] == '\0';
				break;
			}
			if (*s == '\\' && s[1])
				s++;
			if (o + 1 >= TG_ABI_STR_MAX) {
				too_long = true;
				break;
			}
			lit[o++] = (uint8_t)*s;
		}
		if (too_long || o == 0) {
			cwarn(b->pv, "interpreters[%zu] \"%.40s\": %s; ignored", i, g,
			      too_long ? "too long"
				       : "starts with a wildcard, which the kernel cannot match by prefix");
			continue;
		}
		if (o >= 3 && memcmp(lit, "ld-", 3) == 0)
			flags |= TG_ABI_REFS_LDSO;
		if (!wild) {
			lit[o] = '\0';
			r = slist_add(&b->strs, TG_ABI_SPACE_INTERP, lit, o + 1, flags, NULL);
		} else {
			if (!only_star && !(flags & TG_ABI_REFS_LDSO))
				cwarn(b->pv,
				      "interpreters[%zu] \"%.40s\": matched in the kernel by its prefix "
				      "\"%.*s\"",
				      i, g, (int)o, (const char *)lit);
			r = slist_add(&b->strs, TG_ABI_SPACE_INTERP, lit, o, flags, NULL);
		}
	}
	return r;
}

/* One directory entry named like an interpreter: an ELF file's sha256 joins pv->interps. */
static int interp_file_add(struct priv *pv, int dfd, const char *name)
{
	struct stat st;
	uint8_t sha[32];
	unsigned char m[4];
	uint16_t flags = TG_ABI_REFS_INTERP;
	int fd, r;

	/* symlinks followed: /usr/bin/node -> nodejs, python3 -> python3.11 */
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111) ||
	    (uint64_t)st.st_size > TG_HASH_MAX_FILE_SIZE || pread(fd, m, sizeof(m), 0) != (ssize_t)sizeof(m) ||
	    memcmp(m, "\177ELF", 4) != 0) {
		close(fd);
		return 0;
	}
	r = tg_hashcache_fd(pv->hc, fd, &st, sha);
	close(fd);
	if (r < 0)
		return r == -ENOMEM ? r : 0;
	if (strncmp(name, "ld-", 3) == 0)
		flags |= TG_ABI_REFS_LDSO;
	for (size_t i = 0; i < pv->n_interps; i++)
		if (memcmp(pv->interps[i].sha256, sha, 32) == 0) {
			pv->interps[i].flags |= flags;
			return 0;
		}
	if (pv->n_interps >= INTERP_FILES_MAX) {
		cwarn(pv, "more than %u interpreter files; copies of %s are not recognised by content",
		      INTERP_FILES_MAX, name);
		return 0;
	}
	memcpy(pv->interps[pv->n_interps].sha256, sha, 32);
	pv->interps[pv->n_interps].size = (uint64_t)st.st_size;
	pv->interps[pv->n_interps].flags = flags;
	snprintf(pv->interps[pv->n_interps].name, sizeof(pv->interps[0].name), "%.63s", name);
	pv->n_interps++;
	return 0;
}

static int interp_dir_add(struct build *b, const char *dir)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (dir[0] != '/')
		return 0;
	d = opendir(dir);
	if (!d)
		return 0;
	while (r >= 0 && (de = readdir(d)))
		if (de->d_name[0] != '.' && tg_is_interpreter(b->p, de->d_name))
			r = interp_file_add(b->pv, dirfd(d), de->d_name);
	closedir(d);
	return r;
}

/*
 * Interpreters by content: the files the interpreter names resolve to (in the
 * daemon's PATH and the usual bin directories) become sha256 scan rules, so a
 * copy under another name (cp node n) lands in tg_inodes as TG_ABI_INODE_INTERP
 * through the scan, the watcher and hash requests. Only with scripts rules.
 */
static int compile_interp_files(struct build *b)
{
	static const char *const dirs[] = {"/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin"};
	const char *env = getenv("PATH");
	struct priv *pv = b->pv;
	int r = 0;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && r >= 0; i++)
		r = interp_dir_add(b, dirs[i]);
	if (env && strlen(env) < 4096) {
		char buf[4096], *save = NULL;
		unsigned n = 0;

		snprintf(buf, sizeof(buf), "%s", env);
		for (char *t = strtok_r(buf, ":", &save); t && r >= 0 && n < 64; t = strtok_r(NULL, ":", &save), n++)
			r = interp_dir_add(b, t);
	}
	for (size_t i = 0; i < pv->n_interps && r >= 0; i++) {
		r = add_scan_rule(b, TG_SCAN_SHA256, TG_SCAN_TOOL_INTERP, pv->interps[i].flags, NULL,
				  pv->interps[i].sha256);
		/* a copy has the same size: other files need no hashing for these rules */
		if (r >= 0)
			pv->rules.v[pv->rules.n - 1].size = pv->interps[i].size;
	}
	return r;
}

static int resolve_user(const char *name, uint32_t *ret)
{
	uid_t id;
	int r = tg_lookup_user(name, &id);

	if (r == 0)
		*ret = (uint32_t)id;
	return r;
}

static int resolve_group(const char *name, uint32_t *ret)
{
	gid_t id;
	int r = tg_lookup_group(name, &id);

	if (r == 0)
		*ret = (uint32_t)id;
	return r;
}

static int compile_exempt(struct build *b, unsigned ti, struct tg_compiled *c, size_t *cap)
{
	const struct tg_tool *t = &b->p->tools[ti];
	const struct tg_exempt *ex = &t->exempt;

	for (int kind = 0; kind < 2; kind++) {
		const struct tg_principal *v = kind == 0 ? ex->users : ex->groups;
		size_t n = kind == 0 ? ex->n_users : ex->n_groups;

		for (size_t i = 0; i < n; i++) {
			uint32_t id = v[i].id;

			if (!v[i].numeric) {
				int r =
				    kind == 0 ? resolve_user(v[i].name, &id) : resolve_group(v[i].name, &id);

				if (r == -ENOMEM)
					return r;
				if (r < 0) {
					cwarn(b->pv,
					      "tool %s: exempt %s \"%s\" does not exist on this machine; "
					      "skipped",
					      t->id, kind == 0 ? "user" : "group",
					      v[i].name ? v[i].name : "?");
					continue;
				}
			}
			if (c->n_exempt >= EXEMPT_LIMIT)
				return fail(
				    b->why, b->why_len,
				    "more than %u exemptions in the policy: exempt a group instead of users",
				    EXEMPT_LIMIT);
			if (grow((void **)&c->exempt_keys, cap, c->n_exempt, sizeof(*c->exempt_keys)) < 0)
				return -ENOMEM;
			c->exempt_keys[c->n_exempt++] = (struct tg_abi_exempt_key){
			    .id = id,
			    .tool = (uint16_t)ti,
			    .gen = 0,
			    .kind = kind == 0 ? TG_ABI_EXEMPT_UID : TG_ABI_EXEMPT_GID,
			};
			c->tools[ti].flags |= kind == 0 ? TG_ABI_TOOL_EXEMPT_UIDS : TG_ABI_TOOL_EXEMPT_GIDS;
		}
	}
	return 0;
}

static void compile_tool_times(struct build *b, unsigned ti, struct tg_abi_tool *out, int64_t now,
			       int64_t *next)
{
	const struct tg_tool *t = &b->p->tools[ti];
	enum tg_action a = tg_tool_action(b->p, t);
	int64_t off = b->pv->tai_offset_ns;

	out->action = a == TG_ACTION_BLOCK   ? TG_ABI_ACTION_BLOCK
		      : a == TG_ACTION_ALERT ? TG_ABI_ACTION_ALERT
					     : TG_ABI_ACTION_ALLOW;
	out->flags |= TG_ABI_TOOL_PRESENT;
	out->start_ns = out->block_ns = 0;
	if (t->effective.set) {
		int64_t start = t->effective.t;

		if (a == TG_ACTION_BLOCK && t->warn_before > 0)
			start = t->effective.t - t->warn_before;
		out->start_ns = to_tai_ns(start, off);
		out->block_ns = to_tai_ns(t->effective.t, off);
		next_after(next, start, now);
		next_after(next, t->effective.t, now);
	}
	out->end_ns = UINT64_MAX;
	if (t->expires.set) {
		out->end_ns = to_tai_ns(t->expires.t, off);
		next_after(next, t->expires.t, now);
	}
	out->exempt_end_ns = UINT64_MAX;
	if (t->exempt.until.set) {
		out->exempt_end_ns = to_tai_ns(t->exempt.until.t, off);
		next_after(next, t->exempt.until.t, now);
	}
	/* Outside its rollout this machine compiles the tool as inactive (ended at 0). */
	if (!tg_compile_tool_in_rollout(t))
		out->start_ns = out->block_ns = out->end_ns = 0;
}

static int emit_nets(struct build *b, struct tg_compiled *c)
{
	for (int fam = 0; fam < 2; fam++) {
		struct nlist *l = fam == 0 ? &b->net4 : &b->net6;
		int r = nlist_finish(l, fam == 0 ? "tg_net4" : "tg_net6", b->why, b->why_len);

		if (r < 0)
			return r;
		if (l->n == 0)
			continue;
		if (fam == 0) {
			c->net4_keys = calloc(l->n, sizeof(*c->net4_keys));
			c->net4_vals = calloc(l->n, sizeof(*c->net4_vals));
			if (!c->net4_keys || !c->net4_vals)
				return -ENOMEM;
		} else {
			c->net6_keys = calloc(l->n, sizeof(*c->net6_keys));
			c->net6_vals = calloc(l->n, sizeof(*c->net6_vals));
			if (!c->net6_keys || !c->net6_vals)
				return -ENOMEM;
		}
		for (size_t i = 0; i < l->n; i++) {
			struct nent *e = &l->v[i];
			struct tg_abi_net_refs *val = fam == 0 ? &c->net4_vals[i] : &c->net6_vals[i];
			size_t need = ncrefs_to_abi(&e->closure, val);

			if (need > TG_ABI_NET_REFS) {
				char a[64] = "?";

				inet_ntop(e->family, e->addr, a, sizeof(a));
				return fail(b->why, b->why_len,
					    "%zu rules (tools %s, ...) cover %s/%u; at most %u rules with up "
					    "to %u ports "
					    "each may share an address: merge them",
					    need, b->p->tools[e->closure.v[0].tool].id, a, e->plen,
					    TG_ABI_NET_REFS, TG_ABI_NET_PORTS);
			}
			if (fam == 0) {
				c->net4_keys[i].prefixlen = 8u + e->plen;
				memcpy(c->net4_keys[i].addr, e->addr, 4);
			} else {
				c->net6_keys[i].prefixlen = 8u + e->plen;
				memcpy(c->net6_keys[i].addr, e->addr, 16);
			}
		}
		if (fam == 0)
			c->n_net4 = l->n;
		else
			c->n_net6 = l->n;
	}
	return 0;
}

/* Scan hits -> PATH hits into the string lists, INODE hits into tg_inodes. */
static int emit_scan(struct build *b, struct tg_compiled *c)
{
	struct priv *pv = b->pv;
	struct ient *ie = NULL;
	size_t n_ie = 0, n_keys = 0;
	int r = 0;

	for (size_t i = 0; i < pv->scan.n_hits; i++) {
		const struct tg_scan_hit *h = &pv->scan.hits[i];
		size_t len = strlen(h->path);
		struct cref ref = {.tool = h->tool, .matcher = h->matcher, .spec = (uint16_t)(len + 1)};

		if (h->kind == TG_SCAN_HIT_PATH && len + 1 <= TG_ABI_STR_MAX) {
			ref.rank = pv->rank[h->tool];
			r = slist_add(&b->strs, h->space, (const uint8_t *)h->path, len + 1, 0, &ref);
			if (r < 0)
				return r;
		}
	}
	ie = calloc(pv->scan.n_hits + 1, sizeof(*ie));
	if (!ie)
		return -ENOMEM;
	for (size_t i = 0; i < pv->scan.n_hits; i++) {
		const struct tg_scan_hit *h = &pv->scan.hits[i];

		if (h->kind != TG_SCAN_HIT_INODE)
			continue;
		ie[n_ie].key = (struct tg_abi_inode_key){.dev = h->dev, .space = h->space, .ino = h->ino};
		ie[n_ie++].hit = h;
	}
	qsort(ie, n_ie, sizeof(*ie), ient_cmp);
	for (size_t i = 0; i < n_ie; i++)
		if (i == 0 || ient_cmp(&ie[i - 1], &ie[i]) != 0)
			n_keys++;
	if (n_keys > INODE_LIMIT) {
		free(ie);
		return fail(
		    b->why, b->why_len,
		    "%zu files match the policy's sha256/glob rules, more than the %u that fit: narrow the "
		    "globs",
		    n_keys, INODE_LIMIT);
	}
	if (n_keys) {
		c->inode_keys = calloc(n_keys, sizeof(*c->inode_keys));
		c->inode_vals = calloc(n_keys, sizeof(*c->inode_vals));
		if (!c->inode_keys || !c->inode_vals) {
			free(ie);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < n_ie;) {
		struct crefs rs = {0};
		size_t j = i, tools;
		uint16_t iflags = 0;

		while (j < n_ie && ient_cmp(&ie[i], &ie[j]) == 0) {
			struct cref ref = {.tool = ie[j].hit->tool, .matcher = ie[j].hit->matcher};

			if (ref.tool == TG_SCAN_TOOL_INTERP) {
				iflags |= ref.matcher;
				j++;
				continue;
			}
			ref.rank = pv->rank[ref.tool];
			if (crefs_add(&rs, &ref) < 0) {
				free(rs.v);
				free(ie);
				return -ENOMEM;
			}
			j++;
		}
		c->inode_keys[c->n_inodes] = ie[i].key;
		tools = crefs_to_abi(&rs, &c->inode_vals[c->n_inodes]);
		c->inode_vals[c->n_inodes].flags |= iflags;
		if (tools > TG_ABI_MAX_REFS)
			cwarn(pv, "%s matches %zu tools; only the first %u (block rules first) are recorded",
			      ie[i].hit->path, tools, TG_ABI_MAX_REFS);
		c->n_inodes++;
		free(rs.v);
		i = j;
	}
	free(ie);
	return 0;
}

/* The persistent hash cache, once per daemon, before the first hashing. */
static void load_hash_file(struct priv *pv, const struct tg_compile_options *opts)
{
	struct tg_hashcache_stats hs;
	int r;

	if (!cfg_hash_file || (opts && opts->hashcache) || hash_file_loaded || !pv->hc)
		return;
	hash_file_loaded = true;
	r = tg_hashcache_load(pv->hc, cfg_hash_file);
	if (r < 0 && r != -ENOENT)
		cwarn(pv, "hash cache %s not used (%s): every executable is hashed again", cfg_hash_file,
		      r == -EPROTO  ? "not a toolguard hash cache of this version"
		      : r == -EPERM ? "not a file of the daemon's user, or writable by others"
				    : strerror(-r));
	tg_hashcache_get_stats(pv->hc, &hs);
	hash_file_computed = hs.computed;
}

int tg_compile_policy_opts(const struct tg_policy *p, enum tg_mode mode,
			   const struct tg_compile_options *opts, struct tg_compiled **ret, char *why,
			   size_t why_len)
{
	struct build b = {.p = p, .why = why, .why_len = why_len};
	struct tg_compiled *c = NULL;
	struct priv *pv;
	size_t cap_exempt = 0;
	struct timespec now_ts;
	int64_t now, next = INT64_MAX;
	int r;

	if (why && why_len)
		why[0] = '\0';
	if (!p || !ret)
		return fail(why, why_len, "no policy");
	if (p->n_tools > TG_ABI_MAX_TOOLS)
		return fail(why, why_len,
			    "%zu tools, more than the %u the kernel maps hold: split the policy", p->n_tools,
			    TG_ABI_MAX_TOOLS);
	for (size_t i = 0; i < p->n_tools; i++) {
		const struct tg_tool *t = &p->tools[i];

		if (t->n_exes > TG_ABI_MATCHER_INDEX_MAX + 1 || t->n_scripts > TG_ABI_MATCHER_INDEX_MAX + 1 ||
		    t->n_hosts > TG_ABI_MATCHER_INDEX_MAX + 1)
			return fail(why, why_len,
				    "tool %s: more than %u entries in one match list: split the tool", t->id,
				    TG_ABI_MATCHER_INDEX_MAX + 1);
	}

	c = calloc(1, sizeof(*c));
	pv = calloc(1, sizeof(*pv));
	if (!c || !pv) {
		free(c);
		free(pv);
		return -ENOMEM;
	}
	c->priv = pv;
	b.pv = pv;
	pv->p = p;
	pv->hc = opts && opts->hashcache ? opts->hashcache : tg_hashcache_default();
	pv->tai_offset_ns = sample_tai_offset_ns();
	pv->scan_max_depth = opts && opts->scan_max_depth ? opts->scan_max_depth : TG_SCAN_DEFAULT_DEPTH;
	clock_gettime(CLOCK_REALTIME, &now_ts);
	now = now_ts.tv_sec;

	c->gen.policy_serial = p->serial;
	c->gen.mode = mode == TG_MODE_MONITOR ? TG_ABI_MODE_MONITOR : TG_ABI_MODE_ENFORCE;
	c->gen.n_tools = (uint32_t)p->n_tools;
	c->n_tools = p->n_tools;
	c->tools = calloc(p->n_tools + 1, sizeof(*c->tools));
	pv->rank = calloc(p->n_tools + 1, 1);
	if (!c->tools || !pv->rank) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < p->n_tools; i++)
		pv->rank[i] = action_rank(tg_tool_action(p, &p->tools[i]));

	for (size_t i = 0; i < p->n_tools; i++) {
		compile_tool_times(&b, (unsigned)i, &c->tools[i], now, &next);
		r = compile_exes(&b, (unsigned)i);
		if (r >= 0)
			r = compile_hosts(&b, (unsigned)i);
		if (r >= 0)
			r = compile_exempt(&b, (unsigned)i, c, &cap_exempt);
		if (r < 0)
			goto fail;
	}
	r = compile_interpreters(&b);
	if (r >= 0 && b.has_scripts) {
		load_hash_file(pv, opts);
		r = compile_interp_files(&b);
	}
	if (r < 0)
		goto fail;

	tg_scan_rules_prepare(&pv->rules);
	if (pv->rules.n) {
		const char **roots = NULL;
		struct tg_scan_options so = {0};
		size_t n_roots = 0;

		if (opts) {
			so.no_default_roots = opts->scan_no_default_roots;
			so.no_env = opts->scan_no_env;
			so.max_depth = opts->scan_max_depth;
			so.max_entries = opts->scan_max_entries;
			so.max_ns = opts->scan_max_ns;
		}
		so.hashcache = pv->hc;
		roots = calloc(n_cfg_roots + (opts ? opts->n_scan_roots : 0) + 1, sizeof(*roots));
		if (!roots) {
			r = -ENOMEM;
			goto fail;
		}
		for (size_t i = 0; i < n_cfg_roots; i++)
			roots[n_roots++] = cfg_roots[i];
		for (size_t i = 0; opts && i < opts->n_scan_roots; i++)
			roots[n_roots++] = opts->scan_roots[i];
		so.extra_roots = roots;
		so.n_extra_roots = n_roots;
		load_hash_file(pv, opts);
		r = tg_scan_run(&pv->rules, &so, &pv->scan);
		free(roots);
		if (r < 0)
			goto fail;
		if (cfg_hash_file && !(opts && opts->hashcache) && pv->hc) {
			struct tg_hashcache_stats hs;

			tg_hashcache_get_stats(pv->hc, &hs);
			if (hs.computed != hash_file_computed) {
				int k = tg_hashcache_save(pv->hc, cfg_hash_file);

				if (k < 0)
					cwarn(pv, "cannot save the hash cache %s: %s", cfg_hash_file,
					      strerror(-k));
				hash_file_computed = hs.computed;
			}
		}
		pv->scanned = true;
		for (size_t i = 0; i < pv->scan.n_warnings; i++)
			cwarn(pv, "%s", pv->scan.warnings[i]);
		r = emit_scan(&b, c);
		if (r < 0)
			goto fail;
	}

	r = slist_finish(&b.strs, "tg_strs", why, why_len);
	if (r >= 0)
		r = slist_finish(&b.rstrs, "tg_rstrs", why, why_len);
	if (r >= 0)
		r = slist_emit(&b.strs, false, p, &c->str_keys, &c->str_vals, &c->n_strs, why, why_len);
	if (r >= 0)
		r = slist_emit(&b.rstrs, true, p, &c->rstr_keys, &c->rstr_vals, &c->n_rstrs, why, why_len);
	if (r >= 0)
		r = emit_nets(&b, c);
	if (r < 0)
		goto fail;
	c->affix_keys = b.affix_keys;
	c->affix_vals = b.affix_vals;
	c->n_affix = b.n_affix;
	b.affix_keys = NULL;
	b.affix_vals = NULL;

	/* interpreters by content: a copy the watcher has not judged yet is asked about */
	if (b.has_sha || b.has_complex_exe || pv->n_interps)
		c->gen.flags |= TG_ABI_GEN_HASH_REQUESTS;
	/* argv is examined for scripts, and for the program a dynamic loader runs */
	if (b.has_scripts || b.has_exe_strs)
		c->gen.flags |= TG_ABI_GEN_SCRIPTS;
	if (b.has_script_sha)
		c->gen.flags |= TG_ABI_GEN_SCRIPT_REQUESTS;
	c->next_transition = next;

	slist_free(&b.strs);
	slist_free(&b.rstrs);
	nlist_free(&b.net4);
	nlist_free(&b.net6);
	*ret = c;
	return 0;

fail:
	if (r == -ENOMEM && why && why_len && !why[0])
		snprintf(why, why_len, "out of memory while compiling the policy");
	slist_free(&b.strs);
	slist_free(&b.rstrs);
	nlist_free(&b.net4);
	nlist_free(&b.net6);
	free(b.affix_keys);
	free(b.affix_vals);
	tg_compiled_free(c);
	return r;
}

int tg_compile_policy(const struct tg_policy *p, enum tg_mode mode, struct tg_compiled **ret, char *why,
		      size_t why_len)
{
	return tg_compile_policy_opts(p, mode, NULL, ret, why, why_len);
}

/* ---------- decoding ---------- */

const struct tg_policy *tg_compiled_policy(const struct tg_compiled *c)
{
	return c && c->priv ? ((const struct priv *)c->priv)->p : NULL;
}

const struct tg_tool *tg_compiled_tool(const struct tg_compiled *c, unsigned tool_idx)
{
	const struct tg_policy *p = tg_compiled_policy(c);

	return p && tool_idx < p->n_tools ? &p->tools[tool_idx] : NULL;
}

const char *tg_compiled_matcher_name(const struct tg_compiled *c, unsigned tool_idx, unsigned matcher,
				     char *buf, size_t len)
{
	const struct tg_tool *t = tg_compiled_tool(c, tool_idx);
	unsigned kind = TG_ABI_MATCHER_KIND(matcher), idx = TG_ABI_MATCHER_IDX(matcher);

	snprintf(buf, len, "?");
	if (!t)
		return buf;
	switch (kind) {
	case TG_ABI_MK_EXE:
		if (idx < t->n_exes) {
			enum tg_exe_kind k = t->exes[idx].kind;

			snprintf(buf, len, "executables[%u].%s", idx,
				 k == TG_EXE_NAME   ? "name"
				 : k == TG_EXE_PATH ? "path"
						    : "sha256");
		}
		break;
	case TG_ABI_MK_SCRIPT:
		if (idx < t->n_scripts)
			snprintf(buf, len, "scripts[%u].%s", idx, t->scripts[idx].path ? "path" : "sha256");
		break;
	case TG_ABI_MK_HOST:
		if (idx < t->n_hosts)
			snprintf(buf, len, "hosts[%u]", idx);
		break;
	}
	return buf;
}

size_t tg_compiled_warnings(const struct tg_compiled *c, const char *const **ret)
{
	const struct priv *pv = c ? c->priv : NULL;

	*ret = pv ? (const char *const *)pv->warnings : NULL;
	return pv ? pv->n_warnings : 0;
}

size_t tg_compiled_hosts(const struct tg_compiled *c, const struct tg_compiled_host **ret)
{
	const struct priv *pv = c ? c->priv : NULL;

	*ret = pv ? pv->hosts : NULL;
	return pv ? pv->n_hosts : 0;
}

void tg_compiled_scan_stats(const struct tg_compiled *c, struct tg_compiled_scan_stats *ret)
{
	const struct priv *pv = c ? c->priv : NULL;

	memset(ret, 0, sizeof(*ret));
	if (!pv || !pv->scanned)
		return;
	ret->ran = true;
	ret->roots = pv->scan.n_roots;
	ret->entries = pv->scan.n_entries;
	ret->dirs = pv->scan.n_dirs_walked;
	ret->hashed = pv->scan.n_hashed;
	ret->hits = pv->scan.n_hits;
	ret->truncated = pv->scan.truncated;
	ret->duration_ns = pv->scan.duration_ns;
}

/* ---------- hash requests ---------- */

static size_t hits_to_refs(const struct priv *pv, const struct tg_scan_hit *hits, size_t n,
			   struct tg_abi_refs *out)
{
	struct crefs rs = {0};
	size_t tools;

	uint16_t iflags = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		struct cref ref = {.tool = hits[i].tool, .matcher = hits[i].matcher};

		if (ref.tool == TG_SCAN_TOOL_INTERP) {
			iflags |= ref.matcher;
			continue;
		}
		ref.rank = pv->rank[ref.tool];
		if (crefs_add(&rs, &ref) < 0)
			break;
	}
	tools = crefs_to_abi(&rs, out);
	out->flags |= iflags;
	free(rs.v);
	return tools;
}

int tg_compiled_hash_request(const struct tg_compiled *c, const struct tg_abi_hash_request *req,
			     struct tg_abi_refs *ret_refs)
{
	const struct priv *pv = c ? c->priv : NULL;
	struct tg_scan_result acc = {0};
	struct tg_abi_refs refs;
	char proc[64], path[PATH_MAX];
	struct stat st;
	ssize_t n;
	int fd, r;

	if (!pv || !req)
		return -EINVAL;
	if (pv->rules.n_sha == 0 && pv->rules.n_exe_glob == 0)
		return 0;
	snprintf(proc, sizeof(proc), "/proc/%u/exe", req->pid);
	/* the file the process runs, even if its path was replaced since */
	fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd >= 0) {
		n = readlink(proc, path, sizeof(path) - 1);
	} else {
		/* A short-lived process is gone before we look: hash the path the
		 * kernel reported, if it still is the same inode. */
		int e = errno;

		if (memchr(req->path, '\0', sizeof(req->path)) == NULL || req->path[0] != '/')
			return -e;
		fd = open(req->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd < 0)
			return -e;
		n = (ssize_t)strlen(req->path);
		memcpy(path, req->path, (size_t)n);
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	/* st_dev may differ from the kernel's s_dev on overlayfs/btrfs; the inode must not */
	if ((uint64_t)st.st_ino != req->ino) {
		r = -ESTALE; /* it exec'd something else meanwhile */
		goto out;
	}
	if (n < 0)
		n = 0;
	path[n] = '\0';
	if (n > 10 && strcmp(path + n - 10, " (deleted)") == 0)
		path[n - 10] = '\0';
	r = tg_scan_fd(&pv->rules, pv->hc, fd, path[0] == '/' ? path : NULL, &acc);
	if (r < 0)
		goto out;
	if (acc.n_hits == 0) {
		r = 0;
		goto out;
	}
	hits_to_refs(pv, acc.hits, acc.n_hits, &refs);
	*ret_refs = refs;
	r = 1;
out:
	tg_scan_result_free(&acc);
	close(fd);
	return r;
}

int tg_compiled_hash_fd(const struct tg_compiled *c, int fd, const char *path, struct tg_abi_refs *ret_refs)
{
	const struct priv *pv = c ? c->priv : NULL;
	struct tg_scan_result acc = {0};
	struct tg_abi_refs refs;
	int r;

	if (!pv || fd < 0 || !ret_refs)
		return -EINVAL;
	if (pv->rules.n_sha == 0 && pv->rules.n_exe_glob == 0)
		return 0;
	r = tg_scan_fd(&pv->rules, pv->hc, fd, path && path[0] == '/' ? path : NULL, &acc);
	if (r >= 0)
		r = acc.n_hits > 0;
	if (r == 1) {
		hits_to_refs(pv, acc.hits, acc.n_hits, &refs);
		*ret_refs = refs;
	}
	tg_scan_result_free(&acc);
	return r;
}

#define INTERP_CMDLINE_MAX (64u * 1024u)
#define INTERP_ARGV_MAX	   256u

int tg_compiled_interp_script(const struct tg_compiled *c, uint32_t pid, struct tg_abi_refs *ret_refs)
{
	const struct priv *pv = c ? c->priv : NULL;
	const char *name = NULL, *argv[INTERP_ARGV_MAX];
	char proc[64], cwd[PATH_MAX], *buf = NULL;
	struct tg_exec_query q = {0};
	struct tg_decision d;
	unsigned idx;
	uint8_t sha[32];
	struct stat st;
	size_t len = 0, argc = 0;
	ssize_t n;
	int fd, r;

	if (!pv || !ret_refs)
		return -EINVAL;
	snprintf(proc, sizeof(proc), "/proc/%u/exe", pid);
	fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	r = fstat(fd, &st) < 0 ? -errno : tg_hashcache_fd(pv->hc, fd, &st, sha); /* cached by the request */
	close(fd);
	if (r < 0)
		return r;
	for (size_t i = 0; i < pv->n_interps && !name; i++)
		if (memcmp(pv->interps[i].sha256, sha, 32) == 0)
			name = pv->interps[i].name;
	if (!name)
		return 0;
	snprintf(proc, sizeof(proc), "/proc/%u/cwd", pid);
	n = readlink(proc, cwd, sizeof(cwd) - 1);
	cwd[n > 0 ? n : 0] = '\0';
	buf = malloc(INTERP_CMDLINE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	n = tg_proc_read(pid, "cmdline", buf, INTERP_CMDLINE_MAX + 1);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	len = (size_t)n;
	for (size_t o = 0; o < len && argc < INTERP_ARGV_MAX; o += strlen(buf + o) + 1)
		argv[argc++] = buf + o;
	/* judged as the interpreter it is a copy of, by its scripts[] rules only */
	q.path_invoked = name;
	q.cwd = cwd[0] == '/' ? cwd : NULL;
	q.argv = argv;
	q.argc = argc;
	q.now = time(NULL);
	r = tg_match_exec(pv->p, &q, &d);
	free(buf);
	if (r < 0)
		return r;
	if (!d.tool || sscanf(d.matcher, "scripts[%u]", &idx) != 1 || idx > TG_ABI_MATCHER_INDEX_MAX)
		return 0;
	memset(ret_refs, 0, sizeof(*ret_refs));
	ret_refs->n = 1;
	ret_refs->ref[0].tool = (uint16_t)(d.tool - pv->p->tools);
	ret_refs->ref[0].matcher = TG_ABI_MATCHER(TG_ABI_MK_SCRIPT, idx);
	return 1;
}

/* ---------- file watcher ----------
 *
 * Preferred: fanotify with FAN_MARK_FILESYSTEM in FID mode (FAN_REPORT_DFID_NAME)
 * on each filesystem holding a scan root: every create/write/move/chmod on
 * those filesystems is reported as (directory handle, name), the handle is
 * turned into a path with open_by_handle_at (CAP_DAC_READ_SEARCH) and kept
 * only when the directory is a bin root or inside a tree root within the scan
 * depth (cached per directory). No per-directory watches, so no limit and no
 * race with new directories. Filesystems fanotify refuses (no fsid, tmpfs on
 * old kernels, overlayfs...) or a daemon without the capability fall back to
 * inotify: one watch per directory the scan walked (bounded), new
 * subdirectories of trees watched as they appear.
 */

#define IN_WATCH_MASK                                                                                        \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_ONLYDIR |     \
	 IN_DONT_FOLLOW | IN_EXCL_UNLINK)
#define FAN_WATCH_MASK                                                                                       \
	(FAN_CLOSE_WRITE | FAN_MOVED_TO | FAN_MOVED_FROM | FAN_CREATE | FAN_DELETE | FAN_ATTRIB | FAN_ONDIR)
#define WATCH_MAX_LIVE TG_SCAN_MAX_HITS
#define DCACHE_SIZE    4096u /* directories resolved from fanotify handles */
#define MAX_FS	       64u

struct wdir {
	int wd;
	char *path;
	bool tree;
	unsigned depth;
};

struct live {
	struct tg_abi_inode_key key;
	uint16_t tool, matcher;
	char *path;
};

struct fsmark {
	fsid_t fsid;
	int mount_fd;
};

struct dcache_ent {
	uint64_t h; /* 0 = empty */
	char *path; /* NULL: not a directory we care about */
	bool tree;
	unsigned depth;
};

struct tg_watch {
	const struct tg_compiled *c;
	const struct priv *pv;
	int epfd, ifd, ffd;
	/* inotify */
	struct wdir *dirs;
	size_t n_dirs, cap_dirs, n_active;
	/* fanotify */
	struct fsmark fs[MAX_FS];
	size_t n_fs;
	struct dcache_ent *dcache;
	size_t n_dcache;
	const struct tg_scan_dir *roots; /* borrowed from pv->scan */
	size_t n_roots;

	struct live *live;
	size_t n_live, cap_live;
};

void tg_watch_free(struct tg_watch *w)
{
	if (!w)
		return;
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->ifd >= 0)
		close(w->ifd);
	if (w->ffd >= 0)
		close(w->ffd);
	for (size_t i = 0; i < w->n_fs; i++)
		close(w->fs[i].mount_fd);
	for (size_t i = 0; i < w->n_dirs; i++)
		free(w->dirs[i].path);
	free(w->dirs);
	if (w->dcache)
		for (size_t i = 0; i < DCACHE_SIZE; i++)
			free(w->dcache[i].path);
	free(w->dcache);
	for (size_t i = 0; i < w->n_live; i++)
		free(w->live[i].path);
	free(w->live);
	free(w);
}

int tg_watch_fd(const struct tg_watch *w)
{
	return w ? w->epfd : -1;
}

size_t tg_watch_n_dirs(const struct tg_watch *w)
{
	return w ? w->n_active : 0;
}

const char *tg_watch_backend(const struct tg_watch *w)
{
	if (!w)
		return "none";
	if (w->n_fs && w->n_active)
		return "fanotify+inotify";
	return w->n_fs ? "fanotify" : "inotify";
}

static int watch_add_dir(struct tg_watch *w, const char *path, bool tree, unsigned depth)
{
	int wd;

	if (w->n_active >= TG_SCAN_DEFAULT_WATCH_DIRS)
		return 0;
	wd = inotify_add_watch(w->ifd, path, IN_WATCH_MASK);
	if (wd < 0)
		return errno == ENOMEM ? -ENOMEM
				       : 0; /* ENOSPC: the inotify limit; the scan at reload still works */
	for (size_t i = 0; i < w->n_dirs; i++)
		if (w->dirs[i].wd == wd)
			return 0; /* the same directory by another path */
	if (grow((void **)&w->dirs, &w->cap_dirs, w->n_dirs, sizeof(*w->dirs)) < 0)
		return -ENOMEM;
	w->dirs[w->n_dirs].path = strdup(path);
	if (!w->dirs[w->n_dirs].path)
		return -ENOMEM;
	w->dirs[w->n_dirs].wd = wd;
	w->dirs[w->n_dirs].tree = tree;
	w->dirs[w->n_dirs].depth = depth;
	w->n_dirs++;
	w->n_active++;
	return 0;
}

static struct wdir *watch_find(struct tg_watch *w, int wd)
{
	for (size_t i = 0; i < w->n_dirs; i++)
		if (w->dirs[i].wd == wd)
			return &w->dirs[i];
	return NULL;
}

static int live_add(struct tg_watch *w, const struct tg_scan_hit *h, bool check_dup)
{
	struct tg_abi_inode_key key = {.dev = h->dev, .space = h->space, .ino = h->ino};

	if (h->kind != TG_SCAN_HIT_INODE)
		return 0;
	for (size_t i = 0; check_dup && i < w->n_live; i++)
		if (ikey_cmp(&w->live[i].key, &key) == 0 && w->live[i].tool == h->tool &&
		    w->live[i].matcher == h->matcher && strcmp(w->live[i].path, h->path) == 0)
			return 0;
	if (w->n_live >= WATCH_MAX_LIVE)
		return 0;
	if (grow((void **)&w->live, &w->cap_live, w->n_live, sizeof(*w->live)) < 0)
		return -ENOMEM;
	w->live[w->n_live].path = strdup(h->path);
	if (!w->live[w->n_live].path)
		return -ENOMEM;
	w->live[w->n_live].key = key;
	w->live[w->n_live].tool = h->tool;
	w->live[w->n_live].matcher = h->matcher;
	w->n_live++;
	return 0;
}

static void live_remove(struct tg_watch *w, size_t i)
{
	free(w->live[i].path);
	w->live[i] = w->live[--w->n_live];
}

static bool fsid_eq(const fsid_t *a, const fsid_t *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static struct fsmark *fs_find(struct tg_watch *w, const fsid_t *fsid)
{
	for (size_t i = 0; i < w->n_fs; i++)
		if (fsid_eq(&w->fs[i].fsid, fsid))
			return &w->fs[i];
	return NULL;
}

/* Can we turn handles of this filesystem back into paths? */
static bool handles_work(const char *dir, int mount_fd)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} u;
	int mount_id, fd;

	u.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, dir, &u.fh, &mount_id, 0) < 0)
		return false;
	fd = open_by_handle_at(mount_fd, &u.fh, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* fanotify on every filesystem holding a root; false when none could be marked. */
static bool fanotify_setup(struct tg_watch *w)
{
	w->ffd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME,
			       O_RDONLY | O_CLOEXEC | O_LARGEFILE);
	if (w->ffd < 0)
		return false;
	for (size_t i = 0; i < w->n_roots && w->n_fs < MAX_FS; i++) {
		struct statfs sfs;
		int mfd;

		if (statfs(w->roots[i].path, &sfs) < 0 || fs_find(w, &sfs.f_fsid))
			continue;
		mfd = open(w->roots[i].path,
			   O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* not O_PATH: open_by_handle_at refuses it */
		if (mfd < 0)
			continue;
		if (!handles_work(w->roots[i].path, mfd) ||
		    fanotify_mark(w->ffd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_WATCH_MASK, AT_FDCWD,
				  w->roots[i].path) < 0) {
			close(mfd);
			continue;
		}
		w->fs[w->n_fs].fsid = sfs.f_fsid;
		w->fs[w->n_fs].mount_fd = mfd;
		w->n_fs++;
	}
	if (w->n_fs == 0) {
		close(w->ffd);
		w->ffd = -1;
		return false;
	}
	w->dcache = calloc(DCACHE_SIZE, sizeof(*w->dcache));
	if (!w->dcache) {
		close(w->ffd);
		w->ffd = -1;
		return false;
	}
	return true;
}

static bool dir_on_fanotify(struct tg_watch *w, const char *path)
{
	struct statfs sfs;

	return w->n_fs && statfs(path, &sfs) == 0 && fs_find(w, &sfs.f_fsid);
}

int tg_watch_new_flags(const struct tg_compiled *c, unsigned flags, struct tg_watch **ret)
{
	const struct priv *pv = c ? c->priv : NULL;
	struct tg_watch *w;
	int r = 0;

	if (!pv || !pv->scanned ||
	    (pv->rules.n_sha == 0 && pv->rules.n_exe_glob == 0 && pv->rules.n_script_glob == 0)) {
		*ret = NULL;
		return 0;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->c = c;
	w->pv = pv;
	w->ffd = -1;
	w->roots = pv->scan.root_dirs;
	w->n_roots = pv->scan.n_root_dirs;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->epfd < 0 || w->ifd < 0) {
		r = -errno;
		goto fail;
	}
	if (!(flags & TG_WATCH_NO_FANOTIFY))
		(void)fanotify_setup(w);
	for (size_t i = 0; i < pv->scan.n_dirs && r >= 0; i++)
		if (!dir_on_fanotify(w, pv->scan.dirs[i].path))
			r = watch_add_dir(w, pv->scan.dirs[i].path, pv->scan.dirs[i].tree,
					  pv->scan.dirs[i].depth);
	for (size_t i = 0; i < pv->scan.n_hits && r >= 0; i++)
		r = live_add(w, &pv->scan.hits[i], false);
	if (r < 0)
		goto fail;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->ifd,
		      &(struct epoll_event){.events = EPOLLIN, .data.fd = w->ifd}) < 0 ||
	    (w->ffd >= 0 && epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->ffd,
				      &(struct epoll_event){.events = EPOLLIN, .data.fd = w->ffd}) < 0)) {
		r = -errno;
		goto fail;
	}
	*ret = w;
	return 0;
fail:
	tg_watch_free(w);
	return r;
}

int tg_watch_new(const struct tg_compiled *c, struct tg_watch **ret)
{
	return tg_watch_new_flags(c, 0, ret);
}

struct keyset {
	struct tg_abi_inode_key *v;
	size_t n, cap;
};

static int keyset_add(struct keyset *ks, const struct tg_abi_inode_key *k)
{
	for (size_t i = 0; i < ks->n; i++)
		if (ikey_cmp(&ks->v[i], k) == 0)
			return 0;
	if (grow((void **)&ks->v, &ks->cap, ks->n, sizeof(*ks->v)) < 0)
		return -ENOMEM;
	ks->v[ks->n++] = *k;
	return 0;
}

/* Does path still name the inode of key? */
static bool path_names(const char *path, const struct tg_abi_inode_key *key)
{
	struct stat st;

	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	return (uint64_t)st.st_ino == key->ino &&
	       tg_abi_dev_from_user(major(st.st_dev), minor(st.st_dev)) == key->dev;
}

/* Set the entry of key to what the live paths naming it say now. */
static int recompute(struct tg_watch *w, const struct tg_abi_inode_key *key, const char *why_path,
		     tg_watch_update_fn fn, void *userdata)
{
	struct crefs rs = {0};
	struct tg_abi_refs refs;
	const char *path = why_path;
	uint16_t iflags = 0;
	int r;

	for (size_t i = 0; i < w->n_live;) {
		struct live *l = &w->live[i];
		struct cref ref;

		if (ikey_cmp(&l->key, key) != 0) {
			i++;
			continue;
		}
		if (!path_names(l->path, key)) {
			live_remove(w, i);
			continue;
		}
		if (l->tool == TG_SCAN_TOOL_INTERP) {
			iflags |= l->matcher;
			path = l->path;
			i++;
			continue;
		}
		ref = (struct cref){.tool = l->tool, .matcher = l->matcher, .rank = w->pv->rank[l->tool]};
		if (crefs_add(&rs, &ref) < 0) {
			free(rs.v);
			return -ENOMEM;
		}
		path = l->path;
		i++;
	}
	if (rs.n == 0 && !iflags) {
		r = fn(key, NULL, why_path, userdata);
	} else {
		memset(&refs, 0, sizeof(refs));
		crefs_to_abi(&rs, &refs);
		refs.flags |= iflags;
		r = fn(key, &refs, path, userdata);
	}
	free(rs.v);
	return r;
}

/* path changed, appeared or vanished: re-evaluate it and every key it touched. */
static int watch_path(struct tg_watch *w, const char *path, bool gone, tg_watch_update_fn fn, void *userdata,
		      int *count)
{
	struct tg_scan_result acc = {0};
	struct keyset ks = {0};
	int r = 0;

	for (size_t i = 0; i < w->n_live;) {
		if (strcmp(w->live[i].path, path) == 0) {
			r = keyset_add(&ks, &w->live[i].key);
			if (r < 0)
				goto out;
			live_remove(w, i);
			continue;
		}
		i++;
	}
	if (!gone) {
		r = tg_scan_path(&w->pv->rules, w->pv->hc, path, &acc);
		if (r < 0 && r != -ENOENT && r != -ENOTDIR)
			goto out;
		r = 0;
		for (size_t i = 0; i < acc.n_hits && r >= 0; i++)
			if (acc.hits[i].kind == TG_SCAN_HIT_INODE) {
				struct tg_abi_inode_key k = {.dev = acc.hits[i].dev,
							     .space = acc.hits[i].space,
							     .ino = acc.hits[i].ino};

				r = live_add(w, &acc.hits[i], true);
				if (r >= 0)
					r = keyset_add(&ks, &k);
			}
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < ks.n && r >= 0; i++) {
		r = recompute(w, &ks.v[i], path, fn, userdata);
		if (r >= 0)
			(*count)++;
	}
out:
	free(ks.v);
	tg_scan_result_free(&acc);
	return r;
}

/* A new directory in a tree (created or moved in): watch it (inotify) and
 * look at what it already holds. depth: of the new directory. */
static int watch_new_dir(struct tg_watch *w, const char *path, unsigned depth, bool add_watches,
			 tg_watch_update_fn fn, void *userdata, int *count)
{
	struct tg_scan_result res = {0};
	struct tg_scan_options so = {0};
	const char *roots[1] = {path};
	int r;

	if (depth > w->pv->scan_max_depth)
		return 0;
	so.extra_roots = roots;
	so.n_extra_roots = 1;
	so.no_default_roots = true;
	so.no_env = true;
	so.max_depth = w->pv->scan_max_depth - depth;
	if (so.max_depth == 0)
		return watch_add_dir(w, path, true, depth); /* its files only: still within depth */
	so.max_entries = 100000;
	so.max_ns = 5ull * 1000000000ull;
	so.hashcache = w->pv->hc;
	r = tg_scan_run(&w->pv->rules, &so, &res);
	for (size_t i = 0; add_watches && i < res.n_dirs && r >= 0; i++)
		r = watch_add_dir(w, res.dirs[i].path, true, depth + res.dirs[i].depth);
	/* each file found goes through the common path (keeps the live set right) */
	for (size_t i = 0; i < res.n_hits && r >= 0; i++)
		if (res.hits[i].kind == TG_SCAN_HIT_INODE)
			r = watch_path(w, res.hits[i].path, false, fn, userdata, count);
	tg_scan_result_free(&res);
	return r;
}

static int rescan_dir(struct tg_watch *w, const char *dir, tg_watch_update_fn fn, void *userdata, int *count)
{
	struct dirent *de;
	DIR *d;
	int r = 0;

	d = opendir(dir);
	if (!d)
		return 0;
	while (r >= 0 && (de = readdir(d))) {
		char *p;

		if (de->d_type == DT_DIR)
			continue;
		if (asprintf(&p, "%s/%s", strcmp(dir, "/") ? dir : "", de->d_name) < 0) {
			r = -ENOMEM;
			break;
		}
		r = watch_path(w, p, false, fn, userdata, count);
		free(p);
	}
	closedir(d);
	return r;
}

/* Events were lost: look at every watched directory's files again. */
static int watch_rescan(struct tg_watch *w, tg_watch_update_fn fn, void *userdata, int *count)
{
	const struct tg_scan_result *sr = &w->pv->scan;
	int r = 0;

	for (size_t i = 0; i < w->n_dirs && r >= 0; i++)
		if (w->dirs[i].wd >= 0)
			r = rescan_dir(w, w->dirs[i].path, fn, userdata, count);
	/* fanotify covers the scanned directories, not inotify */
	for (size_t i = 0; w->n_fs && i < sr->n_dirs && r >= 0; i++)
		if (dir_on_fanotify(w, sr->dirs[i].path))
			r = rescan_dir(w, sr->dirs[i].path, fn, userdata, count);
	return r;
}

static int inotify_drain(struct tg_watch *w, tg_watch_update_fn fn, void *userdata, int *count,
			 bool *overflow)
{
	char buf[16 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	int r = 0;

	for (;;) {
		ssize_t n = read(w->ifd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		if (n == 0)
			return 0;
		for (char *p = buf; p < buf + n && r >= 0;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			struct wdir *d;
			char *path;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				*overflow = true;
				continue;
			}
			d = watch_find(w, ev->wd);
			if (!d)
				continue;
			if (ev->mask & IN_IGNORED) {
				d->wd = -1;
				if (w->n_active)
					w->n_active--;
				continue;
			}
			if (!ev->len)
				continue;
			if (asprintf(&path, "%s/%s", strcmp(d->path, "/") ? d->path : "", ev->name) < 0)
				return -ENOMEM;
			if (ev->mask & IN_ISDIR) {
				if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && d->tree)
					r = watch_new_dir(w, path, d->depth + 1, true, fn, userdata, count);
			} else {
				r = watch_path(w, path, (ev->mask & (IN_DELETE | IN_MOVED_FROM)) != 0, fn,
					       userdata, count);
			}
			free(path);
		}
		if (r < 0)
			return r;
	}
}

static uint64_t fnv1a(const void *a, size_t alen, const void *b, size_t blen)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < alen; i++)
		h = (h ^ ((const uint8_t *)a)[i]) * 0x100000001b3ull;
	for (size_t i = 0; i < blen; i++)
		h = (h ^ ((const uint8_t *)b)[i]) * 0x100000001b3ull;
	return h ? h : 1;
}

static void dcache_clear(struct tg_watch *w)
{
	for (size_t i = 0; i < DCACHE_SIZE; i++) {
		free(w->dcache[i].path);
		w->dcache[i] = (struct dcache_ent){0};
	}
	w->n_dcache = 0;
}

/* Is dir (a realpath) a bin root, or inside a tree root within the scan depth? */
static bool classify_dir(const struct tg_watch *w, const char *dir, bool *ret_tree, unsigned *ret_depth)
{
	for (size_t i = 0; i < w->n_roots; i++) {
		const char *root = w->roots[i].path;
		size_t len = strlen(root);
		unsigned depth = 0;

		if (strcmp(dir, root) == 0) {
			*ret_tree = w->roots[i].tree;
			*ret_depth = 0;
			return true;
		}
		if (!w->roots[i].tree || strncmp(dir, root, len) != 0 || (dir[len] != '/' && len != 1))
			continue;
		for (const char *s = dir + len; *s; s++)
			if (*s == '/')
				depth++;
		if (len == 1)
			depth++;
		if (depth <= w->pv->scan_max_depth) {
			*ret_tree = true;
			*ret_depth = depth;
			return true;
		}
	}
	return false;
}

/* Directory of a fanotify event -> its entry in the cache (path NULL when not
 * ours). fsid: 8 bytes; fh: a struct file_handle with hb handle bytes (both
 * possibly unaligned in the event buffer). */
static const struct dcache_ent *resolve_dir(struct tg_watch *w, const char *fsid_bytes, const char *fh,
					    unsigned int hb)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} u;
	struct fsmark *fs;
	struct dcache_ent *e;
	char proc[64], path[PATH_MAX];
	fsid_t fsid;
	uint64_t h;
	size_t i;
	ssize_t n;
	int fd;

	if (hb > MAX_HANDLE_SZ)
		return NULL;
	memcpy(u.buf, fh, sizeof(struct file_handle) + hb);
	memcpy(&fsid, fsid_bytes, sizeof(fsid));
	h = fnv1a(&fsid, sizeof(fsid), u.buf, sizeof(struct file_handle) + hb);
	i = h % DCACHE_SIZE;
	while (w->dcache[i].h) {
		if (w->dcache[i].h == h)
			return &w->dcache[i];
		i = (i + 1) % DCACHE_SIZE;
	}
	if (w->n_dcache >= DCACHE_SIZE * 3 / 4) {
		dcache_clear(w);
		i = h % DCACHE_SIZE;
	}
	e = &w->dcache[i];
	*e = (struct dcache_ent){.h = h};
	w->n_dcache++;

	fs = fs_find(w, &fsid);
	if (!fs)
		return e;
	fd = open_by_handle_at(fs->mount_fd, &u.fh, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return e;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, path, sizeof(path) - 1);
	close(fd);
	if (n <= 0 || path[0] != '/')
		return e;
	path[n] = '\0';
	/* With sha256 rules a renamed copy may be written anywhere: look at new
	 * files in every directory of the marked filesystems (hashing is still
	 * limited to executables by watch_path), but recurse only in roots. */
	if (classify_dir(w, path, &e->tree, &e->depth) || w->pv->rules.n_sha)
		e->path = strdup(path);
	return e;
}

/* One fanotify event (FID mode): the kernel aligns records to 4 bytes only,
 * so every field is copied out rather than read in place. */
static int fanotify_event(struct tg_watch *w, const char *ev, size_t len, tg_watch_update_fn fn,
			  void *userdata, int *count, bool *overflow)
{
	struct fanotify_event_metadata md;
	struct fanotify_event_info_header hdr;
	const char *fid = NULL, *fh, *name;
	const struct dcache_ent *d;
	unsigned int hb;
	char *path;
	int r = 0;

	memcpy(&md, ev, sizeof(md));
	if (md.fd >= 0)
		close(md.fd);
	if (md.mask & FAN_Q_OVERFLOW) {
		*overflow = true;
		return 0;
	}
	for (size_t off = md.metadata_len; off + sizeof(hdr) <= len;) {
		memcpy(&hdr, ev + off, sizeof(hdr));
		if (hdr.len < sizeof(hdr) || off + hdr.len > len)
			break;
		if (hdr.info_type == FAN_EVENT_INFO_TYPE_DFID_NAME &&
		    hdr.len >= sizeof(struct fanotify_event_info_fid) + sizeof(struct file_handle))
			fid = ev + off;
		if (fid)
			break;
		off += hdr.len;
	}
	if (!fid)
		return 0;
	memcpy(&hdr, fid, sizeof(hdr));
	fh = fid + offsetof(struct fanotify_event_info_fid, handle);
	memcpy(&hb, fh + offsetof(struct file_handle, handle_bytes), sizeof(hb));
	name = fh + sizeof(struct file_handle) + hb;
	if (name >= fid + hdr.len || !memchr(name, '\0', (size_t)(fid + hdr.len - name)))
		return 0;
	if ((md.mask & FAN_ONDIR) && (md.mask & (FAN_MOVED_FROM | FAN_MOVED_TO | FAN_DELETE)))
		dcache_clear(w); /* a directory renamed or removed: cached paths may be stale */
	d = resolve_dir(w, fid + offsetof(struct fanotify_event_info_fid, fsid), fh, hb);
	if (!d || !d->path || !*name || strcmp(name, ".") == 0)
		return 0;
	if (asprintf(&path, "%s/%s", strcmp(d->path, "/") ? d->path : "", name) < 0)
		return -ENOMEM;
	if (md.mask & FAN_ONDIR) {
		if ((md.mask & (FAN_CREATE | FAN_MOVED_TO)) && d->tree)
			r = watch_new_dir(w, path, d->depth + 1, false, fn, userdata, count);
	} else {
		r = watch_path(w, path, (md.mask & (FAN_DELETE | FAN_MOVED_FROM)) != 0, fn, userdata, count);
	}
	free(path);
	return r;
}

static int fanotify_drain(struct tg_watch *w, tg_watch_update_fn fn, void *userdata, int *count,
			  bool *overflow)
{
	char buf[16 * 1024] __attribute__((aligned(8)));
	int r = 0;

	for (;;) {
		ssize_t n = read(w->ffd, buf, sizeof(buf));
		size_t off = 0;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		if (n == 0)
			return 0;
		while (r >= 0 && off + sizeof(struct fanotify_event_metadata) <= (size_t)n) {
			struct fanotify_event_metadata md;

			memcpy(&md, buf + off, sizeof(md));
			if (md.vers != FANOTIFY_METADATA_VERSION)
				return -EPROTO;
			if (md.event_len < sizeof(md) || off + md.event_len > (size_t)n)
				break;
			r = fanotify_event(w, buf + off, md.event_len, fn, userdata, count, overflow);
			off += md.event_len;
		}
		if (r < 0)
			return r;
	}
}

int tg_watch_process(struct tg_watch *w, tg_watch_update_fn fn, void *userdata)
{
	int count = 0, r;
	bool overflow = false;

	if (!w)
		return 0;
	r = inotify_drain(w, fn, userdata, &count, &overflow);
	if (r >= 0 && w->ffd >= 0)
		r = fanotify_drain(w, fn, userdata, &count, &overflow);
	if (r >= 0 && overflow)
		r = watch_rescan(w, fn, userdata, &count);
	return r < 0 ? r : count;
}
