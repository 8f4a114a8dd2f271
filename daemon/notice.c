/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Blocked-launch notices and warnings: terminal and desktop. See notice.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "log.h"
#include "notice.h"
#include "state.h"

#define RL_SLOTS	      512u /* (tool, terminal/user) pairs remembered for the rate limit */
#define RL_KEY_MAX	      160u
#define WARN_INTERVAL_USEC    (86400ull * 1000000ull) /* warnings: once per user per tool per day */
#define DESKTOP_SLOTS	      40u      /* desktop children alive at once (sending or waiting for a click) */
#define DESKTOP_WAIT_MAX      32u      /* beyond that many alive, new notices offer no link to click */
#define DESKTOP_WAIT_PER_USER 4u       /* the same, for one user's children */
#define DESKTOP_TIMEOUT_SEC   2u       /* a child that has not sent its notice by then is killed */
#define DESKTOP_CALL_USEC     1500000u /* per D-Bus call, inside the 2 s */
#define DESKTOP_ACTION_SEC    600u     /* then it waits this long for a click on the link (toolguardd(8)) */
#define DESKTOP_OPEN_SEC      10u      /* after a click: until the opener is started */
#define URL_MAX		      2048u
#define ENV_VALUE_MAX	      1024u
#define ENVIRON_READ_MAX      (128u * 1024u) /* of /proc/PID/environ */
#define TEXT_MAX	      1024u
#define TG_NOTICE_XDG_OPEN    "/usr/bin/xdg-open"
#define TG_NOTICE_GIO	      "/usr/bin/gio"

/* Exit statuses of the desktop child. */
enum {
	CHILD_SENT = 0,
	CHILD_FAILED = 3,
	CHILD_NO_BUS = 4,
};

/* What the desktop child tells the daemon on its status pipe, one byte each. */
enum {
	CHILD_MSG_SENT = 'S',	     /* the Notify call succeeded (the child may go on waiting) */
	CHILD_MSG_OPENED = 'O',	     /* clicked: the opener was started with the URL */
	CHILD_MSG_OPEN_FAILED = 'F', /* clicked, but the opener could not be started */
};

struct desktop_child {
	pid_t pid; /* 0 = free slot */
	uint32_t uid;
	int fd; /* status pipe, read end */
	bool reported;
	sd_event_source *exit_src, *io_src;
};

struct rl_slot {
	char key[RL_KEY_MAX];
	uint64_t last_usec; /* CLOCK_BOOTTIME, 0 = free */
};

struct tg_notices {
	struct tg_notice_counters c;
	struct rl_slot rl[RL_SLOTS];
	struct desktop_child children[DESKTOP_SLOTS];
};

/* The text of one notice, already neutralised. */
struct notice_text {
	char summary[TEXT_MAX]; /* first line */
	char lines[5][TEXT_MAX];
	size_t n_lines;
};

/* ---------- text ---------- */

/* Length of a valid UTF-8 sequence at s (1..4) and its code point, or 0. */
static size_t utf8_decode(const unsigned char *s, uint32_t *ret_cp)
{
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80) {
		*ret_cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) ||
	    cp > 0x10ffff)
		return 0;
	*ret_cp = cp;
	return n;
}

