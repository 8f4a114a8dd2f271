/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The reference semantics of a policy (the kernel programs must agree).
 *
 * Decisions taken here, beyond toolguard-policy(5):
 * - Time: a block tool is INACTIVE before effective-warn_before, WARNING in
 *   [effective-warn_before, effective), BLOCKING in [effective, expires),
 *   EXPIRED from expires on; alert/allow tools are INACTIVE before effective
 *   and EXPIRED from expires on. No effective = active since forever. When
 *   expires <= the other instants, expiry wins.
 * - Paths: the path as invoked is made absolute with cwd and normalised
 *   lexically ('.', '..', "//" and a trailing '/' removed; no symlinks
 *   followed); path_resolved is used as given. Paths over PATH_MAX never match.
 * - sha256 hashes path_resolved (else the absolute invoked path), at most once
 *   per query, and only when a sha256 rule is the next thing to decide.
 * - Scripts: when basename(path_invoked) or basename(path_resolved) is an
 *   interpreter, the script is tg_script_argument_for() of argv (see there),
 *   made absolute with cwd and normalised, plus its realpath() when it exists.
 *   The executed file itself (invoked and resolved) is also checked against
 *   scripts[]: when a "#!" file is executed directly the kernel sees the
 *   script as the executable. We do not read the file to check for "#!": a
 *   scripts[] glob naming a path means that file, whatever its format.
 *   `env node x.js` needs nothing special: env's own exec of node is a
 *   second query. `python3 -m mod` and `node -e/-p` run no script file.
 *   scripts[].sha256 (extension) hashes the script (its realpath when it
 *   exists) through q->sha256, else the executed file as for executables[].
 * - Loader (basename "ld-*.so*", e.g. ld-linux-x86-64.so.2): the program it
 *   loads is the "script" and is also checked against executables[] name and
 *   path rules, so `ld-linux.so /path/claude` is caught like `/path/claude`
 *   (sha256 rules apply to the executed file only).
 * - Verdicts: BLOCKING->BLOCK, WARNING->WARN, ALERT->ALERT, ALLOW->ALLOW,
 *   INACTIVE/EXPIRED->no match. An exemption turns BLOCK/WARN into ALLOW
 *   (exempt=true); alerts stay alerts (events still record exempt users).
 *   Strongest across tools wins (BLOCK>WARN>ALERT>ALLOW>NONE); on a tie the
 *   first tool in file order; in a tool the first matcher in the order
 *   executables (each: invoked, resolved, loaded program), then scripts.
 * - Destinations: port 0 (unknown) matches port-limited rules too. Names are
 *   compared lower-case without one trailing dot; "*.s" matches any name
 *   ending in ".s", never "s" itself.
 * - Exemptions are looked up (getpwnam_r/getgrnam_r) only for a tool that
 *   matched; an unknown user or group name exempts nobody. The next instant
 *   from tg_tool_state_at() ignores exempt.until: schedulers add it.
 * - A policy whose interpreters list is NULL uses the default list.
 * - rollout_percent is applied by the daemon, not here.
 */
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "matcher.h"

#define NAME_BUF_MAX (1024u * 1024u) /* cap for getpwnam_r/getgrnam_r buffers */

static const char *const default_interpreters[] = {"node", "nodejs",   "bun",
						   "deno", "python3*", "ld-linux*.so*"};

const char *tg_verdict_name(enum tg_verdict v)
{
	switch (v) {
	case TG_VERDICT_NONE:
		return "none";
	case TG_VERDICT_ALLOW:
		return "allow";
	case TG_VERDICT_ALERT:
		return "alert";
	case TG_VERDICT_WARN:
		return "warn";
	case TG_VERDICT_BLOCK:
		return "block";
	}
	return "unknown";
}

const char *tg_tool_state_name(enum tg_tool_state s)
{
	switch (s) {
	case TG_STATE_INACTIVE:
		return "inactive";
	case TG_STATE_WARNING:
		return "warning";
	case TG_STATE_BLOCKING:
		return "blocking";
	case TG_STATE_ALERT:
		return "alert";
	case TG_STATE_ALLOW:
		return "allow";
	case TG_STATE_EXPIRED:
		return "expired";
	}
	return "unknown";
}

/* ---------- time ---------- */

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

