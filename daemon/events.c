/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The event sink: journal, events log (JSON lines), counters. See events.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
/* CODE_FILE= etc. would name jf_send(), not the place of the decision */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "events.h"
#include "log.h"

/* One MESSAGE_ID per kind of record (journalctl MESSAGE_ID=...); never change them. */
#define MID_EXEC_BLOCKED	"859ecb3b8e1849d9bf3dd37a30efdc2b"
#define MID_EXEC_WARNED		"4b7b310d8411466997c1fb95e641a743"
#define MID_EXEC_ALERTED	"74402774fd754d07bcec5fa03f644d8d"
#define MID_EXEC_WOULD_BLOCK	"b612d6d19cb44dada225a0c4e258c5bd"
#define MID_EXEC_ALLOWED	"1fbdc8ea1ca8418693dc9abc4d94ee25"
#define MID_CONNECT_BLOCKED	"dddcdfb8798a4209bc944a68d98cbdd4"
#define MID_CONNECT_WARNED	"b6d7fdd4758d4207b5af6761b6abc00e"
#define MID_CONNECT_ALERTED	"684ee7030008435381fe253c480d087a"
#define MID_CONNECT_WOULD_BLOCK "d3e36bcd26da437e8714dd56d97b833c"
#define MID_CONNECT_ALLOWED	"4163b3dfcbfb45fdbfbe7fd66b98748d"
#define MID_POLICY_LOADED	"05f084bdf1c34913afa97e99793dcbe3"
#define MID_POLICY_REFUSED	"0ef9fe11f7714165a254f17c6b1903cb"
#define MID_TAMPER		"6a0f5d1c2b8e4e37a1c94d2f7be03a58"

#define EVENTS_LINE_MAX	      (64u * 1024u) /* a line longer than this is not written */
#define EVENTS_POLICY_ERRORS  20u	    /* errors copied into a "policy refused" record */
#define EVENTS_WRITE_LOG_USEC (60u * 1000000u)
#define USER_CACHE_SIZE	      32u
#define JOURNAL_FIELDS_MAX    40u
/* A flood of decisions (a script retrying a banned tool) must not flood the
 * journal: per tool at most JOURNAL_BURST records a window, then one summary.
 * The events log still gets every decision. */
#define JOURNAL_BURST	    100u
#define JOURNAL_WINDOW_USEC (10u * 1000000u)

struct user_cache_entry {
	bool used;
	uint32_t uid;
	char name[64]; /* "" = no such user */
};

struct tg_events {
	char *log_path;
	int fd;
	dev_t dev;
	ino_t ino;
	bool need_newline; /* a short write left a partial line */
	struct log_ratelimit write_rl;
	bool write_failing;	    /* the last write failed: say so when one succeeds again */
	uint64_t failures_at_start; /* log_write_failures when the failing began */
	struct tg_event_counters c;
	struct user_cache_entry users[USER_CACHE_SIZE];
	unsigned user_next;
	tg_events_listener_fn listener;
	void *listener_data;
	tg_events_listener_fn reporter; /* report.c: batches for report.url */
	void *reporter_data;
	tg_events_notify_fn notifier;
	void *notifier_data;
	struct tg_tool_counters unnamed; /* flood limit of decisions without a tool name */
};

/* ---------- journal records with a variable set of fields ---------- */

struct jfields {
	struct iovec iov[JOURNAL_FIELDS_MAX];
	size_t n;
};

__attribute__((format(printf, 2, 3))) static void jf_add(struct jfields *j, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (j->n >= JOURNAL_FIELDS_MAX)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		return;
	j->iov[j->n].iov_base = s;
	j->iov[j->n].iov_len = strlen(s);
	j->n++;
}

static void jf_send(struct jfields *j, int priority, const char *message)
{
	bool copied = log_get_target() == LOG_TARGET_STDERR && !log_stderr_is_journal();
	int r;

	jf_add(j, "SYSLOG_IDENTIFIER=toolguardd");
	r = sd_journal_sendv(j->iov, (int)j->n);
	/* In the foreground the operator watches stderr; without a journal it is all there is. */
	if (copied || r < 0)
		log_full(priority, "%s", message);
	for (size_t i = 0; i < j->n; i++)
		free(j->iov[i].iov_base);
	j->n = 0;
}

static void jf_discard(struct jfields *j)
{
	for (size_t i = 0; i < j->n; i++)
		free(j->iov[i].iov_base);
	j->n = 0;
}

