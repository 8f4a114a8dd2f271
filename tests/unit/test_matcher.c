/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The reference matcher: exec and destination truth tables, the tool
 * timeline at its exact boundaries, exemptions, precedence. Policies are
 * written in YAML and go through the real parser.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
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

#include "matcher.h"
#include "policy.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define HDR	      "apiVersion: toolguard/v1\nkind: Policy\nmetadata:\n  name: t\n  serial: 1\n"

/* 2026-07-10T00:00:00Z */
#define T0 INT64_C(1783641600)

static struct tg_policy *parse(const char *yaml)
{
	struct tg_diags diags = {0};
	struct tg_policy *p = NULL;
	int r = tg_policy_parse(yaml, strlen(yaml), "test.yaml", &p, &diags);

	if (r < 0) {
		char buf[512];

		for (size_t i = 0; i < diags.n; i++)
			print_error("%s\n", tg_diag_format(&diags.v[i], buf, sizeof(buf)));
		tg_diags_free(&diags);
		fail_msg("policy did not parse (%d):\n%s", r, yaml);
	}
	tg_diags_free(&diags);
	assert_non_null(p);
	return p;
}

/* ---------- a temp dir laid out like an npm install ---------- */

static char tmpdir[256]; /* short, so that paths built on it always fit */

static void make_file(const char *rel, const char *content)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	f = fopen(path, "we");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void make_link(const char *rel, const char *target)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	assert_int_equal(symlink(target, path), 0);
}

static void make_dir(const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static int setup_tmp(void **state)
{
	char *real;

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/tg-matcher-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	/* so that realpath() of paths under it is itself */
	real = realpath(tmpdir, NULL);
	if (!real || strlen(real) >= sizeof(tmpdir)) {
		free(real);
		return -1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s", real);
	free(real);
	make_dir(".bin");
	make_dir("pkg");
	make_dir("work");
	make_file("claude.exe", "\x7f"
				"ELF fake\n");
	make_link(".bin/claude", "../claude.exe");
	make_file("pkg/cli.js", "#!/usr/bin/env node\nconsole.log(1)\n");
	make_link(".bin/qwen", "../pkg/cli.js");
	return 0;
}

static int teardown_tmp(void **state)
{
	static const char *const rel[] = {".bin/claude", ".bin/qwen", "claude.exe", "pkg/cli.js",
					  ".bin",	 "pkg",	      "work"};
	char path[PATH_MAX];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(rel); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, rel[i]);
		remove(path);
	}
	rmdir(tmpdir);
	return 0;
}

static char *tmp_path(const char *rel)
{
	static char bufs[4][PATH_MAX];
	static int k;
	char *b = bufs[k++ % 4];

	snprintf(b, PATH_MAX, "%s/%s", tmpdir, rel);
	return b;
}

/* ---------- queries ---------- */

struct shactx {
	int calls;
	uint8_t digest[32];
	int result;
	char last_path[PATH_MAX];
};

static int fake_sha256(void *ctx, const char *path, uint8_t out[32])
{
	struct shactx *c = ctx;

	c->calls++;
	snprintf(c->last_path, sizeof(c->last_path), "%s", path);
	if (c->result < 0)
		return c->result;
	memcpy(out, c->digest, 32);
	return 0;
}

static struct tg_exec_query exec_q(const char *invoked, const char *resolved, const char *cwd,
				   const char *const *argv, size_t argc)
{
	struct tg_exec_query q = {
	    .path_invoked = invoked,
	    .path_resolved = resolved,
	    .cwd = cwd,
	    .argv = argv,
	    .argc = argc,
	    .uid = 1000,
	    .now = T0,
	};
	return q;
}

static struct tg_decision exec1(const struct tg_policy *p, const struct tg_exec_query *q)
{
	struct tg_decision d;

	assert_int_equal(tg_match_exec(p, q, &d), 0);
	return d;
}

#define ARGV(...) ((const char *const[]){__VA_ARGS__}), ARRAY_SIZE(((const char *const[]){__VA_ARGS__}))

static void expect(const struct tg_decision *d, enum tg_verdict v, const char *tool_id, const char *matcher,
		   const char *subject)
{
	if (d->verdict != v)
		fail_msg("expected verdict %s, got %s (tool %s, matcher %s, subject %s)", tg_verdict_name(v),
			 tg_verdict_name(d->verdict), d->tool ? d->tool->id : "-", d->matcher, d->subject);
	if (v == TG_VERDICT_NONE) {
		assert_null(d->tool);
		return;
	}
	assert_non_null(d->tool);
	assert_string_equal(d->tool->id, tool_id);
	if (matcher)
		assert_string_equal(d->matcher, matcher);
	if (subject)
		assert_string_equal(d->subject, subject);
}

/* ---------- names ---------- */

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(tg_verdict_name(TG_VERDICT_NONE), "none");
	assert_string_equal(tg_verdict_name(TG_VERDICT_ALLOW), "allow");
	assert_string_equal(tg_verdict_name(TG_VERDICT_ALERT), "alert");
	assert_string_equal(tg_verdict_name(TG_VERDICT_WARN), "warn");
	assert_string_equal(tg_verdict_name(TG_VERDICT_BLOCK), "block");
	assert_string_equal(tg_tool_state_name(TG_STATE_INACTIVE), "inactive");
	assert_string_equal(tg_tool_state_name(TG_STATE_WARNING), "warning");
	assert_string_equal(tg_tool_state_name(TG_STATE_BLOCKING), "blocking");
	assert_string_equal(tg_tool_state_name(TG_STATE_ALERT), "alert");
	assert_string_equal(tg_tool_state_name(TG_STATE_ALLOW), "allow");
	assert_string_equal(tg_tool_state_name(TG_STATE_EXPIRED), "expired");
}

/* ---------- executables ---------- */