enum tg_tool_state tg_tool_state_at(const struct tg_policy *p, const struct tg_tool *t, int64_t now,
				    int64_t *ret_next)
{
	enum tg_action action = p ? tg_tool_action(p, t) : (t->action ? t->action : TG_ACTION_BLOCK);
	int64_t expires = t->expires.set ? t->expires.t : INT64_MAX;
	int64_t next = INT64_MAX;
	enum tg_tool_state s;

	if (now >= expires) {
		s = TG_STATE_EXPIRED;
	} else if (action == TG_ACTION_BLOCK) {
		int64_t eff = t->effective.set ? t->effective.t : INT64_MIN;
		int64_t warn_start = eff;

		if (t->effective.set && t->warn_before > 0 &&
		    __builtin_sub_overflow(eff, t->warn_before, &warn_start))
			warn_start = INT64_MIN;
		if (now < warn_start) {
			s = TG_STATE_INACTIVE;
			next = warn_start;
		} else if (now < eff) {
			s = TG_STATE_WARNING;
			next = eff;
		} else {
			s = TG_STATE_BLOCKING;
		}
		next = min64(next, expires);
	} else {
		if (t->effective.set && now < t->effective.t) {
			s = TG_STATE_INACTIVE;
			next = t->effective.t;
		} else {
			s = action == TG_ACTION_ALLOW ? TG_STATE_ALLOW : TG_STATE_ALERT;
		}
		next = min64(next, expires);
	}
	if (ret_next)
		*ret_next = next;
	return s;
}

static enum tg_verdict state_verdict(enum tg_tool_state s)
{
	switch (s) {
	case TG_STATE_BLOCKING:
		return TG_VERDICT_BLOCK;
	case TG_STATE_WARNING:
		return TG_VERDICT_WARN;
	case TG_STATE_ALERT:
		return TG_VERDICT_ALERT;
	case TG_STATE_ALLOW:
		return TG_VERDICT_ALLOW;
	case TG_STATE_INACTIVE:
	case TG_STATE_EXPIRED:
		break;
	}
	return TG_VERDICT_NONE;
}

/* ---------- exemptions ---------- */

/* getpwnam_r/getgrnam_r with a growing buffer. 0, -ENOENT or -errno. */
int tg_lookup_user(const char *name, uid_t *ret)
{
	long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t len = sz > 0 ? (size_t)sz : 4096;

	for (;;) {
		struct passwd pw, *res = NULL;
		char *buf = malloc(len);
		int r;

		if (!buf)
			return -ENOMEM;
		r = getpwnam_r(name, &pw, buf, len, &res);
		if (r == 0 && res)
			*ret = res->pw_uid;
		free(buf);
		if (r == ERANGE && len < NAME_BUF_MAX) {
			len *= 2;
			continue;
		}
		if (r)
			return -r;
		return res ? 0 : -ENOENT;
	}
}

int tg_lookup_group(const char *name, gid_t *ret)
{
	long sz = sysconf(_SC_GETGR_R_SIZE_MAX);
	size_t len = sz > 0 ? (size_t)sz : 4096;

	for (;;) {
		struct group gr, *res = NULL;
		char *buf = malloc(len);
		int r;

		if (!buf)
			return -ENOMEM;
		r = getgrnam_r(name, &gr, buf, len, &res);
		if (r == 0 && res)
			*ret = res->gr_gid;
		free(buf);
		if (r == ERANGE && len < NAME_BUF_MAX) {
			len *= 2;
			continue;
		}
		if (r)
			return -r;
		return res ? 0 : -ENOENT;
	}
}

bool tg_tool_exempts(const struct tg_tool *t, uid_t uid, const gid_t *gids, size_t n_gids, int64_t now)
{
	const struct tg_exempt *e = &t->exempt;

	if (e->until.set && now >= e->until.t)
		return false;
	for (size_t i = 0; i < e->n_users; i++) {
		const struct tg_principal *u = &e->users[i];
		uid_t id = (uid_t)-1;

		if (u->numeric || !u->name)
			id = (uid_t)u->id;
		else if (tg_lookup_user(u->name, &id) < 0)
			continue; /* unknown user: exempts nobody */
		if (id == uid)
			return true;
	}
	for (size_t i = 0; i < e->n_groups; i++) {
		const struct tg_principal *g = &e->groups[i];
		gid_t id = (gid_t)-1;

		if (g->numeric || !g->name)
			id = (gid_t)g->id;
		else if (tg_lookup_group(g->name, &id) < 0)
			continue;
		for (size_t k = 0; gids && k < n_gids; k++)
			if (gids[k] == id)
				return true;
	}
	return false;
}

