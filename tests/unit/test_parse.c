/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The policy parser (lib/policy_parse.c): values of good policies, and for every
 * file in tests/policies/bad/ the errors its "# expect: LINE:COL: fragment" lines
 * announce (or a NAME.yaml.expect file, for files that cannot hold a comment).
 * Adding a case is adding a file. Hostile inputs too big to commit are made here.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy.h"

#ifndef TG_TEST_POLICIES
#define TG_TEST_POLICIES "tests/policies"
#endif

/* ---------- helpers ---------- */

static char *read_all(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rbe");
	char *buf = NULL;
	size_t len = 0, cap = 0, k;

	assert_non_null(f);
	do {
		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		k = fread(buf + len, 1, cap - len, f);
		len += k;
	} while (k > 0);
	fclose(f);
	buf[len] = '\0';
	*ret_len = len;
	return buf;
}

static void dump_diags(const struct tg_diags *d)
{
	char line[2048];

	for (size_t i = 0; i < d->n; i++)
		print_message("#   %s\n", tg_diag_format(&d->v[i], line, sizeof(line)));
}

static bool has_diag(const struct tg_diags *d, uint32_t line, uint32_t col, const char *frag)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].pos.line == line && d->v[i].pos.col == col && strstr(d->v[i].msg, frag))
			return true;
	return false;
}

static void expect_diag(const struct tg_diags *d, uint32_t line, uint32_t col, const char *frag)
{
	if (!has_diag(d, line, col, frag)) {
		dump_diags(d);
		fail_msg("no diagnostic %u:%u: ...%s...", line, col, frag);
	}
}

static struct tg_policy *parse_ok(const char *text)
{
	struct tg_diags d = {0};
	struct tg_policy *p = NULL;
	int r = tg_policy_parse(text, strlen(text), "inline.yaml", &p, &d);

	if (r != 0) {
		dump_diags(&d);
		fail_msg("parse failed: %d", r);
	}
	assert_int_equal(d.n, 0);
	tg_diags_free(&d);
	return p;
}

static int parse_bad(const char *text, size_t len, struct tg_diags *d)
{
	struct tg_policy *p = (struct tg_policy *)0x1;
	int r = tg_policy_parse(text, len, "inline.yaml", &p, d);

	assert_int_equal(r, -EINVAL);
	assert_ptr_equal(p, (struct tg_policy *)0x1); /* untouched on error */
	assert_true(d->n >= 1);
	for (size_t i = 0; i < d->n; i++)
		assert_string_equal(d->v[i].file, "inline.yaml");
	return r;
}

static struct tg_policy *load_good(const char *name)
{
	char path[1024];
	struct tg_diags d = {0};
	struct tg_policy *p = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/good/%s", TG_TEST_POLICIES, name);
	r = tg_policy_load_file(path, &p, &d);
	if (r != 0) {
		dump_diags(&d);
		fail_msg("%s: %d", path, r);
	}
	assert_int_equal(d.n, 0);
	assert_string_equal(p->source, path);
	tg_diags_free(&d);
	return p;
}

static const char HDR[] = "apiVersion: toolguard/v1\nkind: Policy\nmetadata:\n  name: t\n";

/* ---------- the bad corpus: one TAP line per file ---------- */

struct expectation {
	uint32_t line, col;
	char frag[512];
};

static size_t read_expectations(const char *path, struct expectation *ex, size_t max, long *ret_count)
{
	char side[1100], buf[1024];
	size_t n = 0;
	FILE *f;

	*ret_count = -1;
	snprintf(side, sizeof(side), "%s.expect", path);
	f = fopen(side, "re");
	if (!f)
		f = fopen(path, "re");
	assert_non_null(f);
	while (n < max && fgets(buf, sizeof(buf), f)) {
		unsigned line, col;
		int off = 0;

		if (sscanf(buf, "# expect-count: %ld", ret_count) == 1)
			continue;
		if (sscanf(buf, "# expect: %u:%u: %n", &line, &col, &off) != 2 || off == 0)
			break;
		ex[n].line = line;
		ex[n].col = col;
		snprintf(ex[n].frag, sizeof(ex[n].frag), "%s", buf + off);
		ex[n].frag[strcspn(ex[n].frag, "\r\n")] = '\0';
		n++;
	}
	fclose(f);
	return n;
}