static bool neutralised_cp(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
	       /* bidi embeddings/overrides/isolates: make text read differently than it is */
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t tg_notice_sanitize(const char *in, char *out, size_t len)
{
	const unsigned char *s = (const unsigned char *)(in ? in : "");
	size_t o = 0;

	if (len == 0)
		return 0;
	while (*s) {
		uint32_t cp = 0;
		size_t n = utf8_decode(s, &cp);

		if (n == 0) {
			if (o + 1 >= len)
				break;
			out[o++] = '?';
			s++;
			continue;
		}
		if (neutralised_cp(cp)) {
			if (o + 1 >= len)
				break;
			out[o++] = cp == '\t' || cp == '\n' ? ' ' : '?';
		} else {
			if (o + n >= len) /* never cut a character in two */
				break;
			memcpy(out + o, s, n);
			o += n;
		}
		s += n;
	}
	/* A policy message written as a YAML block ends with a newline. */
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = 0;
	return o;
}

int tg_notice_tty_path(const char *tty, char *buf, size_t len)
{
	const char *digits, *dir = "";
	size_t nd;

	if (!tty)
		return -EINVAL;
	/* The kernel names pty slaves "pts3" (tty->name); /proc and ps say "pts/3". */
	if (strncmp(tty, "pts/", 4) == 0) {
		digits = tty + 4;
		dir = "pts/";
	} else if (strncmp(tty, "pts", 3) == 0) {
		digits = tty + 3;
		dir = "pts/";
	} else if (strncmp(tty, "ttyS", 4) == 0) {
		digits = tty + 4;
		dir = "ttyS";
	} else if (strncmp(tty, "tty", 3) == 0) {
		digits = tty + 3;
		dir = "tty";
	} else {
		return -EINVAL;
	}
	nd = strspn(digits, "0123456789");
	if (nd == 0 || nd > 7 || digits[nd] != 0 || (nd > 1 && digits[0] == '0'))
		return -EINVAL;
	if ((size_t)snprintf(buf, len, "/dev/%s%s", dir, digits) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* "5 days", "1 hour", "12 minutes", "30 seconds" (rounded down, at least 1 unit). */
static void human_span(int64_t sec, char *buf, size_t len)
{
	static const struct {
		int64_t unit;
		const char *name;
	} units[] = {{86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}};

	if (sec < 1)
		sec = 1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		int64_t v = sec / units[i].unit;

		if (v >= 1 || units[i].unit == 1) {
			snprintf(buf, len, "%lld %s%s", (long long)v, units[i].name, v == 1 ? "" : "s");
			return;
		}
	}
}

/* Printf into a line, then neutralise what came from outside. */
__attribute__((format(printf, 3, 4))) static void set_line(char *dst, size_t len, const char *fmt, ...)
{
	char raw[TEXT_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	tg_notice_sanitize(raw, dst, len);
}

static void build_text(const struct tg_policy *p, const struct tg_tool *t, const struct tg_kernel_event *ev,
		       bool warn, struct notice_text *nt)
{
	const char *tool = t && t->name ? t->name : (t ? t->id : ev->tool_id);
	const char *url = t ? tg_tool_notice_url(p, t) : p->default_notice_url;
	char since[80] = "", what[TEXT_MAX] = "";
	bool exec = ev->kind == TG_EVENT_EXEC;

	memset(nt, 0, sizeof(*nt));
	if (t && t->effective.set) {
		char when[64];

		tg_format_instant(&t->effective, when, sizeof(when));
		snprintf(since, sizeof(since), "%s", when);
	}
	if (exec) {
		snprintf(what, sizeof(what), "Program: %.900s", ev->exe[0] ? ev->exe : ev->comm);
	} else {
		char ip[INET6_ADDRSTRLEN] = "?";

		(void)inet_ntop(ev->family == AF_INET6 ? AF_INET6 : AF_INET, ev->addr, ip, sizeof(ip));
		if (ev->host[0])
			snprintf(what, sizeof(what), "Connection: %s (%s%s%s, port %u) by %.16s", ev->host,
				 ev->family == AF_INET6 ? "[" : "", ip, ev->family == AF_INET6 ? "]" : "",
				 ev->port, ev->comm);
		else
			snprintf(what, sizeof(what), "Connection: %s%s%s port %u by %.16s",
				 ev->family == AF_INET6 ? "[" : "", ip, ev->family == AF_INET6 ? "]" : "",
				 ev->port, ev->comm);
	}

	if (warn) {
		char span[64] = "soon";

		if (t && t->effective.set)
			human_span(t->effective.t - (int64_t)time(NULL), span, sizeof(span));
		if (t && t->effective.set)
			set_line(nt->summary, sizeof(nt->summary),
				 "%s will be blocked on this machine from %s, in %s.%s%s%s", tool, since,
				 span, t->alternative ? " Use " : "", t->alternative ? t->alternative : "",
				 t->alternative ? " instead." : "");
		else
			set_line(nt->summary, sizeof(nt->summary), "%s will be blocked on this machine soon.",
				 tool);
	} else if (since[0]) {
		set_line(nt->summary, sizeof(nt->summary), "%s is blocked on this machine (since %s).", tool,
			 since);
	} else {
		set_line(nt->summary, sizeof(nt->summary), "%s is blocked on this machine.", tool);
	}
	set_line(nt->lines[nt->n_lines++], TEXT_MAX, "%s", what);
	if (t && t->message)
		set_line(nt->lines[nt->n_lines++], TEXT_MAX, "%s", t->message);
	if (t && t->alternative && url)
		set_line(nt->lines[nt->n_lines++], TEXT_MAX, "Use instead: %s \u2014 %s", t->alternative,
			 url);
	else if (t && t->alternative)
		set_line(nt->lines[nt->n_lines++], TEXT_MAX, "Use instead: %s", t->alternative);
	else if (url)
		set_line(nt->lines[nt->n_lines++], TEXT_MAX, "More: %s", url);
	set_line(nt->lines[nt->n_lines++], TEXT_MAX, "(policy %s, serial %llu)", p->name ? p->name : "?",
		 (unsigned long long)p->serial);
}

/* ---------- rate limit ---------- */

/* True when (key) may be told now; remembers it. */
static bool rl_allow(struct tg_notices *n, const char *key, uint64_t interval_usec)
{
	uint64_t now = now_usec(CLOCK_BOOTTIME);
	struct rl_slot *victim = &n->rl[0];

	for (size_t i = 0; i < RL_SLOTS; i++) {
		struct rl_slot *s = &n->rl[i];

		if (s->last_usec && strcmp(s->key, key) == 0) {
			if (now - s->last_usec < interval_usec)
				return false;
			s->last_usec = now;
			return true;
		}
		if (s->last_usec < victim->last_usec)
			victim = s; /* free slots (0) first, else the oldest */
	}
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	victim->last_usec = now ? now : 1;
	return true;
}

/* ---------- terminal ---------- */

static int tty_send(struct tg_notices *n, const struct tg_kernel_event *ev, const struct notice_text *nt)
{
	char path[64], buf[TEXT_MAX * 7];
	struct stat st;
	size_t off = 0;
	ssize_t w;
	int fd, r;

	r = tg_notice_tty_path(ev->tty, path, sizeof(path));
	if (r < 0) {
		n->c.tty_failed++;
		return log_debug_errno(r, "Not writing a notice to terminal \"%.64s\": unexpected name",
				       ev->tty);
	}
	/* O_NONBLOCK: a stopped or flow-controlled terminal must not stall the daemon. */
	fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		n->c.tty_failed++;
		return log_debug_errno(-errno, "Cannot open %s for a notice: %m", path);
	}
	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_uid != ev->uid) {
		close(fd);
		n->c.tty_not_owner++;
		return log_debug_errno(-EPERM, "Not writing a notice to %s: not a terminal of uid %u", path,
				       ev->uid);
	}
	off += (size_t)snprintf(buf + off, sizeof(buf) - off, "\r\n[toolguard] %s\r\n", nt->summary);
	for (size_t i = 0; i < nt->n_lines && off < sizeof(buf); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "  %s\r\n", nt->lines[i]);
	if (off >= sizeof(buf))
		off = sizeof(buf) - 1;
	w = write(fd, buf, off);
	r = w < 0 ? -errno : 0;
	close(fd);
	if (w <= 0) {
		n->c.tty_failed++;
		return log_debug_errno(r ? r : -EIO, "Cannot write a notice to %s: %m", path);
	}
	n->c.tty_sent++;
	return 1;
}

/* ---------- desktop ---------- */

/* unix:path=/run/user/UID/bus; TOOLGUARD_TEST_USER_BUS_DIR=DIR gives DIR/UID/bus (tests only). */
static void user_bus_path(uint32_t uid, char *buf, size_t len)
{
	const char *dir = secure_getenv("TOOLGUARD_TEST_USER_BUS_DIR");

	snprintf(buf, len, "%s/%u/bus", dir && dir[0] == '/' ? dir : "/run/user", uid);
}

bool tg_notice_url_ok(const char *url)
{
	size_t n, skip;

	if (!url)
		return false;
	if (strncasecmp(url, "https://", 8) == 0)
		skip = 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		skip = 7;
	else
		return false;
	n = strlen(url);
	if (n > URL_MAX || n == skip || url[skip] == '/')
		return false; /* no host */
	/* Printable ASCII only: no spaces, controls or look-alike characters reach the opener. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return false;
	return true;
}

static int append_markup_escaped(char *dst, size_t len, const char *s, bool markup)
{
	size_t o = strlen(dst);

	for (; *s && o + 6 < len; s++) {
		const char *rep = NULL;

		if (markup && *s == '&')
			rep = "&amp;";
		else if (markup && *s == '<')
			rep = "&lt;";
		else if (markup && *s == '>')
			rep = "&gt;";
		if (rep) {
			memcpy(dst + o, rep, strlen(rep));
			o += strlen(rep);
		} else {
			dst[o++] = *s;
		}
	}
	dst[o] = 0;
	return 0;
}

/* What one desktop child does. */
struct desktop_job {
	char address[4200];
	char runtime_dir[4096]; /* the directory of the user's bus socket */
	const struct notice_text *nt;
	bool warn;
	const char *url;    /* valid (tg_notice_url_ok) or NULL: no action offered */
	const char *opener; /* NULL: xdg-open, else gio open */
	uint32_t uid, gid;
	uint32_t pids[2]; /* the event's process and its parent: their environment names the session */
	int status_fd;	  /* the daemon reads CHILD_MSG_* bytes from it */
};

/* Variables of the user's session the opener needs to reach the right display. */
static const char *const session_vars[] = {
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "XAUTHORITY",
    "XDG_CURRENT_DESKTOP",
    "XDG_SESSION_TYPE",
    "XDG_SESSION_DESKTOP",
    "DESKTOP_SESSION",
    "XDG_DATA_DIRS",
    "XDG_CONFIG_DIRS",
    "BROWSER",
    "LANG",
};
#define N_SESSION_VARS (sizeof(session_vars) / sizeof(session_vars[0]))

struct session_env {
	char *val[N_SESSION_VARS]; /* malloc'd, NULL = not found */
};

static void session_env_done(struct session_env *se)
{
	for (size_t i = 0; i < N_SESSION_VARS; i++)
		free(se->val[i]);
}

/* Take "KEY=VALUE" when KEY is one of session_vars, not yet set, and VALUE short and plain. */
static void session_env_take(struct session_env *se, const char *kv)
{
	const char *eq = strchr(kv, '=');

	if (!eq || strlen(eq + 1) > ENV_VALUE_MAX)
		return;
	for (const char *p = eq + 1; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return;
	for (size_t i = 0; i < N_SESSION_VARS; i++)
		if (!se->val[i] && strlen(session_vars[i]) == (size_t)(eq - kv) &&
		    strncmp(kv, session_vars[i], (size_t)(eq - kv)) == 0) {
			se->val[i] = strdup(eq + 1);
			return;
		}
}

/* The session variables of a process of uid (root reads them before the child drops privileges). */
static void session_env_from_proc(struct session_env *se, uint32_t pid, uint32_t uid)
{
	static char buf[ENVIRON_READ_MAX + 1];
	char path[64];
	struct stat st;
	size_t off = 0;
	ssize_t n;
	int fd;

	if (pid == 0)
		return;
	snprintf(path, sizeof(path), "/proc/%u/environ", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	/* Another user's process (the pid was reused, or a root parent): not this session. */
	if (fstat(fd, &st) < 0 || st.st_uid != uid) {
		close(fd);
		return;
	}
	while (off < ENVIRON_READ_MAX && (n = read(fd, buf + off, ENVIRON_READ_MAX - off)) > 0)
		off += (size_t)n;
	close(fd);
	buf[off] = 0;
	for (size_t i = 0; i < off; i += strlen(buf + i) + 1)
		session_env_take(se, buf + i);
}

/* The environment the user's service manager hands to programs of the session
 * (desktops import DISPLAY etc. into it); absent without systemd --user. */
static void session_env_from_manager(struct session_env *se, sd_bus *bus)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	char **env = NULL;

	if (sd_bus_get_property_strv(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
				     "org.freedesktop.systemd1.Manager", "Environment", &err, &env) >= 0) {
		for (size_t i = 0; env[i] && i < 4096; i++)
			session_env_take(se, env[i]);
	}
	sd_bus_error_free(&err);
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

static void child_report(const struct desktop_job *j, char msg)
{
	(void)!write(j->status_fd, &msg, 1);
}

/* In the child, as the user, after a click: start the opener with the URL
 * (no shell), detached, and report whether it could be started. */
static int open_url(const struct desktop_job *j, const struct session_env *se)
{
	struct passwd pw, *res = NULL;
	char pwbuf[4096], *envp[N_SESSION_VARS + 8], *argv[4];
	char *owned[N_SESSION_VARS + 8];
	size_t ne = 0, no = 0;
	int ep[2], err = 0;
	ssize_t n;
	pid_t pid;

	if (getpwuid_r(j->uid, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res) {
		if (asprintf(&owned[no], "HOME=%s", res->pw_dir) >= 0)
			envp[ne++] = owned[no++];
		if (asprintf(&owned[no], "USER=%s", res->pw_name) >= 0)
			envp[ne++] = owned[no++];
		if (asprintf(&owned[no], "LOGNAME=%s", res->pw_name) >= 0)
			envp[ne++] = owned[no++];
	}
	envp[ne++] = (char *)"PATH=/usr/local/bin:/usr/bin:/bin";
	if (asprintf(&owned[no], "XDG_RUNTIME_DIR=%s", j->runtime_dir) >= 0)
		envp[ne++] = owned[no++];
	if (asprintf(&owned[no], "DBUS_SESSION_BUS_ADDRESS=%s", j->address) >= 0)
		envp[ne++] = owned[no++];
	for (size_t i = 0; i < N_SESSION_VARS; i++)
		if (se->val[i] && asprintf(&owned[no], "%s=%s", session_vars[i], se->val[i]) >= 0)
			envp[ne++] = owned[no++];
	envp[ne] = NULL;

	if (j->opener) {
		argv[0] = (char *)j->opener;
		argv[1] = (char *)j->url;
		argv[2] = NULL;
	} else if (access(TG_NOTICE_XDG_OPEN, X_OK) == 0) {
		argv[0] = (char *)TG_NOTICE_XDG_OPEN;
		argv[1] = (char *)j->url;
		argv[2] = NULL;
	} else {
		argv[0] = (char *)TG_NOTICE_GIO;
		argv[1] = (char *)"open";
		argv[2] = (char *)j->url;
		argv[3] = NULL;
	}

	if (pipe2(ep, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(ep[0]);
		close(ep[1]);
		return err;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);

		/* A process of the user's now (a browser may live long): not tied to us. */
		alarm(0);
		(void)setsid();
		if (nul >= 0) {
			(void)dup2(nul, 0);
			(void)dup2(nul, 1);
			(void)dup2(nul, 2);
		}
		execve(argv[0], argv, envp);
		err = errno;
		(void)!write(ep[1], &err, sizeof(err));
		_exit(127);
	}
	close(ep[1]);
	/* EOF: the exec happened (the pipe closed with it). */
	n = read(ep[0], &err, sizeof(err));
	close(ep[0]);
	for (size_t i = 0; i < no; i++)
		free(owned[i]);
	return n == (ssize_t)sizeof(err) ? -err : 0;
}

struct action_wait {
	uint32_t id;
	int done; /* 1 clicked, 2 closed */
};

static int on_action_invoked(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct action_wait *w = userdata;
	const char *key;
	uint32_t id;

	(void)ret_error;
	if (sd_bus_message_read(m, "us", &id, &key) >= 0 && id == w->id && w->id != 0 &&
	    strcmp(key, "default") == 0)
		w->done = 1;
	return 0;
}

static int on_closed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct action_wait *w = userdata;
	uint32_t id, reason;

	(void)ret_error;
	if (sd_bus_message_read(m, "uu", &id, &reason) >= 0 && id == w->id && w->id != 0 && !w->done)
		w->done = 2;
	return 0;
}

/* In the child, as the user: exit status CHILD_*. */
static int desktop_child_send(const struct desktop_job *j, struct session_env *se)
{
	const struct notice_text *nt = j->nt;
	sd_bus *bus = NULL;
	sd_bus_message *m = NULL, *reply = NULL;
	sd_bus_error err = SD_BUS_ERROR_NULL;
	bool actions = false, markup = false;
	char body[TEXT_MAX * 6] = "", server[256] = "";
	struct action_wait w = {0};
	int r;

	r = sd_bus_new(&bus);
	if (r >= 0)
		r = sd_bus_set_address(bus, j->address);
	if (r >= 0)
		r = sd_bus_set_bus_client(bus, 1);
	if (r >= 0)
		r = sd_bus_set_method_call_timeout(bus, DESKTOP_CALL_USEC);
	if (r >= 0)
		r = sd_bus_start(bus);
	if (r < 0)
		return CHILD_NO_BUS;

	r = sd_bus_call_method(bus, "org.freedesktop.Notifications", "/org/freedesktop/Notifications",
			       "org.freedesktop.Notifications", "GetCapabilities", &err, &reply, "");
	if (r >= 0) {
		const char *sender = sd_bus_message_get_sender(reply);

		if (sender && strlen(sender) < sizeof(server))
			snprintf(server, sizeof(server), "%s", sender);
		if (sd_bus_message_enter_container(reply, 'a', "s") >= 0) {
			const char *cap;

			while (sd_bus_message_read(reply, "s", &cap) > 0) {
				if (strcmp(cap, "actions") == 0)
					actions = true;
				else if (strcmp(cap, "body-markup") == 0)
					markup = true;
			}
		}
		reply = sd_bus_message_unref(reply);
	}
	sd_bus_error_free(&err);
	/* Only when there is a link to open, and listening from before the
	 * notification exists (a click cannot come before the id is known). */
	actions =
	    actions && j->url && server[0] &&
	    sd_bus_match_signal(bus, NULL, server, "/org/freedesktop/Notifications",
				"org.freedesktop.Notifications", "ActionInvoked", on_action_invoked,
				&w) >= 0 &&
	    sd_bus_match_signal(bus, NULL, server, "/org/freedesktop/Notifications",
				"org.freedesktop.Notifications", "NotificationClosed", on_closed, &w) >= 0;

	for (size_t i = 0; i < nt->n_lines; i++) {
		if (i)
			append_markup_escaped(body, sizeof(body), "\n", false);
		append_markup_escaped(body, sizeof(body), nt->lines[i], markup);
	}

	r = sd_bus_message_new_method_call(bus, &m, "org.freedesktop.Notifications",
					   "/org/freedesktop/Notifications", "org.freedesktop.Notifications",
					   "Notify");
	if (r >= 0)
		r = sd_bus_message_append(m, "susss", "toolguard", (uint32_t)0, "dialog-warning", nt->summary,
					  body);
	if (r >= 0)
		r = actions ? sd_bus_message_append(m, "as", 2, "default", "Open policy")
			    : sd_bus_message_append(m, "as", 0);
	if (r >= 0)
		r = sd_bus_message_append(m, "a{sv}", 1, "urgency", "y", (uint8_t)(j->warn ? 1 : 2));
	if (r >= 0)
		r = sd_bus_message_append(m, "i", (int32_t)-1);
	if (r >= 0)
		r = sd_bus_call(bus, m, 0, &err, &reply);
	if (r >= 0 && sd_bus_message_read(reply, "u", &w.id) < 0)
		w.id = 0;
	sd_bus_error_free(&err);
	sd_bus_message_unref(reply);
	sd_bus_message_unref(m);
	if (r < 0) {
		sd_bus_flush_close_unref(bus);
		return CHILD_FAILED;
	}
	child_report(j, CHILD_MSG_SENT);
	if (!actions || w.id == 0) {
		sd_bus_flush_close_unref(bus);
		return CHILD_SENT;
	}

	/* Wait for a click (or the notification's end), bounded. */
	alarm(DESKTOP_ACTION_SEC);
	while (!w.done) {
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			break; /* the bus went away */
		if (r > 0)
			continue;
		r = sd_bus_wait(bus, UINT64_MAX);
		if (r < 0 && r != -EINTR)
			break;
	}
	if (w.done == 1) {
		alarm(DESKTOP_OPEN_SEC);
		session_env_from_manager(se, bus);
	}
	sd_bus_flush_close_unref(bus);
	if (w.done != 1)
		return CHILD_SENT;
	r = open_url(j, se);
	child_report(j, r < 0 ? CHILD_MSG_OPEN_FAILED : CHILD_MSG_OPENED);
	return CHILD_SENT;
}

static int drop_privileges(uint32_t uid, uint32_t gid_fallback)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	gid_t gid = gid_fallback;

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res) {
		gid = res->pw_gid;
		if (initgroups(res->pw_name, gid) < 0)
			return -errno;
	} else if (setgroups(0, NULL) < 0) {
		return -errno;
	}
	if (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -errno;
	/* Never go on as root, nor able to get back to it. */
	if (geteuid() != uid || getuid() != uid || setuid(0) == 0)
		return -EPERM;
	return 0;
}

static struct desktop_child *child_of_source(struct tg_notices *n, sd_event_source *s)
{
	for (size_t i = 0; i < DESKTOP_SLOTS; i++)
		if (n->children[i].exit_src == s || (s && n->children[i].io_src == s))
			return &n->children[i];
	return NULL;
}

/* Count what the child said on its status pipe so far. */
static void child_drain(struct tg_notices *n, struct desktop_child *c)
{
	char msgs[16];
	ssize_t k;

	if (c->fd < 0)
		return;
	while (c->fd >= 0 && (k = read(c->fd, msgs, sizeof(msgs))) > 0) {
		for (ssize_t i = 0; i < k; i++) {
			if (msgs[i] == CHILD_MSG_SENT && !c->reported) {
				n->c.desktop_sent++;
				c->reported = true;
			} else if (msgs[i] == CHILD_MSG_OPENED) {
				n->c.desktop_opened++;
			} else if (msgs[i] == CHILD_MSG_OPEN_FAILED) {
				n->c.desktop_open_failed++;
				log_debug("Could not start the opener for a desktop notice's link (uid %u)",
					  c->uid);
			}
		}
	}
	if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
		c->io_src = sd_event_source_disable_unref(c->io_src);
		close(c->fd);
		c->fd = -1;
	}
}

static int on_child_status(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct tg_notices *n = userdata;
	struct desktop_child *c = child_of_source(n, s);

	(void)fd;
	(void)revents;
	if (c)
		child_drain(n, c);
	return 0;
}

static void child_slot_free(struct desktop_child *c)
{
	c->io_src = sd_event_source_disable_unref(c->io_src);
	c->exit_src = sd_event_source_unref(c->exit_src);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->pid = 0;
}

static int on_child_exit(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	struct tg_notices *n = userdata;
	struct desktop_child *c = child_of_source(n, s);
	bool sent = si->si_code == CLD_EXITED && si->si_status == CHILD_SENT;

	if (!c) {
		sd_event_source_unref(s);
		return 0;
	}
	child_drain(n, c);
	if (!c->reported) {
		if (sent)
			n->c.desktop_sent++;
		else if (si->si_code == CLD_EXITED && si->si_status == CHILD_NO_BUS)
			n->c.desktop_no_bus++;
		else
			n->c.desktop_failed++;
		if (!sent)
			log_debug("Desktop notice for uid %u not delivered (%s %d)", c->uid,
				  si->si_code == CLD_EXITED ? "status" : "signal", si->si_status);
	}
	child_slot_free(c);
	return 0;
}

static int desktop_send(struct tg_notices *n, const struct tg_kernel_event *ev, const struct notice_text *nt,
			bool warn, const char *url, const char *opener, sd_event *event)
{
	static struct desktop_job j;
	char path[4096];
	struct stat st;
	struct desktop_child *c = NULL;
	size_t alive = 0, alive_user = 0;
	int sp[2], r;
	sigset_t all;
	pid_t pid;

	/* Never as root: root's "desktop" would be reached with root's rights. */
	if (ev->uid == 0 || !event) {
		n->c.desktop_no_bus++;
		return 0;
	}
	user_bus_path(ev->uid, path, sizeof(path));
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_uid != ev->uid) {
		n->c.desktop_no_bus++;
		return 0;
	}
	for (size_t i = 0; i < DESKTOP_SLOTS; i++) {
		if (n->children[i].pid == 0) {
			if (!c)
				c = &n->children[i];
			continue;
		}
		alive++;
		if (n->children[i].uid == ev->uid)
			alive_user++;
	}
	if (!c || alive >= DESKTOP_SLOTS) {
		n->c.desktop_failed++;
		return log_debug_errno(-EBUSY, "Too many desktop notices in flight, not sending another");
	}

	memset(&j, 0, sizeof(j));
	snprintf(j.address, sizeof(j.address), "unix:path=%s", path);
	snprintf(j.runtime_dir, sizeof(j.runtime_dir), "%s", path);
	*strrchr(j.runtime_dir, '/') = 0;
	j.nt = nt;
	j.warn = warn;
	/* Waiting for clicks is bounded: per user, and leaving room for new notices. */
	j.url = tg_notice_url_ok(url) && alive_user < DESKTOP_WAIT_PER_USER && alive < DESKTOP_WAIT_MAX
		    ? url
		    : NULL;
	j.opener = opener && opener[0] == '/' ? opener : NULL;
	j.uid = ev->uid;
	j.gid = ev->gid;
	j.pids[0] = ev->pid;
	j.pids[1] = ev->ppid;

	if (pipe2(sp, O_CLOEXEC) < 0) {
		n->c.desktop_failed++;
		return log_debug_errno(-errno, "Cannot make a pipe for a desktop notice: %m");
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(sp[0]);
		close(sp[1]);
		n->c.desktop_failed++;
		return log_debug_errno(r, "Cannot fork for a desktop notice: %m");
	}
	if (pid == 0) {
		struct session_env se = {0};

		/* The child: nothing of the daemon's (fds, signal mask) beyond what it needs. */
		sigemptyset(&all);
		(void)sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGALRM, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_IGN);
		alarm(DESKTOP_TIMEOUT_SEC);
		/* fd 3, kept from the opener it may start */
		if (dup2(sp[1], 3) < 0 || fcntl(3, F_SETFD, FD_CLOEXEC) < 0)
			_exit(CHILD_FAILED);
		(void)close_range(4, ~0u, 0);
		j.status_fd = 3;
		/* Read while still allowed to (the process may be another's by the time of a click). */
		if (j.url) {
			session_env_from_proc(&se, j.pids[0], j.uid);
			session_env_from_proc(&se, j.pids[1], j.uid);
		}
		if (drop_privileges(ev->uid, ev->gid) < 0)
			_exit(CHILD_FAILED);
		r = desktop_child_send(&j, &se);
		session_env_done(&se);
		_exit(r);
	}
	close(sp[1]);
	c->pid = pid;
	c->uid = ev->uid;
	c->reported = false;
	c->fd = sp[0];
	(void)fcntl(c->fd, F_SETFL, O_NONBLOCK);
	r = sd_event_add_child(event, &c->exit_src, pid, WEXITED, on_child_exit, n);
	if (r < 0) {
		/* Cannot be reaped by the loop: stop it and reap it now. */
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		child_slot_free(c);
		n->c.desktop_failed++;
		return log_debug_errno(r, "Cannot watch the desktop notice child: %m");
	}
	(void)sd_event_source_set_description(c->exit_src, "desktop-notice");
	if (sd_event_add_io(event, &c->io_src, c->fd, EPOLLIN, on_child_status, n) >= 0)
		(void)sd_event_source_set_description(c->io_src, "desktop-notice-status");
	return 1;
}

