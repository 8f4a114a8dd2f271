/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * toolctl test: what the policy would do with a command line or a destination,
 * and why. Builds the same query the kernel side would see (the exec as
 * invoked and as resolved, the "#!" interpreter exec that follows a script,
 * env's exec of its program) and asks the reference matcher.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "matcher.h"
#include "toolctl.h"

#define MAX_STEPS   8	   /* the kernel follows at most 4 "#!" levels; env adds one each */
#define SHEBANG_MAX 256	   /* BINPRM_BUF_SIZE: what the kernel reads of "#!" lines */
#define MAX_GROUPS  65536u /* cap for getgrouplist */
#define PW_BUF_MAX  (1u << 20)

struct who {
	uid_t uid;
	gid_t *gids;
	size_t n_gids;
	char name[256]; /* "" when the uid has no passwd entry */
};

struct step {
	char label[160];
	char *invoked;	/* as passed to execve */
	char *resolved; /* realpath, or lexical absolute path; NULL when not found */
	char **argv;
	size_t argc;
	struct tg_decision d;
};

struct exec_eval {
	const struct tg_policy *p;
	const struct who *who;
	int64_t now;
	char cwd[PATH_MAX];
	struct step steps[MAX_STEPS];
	size_t n_steps;
	bool not_found; /* the command itself is not in PATH */
};

/* ---------- helpers ---------- */

static const char *base_name(const char *s)
{
	const char *b = strrchr(s, '/');

	return b ? b + 1 : s;
}


static char *path_lookup(const char *name)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (!path)
		path = "/bin:/usr/bin";
	for (const char *s = path;;) {
		const char *e = strchrnul(s, ':');
		size_t n = (size_t)(e - s);
		struct stat st;

		/* an empty entry is the current directory */
		if (n + strlen(name) + 2 <= sizeof(buf)) {
			if (n)
				snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, s, name);
			else
				snprintf(buf, sizeof(buf), "%s", name);
			if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
				return strdup(buf);
		}
		if (!*e)
			break;
		s = e + 1;
	}
	return NULL;
}

/* "#!" line of path: *ret_interp and *ret_arg (NULL when none). 1 if a script, 0 if not. */
static int read_shebang(const char *path, char **ret_interp, char **ret_arg)
{
	char buf[SHEBANG_MAX + 1];
	struct stat st;
	ssize_t k;
	char *s, *e, *nl;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	k = read(fd, buf, SHEBANG_MAX);
	close(fd);
	if (k < 3 || buf[0] != '#' || buf[1] != '!')
		return 0;
	buf[k] = '\0';
	nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	s = buf + 2;
	s += strspn(s, " \t");
	if (!*s)
		return 0;
	e = s + strcspn(s, " \t");
	*ret_interp = strndup(s, (size_t)(e - s));
	s = e + strspn(e, " \t");
	/* the kernel passes the rest of the line as one argument, trailing blanks removed */
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	*ret_arg = e > s ? strndup(s, (size_t)(e - s)) : NULL;
	return *ret_interp ? 1 : 0;
}

static int resolve_user(const char *spec, struct who *ret)
{
	struct passwd pw, *res = NULL;
	char *buf = NULL;
	size_t blen = 4096;
	bool numeric = spec[0] && strspn(spec, "0123456789") == strlen(spec);
	gid_t pgid;
	int r;

	memset(ret, 0, sizeof(*ret));
	for (;;) {
		char *nb = realloc(buf, blen);

		if (!nb) {
			free(buf);
			return -ENOMEM;
		}
		buf = nb;
		if (numeric) {
			unsigned long long v = strtoull(spec, NULL, 10);

			if (v >= UINT32_MAX) {
				free(buf);
				return -ERANGE;
			}
			r = getpwuid_r((uid_t)v, &pw, buf, blen, &res);
		} else {
			r = getpwnam_r(spec, &pw, buf, blen, &res);
		}
		if (r != ERANGE || blen >= PW_BUF_MAX)
			break;
		blen *= 2;
	}
	if (!res) {
		free(buf);
		if (!numeric)
			return -ESRCH;
		ret->uid = (uid_t)strtoull(spec, NULL, 10); /* a uid without an entry: no groups */
		return 0;
	}
	ret->uid = pw.pw_uid;
	pgid = pw.pw_gid;
	snprintf(ret->name, sizeof(ret->name), "%s", pw.pw_name);
	{
		int ng = 64;

		for (;;) {
			gid_t *g = realloc(ret->gids, (size_t)ng * sizeof(gid_t));
			int want = ng;

			if (!g) {
				free(buf);
				return -ENOMEM;
			}
			ret->gids = g;
			if (getgrouplist(ret->name, pgid, ret->gids, &want) >= 0) {
				ret->n_gids = (size_t)want;
				break;
			}
			if (want <= ng || (unsigned)want > MAX_GROUPS) {
				ret->gids[0] = pgid;
				ret->n_gids = 1;
				break;
			}
			ng = want;
		}
	}
	free(buf);
	return 0;
}

