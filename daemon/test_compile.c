/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * compile.c / scan.c / hashcache.c: the map entries a policy turns into, the
 * install-location scan on a temporary tree, hash requests and the watcher.
 * Needs no BPF and no root (uid/gid 0 are resolved by name, "root" exists).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "compile.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static char tmpdir[256];
static uint8_t banned_sha[32]; /* content of the copied ELF (/bin/sleep) */

/* ---------- fixtures ---------- */

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	assert_true(in >= 0);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(fchmod(out, mode), 0);
	close(in);
	close(out);
}

static void mkdirs(const char *fmt, ...)
{
	char path[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	for (char *p = path + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	mkdir(path, 0755);
}

static char *tpath(const char *rel)
{
	static char buf[4][2048];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmpdir, rel);
	return buf[k];
}

static int setup(void **state)
{
	int fd;

	snprintf(tmpdir, sizeof(tmpdir), "%s/tg-compile-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	/* the "banned tool": an ELF we can run, under another name */
	mkdirs("%s/tools/bin", tmpdir);
	copy_file("/bin/sleep", tpath("tools/bin/renamed-tool"), 0755);
	fd = open(tpath("tools/bin/renamed-tool"), O_RDONLY | O_CLOEXEC);
	if (fd < 0 || tg_sha256_fd(fd, TG_HASH_MAX_FILE_SIZE, banned_sha) < 0)
		return -1;
	close(fd);
	/* same content, no exec bit: not an executable, must not be reported */
	copy_file("/bin/sleep", tpath("tools/bin/not-executable"), 0644);
	/* for the complex glob on versions directories */
	mkdirs("%s/tools/share/claude/versions", tmpdir);
	write_file(tpath("tools/share/claude/versions/2.1.0"),
		   "\x7f"
		   "ELF-ish",
		   8, 0755);
	write_file(tpath("tools/share/claude/versions/README"), "hi", 2, 0644); /* not executable */
	/* a script for the complex scripts glob */
	mkdirs("%s/tools/node_modules/@anthropic-ai/claude-code-x", tmpdir);
	write_file(tpath("tools/node_modules/@anthropic-ai/claude-code-x/cli.js"), "console.log(1)\n", 15,
		   0644);
	/* symlink whose own path matches the complex exe glob */
	if (symlink("../../../bin/renamed-tool", tpath("tools/share/claude/versions/current")) < 0)
		return -1;
	/* a loop: a symlinked directory pointing up (never followed) */
	if (symlink("..", tpath("tools/share/loop")) < 0)
		return -1;
	*state = NULL;
	return 0;
}

static int teardown(void **state)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---------- the policy (built by hand: this tests compile, not the parser) ---------- */

struct fixture {
	struct tg_policy p;
	struct tg_tool tools[2];
	struct tg_exe_match exes0[6], exes1[2];
	struct tg_script_match scripts0[2];
	struct tg_host_match hosts0[3], hosts1[1];
	struct tg_principal users0[2], groups0[1];
	uint16_t ports443[1];
	int64_t effective;
};

static void cidr(const char *s, struct tg_cidr *c)
{
	assert_int_equal(tg_parse_cidr(s, c), 0);
}

static void build_policy(struct fixture *f)
{
	struct timespec now;

	memset(f, 0, sizeof(*f));
	clock_gettime(CLOCK_REALTIME, &now);
	f->effective = now.tv_sec + 3600;
	f->ports443[0] = 443;

	f->exes0[0] = (struct tg_exe_match){.kind = TG_EXE_NAME, .value = "claude"};
	f->exes0[1] = (struct tg_exe_match){.kind = TG_EXE_PATH, .value = "/opt/claude/**"};	/* prefix */
	f->exes0[2] = (struct tg_exe_match){.kind = TG_EXE_PATH, .value = "**/bin/claude.exe"}; /* suffix */
	f->exes0[3] =
	    (struct tg_exe_match){.kind = TG_EXE_PATH, .value = "/usr/local/bin/claudex"}; /* exact */
	f->exes0[4] =
	    (struct tg_exe_match){.kind = TG_EXE_PATH, .value = "**/claude/versions/*"}; /* complex */
	f->exes0[5] = (struct tg_exe_match){.kind = TG_EXE_SHA256, .value = "(hex)"};
	memcpy(f->exes0[5].sha256, banned_sha, 32);
	f->scripts0[0] = (struct tg_script_match){.path = "**/claude-code/cli.js"};  /* suffix */
	f->scripts0[1] = (struct tg_script_match){.path = "**/claude-code*/cli.js"}; /* complex */
	f->hosts0[0] = (struct tg_host_match){.kind = TG_HOST_CIDR};
	cidr("160.79.104.0/23", &f->hosts0[0].cidr);
	f->hosts0[1] = (struct tg_host_match){.kind = TG_HOST_CIDR, .ports = f->ports443, .n_ports = 1};
	cidr("2607:6bc0::/48", &f->hosts0[1].cidr);
	f->hosts0[2] = (struct tg_host_match){.kind = TG_HOST_NAME, .name = "api.anthropic.com"};
	f->users0[0] = (struct tg_principal){.name = "root"};
	f->users0[1] = (struct tg_principal){.name = "no-such-user-tg-test"};
	f->groups0[0] = (struct tg_principal){.name = "root"};

	f->tools[0] = (struct tg_tool){
	    .id = "claude-code",
	    .name = "Claude Code",
	    .action = TG_ACTION_BLOCK,
	    .effective = {.set = true, .t = f->effective},
	    .warn_before = 86400,
	    .exes = f->exes0,
	    .n_exes = ARRAY_SIZE(f->exes0),
	    .scripts = f->scripts0,
	    .n_scripts = ARRAY_SIZE(f->scripts0),
	    .hosts = f->hosts0,
	    .n_hosts = ARRAY_SIZE(f->hosts0),
	    .exempt = {.users = f->users0,
		       .n_users = 2,
		       .groups = f->groups0,
		       .n_groups = 1,
		       .until = {.set = true, .t = f->effective + 7200}},
	    .rollout_percent = 100,
	};

	f->exes1[0] = (struct tg_exe_match){.kind = TG_EXE_NAME, .value = "claude"};
	f->exes1[1] = (struct tg_exe_match){.kind = TG_EXE_PATH, .value = "/opt/**"};
	f->hosts1[0] = (struct tg_host_match){.kind = TG_HOST_CIDR};
	cidr("160.79.0.0/16", &f->hosts1[0].cidr);
	f->tools[1] = (struct tg_tool){
	    .id = "watched",
	    .action = TG_ACTION_ALERT,
	    .exes = f->exes1,
	    .n_exes = 2,
	    .hosts = f->hosts1,
	    .n_hosts = 1,
	    .rollout_percent = 100,
	};

	f->p = (struct tg_policy){
	    .name = "test",
	    .serial = 42,
	    .default_action = TG_ACTION_BLOCK,
	    .tools = f->tools,
	    .n_tools = 2,
	    .interpreters = NULL, /* default list */
	};
}

static int compile_tmp(const struct tg_policy *p, enum tg_mode mode, struct tg_hashcache *hc,
		       struct tg_compiled **ret, char *why, size_t len)
{
	const char *roots[] = {tpath("tools")};
	struct tg_compile_options o = {
	    .scan_roots = roots,
	    .n_scan_roots = 1,
	    .scan_no_default_roots = true,
	    .scan_no_env = true,
	    .hashcache = hc,
	};

	return tg_compile_policy_opts(p, mode, &o, ret, why, len);
}

/* ---------- lookups in the compiled arrays ---------- */

static const struct tg_abi_refs *find_str(const struct tg_compiled *c, bool rev, uint8_t space, const char *s,
					  bool exact)
{
	size_t len = strlen(s) + (exact ? 1 : 0);
	const struct tg_abi_str_key *keys = rev ? c->rstr_keys : c->str_keys;
	size_t n = rev ? c->n_rstrs : c->n_strs;
	uint8_t want[TG_ABI_STR_MAX] = {0};

	if (rev)
		for (size_t i = 0; i < strlen(s); i++)
			want[i] = (uint8_t)s[strlen(s) - 1 - i];
	else
		memcpy(want, s, strlen(s));
	for (size_t i = 0; i < n; i++)
		if (keys[i].space == space && keys[i].prefixlen == 16 + 8 * len && keys[i].gen == 0 &&
		    memcmp(keys[i].str, want, len) == 0)
			return rev ? &c->rstr_vals[i] : &c->str_vals[i];
	return NULL;
}

static const struct tg_abi_refs *find_inode(const struct tg_compiled *c, const char *path, uint8_t space)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return NULL;
	for (size_t i = 0; i < c->n_inodes; i++)
		if (c->inode_keys[i].ino == st.st_ino && c->inode_keys[i].space == space &&
		    c->inode_keys[i].dev == tg_abi_dev_from_user(major(st.st_dev), minor(st.st_dev)))
			return &c->inode_vals[i];
	return NULL;
}

static bool has_warning(const struct tg_compiled *c, const char *needle)
{
	const char *const *w;
	size_t n = tg_compiled_warnings(c, &w);

	for (size_t i = 0; i < n; i++)
		if (strstr(w[i], needle))
			return true;
	return false;
}

/* ---------- tests ---------- */

static int64_t measured_tai_offset_ns(void)
{
	struct timespec r, t;

	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_TAI, &t);
	return ((int64_t)t.tv_sec - r.tv_sec) * 1000000000LL + (t.tv_nsec >= r.tv_nsec ? 0 : -1000000000LL) +
	       (t.tv_nsec - r.tv_nsec >= 500000000 ||
			(t.tv_nsec < r.tv_nsec && t.tv_nsec + 1000000000L - r.tv_nsec >= 500000000)
		    ? 1000000000LL
		    : 0);
}

