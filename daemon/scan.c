/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Walking install locations for sha256 rules and complex globs (see scan.h
 * for where and why). Bounded by depth, entries, time and hits; every limit
 * that stops a scan says so in the result's warnings.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "policy.h"
#include "scan.h"
#include "toolguard_abi.h"

#define MAX_WARNINGS	64u
#define MAX_HOMES	10000u
#define NPMRC_MAX_BYTES (64u * 1024u)

/* ---------- rules ---------- */

static int rule_cmp(const void *a, const void *b)
{
	const struct tg_scan_rule *x = a, *y = b;
	int r;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->kind == TG_SCAN_SHA256) {
		r = memcmp(x->sha256, y->sha256, 32);
		if (r)
			return r;
	}
	if (x->tool != y->tool)
		return x->tool < y->tool ? -1 : 1;
	if (x->matcher != y->matcher)
		return x->matcher < y->matcher ? -1 : 1;
	return 0;
}

void tg_scan_rules_prepare(struct tg_scan_rules *rules)
{
	if (rules->n)
		qsort(rules->v, rules->n, sizeof(*rules->v), rule_cmp);
	rules->n_sha = rules->n_exe_glob = rules->n_script_glob = 0;
	rules->sha_any_size = false;
	for (size_t i = 0; i < rules->n; i++)
		switch (rules->v[i].kind) {
		case TG_SCAN_EXE_GLOB:
			rules->n_exe_glob++;
			break;
		case TG_SCAN_SCRIPT_GLOB:
			rules->n_script_glob++;
			break;
		case TG_SCAN_SHA256:
			rules->n_sha++;
			if (!rules->v[i].size)
				rules->sha_any_size = true;
			break;
		}
	rules->sorted = true;
}

/* Can a file of this size match a sha256 rule? (Only interpreter copies have a known size.) */
static bool sha_size_possible(const struct tg_scan_rules *rules, uint64_t size)
{
	const struct tg_scan_rule *base = rules->v + rules->n_exe_glob + rules->n_script_glob;

	if (rules->sha_any_size)
		return true;
	for (size_t i = 0; i < rules->n_sha; i++)
		if (base[i].size == size)
			return true;
	return false;
}

/* ---------- result ---------- */

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

__attribute__((format(printf, 2, 3))) static void warn(struct tg_scan_result *r, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (r->n_warnings >= MAX_WARNINGS)
		return;
	if (grow((void **)&r->warnings, &r->cap_warnings, r->n_warnings, sizeof(char *)) < 0)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (s)
		r->warnings[r->n_warnings++] = s;
}

static int add_hit(struct tg_scan_result *r, uint8_t kind, uint8_t space, const struct tg_scan_rule *rule,
		   uint32_t dev, uint64_t ino, const char *path)
{
	struct tg_scan_hit *h;
	char *p;

	if (r->n_hits >= TG_SCAN_MAX_HITS) {
		if (!r->truncated)
			warn(r,
			     "scan: more than %u matching files; the rest are not in the kernel's maps "
			     "(make the policy's globs narrower)",
			     TG_SCAN_MAX_HITS);
		r->truncated = true;
		return 0;
	}
	if (grow((void **)&r->hits, &r->cap_hits, r->n_hits, sizeof(*r->hits)) < 0)
		return -ENOMEM;
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	h = &r->hits[r->n_hits++];
	*h = (struct tg_scan_hit){
	    .kind = kind,
	    .space = space,
	    .tool = rule->tool,
	    .matcher = rule->matcher,
	    .dev = dev,
	    .ino = ino,
	    .path = p,
	};
	return 0;
}

void tg_scan_result_free(struct tg_scan_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_hits; i++)
		free(r->hits[i].path);
	free(r->hits);
	for (size_t i = 0; i < r->n_dirs; i++)
		free(r->dirs[i].path);
	free(r->dirs);
	for (size_t i = 0; i < r->n_root_dirs; i++)
		free(r->root_dirs[i].path);
	free(r->root_dirs);
	for (size_t i = 0; i < r->n_warnings; i++)
		free(r->warnings[i]);
	free(r->warnings);
	memset(r, 0, sizeof(*r));
}

/* ---------- evaluating one file ---------- */

static uint32_t kdev(dev_t d)
{
	return tg_abi_dev_from_user(major(d), minor(d));
}

static int sha_cmp(const void *key, const void *elem)
{
	return memcmp(key, ((const struct tg_scan_rule *)elem)->sha256, 32);
}

