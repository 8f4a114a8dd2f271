/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Path globs: matching truth table, validation messages, reduction for the kernel. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "policy.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct match_case {
	const char *pattern;
	const char *path;
	bool match;
};

static const struct match_case match_cases[] = {
    /* literals */
    {"/usr/bin/claude", "/usr/bin/claude", true},
    {"/usr/bin/claude", "/usr/bin/claudex", false},
    {"/usr/bin/claude", "/usr/bin/claud", false},
    {"/usr/bin/claude", "/usr/bin/claude/", false},
    {"/usr/bin/claude", "/USR/bin/claude", false}, /* case-sensitive */
    {"/", "/", true},
    {"/", "/a", false},
    /* '*' stays within a component */
    {"/opt/*/claude", "/opt/x/claude", true},
    {"/opt/*/claude", "/opt//claude", true}, /* empty component text */
    {"/opt/*/claude", "/opt/x/y/claude", false},
    {"/opt/*", "/opt/", true},
    {"/opt/*", "/opt/abc", true},
    {"/opt/*", "/opt/a/b", false},
    {"/opt/*", "/opt/.hidden", true}, /* no special case for dot-files */
    {"/opt/claude*", "/opt/claude", true},
    {"/opt/claude*", "/opt/claude-code", true},
    {"/opt/claude*", "/opt/claude/x", false},
    {"/opt/*.js", "/opt/cli.js", true},
    {"/opt/*.js", "/opt/cli.jsx", false},
    {"/opt/*-*-*", "/opt/a-b-c", true},
    {"/opt/*-*-*", "/opt/a-b", false},
    {"/opt/*a*a*a*a*b",
     "/opt/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
    /* '?' is one character, never '/' */
    {"/a/?", "/a/b", true},
    {"/a/?", "/a/", false},
    {"/a/?", "/a/bc", false},
    {"/a?b", "/a/b", false},
    {"/a/??", "/a/bc", true},
    /* '**' as a whole component: zero or more components */
    {"**", "/", true},
    {"**", "/a/b/c", true},
    {"**/x", "/x", true},
    {"**/x", "/a/b/x", true},
    {"**/x", "/ax", false},
    {"**/x", "/a/x/y", false},
    {"**/x", "/a/xx", false},
    {"**/x/y", "/q/x/y", true},
    {"**/x/y", "/x/y", true},
    {"**/x/y", "/x/z/y", false},
    {"/a/**", "/a/", true},
    {"/a/**", "/a/b", true},
    {"/a/**", "/a/b/c/d", true},
    {"/a/**", "/a", false},
    {"/a/**", "/ab/c", false},
    {"/a/**/b", "/a/b", true},
    {"/a/**/b", "/a/x/b", true},
    {"/a/**/b", "/a/x/y/z/b", true},
    {"/a/**/b", "/a/xb", false},
    {"/a/**/b", "/ab", false},
    {"/a/**/b", "/a/b/c", false},
    {"/a/**/b/**/c", "/a/b/c", true},
    {"/a/**/b/**/c", "/a/1/b/2/3/c", true},
    {"/a/**/b/**/c", "/a/1/c", false},
    {"/**/**/x", "/x", true},
    {"/**/**/x", "/1/2/3/x", true},
    {"**/node_modules/@anthropic-ai/claude-code*/**",
     "/home/u/.npm-global/lib/node_modules/@anthropic-ai/claude-code/bin/claude.exe", true},
    {"**/node_modules/@anthropic-ai/claude-code*/**",
     "/usr/lib/node_modules/@anthropic-ai/claude-code-linux-x64/claude", true},
    {"**/node_modules/@anthropic-ai/claude-code*/**", "/usr/lib/node_modules/@qwen-code/qwen-code/cli.js",
     false},
    {"**/.local/share/claude/versions/*", "/home/u/.local/share/claude/versions/2.1.3", true},
    {"**/.local/share/claude/versions/*", "/home/u/.local/share/claude/versions/2.1.3/x", false},
    {"**/node_modules/@anthropic-ai/claude-code/cli.js", "/n/node_modules/@anthropic-ai/claude-code/cli.js",
     true},
    /* classes */
    {"/a/[abc]", "/a/b", true},
    {"/a/[abc]", "/a/d", false},
    {"/a/[a-c]x", "/a/bx", true},
    {"/a/[a-c]x", "/a/dx", false},
    {"/a/[!a-c]", "/a/d", true},
    {"/a/[!a-c]", "/a/a", false},
    {"/a/[^a-c]", "/a/d", true},
    {"/a/[^a-c]", "/a/c", false},
    {"/a/[!a-c]", "/a//", false}, /* a negated class still never matches '/' */
    {"/a/[]]", "/a/]", true},
    {"/a/[]]", "/a/a", false},
    {"/a/[]x]", "/a/x", true},
    {"/a/[!]]", "/a/x", true},
    {"/a/[!]]", "/a/]", false},
    {"/a/[a-]", "/a/-", true},
    {"/a/[-a]", "/a/-", true},
    {"/a/[0-9][0-9]", "/a/42", true},
    {"/a/[0-9][0-9]", "/a/4x", false},
    {"/a/[\\]]", "/a/]", true},
    {"/a/[*?]", "/a/*", true},
    {"/a/[*?]", "/a/x", false},
    {"/v[0-9]*/x", "/v12abc/x", true},
    /* escapes */
    {"/a/\\*", "/a/*", true},
    {"/a/\\*", "/a/b", false},
    {"/a/\\?", "/a/?", true},
    {"/a/\\?", "/a/b", false},
    {"/a/\\[x]", "/a/[x]", true},
    {"/a/\\\\", "/a/\\", true},
    {"/a/\\b", "/a/b", true},
    /* multibyte bytes are plain bytes */
    {"/a/\xc3\xa9*", "/a/\xc3\xa9t\xc3\xa9", true},
    {"/a/?", "/a/\xc3\xa9", false}, /* '?' is one byte, not one character */
    /* invalid patterns never match */
    {"a/b", "a/b", false},
    {"/a/[", "/a/[", false},
    {"/a**", "/a", false},
};

static void test_match_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(match_cases); i++) {
		const struct match_case *c = &match_cases[i];
		bool got = tg_glob_match(c->pattern, c->path);

		if (got != c->match)
			fail_msg("glob \"%s\" vs \"%s\": expected %s, got %s", c->pattern, c->path,
				 c->match ? "match" : "no match", got ? "match" : "no match");
	}
}

