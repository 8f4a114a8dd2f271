/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Path globs as written in a policy.
 *
 * Syntax: '*' any run of characters except '/' (may be empty, matches
 * dot-files too), '**' as a whole path component any number of components
 * (including none: "/a/ ** /b" matches "/a/b", "** /x" matches "/x", "/a/ **"
 * matches "/a/" and everything below it, but not "/a"), '?' one character
 * except '/', "[...]" one character of a class ("[a-z]", "[!0-9]" or
 * "[^0-9]" negated, ']' first in the class is literal, never matches '/'),
 * '\' makes the next character literal (inside classes too).
 *
 * Matching simulates the pattern as an NFA over the path: O(len(path) *
 * len(pattern)) whatever the pattern, so a hostile "/ ** / ** / ** ..." cannot
 * make the daemon spin.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

enum tok_kind {
	TOK_LIT,	 /* one literal byte */
	TOK_ANY,	 /* '?' */
	TOK_CLASS,	 /* '[...]': class text at pattern[cls_start..cls_end) */
	TOK_STAR,	 /* '*' */
	TOK_DSTAR_SLASH, /* "**" followed by '/': empty, or any string ending in '/' */
	TOK_DSTAR_END,	 /* "**" at the end: anything */
};

struct tok {
	enum tok_kind kind;
	unsigned char c;
	bool negate;
	unsigned cls_start, cls_end;
};

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/*
 * Parse a class starting just after '['. On success *ret_end is the index of
 * the closing ']' and the token describes the class body.
 */
static int parse_class(const char *p, size_t i, size_t len, struct tok *t, size_t *ret_end, const char **why)
{
	size_t body;
	bool first = true;

	t->kind = TOK_CLASS;
	t->negate = false;
	if (i < len && (p[i] == '!' || p[i] == '^')) {
		t->negate = true;
		i++;
	}
	body = i;
	/* ']' right after '[' or '[!' is a member, not the end. */
	while (i < len && (p[i] != ']' || first)) {
		unsigned char lo;

		first = false;
		if (p[i] == '\\') {
			if (i + 1 >= len)
				break;
			i++;
		}
		lo = (unsigned char)p[i++];
		if (lo == '/') {
			*why = "a '[...]' class never matches '/': write the '/' outside the class";
			return -EINVAL;
		}
		if (i + 1 < len && p[i] == '-' && p[i + 1] != ']') {
			i++;
			if (p[i] == '\\') {
				if (i + 1 >= len)
					break;
				i++;
			}
			unsigned char hi = (unsigned char)p[i++];

			if (hi < lo) {
				*why = "reversed range in '[...]' class: write the lower bound first, as in "
				       "[a-z]";
				return -EINVAL;
			}
			if (lo <= '/' && hi >= '/') {
				*why = "a '[...]' range never matches '/': split the range around '/'";
				return -EINVAL;
			}
		}
	}
	if (i >= len) {
		if (len - body == 1 && p[body] == ']')
			*why =
			    "empty '[]' class: put members between '[' and ']' (a ']' right after '[' is a "
			    "member, so '[]]' matches ']'), or write '\\[' for a literal '['";
		else
			*why = "unterminated '[' class: close it with ']', or write '\\[' for a literal '['";
		return -EINVAL;
	}
	t->cls_start = (unsigned)body;
	t->cls_end = (unsigned)i;
	*ret_end = i;
	return 0;
}

