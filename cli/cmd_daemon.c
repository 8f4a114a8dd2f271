/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * toolctl commands answered by toolguardd over its control socket (status,
 * events, reload, sync, unload) and the client side of the protocol
 * (lib/protocol.h): one JSON request line, one JSON answer line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "paths.h"
#include "policy.h"
#include "protocol.h"
#include "toolctl.h"

#define ANSWER_MAX (64u << 20) /* a policy text is at most 8 MiB, escaped */

/* ---------- the connection ---------- */

const char *tc_socket_path(const struct toolctl *tc, char *buf, size_t len)
{
	const char *env = getenv("TOOLGUARD_SOCKET");
	struct tg_config *c = NULL;
	struct stat st;

	if (tc->socket_path)
		snprintf(buf, len, "%s", tc->socket_path);
	else if (env && *env)
		snprintf(buf, len, "%s", env);
	else {
		snprintf(buf, len, "%s", TG_CONTROL_SOCKET);
		/* A broken configuration is reported by the commands that need it, not here. */
		if (tc->config_file && stat(tc->config_file, &st) == 0) {
			struct tg_diags d = {0};

			if (tg_config_load_file(tc->config_file, &c, &d) == 0 && c->control_socket)
				snprintf(buf, len, "%s", c->control_socket);
			tg_diags_free(&d);
			tg_config_free(c);
		}
	}
	return buf;
}

/* Connected fd, or -errno. */
static int connect_socket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

bool tc_daemon_reachable(const struct toolctl *tc, char *ret_path, size_t len)
{
	int fd;

	tc_socket_path(tc, ret_path, len);
	fd = connect_socket(ret_path);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int not_running(const char *what, const char *sock, int err)
{
	if (err == -EACCES || err == -EPERM)
		return tc_fail(EXIT_NODAEMON, "%s: cannot connect to toolguardd at %s: permission denied",
			       what, sock);
	return tc_fail(
	    EXIT_NODAEMON,
	    "%s: toolguardd is not running (no control socket at %s); start it with: systemctl start "
	    "toolguard",
	    what, sock);
}

static bool quiet; /* tc_daemon_policy: the caller says what went wrong */
#define qfail(code, ...) (quiet ? (code) : tc_fail((code), __VA_ARGS__))

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
};

/* Next line (without '\n') into a malloc'd string; NULL at EOF/error (errno set). timeout_ms < 0: wait. */
static char *conn_line(struct conn *c, int timeout_ms)
{
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		ssize_t k;

		if (nl) {
			size_t n = (size_t)(nl - c->buf);
			char *s = strndup(c->buf, n);

			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			return s;
		}
		if (c->len >= ANSWER_MAX) {
			errno = E2BIG;
			return NULL;
		}
		if (c->cap - c->len < 65536) {
			size_t cap = c->cap ? c->cap * 2 : 131072;
			char *b = realloc(c->buf, cap);

			if (!b)
				return NULL;
			c->buf = b;
			c->cap = cap;
		}
		k = poll(&pfd, 1, timeout_ms);
		if (k < 0 && errno == EINTR)
			continue;
		if (k == 0) {
			errno = ETIMEDOUT;
			return NULL;
		}
		k = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = ECONNRESET;
			return NULL;
		}
		c->len += (size_t)k;
	}
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
}

/*
 * Send req (a JSON object, consumed) and read the answer. 0 and *ret (the
 * answer object, ok true) and the connection left open in *ret_conn when
 * given; else an exit code, the error printed as "toolctl: WHAT: ...".
 */