static void test_exec_name(void **state)
{
	struct tg_policy *p = parse(HDR "tools:\n"
					"  - id: by-name\n"
					"    match:\n"
					"      executables:\n"
					"        - name: claude\n"
					"  - id: by-real-name\n"
					"    match:\n"
					"      executables:\n"
					"        - name: claude.exe\n");
	char *resolved = realpath(tmp_path(".bin/claude"), NULL);
	struct tg_exec_query q;
	struct tg_decision d;

	(void)state;
	assert_non_null(resolved);
	assert_string_equal(resolved, tmp_path("claude.exe"));

	/* invoked through the .bin symlink: the name as invoked matches the first tool */
	q = exec_q(tmp_path(".bin/claude"), resolved, "/", ARGV("claude", "--version"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "by-name", "executables[0].name", tmp_path(".bin/claude"));
	assert_int_equal(d.state, TG_STATE_BLOCKING);
	assert_false(d.exempt);

	/* invoked by its real name: only the second tool */
	q = exec_q(tmp_path("claude.exe"), resolved, "/", ARGV("claude.exe"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "by-real-name", "executables[0].name", tmp_path("claude.exe"));

	/* a copy renamed "cc" reached through a symlink named "claude.exe": resolved name does not match,
	 * invoked does */
	q = exec_q("/opt/x/claude.exe", "/opt/x/cc", "/", ARGV("claude.exe"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "by-real-name", "executables[0].name", "/opt/x/claude.exe");

	/* invoked by another name, resolved to claude: the resolved name matches */
	q = exec_q("/usr/local/bin/ai", "/opt/claude", "/", ARGV("ai"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "by-name", "executables[0].name", "/opt/claude");

	/* relative invocation: subject is the absolute, normalised path */
	q = exec_q("./.bin/claude", resolved, tmpdir, ARGV("claude"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "by-name", "executables[0].name", tmp_path(".bin/claude"));

	/* no resolved path known: the invoked name still counts */
	q = exec_q("claude", NULL, "/home/u", ARGV("claude"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "by-name", "executables[0].name", "/home/u/claude");

	/* names are exact: no prefix, suffix or case folding */
	static const char *const others[] = {"/usr/bin/claudex", "/usr/bin/xclaude", "/usr/bin/Claude",
					     "/usr/bin/claude.ex", "/usr/bin/claude/"};
	for (size_t i = 0; i < ARRAY_SIZE(others); i++) {
		q = exec_q(others[i], NULL, "/", ARGV("x"));
		d = exec1(p, &q);
		expect(&d, TG_VERDICT_NONE, NULL, NULL, NULL);
		assert_string_equal(d.matcher, "");
	}
	free(resolved);
	tg_policy_free(p);
}

static void test_exec_path(void **state)
{
	struct tg_policy *p = parse(HDR "tools:\n"
					"  - id: cc\n"
					"    match:\n"
					"      executables:\n"
					"        - name: not-this\n"
					"        - path: \"**/node_modules/@anthropic-ai/claude-code*/**\"\n"
					"        - path: \"**/.local/share/claude/versions/*\"\n"
					"        - path: /opt/exact/tool\n");
	struct {
		const char *invoked, *resolved, *cwd;
		bool match;
		const char *matcher, *subject;
	} cases[] = {
	    {"/usr/lib/node_modules/@anthropic-ai/claude-code/bin/claude.exe", NULL, "/", true,
	     "executables[1].path", "/usr/lib/node_modules/@anthropic-ai/claude-code/bin/claude.exe"},
	    /* matched as resolved */
	    {"/usr/bin/claude", "/usr/lib/node_modules/@anthropic-ai/claude-code-linux-x64/claude", "/", true,
	     "executables[1].path", "/usr/lib/node_modules/@anthropic-ai/claude-code-linux-x64/claude"},
	    /* relative with cwd, and '..' / '.' / '//' normalised */
	    {"node_modules/@anthropic-ai/claude-code/bin/claude.exe", NULL, "/home/u/proj", true,
	     "executables[1].path", "/home/u/proj/node_modules/@anthropic-ai/claude-code/bin/claude.exe"},
	    {"../proj/./node_modules//@anthropic-ai/claude-code/bin/claude.exe", NULL, "/home/u/other", true,
	     "executables[1].path", "/home/u/proj/node_modules/@anthropic-ai/claude-code/bin/claude.exe"},
	    {"../../../../../opt/exact/tool", NULL, "/a/b", true, "executables[3].path", "/opt/exact/tool"},
	    {"./tool", NULL, "/opt/exact/", true, "executables[3].path", "/opt/exact/tool"},
	    {"tool", NULL, "/opt/exact//", true, "executables[3].path", "/opt/exact/tool"},
	    {"/opt/exact/../exact/./tool", NULL, "/", true, "executables[3].path", "/opt/exact/tool"},
	    {"/home/u/.local/share/claude/versions/2.1.3", NULL, "/", true, "executables[2].path",
	     "/home/u/.local/share/claude/versions/2.1.3"},
	    {"/home/u/.local/bin/claude", "/home/u/.local/share/claude/versions/2.1.3", "/", true,
	     "executables[2].path", "/home/u/.local/share/claude/versions/2.1.3"},
	    /* non-matches */
	    {"/usr/lib/node_modules/@qwen-code/qwen-code/cli.js", NULL, "/", false, NULL, NULL},
	    {"/home/u/.local/share/claude/versions/2.1.3/x", NULL, "/", false, NULL, NULL},
	    {"/opt/exact/tool2", NULL, "/", false, NULL, NULL},
	    {"tool", NULL, "/opt", false, NULL, NULL},
	    /* the resolved path is taken as given, not normalised */
	    {"/x", "/opt/exact/./tool", "/", false, NULL, NULL},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct tg_exec_query q = exec_q(cases[i].invoked, cases[i].resolved, cases[i].cwd, ARGV("x"));
		struct tg_decision d = exec1(p, &q);

		if ((d.verdict == TG_VERDICT_BLOCK) != cases[i].match)
			fail_msg("case %zu (%s): expected %s", i, cases[i].invoked,
				 cases[i].match ? "block" : "none");
		if (cases[i].match)
			expect(&d, TG_VERDICT_BLOCK, "cc", cases[i].matcher, cases[i].subject);
	}
	tg_policy_free(p);
}

static void test_exec_bad_queries(void **state)
{
	struct tg_policy *p =
	    parse(HDR "tools:\n  - id: a\n    match:\n      executables:\n        - name: a\n");
	struct tg_exec_query q = exec_q(NULL, NULL, NULL, NULL, 0);
	struct tg_decision d;
	char long_path[PATH_MAX + 100];

	(void)state;
	assert_int_equal(tg_match_exec(p, &q, &d), -EINVAL);
	assert_int_equal(tg_match_exec(NULL, &q, &d), -EINVAL);
	/* an over-long path is no match, not an error */
	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	q = exec_q(long_path, NULL, "/", ARGV("a"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_NONE, NULL, NULL, NULL);
	/* no argv at all */
	q = exec_q("/usr/bin/node", NULL, "/", NULL, 0);
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_NONE, NULL, NULL, NULL);
	tg_policy_free(p);
}

/* ---------- scripts ---------- */

static void test_script_argument(void **state)
{
	static const struct {
		const char *interp;
		const char *argv[8];
		const char *script;
	} cases[] = {
	    {"node", {"node", "cli.js", "--version"}, "cli.js"},
	    {"node", {"node", "--no-warnings", "cli.js"}, "cli.js"},
	    {"node",
	     {"node", "--max-old-space-size=4096", "--enable-source-maps", "/x/cli.js", "a"},
	     "/x/cli.js"},
	    {"node", {"node", "-r", "dotenv/config", "app.js"}, "app.js"},
	    {"node", {"node", "--require", "ts-node/register", "app.ts"}, "app.ts"},
	    {"node", {"node", "--import", "tsx", "app.ts"}, "app.ts"},
	    {"node", {"node", "--require=x", "app.js"}, "app.js"},
	    {"node", {"node", "-e", "require('/x/cli.js')"}, NULL},
	    {"node", {"node", "--eval", "1"}, NULL},
	    {"node", {"node", "-p", "1"}, NULL},
	    {"node", {"node", "--print", "1"}, NULL},
	    {"node", {"node", "--", "-weird.js"}, "-weird.js"},
	    {"node", {"node", "--"}, NULL},
	    {"node", {"node", "-"}, NULL},
	    {"node", {"node"}, NULL},
	    {"node", {"node", "--inspect"}, NULL},
	    {"bun", {"bun", "run", "cli.js"}, "cli.js"},
	    {"bun", {"bun", "cli.js"}, "cli.js"},
	    {"deno", {"deno", "run", "-A", "main.ts"}, "main.ts"},
	    {"python3.11", {"python3.11", "script.py"}, "script.py"},
	    {"python3.11", {"python3.11", "-u", "-B", "script.py", "-x"}, "script.py"},
	    {"python3", {"python3", "-W", "ignore", "script.py"}, "script.py"},
	    {"python3", {"python3", "-X", "dev", "script.py"}, "script.py"},
	    {"python3", {"python3", "-m", "pkg.cli"}, NULL},
	    {"python3", {"python3", "-c", "import os"}, NULL},
	    {"ld-linux-x86-64.so.2",
	     {"/lib64/ld-linux-x86-64.so.2", "/opt/claude", "--version"},
	     "/opt/claude"},
	    {"ld-linux-x86-64.so.2",
	     {"ld-linux-x86-64.so.2", "--library-path", "/l", "--preload", "/p.so", "--argv0", "x", "/opt/c"},
	     "/opt/c"},
	    {"ld-linux-x86-64.so.2", {"ld.so", "--audit", "/a.so", "--inhibit-cache", "prog"}, "prog"},
	    {"ld-linux-x86-64.so.2", {"ld.so", "--list"}, NULL},
	    /* the loader does not know node's options: "-e" is skipped as an option */
	    {"ld-linux-x86-64.so.2", {"ld.so", "-e", "prog"}, "prog"},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t argc = 0;
		const char *got;

		while (argc < 8 && cases[i].argv[argc])
			argc++;
		got = tg_script_argument_for(cases[i].interp, cases[i].argv, argc);
		if ((got == NULL) != (cases[i].script == NULL) || (got && strcmp(got, cases[i].script) != 0))
			fail_msg("case %zu (%s %s): expected %s, got %s", i, cases[i].interp,
				 cases[i].argv[1] ? cases[i].argv[1] : "",
				 cases[i].script ? cases[i].script : "NULL", got ? got : "NULL");
	}
	/* tg_script_argument takes the interpreter from argv[0] */
	assert_string_equal(tg_script_argument(ARGV("/usr/bin/node", "-r", "x", "cli.js")), "cli.js");
	assert_string_equal(tg_script_argument(ARGV("/lib/ld-linux.so.2", "--preload", "x", "prog")), "prog");
	assert_null(tg_script_argument(NULL, 0));
}

static void test_is_interpreter(void **state)
{
	struct tg_policy *def =
	    parse(HDR "tools:\n  - id: a\n    match:\n      executables:\n        - name: a\n");
	struct tg_policy *own =
	    parse(HDR "tools:\n  - id: a\n    match:\n      executables:\n        - name: a\n"
		      "interpreters:\n  - perl\n  - \"ruby[0-9]*\"\n");

	(void)state;
	static const char *const yes[] = {"node",
					  "nodejs",
					  "bun",
					  "deno",
					  "python3",
					  "python3.11",
					  "ld-linux-x86-64.so.2",
					  "ld-linux.so.2",
					  "ld-linux-aarch64.so.1"};
	static const char *const no[] = {"nod", "node2", "python", "python2.7", "bash", "env", "ld.so", ""};
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		if (!tg_is_interpreter(def, yes[i]))
			fail_msg("%s should be an interpreter by default", yes[i]);
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		if (tg_is_interpreter(def, no[i]))
			fail_msg("%s should not be an interpreter by default", no[i]);
	assert_true(tg_is_interpreter(own, "perl"));
	assert_true(tg_is_interpreter(own, "ruby3.2"));
	assert_false(tg_is_interpreter(own, "node"));
	assert_false(tg_is_interpreter(own, NULL));
	tg_policy_free(def);
	tg_policy_free(own);
}

static void test_exec_scripts(void **state)
{
	char yaml[2048];
	struct tg_policy *p;
	struct tg_exec_query q;
	struct tg_decision d;
	const char *cli = tmp_path("pkg/cli.js");

	(void)state;
	snprintf(yaml, sizeof(yaml),
		 HDR "tools:\n"
		     "  - id: cc\n"
		     "    match:\n"
		     "      executables:\n"
		     "        - name: claude\n"
		     "      scripts:\n"
		     "        - path: \"**/node_modules/@anthropic-ai/claude-code/cli.js\"\n"
		     "        - path: \"%s/pkg/*.js\"\n"
		     "        - path: /opt/claude\n",
		 tmpdir);
	p = parse(yaml);

	/* node with an absolute script */
	q = exec_q("/usr/bin/node", "/usr/bin/node", "/",
		   ARGV("node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js", "--version"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "cc", "scripts[0].path",
	       "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js");

	/* node with flags and a relative script */
	q = exec_q("/usr/bin/node", NULL, "/usr/lib/node_modules/@anthropic-ai",
		   ARGV("node", "--no-warnings", "--enable-source-maps", "./claude-code/cli.js"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "cc", "scripts[0].path",
	       "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js");

	/* "#!/usr/bin/env node": env execs node with the script as written; that second exec is the query */
	q = exec_q("/usr/bin/node", "/usr/bin/node", "/home/u/proj",
		   ARGV("node", "node_modules/@anthropic-ai/claude-code/cli.js"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "cc", "scripts[0].path",
	       "/home/u/proj/node_modules/@anthropic-ai/claude-code/cli.js");
	/* env itself is not an interpreter: its own exec is not a script run */
	q = exec_q("/usr/bin/env", "/usr/bin/env", "/home/u/proj",
		   ARGV("/usr/bin/env", "node", "node_modules/@anthropic-ai/claude-code/cli.js"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_NONE, NULL, NULL, NULL);

	/* the interpreter recognised by its resolved name (nodejs -> node) */
	q = exec_q("/usr/bin/js", "/usr/bin/nodejs", "/",
		   ARGV("js", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "cc", "scripts[0].path", NULL);

	/* node -e runs no file; -r's value is not the script */
	q = exec_q("/usr/bin/node", NULL, "/",
		   ARGV("node", "-e", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_NONE, NULL, NULL, NULL);
	q = exec_q(
	    "/usr/bin/node", NULL, "/",
	    ARGV("node", "-r", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js", "/tmp/other.js"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_NONE, NULL, NULL, NULL);

	/* the script through a symlink: matched by its realpath (.bin/qwen -> ../pkg/cli.js) */
	q = exec_q("/usr/bin/node", NULL, tmpdir, ARGV("node", ".bin/qwen"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "cc", "scripts[1].path", cli);

	/* a shebang script executed directly: the executed file is the script */
	q = exec_q("./pkg/cli.js", cli, tmpdir, ARGV("./pkg/cli.js"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "cc", "scripts[1].path", cli);
	q = exec_q(tmp_path(".bin/qwen"), cli, "/", ARGV("qwen"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "cc", "scripts[1].path", cli);

	/* python3.11 with a script, and with -m (a module is not a file: documented limitation) */
	q = exec_q("/usr/bin/python3.11", NULL, "/", ARGV("python3.11", "-u", "/opt/claude"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "cc", "scripts[2].path", "/opt/claude");
	q = exec_q("/usr/bin/python3.11", NULL, "/opt", ARGV("python3.11", "-m", "claude"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_NONE, NULL, NULL, NULL);

	/* not an interpreter: its arguments are not scripts */
	q = exec_q("/usr/bin/cat", NULL, "/",
		   ARGV("cat", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_NONE, NULL, NULL, NULL);
	tg_policy_free(p);
}

static void test_exec_loader(void **state)
{
	struct tg_policy *p = parse(HDR "tools:\n"
					"  - id: by-name\n"
					"    match:\n"
					"      executables:\n"
					"        - name: claude\n"
					"  - id: by-path\n"
					"    match:\n"
					"      executables:\n"
					"        - path: \"**/versions/*\"\n"
					"  - id: by-script\n"
					"    match:\n"
					"      scripts:\n"
					"        - path: /opt/tools/loaded\n");
	struct tg_exec_query q;
	struct tg_decision d;

	(void)state;
	/* the program an ld.so loads is caught by executables[] name and path rules ... */
	q = exec_q(
	    "/lib64/ld-linux-x86-64.so.2", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/home/u",
	    ARGV("/lib64/ld-linux-x86-64.so.2", "--library-path", "/l", ".local/bin/claude", "--version"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "by-name", "executables[0].name", "/home/u/.local/bin/claude");

	q = exec_q("/lib64/ld-linux-x86-64.so.2", NULL, "/",
		   ARGV("/lib64/ld-linux-x86-64.so.2", "/home/u/.local/share/claude/versions/2.1.3"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "by-path", "executables[0].path",
	       "/home/u/.local/share/claude/versions/2.1.3");

	/* ... and by scripts[] */
	q = exec_q("/lib64/ld-linux-x86-64.so.2", NULL, "/opt",
		   ARGV("ld-linux-x86-64.so.2", "--preload", "/x.so", "--argv0", "foo", "tools/loaded"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "by-script", "scripts[0].path", "/opt/tools/loaded");

	/* an option value is not the program */
	q = exec_q("/lib64/ld-linux-x86-64.so.2", NULL, "/",
		   ARGV("ld-linux-x86-64.so.2", "--argv0", "claude", "/usr/bin/true"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_NONE, NULL, NULL, NULL);
	tg_policy_free(p);
}

/* ---------- sha256 ---------- */

static void test_exec_sha256(void **state)
{
	struct tg_policy *p =
	    parse(HDR "tools:\n"
		      "  - id: one\n"
		      "    match:\n"
		      "      executables:\n"
		      "        - name: claude\n"
		      "        - sha256: 1111111111111111111111111111111111111111111111111111111111111111\n"
		      "  - id: two\n"
		      "    match:\n"
		      "      executables:\n"
		      "        - sha256: 2222222222222222222222222222222222222222222222222222222222222222\n"
		      "        - name: two\n");
	struct shactx sc = {0};
	struct tg_exec_query q;
	struct tg_decision d;

	(void)state;
	/* a name match decides before any hashing */
	memset(sc.digest, 0x11, 32);
	q = exec_q("/usr/bin/claude", "/usr/bin/claude", "/", ARGV("claude"));
	q.sha256 = fake_sha256;
	q.sha256_ctx = &sc;
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "one", "executables[0].name", "/usr/bin/claude");
	assert_int_equal(sc.calls, 0);

	/* renamed copy: caught by its hash, hashed once, the resolved path */
	q.path_invoked = "/home/u/bin/cc";
	q.path_resolved = "/home/u/bin/cc.real";
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "one", "executables[1].sha256", "/home/u/bin/cc.real");
	assert_int_equal(sc.calls, 1);
	assert_string_equal(sc.last_path, "/home/u/bin/cc.real");

	/* two sha256 rules in two tools, neither matches: still one hash per query */
	sc.calls = 0;
	memset(sc.digest, 0x33, 32);
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_NONE, NULL, NULL, NULL);
	assert_int_equal(sc.calls, 1);

	/* the second tool's hash; without a resolved path the absolute invoked path is hashed */
	sc.calls = 0;
	memset(sc.digest, 0x22, 32);
	q.path_invoked = "bin/x";
	q.path_resolved = NULL;
	q.cwd = "/home/u";
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "two", "executables[0].sha256", "/home/u/bin/x");
	assert_int_equal(sc.calls, 1);
	assert_string_equal(sc.last_path, "/home/u/bin/x");

	/* hashing fails: no match, no error */
	sc.calls = 0;
	sc.result = -EACCES;
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_NONE, NULL, NULL, NULL);
	assert_int_equal(sc.calls, 1);

	/* no callback: sha256 rules never match */
	q.sha256 = NULL;
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_NONE, NULL, NULL, NULL);
	tg_policy_free(p);
}

/* Extension scripts[].sha256: digest 0x44 for any path ending in "pkg/cli.js", else 0x55. */
static int path_sha256(void *ctx, const char *path, uint8_t out[32])
{
	struct shactx *c = ctx;
	size_t n = strlen(path);

	c->calls++;
	snprintf(c->last_path, sizeof(c->last_path), "%s", path);
	memset(out, n >= 10 && strcmp(path + n - 10, "pkg/cli.js") == 0 ? 0x44 : 0x55, 32);
	return 0;
}

static void test_script_sha256(void **state)
{
	struct tg_policy *p =
	    parse(HDR "tools:\n"
		      "  - id: qw\n"
		      "    match:\n"
		      "      scripts:\n"
		      "        - path: /nowhere/cli.js\n"
		      "        - sha256: 4444444444444444444444444444444444444444444444444444444444444444\n");
	struct shactx sc = {0};
	struct tg_exec_query q;
	struct tg_decision d;

	(void)state;
	/* through a symlink: the target's content is hashed (its realpath) */
	q = exec_q("/usr/bin/node", "/usr/bin/node", tmpdir, ARGV("node", "--no-warnings", ".bin/qwen"));
	q.sha256 = path_sha256;
	q.sha256_ctx = &sc;
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "qw", "scripts[1].sha256", tmp_path("pkg/cli.js"));
	assert_string_equal(sc.last_path, tmp_path("pkg/cli.js"));

	/* another script: no match, the script and then node hashed once each */
	sc.calls = 0;
	q = exec_q("/usr/bin/node", "/usr/bin/node", "/", ARGV("node", "/tmp/other.js"));
	q.sha256 = path_sha256;
	q.sha256_ctx = &sc;
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_NONE, NULL, NULL, NULL);
	assert_int_equal(sc.calls, 2);

	/* "#!" script executed directly: the executed file is the script */
	q = exec_q(tmp_path(".bin/qwen"), tmp_path("pkg/cli.js"), "/", ARGV("qwen"));
	q.sha256 = path_sha256;
	q.sha256_ctx = &sc;
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "qw", "scripts[1].sha256", tmp_path("pkg/cli.js"));

	/* node -e: no script file */
	q = exec_q("/usr/bin/node", "/usr/bin/node", "/", ARGV("node", "-e", "1"));
	q.sha256 = path_sha256;
	q.sha256_ctx = &sc;
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_NONE, NULL, NULL, NULL);

	/* without a callback sha256 rules never match */
	q = exec_q("/usr/bin/node", "/usr/bin/node", tmpdir, ARGV("node", ".bin/qwen"));
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_NONE, NULL, NULL, NULL);
	tg_policy_free(p);
}

static void test_sha256_skipped_when_decided(void **state)
{
	/* a block by name in the first tool: the later tools cannot win, so nothing is hashed */
	struct tg_policy *p =
	    parse(HDR "tools:\n"
		      "  - id: one\n"
		      "    match:\n"
		      "      executables:\n"
		      "        - name: claude\n"
		      "  - id: two\n"
		      "    action: alert\n"
		      "    match:\n"
		      "      executables:\n"
		      "        - sha256: 1111111111111111111111111111111111111111111111111111111111111111\n"
		      "  - id: three\n"
		      "    effective: 2030-01-01T00:00:00Z\n"
		      "    match:\n"
		      "      executables:\n"
		      "        - sha256: 1111111111111111111111111111111111111111111111111111111111111111\n");
	struct shactx sc = {0};
	struct tg_exec_query q = exec_q("/usr/bin/claude", NULL, "/", ARGV("claude"));
	struct tg_decision d;

	(void)state;
	memset(sc.digest, 0x11, 32);
	q.sha256 = fake_sha256;
	q.sha256_ctx = &sc;
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "one", NULL, NULL);
	assert_int_equal(sc.calls, 0);

	/* inactive tools are not looked at either: only tool two hashes */
	q.path_invoked = "/usr/bin/other";
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_ALERT, "two", "executables[0].sha256", "/usr/bin/other");
	assert_int_equal(sc.calls, 1);
	tg_policy_free(p);
}

/* ---------- time ---------- */

static void test_timeline_block(void **state)
{
	/* effective T0, warn 14d, expires T0 + 365d */
	struct tg_policy *p = parse(HDR "tools:\n"
					"  - id: cc\n"
					"    effective: 2026-07-10T00:00:00Z\n"
					"    warn_before: 14d\n"
					"    expires: 2027-07-10T00:00:00Z\n"
					"    match:\n"
					"      executables:\n"
					"        - name: claude\n");
	const struct tg_tool *t = &p->tools[0];
	const int64_t W = 14 * 86400, X = T0 + 365 * 86400;
	const struct {
		int64_t now;
		enum tg_tool_state state;
		int64_t next;
		enum tg_verdict verdict;
	} cases[] = {
	    {INT64_MIN, TG_STATE_INACTIVE, T0 - W, TG_VERDICT_NONE},
	    {0, TG_STATE_INACTIVE, T0 - W, TG_VERDICT_NONE},
	    {T0 - W - 1, TG_STATE_INACTIVE, T0 - W, TG_VERDICT_NONE},
	    {T0 - W, TG_STATE_WARNING, T0, TG_VERDICT_WARN},
	    {T0 - 1, TG_STATE_WARNING, T0, TG_VERDICT_WARN},
	    {T0, TG_STATE_BLOCKING, X, TG_VERDICT_BLOCK},
	    {X - 1, TG_STATE_BLOCKING, X, TG_VERDICT_BLOCK},
	    {X, TG_STATE_EXPIRED, INT64_MAX, TG_VERDICT_NONE},
	    {INT64_MAX, TG_STATE_EXPIRED, INT64_MAX, TG_VERDICT_NONE},
	};
	(void)state;
	assert_int_equal(t->effective.t, T0);
	assert_int_equal(t->warn_before, W);
	assert_int_equal(t->expires.t, X);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int64_t next = 0;
		enum tg_tool_state s = tg_tool_state_at(p, t, cases[i].now, &next);
		struct tg_exec_query q = exec_q("/usr/bin/claude", NULL, "/", ARGV("claude"));
		struct tg_decision d;

		if (s != cases[i].state || next != cases[i].next)
			fail_msg("now=%lld: expected %s next %lld, got %s next %lld", (long long)cases[i].now,
				 tg_tool_state_name(cases[i].state), (long long)cases[i].next,
				 tg_tool_state_name(s), (long long)next);
		q.now = cases[i].now;
		d = exec1(p, &q);
		if (d.verdict != cases[i].verdict)
			fail_msg("now=%lld: expected verdict %s, got %s", (long long)cases[i].now,
				 tg_verdict_name(cases[i].verdict), tg_verdict_name(d.verdict));
		if (d.verdict != TG_VERDICT_NONE)
			assert_int_equal(d.state, cases[i].state);
	}
	assert_int_equal(tg_tool_state_at(p, t, T0, NULL), TG_STATE_BLOCKING);
	tg_policy_free(p);
}

static void test_timeline_variants(void **state)
{
	struct tg_policy *p = parse(HDR "tools:\n"
					"  - id: forever\n"
					"    match:\n      executables:\n        - name: a\n"
					"  - id: until\n"
					"    expires: 2026-07-10T00:00:00Z\n"
					"    match:\n      executables:\n        - name: b\n"
					"  - id: no-warn\n"
					"    effective: 2026-07-10T00:00:00Z\n"
					"    match:\n      executables:\n        - name: c\n"
					"  - id: alert\n"
					"    action: alert\n"
					"    effective: 2026-07-10T00:00:00Z\n"
					"    warn_before: 1d\n"
					"    expires: 2026-07-11T00:00:00Z\n"
					"    match:\n      executables:\n        - name: d\n"
					"  - id: allow\n"
					"    action: allow\n"
					"    match:\n      executables:\n        - name: e\n");
	/* the parser refuses expires <= effective; the matcher must still be sane with it */
	struct tg_tool expires_first = p->tools[2];
	const int64_t D = 86400;
	const struct {
		size_t tool;
		int64_t now;
		enum tg_tool_state state;
		int64_t next;
	} cases[] = {
	    {0, INT64_MIN, TG_STATE_BLOCKING, INT64_MAX},
	    {0, T0, TG_STATE_BLOCKING, INT64_MAX},
	    {1, T0 - 1, TG_STATE_BLOCKING, T0},
	    {1, T0, TG_STATE_EXPIRED, INT64_MAX},
	    {2, T0 - 1, TG_STATE_INACTIVE, T0},
	    {2, T0, TG_STATE_BLOCKING, INT64_MAX},
	    /* warn_before does nothing for alert rules */
	    {3, T0 - D, TG_STATE_INACTIVE, T0},
	    {3, T0 - 1, TG_STATE_INACTIVE, T0},
	    {3, T0, TG_STATE_ALERT, T0 + D},
	    {3, T0 + D - 1, TG_STATE_ALERT, T0 + D},
	    {3, T0 + D, TG_STATE_EXPIRED, INT64_MAX},
	    {4, 0, TG_STATE_ALLOW, INT64_MAX},
	    /* tool 5: effective T0, warn_before 1d, expires T0 - 9d */
	    /* expires before the window opens: it never becomes active */
	    {5, T0 - 10 * D - 1, TG_STATE_INACTIVE, T0 - 9 * D},
	    {5, T0 - 9 * D, TG_STATE_EXPIRED, INT64_MAX},
	    {5, T0, TG_STATE_EXPIRED, INT64_MAX},
	};
	(void)state;
	expires_first.warn_before = D;
	expires_first.expires.set = true;
	expires_first.expires.t = T0 - 9 * D;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct tg_tool *t = cases[i].tool == 5 ? &expires_first : &p->tools[cases[i].tool];
		int64_t next = 0;
		enum tg_tool_state s = tg_tool_state_at(p, t, cases[i].now, &next);

		if (s != cases[i].state || next != cases[i].next)
			fail_msg("%s now=%lld: expected %s next %lld, got %s next %lld", t->id,
				 (long long)cases[i].now, tg_tool_state_name(cases[i].state),
				 (long long)cases[i].next, tg_tool_state_name(s), (long long)next);
	}
	tg_policy_free(p);
}

static void check_bare_date(const char *tz, int64_t expect_t)
{
	struct tg_policy *p;
	int64_t next;

	setenv("TZ", tz, 1);
	tzset();
	p = parse(HDR "tools:\n"
		      "  - id: cc\n"
		      "    effective: 2026-07-10\n"
		      "    warn_before: 1h\n"
		      "    match:\n      executables:\n        - name: claude\n");
	assert_true(p->tools[0].effective.bare_date);
	if (p->tools[0].effective.t != expect_t)
		fail_msg("TZ=%s: 2026-07-10 is %lld, expected %lld", tz, (long long)p->tools[0].effective.t,
			 (long long)expect_t);
	assert_int_equal(tg_tool_state_at(p, &p->tools[0], expect_t - 3601, &next), TG_STATE_INACTIVE);
	assert_int_equal(next, expect_t - 3600);
	assert_int_equal(tg_tool_state_at(p, &p->tools[0], expect_t - 3600, &next), TG_STATE_WARNING);
	assert_int_equal(tg_tool_state_at(p, &p->tools[0], expect_t - 1, &next), TG_STATE_WARNING);
	assert_int_equal(next, expect_t);
	assert_int_equal(tg_tool_state_at(p, &p->tools[0], expect_t, &next), TG_STATE_BLOCKING);
	tg_policy_free(p);
}

static void test_bare_date_local_time(void **state)
{
	char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;

	(void)state;
	check_bare_date("Asia/Shanghai", T0 - 8 * 3600);
	check_bare_date("UTC", T0);
	check_bare_date("America/New_York", T0 + 4 * 3600); /* EDT in July */
	if (old) {
		setenv("TZ", old, 1);
		free(old);
	} else {
		unsetenv("TZ");
	}
	tzset();
}

/* ---------- exemptions ---------- */

static void test_exemptions(void **state)
{
	struct passwd *nobody = getpwnam("nobody");
	struct group *nogroup;
	char yaml[2048];
	struct tg_policy *p;
	gid_t g_none[] = {100}, g_root[] = {1000, 0}, g_nogroup[1];

	(void)state;
	if (!nobody)
		skip();
	nogroup = getgrgid(nobody->pw_gid);
	if (!nogroup)
		skip();
	g_nogroup[0] = nogroup->gr_gid;
	snprintf(yaml, sizeof(yaml),
		 HDR "tools:\n"
		     "  - id: by-id\n"
		     "    match:\n      executables:\n        - name: a\n"
		     "    exempt:\n      users: [4242]\n"
		     "  - id: by-name\n"
		     "    match:\n      executables:\n        - name: b\n"
		     "    exempt:\n      users: [root, nobody, no-such-user-here]\n"
		     "  - id: by-group\n"
		     "    match:\n      executables:\n        - name: c\n"
		     "    exempt:\n      groups: [\"0\", %s]\n"
		     "  - id: until\n"
		     "    match:\n      executables:\n        - name: d\n"
		     "    exempt:\n      users: [4242]\n      until: 2026-07-10T00:00:00Z\n",
		 nogroup->gr_name);
	p = parse(yaml);

	/* numeric uid */
	assert_true(tg_tool_exempts(&p->tools[0], 4242, NULL, 0, T0));
	assert_false(tg_tool_exempts(&p->tools[0], 4243, NULL, 0, T0));
	assert_false(tg_tool_exempts(&p->tools[0], 0, NULL, 0, T0));
	/* names resolved with the user database */
	assert_true(tg_tool_exempts(&p->tools[1], 0, NULL, 0, T0));
	assert_true(tg_tool_exempts(&p->tools[1], nobody->pw_uid, NULL, 0, T0));
	assert_false(tg_tool_exempts(&p->tools[1], 4242, NULL, 0, T0));
	/* groups: any of the gids, by number or name */
	assert_false(tg_tool_exempts(&p->tools[2], 1000, g_none, 1, T0));
	assert_true(tg_tool_exempts(&p->tools[2], 1000, g_root, 2, T0));
	assert_true(tg_tool_exempts(&p->tools[2], 1000, g_nogroup, 1, T0));
	assert_false(tg_tool_exempts(&p->tools[2], 0, NULL, 0, T0)); /* uid 0 is not gid 0 */
	/* an exemption that expired */
	assert_true(tg_tool_exempts(&p->tools[3], 4242, NULL, 0, T0 - 1));
	assert_false(tg_tool_exempts(&p->tools[3], 4242, NULL, 0, T0));

	/* through the matcher: BLOCK becomes ALLOW with exempt set */
	struct tg_exec_query q = exec_q("/usr/bin/a", NULL, "/", ARGV("a"));
	struct tg_decision d;

	q.uid = 4242;
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_ALLOW, "by-id", "executables[0].name", "/usr/bin/a");
	assert_true(d.exempt);
	assert_int_equal(d.state, TG_STATE_BLOCKING);
	q.uid = 1000;
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "by-id", NULL, NULL);
	assert_false(d.exempt);

	q.path_invoked = "/usr/bin/c";
	q.gids = g_root;
	q.n_gids = 2;
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_ALLOW, "by-group", NULL, NULL);
	assert_true(d.exempt);

	q.path_invoked = "/usr/bin/d";
	q.uid = 4242;
	q.now = T0 - 1;
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_ALLOW, "until", NULL, NULL);
	q.now = T0;
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_BLOCK, "until", NULL, NULL);
	assert_false(d.exempt);
	tg_policy_free(p);
}

static void test_exempt_warning_and_alert(void **state)
{
	struct tg_policy *p = parse(HDR "tools:\n"
					"  - id: warn\n"
					"    effective: 2026-07-10T00:00:00Z\n"
					"    warn_before: 1d\n"
					"    match:\n      executables:\n        - name: a\n"
					"    exempt:\n      users: [\"4242\"]\n"
					"  - id: alert\n"
					"    action: alert\n"
					"    match:\n      executables:\n        - name: b\n"
					"    exempt:\n      users: [4242]\n");
	struct tg_exec_query q = exec_q("/usr/bin/a", NULL, "/", ARGV("a"));
	struct tg_decision d;

	(void)state;
	q.now = T0 - 1;
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_WARN, "warn", NULL, NULL);
	q.uid = 4242;
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_ALLOW, "warn", NULL, NULL);
	assert_true(d.exempt);
	assert_int_equal(d.state, TG_STATE_WARNING);
	/* an alert still records exempt users: it stays an alert */
	q.path_invoked = "/usr/bin/b";
	d = exec1(p, &q);
	expect(&d, TG_VERDICT_ALERT, "alert", NULL, NULL);
	assert_false(d.exempt);
	tg_policy_free(p);
}

/* ---------- precedence ---------- */

static void test_precedence(void **state)
{
	struct tg_policy *ab = parse(HDR "tools:\n"
					 "  - id: watch\n"
					 "    action: alert\n"
					 "    match:\n      executables:\n        - name: x\n"
					 "  - id: ban\n"
					 "    match:\n      executables:\n        - path: \"**/x\"\n");
	struct tg_policy *ba = parse(HDR "tools:\n"
					 "  - id: ban\n"
					 "    match:\n      executables:\n        - path: \"**/x\"\n"
					 "  - id: watch\n"
					 "    action: alert\n"
					 "    match:\n      executables:\n        - name: x\n");
	struct tg_policy *ties = parse(HDR "defaults:\n  action: alert\n"
					   "tools:\n"
					   "  - id: first\n"
					   "    match:\n      executables:\n        - path: /bin/x\n"
					   "  - id: second\n"
					   "    match:\n      executables:\n        - name: x\n"
					   "  - id: allowed\n"
					   "    action: allow\n"
					   "    match:\n      executables:\n        - name: y\n"
					   "  - id: watch-y\n"
					   "    match:\n      executables:\n        - name: y\n"
					   "  - id: only-allow\n"
					   "    action: allow\n"
					   "    match:\n      executables:\n        - name: z\n");
	struct tg_policy *ex = parse(HDR "tools:\n"
					 "  - id: ban-exempt\n"
					 "    match:\n      executables:\n        - name: x\n"
					 "    exempt:\n      users: [4242]\n"
					 "  - id: watch\n"
					 "    action: alert\n"
					 "    match:\n      executables:\n        - name: x\n");
	struct tg_policy *order =
	    parse(HDR "tools:\n"
		      "  - id: t\n"
		      "    match:\n"
		      "      scripts:\n        - path: /bin/x\n"
		      "      executables:\n        - path: /bin/*\n        - name: x\n");
	struct tg_exec_query q = exec_q("/bin/x", NULL, "/", ARGV("x"));
	struct tg_decision d;

	(void)state;
	/* block beats alert regardless of order */
	d = exec1(ab, &q);
	expect(&d, TG_VERDICT_BLOCK, "ban", "executables[0].path", "/bin/x");
	d = exec1(ba, &q);
	expect(&d, TG_VERDICT_BLOCK, "ban", "executables[0].path", "/bin/x");
	/* a tie goes to the first tool in the file */
	d = exec1(ties, &q);
	expect(&d, TG_VERDICT_ALERT, "first", "executables[0].path", "/bin/x");
	/* alert beats allow */
	q.path_invoked = "/bin/y";
	d = exec1(ties, &q);
	expect(&d, TG_VERDICT_ALERT, "watch-y", NULL, NULL);
	q.path_invoked = "/bin/z";
	d = exec1(ties, &q);
	expect(&d, TG_VERDICT_ALLOW, "only-allow", "executables[0].name", "/bin/z");
	assert_false(d.exempt);
	assert_int_equal(d.state, TG_STATE_ALLOW);
	/* an exempt user: the block becomes allow, another tool's alert still wins */
	q.path_invoked = "/bin/x";
	q.uid = 4242;
	d = exec1(ex, &q);
	expect(&d, TG_VERDICT_ALERT, "watch", NULL, NULL);
	q.uid = 1000;
	d = exec1(ex, &q);
	expect(&d, TG_VERDICT_BLOCK, "ban-exempt", NULL, NULL);
	/* within a tool: executables in order, before scripts */
	d = exec1(order, &q);
	expect(&d, TG_VERDICT_BLOCK, "t", "executables[0].path", "/bin/x");

	tg_policy_free(ab);
	tg_policy_free(ba);
	tg_policy_free(ties);
	tg_policy_free(ex);
	tg_policy_free(order);
}

/* ---------- destinations ---------- */

static struct tg_dest_query dest_q(const char *addr, uint16_t port, const char *host)
{
	struct tg_dest_query q = {.port = port, .host = host, .uid = 1000, .now = T0};

	if (addr) {
		if (inet_pton(AF_INET, addr, q.addr) == 1) {
			q.family = AF_INET;
		} else {
			assert_int_equal(inet_pton(AF_INET6, addr, q.addr), 1);
			q.family = AF_INET6;
		}
		q.has_addr = true;
	}
	return q;
}

static void test_dest(void **state)
{
	struct tg_policy *p = parse(HDR "tools:\n"
					"  - id: cc\n"
					"    match:\n"
					"      hosts:\n"
					"        - api.anthropic.com\n"
					"        - \"*.anthropic.com\"\n"
					"        - claude.ai\n"
					"        - 127.77.0.0/16\n"
					"        - fd77::/16\n"
					"        - host: statsig.example.com\n"
					"          ports: [443, 8443]\n"
					"        - host: 127.78.0.1\n"
					"          ports: [80]\n");
	const struct {
		const char *addr;
		uint16_t port;
		const char *host;
		bool match;
		const char *matcher, *subject;
	} cases[] = {
	    {NULL, 443, "api.anthropic.com", true, "hosts[0]", "api.anthropic.com"},
	    {NULL, 443, "API.Anthropic.COM", true, "hosts[0]", "api.anthropic.com"},
	    {NULL, 443, "api.anthropic.com.", true, "hosts[0]", "api.anthropic.com"},
	    {NULL, 443, "console.anthropic.com", true, "hosts[1]", "console.anthropic.com"},
	    {NULL, 443, "a.b.c.anthropic.com", true, "hosts[1]", "a.b.c.anthropic.com"},
	    {NULL, 443, "anthropic.com", false, NULL, NULL}, /* apex is not a subdomain */
	    {NULL, 443, "anthropic.com.", false, NULL, NULL},
	    {NULL, 443, "xanthropic.com", false, NULL, NULL}, /* not a label boundary */
	    {NULL, 443, "anthropic.com.evil.example", false, NULL, NULL},
	    {NULL, 443, "claude.ai", true, "hosts[2]", "claude.ai"},
	    {NULL, 443, "www.claude.ai", false, NULL, NULL}, /* exact name only */
	    {NULL, 443, "claude.aix", false, NULL, NULL},
	    {NULL, 443, "", false, NULL, NULL},
	    {NULL, 443, ".", false, NULL, NULL},
	    /* CIDR */
	    {"127.77.0.1", 443, NULL, true, "hosts[3]", "127.77.0.1"},
	    {"127.77.255.255", 1, NULL, true, "hosts[3]", "127.77.255.255"},
	    {"127.76.255.255", 443, NULL, false, NULL, NULL},
	    {"127.78.0.0", 443, NULL, false, NULL, NULL},
	    {"::ffff:127.77.1.2", 443, NULL, true, "hosts[3]", "127.77.1.2"}, /* v4-mapped counts as IPv4 */
	    {"::ffff:127.78.1.2", 443, NULL, false, NULL, NULL},
	    {"::127.77.1.2", 443, NULL, false, NULL, NULL}, /* v4-compatible is not mapped */
	    {"fd77::1", 443, NULL, true, "hosts[4]", "fd77::1"},
	    {"fd77:ffff:ffff::1", 443, NULL, true, "hosts[4]", "fd77:ffff:ffff::1"},
	    {"fd78::1", 443, NULL, false, NULL, NULL},
	    {"fc00::1", 443, NULL, false, NULL, NULL},
	    /* ports */
	    {NULL, 443, "statsig.example.com", true, "hosts[5]", "statsig.example.com"},
	    {NULL, 8443, "statsig.example.com", true, "hosts[5]", "statsig.example.com"},
	    {NULL, 80, "statsig.example.com", false, NULL, NULL},
	    {NULL, 0, "statsig.example.com", true, "hosts[5]", "statsig.example.com"}, /* unknown port */
	    {"127.78.0.1", 80, NULL, true, "hosts[6]", "127.78.0.1"},
	    {"127.78.0.1", 443, NULL, false, NULL, NULL},
	    {"::ffff:127.78.0.1", 80, NULL, true, "hosts[6]", "127.78.0.1"},
	    /* both known: the address decides when the name does not */
	    {"127.77.0.9", 443, "unrelated.example", true, "hosts[3]", "127.77.0.9"},
	    {"10.0.0.1", 443, "claude.ai", true, "hosts[2]", "claude.ai"},
	    {"10.0.0.1", 443, "unrelated.example", false, NULL, NULL},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct tg_dest_query q = dest_q(cases[i].addr, cases[i].port, cases[i].host);
		struct tg_decision d;

		assert_int_equal(tg_match_dest(p, &q, &d), 0);
		if ((d.verdict == TG_VERDICT_BLOCK) != cases[i].match)
			fail_msg("case %zu (%s %s port %u): expected %s, got %s", i,
				 cases[i].addr ? cases[i].addr : "-", cases[i].host ? cases[i].host : "-",
				 cases[i].port, cases[i].match ? "block" : "none",
				 tg_verdict_name(d.verdict));
		if (cases[i].match)
			expect(&d, TG_VERDICT_BLOCK, "cc", cases[i].matcher, cases[i].subject);
		else
			assert_null(d.tool);
	}
	tg_policy_free(p);
}

static void test_dest_verdicts(void **state)
{
	struct tg_policy *p = parse(HDR "tools:\n"
					"  - id: watch\n"
					"    action: alert\n"
					"    match:\n      hosts:\n        - 127.77.0.0/16\n"
					"  - id: ban\n"
					"    effective: 2026-07-10T00:00:00Z\n"
					"    warn_before: 1d\n"
					"    match:\n      hosts:\n        - 127.77.1.0/24\n"
					"    exempt:\n      groups: [4242]\n");
	struct tg_dest_query q = dest_q("127.77.1.1", 443, NULL);
	struct tg_decision d;
	gid_t g[] = {4242};

	(void)state;
	q.now = T0 - 86400 - 1;
	assert_int_equal(tg_match_dest(p, &q, &d), 0);
	expect(&d, TG_VERDICT_ALERT, "watch", "hosts[0]", "127.77.1.1");
	q.now = T0 - 86400;
	assert_int_equal(tg_match_dest(p, &q, &d), 0);
	expect(&d, TG_VERDICT_WARN, "ban", "hosts[0]", "127.77.1.1");
	q.now = T0;
	assert_int_equal(tg_match_dest(p, &q, &d), 0);
	expect(&d, TG_VERDICT_BLOCK, "ban", "hosts[0]", "127.77.1.1");
	assert_int_equal(d.state, TG_STATE_BLOCKING);
	q.gids = g;
	q.n_gids = 1;
	assert_int_equal(tg_match_dest(p, &q, &d), 0);
	expect(&d, TG_VERDICT_ALERT, "watch", NULL, NULL);
	q = dest_q("127.77.2.1", 443, NULL);
	assert_int_equal(tg_match_dest(p, &q, &d), 0);
	expect(&d, TG_VERDICT_ALERT, "watch", NULL, NULL);
	q = dest_q("127.88.2.1", 443, NULL);
	assert_int_equal(tg_match_dest(p, &q, &d), 0);
	expect(&d, TG_VERDICT_NONE, NULL, NULL, NULL);
	assert_int_equal(tg_match_dest(p, NULL, &d), -EINVAL);
	tg_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_exec_name),
	    cmocka_unit_test(test_exec_path),
	    cmocka_unit_test(test_exec_bad_queries),
	    cmocka_unit_test(test_script_argument),
	    cmocka_unit_test(test_is_interpreter),
	    cmocka_unit_test(test_exec_scripts),
	    cmocka_unit_test(test_exec_loader),
	    cmocka_unit_test(test_exec_sha256),
	    cmocka_unit_test(test_sha256_skipped_when_decided),
	    cmocka_unit_test(test_script_sha256),
	    cmocka_unit_test(test_timeline_block),
	    cmocka_unit_test(test_timeline_variants),
	    cmocka_unit_test(test_bare_date_local_time),
	    cmocka_unit_test(test_exemptions),
	    cmocka_unit_test(test_exempt_warning_and_alert),
	    cmocka_unit_test(test_precedence),
	    cmocka_unit_test(test_dest),
	    cmocka_unit_test(test_dest_verdicts),
	};

	return cmocka_run_group_tests_name("matcher", tests, setup_tmp, teardown_tmp);
}
