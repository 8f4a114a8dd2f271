/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A positioned YAML tree from libyaml events, and typed accessors with diagnostics. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "yaml_walk.h"

/* Cap on nodes: bounds memory for hostile input such as 4 million one-character list items. */
#define YW_MAX_NODES (1u << 20)

void yw_error_at(struct yw_ctx *ctx, struct tg_pos pos, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->errors++;
	tg_diags_add(ctx->diags, ctx->file, pos, "%s", msg);
}

struct tg_pos yw_offset_pos(const char *buf, size_t len, size_t offset)
{
	struct tg_pos pos = {1, 1};

	if (offset > len)
		offset = len;
	for (size_t i = 0; i < offset; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == '\n') {
			pos.line++;
			pos.col = 1;
		} else if ((c & 0xc0) != 0x80) {
			pos.col++; /* columns count characters, as libyaml's marks do */
		}
	}
	return pos;
}

static struct tg_pos mark_pos(yaml_mark_t m)
{
	return (struct tg_pos){.line = (uint32_t)m.line + 1, .col = (uint32_t)m.column + 1};
}

void yw_free(struct yw_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		yw_free(n->kids[i]);
	free(n->kids);
	free(n->s);
	free(n);
}

static int add_child(struct yw_node *parent, struct yw_node *child)
{
	if (parent->n == parent->cap) {
		size_t ncap = parent->cap ? parent->cap * 2 : 4;
		struct yw_node **nk = realloc(parent->kids, ncap * sizeof(*nk));

		if (!nk)
			return -ENOMEM;
		parent->kids = nk;
		parent->cap = ncap;
	}
	parent->kids[parent->n++] = child;
	return 0;
}

static void report_parser_error(struct yw_ctx *ctx, const yaml_parser_t *p, const char *buf, size_t len)
{
	const char *problem = p->problem ? p->problem : "unknown error";

	switch (p->error) {
	case YAML_READER_ERROR:
		if (p->problem_value >= 0 && strstr(problem, "UTF-8"))
			yw_error_at(ctx, yw_offset_pos(buf, len, p->problem_offset),
				    "invalid UTF-8: %s (byte 0x%02x); the file must be UTF-8 text", problem,
				    (unsigned)p->problem_value);
		else if (p->problem_value >= 0)
			yw_error_at(ctx, yw_offset_pos(buf, len, p->problem_offset),
				    "invalid character U+%04X: %s; the file must be UTF-8 text",
				    (unsigned)p->problem_value, problem);
		else
			yw_error_at(ctx, yw_offset_pos(buf, len, p->problem_offset),
				    "invalid text: %s; the file must be UTF-8 text", problem);
		break;
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
		if (p->context)
			yw_error_at(ctx, mark_pos(p->problem_mark),
				    "YAML syntax error: %s (%s started at %zu:%zu)", problem, p->context,
				    p->context_mark.line + 1, p->context_mark.column + 1);
		else
			yw_error_at(ctx, mark_pos(p->problem_mark), "YAML syntax error: %s", problem);
		break;
	default:
		yw_error_at(ctx, mark_pos(p->problem_mark), "YAML error: %s", problem);
		break;
	}
}

/* Anchors and tags on a node: refused, reported, and the node keeps going. */
static bool check_props(struct yw_ctx *ctx, yaml_mark_t m, const yaml_char_t *anchor, const yaml_char_t *tag,
			bool *anchor_seen)
{
	bool ok = true;

	if (anchor) {
		/* Once per file: an "alias bomb" would otherwise fill the report with the same line. */
		if (!*anchor_seen)
			yw_error_at(ctx, mark_pos(m),
				    "YAML anchors (&%.40s) and aliases are not allowed: write the value out",
				    (const char *)anchor);
		else
			ctx->errors++;
		*anchor_seen = true;
		ok = false;
	}
	if (tag) {
		yw_error_at(ctx, mark_pos(m), "YAML tags (%.40s) are not allowed: remove the tag",
			    (const char *)tag);
		ok = false;
	}
	return ok;
}