static int caller(struct who *ret)
{
	struct passwd pw, *res = NULL;
	char buf[16384];
	int n;

	memset(ret, 0, sizeof(*ret));
	ret->uid = getuid();
	n = getgroups(0, NULL);
	if (n < 0)
		n = 0;
	ret->gids = calloc((size_t)n + 1, sizeof(gid_t));
	if (!ret->gids)
		return -ENOMEM;
	ret->gids[0] = getgid();
	n = getgroups(n, ret->gids + 1);
	ret->n_gids = 1 + (size_t)(n > 0 ? n : 0);
	if (getpwuid_r(ret->uid, &pw, buf, sizeof(buf), &res) == 0 && res)
		snprintf(ret->name, sizeof(ret->name), "%s", pw.pw_name);
	return 0;
}

/* "now", "+14d", "-2h", "@EPOCH", RFC 3339, YYYY-MM-DD. */
static int parse_at(const char *s, int64_t now, int64_t *ret)
{
	struct tg_instant in;
	int64_t d;

	if (strcmp(s, "now") == 0) {
		*ret = now;
		return 0;
	}
	if (s[0] == '+' || s[0] == '-') {
		if (tg_parse_duration(s + 1, &d) < 0)
			return -EINVAL;
		*ret = s[0] == '+' ? now + d : now - d;
		return 0;
	}
	if (s[0] == '@' && s[1] && strspn(s + 1, "0123456789") == strlen(s + 1)) {
		*ret = (int64_t)strtoll(s + 1, NULL, 10);
		return 0;
	}
	if (tg_parse_instant(s, &in) < 0)
		return -EINVAL;
	*ret = in.t;
	return 0;
}

/* ---------- exec evaluation ---------- */

static void step_free(struct step *s)
{
	free(s->invoked);
	free(s->resolved);
	for (size_t i = 0; i < s->argc; i++)
		free(s->argv[i]);
	free(s->argv);
}