/* ---------- public ---------- */

int tg_notices_new(struct tg_notices **ret)
{
	struct tg_notices *n;
	sigset_t chld;

	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < DESKTOP_SLOTS; i++)
		n->children[i].fd = -1;
	/* sd_event_add_child() wants SIGCHLD blocked. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0) {
		free(n);
		return -errno;
	}
	*ret = n;
	return 0;
}

void tg_notices_free(struct tg_notices *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < DESKTOP_SLOTS; i++) {
		/* Children waiting for a click end with the daemon. */
		if (n->children[i].pid > 0)
			(void)kill(n->children[i].pid, SIGTERM);
		child_slot_free(&n->children[i]);
	}
	free(n);
}

const struct tg_notice_counters *tg_notices_counters(const struct tg_notices *n)
{
	return &n->c;
}

void tg_notices_log_summary(const struct tg_notices *n, const char *when)
{
	const struct tg_notice_counters *c;

	if (!n)
		return;
	c = &n->c;
	log_info(
	    "notices %s: terminal %llu sent, %llu suppressed, %llu failed, %llu not the user's terminal; "
	    "desktop %llu sent, %llu suppressed, %llu failed, %llu no session bus, %llu links opened "
	    "(%llu could not be); %llu warnings",
	    when, (unsigned long long)c->tty_sent, (unsigned long long)c->tty_suppressed,
	    (unsigned long long)c->tty_failed, (unsigned long long)c->tty_not_owner,
	    (unsigned long long)c->desktop_sent, (unsigned long long)c->desktop_suppressed,
	    (unsigned long long)c->desktop_failed, (unsigned long long)c->desktop_no_bus,
	    (unsigned long long)c->desktop_opened, (unsigned long long)c->desktop_open_failed,
	    (unsigned long long)c->warnings_sent);
}