/* ---------- interpreters and their script argument ---------- */

bool tg_is_interpreter(const struct tg_policy *p, const char *basename)
{
	const char *const *list = default_interpreters;
	size_t n = sizeof(default_interpreters) / sizeof(default_interpreters[0]);

	if (!basename || !*basename)
		return false;
	if (p && p->interpreters) {
		list = (const char *const *)p->interpreters;
		n = p->n_interpreters;
	}
	for (size_t i = 0; i < n; i++)
		if (list[i] && fnmatch(list[i], basename, 0) == 0)
			return true;
	return false;
}

static const char *base_name(const char *path)
{
	const char *s;

	if (!path)
		return NULL;
	s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static bool is_loader(const char *basename)
{
	return basename && fnmatch("ld-*.so*", basename, 0) == 0;
}

static bool word_in(const char *w, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(w, *list) == 0)
			return true;
	return false;
}

/*
 * Options are skipped one word at a time ("--opt=value" is one word), except:
 * interpreters: "-e", "--eval", "-p", "--print" (node), "-c", "-m" (python)
 * run no script file (NULL); "-r"/"--require", "--import", "--loader",
 * "--experimental-loader" (node), "-W", "-X" (python) consume the next word.
 * "--" ends the options; "-" (stdin) is no file. For bun/deno a leading
 * "run" subcommand is skipped.
 * loader ("ld-*.so*"): "--library-path", "--preload", "--argv0", "--audit",
 * "--inhibit-rpath", "--glibc-hwcaps-prepend", "--glibc-hwcaps-mask" consume
 * the next word; the first other non-option is the program.
 */
const char *tg_script_argument_for(const char *interp, const char *const *argv, size_t argc)
{
	static const char *const no_script[] = {"-e", "--eval", "-p", "--print", "-c", "-m", NULL};
	static const char *const interp_value[] = {
	    "-r", "--require", "--import", "--loader", "--experimental-loader", "-W", "-X", NULL};
	static const char *const loader_value[] = {
	    "--library-path",	      "--preload",	     "--argv0", "--audit", "--inhibit-rpath",
	    "--glibc-hwcaps-prepend", "--glibc-hwcaps-mask", NULL};
	bool loader = is_loader(interp);
	bool subcommand = interp && (strcmp(interp, "bun") == 0 || strcmp(interp, "deno") == 0);

	if (!argv)
		return NULL;
	for (size_t i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!a)
			return NULL;
		if (strcmp(a, "--") == 0)
			return i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "-") == 0)
			return NULL;
		if (a[0] == '-') {
			if (loader) {
				if (word_in(a, loader_value))
					i++;
				continue;
			}
			if (word_in(a, no_script))
				return NULL;
			if (word_in(a, interp_value))
				i++;
			continue;
		}
		if (subcommand && strcmp(a, "run") == 0) {
			subcommand = false;
			continue;
		}
		return a;
	}
	return NULL;
}

const char *tg_script_argument(const char *const *argv, size_t argc)
{
	if (!argv || argc == 0 || !argv[0])
		return NULL;
	return tg_script_argument_for(base_name(argv[0]), argv, argc);
}

/* ---------- paths ---------- */

/*
 * Absolute (with cwd) and lexically normalised copy of path, or NULL
 * (too long, no memory, or relative without cwd: then a plain copy).
 */