struct invalid_case {
	const char *pattern;
	const char *why_contains;
};

static const struct invalid_case invalid_cases[] = {
    {"", "empty glob"},
    {"a/b", "must be absolute or start with **"},
    {"claude", "must be absolute or start with **"},
    {"*/x", "must be absolute or start with **"},
    {"./x", "must be absolute or start with **"},
    {"a**b", "'**' must be a whole path component"},
    {"/a**b", "'**' must be a whole path component"},
    {"/a/**b", "'**' must be a whole path component"},
    {"/a/b**", "'**' must be a whole path component"},
    {"**x", "'**' must be a whole path component"},
    {"/a/***", "'***'"},
    {"/a/***/b", "'***'"},
    {"/a/****", "'***'"},
    {"/a/[", "unterminated '['"},
    {"/a/[abc", "unterminated '['"},
    {"/a/[!", "unterminated '['"},
    {"/a/[]", "empty '[]' class"},
    {"/a/[!]", "empty '[]' class"},
    {"/a/[z-a]", "reversed range"},
    {"/a/[/]", "never matches '/'"},
    {"/a/[!/]", "never matches '/'"},
    {"/a/[+-0]", "never matches '/'"},
    {"/a/\\", "trailing backslash"},
    {"/a/\x01", "control character"},
    {"/a/\tb", "control character"},
    {"/a/\nb", "control character"},
    {"/a/\x7f", "control character"},
};

static void test_validate_invalid(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(invalid_cases); i++) {
		const struct invalid_case *c = &invalid_cases[i];
		const char *why = NULL;
		int r = tg_glob_validate(c->pattern, &why);

		if (r != -EINVAL)
			fail_msg("glob \"%s\": expected -EINVAL, got %d", c->pattern, r);
		if (!why || !strstr(why, c->why_contains))
			fail_msg("glob \"%s\": reason \"%s\" does not say \"%s\"", c->pattern,
				 why ? why : "(null)", c->why_contains);
	}
}

static void test_validate_valid(void **state)
{
	static const char *const ok[] = {
	    "/",	"**",		"**/x",
	    "/a/**",	"/a/**/b",	"/**/**/x",
	    "/a/*",	"/a/?",		"/a/[]]",
	    "/a/[!]x]", "/a/[a-z0-9_]", "/a/\\*\\*",
	    "/a/\\**", /* an escaped '*' then '*': not '**' */
	    "/a/*b*",	"/a/\xc3\xa9",	"**/node_modules/@anthropic-ai/claude-code*/**",
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		const char *why = "untouched";
		int r = tg_glob_validate(ok[i], &why);

		if (r != 0)
			fail_msg("glob \"%s\": expected valid, got %d (%s)", ok[i], r, why);
		assert_string_equal(why, "untouched"); /* only written on error */
	}
	assert_int_equal(tg_glob_validate(NULL, NULL), -EINVAL);
}