/* Tokenize a pattern; the caller provides room for strlen(pattern) tokens. */
static int tokenize(const char *p, struct tok *toks, size_t *ret_n, const char **why)
{
	size_t len, i, n = 0;

	*why = NULL;
	if (!p) {
		*why = "missing glob";
		return -EINVAL;
	}
	len = strnlen(p, TG_POLICY_MAX_STRING + 1);
	if (len == 0) {
		*why = "empty glob: write an absolute path such as /usr/bin/tool or **/tool";
		return -EINVAL;
	}
	if (len > TG_POLICY_MAX_STRING) {
		*why = "glob longer than 4096 bytes: shorten it";
		return -EINVAL;
	}
	for (i = 0; i < len; i++)
		if (is_control((unsigned char)p[i])) {
			*why = "control character in glob: remove it";
			return -EINVAL;
		}
	for (i = 0; i < len; i++) {
		struct tok t = {.kind = TOK_LIT};
		unsigned char c = (unsigned char)p[i];

		if (c == '\\') {
			if (i + 1 >= len) {
				*why = "trailing backslash in glob: remove it, or write '\\\\' for a literal "
				       "backslash";
				return -EINVAL;
			}
			t.c = (unsigned char)p[++i];
		} else if (c == '?') {
			t.kind = TOK_ANY;
		} else if (c == '[') {
			size_t end;

			if (parse_class(p, i + 1, len, &t, &end, why) < 0)
				return -EINVAL;
			i = end;
		} else if (c == '*') {
			size_t run = 1;

			while (i + run < len && p[i + run] == '*')
				run++;
			if (run >= 3) {
				*why = "'***' is not a glob: use '**' for any number of directories, '*' "
				       "within one";
				return -EINVAL;
			}
			if (run == 1) {
				t.kind = TOK_STAR;
			} else {
				bool start_ok = i == 0 || p[i - 1] == '/';
				bool end_ok = i + 2 == len || p[i + 2] == '/';

				/* A '/' before '**' that was written as "\/" is still a '/'. */
				if (!start_ok || !end_ok) {
					*why =
					    "'**' must be a whole path component (as in /a/**/b): use '*' to "
					    "match within a component";
					return -EINVAL;
				}
				if (i + 2 == len) {
					t.kind = TOK_DSTAR_END;
					i += 1;
				} else {
					t.kind = TOK_DSTAR_SLASH;
					i += 2; /* the '/' after "**" belongs to the token */
				}
			}
		} else {
			t.c = c;
		}
		toks[n++] = t;
	}
	/* Checked after the loop so that "a**b" is explained by its '**'. */
	if (p[0] != '/' && !(p[0] == '*' && p[1] == '*')) {
		*why = "a path glob must be absolute or start with **: write /dir/file or **/file";
		return -EINVAL;
	}
	*ret_n = n;
	return 0;
}

int tg_glob_validate(const char *pattern, const char **ret_why)
{
	struct tok *toks;
	const char *why = NULL;
	size_t n;
	int r;

	if (!pattern) {
		if (ret_why)
			*ret_why = "missing glob";
		return -EINVAL;
	}
	toks = calloc(strnlen(pattern, TG_POLICY_MAX_STRING + 1) + 1, sizeof(*toks));
	if (!toks)
		return -ENOMEM;
	r = tokenize(pattern, toks, &n, &why);
	free(toks);
	if (r < 0 && ret_why)
		*ret_why = why;
	return r;
}

static bool class_matches(const char *p, const struct tok *t, unsigned char c)
{
	bool in = false;
	size_t i = t->cls_start, end = t->cls_end;

	if (c == '/')
		return false;
	/* The first member may be ']' (see parse_class); it is consumed as a normal char here. */
	while (i < end) {
		unsigned char lo, hi;

		if (p[i] == '\\')
			i++;
		lo = hi = (unsigned char)p[i++];
		if (i + 1 < end && p[i] == '-') {
			i++;
			if (p[i] == '\\')
				i++;
			hi = (unsigned char)p[i++];
		}
		if (c >= lo && c <= hi)
			in = true;
	}
	return in != t->negate;
}

/* Does token t consume character c (and stay / advance)? */
static bool tok_consumes(const char *p, const struct tok *t, unsigned char c)
{
	switch (t->kind) {
	case TOK_LIT:
		return t->c == c;
	case TOK_ANY:
	case TOK_STAR:
		return c != '/';
	case TOK_CLASS:
		return class_matches(p, t, c);
	case TOK_DSTAR_SLASH:
	case TOK_DSTAR_END:
		return true;
	}
	return false;
}

/*
 * NFA states: [0, n] "before token k" (n = accept), and for each "**" + "/"
 * token k an "inside" state at n + 1 + k, entered once it consumed a char.
 * Only the entry state may skip the token (match nothing); inside, the token
 * ends right after a '/'.
 */
static void closure(const struct tok *toks, size_t n, unsigned char *set)
{
	for (size_t k = 0; k < n; k++)
		if (set[k] && (toks[k].kind == TOK_STAR || toks[k].kind == TOK_DSTAR_SLASH ||
			       toks[k].kind == TOK_DSTAR_END))
			set[k + 1] = 1;
}

