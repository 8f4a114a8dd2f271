/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internal: a small YAML tree built from libyaml events, with positions, and
 * typed accessors that report errors as "file:line:col: ..." diagnostics.
 * Shared by policy_parse.c and config.c. Anchors, aliases, tags and more than
 * one document are refused; depth and scalar length are capped.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

enum yw_kind {
	YW_SCALAR,
	YW_SEQ,
	YW_MAP,
};

struct yw_node {
	enum yw_kind kind;
	struct tg_pos pos;
	bool plain; /* plain (unquoted) scalar: may be null, a number or a boolean */
	bool bad;   /* already reported (alias, over-long scalar): accessors stay silent */
	char *s;    /* scalar value, NUL-terminated */
	size_t len;
	struct yw_node **kids; /* SEQ: items; MAP: key, value, key, value ... */
	size_t n, cap;
};

struct yw_ctx {
	const char *file;
	struct tg_diags *diags;
	unsigned errors; /* errors reported through this context (also counts dropped ones) */
	bool oom;
};

/* Build the tree of buf. 0 with *ret_root (NULL for a stream without a document),
 * -EINVAL after a fatal syntax/limit error (reported), -ENOMEM. Non-fatal errors
 * (aliases, tags, long strings) are reported, counted in ctx->errors, and the tree
 * is still returned so that the rest of the file can be checked too. */
int yw_load(struct yw_ctx *ctx, const char *buf, size_t len, struct yw_node **ret_root);
void yw_free(struct yw_node *n);

__attribute__((format(printf, 3, 4))) void yw_error_at(struct yw_ctx *ctx, struct tg_pos pos, const char *fmt,
						       ...);
#define yw_error(ctx, node, ...) yw_error_at((ctx), (node)->pos, __VA_ARGS__)

/* "a mapping", "a list", "a string", "nothing (null)" ... for messages. */
const char *yw_describe(const struct yw_node *n);
bool yw_is_null(const struct yw_node *n);

struct yw_key {
	const char *name;
	const struct yw_node *key; /* set when present */
	const struct yw_node *val;
};

/* Check that n is a mapping (else report "expected a mapping for WHAT") and sort its
 * entries into keys[] by name; reports unknown keys (with the list of valid ones),
 * duplicate keys and non-string keys. Returns false when n is not a mapping. */
bool yw_map(struct yw_ctx *ctx, const struct yw_node *n, const char *what, struct yw_key *keys,
	    size_t n_keys);
/* The entry for name in keys[] (as filled by yw_map). */
const struct yw_key *yw_key_find(const struct yw_key *keys, size_t n_keys, const char *name);
/* Report "missing key NAME in WHAT" at the mapping's position when absent; true when present. */
bool yw_require(struct yw_ctx *ctx, const struct yw_node *map, const struct yw_key *k, const char *what,
		const char *hint);

/* Is n a sequence? else report "expected a list for WHAT". */
bool yw_seq(struct yw_ctx *ctx, const struct yw_node *n, const char *what);
/* A non-null scalar; returns the value (owned by the tree) or NULL after reporting. */
const char *yw_scalar(struct yw_ctx *ctx, const struct yw_node *n, const char *what);
/* Same, duplicated; NULL after reporting (or on ENOMEM, which sets ctx->oom). */
char *yw_strdup(struct yw_ctx *ctx, const struct yw_node *n, const char *what);
/* Plain unsigned decimal integer 0..max. */
bool yw_uint(struct yw_ctx *ctx, const struct yw_node *n, const char *what, uint64_t max, uint64_t *ret);
/* true/false (also True/TRUE/False/FALSE). */
bool yw_bool(struct yw_ctx *ctx, const struct yw_node *n, const char *what, bool *ret);

/* Positions of the 1-based line:col for a byte offset of buf (for reader errors). */
struct tg_pos yw_offset_pos(const char *buf, size_t len, size_t offset);

/* Read a whole regular file of at most TG_POLICY_MAX_BYTES (what: "policy" or
 * "configuration", for messages). Symlinks are followed: these paths are chosen
 * by root. Returns 0, or -errno / -EINVAL (not a regular file) / -EFBIG (too large)
 * with a diagnostic. *ret_buf is NUL-terminated and malloc'd. */
int yw_read_file(const char *path, const char *what, char **ret_buf, size_t *ret_len, struct tg_diags *diags);