static int request(const struct toolctl *tc, const char *what, json_object *req, int timeout_ms,
		   json_object **ret, struct conn *ret_conn, bool quiet_nodaemon)
{
	struct conn c = {.fd = -1};
	char sock[PATH_MAX_SOCK];
	json_object *o = NULL, *v;
	const char *s;
	char *line;
	size_t n;

	tc_socket_path(tc, sock, sizeof(sock));
	json_object_object_add(req, "v", json_object_new_int(TG_CTL_VERSION));
	s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	c.fd = connect_socket(sock);
	if (c.fd < 0) {
		json_object_put(req);
		return quiet_nodaemon ? EXIT_NODAEMON : not_running(what, sock, c.fd);
	}
	n = strlen(s);
	if (send(c.fd, s, n, MSG_NOSIGNAL) != (ssize_t)n || send(c.fd, "\n", 1, MSG_NOSIGNAL) != 1) {
		json_object_put(req);
		conn_close(&c);
		return qfail(EXIT_NODAEMON, "%s: cannot send to toolguardd at %s: %m", what, sock);
	}
	json_object_put(req);
	line = conn_line(&c, timeout_ms);
	if (!line) {
		int e = errno;

		conn_close(&c);
		errno = e;
		return qfail(EXIT_NODAEMON, "%s: no answer from toolguardd at %s: %m", what, sock);
	}
	o = json_tokener_parse(line);
	free(line);
	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "ok", &v)) {
		json_object_put(o);
		conn_close(&c);
		return qfail(EXIT_NODAEMON,
			     "%s: toolguardd at %s sent an answer this toolctl does not understand", what,
			     sock);
	}
	if (!json_object_get_boolean(v)) {
		const char *err =
		    json_object_object_get_ex(o, "error", &v) ? json_object_get_string(v) : "refused";
		int r = qfail(EXIT_NO, "%s", err);

		json_object_put(o);
		conn_close(&c);
		return r;
	}
	*ret = o;
	if (ret_conn)
		*ret_conn = c;
	else
		conn_close(&c);
	return 0;
}

static json_object *new_req(const char *cmd)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "cmd", json_object_new_string(cmd));
	return o;
}

/* ---------- policy from the daemon (for policy show and test) ---------- */

int tc_daemon_policy(const struct toolctl *tc, struct tg_policy **ret_policy, enum tg_mode *ret_mode,
		     char *why, size_t why_len)
{
	json_object *req = new_req("policy"), *o = NULL, *v, *p;
	struct tg_diags d = {0};
	char src[4096 + 32];
	int r;

	json_object_object_add(req, "text", json_object_new_boolean(1));
	/* errors are the caller's to report: it falls back to the files */
	quiet = true;
	r = request(tc, "policy", req, 30000, &o, NULL, true);
	quiet = false;
	if (r == EXIT_NODAEMON) {
		snprintf(why, why_len, "daemon not reachable");
		return -ENOTCONN;
	}
	if (r) {
		snprintf(why, why_len, "toolguardd has no policy of its own in force");
		return -ENOENT;
	}
	if (!json_object_object_get_ex(o, "text", &v) || !json_object_is_type(v, json_type_string)) {
		snprintf(why, why_len,
			 "the policy file of toolguardd changed since it was loaded (toolctl reload)");
		json_object_put(o);
		return -ESTALE;
	}
	snprintf(src, sizeof(src), "%s", "toolguardd");
	if (json_object_object_get_ex(o, "policy", &p) && json_object_object_get_ex(p, "source", &v) &&
	    json_object_is_type(v, json_type_string))
		snprintf(src, sizeof(src), "%s", json_object_get_string(v));
	json_object_object_get_ex(o, "text", &v);
	r = tg_policy_parse(json_object_get_string(v), (size_t)json_object_get_string_len(v), src, ret_policy,
			    &d);
	tg_diags_free(&d);
	if (r < 0) {
		snprintf(why, why_len,
			 "the policy toolguardd sent does not parse here (toolctl of another version?)");
		json_object_put(o);
		return r;
	}
	*ret_mode = TG_MODE_ENFORCE;
	if (json_object_object_get_ex(o, "policy", &p) && json_object_object_get_ex(p, "mode", &v) &&
	    strcmp(json_object_get_string(v), "monitor") == 0)
		*ret_mode = TG_MODE_MONITOR;
	json_object_put(o);
	return 0;
}

int tc_daemon_resolved(const struct toolctl *tc, const char *host, const char *ip, json_object **ret)
{
	json_object *req = new_req("resolved"), *o = NULL, *v;
	int r;

	if (host)
		json_object_object_add(req, "host", json_object_new_string(host));
	if (ip)
		json_object_object_add(req, "ip", json_object_new_string(ip));
	quiet = true;
	r = request(tc, "resolved", req, 10000, &o, NULL, true);
	quiet = false;
	if (r)
		return r;
	if (!json_object_object_get_ex(o, "resolved", &v) || !json_object_is_type(v, json_type_object)) {
		json_object_put(o);
		return EXIT_NO;
	}
	*ret = json_object_get(v);
	json_object_put(o);
	return 0;
}

/* ---------- status ---------- */