/* ---------- helpers ---------- */

static const char *verdict_word(const struct tg_kernel_event *ev)
{
	if (ev->verdict == TG_VERDICT_BLOCK)
		return ev->would_block ? "would-block" : "blocked";
	switch (ev->verdict) {
	case TG_VERDICT_WARN:
		return "warned";
	case TG_VERDICT_ALERT:
		return "alerted";
	default:
		return "allowed";
	}
}

static const char *message_id(const struct tg_kernel_event *ev)
{
	bool exec = ev->kind == TG_EVENT_EXEC;

	if (ev->verdict == TG_VERDICT_BLOCK)
		return ev->would_block ? (exec ? MID_EXEC_WOULD_BLOCK : MID_CONNECT_WOULD_BLOCK)
				       : (exec ? MID_EXEC_BLOCKED : MID_CONNECT_BLOCKED);
	switch (ev->verdict) {
	case TG_VERDICT_WARN:
		return exec ? MID_EXEC_WARNED : MID_CONNECT_WARNED;
	case TG_VERDICT_ALERT:
		return exec ? MID_EXEC_ALERTED : MID_CONNECT_ALERTED;
	default:
		return exec ? MID_EXEC_ALLOWED : MID_CONNECT_ALLOWED;
	}
}

static int priority_of(const struct tg_kernel_event *ev)
{
	if (ev->verdict == TG_VERDICT_BLOCK && !ev->would_block)
		return LOG_WARNING;
	if (ev->verdict == TG_VERDICT_ALLOW || ev->verdict == TG_VERDICT_NONE)
		return LOG_INFO;
	return LOG_NOTICE;
}

/* RFC 3339 with nanoseconds and the local UTC offset: 2026-11-24T08:01:02.123456789+01:00 */
static void format_time_ns(uint64_t realtime_ns, char *buf, size_t len)
{
	time_t sec = (time_t)(realtime_ns / 1000000000u);
	long nsec = (long)(realtime_ns % 1000000000u);
	struct tm tm;
	char date[32];
	long off;

	if (!localtime_r(&sec, &tm)) {
		snprintf(buf, len, "%llu", (unsigned long long)realtime_ns);
		return;
	}
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	off = tm.tm_gmtoff / 60;
	snprintf(buf, len, "%s.%09ld%c%02ld:%02ld", date, nsec, off < 0 ? '-' : '+', labs(off) / 60,
		 labs(off) % 60);
}

static void format_now(char *buf, size_t len)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	format_time_ns((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec, buf, len);
}

/* "" when the uid has no name. Cached: NSS may be slow (LDAP), events may come in bursts. */
static const char *user_name(struct tg_events *e, uint32_t uid)
{
	struct user_cache_entry *u;
	struct passwd pw, *res = NULL;
	char buf[4096];

	for (unsigned i = 0; i < USER_CACHE_SIZE; i++)
		if (e->users[i].used && e->users[i].uid == uid)
			return e->users[i].name;

	u = &e->users[e->user_next];
	e->user_next = (e->user_next + 1) % USER_CACHE_SIZE;
	u->used = true;
	u->uid = uid;
	u->name[0] = 0;
	if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_name &&
	    strlen(res->pw_name) < sizeof(u->name))
		strcpy(u->name, res->pw_name);
	return u->name;
}

static void format_dest(const struct tg_kernel_event *ev, char *ip, size_t iplen, char *hostport,
			size_t hplen)
{
	if (!inet_ntop(ev->family == AF_INET6 ? AF_INET6 : AF_INET, ev->addr, ip, (socklen_t)iplen))
		snprintf(ip, iplen, "?");
	if (ev->family == AF_INET6)
		snprintf(hostport, hplen, "[%s]:%u", ip, ev->port);
	else
		snprintf(hostport, hplen, "%s:%u", ip, ev->port);
}

/* Option names whose value is a credential: "--api-key X", "--token=X", "-p" is not one. */
static bool secret_option(const char *arg, size_t len)
{
	static const char *const words[] = {"key",    "token", "secret",    "password",
					    "passwd", "auth",  "credential"};
	char name[64];
	size_t n = 0;

	if (len < 3 || arg[0] != '-')
		return false;
	while (n < len && n < sizeof(name) - 1) {
		name[n] = (char)(arg[n] >= 'A' && arg[n] <= 'Z' ? arg[n] - 'A' + 'a' : arg[n]);
		n++;
	}
	name[n] = 0;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(name, words[i]))
			return true;
	return false;
}