bool tg_glob_match(const char *pattern, const char *path)
{
	struct tok *toks = NULL;
	unsigned char *cur = NULL, *next = NULL;
	const char *why;
	size_t n, plen, nstates;
	bool ok = false;

	if (!pattern || !path)
		return false;
	plen = strnlen(pattern, TG_POLICY_MAX_STRING + 1);
	toks = calloc(plen + 1, sizeof(*toks));
	if (!toks)
		return false;
	if (tokenize(pattern, toks, &n, &why) < 0)
		goto out;
	nstates = 2 * n + 1;
	cur = calloc(nstates, 1);
	next = calloc(nstates, 1);
	if (!cur || !next)
		goto out;

	cur[0] = 1;
	closure(toks, n, cur);
	for (const char *s = path; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool alive = false;

		memset(next, 0, nstates);
		for (size_t k = 0; k < n; k++) {
			bool entry = cur[k], inside = toks[k].kind == TOK_DSTAR_SLASH && cur[n + 1 + k];

			if (!(entry || inside) || !tok_consumes(pattern, &toks[k], c))
				continue;
			switch (toks[k].kind) {
			case TOK_STAR:
			case TOK_DSTAR_END:
				next[k] = 1;
				break;
			case TOK_DSTAR_SLASH:
				next[n + 1 + k] = 1;
				if (c == '/')
					next[k + 1] = 1;
				break;
			default:
				next[k + 1] = 1;
				break;
			}
		}
		closure(toks, n, next);
		for (size_t k = 0; k < nstates; k++)
			alive |= next[k];
		if (!alive)
			goto out;
		unsigned char *tmp = cur;
		cur = next;
		next = tmp;
	}
	ok = cur[n];
out:
	free(toks);
	free(cur);
	free(next);
	return ok;
}

enum tg_glob_form tg_glob_reduce(const char *pattern, char **ret_literal)
{
	struct tok *toks;
	const char *why;
	size_t n, first, last, k;
	enum tg_glob_form form = TG_GLOB_COMPLEX;
	char *lit;

	if (ret_literal)
		*ret_literal = NULL;
	if (!pattern)
		return TG_GLOB_COMPLEX;
	toks = calloc(strnlen(pattern, TG_POLICY_MAX_STRING + 1) + 1, sizeof(*toks));
	if (!toks)
		return TG_GLOB_COMPLEX;
	if (tokenize(pattern, toks, &n, &why) < 0)
		goto out;

	first = 0;
	last = n;
	/* "**" alone is every absolute path: the prefix "/" */
	if (n > 0 && toks[n - 1].kind == TOK_DSTAR_END) {
		form = TG_GLOB_PREFIX;
		last = n - 1;
	} else if (n > 0 && toks[0].kind == TOK_DSTAR_SLASH) {
		form = TG_GLOB_SUFFIX;
		first = 1;
	} else {
		form = TG_GLOB_EXACT;
	}
	for (k = first; k < last; k++)
		if (toks[k].kind != TOK_LIT) {
			form = TG_GLOB_COMPLEX;
			goto out;
		}
	if (!ret_literal)
		goto out;
	/* room for the literal bytes plus the leading '/' of a suffix */
	lit = malloc(last - first + 2);
	if (!lit) {
		form = TG_GLOB_COMPLEX;
		goto out;
	}
	{
		size_t o = 0;

		if (form == TG_GLOB_SUFFIX)
			lit[o++] = '/'; /* the '/' swallowed by the "**" token */
		for (k = first; k < last; k++)
			lit[o++] = (char)toks[k].c;
		if (form == TG_GLOB_PREFIX && o == 0)
			lit[o++] = '/';
		lit[o] = '\0';
	}
	*ret_literal = lit;
out:
	free(toks);
	return form;
}

static bool glob_is_literal(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '*' || s[i] == '?' || s[i] == '[' || s[i] == '\\')
			return false;
	return true;
}

bool tg_glob_split_affix(const char *pattern, size_t *ret_prefix_len, const char **ret_suffix)
{
	const char *mid = strstr(pattern, "/**/");

	if (!mid || pattern[0] != '/' || !mid[4] || !glob_is_literal(pattern, (size_t)(mid - pattern)) ||
	    !glob_is_literal(mid + 4, strlen(mid + 4)))
		return false;
	*ret_prefix_len = (size_t)(mid - pattern) + 1;
	*ret_suffix = mid + 3;
	return true;
}