static bool use_colour(void)
{
	const char *nc = getenv("NO_COLOR");

	return isatty(STDOUT_FILENO) && !(nc && *nc) &&
	       !(getenv("TERM") && strcmp(getenv("TERM"), "dumb") == 0);
}

static bool colour;
#define C_BOLD	"\033[1m"
#define C_RED	"\033[31m"
#define C_YEL	"\033[33m"
#define C_GRN	"\033[32m"
#define C_RESET "\033[0m"

static const char *js(json_object *o, const char *key, const char *dflt)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return dflt;
	return json_object_get_string(v);
}

static int64_t ji(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	return json_object_get_int64(v);
}

static bool jb(json_object *o, const char *key)
{
	json_object *v;

	return o && json_object_object_get_ex(o, key, &v) && v && json_object_get_boolean(v);
}

static json_object *jo(json_object *o, const char *key)
{
	json_object *v;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static void section(const char *name)
{
	printf("%s%s%s\n", colour ? C_BOLD : "", name, colour ? C_RESET : "");
}

__attribute__((format(printf, 2, 3))) static void row(const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("  %-17s ", key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static const char *state_colour(const char *st)
{
	if (!colour)
		return "";
	if (strcmp(st, "blocking") == 0)
		return C_RED;
	if (strcmp(st, "warning") == 0 || strcmp(st, "alert") == 0)
		return C_YEL;
	return "";
}

static void print_status(json_object *o)
{
	json_object *d = jo(o, "daemon"), *k = jo(o, "kernel"), *p = jo(o, "policy"), *s = jo(o, "sync"),
		    *t = jo(o, "tools"), *e = jo(o, "events"), *n = jo(o, "notices"), *nx;
	char span[32];
	const char *be = js(k, "exec_backend", "?");
	size_t nt = t ? json_object_array_length(t) : 0, w = 4;

	section("Daemon");
	row("running", "%syes%s (pid %" PRId64 ")", colour ? C_GRN : "", colour ? C_RESET : "", ji(d, "pid"));
	row("version", "%s", js(d, "version", "?"));
	row("uptime", "%s (since %s)", tg_format_span(ji(d, "uptime_sec"), span, sizeof(span)),
	    js(d, "started", "?"));
	row("mode", "%s", js(d, "mode", "?"));
	row("status", "%s", js(d, "status", "?"));
	if (js(d, "last_reload_error", NULL))
		row("last reload", "failed: %s", js(d, "last_reload_error", ""));

	section("Kernel");
	row("exec backend", "%s%s", be,
	    strcmp(be, "lsm") == 0	    ? " (denied in the kernel with EPERM)"
	    : strcmp(be, "tracepoint") == 0 ? " (killed at exec)"
					    : "");
	if (js(k, "exec_backend_note", NULL))
		row("", "%s", js(k, "exec_backend_note", ""));
	row("connect backend", "%s", js(k, "connect_backend", "?"));
	nx = jo(k, "stream_checks"); /* older daemons have none */
	if (nx && !jb(nx, "loaded")) {
		row("CONNECT/SNI", "not checked (the stream programs did not load: see the daemon log, "
				   "'journalctl -u toolguard')");
	} else if (nx && jb(nx, "all_ports")) {
		row("CONNECT/SNI", "checked on every TCP connection (network.inspect_ports: all)");
	} else if (nx) {
		uint16_t pv[TG_CONFIG_INSPECT_PORTS_MAX] = {0};
		char list[TG_CONFIG_INSPECT_PORTS_TEXT];
		json_object *ports = NULL;
		size_t np = 0;

		if (json_object_object_get_ex(nx, "ports", &ports) && json_object_is_type(ports, json_type_array))
			for (size_t i = 0; i < json_object_array_length(ports) && np < TG_CONFIG_INSPECT_PORTS_MAX; i++) {
				json_object *pe = json_object_array_get_idx(ports, i);
				int v = json_object_is_type(pe, json_type_int) ? json_object_get_int(pe) : 0;

				if (v > 0 && v < 65536)
					pv[np++] = (uint16_t)v;
			}
		tg_ports_text(pv, np, list, sizeof(list));
		row("CONNECT/SNI", "checked on ports %s and to shared addresses (network.inspect_ports)",
		    list[0] ? list : "none");
	}
	row("lockdown", "%s", js(k, "lockdown", "?"));
	row("pinned", "%s (%s; enforcement survives a daemon restart)", jb(k, "pinned") ? "yes" : "no",
	    js(k, "pin_dir", "?"));
	nx = jo(o, "resolver"); /* older daemons have none */
	if (nx && ji(nx, "names") > 0)
		row("host names", "%" PRId64 " resolved of %" PRId64 ", %" PRId64 " addresses held; next query %s",
		    ji(nx, "names_resolved"), ji(nx, "names"), ji(nx, "addresses"), js(nx, "next_resolve", "none"));
	if (nx && ji(nx, "shared_addresses") > 0)
		row("shared addresses", "%" PRId64 " also answer for allowed names: TCP there is decided by the TLS "
		    "server name or CONNECT line", ji(nx, "shared_addresses"));

	section("Policy");
	if (jb(p, "in_force")) {
		row("name", "%s", js(p, "name", "?"));
		row("serial", "%" PRId64, ji(p, "serial"));
		row("sha256", "%s", js(p, "sha256", "?"));
		row("source", "%s %s", js(p, "source_kind", "file"), js(p, "source", "?"));
		row("loaded at", "%s", js(p, "loaded_at", "?"));
		row("tools", "%" PRId64 " (%" PRId64 " matchers)", ji(p, "tools"), ji(p, "matchers"));
		nx = jo(p, "next_transition");
		row("next transition", "%s", nx ? js(nx, "text", "?") : "none scheduled");
	} else {
		row("in force", "%s", js(p, "note", "none"));
	}

	section("Sync");
	row("url", "%s", js(s, "url", "not configured"));
	row("last attempt", "%s", js(s, "last_attempt", "not configured"));
	row("last success", "%s", js(s, "last_success", "not configured"));
	row("last error", "%s", js(s, "last_error", "none"));
	row("next attempt", "%s", js(s, "next_attempt", "not configured"));

	nx = jo(o, "report"); /* older daemons have none */
	if (nx && jb(nx, "configured")) {
		section("Report");
		row("url", "%s", js(nx, "url", "?"));
		row("queued", "%" PRId64 " events in %" PRId64 " batches (%s, %" PRId64 " of %" PRId64 " bytes)",
		    ji(nx, "queued"), ji(nx, "queued_batches"), js(nx, "spool", "?"), ji(nx, "spool_bytes"),
		    ji(nx, "spool_max"));
		row("sent", "%" PRId64 " events in %" PRId64 " batches", ji(nx, "sent"), ji(nx, "sent_batches"));
		row("dropped", "%" PRId64 " events (spool full or unwritable), %" PRId64 " refused by the collector",
		    ji(nx, "dropped"), ji(nx, "rejected"));
		row("last attempt", "%s", js(nx, "last_attempt", "never"));
		row("last success", "%s", js(nx, "last_success", "never"));
		row("last error", "%s", js(nx, "last_error", "none"));
		row("next attempt", "%s", js(nx, "next_attempt", "?"));
	}

	section("Tools");
	for (size_t i = 0; i < nt; i++) {
		size_t l = strlen(js(json_object_array_get_idx(t, i), "id", ""));

		if (l > w)
			w = l;
	}
	if (nt == 0)
		printf("  (none)\n");
	else
		printf("  %-*s  %-8s  %13s  %16s  %8s  %6s  %s\n", (int)w, "TOOL", "STATE", "BLOCKED EXECS",
		       "BLOCKED CONNECTS", "WARNINGS", "ALERTS", "NEXT");
	for (size_t i = 0; i < nt; i++) {
		json_object *ti = json_object_array_get_idx(t, i), *tn = jo(ti, "next");
		const char *st = js(ti, "state", "?");
		char nbuf[128] = "-";

		if (tn)
			snprintf(nbuf, sizeof(nbuf), "%s %s, in %s", js(tn, "state", "?"), js(tn, "at", "?"),
				 js(tn, "in", "?"));
		printf("  %-*s  %s%-8s%s  %13" PRId64 "  %16" PRId64 "  %8" PRId64 "  %6" PRId64 "  %s\n",
		       (int)w, js(ti, "id", "?"), state_colour(st), st,
		       colour && *state_colour(st) ? C_RESET : "", ji(ti, "blocked_execs"),
		       ji(ti, "blocked_connects"), ji(ti, "warnings"), ji(ti, "alerts"), nbuf);
	}

	section("Events");
	row("total", "%" PRId64, ji(e, "total"));
	row("dropped", "%" PRId64, ji(e, "dropped"));
	row("log", "%s", js(e, "log", "none (journal only)"));
	if (jo(o, "tamper") && ji(jo(o, "tamper"), "detected") > 0) {
		json_object *tp = jo(o, "tamper");

		section("Tampering");
		row("detected", "%" PRId64 " (repaired %" PRId64 ", failed %" PRId64 "), last %s",
		    ji(tp, "detected"), ji(tp, "repaired"), ji(tp, "repair_failures"), js(tp, "last_detected", "?"));
		row("last finding", "%s", js(tp, "last_finding", "?"));
	}
	if (n) {
		section("Notices");
		row("terminal", "%" PRId64 " sent, %" PRId64 " suppressed, %" PRId64 " failed",
		    ji(n, "tty_sent"), ji(n, "tty_suppressed"), ji(n, "tty_failed"));
		row("desktop", "%" PRId64 " sent, %" PRId64 " suppressed, %" PRId64 " failed, %" PRId64 " links opened",
		    ji(n, "desktop_sent"), ji(n, "desktop_suppressed"), ji(n, "desktop_failed"),
		    ji(n, "desktop_opened"));
		row("warnings", "%" PRId64 " sent", ji(n, "warnings_sent"));
	}
}

static bool pins_present(void)
{
	struct stat st;

	return stat(TG_PIN_DIR, &st) == 0 && S_ISDIR(st.st_mode);
}

int cmd_status(struct toolctl *tc, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
	char sock[PATH_MAX_SOCK];
	json_object *o = NULL;
	bool json = false;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h') {
			printf("Usage: toolctl status [--json]\n");
			return 0;
		}
		if (c != 'j')
			return EXIT_USAGE;
		json = true;
	}
	if (optind < argc)
		return tc_fail(EXIT_USAGE, "status: unexpected argument \"%s\" (see toolctl --help)",
			       argv[optind]);
	r = request(tc, "status", new_req("status"), 30000, &o, NULL, true);
	if (r == 0) {
		colour = use_colour();
		if (json) {
			json_object_object_del(o, "v");
			json_object_object_del(o, "ok");
			puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
		} else {
			print_status(o);
		}
		json_object_put(o);
		return 0;
	}
	if (r != EXIT_NODAEMON)
		return r;
	tc_socket_path(tc, sock, sizeof(sock));
	if (json) {
		/* Scripts get the same answer as data; the exit status still says "no daemon". */
		json_object *jo_ = json_object_new_object(), *d = json_object_new_object(),
			    *k = json_object_new_object();

		json_object_object_add(d, "running", json_object_new_boolean(0));
		json_object_object_add(d, "control_socket", json_object_new_string(sock));
		json_object_object_add(jo_, "daemon", d);
		json_object_object_add(k, "pinned", json_object_new_boolean(pins_present()));
		json_object_object_add(k, "pin_dir", json_object_new_string(TG_PIN_DIR));
		json_object_object_add(jo_, "kernel", k);
		puts(json_object_to_json_string_ext(jo_, JSON_C_TO_STRING_PRETTY |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(jo_);
	}
	fprintf(
	    stderr,
	    "toolguardd is not running (no control socket at %s); start it with: systemctl start toolguard\n",
	    sock);
	/* Pinned programs keep enforcing without the daemon: say so, it matters to the reader. */
	if (pins_present())
		fprintf(stderr,
			"note: programs are pinned under %s: the last loaded policy is still enforced\n",
			TG_PIN_DIR);
	return EXIT_NODAEMON;
}

/* ---------- events ---------- */

static void print_event(json_object *ev, bool json)
{
	json_object *dst = jo(ev, "dest");
	const char *subject;
	char dbuf[400];

	if (json) {
		puts(json_object_to_json_string_ext(ev,
						    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		fflush(stdout);
		return;
	}
	if (dst) {
		snprintf(dbuf, sizeof(dbuf), "%s%s%s port %" PRId64, js(dst, "host", ""),
			 jo(dst, "host") ? " " : "", js(dst, "ip", "?"), ji(dst, "port"));
		subject = dbuf;
	} else {
		subject = js(ev, "exe", js(ev, "source", ""));
	}
	printf("%s  %-8s %-7s %-16s", js(ev, "time", "?"), js(ev, "kind", "?"), js(ev, "verdict", "?"),
	       js(ev, "tool", js(ev, "policy_name", "-")));
	if (jo(ev, "uid"))
		printf(" %s(%" PRId64 ") pid %" PRId64, js(ev, "user", ""), ji(ev, "uid"), ji(ev, "pid"));
	printf(" %s", subject);
	if (jo(ev, "notified"))
		printf(" [%s]", jb(ev, "notified") ? "user told" : "user not told");
	putchar('\n');
	fflush(stdout);
}

static int parse_since(const char *s, int64_t *ret)
{
	struct tg_instant in;
	int64_t d;

	if (tg_parse_instant(s, &in) == 0) {
		*ret = in.t;
		return 0;
	}
	/* "2h" or "-2h": that long ago */
	if (tg_parse_duration(s[0] == '-' ? s + 1 : s, &d) == 0) {
		*ret = (int64_t)time(NULL) - d;
		return 0;
	}
	return -EINVAL;
}

int cmd_events(struct toolctl *tc, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"follow", no_argument, NULL, 'f'},	    {"since", required_argument, NULL, 's'},
	    {"tool", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},	    {0}};
	json_object *req = new_req("events"), *o = NULL, *arr;
	struct conn conn = {.fd = -1};
	bool json = false, follow = false;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+fs:t:h", opts, NULL)) != -1) {
		int64_t since;

		switch (c) {
		case 'f':
			follow = true;
			break;
		case 's':
			if (parse_since(optarg, &since) < 0 || since < 0) {
				json_object_put(req);
				return tc_fail(
				    EXIT_USAGE,
				    "events: invalid --since \"%s\": give RFC 3339, YYYY-MM-DD, or an age "
				    "like 2h",
				    optarg);
			}
			json_object_object_add(req, "since", json_object_new_int64(since));
			break;
		case 't':
			json_object_object_add(req, "tool", json_object_new_string(optarg));
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			printf("Usage: toolctl events [--follow] [--since TIME] [--tool ID] [--json]\n");
			json_object_put(req);
			return 0;
		default:
			json_object_put(req);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		json_object_put(req);
		return tc_fail(EXIT_USAGE, "events: unexpected argument \"%s\"", argv[optind]);
	}
	if (follow)
		json_object_object_add(req, "follow", json_object_new_boolean(1));
	r = request(tc, "events", req, 30000, &o, follow ? &conn : NULL, false);
	if (r)
		return r;
	arr = jo(o, "events");
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++)
		print_event(json_object_array_get_idx(arr, i), json);
	json_object_put(o);
	if (!follow)
		return 0;
	for (;;) {
		char *line = conn_line(&conn, -1);
		json_object *ev;

		if (!line)
			break;
		ev = json_tokener_parse(line);
		free(line);
		if (ev)
			print_event(ev, json);
		json_object_put(ev);
		if (ferror(stdout))
			break;
	}
	conn_close(&conn);
	return tc_fail(EXIT_NODAEMON, "events: toolguardd closed the connection");
}

/* ---------- reload, sync, unload ---------- */

static int simple(struct toolctl *tc, const char *cmd, int argc, int timeout_ms)
{
	json_object *o = NULL;
	int r;

	if (argc > 1)
		return tc_fail(EXIT_USAGE, "%s: takes no arguments", cmd);
	r = request(tc, cmd, new_req(cmd), timeout_ms, &o, NULL, false);
	if (r)
		return r;
	printf("%s\n", js(o, "message", "done"));
	json_object_put(o);
	return 0;
}

int cmd_reload(struct toolctl *tc, int argc, char **argv)
{
	/* a reload may scan install locations for a while */
	return simple(tc, "reload", argc, 300000);
}

int cmd_sync(struct toolctl *tc, int argc, char **argv)
{
	return simple(tc, "sync", argc, 60000);
}

/* 0 done by the daemon, >0 an exit code, -1 no daemon (the caller unloads itself). */
int tc_daemon_unload(struct toolctl *tc)
{
	char sock[PATH_MAX_SOCK];
	int fd;

	tc_socket_path(tc, sock, sizeof(sock));
	fd = connect_socket(sock);
	if (fd < 0)
		return -1;
	close(fd);
	return simple(tc, "unload", 1, 60000);
}
