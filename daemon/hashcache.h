/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SHA-256 of files with a bounded cache keyed by what changes when a file's
 * content can have changed: (dev, ino, size, mtime_ns, ctime_ns). ctime is in
 * the key because mtime can be set back by any owner (touch -d); ctime cannot.
 * Files larger than TG_HASH_MAX_FILE_SIZE are refused (-EFBIG): no AI tool is
 * that big, and hashing it would stall the daemon.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define TG_HASH_MAX_FILE_SIZE	     (1ull << 30) /* 1 GiB */
#define TG_HASHCACHE_DEFAULT_ENTRIES 65536u

struct tg_hashcache;

struct tg_hashcache_stats {
	uint64_t hits;	   /* answered from the cache */
	uint64_t computed; /* files actually read and hashed */
	uint64_t evicted;
	size_t entries;
};

/* max_entries is rounded up to a multiple of the associativity (4). */
int tg_hashcache_new(size_t max_entries, struct tg_hashcache **ret);
void tg_hashcache_free(struct tg_hashcache *hc);
/* The daemon's process-wide cache (created on first use; NULL on ENOMEM). */
struct tg_hashcache *tg_hashcache_default(void);

/* Hash an open regular file (read from offset 0 with pread). st may be NULL
 * (then fstat is done here). 0, -EFBIG, -EINVAL (not a regular file), -errno. */
int tg_hashcache_fd(struct tg_hashcache *hc, int fd, const struct stat *st, uint8_t ret_sha256[32]);
/* Open path (following symlinks: the file a path names), then as above. */
int tg_hashcache_path(struct tg_hashcache *hc, const char *path, uint8_t ret_sha256[32]);
void tg_hashcache_get_stats(const struct tg_hashcache *hc, struct tg_hashcache_stats *ret);
void tg_hashcache_clear(struct tg_hashcache *hc);

/* Keep the cache across restarts (the first apply after a start otherwise
 * hashes every executable again: seconds). The file is written atomically
 * (tmp + rename, mode 0600) and loaded only when it is a regular file owned
 * by the daemon's euid and not writable by group/others: a forged entry could
 * make a banned file look clean. A file of another format is ignored
 * (-EPROTO); at most the cache's capacity is loaded. 0 or -errno. */
int tg_hashcache_save(const struct tg_hashcache *hc, const char *path);
int tg_hashcache_load(struct tg_hashcache *hc, const char *path);

/* Uncached streaming SHA-256 of fd from offset 0 (at most max_bytes). */
int tg_sha256_fd(int fd, uint64_t max_bytes, uint8_t ret_sha256[32]);
/* 64 lower-case hex digits + NUL into buf (>= 65 bytes); returns buf. */
const char *tg_sha256_hex(const uint8_t sha256[32], char *buf, size_t len);