/* Evaluate one execve(filename, argv); then what it leads to ("#!", env). */
static int eval_exec(struct exec_eval *ev, const char *program, char **args, size_t nargs, const char *label,
		     unsigned depth)
{
	struct step *st;
	struct tg_exec_query q = {0};
	char *interp = NULL, *iarg = NULL;
	int r;

	if (ev->n_steps >= MAX_STEPS || depth > 4)
		return 0;
	st = &ev->steps[ev->n_steps];
	memset(st, 0, sizeof(*st));
	snprintf(st->label, sizeof(st->label), "%s", label);
	if (!strchr(program, '/')) {
		st->invoked = path_lookup(program);
		if (!st->invoked) {
			if (depth == 0)
				ev->not_found = true;
			st->invoked = strdup(program);
		} else {
			st->resolved = realpath(st->invoked, NULL);
		}
	} else {
		st->invoked = strdup(program);
		st->resolved = realpath(program, NULL);
		if (!st->resolved)
			st->resolved = tg_path_absolute(ev->cwd, program);
	}
	st->argv = calloc(nargs + 1, sizeof(char *));
	if (!st->invoked || !st->argv) {
		step_free(st);
		return -ENOMEM;
	}
	st->argv[st->argc++] = strdup(program);
	for (size_t i = 0; i < nargs; i++)
		st->argv[st->argc++] = strdup(args[i]);
	for (size_t i = 0; i < st->argc; i++)
		if (!st->argv[i]) {
			step_free(st);
			return -ENOMEM;
		}
	ev->n_steps++;

	q.path_invoked = st->invoked;
	q.path_resolved = st->resolved;
	/* not found: a bare name, not a file in cwd */
	q.cwd = st->resolved || strchr(st->invoked, '/') ? ev->cwd : NULL;
	q.argv = (const char *const *)st->argv;
	q.argc = st->argc;
	q.uid = ev->who->uid;
	q.gids = ev->who->gids;
	q.n_gids = ev->who->n_gids;
	q.sha256 = tg_sha256_callback;
	q.now = ev->now;
	r = tg_match_exec(ev->p, &q, &st->d);
	if (r < 0)
		return r;

	/* A "#!" script: the kernel then executes the interpreter with the script as an argument. */
	if (st->resolved && read_shebang(st->resolved, &interp, &iarg) == 1) {
		char **nargv = calloc(nargs + 3, sizeof(char *));
		size_t n = 0;
		char lab[160];

		if (!nargv) {
			free(interp);
			free(iarg);
			return -ENOMEM;
		}
		if (iarg)
			nargv[n++] = iarg;
		nargv[n++] = st->invoked;
		for (size_t i = 0; i < nargs; i++)
			nargv[n++] = args[i];
		snprintf(lab, sizeof(lab), "the \"#!\" line of %s runs %s", st->invoked, interp);
		r = eval_exec(ev, interp, nargv, n, lab, depth + 1);
		free(nargv);
		free(interp);
		free(iarg);
		if (r < 0)
			return r;
		return 0;
	}
	/* env runs its program with another execve: "#!/usr/bin/env node", "env -S node --x". */
	if (strcmp(base_name(st->argv[0]), "env") == 0 ||
	    (st->resolved && strcmp(base_name(st->resolved), "env") == 0)) {
		char **words = calloc(st->argc * 2 + 1, sizeof(char *));
		char **owned = calloc(st->argc + 1, sizeof(char *));
		size_t nw = 0, no = 0, i;

		if (!words || !owned) {
			free(words);
			free(owned);
			return -ENOMEM;
		}
		/* split "-S words" (as env -S does), keep every other argument whole */
		for (i = 1; i < st->argc; i++) {
			const char *a = st->argv[i];

			if (strncmp(a, "-S", 2) == 0 || strncmp(a, "--split-string", 14) == 0) {
				const char *rest = a[1] == 'S' ? a + 2 : a + 14;
				char *copy, *save = NULL;

				if (*rest == '=')
					rest++;
				if (!*rest && i + 1 < st->argc)
					rest = st->argv[++i];
				copy = strdup(rest);
				if (!copy)
					break;
				owned[no++] = copy;
				for (char *w = strtok_r(copy, " \t", &save); w;
				     w = strtok_r(NULL, " \t", &save))
					words[nw++] = w;
				continue;
			}
			words[nw++] = st->argv[i];
		}
		/* skip env's own options and NAME=VALUE assignments */
		for (i = 0; i < nw; i++) {
			const char *w = words[i];

			if (strcmp(w, "--") == 0) {
				i++;
				break;
			}
			if (strcmp(w, "-u") == 0 || strcmp(w, "-C") == 0 || strcmp(w, "--unset") == 0 ||
			    strcmp(w, "--chdir") == 0) {
				i++;
				continue;
			}
			if (w[0] == '-' || strchr(w, '='))
				continue;
			break;
		}
		if (i < nw) {
			char lab[160];

			snprintf(lab, sizeof(lab), "env runs %s", words[i]);
			r = eval_exec(ev, words[i], words + i + 1, nw - i - 1, lab, depth + 1);
		} else {
			r = 0;
		}
		for (size_t k = 0; k < no; k++)
			free(owned[k]);
		free(owned);
		free(words);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The step that decides: the strongest verdict, the first on a tie. */
static const struct step *deciding_step(const struct exec_eval *ev)
{
	const struct step *best = &ev->steps[0];

	for (size_t i = 1; i < ev->n_steps; i++)
		if (ev->steps[i].d.verdict > best->d.verdict)
			best = &ev->steps[i];
	return best;
}

/* ---------- explanation ---------- */

struct note {
	const struct tg_tool *tool;
	char text[512];
};

/*
 * Tools that match but are not in force now (before their window, expired):
 * the question "why is it allowed?" deserves that answer too.
 */
static size_t inactive_notes(const struct tg_policy *p, int64_t now, const struct tg_exec_query *eq,
			     const struct tg_dest_query *dq, struct note *notes, size_t max, size_t n)
{
	for (size_t i = 0; i < p->n_tools && n < max; i++) {
		const struct tg_tool *t = &p->tools[i];
		struct tg_policy sub = *p;
		struct tg_tool always = *t;
		struct tg_decision d;
		int64_t next;
		enum tg_tool_state s = tg_tool_state_at(p, t, now, &next);
		char when[64], span[32];
		bool dup = false;

		if (s != TG_STATE_INACTIVE && s != TG_STATE_EXPIRED)
			continue;
		for (size_t k = 0; k < n; k++)
			dup |= notes[k].tool == t;
		if (dup)
			continue;
		/* the same tool, in force forever and for everyone */
		always.effective.set = false;
		always.expires.set = false;
		always.warn_before = 0;
		always.exempt.n_users = always.exempt.n_groups = 0;
		sub.tools = &always;
		sub.n_tools = 1;
		if ((eq ? tg_match_exec(&sub, eq, &d) : tg_match_dest(&sub, dq, &d)) < 0 ||
		    d.verdict == TG_VERDICT_NONE)
			continue;
		notes[n].tool = t;
		if (s == TG_STATE_EXPIRED)
			snprintf(notes[n].text, sizeof(notes[n].text),
				 "%s (%s) matches via %s, but its rule expired at %s", t->id, t->name,
				 d.matcher, tg_format_instant(&t->expires, when, sizeof(when)));
		else
			snprintf(notes[n].text, sizeof(notes[n].text),
				 "%s (%s) matches via %s, but is not in force yet: %s from %s (in %s)", t->id,
				 t->name, d.matcher, tg_tool_state_name(tg_tool_state_at(p, t, next, NULL)),
				 tg_format_time_local(next, when, sizeof(when)),
				 tg_format_span(next - now, span, sizeof(span)));
		n++;
	}
	return n;
}

static bool runs(enum tg_verdict v, enum tg_mode mode)
{
	return v != TG_VERDICT_BLOCK || mode == TG_MODE_MONITOR;
}

static const char *verdict_word(enum tg_verdict v, enum tg_mode mode)
{
	if (v == TG_VERDICT_BLOCK && mode == TG_MODE_MONITOR)
		return "would-block";
	return tg_verdict_name(v);
}

static void print_state(const struct tg_policy *p, const struct tg_decision *d, int64_t now,
			enum tg_mode mode)
{
	const struct tg_tool *t = d->tool;
	char a[64], b[64], span[32];
	int64_t next;

	tg_tool_state_at(p, t, now, &next);
	switch (d->state) {
	case TG_STATE_BLOCKING:
		if (t->effective.set)
			printf("  state: blocking since %s", tg_format_instant(&t->effective, a, sizeof(a)));
		else
			printf("  state: blocking (no effective date: always)");
		if (t->expires.set)
			printf(", until %s", tg_format_instant(&t->expires, b, sizeof(b)));
		putchar('\n');
		break;
	case TG_STATE_WARNING:
		printf("  state: warning: runs, with a notice; blocked from %s (in %s)\n",
		       tg_format_instant(&t->effective, a, sizeof(a)),
		       tg_format_span(t->effective.t - now, span, sizeof(span)));
		break;
	case TG_STATE_ALERT:
		printf("  state: alert: runs, and the run is recorded");
		if (next != INT64_MAX)
			printf(" (until %s)", tg_format_time_local(next, a, sizeof(a)));
		putchar('\n');
		break;
	case TG_STATE_ALLOW:
		printf("  state: allowed by the policy (action allow)\n");
		break;
	default:
		printf("  state: %s\n", tg_tool_state_name(d->state));
		break;
	}
	if (d->verdict == TG_VERDICT_BLOCK && mode == TG_MODE_MONITOR)
		printf("  mode: monitor: the block is only recorded (\"would-block\"); the command runs\n");
}

/* Which exemption entry applies: "user root (uid 0)" or "group root (gid 0)". */
static void exempt_reason(const struct tg_tool *t, const struct who *who, char *buf, size_t len)
{
	char pwbuf[16384];

	for (size_t i = 0; i < t->exempt.n_users; i++) {
		const struct tg_principal *u = &t->exempt.users[i];
		struct passwd pw, *res = NULL;

		if ((u->numeric && u->id == who->uid) ||
		    (!u->numeric && getpwnam_r(u->name, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res &&
		     pw.pw_uid == who->uid)) {
			snprintf(buf, len, "user %s (uid %u) is exempt", who->name[0] ? who->name : "-",
				 (unsigned)who->uid);
			return;
		}
	}
	for (size_t i = 0; i < t->exempt.n_groups; i++) {
		const struct tg_principal *g = &t->exempt.groups[i];
		struct group gr, *res = NULL;
		gid_t gid;

		if (g->numeric)
			gid = (gid_t)g->id;
		else if (getgrnam_r(g->name, &gr, pwbuf, sizeof(pwbuf), &res) == 0 && res)
			gid = gr.gr_gid;
		else
			continue;
		for (size_t k = 0; k < who->n_gids; k++)
			if (who->gids[k] == gid) {
				snprintf(buf, len, "user %s (uid %u) is in exempt group %s (gid %u)",
					 who->name[0] ? who->name : "-", (unsigned)who->uid,
					 g->numeric ? "-" : g->name, (unsigned)gid);
				return;
			}
	}
	snprintf(buf, len, "uid %u is exempt", (unsigned)who->uid);
}

static void print_exempt(const struct tg_tool *t, const struct who *who)
{
	char a[64], why[600];

	exempt_reason(t, who, why, sizeof(why));
	printf("  exempt: %s", why);
	if (t->exempt.until.set)
		printf(" until %s", tg_format_instant(&t->exempt.until, a, sizeof(a)));
	printf("; the run is still recorded\n");
}

static void print_decision_human(const struct tg_policy *p, const struct tg_decision *d, const char *via,
				 const struct who *who, int64_t now, enum tg_mode mode,
				 const struct note *notes, size_t n_notes)
{
	const struct tg_tool *t = d->tool;
	char pat[4200];

	if (d->verdict == TG_VERDICT_NONE || !t) {
		printf("allow: no tool matches\n");
	} else {
		const char *url = tg_tool_notice_url(p, t);

		printf("%s: %s (%s) via %s \"%s\"\n", verdict_word(d->verdict, mode), t->id, t->name,
		       d->matcher, tc_matcher_pattern(t, d->matcher, pat, sizeof(pat)));
		if (d->subject[0])
			printf("  matched: %s\n", d->subject);
		if (via)
			printf("  via: %s\n", via);
		if (d->exempt) {
			print_exempt(t, who);
		} else {
			print_state(p, d, now, mode);
			if (d->verdict == TG_VERDICT_BLOCK || d->verdict == TG_VERDICT_WARN) {
				if (t->message)
					printf("  message: %s\n", t->message);
				if (t->alternative)
					printf("  alternative: %s\n", t->alternative);
				if (url)
					printf("  notice: %s\n", url);
			}
		}
	}
	for (size_t i = 0; i < n_notes; i++)
		printf("  note: %s\n", notes[i].text);
}

static void json_add_decision(json_object *o, const struct tg_policy *p, const struct tg_decision *d,
			      int64_t now, enum tg_mode mode)
{
	const struct tg_tool *t = d->tool;
	char buf[4200];

	json_object_object_add(o, "verdict", json_object_new_string(verdict_word(d->verdict, mode)));
	json_object_object_add(o, "runs", json_object_new_boolean(runs(d->verdict, mode)));
	if (!t || d->verdict == TG_VERDICT_NONE) {
		json_object_object_add(o, "tool", NULL);
		return;
	}
	{
		json_object *to = json_object_new_object();
		int64_t next;

		tg_tool_state_at(p, t, now, &next);
		json_object_object_add(to, "id", json_object_new_string(t->id));
		json_object_object_add(to, "name", json_object_new_string(t->name ? t->name : t->id));
		json_object_object_add(to, "vendor", t->vendor ? json_object_new_string(t->vendor) : NULL);
		json_object_object_add(to, "action",
				       json_object_new_string(tg_action_name(tg_tool_action(p, t))));
		json_object_object_add(to, "effective",
				       t->effective.set
					   ? json_object_new_string(tc_rfc3339(
						 t->effective.t, t->effective.utcoff_min, buf, sizeof(buf)))
					   : NULL);
		json_object_object_add(to, "expires",
				       t->expires.set
					   ? json_object_new_string(tc_rfc3339(
						 t->expires.t, t->expires.utcoff_min, buf, sizeof(buf)))
					   : NULL);
		json_object_object_add(
		    to, "next_transition",
		    next != INT64_MAX ? json_object_new_string(tc_rfc3339(next, 0, buf, sizeof(buf))) : NULL);
		json_object_object_add(to, "message", t->message ? json_object_new_string(t->message) : NULL);
		json_object_object_add(to, "alternative",
				       t->alternative ? json_object_new_string(t->alternative) : NULL);
		json_object_object_add(
		    to, "notice_url",
		    tg_tool_notice_url(p, t) ? json_object_new_string(tg_tool_notice_url(p, t)) : NULL);
		json_object_object_add(o, "tool", to);
	}
	json_object_object_add(o, "matcher", json_object_new_string(d->matcher));
	json_object_object_add(o, "pattern",
			       json_object_new_string(tc_matcher_pattern(t, d->matcher, buf, sizeof(buf))));
	json_object_object_add(o, "subject", json_object_new_string(d->subject));
	json_object_object_add(o, "state", json_object_new_string(tg_tool_state_name(d->state)));
	json_object_object_add(o, "exempt", json_object_new_boolean(d->exempt));
}

static json_object *json_who(const struct who *who)
{
	json_object *o = json_object_new_object(), *g = json_object_new_array();

	json_object_object_add(o, "uid", json_object_new_int64(who->uid));
	json_object_object_add(o, "user", who->name[0] ? json_object_new_string(who->name) : NULL);
	for (size_t i = 0; i < who->n_gids; i++)
		json_object_array_add(g, json_object_new_int64(who->gids[i]));
	json_object_object_add(o, "gids", g);
	return o;
}

static json_object *json_notes(const struct note *notes, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(notes[i].text));
	return a;
}

static void json_print(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* ---------- the two questions ---------- */

static int test_exec(const struct tg_policy *p, const struct who *who, int64_t now, bool at_given,
		     enum tg_mode mode, bool json, char **cmd, size_t ncmd)
{
	struct exec_eval ev = {.p = p, .who = who, .now = now};
	struct note notes[16];
	size_t n_notes = 0;
	const struct step *best;
	char via[200];
	int r;

	if (!getcwd(ev.cwd, sizeof(ev.cwd)))
		snprintf(ev.cwd, sizeof(ev.cwd), "/");
	r = eval_exec(&ev, cmd[0], cmd + 1, ncmd - 1, "the command", 0);
	if (r < 0 || ev.n_steps == 0) {
		for (size_t i = 0; i < ev.n_steps; i++)
			step_free(&ev.steps[i]);
		return tc_fail(EXIT_NO, "test: cannot evaluate \"%s\": %s", cmd[0],
			       strerror(r < 0 ? -r : EINVAL));
	}
	if (ev.not_found)
		fprintf(stderr, "(note: \"%s\" is not in PATH here; answering for a program of that name)\n",
			cmd[0]);
	best = deciding_step(&ev);
	for (size_t i = 0; i < ev.n_steps && best->d.verdict != TG_VERDICT_BLOCK; i++) {
		const struct step *s = &ev.steps[i];
		struct tg_exec_query q = {.path_invoked = s->invoked,
					  .path_resolved = s->resolved,
					  .cwd = s->resolved || strchr(s->invoked, '/') ? ev.cwd : NULL,
					  .argv = (const char *const *)s->argv,
					  .argc = s->argc,
					  .uid = who->uid,
					  .gids = who->gids,
					  .n_gids = who->n_gids,
					  .sha256 = tg_sha256_callback,
					  .now = now};

		n_notes = inactive_notes(p, now, &q, NULL, notes, sizeof(notes) / sizeof(notes[0]), n_notes);
	}
	snprintf(via, sizeof(via), "%s", best->label);
	if (json) {
		json_object *o = json_object_new_object(), *q = json_object_new_object(),
			    *steps = json_object_new_array();
		char buf[64];

		json_object_object_add(q, "kind", json_object_new_string("exec"));
		json_object_object_add(q, "command", json_object_new_string(cmd[0]));
		json_object_object_add(q, "cwd", json_object_new_string(ev.cwd));
		json_object_object_add(q, "user", json_who(who));
		json_object_object_add(q, "at", json_object_new_string(tc_rfc3339(now, 0, buf, sizeof(buf))));
		json_object_object_add(
		    q, "mode", json_object_new_string(mode == TG_MODE_MONITOR ? "monitor" : "enforce"));
		json_object_object_add(q, "found", json_object_new_boolean(!ev.not_found));
		json_object_object_add(o, "query", q);
		json_add_decision(o, p, &best->d, now, mode);
		if (best->d.exempt && best->d.tool) {
			char why[600];

			exempt_reason(best->d.tool, who, why, sizeof(why));
			json_object_object_add(o, "exempt_reason", json_object_new_string(why));
		}
		json_object_object_add(o, "step", json_object_new_string(best->label));
		for (size_t i = 0; i < ev.n_steps; i++) {
			const struct step *s = &ev.steps[i];
			json_object *so = json_object_new_object(), *av = json_object_new_array();

			json_object_object_add(so, "step", json_object_new_string(s->label));
			json_object_object_add(so, "path_invoked", json_object_new_string(s->invoked));
			json_object_object_add(so, "path_resolved",
					       s->resolved ? json_object_new_string(s->resolved) : NULL);
			for (size_t k = 0; k < s->argc; k++)
				json_object_array_add(av, json_object_new_string(s->argv[k]));
			json_object_object_add(so, "argv", av);
			json_add_decision(so, p, &s->d, now, mode);
			json_object_array_add(steps, so);
		}
		json_object_object_add(o, "steps", steps);
		json_object_object_add(o, "notes", json_notes(notes, n_notes));
		json_print(o);
	} else {
		print_decision_human(p, &best->d, best == &ev.steps[0] ? NULL : via, who, now, mode, notes,
				     n_notes);
		if (at_given) {
			char buf[64];

			printf("  at: %s\n", tg_format_time_local(now, buf, sizeof(buf)));
		}
	}
	r = runs(best->d.verdict, mode) ? 0 : EXIT_NO;
	for (size_t i = 0; i < ev.n_steps; i++)
		step_free(&ev.steps[i]);
	return r;
}

/* "NAME", "NAME:PORT", "1.2.3.4:443", "[2607:6bc0::1]:443", "2607:6bc0::1". */
static int split_dest(const char *s, char *host, size_t hlen, uint16_t *ret_port)
{
	const char *colon;
	size_t n;

	*ret_port = 0;
	if (s[0] == '[') {
		const char *e = strchr(s, ']');

		if (!e)
			return -EINVAL;
		n = (size_t)(e - s - 1);
		if (n == 0 || n >= hlen)
			return -EINVAL;
		memcpy(host, s + 1, n);
		host[n] = '\0';
		if (e[1] == '\0')
			return 0;
		if (e[1] != ':')
			return -EINVAL;
		colon = e + 1;
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* a bare IPv6 address */
		n = colon ? (size_t)(colon - s) : strlen(s);
		if (n == 0 || n >= hlen)
			return -EINVAL;
		memcpy(host, s, n);
		host[n] = '\0';
		if (!colon)
			return 0;
	}
	{
		const char *ps = colon + 1;
		char *end;
		unsigned long v;

		if (!*ps || strspn(ps, "0123456789") != strlen(ps))
			return -EINVAL;
		errno = 0;
		v = strtoul(ps, &end, 10);
		if (errno || v == 0 || v > 65535)
			return -ERANGE;
		*ret_port = (uint16_t)v;
	}
	return 0;
}

static bool parse_addr(const char *s, int *ret_family, uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1) {
		*ret_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*ret_family = AF_INET6;
		return true;
	}
	return false;
}

/* The host rule that decided ("hosts[N]" of the deciding tool), or NULL. */
static const struct tg_host_match *decision_host(const struct tg_decision *d)
{
	unsigned idx;

	if (!d->tool || sscanf(d->matcher, "hosts[%u]", &idx) != 1 || idx >= d->tool->n_hosts)
		return NULL;
	return &d->tool->hosts[idx];
}

static const char *host_kind_word(enum tg_host_kind k)
{
	return k == TG_HOST_NAME ? "exact" : k == TG_HOST_WILDCARD ? "wildcard" : "cidr";
}

/* Why a host rule matched, in one line (names: case-insensitive, trailing dot ignored). */
static void host_match_text(const struct tg_host_match *h, char *buf, size_t len)
{
	if (h->kind == TG_HOST_NAME)
		snprintf(buf, len, "exact name %s (compared case-insensitively, a trailing dot ignored)", h->name);
	else if (h->kind == TG_HOST_WILDCARD)
		snprintf(buf, len, "wildcard *.%s: any subdomain of %s at any depth, not %s itself", h->name, h->name,
			 h->name);
	else
		snprintf(buf, len, "address range");
}

/* The daemon's "resolved" names: held addresses, printed for people. */
static void print_resolved(json_object *res)
{
	json_object *names, *n, *v, *addrs;

	if (!res || !json_object_object_get_ex(res, "names", &names))
		return;
	for (size_t i = 0; i < json_object_array_length(names); i++) {
		n = json_object_array_get_idx(names, i);
		json_object_object_get_ex(n, "addresses", &addrs);
		printf("  resolved by toolguardd: %s -> ",
		       json_object_object_get_ex(n, "name", &v) ? json_object_get_string(v) : "?");
		if (!addrs || json_object_array_length(addrs) == 0)
			printf("no address held");
		for (size_t j = 0; addrs && j < json_object_array_length(addrs); j++) {
			json_object *a = json_object_array_get_idx(addrs, j), *ip, *ex, *in;

			json_object_object_get_ex(a, "ip", &ip);
			json_object_object_get_ex(a, "expires", &ex);
			json_object_object_get_ex(a, "expires_in_sec", &in);
			printf("%s%s (banned until %s, %" PRId64 " s)", j ? ", " : "", json_object_get_string(ip),
			       ex ? json_object_get_string(ex) : "?", in ? json_object_get_int64(in) : 0);
		}
		if (json_object_object_get_ex(n, "next_resolve", &v) && v)
			printf("; next query %s", json_object_get_string(v));
		if (json_object_object_get_ex(n, "last_error", &v) && v)
			printf("; last error: %s", json_object_get_string(v));
		printf("\n");
	}
}

static int test_dest(const struct toolctl *tc, bool ask_daemon, const struct tg_policy *p,
		     const struct who *who, int64_t now, bool at_given, enum tg_mode mode, bool json,
		     const char *host_arg, const char *ip_arg)
{
	json_object *held = NULL;
	char from_name[256] = "";
	struct tg_dest_query q = {.uid = who->uid, .gids = who->gids, .n_gids = who->n_gids, .now = now};
	char host[256], ip[INET6_ADDRSTRLEN + 2];
	struct tg_decision d;
	struct note notes[16];
	size_t n_notes;
	uint16_t port;
	int r;

	if (host_arg) {
		char *norm = NULL;
		bool wild = false;

		if (split_dest(host_arg, host, sizeof(host), &port) < 0)
			return tc_fail(
			    EXIT_USAGE,
			    "test: invalid --host \"%s\": expected NAME or NAME:PORT (port 1..65535)",
			    host_arg);
		q.port = port;
		if (parse_addr(host, &q.family, q.addr)) {
			q.has_addr = true; /* an address given as --host: treat as --ip */
		} else {
			if (tg_hostname_normalize(host, false, &norm, &wild) < 0)
				return tc_fail(EXIT_USAGE, "test: invalid --host \"%s\": expected a DNS name",
					       host);
			snprintf(host, sizeof(host), "%s", norm);
			free(norm);
			q.host = host;
		}
	}
	if (ip_arg) {
		if (split_dest(ip_arg, ip, sizeof(ip), &port) < 0 || !parse_addr(ip, &q.family, q.addr))
			return tc_fail(EXIT_USAGE,
				       "test: invalid --ip \"%s\": expected ADDR, ADDR:PORT or [IPv6]:PORT "
				       "(port 1..65535)",
				       ip_arg);
		q.has_addr = true;
		if (port)
			q.port = port;
	}
	/* the daemon's view: addresses it resolved for the name, or the names an address came from */
	if (ask_daemon && (q.host || q.has_addr)) {
		char a[INET6_ADDRSTRLEN] = "";

		if (!q.host && q.has_addr)
			inet_ntop(q.family, q.addr, a, sizeof(a));
		if (tc_daemon_resolved(tc, q.host, a[0] ? a : NULL, &held) != 0)
			held = NULL;
	}
	if (held && !q.host) {
		json_object *names, *v;

		/* an address the daemon resolved from a name is banned as that name */
		if (json_object_object_get_ex(held, "names", &names) && json_object_array_length(names) > 0 &&
		    json_object_object_get_ex(json_object_array_get_idx(names, 0), "name", &v)) {
			snprintf(from_name, sizeof(from_name), "%s", json_object_get_string(v));
			q.host = from_name;
		}
	}
	r = tg_match_dest(p, &q, &d);
	if (r < 0) {
		json_object_put(held);
		return tc_fail(EXIT_NO, "test: cannot evaluate the destination: %s", strerror(-r));
	}
	n_notes = inactive_notes(p, now, NULL, &q, notes, sizeof(notes) / sizeof(notes[0]), 0);
	if (json) {
		json_object *o = json_object_new_object(), *jq = json_object_new_object();
		char buf[64], a[INET6_ADDRSTRLEN];

		json_object_object_add(jq, "kind", json_object_new_string("connect"));
		json_object_object_add(jq, "host", q.host ? json_object_new_string(q.host) : NULL);
		json_object_object_add(jq, "ip",
				       q.has_addr && inet_ntop(q.family, q.addr, a, sizeof(a))
					   ? json_object_new_string(a)
					   : NULL);
		json_object_object_add(jq, "port", q.port ? json_object_new_int(q.port) : NULL);
		json_object_object_add(jq, "user", json_who(who));
		json_object_object_add(jq, "at",
				       json_object_new_string(tc_rfc3339(now, 0, buf, sizeof(buf))));
		json_object_object_add(
		    jq, "mode", json_object_new_string(mode == TG_MODE_MONITOR ? "monitor" : "enforce"));
		json_object_object_add(o, "query", jq);
		json_add_decision(o, p, &d, now, mode);
		if (d.exempt && d.tool) {
			char why[600];

			exempt_reason(d.tool, who, why, sizeof(why));
			json_object_object_add(o, "exempt_reason", json_object_new_string(why));
		}
		json_object_object_add(o, "notes", json_notes(notes, n_notes));
		if (decision_host(&d)) {
			const struct tg_host_match *h = decision_host(&d);
			json_object *hm = json_object_new_object();
			char why[512];

			host_match_text(h, why, sizeof(why));
			json_object_object_add(hm, "kind", json_object_new_string(host_kind_word(h->kind)));
			json_object_object_add(hm, "explanation", json_object_new_string(why));
			json_object_object_add(o, "host_match", hm);
		}
		json_object_object_add(o, "resolved_from", from_name[0] ? json_object_new_string(from_name) : NULL);
		json_object_object_add(o, "resolved", held ? json_object_get(held) : NULL);
		json_print(o);
	} else {
		print_decision_human(p, &d, NULL, who, now, mode, notes, n_notes);
		if (decision_host(&d)) {
			char why[512];

			host_match_text(decision_host(&d), why, sizeof(why));
			printf("  rule: %s\n", why);
		}
		if (from_name[0])
			printf("  address resolved by toolguardd from: %s\n", from_name);
		print_resolved(held);
		if (held) {
			json_object *sh;

			if (json_object_object_get_ex(held, "shared_expires_in_sec", &sh))
				printf("  address also answers for an allowed name (%" PRId64 " s more): TCP to it is "
				       "decided by the TLS server name (SNI) or CONNECT line, not by the name rule\n",
				       json_object_get_int64(sh));
		}
		if (at_given) {
			char buf[64];

			printf("  at: %s\n", tg_format_time_local(now, buf, sizeof(buf)));
		}
	}
	json_object_put(held);
	return runs(d.verdict, mode) ? 0 : EXIT_NO;
}

static void test_usage(FILE *f)
{
	fprintf(f,
		"Usage: toolctl test [--policy FILE] [--user NAME|UID] [--at TIME] [--mode enforce|monitor] "
		"[--json]\n"
		"                    -- PROGRAM [ARG...]\n"
		"       toolctl test [OPTIONS] --host NAME[:PORT] | --ip ADDR[:PORT]\n"
		"TIME: RFC 3339 (2026-07-10T00:00:00+08:00), a date (2026-07-10, local midnight),\n"
		"      now, +14d / -2h (relative to now), @EPOCH.\n"
		"Exit status: 0 it would run / connect, 1 it would be blocked or invalid input, 2 usage.\n");
}

int cmd_test(struct toolctl *tc, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"policy", required_argument, NULL, 'p'},
	    {"user", required_argument, NULL, 'u'},
	    {"at", required_argument, NULL, 'a'},
	    {"host", required_argument, NULL, 'H'},
	    {"ip", required_argument, NULL, 'I'},
	    {"mode", required_argument, NULL, 'm'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *policy_file = NULL, *user = NULL, *at = NULL, *host = NULL, *ip = NULL, *mode_arg = NULL;
	struct tg_policy *p = NULL;
	struct who who = {0};
	enum tg_mode mode;
	int64_t now = (int64_t)time(NULL);
	bool json = false;
	int c, r;

	optind = 1;
	/* '+': stop at PROGRAM, whose own options are not ours */
	while ((c = getopt_long(argc, argv, "+hp:u:", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			policy_file = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'a':
			at = optarg;
			break;
		case 'H':
			host = optarg;
			break;
		case 'I':
			ip = optarg;
			break;
		case 'm':
			mode_arg = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			test_usage(stdout);
			return 0;
		default:
			test_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if ((host || ip) && optind < argc)
		return tc_fail(EXIT_USAGE,
			       "test: give either a command (-- PROGRAM ...) or --host/--ip, not both");
	if (!host && !ip && optind >= argc)
		return tc_fail(EXIT_USAGE,
			       "test: expected -- PROGRAM [ARG...], --host NAME[:PORT] or --ip ADDR[:PORT]");
	if (optind < argc && !argv[optind][0])
		return tc_fail(EXIT_USAGE, "test: PROGRAM is empty");
	if (at && parse_at(at, now, &now) < 0)
		return tc_fail(
		    EXIT_USAGE,
		    "test: invalid --at \"%s\": expected RFC 3339, YYYY-MM-DD, now, +DURATION or -DURATION",
		    at);
	if (mode_arg && strcmp(mode_arg, "enforce") != 0 && strcmp(mode_arg, "monitor") != 0)
		return tc_fail(EXIT_USAGE, "test: invalid --mode \"%s\": expected enforce or monitor",
			       mode_arg);
	if (user) {
		r = resolve_user(user, &who);
		if (r == -ESRCH)
			return tc_fail(
			    EXIT_NO,
			    "test: no user \"%s\" in the user database: give an existing name or a uid",
			    user);
		if (r < 0)
			return tc_fail(EXIT_NO, "test: cannot look up user \"%s\": %s", user, strerror(-r));
	} else if (caller(&who) < 0) {
		return tc_fail(EXIT_NO, "test: out of memory");
	}
	r = tc_load_policy(tc, policy_file, &p, &mode);
	if (r) {
		free(who.gids);
		return r;
	}
	if (mode_arg)
		mode = strcmp(mode_arg, "monitor") == 0 ? TG_MODE_MONITOR : TG_MODE_ENFORCE;
	if (host || ip)
		r = test_dest(tc, policy_file == NULL, p, &who, now, at != NULL, mode, json, host, ip);
	else
		r = test_exec(p, &who, now, at != NULL, mode, json, argv + optind, (size_t)(argc - optind));
	tg_policy_free(p);
	free(who.gids);
	return r;
}