static void test_bad_file(void **state)
{
	const char *path = *state;
	struct expectation ex[8];
	struct tg_diags d = {0};
	struct tg_policy *p = (struct tg_policy *)0x1;
	long count;
	size_t n = read_expectations(path, ex, 8, &count);
	int r;

	if (n == 0)
		fail_msg("%s: no '# expect: LINE:COL: text' line", path);
	r = tg_policy_load_file(path, &p, &d);
	if (r != -EINVAL) {
		dump_diags(&d);
		fail_msg("%s: returned %d, want -EINVAL", path, r);
	}
	assert_ptr_equal(p, (struct tg_policy *)0x1);
	assert_true(d.n >= 1);
	for (size_t i = 0; i < d.n; i++)
		assert_string_equal(d.v[i].file, path);
	for (size_t i = 0; i < n; i++)
		expect_diag(&d, ex[i].line, ex[i].col, ex[i].frag);
	if (count >= 0 && (long)d.n != count) {
		dump_diags(&d);
		fail_msg("%zu diagnostics, want %ld", d.n, count);
	}
	tg_diags_free(&d);
}

/* ---------- good policies ---------- */

static void test_all_good_files(void **state)
{
	char dir[1024], path[2048];
	struct dirent *de;
	unsigned n = 0;
	DIR *dp;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/good", TG_TEST_POLICIES);
	dp = opendir(dir);
	assert_non_null(dp);
	while ((de = readdir(dp))) {
		struct tg_diags d = {0};
		struct tg_policy *p = NULL;
		size_t l = strlen(de->d_name);

		if (l < 6 || strcmp(de->d_name + l - 5, ".yaml") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (tg_policy_load_file(path, &p, &d) != 0) {
			dump_diags(&d);
			fail_msg("%s rejected", path);
		}
		tg_policy_free(p);
		tg_diags_free(&d);
		n++;
	}
	closedir(dp);
	assert_true(n >= 5);
}

static void test_example_values(void **state)
{
	struct tg_policy *p = load_good("example.yaml");
	const struct tg_tool *t;
	uint8_t digest[32];
	char *bytes, path[1024];
	size_t len;

	(void)state;
	assert_string_equal(p->name, "acme-ai-tools");
	assert_int_equal(p->serial, 42);
	assert_string_equal(p->contact, "https://intranet.acme.example/ai-policy");
	assert_int_equal(p->default_action, TG_ACTION_BLOCK);
	assert_string_equal(p->default_notice_url, "https://intranet.acme.example/ai-policy");
	assert_int_equal(p->n_tools, 1);
	t = &p->tools[0];
	assert_string_equal(t->id, "claude-code");
	assert_string_equal(t->name, "Claude Code");
	assert_string_equal(t->vendor, "Anthropic");
	assert_int_equal(t->action, TG_ACTION_BLOCK);
	assert_int_equal(tg_tool_action(p, t), TG_ACTION_BLOCK);
	assert_true(t->effective.set);
	assert_false(t->effective.bare_date);
	assert_int_equal(t->effective.t, 1783612800); /* 2026-07-10T00:00:00+08:00 */
	assert_int_equal(t->effective.utcoff_min, 480);
	assert_int_equal(t->warn_before, 14 * 86400);
	assert_true(t->expires.set);
	assert_true(t->expires.bare_date);
	assert_string_equal(t->alternative, "Qoder");
	assert_string_equal(t->message, "Claude Code is not approved for work at Acme. Use Qoder instead.");
	assert_null(t->notice_url);
	assert_string_equal(tg_tool_notice_url(p, t), "https://intranet.acme.example/ai-policy");
	assert_int_equal(t->rollout_percent, 100);
	assert_int_equal(t->pos.line, 13);
	assert_int_equal(t->pos.col, 5);

	assert_int_equal(t->n_exes, 4);
	assert_int_equal(t->exes[0].kind, TG_EXE_NAME);
	assert_string_equal(t->exes[0].value, "claude");
	assert_int_equal(t->exes[0].pos.line, 24);
	assert_int_equal(t->exes[0].pos.col, 11);
	assert_int_equal(t->exes[1].kind, TG_EXE_PATH);
	assert_string_equal(t->exes[1].value, "**/node_modules/@anthropic-ai/claude-code*/**");
	assert_int_equal(t->exes[2].kind, TG_EXE_PATH);
	assert_string_equal(t->exes[2].value, "**/.local/share/claude/versions/*");
	assert_int_equal(t->exes[3].kind, TG_EXE_SHA256);
	/* stored lower-case, and as bytes */
	assert_string_equal(t->exes[3].value,
			    "3f0c5e1b9a2d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60");
	assert_int_equal(t->exes[3].sha256[0], 0x3f);
	assert_int_equal(t->exes[3].sha256[1], 0x0c);
	assert_int_equal(t->exes[3].sha256[31], 0x60);

	assert_int_equal(t->n_scripts, 1);
	assert_string_equal(t->scripts[0].path, "**/node_modules/@anthropic-ai/claude-code/cli.js");
	assert_int_equal(t->scripts[0].pos.line, 29);

	assert_int_equal(t->n_hosts, 5);
	assert_int_equal(t->hosts[0].kind, TG_HOST_NAME);
	assert_string_equal(t->hosts[0].name, "api.anthropic.com");
	assert_int_equal(t->hosts[0].n_ports, 0);
	assert_int_equal(t->hosts[1].kind, TG_HOST_WILDCARD);
	assert_string_equal(t->hosts[1].name, "anthropic.com");
	assert_int_equal(t->hosts[2].kind, TG_HOST_NAME);
	assert_string_equal(t->hosts[2].name, "claude.ai");
	assert_int_equal(t->hosts[3].kind, TG_HOST_CIDR);
	assert_null(t->hosts[3].name);
	assert_int_equal(t->hosts[3].cidr.family, AF_INET);
	assert_int_equal(t->hosts[3].cidr.prefixlen, 23);
	assert_int_equal(t->hosts[3].cidr.addr[0], 160);
	assert_int_equal(t->hosts[3].cidr.addr[2], 104);
	assert_int_equal(t->hosts[4].kind, TG_HOST_NAME);
	assert_string_equal(t->hosts[4].name, "statsig.anthropic.com");
	assert_int_equal(t->hosts[4].n_ports, 1);
	assert_int_equal(t->hosts[4].ports[0], 443);
	assert_int_equal(t->hosts[4].pos.line, 35);
	assert_int_equal(t->hosts[4].pos.col, 11);

	assert_int_equal(t->exempt.n_users, 1);
	assert_string_equal(t->exempt.users[0].name, "alice");
	assert_false(t->exempt.users[0].numeric);
	assert_int_equal(t->exempt.n_groups, 1);
	assert_string_equal(t->exempt.groups[0].name, "ai-research");
	assert_true(t->exempt.until.set);
	assert_true(t->exempt.until.bare_date);

	assert_int_equal(p->n_interpreters, 6);
	assert_string_equal(p->interpreters[0], "node");
	assert_string_equal(p->interpreters[4], "python3*");
	assert_string_equal(p->interpreters[5], "ld-linux*.so*");

	/* sha256 of the exact bytes */
	snprintf(path, sizeof(path), "%s/good/example.yaml", TG_TEST_POLICIES);
	bytes = read_all(path, &len);
	assert_int_equal(EVP_Digest(bytes, len, digest, NULL, EVP_sha256(), NULL), 1);
	assert_memory_equal(p->sha256, digest, 32);
	free(bytes);
	tg_policy_free(p);
}

static void test_features_values(void **state)
{
	struct tg_policy *p = load_good("features.yaml");
	const struct tg_tool *a, *b;

	(void)state;
	assert_string_equal(p->name, "features");
	assert_int_equal(p->serial, INT64_MAX);
	assert_int_equal(p->default_action, TG_ACTION_ALERT);
	assert_null(p->default_notice_url);
	assert_int_equal(p->n_interpreters, 0); /* an explicit empty list stays empty */
	assert_int_equal(p->n_tools, 2);
	a = &p->tools[0];
	b = &p->tools[1];
	assert_int_equal(a->rollout_percent, 25);
	assert_int_equal(a->effective.t, 1772377200); /* 2026-03-01 09:30:00.123-05:30 */
	assert_int_equal(a->effective.utcoff_min, -330);
	assert_int_equal(a->expires.t, 1772443800);
	assert_int_equal(a->warn_before, 788645);
	assert_string_equal(a->message, "Tool A: not approved.");
	assert_string_equal(a->notice_url, "http://intranet.example/tool-a");
	assert_int_equal(a->n_hosts, 6);
	assert_int_equal(a->hosts[0].kind, TG_HOST_NAME);
	assert_string_equal(a->hosts[0].name, "tool-a.example.com");
	assert_int_equal(a->hosts[1].kind, TG_HOST_WILDCARD);
	assert_string_equal(a->hosts[1].name, "tool-a.example");
	assert_int_equal(a->hosts[2].cidr.family, AF_INET6);
	assert_int_equal(a->hosts[2].cidr.prefixlen, 48);
	assert_int_equal(a->hosts[3].cidr.family, AF_INET); /* ::ffff:127.77.0.0/112 */
	assert_int_equal(a->hosts[3].cidr.prefixlen, 16);
	assert_int_equal(a->hosts[3].cidr.addr[0], 127);
	assert_int_equal(a->hosts[3].cidr.addr[1], 77);
	assert_int_equal(a->hosts[4].cidr.prefixlen, 32);
	assert_int_equal(a->hosts[5].kind, TG_HOST_CIDR);
	assert_int_equal(a->hosts[5].n_ports, 3);
	assert_int_equal(a->hosts[5].ports[0], 80);
	assert_int_equal(a->hosts[5].ports[2], 65535);
	assert_int_equal(a->exempt.n_users, 3);
	assert_string_equal(a->exempt.users[0].name, "alice");
	assert_true(a->exempt.users[1].numeric);
	assert_null(a->exempt.users[1].name);
	assert_int_equal(a->exempt.users[1].id, 1000);
	assert_true(a->exempt.users[2].numeric);
	assert_int_equal(a->exempt.users[2].id, 0);
	assert_int_equal(a->exempt.n_groups, 2);
	assert_true(a->exempt.groups[1].numeric);
	assert_int_equal(a->exempt.groups[1].id, 27);
	assert_string_equal(b->id, "tool-b");
	assert_string_equal(b->name, "tool-b"); /* defaults to the id */
	assert_int_equal(b->action, TG_ACTION_ALLOW);
	assert_false(b->effective.set);
	assert_int_equal(b->warn_before, 0);
	assert_int_equal(b->rollout_percent, 100);
	tg_policy_free(p);
}

static void test_json_flow_values(void **state)
{
	struct tg_policy *p = load_good("json-flow.yaml");
	const struct tg_tool *t = &p->tools[0];

	(void)state;
	assert_int_equal(p->serial, 7);
	assert_int_equal(p->default_action, TG_ACTION_ALERT);
	assert_int_equal(t->action, TG_ACTION_BLOCK);
	assert_int_equal(t->effective.t, 1767225600);
	assert_int_equal(t->n_exes, 2);
	assert_int_equal(t->n_scripts, 1);
	assert_int_equal(t->n_hosts, 2);
	assert_int_equal(t->hosts[1].cidr.family, AF_INET6);
	assert_int_equal(t->hosts[1].n_ports, 2);
	assert_int_equal(t->hosts[1].ports[1], 8443);
	assert_true(t->exempt.users[1].numeric);
	assert_int_equal(t->exempt.users[1].id, 1001);
	assert_true(t->exempt.groups[0].numeric); /* "0" quoted is still an id */
	assert_int_equal(p->n_interpreters, 1);
	tg_policy_free(p);
}

static void test_defaults_and_names(void **state)
{
	struct tg_policy *p;
	char buf[1024];

	(void)state;
	snprintf(buf, sizeof(buf), "%stools:\n  - id: x\n    match: {hosts: [x.example]}\n", HDR);
	p = parse_ok(buf);
	assert_int_equal(p->default_action, TG_ACTION_BLOCK);
	assert_int_equal(p->tools[0].action, TG_ACTION_UNSET);
	assert_int_equal(tg_tool_action(p, &p->tools[0]), TG_ACTION_BLOCK);
	assert_int_equal(p->serial, 0);
	assert_null(p->contact);
	assert_string_equal(p->source, "inline.yaml");
	assert_int_equal(p->n_interpreters, 6);
	assert_string_equal(p->interpreters[1], "nodejs");
	assert_string_equal(p->interpreters[2], "bun");
	assert_string_equal(p->interpreters[3], "deno");
	tg_policy_free(p);

	assert_string_equal(tg_action_name(TG_ACTION_BLOCK), "block");
	assert_string_equal(tg_action_name(TG_ACTION_ALERT), "alert");
	assert_string_equal(tg_action_name(TG_ACTION_ALLOW), "allow");
	assert_string_equal(tg_action_name(TG_ACTION_UNSET), "unset");
}

/* ---------- all errors of a file ---------- */

/* Extension: scripts[].sha256, the content hash of a script file. */
static void test_script_sha256(void **state)
{
	char text[1024];
	struct tg_policy *p;

	(void)state;
	snprintf(text, sizeof(text),
		 "%stools:\n  - id: t\n    match:\n      scripts:\n        - path: /opt/t/cli.js\n"
		 "        - sha256: 00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\n",
		 HDR);
	p = parse_ok(text);
	assert_int_equal(p->tools[0].n_scripts, 2);
	assert_string_equal(p->tools[0].scripts[0].path, "/opt/t/cli.js");
	assert_null(p->tools[0].scripts[0].sha256_hex);
	assert_null(p->tools[0].scripts[1].path);
	assert_string_equal(p->tools[0].scripts[1].sha256_hex,
			    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
	assert_int_equal(p->tools[0].scripts[1].sha256[0], 0x00);
	assert_int_equal(p->tools[0].scripts[1].sha256[10], 0xaa);
	assert_int_equal(p->tools[0].scripts[1].sha256[31], 0xff);
	assert_int_equal(p->tools[0].scripts[1].pos.line, 10);
	assert_int_equal(p->tools[0].scripts[1].pos.col, 11);
	tg_policy_free(p);
}

static void test_three_errors(void **state)
{
	static const char text[] = "apiVersion: toolguard/v1\n"
				   "kind: Policy\n"
				   "metadata:\n"
				   "  name: t\n"
				   "  serial: -3\n"
				   "tools:\n"
				   "  - id: a\n"
				   "    warn_before: soon\n"
				   "    match:\n"
				   "      hosts: [10.0.0.1/8]\n";
	struct tg_diags d = {0};

	(void)state;
	parse_bad(text, strlen(text), &d);
	assert_int_equal(d.n, 3);
	expect_diag(&d, 5, 11, "metadata.serial");
	expect_diag(&d, 8, 18, "invalid duration for tools[0].warn_before: \"soon\"");
	expect_diag(&d, 10, 15, "did you mean 10.0.0.0/8?");
	tg_diags_free(&d);
}

static void test_diag_cap(void **state)
{
	size_t cap = 300 * 32 + 1024, off;
	struct tg_diags d = {0};
	char *buf = malloc(cap);
	char line[256];

	(void)state;
	assert_non_null(buf);
	off = (size_t)snprintf(buf, cap, "%stools:\n  - id: a\n    match:\n      hosts:\n", HDR);
	for (int i = 0; i < 300; i++)
		off += (size_t)snprintf(buf + off, cap - off, "        - bad_%d.example\n", i);
	parse_bad(buf, off, &d);
	assert_int_equal(d.n, TG_POLICY_MAX_DIAGS);
	assert_int_equal(d.dropped, 100);
	assert_string_equal(
	    tg_diag_format(&d.v[0], line, sizeof(line)),
	    "inline.yaml:9:11: invalid host \"bad_0.example\": expected a DNS name (labels of letters, "
	    "digits and '-'), \"*.example.com\" or a CIDR like 160.79.104.0/23");
	tg_diags_free(&d);
	assert_int_equal(d.n, 0);
	free(buf);
}

static void test_diag_api(void **state)
{
	struct tg_diags d = {0};
	char line[64];

	(void)state;
	tg_diags_add(&d, "f.yaml", (struct tg_pos){3, 7}, "bad %s %d", "thing", 42);
	tg_diags_add(&d, "f.yaml", (struct tg_pos){0, 0}, "whole-file problem");
	tg_diags_add(&d, NULL, (struct tg_pos){1, 1}, "x");
	assert_int_equal(d.n, 3);
	assert_string_equal(tg_diag_format(&d.v[0], line, sizeof(line)), "f.yaml:3:7: bad thing 42");
	assert_string_equal(tg_diag_format(&d.v[1], line, sizeof(line)), "f.yaml: whole-file problem");
	assert_string_equal(tg_diag_format(&d.v[2], line, sizeof(line)), "<input>:1:1: x");
	tg_diag_format(&d.v[0], line, 8);
	assert_string_equal(line, "f.yaml:");
	tg_diags_free(&d);
	tg_diags_free(&d); /* idempotent */
	tg_diags_free(NULL);
}

/* ---------- hostile input ---------- */

static void test_deep_nesting_10000(void **state)
{
	const size_t depth = 10000;
	size_t len = 10 + 2 * depth;
	struct tg_diags d = {0};
	char *buf = malloc(len + 1);

	(void)state;
	assert_non_null(buf);
	memcpy(buf, "defaults: ", 10);
	memset(buf + 10, '[', depth);
	memset(buf + 10 + depth, ']', depth);
	buf[len] = '\0';
	parse_bad(buf, len, &d);
	assert_int_equal(d.n, 1);
	/* the root mapping is level 1; the 32nd level is the 31st '[' */
	expect_diag(&d, 1, 11 + TG_POLICY_MAX_DEPTH - 1, "nesting deeper than 32 levels");
	tg_diags_free(&d);

	/* same with block mappings */
	{
		size_t cap = depth * (depth < 200 ? depth : 200) + 64, off = 0;
		char *b = malloc(cap);

		assert_non_null(b);
		for (size_t i = 0; i < 100; i++)
			off += (size_t)snprintf(b + off, cap - off, "%*sk:\n", (int)i, "");
		parse_bad(b, off, &d);
		expect_diag(&d, TG_POLICY_MAX_DEPTH + 1, TG_POLICY_MAX_DEPTH + 1, "nesting deeper");
		tg_diags_free(&d);
		free(b);
	}
	free(buf);
}

static char *make_tmpdir(void)
{
	char *dir = strdup("/tmp/tg-test-parse-XXXXXX");

	assert_non_null(dir);
	assert_non_null(mkdtemp(dir));
	return dir;
}

static unsigned long long proc_rchar(void)
{
	char line[256];
	unsigned long long v = 0;
	FILE *f = fopen("/proc/self/io", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "rchar: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void test_huge_file_refused(void **state)
{
	char *dir = make_tmpdir(), path[512];
	struct tg_diags d = {0};
	struct tg_policy *p = (struct tg_policy *)0x1;
	unsigned long long before, after;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/huge.yaml", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "apiVersion: toolguard/v1\n", 25), 25);
	assert_int_equal(ftruncate(fd, 100 * 1024 * 1024), 0); /* sparse 100 MB */
	close(fd);

	before = proc_rchar();
	assert_int_equal(tg_policy_load_file(path, &p, &d), -EFBIG);
	after = proc_rchar();
	assert_ptr_equal(p, (struct tg_policy *)0x1);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.v[0].pos.line, 0);
	assert_string_equal(d.v[0].file, path);
	assert_non_null(
	    strstr(d.v[0].msg, "file is 104857600 bytes, larger than the limit of 8388608 bytes"));
	/* refused by size: (almost) nothing was read */
	if (before && after - before > 65536)
		fail_msg("read %llu bytes of a file refused for its size", after - before);
	tg_diags_free(&d);

	/* a buffer over the cap is refused by tg_policy_parse too, without parsing */
	{
		size_t len = TG_POLICY_MAX_BYTES + 1;
		char *big = malloc(len);

		assert_non_null(big);
		memset(big, '#', len);
		parse_bad(big, len, &d);
		assert_non_null(strstr(d.v[0].msg, "larger than the limit of 8388608 bytes"));
		tg_diags_free(&d);
		free(big);
	}
	/* exactly at the cap: read and parsed (a comment-only file: "empty policy") */
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	{
		char blk[65536];

		memset(blk, ' ', sizeof(blk));
		blk[0] = '#';
		blk[sizeof(blk) - 1] = '\n';
		for (size_t i = 0; i < TG_POLICY_MAX_BYTES / sizeof(blk); i++)
			assert_int_equal(write(fd, blk, sizeof(blk)), (ssize_t)sizeof(blk));
	}
	close(fd);
	assert_int_equal(tg_policy_load_file(path, &p, &d), -EINVAL);
	expect_diag(&d, 1, 1, "empty policy");
	tg_diags_free(&d);

	unlink(path);
	rmdir(dir);
	free(dir);
}

static void test_not_regular_files(void **state)
{
	char *dir = make_tmpdir(), path[512], good[1024];
	struct tg_diags d = {0};
	struct tg_policy *p = (struct tg_policy *)0x1;

	(void)state;
	/* a directory */
	assert_int_equal(tg_policy_load_file(dir, &p, &d), -EINVAL);
	assert_non_null(strstr(d.v[0].msg, "not a regular file"));
	tg_diags_free(&d);
	/* a FIFO: refused without blocking on open */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(tg_policy_load_file(path, &p, &d), -EINVAL);
	assert_non_null(strstr(d.v[0].msg, "not a regular file"));
	tg_diags_free(&d);
	unlink(path);
	/* a character device */
	assert_int_equal(tg_policy_load_file("/dev/zero", &p, &d), -EINVAL);
	tg_diags_free(&d);
	/* missing */
	snprintf(path, sizeof(path), "%s/missing.yaml", dir);
	assert_int_equal(tg_policy_load_file(path, &p, &d), -ENOENT);
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.v[0].msg, "cannot open the policy file"));
	tg_diags_free(&d);
	assert_ptr_equal(p, (struct tg_policy *)0x1);
	/* a symlink to a regular file is followed (paths are chosen by root) */
	snprintf(good, sizeof(good), "%s/good/minimal.yaml", TG_TEST_POLICIES);
	snprintf(path, sizeof(path), "%s/link.yaml", dir);
	assert_int_equal(symlink(good, path), 0);
	p = NULL;
	assert_int_equal(tg_policy_load_file(path, &p, &d), 0);
	assert_string_equal(p->source, path);
	tg_policy_free(p);
	unlink(path);
	rmdir(dir);
	free(dir);
}

static void test_empty_inputs(void **state)
{
	struct tg_diags d = {0};

	(void)state;
	parse_bad(NULL, 0, &d);
	expect_diag(&d, 1, 1, "empty policy: expected a mapping with apiVersion: toolguard/v1");
	tg_diags_free(&d);
	parse_bad("---\n", 4, &d);
	expect_diag(&d, 1, 1, "empty policy");
	tg_diags_free(&d);
	parse_bad("~\n", 2, &d);
	expect_diag(&d, 1, 1, "empty policy");
	tg_diags_free(&d);
	/* NUL in the middle of an otherwise good buffer */
	parse_bad("apiVersion: toolguard/v1\n\0kind: Policy\n", 39, &d);
	expect_diag(&d, 2, 1, "NUL byte");
	tg_diags_free(&d);
	/* UTF-16 is refused (it contains NUL bytes) */
	parse_bad("\xff\xfe"
		  "a\0p\0i\0",
		  8, &d);
	expect_diag(&d, 1, 4, "NUL byte");
	tg_diags_free(&d);
	/* "\0" escape inside a double-quoted string */
	{
		char buf[256];
		int n = snprintf(buf, sizeof(buf),
				 "%stools:\n  - id: \"a\\0b\"\n    match: {hosts: [a.example]}\n", HDR);

		parse_bad(buf, (size_t)n, &d);
		expect_diag(&d, 6, 9, "NUL character");
		tg_diags_free(&d);
	}
}

static char *gen_policy(size_t n_tools, size_t per_tool, size_t *ret_len)
{
	size_t cap = 256 + n_tools * (64 + per_tool * 80), off;
	char *buf = malloc(cap);

	assert_non_null(buf);
	off = (size_t)snprintf(buf, cap, "%stools:\n", HDR);
	for (size_t t = 0; t < n_tools; t++) {
		off += (size_t)snprintf(buf + off, cap - off, "  - id: tool-%zu\n    match:\n", t);
		off += (size_t)snprintf(buf + off, cap - off, "      executables:\n");
		for (size_t i = 0; i < per_tool / 3; i++)
			off += (size_t)snprintf(buf + off, cap - off,
						"        - path: \"**/tool%zu/v%zu/*\"\n", t, i);
		off += (size_t)snprintf(buf + off, cap - off, "      hosts:\n");
		for (size_t i = 0; i < per_tool - per_tool / 3; i++)
			off +=
			    (size_t)snprintf(buf + off, cap - off, "        - h%zu.tool%zu.example\n", i, t);
		assert_true(off < cap);
	}
	*ret_len = off;
	return buf;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_10000_matchers_fast(void **state)
{
	struct tg_diags d = {0};
	struct tg_policy *p = NULL;
	size_t len, total = 0;
	char *buf = gen_policy(100, 100, &len);
	double t0, dt;

	(void)state;
	t0 = now_s();
	assert_int_equal(tg_policy_parse(buf, len, "big.yaml", &p, &d), 0);
	dt = now_s() - t0;
	for (size_t i = 0; i < p->n_tools; i++)
		total += p->tools[i].n_exes + p->tools[i].n_hosts;
	assert_int_equal(total, 10000);
	print_message("# 10,000 matchers (%zu bytes) parsed in %.3f s\n", len, dt);
	/* valgrind and sanitizer builds set TG_NO_TIMING */
	if (!getenv("TG_NO_TIMING") && dt >= 0.5)
		fail_msg("parse took %.3f s", dt);
	tg_policy_free(p);
	free(buf);
}

static void test_too_many_matchers_and_tools(void **state)
{
	struct tg_diags d = {0};
	size_t len;
	char *buf;

	(void)state;
	/* 2 tools x 32769 = 65538 > TG_POLICY_MAX_MATCHERS */
	buf = gen_policy(2, 32769, &len);
	parse_bad(buf, len, &d);
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.v[0].msg, "too many matchers: the limit is 65536"));
	tg_diags_free(&d);
	free(buf);

	buf = gen_policy(TG_POLICY_MAX_TOOLS + 1, 1, &len);
	parse_bad(buf, len, &d);
	assert_int_equal(d.n, 1);
	expect_diag(&d, 6, 3, "too many tools: 4097, the limit is 4096");
	tg_diags_free(&d);
	free(buf);
}