static void test_tai_conversion(void **state)
{
	int64_t off = tg_compile_realtime_to_tai_ns(1000) - 1000 * 1000000000LL;
	int64_t measured = measured_tai_offset_ns();

	/* whole seconds, and what the clocks say now (0 here, 37 s where NTP set it) */
	assert_int_equal(off % 1000000000LL, 0);
	assert_true(off - measured <= 1000000000LL && measured - off <= 1000000000LL);
	assert_int_equal(tg_compile_realtime_to_tai_ns(0), 0);
	assert_int_equal(tg_compile_realtime_to_tai_ns(-5), 0);
	assert_true(tg_compile_realtime_to_tai_ns(INT64_MAX) == UINT64_MAX - 1);
}

static void test_compile_every_kind(void **state)
{
	struct fixture f;
	struct tg_compiled *c = NULL;
	struct tg_hashcache *hc;
	const struct tg_abi_refs *r;
	const struct tg_compiled_host *hosts;
	char why[512], name[96];
	int64_t off;
	bool uid0 = false, gid0 = false;

	build_policy(&f);
	assert_int_equal(tg_hashcache_new(1024, &hc), 0);
	assert_int_equal(compile_tmp(&f.p, TG_MODE_MONITOR, hc, &c, why, sizeof(why)), 0);
	off = tg_compiled_tai_offset_ns(c);
	assert_int_equal(off % 1000000000LL, 0);

	/* generation settings */
	assert_int_equal(c->gen.policy_serial, 42);
	assert_int_equal(c->gen.mode, TG_ABI_MODE_MONITOR);
	assert_int_equal(c->gen.n_tools, 2);
	assert_true(c->gen.flags & TG_ABI_GEN_HASH_REQUESTS);
	assert_true(c->gen.flags & TG_ABI_GEN_SCRIPTS);

	/* tools: times in CLOCK_TAI ns */
	assert_int_equal(c->n_tools, 2);
	assert_int_equal(c->tools[0].action, TG_ABI_ACTION_BLOCK);
	assert_int_equal(c->tools[0].flags,
			 TG_ABI_TOOL_PRESENT | TG_ABI_TOOL_EXEMPT_UIDS | TG_ABI_TOOL_EXEMPT_GIDS);
	assert_true(c->tools[0].start_ns == (uint64_t)((f.effective - 86400) * 1000000000LL + off));
	assert_true(c->tools[0].block_ns == (uint64_t)(f.effective * 1000000000LL + off));
	assert_true(c->tools[0].end_ns == UINT64_MAX);
	assert_true(c->tools[0].exempt_end_ns == (uint64_t)((f.effective + 7200) * 1000000000LL + off));
	assert_int_equal(c->tools[1].action, TG_ABI_ACTION_ALERT);
	assert_int_equal(c->tools[1].flags, TG_ABI_TOOL_PRESENT);
	assert_true(c->tools[1].start_ns == 0 && c->tools[1].end_ns == UINT64_MAX);
	/* inside the warning window already: the next change is the block */
	assert_int_equal(c->next_transition, f.effective);

	/* name: both tools, block tool first */
	r = find_str(c, false, TG_ABI_SPACE_EXE_NAME, "claude", true);
	assert_non_null(r);
	assert_int_equal(r->n, 2);
	assert_int_equal(r->ref[0].tool, 0);
	assert_int_equal(r->ref[0].matcher, TG_ABI_MATCHER(TG_ABI_MK_EXE, 0));
	assert_int_equal(r->ref[1].tool, 1);
	/* prefix: the longer entry carries the shorter one's refs (LPM closure) */
	r = find_str(c, false, TG_ABI_SPACE_EXE_PATH, "/opt/claude/", false);
	assert_non_null(r);
	assert_int_equal(r->n, 2);
	assert_int_equal(r->ref[0].tool, 0);
	assert_int_equal(r->ref[0].matcher, TG_ABI_MATCHER(TG_ABI_MK_EXE, 1));
	assert_int_equal(r->ref[1].tool, 1);
	assert_int_equal(r->ref[1].matcher, TG_ABI_MATCHER(TG_ABI_MK_EXE, 1));
	r = find_str(c, false, TG_ABI_SPACE_EXE_PATH, "/opt/", false);
	assert_non_null(r);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->ref[0].tool, 1);
	/* exact, and the /opt/ prefix does not cover it */
	r = find_str(c, false, TG_ABI_SPACE_EXE_PATH, "/usr/local/bin/claudex", true);
	assert_non_null(r);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->ref[0].matcher, TG_ABI_MATCHER(TG_ABI_MK_EXE, 3));
	/* suffix: reversed, in tg_rstrs */
	r = find_str(c, true, TG_ABI_SPACE_EXE_PATH, "/bin/claude.exe", false);
	assert_non_null(r);
	assert_int_equal(r->ref[0].matcher, TG_ABI_MATCHER(TG_ABI_MK_EXE, 2));
	r = find_str(c, true, TG_ABI_SPACE_SCRIPT_PATH, "/claude-code/cli.js", false);
	assert_non_null(r);
	assert_int_equal(r->ref[0].matcher, TG_ABI_MATCHER(TG_ABI_MK_SCRIPT, 0));
	/* interpreters: exact, prefix, loader prefix */
	r = find_str(c, false, TG_ABI_SPACE_INTERP, "node", true);
	assert_non_null(r);
	assert_int_equal(r->n, 0);
	assert_int_equal(r->flags, TG_ABI_REFS_INTERP);
	r = find_str(c, false, TG_ABI_SPACE_INTERP, "python3", false);
	assert_non_null(r);
	assert_int_equal(r->flags, TG_ABI_REFS_INTERP);
	r = find_str(c, false, TG_ABI_SPACE_INTERP, "ld-linux", false);
	assert_non_null(r);
	assert_int_equal(r->flags, TG_ABI_REFS_INTERP | TG_ABI_REFS_LDSO);

	/* scan: renamed copy found by sha256; complex glob; not the file without exec bit */
	r = find_inode(c, tpath("tools/bin/renamed-tool"), TG_ABI_INODE_EXE);
	assert_non_null(r);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->ref[0].tool, 0);
	assert_int_equal(r->ref[0].matcher, TG_ABI_MATCHER(TG_ABI_MK_EXE, 5));
	assert_null(find_inode(c, tpath("tools/bin/not-executable"), TG_ABI_INODE_EXE));
	r = find_inode(c, tpath("tools/share/claude/versions/2.1.0"), TG_ABI_INODE_EXE);
	assert_non_null(r);
	assert_int_equal(r->ref[0].matcher, TG_ABI_MATCHER(TG_ABI_MK_EXE, 4));
	assert_null(find_inode(c, tpath("tools/share/claude/versions/README"), TG_ABI_INODE_EXE));
	/* the symlink "versions/current": its own path as an exact string */
	{
		char *rp = realpath(tpath("tools/share/claude/versions/current"), NULL);
		char lp[1024], *rd = realpath(tmpdir, NULL);

		assert_non_null(rp);
		snprintf(lp, sizeof(lp), "%s/tools/share/claude/versions/current", rd);
		r = find_str(c, false, TG_ABI_SPACE_EXE_PATH, lp, true);
		assert_non_null(r);
		assert_int_equal(r->ref[0].matcher, TG_ABI_MATCHER(TG_ABI_MK_EXE, 4));
		free(rp);
		/* complex script glob: inode and exact path */
		snprintf(lp, sizeof(lp), "%s/tools/node_modules/@anthropic-ai/claude-code-x/cli.js", rd);
		r = find_str(c, false, TG_ABI_SPACE_SCRIPT_PATH, lp, true);
		assert_non_null(r);
		assert_int_equal(r->ref[0].matcher, TG_ABI_MATCHER(TG_ABI_MK_SCRIPT, 1));
		free(rd);
	}
	r = find_inode(c, tpath("tools/node_modules/@anthropic-ai/claude-code-x/cli.js"),
		       TG_ABI_INODE_SCRIPT);
	assert_non_null(r);

	/* networks: /23 also carries the covering /16's alert rule */
	assert_int_equal(c->n_net4, 2);
	for (size_t i = 0; i < c->n_net4; i++) {
		if (c->net4_keys[i].prefixlen == 8 + 23) {
			assert_memory_equal(c->net4_keys[i].addr, ((uint8_t[]){160, 79, 104, 0}), 4);
			assert_int_equal(c->net4_vals[i].n, 2);
			assert_int_equal(c->net4_vals[i].ref[0].tool, 0);
			assert_int_equal(c->net4_vals[i].ref[0].matcher, TG_ABI_MATCHER(TG_ABI_MK_HOST, 0));
			assert_int_equal(c->net4_vals[i].ref[0].n_ports, 0);
			assert_int_equal(c->net4_vals[i].ref[1].tool, 1);
		} else {
			assert_int_equal(c->net4_keys[i].prefixlen, 8 + 16);
			assert_int_equal(c->net4_vals[i].n, 1);
		}
	}
	assert_int_equal(c->n_net6, 1);
	assert_int_equal(c->net6_keys[0].prefixlen, 8 + 48);
	assert_int_equal(c->net6_vals[0].ref[0].n_ports, 1);
	assert_int_equal(c->net6_vals[0].ref[0].ports[0], 443);
	assert_int_equal(tg_compiled_hosts(c, &hosts), 1);
	assert_string_equal(hosts[0].name, "api.anthropic.com");
	assert_int_equal(hosts[0].matcher, TG_ABI_MATCHER(TG_ABI_MK_HOST, 2));

	/* exemptions: "root" resolved, the unknown user reported */
	for (size_t i = 0; i < c->n_exempt; i++) {
		assert_int_equal(c->exempt_keys[i].tool, 0);
		if (c->exempt_keys[i].kind == TG_ABI_EXEMPT_UID && c->exempt_keys[i].id == 0)
			uid0 = true;
		if (c->exempt_keys[i].kind == TG_ABI_EXEMPT_GID && c->exempt_keys[i].id == 0)
			gid0 = true;
	}
	assert_true(uid0 && gid0);
	assert_int_equal(c->n_exempt, 2);
	assert_true(has_warning(c, "no-such-user-tg-test"));

	/* decoding tables */
	assert_ptr_equal(tg_compiled_tool(c, 1), &f.tools[1]);
	assert_null(tg_compiled_tool(c, 2));
	assert_string_equal(
	    tg_compiled_matcher_name(c, 0, TG_ABI_MATCHER(TG_ABI_MK_EXE, 5), name, sizeof(name)),
	    "executables[5].sha256");
	assert_string_equal(
	    tg_compiled_matcher_name(c, 0, TG_ABI_MATCHER(TG_ABI_MK_SCRIPT, 1), name, sizeof(name)),
	    "scripts[1].path");
	assert_string_equal(
	    tg_compiled_matcher_name(c, 0, TG_ABI_MATCHER(TG_ABI_MK_HOST, 2), name, sizeof(name)),
	    "hosts[2]");
	assert_string_equal(
	    tg_compiled_matcher_name(c, 0, TG_ABI_MATCHER(TG_ABI_MK_HOST, 9), name, sizeof(name)), "?");

	tg_compiled_free(c);
	/* enforce mode */
	assert_int_equal(compile_tmp(&f.p, TG_MODE_ENFORCE, hc, &c, why, sizeof(why)), 0);
	assert_int_equal(c->gen.mode, TG_ABI_MODE_ENFORCE);
	tg_compiled_free(c);
	tg_hashcache_free(hc);
}