static void test_validate_length(void **state)
{
	char *p = malloc(TG_POLICY_MAX_STRING + 2);
	const char *why = NULL;

	(void)state;
	assert_non_null(p);
	memset(p, 'a', TG_POLICY_MAX_STRING + 1);
	p[0] = '/';
	p[TG_POLICY_MAX_STRING] = '\0'; /* exactly 4096 bytes: fine */
	assert_int_equal(tg_glob_validate(p, &why), 0);
	p[TG_POLICY_MAX_STRING] = 'a';
	p[TG_POLICY_MAX_STRING + 1] = '\0'; /* 4097 */
	assert_int_equal(tg_glob_validate(p, &why), -EINVAL);
	assert_non_null(strstr(why, "longer than 4096"));
	assert_false(tg_glob_match(p, p));
	free(p);
}

static void test_escaped_dstar(void **state)
{
	(void)state;
	/* "\**" is a literal '*' followed by a '*' wildcard */
	assert_true(tg_glob_match("/a/\\**", "/a/*"));
	assert_true(tg_glob_match("/a/\\**", "/a/*xyz"));
	assert_false(tg_glob_match("/a/\\**", "/a/xyz"));
	assert_false(tg_glob_match("/a/\\**", "/a/*x/y"));
}

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Backtracking matchers are exponential on these; ours must stay linear-ish. */
static void test_pathological(void **state)
{
	char path[4096], pattern[4096];
	size_t o = 0;
	double t0;

	(void)state;
	while (o + 3 < 4000) {
		memcpy(path + o, "/a", 2);
		o += 2;
	}
	memcpy(path + o, "/y", 3);

	t0 = now_sec();
	assert_false(tg_glob_match("/**/**/**/**/**/**/**/**/x", path));
	path[o + 1] = 'x';
	assert_true(tg_glob_match("/**/**/**/**/**/**/**/**/x", path));
	path[o + 1] = 'y';

	/* many stars inside one long component */
	o = 0;
	path[o++] = '/';
	while (o < 4000)
		path[o++] = 'a';
	path[o] = '\0';
	assert_false(tg_glob_match("/*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", path));

	/* a 4 kB pattern made of "**" components against a 4 kB path */
	o = 0;
	while (o + 3 < 4000) {
		memcpy(pattern + o, "/**", 3);
		o += 3;
	}
	memcpy(pattern + o, "/x", 3);
	o = 0;
	while (o + 3 < 4000) {
		memcpy(path + o, "/a", 2);
		o += 2;
	}
	memcpy(path + o, "/y", 3);
	assert_false(tg_glob_match(pattern, path));
	if (now_sec() - t0 > 5.0)
		fail_msg("pathological globs took %.1f s", now_sec() - t0);
}

struct reduce_case {
	const char *pattern;
	enum tg_glob_form form;
	const char *literal;
};

static const struct reduce_case reduce_cases[] = {
    {"/usr/bin/claude", TG_GLOB_EXACT, "/usr/bin/claude"},
    {"/usr/bin/cl\\*ude", TG_GLOB_EXACT, "/usr/bin/cl*ude"},
    {"/", TG_GLOB_EXACT, "/"},
    {"/opt/claude/**", TG_GLOB_PREFIX, "/opt/claude/"},
    {"/opt/\\[x\\]/**", TG_GLOB_PREFIX, "/opt/[x]/"},
    {"/**", TG_GLOB_PREFIX, "/"},
    {"**", TG_GLOB_PREFIX, "/"},
    {"**/claude", TG_GLOB_SUFFIX, "/claude"},
    {"**/node_modules/@anthropic-ai/claude-code/cli.js", TG_GLOB_SUFFIX,
     "/node_modules/@anthropic-ai/claude-code/cli.js"},
    {"**/x\\?", TG_GLOB_SUFFIX, "/x?"},
    {"**/node_modules/@anthropic-ai/claude-code*/**", TG_GLOB_COMPLEX, NULL},
    {"**/.local/share/claude/versions/*", TG_GLOB_COMPLEX, NULL},
    {"/opt/*/claude", TG_GLOB_COMPLEX, NULL},
    {"/opt/claude?", TG_GLOB_COMPLEX, NULL},
    {"/opt/[ab]/**", TG_GLOB_COMPLEX, NULL},
    {"/a/**/b", TG_GLOB_COMPLEX, NULL},
    {"**/a/**", TG_GLOB_COMPLEX, NULL},
    {"/a/**/**", TG_GLOB_COMPLEX, NULL},
    {"a/b", TG_GLOB_COMPLEX, NULL}, /* invalid */
    {"/a/[", TG_GLOB_COMPLEX, NULL},
};