/* argv as recorded: credentials given on the command line (option values,
 * "sk-..." API keys) are replaced by "***" so that events never carry them. */
static void redact_argv(const struct tg_kernel_event *ev, size_t argc, char out[][TG_EVENT_ARG_LEN])
{
	bool next_secret = false;

	for (size_t i = 0; i < argc; i++) {
		const char *a = ev->argv[i];
		const char *eq = strchr(a, '=');

		if (next_secret && a[0] != '-') {
			snprintf(out[i], TG_EVENT_ARG_LEN, "***");
			next_secret = false;
			continue;
		}
		next_secret = false;
		if (i > 0 && strncmp(a, "sk-", 3) == 0 && strlen(a) > 12) {
			snprintf(out[i], TG_EVENT_ARG_LEN, "***");
		} else if (i > 0 && secret_option(a, eq ? (size_t)(eq - a) : strlen(a))) {
			if (eq)
				snprintf(out[i], TG_EVENT_ARG_LEN, "%.*s=***", (int)(eq - a), a);
			else {
				snprintf(out[i], TG_EVENT_ARG_LEN, "%s", a);
				next_secret = true;
			}
		} else {
			snprintf(out[i], TG_EVENT_ARG_LEN, "%s", a);
		}
	}
}

static void json_add_str(struct json_object *o, const char *key, const char *s)
{
	json_object_object_add(o, key, s && *s ? json_object_new_string(s) : NULL);
}

/* ---------- events log ---------- */

static int mkdir_parents(const char *path)
{
	char *dir, *slash;
	int r = 0;

	dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir) {
		free(dir);
		return 0;
	}
	*slash = 0;
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			goto out;
		}
		*p = '/';
	}
	/* The log names users and their commands: not world-readable. */
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		r = -errno;
out:
	free(dir);
	return r;
}

static void log_close(struct tg_events *e)
{
	if (e->fd >= 0)
		close(e->fd);
	e->fd = -1;
	e->need_newline = false;
}

static int log_open_file(struct tg_events *e)
{
	struct stat st;
	int fd, r;

	log_close(e);
	if (!e->log_path)
		return 0;
	r = mkdir_parents(e->log_path);
	if (r < 0)
		return r;
	fd = open(e->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0640);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = S_ISREG(st.st_mode) ? -errno : -EINVAL;
		close(fd);
		return r;
	}
	e->fd = fd;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	/* A previous daemon may have died mid-line: start on a fresh line. */
	if (st.st_size > 0) {
		char last;

		if (pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n')
			e->need_newline = true;
	}
	return 0;
}

static void write_failed(struct tg_events *e, int err)
{
	uint64_t suppressed = 0;

	if (!e->write_failing) {
		e->write_failing = true;
		e->failures_at_start = e->c.log_write_failures;
	}
	e->c.log_write_failures++;
	if (!log_ratelimit_test(&e->write_rl, &suppressed))
		return;
	if (suppressed > 0)
		log_warning_errno(
		    err,
		    "cannot write events log %s: %m; events are still in the journal (%llu more "
		    "failures since the last message); free space on its file system, writing resumes by itself",
		    e->log_path, (unsigned long long)suppressed);
	else
		log_warning_errno(err,
				  "cannot write events log %s: %m; events are still in the journal; free space on "
				  "its file system (or fix the path), writing resumes by itself",
				  e->log_path);
}

static void write_succeeded(struct tg_events *e)
{
	if (!e->write_failing)
		return;
	e->write_failing = false;
	log_notice("events log %s is written again; %llu events in between are only in the journal",
		   e->log_path, (unsigned long long)(e->c.log_write_failures - e->failures_at_start));
}

/* Reopen when logrotate moved or removed the file under us. */
static void check_rotated(struct tg_events *e)
{
	struct stat st;

	if (e->fd >= 0 && stat(e->log_path, &st) == 0 && st.st_dev == e->dev && st.st_ino == e->ino)
		return;
	(void)log_open_file(e);
}