static void test_refs_overflow_fails(void **state)
{
	struct tg_tool tools[TG_ABI_MAX_REFS + 1];
	struct tg_exe_match exe = {.kind = TG_EXE_NAME, .value = "same-name"};
	char ids[TG_ABI_MAX_REFS + 1][16];
	struct tg_policy p = {
	    .default_action = TG_ACTION_BLOCK, .tools = tools, .n_tools = ARRAY_SIZE(tools)};
	struct tg_compiled *c = NULL;
	char why[512];

	memset(tools, 0, sizeof(tools));
	for (size_t i = 0; i < ARRAY_SIZE(tools); i++) {
		snprintf(ids[i], sizeof(ids[i]), "tool-%zu", i);
		tools[i].id = ids[i];
		tools[i].exes = &exe;
		tools[i].n_exes = 1;
	}
	assert_int_equal(compile_tmp(&p, TG_MODE_ENFORCE, NULL, &c, why, sizeof(why)), -EINVAL);
	assert_null(c);
	assert_non_null(strstr(why, "same-name"));
	assert_non_null(strstr(why, "at most 7 tools"));
	/* seven are fine */
	p.n_tools = TG_ABI_MAX_REFS;
	assert_int_equal(compile_tmp(&p, TG_MODE_ENFORCE, NULL, &c, why, sizeof(why)), 0);
	assert_int_equal(c->n_strs, 1 + 6); /* and the 6 default interpreters */
	assert_int_equal(find_str(c, false, TG_ABI_SPACE_EXE_NAME, "same-name", true)->n, TG_ABI_MAX_REFS);
	/* no sha256/complex rules: no scan, no hash requests */
	assert_false(c->gen.flags & TG_ABI_GEN_HASH_REQUESTS);
	{
		struct tg_compiled_scan_stats st;

		tg_compiled_scan_stats(c, &st);
		assert_false(st.ran);
	}
	tg_compiled_free(c);
}