int yw_load(struct yw_ctx *ctx, const char *buf, size_t len, struct yw_node **ret_root)
{
	struct yw_node *stack[TG_POLICY_MAX_DEPTH + 1];
	size_t depth = 0, nodes = 0;
	struct yw_node *root = NULL;
	bool anchor_seen = false, alias_seen = false;
	unsigned docs = 0;
	yaml_parser_t p;
	const char *nul;
	bool done = false;
	int r = 0;

	nul = len ? memchr(buf, '\0', len) : NULL;
	if (nul) {
		yw_error_at(ctx, yw_offset_pos(buf, len, (size_t)(nul - buf)),
			    "NUL byte in the file: expected UTF-8 text (is this a binary or UTF-16 file?)");
		return -EINVAL;
	}
	/* libyaml skips a BOM only when it detects the encoding itself; we force UTF-8. */
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
		buf += 3;
		len -= 3;
	}
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);

	while (!done) {
		struct yw_node *node = NULL;
		yaml_event_t ev;

		if (!yaml_parser_parse(&p, &ev)) {
			if (p.error == YAML_MEMORY_ERROR) {
				r = -ENOMEM;
			} else {
				report_parser_error(ctx, &p, buf, len);
				r = -EINVAL;
			}
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				yw_error_at(
				    ctx, mark_pos(ev.start_mark),
				    "a second YAML document is not allowed: the file must hold exactly one "
				    "document (remove this '---' and what follows, or merge it)");
				r = -EINVAL;
				done = true;
			}
			break;
		case YAML_ALIAS_EVENT:
			if (!alias_seen)
				yw_error_at(ctx, mark_pos(ev.start_mark),
					    "YAML aliases (*%.40s) are not allowed: write the value out",
					    (const char *)ev.data.alias.anchor);
			else
				ctx->errors++;
			alias_seen = true;
			node = calloc(1, sizeof(*node));
			if (node) {
				node->kind = YW_SCALAR;
				node->bad = true;
				node->pos = mark_pos(ev.start_mark);
			}
			break;
		case YAML_SCALAR_EVENT: {
			bool ok = check_props(ctx, ev.start_mark, ev.data.scalar.anchor, ev.data.scalar.tag,
					      &anchor_seen);
			size_t slen = ev.data.scalar.length;

			node = calloc(1, sizeof(*node));
			if (!node)
				break;
			node->kind = YW_SCALAR;
			node->pos = mark_pos(ev.start_mark);
			node->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
			node->bad = !ok;
			if (slen > TG_POLICY_MAX_STRING) {
				yw_error_at(ctx, node->pos,
					    "string of %zu bytes is longer than the limit of %u bytes", slen,
					    TG_POLICY_MAX_STRING);
				node->bad = true;
				slen = 0;
			} else if (memchr(ev.data.scalar.value, '\0', slen)) {
				/* "\0" in a double-quoted string would cut the value short later. */
				yw_error_at(ctx, node->pos, "NUL character (\\0) in a string is not allowed");
				node->bad = true;
				slen = 0;
			}
			node->s = strndup((const char *)ev.data.scalar.value, slen);
			node->len = slen;
			if (!node->s) {
				free(node);
				node = NULL;
			}
			break;
		}
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT: {
			bool seq = ev.type == YAML_SEQUENCE_START_EVENT;
			bool ok = seq ? check_props(ctx, ev.start_mark, ev.data.sequence_start.anchor,
						    ev.data.sequence_start.tag, &anchor_seen)
				      : check_props(ctx, ev.start_mark, ev.data.mapping_start.anchor,
						    ev.data.mapping_start.tag, &anchor_seen);

			if (depth >= TG_POLICY_MAX_DEPTH) {
				yw_error_at(ctx, mark_pos(ev.start_mark),
					    "nesting deeper than %u levels is not allowed",
					    TG_POLICY_MAX_DEPTH);
				r = -EINVAL;
				done = true;
				break;
			}
			node = calloc(1, sizeof(*node));
			if (!node)
				break;
			node->kind = seq ? YW_SEQ : YW_MAP;
			node->pos = mark_pos(ev.start_mark);
			node->bad = !ok;
			break;
		}
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}

		if (!done && r == 0 &&
		    (ev.type == YAML_ALIAS_EVENT || ev.type == YAML_SCALAR_EVENT ||
		     ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT)) {
			if (!node) {
				r = -ENOMEM;
			} else if (++nodes > YW_MAX_NODES) {
				yw_error_at(ctx, node->pos, "too many YAML values (more than %u)",
					    YW_MAX_NODES);
				yw_free(node);
				r = -EINVAL;
			} else if (depth == 0 && root) {
				yw_free(node); /* cannot happen with one document; be safe */
			} else if (depth == 0) {
				root = node;
			} else if (add_child(stack[depth - 1], node) < 0) {
				yw_free(node);
				r = -ENOMEM;
			}
			if (r == 0 &&
			    (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT))
				stack[depth++] = node;
			if (r < 0)
				done = true;
		} else if (node) {
			yw_free(node);
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	if (r < 0) {
		yw_free(root);
		if (r == -ENOMEM)
			ctx->oom = true;
		return r;
	}
	*ret_root = root;
	return 0;
}

