/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * compile.c: policy -> map entries of one generation (struct tg_compiled,
 * declared with tg_compile_policy() in kernel_internal.h), the decoding
 * tables kernel.c needs for events, hash requests, and the file watcher.
 *
 * What goes where (bpf/toolguard_abi.h has the map layouts):
 *  executables[i].name        tg_strs   EXE_NAME exact ("name\0")
 *  executables[i].path        EXACT -> tg_strs EXE_PATH exact, PREFIX -> tg_strs
 *                             prefix, SUFFIX -> tg_rstrs (reversed), COMPLEX ->
 *                             scan: tg_inodes (EXE) for files, tg_strs exact for
 *                             symlinks whose own path matches
 *  executables[i].sha256      scan: tg_inodes (EXE) of ELF/"#!" files with that
 *                             content; later execs of unknown inodes: hash requests
 *  scripts[i].path            as paths, in SCRIPT_PATH; COMPLEX -> scan: tg_inodes
 *                             (SCRIPT) and tg_strs SCRIPT_PATH exact of each file found
 *  scripts[i].sha256          no map entry: TG_ABI_GEN_SCRIPT_REQUESTS, the daemon
 *                             judges each interpreter's script (script_request.c)
 *  interpreters               tg_strs INTERP: exact, or prefix for "name*"; other
 *                             globs by their literal prefix ("ld-linux*.so*" ->
 *                             "ld-linux", flagged LDSO), an over-approximation
 *                             that only widens which execs get their script
 *                             argument examined
 *  hosts[i] CIDR              tg_net4 / tg_net6 with ports
 *  hosts[i] names             not in maps: tg_compiled_hosts() lists them for DNS
 *  exempt users/groups        tg_exempt; names resolved now (getpwnam_r /
 *                             getgrnam_r); unknown names are skipped with a warning
 * Literals that do not fit a trie key (> 253 bytes) fall back to the scan.
 * LPM tries return only the longest entry, so each entry carries the refs of
 * every shorter entry covering it: one ref per tool (the tool's first
 * matcher), in the policy's tool order (the kernel keeps the first ref on a
 * verdict tie, as lib/matcher.c keeps the first tool). More than
 * TG_ABI_MAX_REFS tools on one string or TG_ABI_NET_REFS refs on one network
 * is a compile error that says which; on one scanned inode the block tools
 * are kept and a warning says so.
 *
 * Hash requests are enabled (TG_ABI_GEN_HASH_REQUESTS) when the policy has
 * sha256 rules or COMPLEX executable globs, or when interpreters are
 * recognised by content (scripts rules: the interpreter files' sha256 become
 * scan rules with tool TG_SCAN_TOOL_INTERP, their hits TG_ABI_INODE_INTERP
 * entries): an executed inode the kernel does not know is then checked once
 * by tg_compiled_hash_request().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hashcache.h"
#include "kernel_internal.h"
#include "scan.h"

struct tg_compile_options {
	const char *const *scan_roots; /* extra tree roots to scan (besides the defaults) */
	size_t n_scan_roots;
	bool scan_no_default_roots; /* tests: only scan_roots (and TOOLGUARD_SCAN_EXTRA unless scan_no_env) */
	bool scan_no_env;
	unsigned scan_max_depth; /* 0: defaults of scan.h */
	size_t scan_max_entries;
	uint64_t scan_max_ns;
	struct tg_hashcache *hashcache; /* NULL: tg_hashcache_default() */
};

/* tg_compile_policy() with explicit options (opts NULL = as tg_compile_policy). */
int tg_compile_policy_opts(const struct tg_policy *p, enum tg_mode mode,
			   const struct tg_compile_options *opts, struct tg_compiled **ret, char *why,
			   size_t why_len);

/* Extra scan roots used by tg_compile_policy() from now on (daemon config);
 * copied. NULL/0 clears. 0 or -ENOMEM. */
int tg_compile_set_scan_roots(const char *const *roots, size_t n);

/* The file (TG_HASH_CACHE) that keeps the default hash cache across restarts:
 * loaded at the first scan, saved after a scan that hashed new files (failures
 * are compile warnings, never errors). NULL: no file (the default). */
int tg_compile_set_hashcache_file(const char *path);

/* Rollout (tools[].rollout.percent; added by K): this machine is in when the
 * first 8 bytes of sha256(machine_id "\n" tool_id), big-endian, mod 100 are
 * below percent. 100 = always, 0 = never; no machine id = in. Tools out of
 * their rollout are compiled as inactive. The daemon sets the id from
 * /etc/machine-id ("" = none). */