char *tg_path_absolute(const char *cwd, const char *path)
{
	size_t cl, pl, o = 0;
	char *in, *out;

	if (!path || !*path)
		return NULL;
	pl = strnlen(path, PATH_MAX + 1);
	cl = (path[0] != '/' && cwd) ? strnlen(cwd, PATH_MAX + 1) : 0;
	if (pl > PATH_MAX || cl > PATH_MAX)
		return NULL;
	if (path[0] != '/' && (!cwd || cwd[0] != '/'))
		return strndup(path, pl); /* cannot be made absolute: left as is */
	in = malloc(cl + pl + 2);
	out = malloc(cl + pl + 2);
	if (!in || !out) {
		free(in);
		free(out);
		return NULL;
	}
	if (cl) {
		memcpy(in, cwd, cl);
		in[cl] = '/';
		memcpy(in + cl + 1, path, pl + 1);
	} else {
		memcpy(in, path, pl + 1);
	}
	/* walk components; out always starts with '/' and has no trailing '/' except the root */
	out[o++] = '/';
	for (const char *s = in; *s;) {
		const char *e;
		size_t n;

		while (*s == '/')
			s++;
		if (!*s)
			break;
		e = strchrnul(s, '/');
		n = (size_t)(e - s);
		if (n == 1 && s[0] == '.') {
			/* nothing */
		} else if (n == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 1 && out[o - 1] != '/')
				o--;
			if (o > 1)
				o--; /* drop the '/' before the removed component */
		} else {
			if (o > 1)
				out[o++] = '/';
			memcpy(out + o, s, n);
			o += n;
		}
		s = e;
	}
	out[o] = '\0';
	free(in);
	if (o > PATH_MAX) {
		free(out);
		return NULL;
	}
	return out;
}

/* ---------- exec ---------- */

struct exec_ctx {
	const struct tg_exec_query *q;
	const char *invoked_base;
	const char *resolved_base;
	char *invoked_abs;
	const char *resolved;
	char *script_abs;  /* interpreter's script, or loader's program */
	char *script_real; /* realpath of it, when it exists and differs */
	bool loader;	   /* script_abs is a program loaded by ld.so */
	bool sha_tried;
	bool sha_ok;
	uint8_t sha[32];
	bool script_sha_tried; /* scripts[].sha256: content of the script argument */
	bool script_sha_ok;
	uint8_t script_sha[32];
};

struct hit {
	char matcher[96];
	const char *subject;
};

static bool sha256_of_exec(struct exec_ctx *c)
{
	const char *path = c->resolved ? c->resolved : c->invoked_abs;

	if (!c->sha_tried) {
		c->sha_tried = true;
		c->sha_ok = c->q->sha256 && path && c->q->sha256(c->q->sha256_ctx, path, c->sha) == 0;
	}
	return c->sha_ok;
}

/* The script's content: what the interpreter opens (symlinks followed), hashed once. */
static bool sha256_of_script(struct exec_ctx *c)
{
	const char *path = c->script_real ? c->script_real : c->script_abs;

	if (!c->script_sha_tried) {
		c->script_sha_tried = true;
		c->script_sha_ok = c->q->sha256 && path && path[0] == '/' &&
				   c->q->sha256(c->q->sha256_ctx, path, c->script_sha) == 0;
	}
	return c->script_sha_ok;
}

static bool exec_tool_hit(struct exec_ctx *c, const struct tg_tool *t, struct hit *h)
{
	for (size_t i = 0; i < t->n_exes; i++) {
		const struct tg_exe_match *m = &t->exes[i];
		/* in order: as invoked, as resolved, the program an ld.so loads */
		const char *names[3] = {c->invoked_base, c->resolved_base,
					c->loader ? base_name(c->script_abs) : NULL};
		/* what to report for each name; never NULL when the name is set */
		const char *name_subjects[3] = {c->invoked_abs ? c->invoked_abs : c->q->path_invoked,
						c->resolved, c->script_abs};
		const char *paths[4] = {c->invoked_abs, c->resolved, c->loader ? c->script_abs : NULL,
					c->loader ? c->script_real : NULL};
		const char *subject = NULL;

		switch (m->kind) {
		case TG_EXE_NAME:
			for (size_t k = 0; k < 3 && !subject; k++)
				if (names[k] && m->value && strcmp(names[k], m->value) == 0)
					subject = name_subjects[k];
			snprintf(h->matcher, sizeof(h->matcher), "executables[%zu].name", i);
			break;
		case TG_EXE_PATH:
			for (size_t k = 0; k < 4 && !subject; k++)
				if (paths[k] && tg_glob_match(m->value, paths[k]))
					subject = paths[k];
			snprintf(h->matcher, sizeof(h->matcher), "executables[%zu].path", i);
			break;
		case TG_EXE_SHA256:
			if (sha256_of_exec(c) && memcmp(c->sha, m->sha256, 32) == 0)
				subject = c->resolved ? c->resolved : c->invoked_abs;
			snprintf(h->matcher, sizeof(h->matcher), "executables[%zu].sha256", i);
			break;
		}
		if (subject) {
			h->subject = subject;
			return true;
		}
	}
	for (size_t i = 0; i < t->n_scripts; i++) {
		const struct tg_script_match *m = &t->scripts[i];
		/* the interpreter's script first, then the executed file itself ("#!" run directly) */
		const char *paths[4] = {c->script_abs, c->script_real, c->invoked_abs, c->resolved};

		if (!m->path) {
			/* sha256 (extension): the script's content, else the executed file's ("#!") */
			const char *subject = NULL;

			if (sha256_of_script(c) && memcmp(c->script_sha, m->sha256, 32) == 0)
				subject = c->script_real ? c->script_real : c->script_abs;
			else if (sha256_of_exec(c) && memcmp(c->sha, m->sha256, 32) == 0)
				subject = c->resolved ? c->resolved : c->invoked_abs;
			if (subject) {
				snprintf(h->matcher, sizeof(h->matcher), "scripts[%zu].sha256", i);
				h->subject = subject;
				return true;
			}
			continue;
		}
		for (size_t k = 0; k < 4; k++)
			if (paths[k] && tg_glob_match(m->path, paths[k])) {
				snprintf(h->matcher, sizeof(h->matcher), "scripts[%zu].path", i);
				h->subject = paths[k];
				return true;
			}
	}
	return false;
}