static struct tg_scan_rules sha_rules(struct tg_scan_rule *rule)
{
	*rule = (struct tg_scan_rule){
	    .kind = TG_SCAN_SHA256, .tool = 0, .matcher = TG_ABI_MATCHER(TG_ABI_MK_EXE, 0)};
	memcpy(rule->sha256, banned_sha, 32);
	struct tg_scan_rules rules = {.v = rule, .n = 1};

	tg_scan_rules_prepare(&rules);
	return rules;
}

static void test_scan_cache_hit(void **state)
{
	struct tg_scan_rule rule;
	struct tg_scan_rules rules = sha_rules(&rule);
	struct tg_hashcache *hc;
	struct tg_hashcache_stats s1, s2, s3;
	const char *roots[] = {tpath("tools")};
	struct tg_scan_options o = {
	    .extra_roots = roots, .n_extra_roots = 1, .no_default_roots = true, .no_env = true};
	struct tg_scan_result res = {0};

	assert_int_equal(tg_hashcache_new(64, &hc), 0);
	o.hashcache = hc;
	assert_int_equal(tg_scan_run(&rules, &o, &res), 0);
	/* found directly and through the symlink versions/current: the same file */
	assert_int_equal(res.n_hits, 2);
	for (size_t i = 0; i < res.n_hits; i++) {
		assert_non_null(strstr(res.hits[i].path, "tools/bin/renamed-tool"));
		assert_int_equal(res.hits[i].ino, res.hits[0].ino);
		assert_int_equal(res.hits[i].kind, TG_SCAN_HIT_INODE);
	}
	tg_hashcache_get_stats(hc, &s1);
	/* renamed-tool and versions/2.1.0 (ELF magic, exec bit); symlink target already cached */
	assert_int_equal(s1.computed, 2);
	tg_scan_result_free(&res);

	assert_int_equal(tg_scan_run(&rules, &o, &res), 0);
	assert_int_equal(res.n_hits, 2);
	tg_hashcache_get_stats(hc, &s2);
	assert_int_equal(s2.computed, s1.computed); /* nothing read again */
	assert_true(s2.hits > s1.hits);
	tg_scan_result_free(&res);

	/* content changed (same size): ctime/mtime change, hashed again, no longer a match */
	{
		char *p = tpath("tools/share/claude/versions/2.1.0");

		write_file(p,
			   "\x7f"
			   "ELF-isH",
			   8, 0755);
	}
	assert_int_equal(tg_scan_run(&rules, &o, &res), 0);
	tg_hashcache_get_stats(hc, &s3);
	assert_int_equal(s3.computed, s2.computed + 1);
	tg_scan_result_free(&res);
	tg_hashcache_free(hc);
}