int tg_compile_set_machine_id(const char *id);
const char *tg_compile_machine_id(void);
bool tg_rollout_includes(const char *machine_id, const char *tool_id, int percent);
bool tg_compile_tool_in_rollout(const struct tg_tool *t);

/* CLOCK_REALTIME seconds -> CLOCK_TAI ns with an offset sampled now
 * (clock_gettime(CLOCK_TAI) - clock_gettime(CLOCK_REALTIME), whole seconds).
 * t <= 0 -> 0; overflow saturates at UINT64_MAX - 1. */
uint64_t tg_compile_realtime_to_tai_ns(int64_t realtime_sec);
/* The TAI - REALTIME offset (ns) used by the last compile. */
int64_t tg_compiled_tai_offset_ns(const struct tg_compiled *c);

/* ---- decoding events ---- */
const struct tg_policy *tg_compiled_policy(const struct tg_compiled *c);
/* policy->tools[tool_idx], or NULL when out of range. */
const struct tg_tool *tg_compiled_tool(const struct tg_compiled *c, unsigned tool_idx);
/* "executables[3].path", "scripts[0].path", "hosts[2]"; "?" for unknown. Returns buf. */
const char *tg_compiled_matcher_name(const struct tg_compiled *c, unsigned tool_idx, unsigned matcher,
				     char *buf, size_t len);

/* Warnings of the compile (unknown exemption names, literals that fell back
 * to the scan, scan limits...): for the log. */
size_t tg_compiled_warnings(const struct tg_compiled *c, const char *const **ret);

/* Host names (exact or "*."-wildcard) for the DNS work; not in the maps. */
struct tg_compiled_host {
	uint16_t tool;
	uint16_t matcher; /* TG_ABI_MATCHER(TG_ABI_MK_HOST, i) */
	const char *name; /* normalized; for wildcards the suffix without "*." */
	bool wildcard;
	const uint16_t *ports; /* empty = all ports */
	size_t n_ports;
};
size_t tg_compiled_hosts(const struct tg_compiled *c, const struct tg_compiled_host **ret);

/* What the install-location scan did (zeros when the policy needed none). */
struct tg_compiled_scan_stats {
	bool ran;
	size_t roots, entries, dirs, hashed, hits;
	bool truncated;
	uint64_t duration_ns;
};
void tg_compiled_scan_stats(const struct tg_compiled *c, struct tg_compiled_scan_stats *ret);

/* ---- file watcher: keeps tg_inodes current between applies ----
 * fanotify (FAN_MARK_FILESYSTEM, FID mode) on the filesystems holding the scan
 * roots when the daemon may (CAP_SYS_ADMIN + CAP_DAC_READ_SEARCH): events in a
 * bin root or inside a tree root within the scan depth are kept, no
 * per-directory watches. Elsewhere inotify on the directories the scan walked
 * (bin dirs: their entries; trees: new subdirectories are watched and scanned
 * as they appear), bounded by TG_SCAN_DEFAULT_WATCH_DIRS and the inotify
 * limit. A file written, moved in, chmod-ed or created there is evaluated
 * (sha256 via the cache, complex globs); a file removed or no longer matching
 * drops its inode unless another matching path still names it (inode numbers
 * are reused). Only tg_inodes entries: exact-path strings of symlinks and
 * scripts found later wait for the next apply (scripts still match by inode
 * under the LSM backend). Create after every successful apply (it borrows c);
 * NULL when the policy needs no scan. tg_watch_fd() is an epoll fd. */
struct tg_watch;
int tg_watch_new(const struct tg_compiled *c, struct tg_watch **ret);
#define TG_WATCH_NO_FANOTIFY (1u << 0) /* inotify only (tests, or fanotify misbehaving) */
int tg_watch_new_flags(const struct tg_compiled *c, unsigned flags, struct tg_watch **ret);
/* "fanotify", "inotify", "fanotify+inotify" or "none" (NULL). */
const char *tg_watch_backend(const struct tg_watch *w);
void tg_watch_free(struct tg_watch *w);
int tg_watch_fd(const struct tg_watch *w); /* -1 for NULL */
/* val NULL: delete key. key->gen is 0 (kernel.c writes the active generation).
 * path: the file concerned (for the log). A negative return stops processing. */
typedef int (*tg_watch_update_fn)(const struct tg_abi_inode_key *key, const struct tg_abi_refs *val,
				  const char *path, void *userdata);
/* Drain the inotify fd; calls fn for every inode entry to add/replace/delete.
 * Returns the number of updates, or -errno. */
int tg_watch_process(struct tg_watch *w, tg_watch_update_fn fn, void *userdata);
/* Directories watched by inotify now (tests / status; fanotify needs none). */
size_t tg_watch_n_dirs(const struct tg_watch *w);