static void write_line(struct tg_events *e, const char *json)
{
	size_t len = strlen(json);
	char *line;
	size_t off = 0, total;
	ssize_t n;

	if (e->listener)
		e->listener(json, len, e->listener_data);
	if (e->reporter)
		e->reporter(json, len, e->reporter_data);
	if (!e->log_path)
		return;
	if (len > EVENTS_LINE_MAX) {
		write_failed(e, -E2BIG);
		return;
	}

	check_rotated(e);
	if (e->fd < 0) {
		int r = log_open_file(e);
		if (r < 0) {
			write_failed(e, r);
			return;
		}
	}

	line = malloc(len + 2);
	if (!line) {
		write_failed(e, -ENOMEM);
		return;
	}
	if (e->need_newline)
		line[off++] = '\n';
	memcpy(line + off, json, len);
	off += len;
	line[off++] = '\n';
	total = off;

	/* One write: O_APPEND keeps lines whole against other writers. */
	n = write(e->fd, line, total);
	if (n < 0) {
		write_failed(e, -errno);
	} else if ((size_t)n < total) {
		struct stat st;

		/* Disk full mid-line: take the torn piece back (readers parse whole
		 * lines); if that fails, the next line starts on a fresh one. */
		e->need_newline = !(fstat(e->fd, &st) == 0 && st.st_size >= n &&
				    ftruncate(e->fd, st.st_size - n) == 0);
		write_failed(e, -ENOSPC);
	} else {
		e->need_newline = false;
		write_succeeded(e);
	}
	free(line);
}

/* ---------- counters ---------- */

static struct tg_tool_counters *tool_counters(struct tg_events *e, const char *id)
{
	struct tg_tool_counters *t;

	if (!id || !*id)
		return NULL;
	for (size_t i = 0; i < e->c.n_tools; i++)
		if (strcmp(e->c.tools[i].id, id) == 0)
			return &e->c.tools[i];
	if (e->c.n_tools >= TG_EVENTS_MAX_TOOLS)
		return NULL;
	if (e->c.n_tools == e->c.cap_tools) {
		size_t ncap = e->c.cap_tools ? e->c.cap_tools * 2 : 16;
		struct tg_tool_counters *nv = realloc(e->c.tools, ncap * sizeof(*nv));

		if (!nv)
			return NULL;
		e->c.tools = nv;
		e->c.cap_tools = ncap;
	}
	t = &e->c.tools[e->c.n_tools++];
	memset(t, 0, sizeof(*t));
	snprintf(t->id, sizeof(t->id), "%s", id);
	return t;
}

static void count(struct tg_events *e, const struct tg_kernel_event *ev)
{
	struct tg_tool_counters *t = tool_counters(e, ev->tool_id);
	uint64_t *tot = NULL, *per = NULL;

	e->c.total++;
	switch (ev->verdict) {
	case TG_VERDICT_BLOCK:
		if (ev->would_block) {
			e->c.would_block++;
			e->c.alerts++;
			if (t) {
				t->would_block++;
				t->alerts++;
			}
			return;
		}
		if (ev->kind == TG_EVENT_EXEC) {
			tot = &e->c.blocked_execs;
			per = t ? &t->blocked_execs : NULL;
		} else {
			tot = &e->c.blocked_connects;
			per = t ? &t->blocked_connects : NULL;
		}
		break;
	case TG_VERDICT_WARN:
		tot = &e->c.warnings;
		per = t ? &t->warnings : NULL;
		break;
	case TG_VERDICT_ALERT:
		tot = &e->c.alerts;
		per = t ? &t->alerts : NULL;
		break;
	default:
		if (ev->exempt) {
			tot = &e->c.exempt;
			per = t ? &t->exempt : NULL;
		}
		break;
	}
	if (tot)
		(*tot)++;
	if (per)
		(*per)++;
}

/* ---------- journal flood limit ---------- */

static void journal_summary(struct tg_events *e, struct tg_tool_counters *t)
{
	struct jfields j = {};
	char msg[512];

	if (!t->journal_pending)
		return;
	snprintf(msg, sizeof(msg),
		 "%llu more decisions about %s were not sent to the journal (more than %u in %u s); every one "
		 "is in the events log%s%s",
		 (unsigned long long)t->journal_pending, t->id[0] ? t->id : "tools of an earlier policy",
		 JOURNAL_BURST, JOURNAL_WINDOW_USEC / 1000000u, e->log_path ? " " : "",
		 e->log_path ? e->log_path : " (none configured: only counted)");
	jf_add(&j, "MESSAGE=%s", msg);
	jf_add(&j, "PRIORITY=%d", LOG_WARNING);
	jf_add(&j, "TOOLGUARD_KIND=suppressed");
	if (t->id[0])
		jf_add(&j, "TOOLGUARD_TOOL=%s", t->id);
	jf_add(&j, "TOOLGUARD_SUPPRESSED=%llu", (unsigned long long)t->journal_pending);
	jf_send(&j, LOG_WARNING, msg);
	t->journal_pending = 0;
}

