/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Contract between kernel.c (owns the BPF objects and maps, helper C1) and
 * compile.c / scan.c (policy -> map entries, hashing; helper C2).
 * Map layout, generations and semantics: bpf/toolguard_abi.h (read it first).
 *
 * Division of work:
 *  - compile.c turns a policy into a struct tg_compiled: plain arrays of
 *    ABI keys/values WITHOUT a generation (every key's gen field left 0);
 *    kernel.c stamps the generation, writes the maps and swaps.
 *  - compile.c calls scan.c as it needs (sha256 rules, complex globs) and puts
 *    the resulting inode / exact-path entries into the same arrays.
 *  - kernel.c decodes ring buffer records; for TG_ABI_REC_HASH_REQUEST it calls
 *    tg_compiled_hash_request() and, on a match, adds the inode to tg_inodes
 *    and decides in userspace (kill on BLOCK + enforce) and reports an event.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "policy.h"
#include "toolguard_abi.h"

struct tg_compiled {
	struct tg_abi_gen gen; /* policy_serial, mode (TG_ABI_MODE_*), flags; seen_epoch set by kernel.c */

	struct tg_abi_tool *tools; /* tools[i] = policy->tools[i]; PRESENT set */
	size_t n_tools;

	/* tg_strs (prefix/exact) and tg_rstrs (reversed: suffix). keys[i] -> vals[i].
	 * Refs closure already applied (see toolguard_abi.h). */
	struct tg_abi_str_key *str_keys;
	struct tg_abi_refs *str_vals;
	size_t n_strs;
	struct tg_abi_str_key *rstr_keys;
	struct tg_abi_refs *rstr_vals;
	size_t n_rstrs;

	struct tg_abi_inode_key *inode_keys;
	struct tg_abi_refs *inode_vals;
	size_t n_inodes;

	struct tg_abi_exempt_key *exempt_keys; /* value is always (__u8)1 */
	size_t n_exempt;

	/* Prefix+suffix globs "P/ ** /S" (toolguard_abi.h): their PART refs go
	 * into str/rstr entries above, their minimum lengths here. May stay
	 * NULL/0 (added after the first version of this header). */
	struct tg_abi_affix_key *affix_keys;
	struct tg_abi_affix_val *affix_vals;
	size_t n_affix;

	struct tg_abi_net4_key *net4_keys;
	struct tg_abi_net_refs *net4_vals;
	size_t n_net4;
	struct tg_abi_net6_key *net6_keys;
	struct tg_abi_net_refs *net6_vals;
	size_t n_net6;

	/* Host names (exact/wildcard) the daemon must resolve into net entries
	 * later; NULL/0 when compile.c resolves them itself or ignores them. */
	int64_t next_transition; /* CLOCK_REALTIME seconds of the next state change, INT64_MAX none */

	void *priv; /* compile.c's own data (hash tables for hash requests etc.) */
};

/* Implemented by compile.c (helper C2). Instants are converted to CLOCK_TAI ns
 * with clock_gettime(CLOCK_TAI) - clock_gettime(CLOCK_REALTIME) at compile
 * time (tg_realtime_to_tai_ns below). Returns 0 or -errno with a reason. */
int tg_compile_policy(const struct tg_policy *p, enum tg_mode mode, struct tg_compiled **ret, char *why,
		      size_t why_len);
void tg_compiled_free(struct tg_compiled *c);

/* Implemented by compile.c/scan.c (helper C2): hash the file the kernel asked
 * about (open /proc/<pid>/exe, check dev/ino against the request) and say
 * whether it matches a sha256 rule. Returns 1 and fills *ret_refs (gen 0)
 * when it matches, 0 when not, -errno on error (process gone etc.). */
int tg_compiled_hash_request(const struct tg_compiled *c, const struct tg_abi_hash_request *req,
			     struct tg_abi_refs *ret_refs);
/* The same judgement for a file the caller opened (path: for path globs, may
 * be NULL): 1 with refs, 0 not matched, -errno (daemon/loader.c). */
int tg_compiled_hash_fd(const struct tg_compiled *c, int fd, const char *path, struct tg_abi_refs *ret_refs);

/* The hash request was a copy of an interpreter (refs.flags has
 * TG_ABI_REFS_INTERP) the kernel did not know yet: judge the script argument
 * of /proc/<pid>/cmdline after the fact. Returns 1 and fills *ret_refs with
 * the scripts[] rule that matches, 0 when none, -errno on error. */
int tg_compiled_interp_script(const struct tg_compiled *c, uint32_t pid, struct tg_abi_refs *ret_refs);

/* ---- Implemented by kernel.c for compile.c/scan.c ---- */

/* CLOCK_REALTIME seconds -> CLOCK_TAI nanoseconds (0 for t <= 0 is NOT
 * special-cased: callers pick 0 / UINT64_MAX for "always" / "never"). */
uint64_t tg_realtime_to_tai_ns(int64_t realtime_sec);

struct tg_kernel;
/* Add or replace an inode entry in the ACTIVE generation (key->gen ignored):
 * for the file watcher (new executables written after the last apply). */
int tg_kernel_inode_update(struct tg_kernel *k, const struct tg_abi_inode_key *key,
			   const struct tg_abi_refs *val);
int tg_kernel_inode_delete(struct tg_kernel *k, const struct tg_abi_inode_key *key);
/* The compiled policy now in force (NULL before the first apply). */
const struct tg_compiled *tg_kernel_compiled(const struct tg_kernel *k);

/* Swap in an already compiled policy (tg_kernel_apply_policy minus the
 * compile; tests). Takes ownership of c, also on error. */
int tg_kernel_apply_compiled(struct tg_kernel *k, const struct tg_policy *p, struct tg_compiled *c, char *why,
			     size_t why_len);

/* ---- For tamper.c (added by tamper): verify and repair the pins ---- */
struct tg_digest;
/* fd of a map by its bpftool name ("tg_strs"), owned by k; -1 when absent. */
int tg_kernel_map_fd(const struct tg_kernel *k, const char *name);
const char *tg_kernel_pin_dir(const struct tg_kernel *k);
/* Digest of the daemon's own tg_inodes writes since open (file watcher, hash
 * requests): what the map may differ by from the digest taken at an apply. */
void tg_kernel_inode_writes(const struct tg_kernel *k, struct tg_digest *ret);

/* ---- For resolve.c (added by resolve): host names resolved by the daemon ---- */
/* Called by tg_kernel_apply_compiled after generation gen is written for c
 * and before the swap: the hook adds its /32 and /128 entries to gen. */
typedef void (*tg_kernel_apply_hook_fn)(struct tg_kernel *k, const struct tg_compiled *c, unsigned gen,
					void *userdata);
void tg_kernel_set_apply_hook(struct tg_kernel *k, tg_kernel_apply_hook_fn fn, void *userdata);
/* tg_net4 (AF_INET) / tg_net6 fd owned by k, -1 without the connect hooks. */
int tg_kernel_net_fd(const struct tg_kernel *k, int family);
/* tg_shared (addresses an allowed name answered with), -1 when not loaded. */
int tg_kernel_shared_fd(const struct tg_kernel *k);
/* The active generation (0/1) or -errno. */
int tg_kernel_active_gen(struct tg_kernel *k);
