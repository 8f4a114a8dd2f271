/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Finding files for rules the kernel cannot evaluate by itself: sha256 rules
 * (content) and path/script globs that do not reduce to exact/prefix/suffix
 * (COMPLEX). The scanner walks the places AI tools get installed and reports
 * (dev, ino) and exact-path hits; compile.c turns them into map entries.
 * The watcher (tg_watch_*, compile.h) keeps them current between loads.
 *
 * Where it looks (tg_scan_run with default roots):
 *  - "bin" roots, only their direct entries (symlinks followed to the file):
 *    every absolute directory in the daemon's PATH, /usr/local/bin /usr/bin
 *    /bin /usr/local/sbin /usr/sbin /sbin, each home's ~/.local/bin, ~/bin,
 *    ~/.bun/bin, and PREFIX/bin for every npm prefix found.
 *  - "tree" roots, walked to max_depth without following symlinked dirs:
 *    /usr/local/lib/node_modules /usr/lib/node_modules /opt, npm prefixes
 *    read from ~/.npmrc, /etc/npmrc, /usr/local/etc/npmrc ("prefix=" lines;
 *    `npm` itself is never run) as PREFIX/lib/node_modules, and in every home
 *    (root and uid >= 1000 from getpwent): ~/.local/share ~/.local/lib/node_modules
 *    ~/.npm-global ~/.nvm/versions ~/.bun/install/global ~/node_modules
 *    ~/.vscode/extensions ~/.vscode-server/extensions ~/.cursor/extensions
 *    ~/.windsurf/extensions.
 *  - extra tree roots: the options' roots and TOOLGUARD_SCAN_EXTRA (':'-separated).
 * Order: extra roots, bin roots, then trees (system ones before homes), so a
 * user's huge tree cannot use up the entry/time budget before the rest.
 * Never entered: /proc, /sys, /dev. A directory is walked once (dev/ino set),
 * so bind mounts and symlinks cannot loop it. Symlinked directories are not
 * followed; a symlink to a regular file is evaluated twice: its own path
 * against the globs (an exact string for the kernel: "the path as invoked")
 * and its target (realpath) as a file.
 *
 * Measured here (2 vCPU VM, ~4200 entries in 11 roots, 1320 ELF/#! files,
 * ~1 GB): 16 s with cold disk caches, 2.6-5.7 s with warm page cache but an
 * empty hash cache (first apply after start), 0.2-0.3 s on every later apply
 * (hash cache hits).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hashcache.h"

#define TG_SCAN_DEFAULT_DEPTH	   12u
#define TG_SCAN_DEFAULT_ENTRIES	   1000000u		    /* directory entries examined per scan */
#define TG_SCAN_DEFAULT_NS	   (120ull * 1000000000ull) /* time budget of one scan */
#define TG_SCAN_DEFAULT_WATCH_DIRS 8192u		    /* directories remembered for the watcher */
#define TG_SCAN_MAX_HITS	   200000u
#define TG_SCAN_ENV_EXTRA	   "TOOLGUARD_SCAN_EXTRA"

enum tg_scan_rule_kind {
	TG_SCAN_EXE_GLOB,    /* executables[i].path, COMPLEX: regular files with an exec bit */
	TG_SCAN_SCRIPT_GLOB, /* scripts[i].path, COMPLEX: any regular file */
	TG_SCAN_SHA256,	     /* executables[i].sha256: ELF or "#!" files with an exec bit */
};

/* tg_scan_rule.tool of a SHA256 rule that recognises a copy of an
 * interpreter: its hits are INODE hits in TG_ABI_INODE_INTERP and their
 * matcher holds the refs flags (TG_ABI_REFS_INTERP, _LDSO), not a matcher. */
#define TG_SCAN_TOOL_INTERP 0xffffu

struct tg_scan_rule {
	enum tg_scan_rule_kind kind;
	uint16_t tool;	  /* index into the policy's tools */
	uint16_t matcher; /* TG_ABI_MATCHER(kind, index) */
	const char *glob; /* borrowed (policy); NULL for SHA256 */
	uint8_t sha256[32];
	uint64_t size; /* SHA256: the file's size when known (interpreters), else 0: files of
			  other sizes are not hashed for this rule */
};