/* Looks like something execve runs: ELF or a "#!" script. */
static bool exec_magic(int fd)
{
	unsigned char m[4];

	if (pread(fd, m, sizeof(m), 0) != (ssize_t)sizeof(m))
		return false;
	return (m[0] == 0x7f && m[1] == 'E' && m[2] == 'L' && m[3] == 'F') || (m[0] == '#' && m[1] == '!');
}

static int match_sha(const struct tg_scan_rules *rules, const uint8_t sha[32], uint32_t dev, uint64_t ino,
		     const char *path, struct tg_scan_result *acc)
{
	const struct tg_scan_rule *base = rules->v + rules->n_exe_glob + rules->n_script_glob;
	const struct tg_scan_rule *f;
	int r;

	f = bsearch(sha, base, rules->n_sha, sizeof(*base), sha_cmp);
	if (!f)
		return 0;
	while (f > base && memcmp(f[-1].sha256, sha, 32) == 0)
		f--;
	for (; f < base + rules->n_sha && memcmp(f->sha256, sha, 32) == 0; f++) {
		r = add_hit(acc, TG_SCAN_HIT_INODE,
			    f->tool == TG_SCAN_TOOL_INTERP ? TG_ABI_INODE_INTERP : TG_ABI_INODE_EXE, f, dev, ino,
			    path);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * A regular file at path (st from lstat/stat). dirfd/name, when given, open it
 * without following a symlink swapped in since the lstat.
 */
static int eval_regular(const struct tg_scan_rules *rules, struct tg_hashcache *hc, int dirfd,
			const char *name, const char *path, const struct stat *st, struct tg_scan_result *acc)
{
	bool exe = (st->st_mode & 0111) != 0;
	uint32_t dev = kdev(st->st_dev);
	size_t plen = strlen(path);
	int r;

	for (size_t i = 0; i < rules->n_exe_glob && exe; i++) {
		const struct tg_scan_rule *rule = &rules->v[i];

		if (tg_glob_match(rule->glob, path)) {
			r = add_hit(acc, TG_SCAN_HIT_INODE, TG_ABI_INODE_EXE, rule, dev, st->st_ino, path);
			if (r < 0)
				return r;
		}
	}
	for (size_t i = rules->n_exe_glob; i < rules->n_exe_glob + rules->n_script_glob; i++) {
		const struct tg_scan_rule *rule = &rules->v[i];

		if (!tg_glob_match(rule->glob, path))
			continue;
		r = add_hit(acc, TG_SCAN_HIT_INODE, TG_ABI_INODE_SCRIPT, rule, dev, st->st_ino, path);
		/* interpreter arguments are compared as strings by the kernel */
		if (r == 0 && plen < TG_ABI_STR_MAX)
			r = add_hit(acc, TG_SCAN_HIT_PATH, TG_ABI_SPACE_SCRIPT_PATH, rule, 0, 0, path);
		if (r < 0)
			return r;
	}
	if (rules->n_sha && exe && st->st_size >= 4 && (uint64_t)st->st_size <= TG_HASH_MAX_FILE_SIZE &&
	    sha_size_possible(rules, (uint64_t)st->st_size)) {
		int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
		struct stat fst;
		uint8_t sha[32];
		int fd;

		fd = dirfd >= 0 ? openat(dirfd, name, flags | O_NOFOLLOW) : open(path, flags);
		if (fd < 0)
			return 0; /* vanished or unreadable: nothing to say about it */
		if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) || fst.st_ino != st->st_ino ||
		    fst.st_dev != st->st_dev || !exec_magic(fd)) {
			close(fd);
			return 0;
		}
		r = tg_hashcache_fd(hc, fd, &fst, sha);
		close(fd);
		if (r < 0) {
			if (r == -ENOMEM)
				return r;
			return 0;
		}
		acc->n_hashed++;
		r = match_sha(rules, sha, dev, fst.st_ino, path, acc);
		if (r < 0)
			return r;
	}
	return 0;
}