int tg_notices_event(struct tg_notices *n, const struct tg_notice_settings *s, const struct tg_policy *p,
		     const struct tg_kernel_event *ev, sd_event *event)
{
	bool warn = ev->verdict == TG_VERDICT_WARN;
	const struct tg_tool *t = ev->tool;
	struct notice_text nt;
	char key[RL_KEY_MAX];
	uint64_t interval = s->interval > 0 ? (uint64_t)s->interval * 1000000u : 0;
	int told = 0;

	if (!(ev->verdict == TG_VERDICT_BLOCK && !ev->would_block) && !warn)
		return -1;
	if (!p || !ev->tool_id[0] || (!s->tty && !s->desktop))
		return 0;

	if (warn) {
		/* Once per user per tool per day, on every channel at once. */
		snprintf(key, sizeof(key), "w|%s|%u", ev->tool_id, ev->uid);
		if (!rl_allow(n, key, WARN_INTERVAL_USEC)) {
			if (s->tty && ev->tty[0])
				n->c.tty_suppressed++;
			if (s->desktop)
				n->c.desktop_suppressed++;
			return 0;
		}
	}
	build_text(p, t, ev, warn, &nt);

	if (s->tty && ev->tty[0]) {
		char path[64];

		/* One terminal, whichever way its name is written. */
		if (tg_notice_tty_path(ev->tty, path, sizeof(path)) < 0)
			snprintf(path, sizeof(path), "%.60s", ev->tty);
		snprintf(key, sizeof(key), "t|%s|%s", ev->tool_id, path);
		if (!warn && interval && !rl_allow(n, key, interval))
			n->c.tty_suppressed++;
		else if (tty_send(n, ev, &nt) > 0)
			told = 1;
	}
	if (s->desktop) {
		snprintf(key, sizeof(key), "d|%s|%u", ev->tool_id, ev->uid);
		if (!warn && interval && !rl_allow(n, key, interval))
			n->c.desktop_suppressed++;
		else if (desktop_send(n, ev, &nt, warn, t ? tg_tool_notice_url(p, t) : p->default_notice_url,
				      s->opener, event) > 0)
			told = 1;
	}
	if (warn && told)
		n->c.warnings_sent++;
	return told;
}

int tg_notices_event_hook(const struct tg_kernel_event *ev, void *userdata)
{
	struct tg_daemon *d = userdata;
	struct tg_notice_settings s = {.tty = true, .desktop = true, .interval = 60};

	if (!d->notices)
		return ev->verdict == TG_VERDICT_BLOCK && !ev->would_block ? 0 : -1;
	if (d->config) {
		s.tty = d->config->notices_tty;
		s.desktop = d->config->notices_desktop;
		s.interval = d->config->notices_interval;
		s.opener = d->config->notices_opener;
	}
	return tg_notices_event(d->notices, &s, d->policy, ev, d->event);
}
