/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * File hashing for sha256 rules. The cache is set-associative (4 ways, LRU
 * inside a set): bounded memory, O(1) lookups, no rehashing.
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "hashcache.h"

#define WAYS	   4u
#define READ_CHUNK (256u * 1024u)

struct entry {
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
	uint64_t last_used; /* 0 = empty */
	uint8_t sha256[32];
};

struct tg_hashcache {
	struct entry *v;
	size_t n_sets;
	uint64_t tick;
	struct tg_hashcache_stats stats;
};

int tg_hashcache_new(size_t max_entries, struct tg_hashcache **ret)
{
	struct tg_hashcache *hc;

	if (max_entries == 0)
		return -EINVAL;
	hc = calloc(1, sizeof(*hc));
	if (!hc)
		return -ENOMEM;
	hc->n_sets = (max_entries + WAYS - 1) / WAYS;
	hc->v = calloc(hc->n_sets * WAYS, sizeof(*hc->v));
	if (!hc->v) {
		free(hc);
		return -ENOMEM;
	}
	*ret = hc;
	return 0;
}

void tg_hashcache_free(struct tg_hashcache *hc)
{
	if (!hc)
		return;
	free(hc->v);
	free(hc);
}

struct tg_hashcache *tg_hashcache_default(void)
{
	static struct tg_hashcache *def;

	if (!def && tg_hashcache_new(TG_HASHCACHE_DEFAULT_ENTRIES, &def) < 0)
		def = NULL;
	return def;
}

void tg_hashcache_clear(struct tg_hashcache *hc)
{
	if (!hc)
		return;
	memset(hc->v, 0, hc->n_sets * WAYS * sizeof(*hc->v));
	hc->stats.entries = 0;
}

void tg_hashcache_get_stats(const struct tg_hashcache *hc, struct tg_hashcache_stats *ret)
{
	if (hc)
		*ret = hc->stats;
	else
		memset(ret, 0, sizeof(*ret));
}

const char *tg_sha256_hex(const uint8_t sha256[32], char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	if (len < 65) {
		if (len)
			buf[0] = '\0';
		return buf;
	}
	for (size_t i = 0; i < 32; i++) {
		buf[2 * i] = hex[sha256[i] >> 4];
		buf[2 * i + 1] = hex[sha256[i] & 15];
	}
	buf[64] = '\0';
	return buf;
}

int tg_sha256_fd(int fd, uint64_t max_bytes, uint8_t ret_sha256[32])
{
	EVP_MD_CTX *ctx;
	uint8_t *buf;
	uint64_t total = 0;
	unsigned int mdlen = 0;
	int r = 0;

	buf = malloc(READ_CHUNK);
	ctx = EVP_MD_CTX_new();
	if (!buf || !ctx) {
		r = -ENOMEM;
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = -EIO;
		goto out;
	}
	for (;;) {
		ssize_t n = pread(fd, buf, READ_CHUNK, (off_t)total);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > max_bytes) {
			r = -EFBIG;
			goto out;
		}
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			r = -EIO;
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(ctx, ret_sha256, &mdlen) != 1 || mdlen != 32)
		r = -EIO;
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return r;
}

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static size_t set_of(const struct tg_hashcache *hc, dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ ((uint64_t)dev * 0xc2b2ae3d27d4eb4full);

	h ^= h >> 29;
	return (size_t)(h % hc->n_sets);
}

static bool entry_is(const struct entry *e, const struct stat *st)
{
	return e->last_used && e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
	       e->mtime_ns == ts_ns(&st->st_mtim) && e->ctime_ns == ts_ns(&st->st_ctim);
}

int tg_hashcache_fd(struct tg_hashcache *hc, int fd, const struct stat *st, uint8_t ret_sha256[32])
{
	struct stat st_buf, after;
	struct entry *set = NULL, *victim;
	uint8_t sha[32];
	int r;

	if (!st) {
		if (fstat(fd, &st_buf) < 0)
			return -errno;
		st = &st_buf;
	}
	if (!S_ISREG(st->st_mode))
		return -EINVAL;
	if ((uint64_t)st->st_size > TG_HASH_MAX_FILE_SIZE)
		return -EFBIG;

	if (hc) {
		set = &hc->v[set_of(hc, st->st_dev, st->st_ino) * WAYS];
		for (unsigned i = 0; i < WAYS; i++)
			if (entry_is(&set[i], st)) {
				set[i].last_used = ++hc->tick;
				hc->stats.hits++;
				memcpy(ret_sha256, set[i].sha256, 32);
				return 0;
			}
	}

	r = tg_sha256_fd(fd, TG_HASH_MAX_FILE_SIZE, sha);
	if (r < 0)
		return r;
	if (!hc) {
		memcpy(ret_sha256, sha, 32);
		return 0;
	}
	hc->stats.computed++;
	/* Written while we read: the digest may describe neither version; do not cache it. */
	if (fstat(fd, &after) < 0 || !entry_is(&(struct entry){.dev = st->st_dev,
							       .ino = st->st_ino,
							       .size = st->st_size,
							       .mtime_ns = ts_ns(&st->st_mtim),
							       .ctime_ns = ts_ns(&st->st_ctim),
							       .last_used = 1},
					       &after)) {
		memcpy(ret_sha256, sha, 32);
		return 0;
	}

	victim = &set[0];
	for (unsigned i = 0; i < WAYS; i++) {
		/* the same inode with older metadata: replace it in place */
		if (set[i].last_used && set[i].dev == st->st_dev && set[i].ino == st->st_ino) {
			victim = &set[i];
			break;
		}
		if (set[i].last_used < victim->last_used)
			victim = &set[i];
	}
	if (victim->last_used && !(victim->dev == st->st_dev && victim->ino == st->st_ino))
		hc->stats.evicted++;
	else if (!victim->last_used)
		hc->stats.entries++;
	*victim = (struct entry){
	    .dev = st->st_dev,
	    .ino = st->st_ino,
	    .size = st->st_size,
	    .mtime_ns = ts_ns(&st->st_mtim),
	    .ctime_ns = ts_ns(&st->st_ctim),
	    .last_used = ++hc->tick,
	};
	memcpy(victim->sha256, sha, 32);
	memcpy(ret_sha256, sha, 32);
	return 0;
}