static int eval_symlink(const struct tg_scan_rules *rules, struct tg_hashcache *hc, const char *path,
			struct tg_scan_result *acc)
{
	struct stat st;
	char *rp;
	size_t plen = strlen(path);
	int r = 0;

	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	/* the link's own path is "the path as invoked": exact string entries */
	if (plen < TG_ABI_STR_MAX) {
		for (size_t i = 0; i < rules->n_exe_glob + rules->n_script_glob; i++) {
			const struct tg_scan_rule *rule = &rules->v[i];
			bool is_exe = rule->kind == TG_SCAN_EXE_GLOB;

			if (is_exe && !(st.st_mode & 0111))
				continue;
			if (!tg_glob_match(rule->glob, path))
				continue;
			r = add_hit(acc, TG_SCAN_HIT_PATH,
				    is_exe ? TG_ABI_SPACE_EXE_PATH : TG_ABI_SPACE_SCRIPT_PATH, rule, 0, 0,
				    path);
			if (r < 0)
				return r;
		}
	}
	rp = realpath(path, NULL);
	if (!rp)
		return errno == ENOMEM ? -ENOMEM : 0;
	if (stat(rp, &st) == 0 && S_ISREG(st.st_mode))
		r = eval_regular(rules, hc, -1, NULL, rp, &st, acc);
	free(rp);
	return r;
}

int tg_scan_path(const struct tg_scan_rules *rules, struct tg_hashcache *hc, const char *path,
		 struct tg_scan_result *acc)
{
	struct stat st;

	if (!path || path[0] != '/')
		return -EINVAL;
	if (lstat(path, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode))
		return eval_regular(rules, hc, -1, NULL, path, &st, acc);
	if (S_ISLNK(st.st_mode))
		return eval_symlink(rules, hc, path, acc);
	return 0;
}