bool yw_is_null(const struct yw_node *n)
{
	if (!n || n->kind != YW_SCALAR || !n->plain || n->bad)
		return false;
	return n->len == 0 || strcmp(n->s, "~") == 0 || strcmp(n->s, "null") == 0 ||
	       strcmp(n->s, "Null") == 0 || strcmp(n->s, "NULL") == 0;
}

static bool is_plain_number(const struct yw_node *n)
{
	const char *p = n->s;

	if (*p == '-' || *p == '+')
		p++;
	if (!*p)
		return false;
	for (; *p; p++)
		if ((*p < '0' || *p > '9') && *p != '.')
			return false;
	return true;
}

static bool is_bool_word(const char *s)
{
	static const char *const w[] = {"true", "True", "TRUE", "false", "False", "FALSE"};

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		if (strcmp(s, w[i]) == 0)
			return true;
	return false;
}

const char *yw_describe(const struct yw_node *n)
{
	if (!n)
		return "nothing";
	switch (n->kind) {
	case YW_MAP:
		return "a mapping";
	case YW_SEQ:
		return "a list";
	case YW_SCALAR:
	default:
		if (yw_is_null(n))
			return "nothing (null)";
		if (n->plain && is_plain_number(n))
			return "a number";
		if (n->plain && is_bool_word(n->s))
			return "a boolean";
		return "a string";
	}
}