static void test_hashcache_file(void **state)
{
	struct tg_hashcache *a, *b;
	struct tg_hashcache_stats st;
	uint8_t sha1[32], sha2[32];
	char *file = strdup(tpath("hashes.bin"));
	struct tg_compiled *c = NULL;
	struct fixture f;
	char why[512];
	struct stat sb;

	assert_int_equal(tg_hashcache_new(64, &a), 0);
	assert_int_equal(tg_hashcache_path(a, tpath("tools/bin/renamed-tool"), sha1), 0);
	assert_memory_equal(sha1, banned_sha, 32);
	assert_int_equal(tg_hashcache_save(a, file), 0);
	assert_int_equal(stat(file, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	/* a new process (cache) answers from the file without reading the binary */
	assert_int_equal(tg_hashcache_new(64, &b), 0);
	assert_int_equal(tg_hashcache_load(b, file), 0);
	assert_int_equal(tg_hashcache_path(b, tpath("tools/bin/renamed-tool"), sha2), 0);
	assert_memory_equal(sha2, banned_sha, 32);
	tg_hashcache_get_stats(b, &st);
	assert_int_equal(st.computed, 0);
	assert_int_equal(st.hits, 1);
	tg_hashcache_free(b);

	/* refused: writable by others; not a cache file */
	assert_int_equal(tg_hashcache_new(64, &b), 0);
	assert_int_equal(chmod(file, 0666), 0);
	assert_int_equal(tg_hashcache_load(b, file), -EPERM);
	write_file(file, "garbage!garbage!garbage!", 24, 0600);
	assert_int_equal(tg_hashcache_load(b, file), -EPROTO);
	assert_int_equal(tg_hashcache_load(b, tpath("no-such-file")), -ENOENT);
	tg_hashcache_free(b);
	tg_hashcache_free(a);

	/* the daemon's setting: compile saves the default cache after hashing */
	unlink(file);
	assert_int_equal(tg_compile_set_hashcache_file(file), 0);
	build_policy(&f);
	assert_int_equal(compile_tmp(&f.p, TG_MODE_ENFORCE, NULL, &c, why, sizeof(why)), 0);
	tg_compiled_free(c);
	assert_int_equal(tg_compile_set_hashcache_file(NULL), 0);
	assert_int_equal(stat(file, &sb), 0);
	assert_true(sb.st_size > 16);
	unlink(file);
	free(file);
}

static void test_scan_limits(void **state)
{
	struct tg_scan_rule rule;
	struct tg_scan_rules rules = sha_rules(&rule);
	struct tg_scan_result res = {0};
	char deep[1024] = "deep";
	/* the same tree twice (once through a symlink): walked once */
	char *root1 = strdup(tpath("deeproot")), *root2 = strdup(tpath("deeproot-link"));
	const char *roots[] = {root1, root2};
	struct tg_scan_options o = {.extra_roots = roots,
				    .n_extra_roots = 2,
				    .no_default_roots = true,
				    .no_env = true,
				    .max_depth = 12};
	size_t walked;

	mkdirs("%s/deeproot", tmpdir);
	assert_int_equal(symlink("deeproot", tpath("deeproot-link")), 0);
	/* shallow copy (depth 3) and deep copy (depth 14) */
	mkdirs("%s/deeproot/a/b/c", tmpdir);
	copy_file(tpath("tools/bin/renamed-tool"), tpath("deeproot/a/b/c/shallow"), 0755);
	for (int i = 0; i < 13; i++)
		strcat(deep, "/d");
	mkdirs("%s/deeproot/%s", tmpdir, deep);
	strcat(deep, "/deep-copy");
	{
		char rel[1100];

		snprintf(rel, sizeof(rel), "deeproot/%s", deep);
		copy_file(tpath("tools/bin/renamed-tool"), tpath(rel), 0755);
	}
	/* a loop through a symlinked directory */
	assert_int_equal(symlink("../..", tpath("deeproot/a/b/up")), 0);

	assert_int_equal(tg_scan_run(&rules, &o, &res), 0);
	assert_int_equal(res.n_hits, 1);
	assert_non_null(strstr(res.hits[0].path, "/a/b/c/shallow"));
	assert_int_equal(res.n_roots, 1);
	walked = res.n_dirs_walked;
	/* root, a, b, c, deep and d at depths 2..12: the depth limit, and "up" not followed */
	assert_int_equal(walked, 16);
	tg_scan_result_free(&res);

	/* deeper limit: both found */
	o.max_depth = 20;
	assert_int_equal(tg_scan_run(&rules, &o, &res), 0);
	assert_int_equal(res.n_hits, 2);
	tg_scan_result_free(&res);

	/* entry limit: stops and says so */
	o.max_entries = 3;
	assert_int_equal(tg_scan_run(&rules, &o, &res), 0);
	assert_true(res.truncated);
	assert_true(res.n_warnings >= 1);
	assert_non_null(strstr(res.warnings[0], "stopped"));
	tg_scan_result_free(&res);

	/* TOOLGUARD_SCAN_EXTRA adds roots */
	{
		struct tg_scan_options e = {.no_default_roots = true, .max_depth = 12};

		setenv(TG_SCAN_ENV_EXTRA, tpath("deeproot"), 1);
		assert_int_equal(tg_scan_run(&rules, &e, &res), 0);
		unsetenv(TG_SCAN_ENV_EXTRA);
		assert_int_equal(res.n_hits, 1);
		tg_scan_result_free(&res);
	}
	free(root1);
	free(root2);
}

static void test_hash_request(void **state)
{
	struct fixture f;
	struct tg_compiled *c = NULL;
	struct tg_abi_hash_request req = {0};
	struct tg_abi_refs refs;
	struct stat st;
	char why[512];
	pid_t pid;
	int r;

	build_policy(&f);
	assert_int_equal(compile_tmp(&f.p, TG_MODE_ENFORCE, NULL, &c, why, sizeof(why)), 0);
	/* a copy the scan did not see: the kernel would ask about it */
	copy_file(tpath("tools/bin/renamed-tool"), tpath("late-copy"), 0755);
	assert_int_equal(stat(tpath("late-copy"), &st), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(tpath("late-copy"), "late-copy", "30", (char *)NULL);
		_exit(127);
	}
	/* wait until the child runs the copy */
	for (int i = 0; i < 200; i++) {
		char exe[64], link[1024];
		ssize_t n;

		snprintf(exe, sizeof(exe), "/proc/%d/exe", pid);
		n = readlink(exe, link, sizeof(link) - 1);
		if (n > 0 && (link[n] = '\0', strstr(link, "late-copy")))
			break;
		usleep(10000);
	}
	req.pid = (uint32_t)pid;
	req.ino = st.st_ino;
	req.dev = tg_abi_dev_from_user(major(st.st_dev), minor(st.st_dev));
	r = tg_compiled_hash_request(c, &req, &refs);
	assert_int_equal(r, 1);
	assert_int_equal(refs.n, 1);
	assert_int_equal(refs.ref[0].tool, 0);
	assert_int_equal(refs.ref[0].matcher, TG_ABI_MATCHER(TG_ABI_MK_EXE, 5));
	/* another inode than the process runs: refused */
	req.ino++;
	assert_int_equal(tg_compiled_hash_request(c, &req, &refs), -ESTALE);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* process gone */
	req.ino--;
	assert_true(tg_compiled_hash_request(c, &req, &refs) < 0);
	/* our own process (not banned): no match */
	assert_int_equal(stat("/proc/self/exe", &st), 0);
	req.pid = (uint32_t)getpid();
	req.ino = st.st_ino;
	assert_int_equal(tg_compiled_hash_request(c, &req, &refs), 0);
	unlink(tpath("late-copy"));
	tg_compiled_free(c);
}

struct updates {
	struct tg_abi_inode_key key[16];
	bool del[16];
	struct tg_abi_refs val[16];
	size_t n;
};

static int on_update(const struct tg_abi_inode_key *key, const struct tg_abi_refs *val, const char *path,
		     void *userdata)
{
	struct updates *u = userdata;

	if (u->n < 16) {
		u->key[u->n] = *key;
		u->del[u->n] = val == NULL;
		if (val)
			u->val[u->n] = *val;
		u->n++;
	}
	return 0;
}

static void watcher(unsigned flags)
{
	struct fixture f;
	struct tg_compiled *c = NULL;
	struct tg_watch *w = NULL;
	struct updates u = {0};
	struct stat st;
	char why[512];
	int n;

	build_policy(&f);
	assert_int_equal(compile_tmp(&f.p, TG_MODE_ENFORCE, NULL, &c, why, sizeof(why)), 0);
	assert_int_equal(tg_watch_new_flags(c, flags, &w), 0);
	assert_non_null(w);
	assert_true(tg_watch_fd(w) >= 0);
	if (flags & TG_WATCH_NO_FANOTIFY) {
		assert_string_equal(tg_watch_backend(w), "inotify");
		assert_true(tg_watch_n_dirs(w) >= 4);
	}
	/* leftovers of an earlier run of this test */
	unlink(tpath("tools/share/newtool/bin-x"));
	rmdir(tpath("tools/share/newtool"));
	rmdir(tpath("tools/share/claude/versions/sub"));

	/* a new copy of the banned binary appears in a watched bin dir */
	copy_file(tpath("tools/bin/renamed-tool"), tpath("tools/bin/fresh-copy"), 0755);
	assert_int_equal(stat(tpath("tools/bin/fresh-copy"), &st), 0);
	n = tg_watch_process(w, on_update, &u);
	assert_true(n >= 1);
	assert_true(u.n >= 1);
	assert_int_equal(u.key[u.n - 1].ino, st.st_ino);
	assert_int_equal(u.key[u.n - 1].space, TG_ABI_INODE_EXE);
	assert_false(u.del[u.n - 1]);
	assert_int_equal(u.val[u.n - 1].ref[0].matcher, TG_ABI_MATCHER(TG_ABI_MK_EXE, 5));

	/* removed: its inode leaves the set */
	memset(&u, 0, sizeof(u));
	unlink(tpath("tools/bin/fresh-copy"));
	n = tg_watch_process(w, on_update, &u);
	assert_int_equal(n, 1);
	assert_int_equal(u.key[0].ino, st.st_ino);
	assert_true(u.del[0]);

	/* a new directory in a watched tree, then a matching file inside it */
	memset(&u, 0, sizeof(u));
	mkdirs("%s/tools/share/claude/versions/sub", tmpdir);
	assert_true(tg_watch_process(w, on_update, &u) >= 0);
	mkdirs("%s/tools/share/newtool", tmpdir);
	assert_true(tg_watch_process(w, on_update, &u) >= 0);
	copy_file(tpath("tools/bin/renamed-tool"), tpath("tools/share/newtool/bin-x"), 0755);
	assert_int_equal(stat(tpath("tools/share/newtool/bin-x"), &st), 0);
	assert_true(tg_watch_process(w, on_update, &u) >= 1);
	assert_true(u.n >= 1);
	assert_int_equal(u.key[u.n - 1].ino, st.st_ino);
	assert_false(u.del[u.n - 1]);

	/* the banned file overwritten in place with other content: dropped */
	memset(&u, 0, sizeof(u));
	write_file(tpath("tools/share/newtool/bin-x"), "#!/bin/sh\necho ok\n", 18, 0755);
	assert_true(tg_watch_process(w, on_update, &u) >= 1);
	assert_true(u.n >= 1);
	assert_int_equal(u.key[u.n - 1].ino, st.st_ino);
	assert_true(u.del[u.n - 1]);

	/* no events pending: nothing happens */
	memset(&u, 0, sizeof(u));
	assert_int_equal(tg_watch_process(w, on_update, &u), 0);
	assert_int_equal(u.n, 0);

	tg_watch_free(w);
	tg_compiled_free(c);
	/* NULL-tolerant */
	assert_int_equal(tg_watch_fd(NULL), -1);
	assert_int_equal(tg_watch_process(NULL, on_update, &u), 0);
	tg_watch_free(NULL);
}

static void test_watcher_inotify(void **state)
{
	watcher(TG_WATCH_NO_FANOTIFY);
}

/* fanotify where it works (root with CAP_SYS_ADMIN and CAP_DAC_READ_SEARCH), else inotify again */
static void test_watcher_default(void **state)
{
	struct tg_compiled *c = NULL;
	struct tg_watch *w = NULL;
	struct fixture f;
	char why[512];

	build_policy(&f);
	assert_int_equal(compile_tmp(&f.p, TG_MODE_ENFORCE, NULL, &c, why, sizeof(why)), 0);
	assert_int_equal(tg_watch_new(c, &w), 0);
	print_message("# watcher backend: %s\n", tg_watch_backend(w));
	tg_watch_free(w);
	tg_compiled_free(c);
	watcher(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tai_conversion),	cmocka_unit_test(test_compile_every_kind),
	    cmocka_unit_test(test_refs_overflow_fails), cmocka_unit_test(test_scan_cache_hit),
	    cmocka_unit_test(test_hashcache_file),	cmocka_unit_test(test_scan_limits),
	    cmocka_unit_test(test_hash_request),	cmocka_unit_test(test_watcher_inotify),
	    cmocka_unit_test(test_watcher_default),
	};

	return cmocka_run_group_tests_name("compile", tests, setup, teardown);
}