struct tg_scan_rules {
	struct tg_scan_rule *v;
	size_t n;
	bool sorted; /* tg_scan_rules_prepare() was called */
	size_t n_sha, n_exe_glob, n_script_glob;
	bool sha_any_size; /* a SHA256 rule with size 0: every candidate file is hashed */
};

/* Sort for lookups; call once after filling v/n. */
void tg_scan_rules_prepare(struct tg_scan_rules *rules);

enum tg_scan_hit_kind {
	TG_SCAN_HIT_INODE = 1, /* key (dev, ino, space = TG_ABI_INODE_*) */
	TG_SCAN_HIT_PATH = 2,  /* exact string entry (space = TG_ABI_SPACE_*): symlinks, scripts */
};

struct tg_scan_hit {
	uint8_t kind;  /* TG_SCAN_HIT_* */
	uint8_t space; /* TG_ABI_INODE_* or TG_ABI_SPACE_* */
	uint16_t tool;
	uint16_t matcher;
	uint32_t dev; /* kernel encoding (tg_abi_dev_from_user) */
	uint64_t ino;
	char *path; /* where it was found (absolute) */
};

struct tg_scan_dir {
	char *path;
	bool tree; /* watch for new subdirectories too */
	unsigned depth;
};

struct tg_scan_options {
	const char *const *extra_roots; /* tree roots (absolute) */
	size_t n_extra_roots;
	bool no_default_roots;		/* only extra roots (and TOOLGUARD_SCAN_EXTRA unless no_env) */
	bool no_env;			/* ignore TOOLGUARD_SCAN_EXTRA */
	unsigned max_depth;		/* 0: TG_SCAN_DEFAULT_DEPTH */
	size_t max_entries;		/* 0: TG_SCAN_DEFAULT_ENTRIES */
	uint64_t max_ns;		/* 0: TG_SCAN_DEFAULT_NS */
	size_t max_watch_dirs;		/* 0: TG_SCAN_DEFAULT_WATCH_DIRS */
	struct tg_hashcache *hashcache; /* NULL: tg_hashcache_default() */
};

struct tg_scan_result {
	struct tg_scan_hit *hits;
	size_t n_hits, cap_hits;
	struct tg_scan_dir *dirs; /* for the watcher, at most max_watch_dirs */
	size_t n_dirs, cap_dirs;
	struct tg_scan_dir *root_dirs; /* every root walked (realpath), depth 0 */
	size_t n_root_dirs, cap_root_dirs;
	char **warnings; /* "scan: ..." human-readable, bounded */
	size_t n_warnings, cap_warnings;

	size_t n_roots;	  /* roots that existed and were walked */
	size_t n_entries; /* directory entries examined */
	size_t n_dirs_walked;
	size_t n_hashed; /* files hashed (cache hits included) */
	bool truncated;	 /* a limit (entries, time, hits) stopped the scan early */
	uint64_t duration_ns;
};

/* Walk the roots and evaluate every file against rules. Hits are appended to
 * ret (zero it first). 0 or -ENOMEM; limits hit set ->truncated and a warning. */
int tg_scan_run(const struct tg_scan_rules *rules, const struct tg_scan_options *opts,
		struct tg_scan_result *ret);
void tg_scan_result_free(struct tg_scan_result *r);

/* Evaluate one path found by a walk or a watcher: lstat it; a regular file is
 * matched against the rules (globs on path, sha256 on content), a symlink's
 * own path against the globs (PATH hits) and its target as a file. Appends to acc. */
int tg_scan_path(const struct tg_scan_rules *rules, struct tg_hashcache *hc, const char *path,
		 struct tg_scan_result *acc);

/* Rules matching an open executed file (hash requests): globs on path, sha256
 * on fd. Appends INODE hits (space TG_ABI_INODE_EXE) with dev/ino of st. */
int tg_scan_fd(const struct tg_scan_rules *rules, struct tg_hashcache *hc, int fd, const char *path,
	       struct tg_scan_result *acc);