int tg_scan_fd(const struct tg_scan_rules *rules, struct tg_hashcache *hc, int fd, const char *path,
	       struct tg_scan_result *acc)
{
	struct stat st;
	uint32_t dev;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	dev = kdev(st.st_dev);
	for (size_t i = 0; path && i < rules->n_exe_glob; i++) {
		const struct tg_scan_rule *rule = &rules->v[i];

		if (tg_glob_match(rule->glob, path)) {
			r = add_hit(acc, TG_SCAN_HIT_INODE, TG_ABI_INODE_EXE, rule, dev, st.st_ino, path);
			if (r < 0)
				return r;
		}
	}
	if (rules->n_sha && sha_size_possible(rules, (uint64_t)st.st_size)) {
		uint8_t sha[32];

		r = tg_hashcache_fd(hc, fd, &st, sha);
		if (r < 0)
			return r;
		acc->n_hashed++;
		r = match_sha(rules, sha, dev, st.st_ino, path ? path : "", acc);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---------- the walk ---------- */

struct devino {
	dev_t dev;
	ino_t ino;
};

struct walk {
	const struct tg_scan_rules *rules;
	struct tg_hashcache *hc;
	struct tg_scan_result *res;
	unsigned max_depth;
	size_t max_entries;
	size_t max_watch_dirs;
	uint64_t deadline_ns;
	bool stop;
	dev_t skip_dev[3]; /* /proc /sys /dev filesystems */
	size_t n_skip_dev;
	/* visited directories: open addressing, grows */
	struct devino *seen;
	size_t n_seen, cap_seen;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t devino_hash(dev_t dev, ino_t ino, size_t cap)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev * 0xff51afd7ed558ccdull;

	return (size_t)((h ^ (h >> 31)) & (cap - 1));
}

/* 1 when newly added, 0 when already there, -ENOMEM. */
static int seen_add(struct walk *w, dev_t dev, ino_t ino)
{
	size_t i;

	if ((w->n_seen + 1) * 2 > w->cap_seen) {
		size_t ncap = w->cap_seen ? w->cap_seen * 2 : 1024;
		struct devino *nv = calloc(ncap, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		for (size_t k = 0; k < w->cap_seen; k++) {
			if (!w->seen[k].ino)
				continue;
			i = devino_hash(w->seen[k].dev, w->seen[k].ino, ncap);
			while (nv[i].ino)
				i = (i + 1) & (ncap - 1);
			nv[i] = w->seen[k];
		}
		free(w->seen);
		w->seen = nv;
		w->cap_seen = ncap;
	}
	i = devino_hash(dev, ino, w->cap_seen);
	while (w->seen[i].ino) {
		if (w->seen[i].dev == dev && w->seen[i].ino == ino)
			return 0;
		i = (i + 1) & (w->cap_seen - 1);
	}
	w->seen[i] = (struct devino){dev, ino ? ino : 1};
	w->n_seen++;
	return 1;
}

static bool skip_dev(const struct walk *w, dev_t dev)
{
	for (size_t i = 0; i < w->n_skip_dev; i++)
		if (w->skip_dev[i] == dev)
			return true;
	return false;
}

static int remember_dir(struct walk *w, const char *path, bool tree, unsigned depth)
{
	struct tg_scan_result *r = w->res;
	char *p;

	if (r->n_dirs >= w->max_watch_dirs)
		return 0;
	if (grow((void **)&r->dirs, &r->cap_dirs, r->n_dirs, sizeof(*r->dirs)) < 0)
		return -ENOMEM;
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	r->dirs[r->n_dirs++] = (struct tg_scan_dir){.path = p, .tree = tree, .depth = depth};
	return 0;
}

static bool over_limits(struct walk *w)
{
	if (w->stop)
		return true;
	if (w->res->n_entries >= w->max_entries) {
		warn(w->res,
		     "scan: stopped after %zu directory entries; files beyond are not in the kernel's "
		     "maps (raise the limit or narrow the scan roots)",
		     w->res->n_entries);
		w->stop = w->res->truncated = true;
	} else if ((w->res->n_entries & 255) == 0 && mono_ns() > w->deadline_ns) {
		warn(w->res,
		     "scan: stopped at its time budget after %zu directory entries; files beyond are not "
		     "in the kernel's maps",
		     w->res->n_entries);
		w->stop = w->res->truncated = true;
	}
	return w->stop;
}

/* Walk the open directory dfd (consumed) whose path is path[0..plen). */
static int walk_dir(struct walk *w, int dfd, char *path, size_t plen, unsigned depth, bool tree)
{
	struct dirent *de;
	DIR *d;
	int r = 0;

	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	w->res->n_dirs_walked++;
	r = remember_dir(w, path, tree, depth);
	while (r >= 0 && (de = readdir(d))) {
		const char *name = de->d_name;
		size_t nlen = strlen(name);
		struct stat st;

		if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
			continue;
		if (over_limits(w))
			break;
		w->res->n_entries++;
		if (plen + 1 + nlen >= PATH_MAX)
			continue;
		if (plen == 1) /* root "/" */
			memcpy(path + 1, name, nlen + 1);
		else {
			path[plen] = '/';
			memcpy(path + plen + 1, name, nlen + 1);
		}
		if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			goto next;
		if (S_ISDIR(st.st_mode)) {
			int sub;

			if (!tree || depth + 1 > w->max_depth || skip_dev(w, st.st_dev))
				goto next;
			r = seen_add(w, st.st_dev, st.st_ino);
			if (r <= 0)
				goto next;
			sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				r = walk_dir(w, sub, path, plen == 1 ? 1 + nlen : plen + 1 + nlen, depth + 1,
					     tree);
		} else if (S_ISREG(st.st_mode)) {
			r = eval_regular(w->rules, w->hc, dirfd(d), name, path, &st, w->res);
		} else if (S_ISLNK(st.st_mode)) {
			r = eval_symlink(w->rules, w->hc, path, w->res);
		}
	next:
		path[plen] = '\0';
	}
	path[plen] = '\0';
	closedir(d);
	return r < 0 ? r : 0;
}

/* ---------- roots ---------- */

struct root {
	char *path;
	bool tree;
	bool extra; /* configured root: walked first */
	dev_t dev;
	ino_t ino;
};

struct roots {
	struct root *v;
	size_t n, cap;
};

static int root_add(struct roots *rs, const char *path, bool tree)
{
	if (!path || path[0] != '/')
		return 0;
	if (grow((void **)&rs->v, &rs->cap, rs->n, sizeof(*rs->v)) < 0)
		return -ENOMEM;
	rs->v[rs->n].path = strdup(path);
	if (!rs->v[rs->n].path)
		return -ENOMEM;
	rs->v[rs->n].tree = tree;
	rs->v[rs->n].extra = false;
	rs->n++;
	return 0;
}

static int root_addf(struct roots *rs, bool tree, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int root_addf(struct roots *rs, bool tree, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	r = root_add(rs, s, tree);
	free(s);
	return r;
}

static void roots_free(struct roots *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free(rs->v[i].path);
	free(rs->v);
}

/* "prefix=..." lines of an npmrc: PREFIX/lib/node_modules (tree) and PREFIX/bin. */
static int npmrc_roots(struct roots *rs, const char *file, const char *home)
{
	char buf[NPMRC_MAX_BYTES + 1];
	ssize_t n;
	int fd, r = 0;
	char *line, *save = NULL;

	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, NPMRC_MAX_BYTES);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line && r >= 0; line = strtok_r(NULL, "\n", &save)) {
		char *v, *end;

		while (isspace((unsigned char)*line))
			line++;
		if (strncmp(line, "prefix", 6) != 0)
			continue;
		v = line + 6;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v != '=')
			continue;
		v++;
		while (*v == ' ' || *v == '\t' || *v == '"' || *v == '\'')
			v++;
		end = v + strlen(v);
		while (end > v && (isspace((unsigned char)end[-1]) || end[-1] == '"' || end[-1] == '\''))
			*--end = '\0';
		if (!*v)
			continue;
		if (home && v[0] == '~' && v[1] == '/') {
			r = root_addf(rs, true, "%s/%s/lib/node_modules", home, v + 2);
			if (r >= 0)
				r = root_addf(rs, false, "%s/%s/bin", home, v + 2);
		} else if (home && strncmp(v, "${HOME}/", 8) == 0) {
			r = root_addf(rs, true, "%s/%s/lib/node_modules", home, v + 8);
			if (r >= 0)
				r = root_addf(rs, false, "%s/%s/bin", home, v + 8);
		} else if (v[0] == '/') {
			r = root_addf(rs, true, "%s/lib/node_modules", v);
			if (r >= 0)
				r = root_addf(rs, false, "%s/bin", v);
		}
	}
	return r;
}

static int home_roots(struct roots *rs, const char *home)
{
	static const char *const trees[] = {
	    ".local/share",	    ".local/lib/node_modules",	 ".npm-global",
	    ".nvm/versions",	    ".bun/install/global",	 "node_modules",
	    ".vscode/extensions",   ".vscode-server/extensions", ".cursor/extensions",
	    ".windsurf/extensions",
	};
	static const char *const bins[] = {".local/bin", "bin", ".bun/bin", ".npm-global/bin"};
	char *rc;
	int r = 0;

	for (size_t i = 0; i < sizeof(trees) / sizeof(trees[0]) && r >= 0; i++)
		r = root_addf(rs, true, "%s/%s", home, trees[i]);
	for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]) && r >= 0; i++)
		r = root_addf(rs, false, "%s/%s", home, bins[i]);
	if (r < 0)
		return r;
	if (asprintf(&rc, "%s/.npmrc", home) < 0)
		return -ENOMEM;
	r = npmrc_roots(rs, rc, home);
	free(rc);
	return r;
}