static bool journal_allow(struct tg_events *e, const struct tg_kernel_event *ev)
{
	struct tg_tool_counters *t = ev->tool_id[0] ? tool_counters(e, ev->tool_id) : &e->unnamed;
	uint64_t now = now_usec(CLOCK_MONOTONIC);

	if (!t)
		return true;
	if (now - t->journal_window_usec >= JOURNAL_WINDOW_USEC) {
		journal_summary(e, t);
		t->journal_window_usec = now;
		t->journal_in_window = 0;
	}
	if (t->journal_in_window < JOURNAL_BURST) {
		t->journal_in_window++;
		return true;
	}
	t->journal_pending++;
	e->c.journal_suppressed++;
	return false;
}

void tg_events_tick(struct tg_events *e)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC);

	if (!e)
		return;
	for (size_t i = 0; i <= e->c.n_tools; i++) {
		struct tg_tool_counters *t = i < e->c.n_tools ? &e->c.tools[i] : &e->unnamed;

		if (t->journal_pending && now - t->journal_window_usec >= JOURNAL_WINDOW_USEC)
			journal_summary(e, t);
	}
}

/* ---------- public ---------- */

int tg_events_new(const char *log_path, struct tg_events **ret)
{
	struct tg_events *e;
	int r;

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->fd = -1;
	e->write_rl.interval_usec = EVENTS_WRITE_LOG_USEC;
	r = tg_events_set_log(e, log_path);
	if (r < 0 && r != -ENOMEM) {
		/* Not fatal: decisions are still enforced and journaled; retried on every event. */
		write_failed(e, r);
		r = 0;
	}
	if (r < 0) {
		tg_events_free(e);
		return r;
	}
	*ret = e;
	return 0;
}

void tg_events_free(struct tg_events *e)
{
	if (!e)
		return;
	log_close(e);
	free(e->log_path);
	free(e->c.tools);
	free(e);
}

int tg_events_set_log(struct tg_events *e, const char *log_path)
{
	char *p = NULL;

	if (log_path && *log_path) {
		p = strdup(log_path);
		if (!p)
			return -ENOMEM;
	}
	free(e->log_path);
	e->log_path = p;
	return log_open_file(e);
}

void tg_events_reopen(struct tg_events *e)
{
	int r;

	/* Users may have been renamed: forget cached names. */
	memset(e->users, 0, sizeof(e->users));
	r = log_open_file(e);
	if (r < 0)
		write_failed(e, r);
}

const char *tg_events_log_path(const struct tg_events *e)
{
	return e->log_path;
}

void tg_events_set_listener(struct tg_events *e, tg_events_listener_fn fn, void *userdata)
{
	e->listener = fn;
	e->listener_data = userdata;
}

void tg_events_set_reporter(struct tg_events *e, tg_events_listener_fn fn, void *userdata)
{
	e->reporter = fn;
	e->reporter_data = userdata;
}

void tg_events_set_notifier(struct tg_events *e, tg_events_notify_fn fn, void *userdata)
{
	e->notifier = fn;
	e->notifier_data = userdata;
}

void tg_events_set_dropped(struct tg_events *e, uint64_t dropped)
{
	e->c.dropped = dropped;
}

const struct tg_event_counters *tg_events_counters(const struct tg_events *e)
{
	return &e->c;
}