static void test_reduce(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(reduce_cases); i++) {
		const struct reduce_case *c = &reduce_cases[i];
		char *lit = (char *)"untouched";
		enum tg_glob_form f = tg_glob_reduce(c->pattern, &lit);

		if (f != c->form)
			fail_msg("reduce \"%s\": expected form %d, got %d", c->pattern, c->form, f);
		if (c->literal) {
			assert_non_null(lit);
			if (strcmp(lit, c->literal) != 0)
				fail_msg("reduce \"%s\": expected literal \"%s\", got \"%s\"", c->pattern,
					 c->literal, lit);
			free(lit);
		} else {
			assert_null(lit);
		}
	}
	/* ret_literal may be NULL */
	assert_int_equal(tg_glob_reduce("/x/**", NULL), TG_GLOB_PREFIX);
}

/* A reduced form must agree with the full matcher (what the kernel relies on). */
/* "P/ ** /S": prefix AND suffix AND minimum length must equal the full matcher. */
static void test_split_affix(void **state)
{
	(void)state;
	static const char *yes[] = {"/tmp/x/**/banned.js", "/a/**/b/c", "/home/ann/**/cli.js"};
	static const char *no[] = {"**/x/cli.js", "/a/**",   "/a/*/**/b", "/a/**/b*", "/a/b",
				   "a/**/b",      "/a/**/", "/a/**/**/b"};
	static const char *paths[] = {"/tmp/x/banned.js",     "/tmp/x/y/z/banned.js", "/tmp/xbanned.js",
				      "/tmp/x/y/notbanned.js", "/tmp/banned.js",       "/a/b/c",
				      "/a/b/c/b/c",           "/a/bc",                "/a/b",
				      "/home/ann/cli.js",     "/home/ann/p/cli.js",   "/home/anncli.js"};
	size_t plen;
	const char *suffix;

	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(tg_glob_split_affix(no[i], &plen, &suffix));
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		assert_true(tg_glob_split_affix(yes[i], &plen, &suffix));
		assert_int_equal(yes[i][plen - 1], '/');
		assert_int_equal(suffix[0], '/');
		for (size_t j = 0; j < sizeof(paths) / sizeof(paths[0]); j++) {
			const char *pa = paths[j];
			size_t n = strlen(pa), sl = strlen(suffix);
			bool kernel = n >= plen + sl - 1 && strncmp(pa, yes[i], plen) == 0 &&
				      strcmp(pa + n - sl, suffix) == 0;

			if (kernel != tg_glob_match(yes[i], pa))
				fail_msg("%s vs %s: affix form says %d, matcher says %d", yes[i], pa, kernel,
					 !kernel);
		}
	}
}

static void test_reduce_agrees(void **state)
{
	static const char *const paths[] = {
	    "/",
	    "/claude",
	    "/opt/claude",
	    "/opt/claude/",
	    "/opt/claude/x",
	    "/opt/claudex",
	    "/a/claude",
	    "/a/b/claude",
	    "/a/claudeclaude",
	    "/opt/claude/bin/claude",
	};
	static const char *const patterns[] = {"/opt/claude", "/opt/claude/**", "**/claude", "**", "/**"};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(patterns); i++) {
		char *lit = NULL;
		enum tg_glob_form f = tg_glob_reduce(patterns[i], &lit);

		assert_non_null(lit);
		for (size_t k = 0; k < ARRAY_SIZE(paths); k++) {
			const char *p = paths[k];
			size_t pl = strlen(p), ll = strlen(lit);
			bool kernel = false;

			if (f == TG_GLOB_EXACT)
				kernel = strcmp(p, lit) == 0;
			else if (f == TG_GLOB_PREFIX)
				kernel = strncmp(p, lit, ll) == 0;
			else if (f == TG_GLOB_SUFFIX)
				kernel = pl >= ll && strcmp(p + pl - ll, lit) == 0;
			if (kernel != tg_glob_match(patterns[i], p))
				fail_msg("\"%s\" reduced to %d \"%s\" disagrees on \"%s\"", patterns[i], f,
					 lit, p);
		}
		free(lit);
	}
}