static int default_roots(struct roots *rs)
{
	static const char *const bins[] = {"/usr/local/bin",  "/usr/bin",  "/bin",
					   "/usr/local/sbin", "/usr/sbin", "/sbin"};
	static const char *const trees[] = {"/usr/local/lib/node_modules", "/usr/lib/node_modules", "/opt"};
	const char *env_path = getenv("PATH");
	struct passwd *pw;
	size_t n_homes = 0;
	int r = 0;

	for (size_t i = 0; i < sizeof(trees) / sizeof(trees[0]) && r >= 0; i++)
		r = root_add(rs, trees[i], true);
	for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]) && r >= 0; i++)
		r = root_add(rs, bins[i], false);
	if (r >= 0 && env_path) {
		char *copy = strdup(env_path), *save = NULL;

		if (!copy)
			return -ENOMEM;
		for (char *d = strtok_r(copy, ":", &save); d && r >= 0; d = strtok_r(NULL, ":", &save))
			r = root_add(rs, d, false);
		free(copy);
	}
	if (r >= 0)
		r = npmrc_roots(rs, "/etc/npmrc", NULL);
	if (r >= 0)
		r = npmrc_roots(rs, "/usr/local/etc/npmrc", NULL);
	/* getpwent: the daemon is single-threaded; NSS sources beyond files are included */
	setpwent();
	while (r >= 0 && (pw = getpwent()) && n_homes < MAX_HOMES) {
		if (!(pw->pw_uid == 0 || (pw->pw_uid >= 1000 && pw->pw_uid != 65534)))
			continue;
		if (!pw->pw_dir || pw->pw_dir[0] != '/' || strcmp(pw->pw_dir, "/") == 0)
			continue;
		n_homes++;
		r = home_roots(rs, pw->pw_dir);
	}
	endpwent();
	return r;
}

static int env_roots(struct roots *rs)
{
	const char *e = getenv(TG_SCAN_ENV_EXTRA);
	char *copy, *save = NULL;
	int r = 0;

	if (!e || !*e)
		return 0;
	copy = strdup(e);
	if (!copy)
		return -ENOMEM;
	for (char *d = strtok_r(copy, ":", &save); d && r >= 0; d = strtok_r(NULL, ":", &save))
		r = root_add(rs, d, true);
	free(copy);
	return r;
}