static void test_long_string_limit(void **state)
{
	size_t cap = TG_POLICY_MAX_STRING + 512;
	char *buf = malloc(cap);
	struct tg_policy *p;
	struct tg_diags d = {0};
	int off;

	(void)state;
	assert_non_null(buf);
	/* exactly at the limit: accepted */
	off = snprintf(buf, cap, "%stools:\n  - id: a\n    message: ", HDR);
	memset(buf + off, 'm', TG_POLICY_MAX_STRING);
	off += (int)TG_POLICY_MAX_STRING;
	off += snprintf(buf + off, cap - (size_t)off, "\n    match: {hosts: [a.example]}\n");
	p = parse_ok(buf);
	assert_int_equal(strlen(p->tools[0].message), TG_POLICY_MAX_STRING);
	tg_policy_free(p);
	/* one more: refused */
	off = snprintf(buf, cap, "%stools:\n  - id: a\n    message: ", HDR);
	memset(buf + off, 'm', TG_POLICY_MAX_STRING + 1);
	off += (int)TG_POLICY_MAX_STRING + 1;
	off += snprintf(buf + off, cap - (size_t)off, "\n    match: {hosts: [a.example]}\n");
	parse_bad(buf, (size_t)off, &d);
	expect_diag(&d, 7, 14, "string of 4097 bytes is longer than the limit of 4096 bytes");
	tg_diags_free(&d);
	free(buf);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_all_good_files),
	    cmocka_unit_test(test_example_values),
	    cmocka_unit_test(test_features_values),
	    cmocka_unit_test(test_json_flow_values),
	    cmocka_unit_test(test_defaults_and_names),
	    cmocka_unit_test(test_script_sha256),
	    cmocka_unit_test(test_three_errors),
	    cmocka_unit_test(test_diag_cap),
	    cmocka_unit_test(test_diag_api),
	    cmocka_unit_test(test_deep_nesting_10000),
	    cmocka_unit_test(test_huge_file_refused),
	    cmocka_unit_test(test_not_regular_files),
	    cmocka_unit_test(test_empty_inputs),
	    cmocka_unit_test(test_10000_matchers_fast),
	    cmocka_unit_test(test_too_many_matchers_and_tools),
	    cmocka_unit_test(test_long_string_limit),
	};
	const size_t n_fixed = sizeof(fixed) / sizeof(fixed[0]);
	struct CMUnitTest *tests;
	struct dirent **ents = NULL;
	char dir[1024];
	size_t n = 0;
	int n_ents, r;

	setenv("TZ", "UTC0", 1);
	snprintf(dir, sizeof(dir), "%s/bad", TG_TEST_POLICIES);
	n_ents = scandir(dir, &ents, NULL, alphasort);
	if (n_ents < 0) {
		printf("Bail out! cannot read %s\n", dir);
		return 1;
	}
	tests = calloc(n_fixed + (size_t)n_ents, sizeof(*tests));
	if (!tests)
		return 1;
	memcpy(tests, fixed, sizeof(fixed));
	n = n_fixed;
	for (int i = 0; i < n_ents; i++) {
		size_t l = strlen(ents[i]->d_name);
		char *path;

		if (l > 5 && strcmp(ents[i]->d_name + l - 5, ".yaml") == 0 &&
		    asprintf(&path, "%s/%s", dir, ents[i]->d_name) > 0) {
			tests[n].name = strdup(ents[i]->d_name);
			tests[n].test_func = test_bad_file;
			tests[n].initial_state = path;
			n++;
		}
		free(ents[i]);
	}
	free(ents);
	r = _cmocka_run_group_tests("parse", tests, n, NULL, NULL);
	for (size_t i = n_fixed; i < n; i++) {
		free((char *)tests[i].name);
		free(tests[i].initial_state);
	}
	free(tests);
	return r;
}