/*
 * Reference matcher for the differential test: plain recursion straight
 * from the definition (exponential, fine for short strings). Understands
 * only what gen_pattern() writes.
 */
static bool ref_match(const char *p, const char *s)
{
	if (!*p)
		return !*s;
	if (strncmp(p, "**/", 3) == 0) {
		/* nothing, or anything ending in '/' */
		if (ref_match(p + 3, s))
			return true;
		for (const char *q = s; *q; q++)
			if (*q == '/' && ref_match(p + 3, q + 1))
				return true;
		return false;
	}
	if (strcmp(p, "**") == 0)
		return true;
	if (*p == '*') {
		for (const char *q = s;; q++) {
			if (ref_match(p + 1, q))
				return true;
			if (!*q || *q == '/')
				return false;
		}
	}
	if (strncmp(p, "[ab]", 4) == 0)
		return (*s == 'a' || *s == 'b') && ref_match(p + 4, s + 1);
	if (strncmp(p, "[!a]", 4) == 0)
		return *s && *s != 'a' && *s != '/' && ref_match(p + 4, s + 1);
	if (*p == '?')
		return *s && *s != '/' && ref_match(p + 1, s + 1);
	return *s == *p && ref_match(p + 1, s + 1);
}

static unsigned rnd(unsigned *seed, unsigned n)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 16) % n;
}

static void gen_pattern(unsigned *seed, char *out, size_t len)
{
	static const char *const atoms[] = {"a", "b", "*", "?", "[ab]", "[!a]"};
	unsigned comps = 1 + rnd(seed, 4);

	out[0] = '\0';
	for (unsigned c = 0; c < comps; c++) {
		bool last = c + 1 == comps;

		if (c == 0 && rnd(seed, 3) == 0) {
			strncat(out, "**", len - strlen(out) - 1);
			if (!last)
				strncat(out, "/", len - strlen(out) - 1);
			continue;
		}
		if (c == 0)
			strncat(out, "/", len - strlen(out) - 1);
		if (rnd(seed, 4) == 0) {
			strncat(out, "**", len - strlen(out) - 1);
		} else {
			unsigned n = rnd(seed, 4);

			for (unsigned k = 0; k < n; k++) {
				const char *a = atoms[rnd(seed, ARRAY_SIZE(atoms))];
				size_t ol = strlen(out);

				if (a[0] == '*' && ol && out[ol - 1] == '*')
					continue; /* "**" inside a component is invalid */
				strncat(out, a, len - ol - 1);
			}
		}
		if (!last)
			strncat(out, "/", len - strlen(out) - 1);
	}
}

static void gen_path(unsigned *seed, char *out, size_t len)
{
	unsigned comps = rnd(seed, 5);
	size_t o = 0;

	out[o++] = '/';
	for (unsigned c = 0; c < comps && o + 6 < len; c++) {
		unsigned n = rnd(seed, 4);

		if (c)
			out[o++] = '/';
		for (unsigned k = 0; k < n; k++)
			out[o++] = "ab/"[rnd(seed, 2)];
	}
	out[o] = '\0';
}

static void test_differential(void **state)
{
	unsigned seed = 20260710;
	unsigned matched = 0;

	(void)state;
	for (int i = 0; i < 50000; i++) {
		char pat[128], path[64];
		const char *why = NULL;

		gen_pattern(&seed, pat, sizeof(pat));
		gen_path(&seed, path, sizeof(path));
		if (tg_glob_validate(pat, &why) != 0)
			fail_msg("generated glob \"%s\" refused: %s", pat, why);
		if (tg_glob_match(pat, path) != ref_match(pat, path))
			fail_msg("glob \"%s\" vs \"%s\": matcher says %d, reference %d", pat, path,
				 tg_glob_match(pat, path), ref_match(pat, path));
		matched += ref_match(pat, path);
	}
	/* the generator must exercise both outcomes */
	assert_true(matched > 1000);
	assert_true(matched < 49000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_match_table),	   cmocka_unit_test(test_validate_invalid),
	    cmocka_unit_test(test_validate_valid), cmocka_unit_test(test_validate_length),
	    cmocka_unit_test(test_escaped_dstar),  cmocka_unit_test(test_pathological),
	    cmocka_unit_test(test_reduce),	   cmocka_unit_test(test_reduce_agrees),
	    cmocka_unit_test(test_differential), cmocka_unit_test(test_split_affix),
	};

	return cmocka_run_group_tests_name("glob", tests, NULL, NULL);
}
