/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The reference semantics of a policy: one function for an exec, one for a
 * destination. The kernel programs must agree with these; tests compare them.
 */
#pragma once

#include "policy.h"

enum tg_verdict {
	TG_VERDICT_NONE = 0, /* no tool matched, or the tool is inactive/expired */
	TG_VERDICT_ALLOW,    /* matched, but allowed (action allow, or an exemption) */
	TG_VERDICT_ALERT,    /* matched an alert rule: recorded, runs */
	TG_VERDICT_WARN,     /* matched a block rule inside its warning window: runs, warned */
	TG_VERDICT_BLOCK,    /* refused */
};
const char *tg_verdict_name(enum tg_verdict v);

enum tg_tool_state {
	TG_STATE_INACTIVE, /* before the warning window */
	TG_STATE_WARNING,  /* block rule inside warn_before */
	TG_STATE_BLOCKING,
	TG_STATE_ALERT,
	TG_STATE_ALLOW,
	TG_STATE_EXPIRED,
};
const char *tg_tool_state_name(enum tg_tool_state s);

/* State of a tool at `now` (seconds, UTC). *ret_next (may be NULL) receives the
 * next instant at which the state changes, or INT64_MAX when it never does. */
enum tg_tool_state tg_tool_state_at(const struct tg_policy *p, const struct tg_tool *t, int64_t now,
				    int64_t *ret_next);

struct tg_exec_query {
	const char *path_invoked;  /* filename passed to execve, as written (may be relative) */
	const char *path_resolved; /* absolute path of the file executed, symlinks resolved (may be NULL) */
	const char *cwd;           /* to make relative paths absolute (may be NULL) */
	const char *const *argv;   /* argv[0..argc-1] of the new image */
	size_t argc;
	/* When the executed file is a "#!" script, the interpreter line's program
	 * (e.g. "/usr/bin/env" or "/usr/bin/node") and its argument, else NULL. */
	uid_t uid;
	const gid_t *gids; /* primary and supplementary */
	size_t n_gids;
	/* sha256 of the executed file (path_resolved), computed only when needed.
	 * Returns 0 and fills out, or negative errno. NULL: sha256 rules never match. */
	int (*sha256)(void *ctx, const char *path, uint8_t out[32]);
	void *sha256_ctx;
	int64_t now; /* seconds since the epoch */
};

struct tg_dest_query {
	int family; /* AF_INET / AF_INET6 (IPv4-mapped IPv6 is treated as IPv4) */
	uint8_t addr[16];
	bool has_addr;
	uint16_t port; /* 0 = unknown/any */
	const char *host; /* name if known, else NULL */
	uid_t uid;
	const gid_t *gids;
	size_t n_gids;
	int64_t now;
};

struct tg_decision {
	enum tg_verdict verdict;
	const struct tg_tool *tool; /* NULL when NONE */
	char matcher[96];           /* e.g. "executables[1].path", "scripts[0].path", "hosts[2]" */
	char subject[4096];         /* what matched: the path, script, name or address */
	bool exempt;                /* verdict ALLOW because of an exemption */
	enum tg_tool_state state;   /* state of the deciding tool at `now` */
};

/* 0 on success (decision filled, verdict may be NONE), negative errno on error. */
int tg_match_exec(const struct tg_policy *p, const struct tg_exec_query *q, struct tg_decision *ret);
int tg_match_dest(const struct tg_policy *p, const struct tg_dest_query *q, struct tg_decision *ret);

/* True when uid/gids are exempt from tool t at now. Names are resolved with getpwnam_r/getgrnam_r. */
bool tg_tool_exempts(const struct tg_tool *t, uid_t uid, const gid_t *gids, size_t n_gids, int64_t now);

/* Is this basename an interpreter per the policy's list? */
bool tg_is_interpreter(const struct tg_policy *p, const char *basename);
/* For an interpreter command line, the script argument (first non-option after argv[0];
 * for ld-linux*.so*, the program it loads). NULL when none. */
const char *tg_script_argument(const char *const *argv, size_t argc);
/* Same, for the interpreter with this basename (argv[0] may differ from the file executed):
 * option rules per interpreter family are documented in matcher.c. */
const char *tg_script_argument_for(const char *interp_basename, const char *const *argv, size_t argc);

/* cwd + path made absolute and normalised lexically ("." ".." "//" removed, no
 * symlink followed), malloc'd; NULL when too long (> PATH_MAX) or no memory.
 * A relative path without an absolute cwd is returned as a plain copy. */
char *tg_path_absolute(const char *cwd, const char *path);

/* sha256 of a regular file of at most max_bytes (0: no limit), opened by path;
 * usable directly as tg_exec_query.sha256 with ctx NULL (no limit). 0 or -errno. */
int tg_sha256_path(const char *path, uint64_t max_bytes, uint8_t out[32]);
int tg_sha256_callback(void *ctx, const char *path, uint8_t out[32]);

/* User / group name to id (getpwnam_r / getgrnam_r with a buffer that grows
 * for groups with many members). 0, -ENOENT or -errno. */
int tg_lookup_user(const char *name, uid_t *ret);
int tg_lookup_group(const char *name, gid_t *ret);