int tg_hashcache_path(struct tg_hashcache *hc, const char *path, uint8_t ret_sha256[32])
{
	struct stat st;
	int fd, r;

	/* O_NONBLOCK: never hang on a FIFO that replaced the file */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else
		r = tg_hashcache_fd(hc, fd, &st, ret_sha256);
	close(fd);
	return r;
}

/* ---------- persistence ---------- */

#define FILE_MAGIC   0x43484754u /* "TGHC" little-endian */
#define FILE_VERSION 1u

struct file_header {
	uint32_t magic;
	uint32_t version;
	uint32_t entry_size;
	uint32_t n;
};

struct file_entry {
	uint64_t dev;
	uint64_t ino;
	int64_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
	uint8_t sha256[32];
};

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int tg_hashcache_save(const struct tg_hashcache *hc, const char *path)
{
	struct file_header h = {
	    .magic = FILE_MAGIC, .version = FILE_VERSION, .entry_size = sizeof(struct file_entry)};
	struct file_entry *v;
	size_t total = hc->n_sets * WAYS, n = 0;
	char *tmp = NULL;
	int fd, r;

	v = calloc(total ? total : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < total; i++) {
		const struct entry *e = &hc->v[i];

		if (!e->last_used)
			continue;
		v[n++] = (struct file_entry){
		    .dev = (uint64_t)e->dev,
		    .ino = (uint64_t)e->ino,
		    .size = (int64_t)e->size,
		    .mtime_ns = e->mtime_ns,
		    .ctime_ns = e->ctime_ns,
		};
		memcpy(v[n - 1].sha256, e->sha256, 32);
	}
	h.n = (uint32_t)n;
	if (asprintf(&tmp, "%s.tmp", path) < 0) {
		free(v);
		return -ENOMEM;
	}
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = write_all(fd, &h, sizeof(h));
	if (r >= 0)
		r = write_all(fd, v, n * sizeof(*v));
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r >= 0)
		r = -errno;
	if (r >= 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
out:
	free(tmp);
	free(v);
	return r;
}

int tg_hashcache_load(struct tg_hashcache *hc, const char *path)
{
	struct file_header h;
	struct file_entry *v = NULL;
	struct stat st;
	size_t cap = hc->n_sets * WAYS, n;
	ssize_t got;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022)) {
		r = -EPERM;
		goto out;
	}
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.magic != FILE_MAGIC ||
	    h.version != FILE_VERSION || h.entry_size != sizeof(struct file_entry) ||
	    (uint64_t)st.st_size != sizeof(h) + (uint64_t)h.n * sizeof(struct file_entry)) {
		r = -EPROTO;
		goto out;
	}
	n = h.n < cap ? h.n : cap;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		r = -ENOMEM;
		goto out;
	}
	got = pread(fd, v, n * sizeof(*v), sizeof(h));
	if (got != (ssize_t)(n * sizeof(*v))) {
		r = got < 0 ? -errno : -EPROTO;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct entry *set = &hc->v[set_of(hc, (dev_t)v[i].dev, (ino_t)v[i].ino) * WAYS],
			     *victim = &set[0];

		for (unsigned k = 0; k < WAYS; k++) {
			if (set[k].last_used && set[k].dev == (dev_t)v[i].dev &&
			    set[k].ino == (ino_t)v[i].ino) {
				victim = &set[k];
				break;
			}
			if (set[k].last_used < victim->last_used)
				victim = &set[k];
		}
		if (!victim->last_used)
			hc->stats.entries++;
		*victim = (struct entry){
		    .dev = (dev_t)v[i].dev,
		    .ino = (ino_t)v[i].ino,
		    .size = (off_t)v[i].size,
		    .mtime_ns = v[i].mtime_ns,
		    .ctime_ns = v[i].ctime_ns,
		    .last_used = ++hc->tick,
		};
		memcpy(victim->sha256, v[i].sha256, 32);
	}
out:
	free(v);
	close(fd);
	return r;
}