static void decision_none(struct tg_decision *d)
{
	memset(d, 0, sizeof(*d));
	d->verdict = TG_VERDICT_NONE;
	d->state = TG_STATE_INACTIVE;
}

/*
 * Tool t matched: apply its exemption (looked up only now, since it may
 * query the user database) and take it if strictly stronger than what d
 * holds: ties go to the earlier tool.
 */
static void consider(struct tg_decision *d, const struct tg_tool *t, enum tg_tool_state s, uid_t uid,
		     const gid_t *gids, size_t n_gids, int64_t now, const struct hit *h)
{
	enum tg_verdict v = state_verdict(s);
	bool exempt = false;

	if ((v == TG_VERDICT_BLOCK || v == TG_VERDICT_WARN) && tg_tool_exempts(t, uid, gids, n_gids, now)) {
		v = TG_VERDICT_ALLOW;
		exempt = true;
	}
	if (v <= d->verdict)
		return;
	d->verdict = v;
	d->tool = t;
	d->state = s;
	d->exempt = exempt;
	snprintf(d->matcher, sizeof(d->matcher), "%s", h->matcher);
	snprintf(d->subject, sizeof(d->subject), "%s", h->subject ? h->subject : "");
}

int tg_match_exec(const struct tg_policy *p, const struct tg_exec_query *q, struct tg_decision *ret)
{
	struct exec_ctx c = {.q = q};
	struct tg_decision d;

	if (!p || !q || !ret || (!q->path_invoked && !q->path_resolved))
		return -EINVAL;
	decision_none(&d);

	c.resolved = q->path_resolved;
	c.invoked_base = base_name(q->path_invoked);
	c.resolved_base = base_name(q->path_resolved);
	if (q->path_invoked)
		c.invoked_abs = tg_path_absolute(q->cwd, q->path_invoked);

	{
		const char *interp = NULL;

		if (tg_is_interpreter(p, c.invoked_base))
			interp = c.invoked_base;
		else if (tg_is_interpreter(p, c.resolved_base))
			interp = c.resolved_base;
		if (interp) {
			const char *arg;

			c.loader = is_loader(interp);
			arg = tg_script_argument_for(interp, q->argv, q->argc);
			if (arg)
				c.script_abs = tg_path_absolute(q->cwd, arg);
			if (c.script_abs && c.script_abs[0] == '/') {
				char *real = realpath(c.script_abs, NULL);

				if (real && strcmp(real, c.script_abs) != 0)
					c.script_real = real;
				else
					free(real);
			}
			if (!c.script_abs)
				c.loader = false;
		}
	}

	for (size_t i = 0; i < p->n_tools; i++) {
		const struct tg_tool *t = &p->tools[i];
		enum tg_tool_state s = tg_tool_state_at(p, t, q->now, NULL);
		struct hit h = {0};

		/* skip tools that cannot win even unexempted: saves matching and hashing */
		if (state_verdict(s) <= d.verdict)
			continue;
		if (exec_tool_hit(&c, t, &h))
			consider(&d, t, s, q->uid, q->gids, q->n_gids, q->now, &h);
		if (d.verdict == TG_VERDICT_BLOCK)
			break;
	}

	*ret = d;
	free(c.invoked_abs);
	free(c.script_abs);
	free(c.script_real);
	return 0;
}