static bool under_pseudo(const char *p)
{
	static const char *const pseudo[] = {"/proc", "/sys", "/dev"};

	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(pseudo[i]);

		if (strncmp(p, pseudo[i], n) == 0 && (p[n] == '\0' || p[n] == '/'))
			return true;
	}
	return false;
}

int tg_scan_run(const struct tg_scan_rules *rules, const struct tg_scan_options *opts,
		struct tg_scan_result *ret)
{
	static const struct tg_scan_options no_opts;
	struct roots rs = {0};
	struct walk w = {0};
	uint64_t start = mono_ns();
	char *path = NULL;
	int r = 0;

	if (!opts)
		opts = &no_opts;
	w.rules = rules;
	w.res = ret;
	w.hc = opts->hashcache ? opts->hashcache : tg_hashcache_default();
	w.max_depth = opts->max_depth ? opts->max_depth : TG_SCAN_DEFAULT_DEPTH;
	w.max_entries = opts->max_entries ? opts->max_entries : TG_SCAN_DEFAULT_ENTRIES;
	w.max_watch_dirs = opts->max_watch_dirs ? opts->max_watch_dirs : TG_SCAN_DEFAULT_WATCH_DIRS;
	w.deadline_ns = start + (opts->max_ns ? opts->max_ns : TG_SCAN_DEFAULT_NS);
	for (const char *const *p = (const char *const[]){"/proc", "/sys", "/dev", NULL}; *p; p++) {
		struct stat st;

		if (stat(*p, &st) == 0 && w.n_skip_dev < 3)
			w.skip_dev[w.n_skip_dev++] = st.st_dev;
	}
	if (rules->n == 0)
		goto out;

	for (size_t i = 0; i < opts->n_extra_roots && r >= 0; i++)
		r = root_add(&rs, opts->extra_roots[i], true);
	if (r >= 0 && !opts->no_env)
		r = env_roots(&rs);
	for (size_t i = 0; i < rs.n; i++)
		rs.v[i].extra = true;
	if (r >= 0 && !opts->no_default_roots)
		r = default_roots(&rs);
	if (r < 0)
		goto out;

	path = malloc(PATH_MAX);
	if (!path) {
		r = -ENOMEM;
		goto out;
	}
	/* configured roots, then bin directories (few entries, where commands
	 * live), then trees: users' trees come last and cannot starve the rest
	 * of the entry and time budget */
	for (int pass = 0; pass < 3 && r >= 0; pass++)
		for (size_t i = 0; i < rs.n && r >= 0; i++) {
			struct root *rt = &rs.v[i];
			struct stat st;
			char *rp;
			int fd;

			if (pass != (rt->extra ? 0 : rt->tree ? 2 : 1))
				continue;
			if (over_limits(&w))
				break;
			rp = realpath(rt->path, NULL);
			if (!rp)
				continue;
			if (under_pseudo(rp) || strlen(rp) >= PATH_MAX) {
				free(rp);
				continue;
			}
			fd = open(rp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0 || fstat(fd, &st) < 0 || skip_dev(&w, st.st_dev)) {
				if (fd >= 0)
					close(fd);
				free(rp);
				continue;
			}
			r = seen_add(&w, st.st_dev, st.st_ino);
			if (r <= 0) {
				close(fd);
				free(rp);
				continue;
			}
			strcpy(path, rp);
			free(rp);
			ret->n_roots++;
			r = grow((void **)&ret->root_dirs, &ret->cap_root_dirs, ret->n_root_dirs,
				 sizeof(*ret->root_dirs));
			if (r >= 0) {
				ret->root_dirs[ret->n_root_dirs].path = strdup(path);
				ret->root_dirs[ret->n_root_dirs].tree = rt->tree;
				ret->root_dirs[ret->n_root_dirs].depth = 0;
				if (ret->root_dirs[ret->n_root_dirs].path)
					ret->n_root_dirs++;
				else
					r = -ENOMEM;
			}
			if (r < 0) {
				close(fd);
				break;
			}
			r = walk_dir(&w, fd, path, strlen(path), 0, rt->tree);
		}
out:
	free(path);
	free(w.seen);
	roots_free(&rs);
	ret->duration_ns = mono_ns() - start;
	return r < 0 ? r : 0;
}