void tg_events_on_kernel_event(const struct tg_kernel_event *ev, void *userdata)
{
	struct tg_events *e = userdata;
	struct json_object *o, *argv;
	struct jfields j = {};
	char tbuf[64], ip[INET6_ADDRSTRLEN] = "", hostport[INET6_ADDRSTRLEN + 16] = "", msg[6144], args[1200];
	const char *verdict = verdict_word(ev), *user;
	/* The kernel side cannot name tools of a policy this run did not load (adopted pins). */
	bool named = ev->tool_id[0] != 0;
	const char *matcher = named && ev->matcher[0] && strcmp(ev->matcher, "?") != 0 ? ev->matcher : NULL;
	char why[200];
	const char *what;
	char on_tty[80] = "";
	size_t argc = ev->argc < TG_EVENT_ARGV_MAX ? ev->argc : TG_EVENT_ARGV_MAX;
	char argv_r[TG_EVENT_ARGV_MAX][TG_EVENT_ARG_LEN];
	bool exec = ev->kind == TG_EVENT_EXEC;
	int notified = e->notifier ? e->notifier(ev, e->notifier_data) : -1;

	if (notified < 0 && ev->verdict == TG_VERDICT_BLOCK && !ev->would_block)
		notified = 0;
	count(e, ev);
	redact_argv(ev, argc, argv_r);
	user = user_name(e, ev->uid);
	format_time_ns(ev->realtime_ns, tbuf, sizeof(tbuf));
	if (!exec)
		format_dest(ev, ip, sizeof(ip), hostport, sizeof(hostport));
	if (ev->tty[0])
		snprintf(on_tty, sizeof(on_tty), " on %.64s", ev->tty);
	if (named)
		snprintf(why, sizeof(why), "tool %.64s, %.96s", ev->tool_id, matcher ? matcher : "?");
	else
		snprintf(why, sizeof(why), "a tool of policy serial %llu, loaded by an earlier run",
			 (unsigned long long)ev->policy_serial);

	/* The human line. */
	if (ev->verdict == TG_VERDICT_BLOCK)
		what = ev->would_block ? "Would have blocked (monitor mode)" : "Blocked";
	else if (ev->verdict == TG_VERDICT_WARN)
		what = "Warned about";
	else if (ev->verdict == TG_VERDICT_ALERT)
		what = "Alert: recorded";
	else
		what = ev->exempt ? "Allowed (exempt)" : "Allowed";
	if (exec) {
		snprintf(msg, sizeof(msg), "%s exec of %s (%s) by uid %u pid %u%s", what, ev->exe, why,
			 ev->uid, ev->pid, on_tty);
	} else {
		char host[300] = "";

		if (ev->host[0])
			snprintf(host, sizeof(host), " (%s)", ev->host);
		snprintf(msg, sizeof(msg), "%s connection to %s%s (%s) by %.16s uid %u pid %u%s", what,
			 hostport, host, why, ev->comm, ev->uid, ev->pid, on_tty);
	}

	/* The journal record. */
	args[0] = 0;
	for (size_t i = 0, off = 0; i < argc && off < sizeof(args) - 1; i++) {
		int n = snprintf(args + off, sizeof(args) - off, "%s%s", i ? " " : "", argv_r[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	jf_add(&j, "MESSAGE=%s", msg);
	jf_add(&j, "MESSAGE_ID=%s", message_id(ev));
	jf_add(&j, "PRIORITY=%d", priority_of(ev));
	jf_add(&j, "TOOLGUARD_KIND=%s", exec ? "exec" : "connect");
	jf_add(&j, "TOOLGUARD_VERDICT=%s", verdict);
	if (named)
		jf_add(&j, "TOOLGUARD_TOOL=%s", ev->tool_id);
	if (matcher)
		jf_add(&j, "TOOLGUARD_MATCHER=%s", matcher);
	jf_add(&j, "TOOLGUARD_PID=%u", ev->pid);
	jf_add(&j, "TOOLGUARD_PPID=%u", ev->ppid);
	jf_add(&j, "TOOLGUARD_UID=%u", ev->uid);
	if (*user)
		jf_add(&j, "TOOLGUARD_USER=%s", user);
	jf_add(&j, "TOOLGUARD_COMM=%.16s", ev->comm);
	jf_add(&j, "TOOLGUARD_EXE=%s", ev->exe);
	if (argc)
		jf_add(&j, "TOOLGUARD_ARGV=%s", args);
	if (ev->tty[0])
		jf_add(&j, "TOOLGUARD_TTY=%s", ev->tty);
	if (!exec) {
		jf_add(&j, "TOOLGUARD_DEST_IP=%s", ip);
		jf_add(&j, "TOOLGUARD_DEST_PORT=%u", ev->port);
		if (ev->host[0])
			jf_add(&j, "TOOLGUARD_DEST_HOST=%s", ev->host);
	}
	if (ev->exempt)
		jf_add(&j, "TOOLGUARD_EXEMPT=1");
	jf_add(&j, "TOOLGUARD_POLICY_SERIAL=%llu", (unsigned long long)ev->policy_serial);
	/* Lets journald attach the offending process's own metadata (_OBJECT_*) */
	jf_add(&j, "OBJECT_PID=%u", ev->pid);
	if (journal_allow(e, ev))
		jf_send(&j, priority_of(ev), msg);
	else
		jf_discard(&j);

	/* The events log line: the fields of the spec, in its order. */
	o = json_object_new_object();
	if (!o) {
		write_failed(e, -ENOMEM);
		return;
	}
	json_object_object_add(o, "time", json_object_new_string(tbuf));
	json_object_object_add(o, "kind", json_object_new_string(exec ? "exec" : "connect"));
	json_object_object_add(o, "verdict", json_object_new_string(verdict));
	if (ev->exempt)
		json_object_object_add(o, "exempt", json_object_new_boolean(1));
	json_add_str(o, "tool", ev->tool_id);
	json_add_str(o, "matcher", matcher);
	json_object_object_add(o, "pid", json_object_new_int64(ev->pid));
	json_object_object_add(o, "ppid", json_object_new_int64(ev->ppid));
	json_object_object_add(o, "uid", json_object_new_int64(ev->uid));
	json_add_str(o, "user", user);
	json_add_str(o, "comm", ev->comm);
	json_add_str(o, "exe", ev->exe);
	argv = json_object_new_array();
	for (size_t i = 0; argv && i < argc; i++)
		json_object_array_add(argv, json_object_new_string(argv_r[i]));
	json_object_object_add(o, "argv", argv);
	json_add_str(o, "tty", ev->tty);
	if (!exec) {
		struct json_object *d = json_object_new_object();

		if (d) {
			json_object_object_add(d, "ip", json_object_new_string(ip));
			json_object_object_add(d, "port", json_object_new_int(ev->port));
			json_add_str(d, "host", ev->host);
		}
		json_object_object_add(o, "dest", d);
	}
	json_object_object_add(o, "policy_serial", json_object_new_uint64(ev->policy_serial));
	if (notified >= 0) /* extension: whether the user was told (terminal or desktop notice) */
		json_object_object_add(o, "notified", json_object_new_boolean(notified > 0));
	write_line(
	    e, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

void tg_events_policy(struct tg_events *e, bool loaded, const char *name, uint64_t serial, const char *source,
		      const uint8_t *sha256, const struct tg_diags *diags, const char *reason,
		      const char *kept)
{
	struct json_object *o, *errs = NULL;
	struct jfields j = {};
	char tbuf[64], msg[1024], hex[65] = "";

	if (loaded)
		e->c.policy_loaded++;
	else
		e->c.policy_refused++;
	if (sha256)
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", sha256[i]);
	format_now(tbuf, sizeof(tbuf));

	if (loaded)
		snprintf(msg, sizeof(msg), "Loaded policy %s serial %llu from %s", name ? name : "?",
			 (unsigned long long)serial, source ? source : "?");
	else if (kept)
		snprintf(msg, sizeof(msg), "Refused policy from %s (%s); %s", source ? source : "?",
			 reason ? reason : "invalid", kept);
	else if (name)
		snprintf(msg, sizeof(msg), "Refused policy from %s (%s); keeping policy %s serial %llu",
			 source ? source : "?", reason ? reason : "invalid", name,
			 (unsigned long long)serial);
	else
		snprintf(msg, sizeof(msg), "Refused policy from %s (%s); no policy in force",
			 source ? source : "?", reason ? reason : "invalid");

	jf_add(&j, "MESSAGE=%s", msg);
	jf_add(&j, "MESSAGE_ID=%s", loaded ? MID_POLICY_LOADED : MID_POLICY_REFUSED);
	jf_add(&j, "PRIORITY=%d", loaded ? LOG_NOTICE : LOG_ERR);
	jf_add(&j, "TOOLGUARD_KIND=policy");
	jf_add(&j, "TOOLGUARD_VERDICT=%s", loaded ? "loaded" : "refused");
	if (name)
		jf_add(&j, "TOOLGUARD_POLICY=%s", name);
	jf_add(&j, "TOOLGUARD_POLICY_SERIAL=%llu", (unsigned long long)serial);
	if (source)
		jf_add(&j, "TOOLGUARD_POLICY_SOURCE=%s", source);
	if (hex[0])
		jf_add(&j, "TOOLGUARD_POLICY_SHA256=%s", hex);
	jf_send(&j, loaded ? LOG_NOTICE : LOG_ERR, msg);

	o = json_object_new_object();
	if (!o) {
		write_failed(e, -ENOMEM);
		return;
	}
	json_object_object_add(o, "time", json_object_new_string(tbuf));
	json_object_object_add(o, "kind", json_object_new_string("policy"));
	json_object_object_add(o, "verdict", json_object_new_string(loaded ? "loaded" : "refused"));
	json_add_str(o, "policy", name);
	json_object_object_add(o, "policy_serial", json_object_new_uint64(serial));
	json_add_str(o, "source", source);
	if (hex[0])
		json_add_str(o, "sha256", hex);
	if (!loaded) {
		json_add_str(o, "reason", reason);
		errs = json_object_new_array();
		for (size_t i = 0; errs && diags && i < diags->n && i < EVENTS_POLICY_ERRORS; i++) {
			char line[1024];

			json_object_array_add(
			    errs, json_object_new_string(tg_diag_format(&diags->v[i], line, sizeof(line))));
		}
		json_object_object_add(o, "errors", errs);
	}
	write_line(
	    e, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

void tg_events_tamper(struct tg_events *e, const char *trigger, const char *found, bool repaired,
		      const char *action, uint64_t repair_usec)
{
	struct json_object *o;
	struct jfields j = {};
	char tbuf[64], msg[1200];

	format_now(tbuf, sizeof(tbuf));
	snprintf(msg, sizeof(msg), "Tampering with the pinned programs or maps: %s; %s",
		 found ? found : "?", action ? action : "?");
	jf_add(&j, "MESSAGE=%s", msg);
	jf_add(&j, "MESSAGE_ID=%s", MID_TAMPER);
	jf_add(&j, "PRIORITY=%d", repaired ? LOG_WARNING : LOG_ERR);
	jf_add(&j, "TOOLGUARD_KIND=tamper");
	jf_add(&j, "TOOLGUARD_VERDICT=%s", repaired ? "repaired" : "not-repaired");
	jf_add(&j, "TOOLGUARD_TAMPER_FOUND=%s", found ? found : "?");
	jf_send(&j, repaired ? LOG_WARNING : LOG_ERR, msg);

	o = json_object_new_object();
	if (!o) {
		write_failed(e, -ENOMEM);
		return;
	}
	json_object_object_add(o, "time", json_object_new_string(tbuf));
	json_object_object_add(o, "kind", json_object_new_string("tamper"));
	json_object_object_add(o, "verdict", json_object_new_string(repaired ? "repaired" : "not-repaired"));
	json_add_str(o, "trigger", trigger);
	json_add_str(o, "found", found);
	json_add_str(o, "action", action);
	json_object_object_add(o, "repair_sec", json_object_new_double((double)repair_usec / 1e6));
	write_line(
	    e, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

void tg_events_log_summary(const struct tg_events *e, const char *when)
{
	char buf[2048];
	size_t off = 0;
	const struct tg_event_counters *c = &e->c;

	off += (size_t)snprintf(
	    buf, sizeof(buf),
	    "events %s: %llu total, %llu blocked execs, %llu blocked connections, %llu "
	    "warnings, %llu alerts (%llu would-block), %llu exempt, %llu dropped, %llu not "
	    "written to the events log",
	    when, (unsigned long long)c->total, (unsigned long long)c->blocked_execs,
	    (unsigned long long)c->blocked_connects, (unsigned long long)c->warnings,
	    (unsigned long long)c->alerts, (unsigned long long)c->would_block, (unsigned long long)c->exempt,
	    (unsigned long long)c->dropped, (unsigned long long)c->log_write_failures);
	for (size_t i = 0; i < c->n_tools && off < sizeof(buf) - 1; i++) {
		const struct tg_tool_counters *t = &c->tools[i];
		int n;

		if (!t->blocked_execs && !t->blocked_connects && !t->warnings && !t->alerts && !t->exempt)
			continue;
		n = snprintf(
		    buf + off, sizeof(buf) - off,
		    "; %s: %llu blocked execs, %llu blocked connections, %llu warnings, %llu alerts, %llu "
		    "exempt",
		    t->id, (unsigned long long)t->blocked_execs, (unsigned long long)t->blocked_connects,
		    (unsigned long long)t->warnings, (unsigned long long)t->alerts,
		    (unsigned long long)t->exempt);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	log_info("%s", buf);
}