/* ---------- destinations ---------- */

static bool port_ok(const struct tg_host_match *h, uint16_t port)
{
	if (h->n_ports == 0 || port == 0)
		return true;
	for (size_t i = 0; i < h->n_ports; i++)
		if (h->ports[i] == port)
			return true;
	return false;
}

static bool name_hit(const struct tg_host_match *h, const char *name, size_t len)
{
	size_t sl;

	if (!name || !h->name)
		return false;
	sl = strlen(h->name);
	if (h->kind == TG_HOST_NAME)
		return len == sl && memcmp(name, h->name, len) == 0;
	/* WILDCARD: strictly below the suffix, at any depth */
	return len > sl + 1 && name[len - sl - 1] == '.' && memcmp(name + len - sl, h->name, sl) == 0;
}

int tg_match_dest(const struct tg_policy *p, const struct tg_dest_query *q, struct tg_decision *ret)
{
	struct tg_decision d;
	char host[256], addr[INET6_ADDRSTRLEN];
	const char *name = NULL;
	size_t nlen = 0;
	int family = q ? q->family : 0;
	const uint8_t *a = q ? q->addr : NULL;
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (!p || !q || !ret)
		return -EINVAL;
	decision_none(&d);

	if (q->host) {
		size_t l = strnlen(q->host, sizeof(host));

		if (l > 0 && q->host[l - 1] == '.')
			l--;
		if (l > 0 && l < sizeof(host)) {
			for (size_t i = 0; i < l; i++) {
				char ch = q->host[i];

				host[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
			}
			host[l] = '\0';
			name = host;
			nlen = l;
		}
	}
	addr[0] = '\0';
	if (q->has_addr) {
		if (family == AF_INET6 && memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
			family = AF_INET;
			a = q->addr + 12;
		}
		if (!inet_ntop(family, a, addr, sizeof(addr)))
			addr[0] = '\0';
	}

	for (size_t i = 0; i < p->n_tools; i++) {
		const struct tg_tool *t = &p->tools[i];
		enum tg_tool_state s = tg_tool_state_at(p, t, q->now, NULL);

		if (state_verdict(s) <= d.verdict)
			continue;
		for (size_t k = 0; k < t->n_hosts; k++) {
			const struct tg_host_match *h = &t->hosts[k];
			struct hit hit = {0};

			if (!port_ok(h, q->port))
				continue;
			if (h->kind == TG_HOST_CIDR) {
				if (!q->has_addr || !tg_cidr_contains(&h->cidr, family, a))
					continue;
				hit.subject = addr;
			} else {
				if (!name_hit(h, name, nlen))
					continue;
				hit.subject = name;
			}
			snprintf(hit.matcher, sizeof(hit.matcher), "hosts[%zu]", k);
			consider(&d, t, s, q->uid, q->gids, q->n_gids, q->now, &hit);
			break;
		}
		if (d.verdict == TG_VERDICT_BLOCK)
			break;
	}
	*ret = d;
	return 0;
}

/* ---------- sha256 of a file (toolctl test, the daemon's test command) ---------- */

int tg_sha256_path(const char *path, uint64_t max_bytes, uint8_t out[32])
{
	EVP_MD_CTX *md = NULL;
	char buf[65536];
	struct stat st;
	unsigned len = 0;
	int fd, r = -EIO;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (max_bytes && (uint64_t)st.st_size > max_bytes)) {
		close(fd);
		return -EINVAL;
	}
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto out;
	for (;;) {
		ssize_t k = read(fd, buf, sizeof(buf));

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			goto out;
		}
		if (k == 0)
			break;
		if (EVP_DigestUpdate(md, buf, (size_t)k) != 1)
			goto out;
	}
	if (EVP_DigestFinal_ex(md, out, &len) == 1 && len == 32)
		r = 0;
out:
	EVP_MD_CTX_free(md);
	close(fd);
	return r;
}

int tg_sha256_callback(void *ctx, const char *path, uint8_t out[32])
{
	(void)ctx;
	return tg_sha256_path(path, 0, out);
}