const struct yw_key *yw_key_find(const struct yw_key *keys, size_t n_keys, const char *name)
{
	for (size_t i = 0; i < n_keys; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

bool yw_map(struct yw_ctx *ctx, const struct yw_node *n, const char *what, struct yw_key *keys, size_t n_keys)
{
	for (size_t i = 0; i < n_keys; i++)
		keys[i].key = keys[i].val = NULL;
	if (!n || n->bad)
		return false;
	if (n->kind != YW_MAP) {
		yw_error(ctx, n, "expected a mapping (key: value) for %s, got %s", what, yw_describe(n));
		return false;
	}
	for (size_t i = 0; i + 1 < n->n; i += 2) {
		const struct yw_node *k = n->kids[i], *v = n->kids[i + 1];
		struct yw_key *slot = NULL;

		if (k->bad)
			continue;
		if (k->kind != YW_SCALAR) {
			yw_error(ctx, k, "expected a plain key in %s, got %s", what, yw_describe(k));
			continue;
		}
		for (size_t j = 0; j < n_keys; j++)
			if (strcmp(keys[j].name, k->s) == 0) {
				slot = &keys[j];
				break;
			}
		if (!slot) {
			char list[512];
			size_t off = 0;

			list[0] = '\0';
			for (size_t j = 0; j < n_keys && off < sizeof(list); j++)
				off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", j ? ", " : "",
							keys[j].name);
			yw_error(ctx, k, "unknown key \"%.64s\" in %s; expected one of: %s", k->s, what,
				 list);
			continue;
		}
		if (slot->key) {
			yw_error(ctx, k, "duplicate key \"%s\" in %s (first at %u:%u)", k->s, what,
				 slot->key->pos.line, slot->key->pos.col);
			continue;
		}
		slot->key = k;
		slot->val = v;
	}
	return true;
}

bool yw_require(struct yw_ctx *ctx, const struct yw_node *map, const struct yw_key *k, const char *what,
		const char *hint)
{
	if (k->val)
		return true;
	yw_error(ctx, map, "missing key \"%s\" in %s%s%s", k->name, what, hint ? ": " : "", hint ? hint : "");
	return false;
}

bool yw_seq(struct yw_ctx *ctx, const struct yw_node *n, const char *what)
{
	if (!n || n->bad)
		return false;
	if (n->kind != YW_SEQ) {
		yw_error(ctx, n, "expected a list for %s, got %s", what, yw_describe(n));
		return false;
	}
	return true;
}

const char *yw_scalar(struct yw_ctx *ctx, const struct yw_node *n, const char *what)
{
	if (!n || n->bad)
		return NULL;
	if (n->kind != YW_SCALAR) {
		yw_error(ctx, n, "expected a string for %s, got %s", what, yw_describe(n));
		return NULL;
	}
	if (yw_is_null(n)) {
		yw_error(ctx, n, "missing value for %s: expected a string", what);
		return NULL;
	}
	return n->s;
}

char *yw_strdup(struct yw_ctx *ctx, const struct yw_node *n, const char *what)
{
	const char *s = yw_scalar(ctx, n, what);
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		ctx->oom = true;
	return d;
}

bool yw_uint(struct yw_ctx *ctx, const struct yw_node *n, const char *what, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (!n || n->bad)
		return false;
	if (n->kind != YW_SCALAR || yw_is_null(n)) {
		yw_error(ctx, n, "expected a non-negative integer for %s, got %s", what, yw_describe(n));
		return false;
	}
	if (!n->plain) {
		yw_error(ctx, n,
			 "expected a non-negative integer for %s, got a quoted string (remove the quotes)",
			 what);
		return false;
	}
	if (n->s[0] < '0' || n->s[0] > '9' || (n->s[0] == '0' && n->s[1])) {
		yw_error(ctx, n, "expected a non-negative decimal integer for %s, got \"%.40s\"", what, n->s);
		return false;
	}
	for (const char *p = n->s; *p; p++) {
		if (*p < '0' || *p > '9') {
			yw_error(ctx, n, "expected a non-negative decimal integer for %s, got \"%.40s\"",
				 what, n->s);
			return false;
		}
		if (v > (UINT64_MAX - 9) / 10 || v * 10 + (uint64_t)(*p - '0') > max) {
			yw_error(ctx, n, "%s is too large: at most %" PRIu64 " is allowed", what, max);
			return false;
		}
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*ret = v;
	return true;
}

bool yw_bool(struct yw_ctx *ctx, const struct yw_node *n, const char *what, bool *ret)
{
	if (!n || n->bad)
		return false;
	if (n->kind == YW_SCALAR && n->plain && is_bool_word(n->s)) {
		*ret = n->s[0] == 't' || n->s[0] == 'T';
		return true;
	}
	yw_error(ctx, n, "expected true or false for %s, got %s", what, yw_describe(n));
	return false;
}

int yw_read_file(const char *path, const char *what, char **ret_buf, size_t *ret_len, struct tg_diags *diags)
{
	const struct tg_pos nopos = {0, 0};
	size_t len = 0, cap;
	struct stat st;
	char *buf = NULL;
	int fd, r;

	/* O_NONBLOCK: opening a FIFO must not hang the daemon; refused below anyway. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		tg_diags_add(diags, path, nopos, "cannot open the %s file: %s", what, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		tg_diags_add(diags, path, nopos, "cannot stat the %s file: %s", what, strerror(-r));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		tg_diags_add(diags, path, nopos, "not a regular file: the %s must be a regular file", what);
		r = -EINVAL;
		goto out;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > TG_POLICY_MAX_BYTES) {
		tg_diags_add(diags, path, nopos,
			     "file is %lld bytes, larger than the limit of %u bytes for a %s: refused unread",
			     (long long)st.st_size, TG_POLICY_MAX_BYTES, what);
		r = -EFBIG;
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t k;

		if (len == cap) {
			/* The file grew since fstat: keep going up to the cap. */
			size_t ncap = cap * 2 > TG_POLICY_MAX_BYTES + 1 ? TG_POLICY_MAX_BYTES + 1 : cap * 2;
			char *nb;

			if (ncap <= cap) {
				tg_diags_add(diags, path, nopos,
					     "file is larger than the limit of %u bytes for a %s",
					     TG_POLICY_MAX_BYTES, what);
				r = -EFBIG;
				goto out;
			}
			nb = realloc(buf, ncap + 1);
			if (!nb) {
				r = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		k = read(fd, buf + len, cap - len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			tg_diags_add(diags, path, nopos, "cannot read the %s file: %s", what, strerror(-r));
			goto out;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	if (len > TG_POLICY_MAX_BYTES) {
		tg_diags_add(diags, path, nopos, "file is larger than the limit of %u bytes for a %s",
			     TG_POLICY_MAX_BYTES, what);
		r = -EFBIG;
		goto out;
	}
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	buf = NULL;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}
