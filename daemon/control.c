/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket: non-blocking accept and per-client line buffers in the
 * daemon's sd-event loop. Requests are parsed by lib/protocol.c; answers are
 * built here from struct tg_daemon. A client is dropped after TG_CTL_IDLE_SEC
 * of silence, on a line over TG_CTL_MAX_LINE, or when too slow to read what
 * it asked for; with TG_CTL_MAX_CLIENTS connected the longest idle one makes
 * room for a new one, so idle connections cannot lock toolctl out.
 *
 * Admin check: uid 0, or the admin group as the peer's primary gid
 * (SO_PEERCRED) or among the supplementary groups of the peer process read
 * from /proc/PID/status "Groups:" (what the process really holds, not what
 * the group database says its user could have).
 */
#include <errno.h>
#include <fcntl.h>
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
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "control.h"
#include "events.h"
#include "fetch.h"
#include "kernel.h"
#include "log.h"
#include "matcher.h"
#include "paths.h"
#include "protocol.h"
#include "report.h"
#include "resolve.h"
#include "state.h"
#include "tamper.h"

#define FOLLOW_OUT_MAX (4u << 20) /* a follower that falls this far behind is dropped */
#define MAX_GROUPS     65536u

/* fetch.c may not be linked in (builds without central policy): then sync says so. */
#pragma weak tg_fetch_now

struct ring_entry {
	uint64_t t_ns;
	char tool[64];
	char *line;
};

struct client {
	struct tg_control *ctl;
	struct client *prev, *next;
	int fd;
	sd_event_source *io, *timer;
	struct ucred cred;
	char *in;
	size_t in_len;
	char *out;
	size_t out_len, out_off, out_cap;
	uint64_t last_usec; /* CLOCK_MONOTONIC of the last byte received */
	bool follow;
	char follow_tool[64];
	bool closing; /* answer what is buffered, then close */
	bool busy;    /* a request of this client is being handled */
	bool dead;    /* freed when no longer busy */
};

struct tg_control {
	struct tg_daemon *d;
	int fd;
	bool activated; /* socket from systemd: not ours to unlink */
	char *path;
	sd_event_source *accept_source;
	bool accept_paused;	       /* all slots busy: new clients wait in the backlog */
	sd_event_source *accept_retry; /* look again for a slot to free */
	struct client *clients;
	unsigned n_clients;
	struct ring_entry ring[TG_CTL_MAX_EVENTS];
	size_t ring_head, ring_n; /* oldest at ring_head */
};

/* ---------- clients ---------- */

static void client_free(struct client *c)
{
	struct tg_control *ctl = c->ctl;

	if (c->busy) {
		c->dead = true;
		return;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ctl->n_clients--;
	if (ctl->accept_paused) {
		ctl->accept_paused = false;
		(void)sd_event_source_set_enabled(ctl->accept_source, SD_EVENT_ON);
	}
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->timer);
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

/* Write what is buffered; 0 = all out or waiting for EPOLLOUT, <0 = the client is gone. */
static int client_flush(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t k =
		    send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN) {
			(void)sd_event_source_set_io_events(c->io, (c->closing ? 0 : EPOLLIN) | EPOLLOUT);
			return 0;
		}
		if (k <= 0)
			return -EPIPE;
		c->out_off += (size_t)k;
	}
	c->out_off = c->out_len = 0;
	if (c->closing)
		return -ESHUTDOWN;
	(void)sd_event_source_set_io_events(c->io, EPOLLIN | EPOLLRDHUP);
	return 0;
}

static int client_queue(struct client *c, const char *s, size_t len)
{
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *n;

		while (cap < c->out_len + len)
			cap *= 2;
		n = realloc(c->out, cap);
		if (!n)
			return -ENOMEM;
		c->out = n;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, s, len);
	c->out_len += len;
	return 0;
}

static void send_json(struct client *c, json_object *o)
{
	const char *s;

	json_object_object_add(o, "v", json_object_new_int(TG_CTL_VERSION));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s || client_queue(c, s, strlen(s)) < 0 || client_queue(c, "\n", 1) < 0)
		c->closing = true;
	json_object_put(o);
}

static void send_error(struct client *c, int code, const char *msg)
{
	char *s = tg_ctl_error_line(code, msg);

	if (!s || client_queue(c, s, strlen(s)) < 0)
		c->closing = true;
	free(s);
}

static json_object *ok_object(void)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return o;
}

/* ---------- small helpers ---------- */

static json_object *jstr(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

/* "2026-07-10T00:00:00+08:00" in local time */
static const char *rfc3339_local(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char off[8];

	if (!localtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, len, "%" PRId64, t);
		return buf;
	}
	strftime(off, sizeof(off), "%z", &tm);
	snprintf(buf + strlen(buf), len - strlen(buf), "%.3s:%.2s", off, off + 3);
	return buf;
}

static void sha_hex(const uint8_t sha[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", sha[i]);
}

static const char *lockdown_mode(char *buf, size_t len)
{
	char line[256];
	char *s, *e;
	FILE *f = fopen("/sys/kernel/security/lockdown", "re");

	snprintf(buf, len, "unknown");
	if (!f)
		return buf;
	if (fgets(line, sizeof(line), f) && (s = strchr(line, '[')) && (e = strchr(s, ']')))
		snprintf(buf, len, "%.*s", (int)(e - s - 1), s + 1);
	fclose(f);
	return buf;
}

static const struct tg_tool_counters *tool_counters(const struct tg_event_counters *ec, const char *id)
{
	for (size_t i = 0; i < ec->n_tools; i++)
		if (strcmp(ec->tools[i].id, id) == 0)
			return &ec->tools[i];
	return NULL;
}

static const char *state_verb(enum tg_tool_state s)
{
	switch (s) {
	case TG_STATE_WARNING:
		return "warns";
	case TG_STATE_BLOCKING:
		return "blocks";
	case TG_STATE_ALERT:
		return "alerts";
	case TG_STATE_ALLOW:
		return "is allowed";
	case TG_STATE_EXPIRED:
		return "expires";
	default:
		return "is inactive";
	}
}

/* The next change of t after now: {tool, state, at, in, text}; NULL when none. */
static json_object *next_transition(const struct tg_policy *p, const struct tg_tool *t, int64_t now,
				    int64_t *ret_next)
{
	int64_t next = INT64_MAX;
	struct tg_instant in = {.set = true};
	enum tg_tool_state st;
	char when[64], span[32], text[256], rfc[64];
	json_object *o;

	(void)tg_tool_state_at(p, t, now, &next);
	*ret_next = next;
	if (next == INT64_MAX)
		return NULL;
	st = tg_tool_state_at(p, t, next, NULL);
	if (t->expires.set && next == t->expires.t)
		in = t->expires;
	else if (t->effective.set && next == t->effective.t)
		in = t->effective;
	else {
		in.t = next;
		in.utcoff_min = t->effective.set ? t->effective.utcoff_min : 0;
	}
	tg_format_instant(&in, when, sizeof(when));
	tg_format_span(next - now, span, sizeof(span));
	snprintf(text, sizeof(text), "%s: %s from %s, in %s", t->id, state_verb(st), when, span);
	o = json_object_new_object();
	json_object_object_add(o, "tool", json_object_new_string(t->id));
	json_object_object_add(o, "state", json_object_new_string(tg_tool_state_name(st)));
	json_object_object_add(o, "at", json_object_new_string(when));
	json_object_object_add(o, "at_rfc3339",
			       json_object_new_string(rfc3339_local(next, rfc, sizeof(rfc))));
	json_object_object_add(o, "at_unix", json_object_new_int64(next));
	json_object_object_add(o, "in", json_object_new_string(span));
	json_object_object_add(o, "text", json_object_new_string(text));
	return o;
}

/* ---------- status ---------- */

/* RFC 3339 of a CLOCK_REALTIME usec, or what to say when it is 0 */
static json_object *usec_text(uint64_t usec, const char *none)
{
	char rfc[64];

	if (!usec)
		return json_object_new_string(none);
	return json_object_new_string(rfc3339_local((int64_t)(usec / 1000000u), rfc, sizeof(rfc)));
}

static void do_status(struct tg_control *ctl, struct client *c)
{
	struct tg_daemon *d = ctl->d;
	const struct tg_event_counters *ec = tg_events_counters(d->events);
	json_object *o = ok_object(), *jd, *jk, *jp, *js, *jt, *je;
	int64_t now = (int64_t)time(NULL);
	char buf[256], rfc[64];
	const char *pin_dir = d->pin_dir ? d->pin_dir : TG_PIN_DIR;
	struct stat st;

	jd = json_object_new_object();
	json_object_object_add(jd, "running", json_object_new_boolean(1));
	json_object_object_add(jd, "version", json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(jd, "pid", json_object_new_int64(getpid()));
	json_object_object_add(
	    jd, "started",
	    json_object_new_string(rfc3339_local((int64_t)(d->started_usec / 1000000u), rfc, sizeof(rfc))));
	json_object_object_add(
	    jd, "uptime_sec",
	    json_object_new_int64((int64_t)((now_usec(CLOCK_REALTIME) - d->started_usec) / 1000000u)));
	json_object_object_add(jd, "mode", json_object_new_string(tg_mode_name(d->mode)));
	tg_daemon_status_line(d, buf, sizeof(buf));
	json_object_object_add(jd, "status", json_object_new_string(buf));
	json_object_object_add(jd, "config",
			       json_object_new_string(d->config_path ? d->config_path : TG_CONFIG_FILE));
	json_object_object_add(jd, "config_missing", json_object_new_boolean(d->config_missing));
	json_object_object_add(jd, "control_socket", jstr(ctl->path));
	json_object_object_add(jd, "reloads", json_object_new_int64((int64_t)d->reloads));
	json_object_object_add(jd, "reload_failures", json_object_new_int64((int64_t)d->reload_failures));
	json_object_object_add(jd, "last_reload_error",
			       d->last_reload_error[0] ? json_object_new_string(d->last_reload_error) : NULL);
	json_object_object_add(o, "daemon", jd);

	jk = json_object_new_object();
	json_object_object_add(
	    jk, "exec_backend",
	    json_object_new_string(tg_exec_backend_name(tg_kernel_exec_backend(d->kernel))));
	json_object_object_add(jk, "exec_backend_note",
			       d->kernel && tg_kernel_backend_note(d->kernel)[0]
				   ? json_object_new_string(tg_kernel_backend_note(d->kernel))
				   : NULL);
	json_object_object_add(
	    jk, "connect_backend",
	    json_object_new_string(d->kernel ? tg_kernel_connect_backend(d->kernel) : "none"));
	json_object_object_add(jk, "dns_learning",
			       json_object_new_boolean(tg_kernel_dns_learning(d->kernel)));
	json_object_object_add(jk, "lockdown", json_object_new_string(lockdown_mode(buf, sizeof(buf))));
	json_object_object_add(jk, "pinned",
			       json_object_new_boolean(stat(pin_dir, &st) == 0 && S_ISDIR(st.st_mode)));
	json_object_object_add(jk, "pin_dir", json_object_new_string(pin_dir));
	json_object_object_add(jk, "adopted",
			       json_object_new_boolean(d->kernel && tg_kernel_adopted(d->kernel)));
	{ /* which TCP connections have their CONNECT line / TLS server name checked */
		json_object *jsc = json_object_new_object(), *jports = json_object_new_array();
		bool loaded = d->kernel && tg_kernel_stream_checks(d->kernel);

		json_object_object_add(jsc, "loaded", json_object_new_boolean(loaded));
		json_object_object_add(jsc, "all_ports",
				       json_object_new_boolean(d->config && d->config->inspect_all));
		for (unsigned i = 0; d->config && !d->config->inspect_all && i < TG_CONFIG_INSPECT_PORTS_MAX &&
				     d->config->inspect_ports[i];
		     i++)
			json_object_array_add(jports, json_object_new_int(d->config->inspect_ports[i]));
		json_object_object_add(jsc, "ports", jports);
		json_object_object_add(jk, "stream_checks", jsc);
	}
	json_object_object_add(o, "kernel", jk);

	{ /* policy host names resolved ahead of time (resolve.c) */
		struct tg_resolver_stats rs;
		json_object *jr = json_object_new_object(), *jsv = json_object_new_array();

		tg_resolver_stats(d->resolver, &rs);
		json_object_object_add(jr, "names", json_object_new_int64((int64_t)rs.names));
		json_object_object_add(jr, "names_resolved", json_object_new_int64((int64_t)rs.names_resolved));
		json_object_object_add(jr, "addresses", json_object_new_int64((int64_t)rs.addresses));
		json_object_object_add(jr, "next_resolve",
				       rs.next_resolve_usec ? usec_text(rs.next_resolve_usec, "") : NULL);
		json_object_object_add(jr, "queries", json_object_new_int64((int64_t)rs.queries));
		json_object_object_add(jr, "answers", json_object_new_int64((int64_t)rs.answers));
		json_object_object_add(jr, "failures", json_object_new_int64((int64_t)rs.failures));
		if (rs.server[0])
			json_object_array_add(jsv, json_object_new_string(rs.server));
		json_object_object_add(jr, "servers", jsv);
		/* addresses an allowed name answered with: the SNI check decides there */
		json_object_object_add(jr, "shared_addresses",
				       json_object_new_int64((int64_t)tg_kernel_shared_count(d->kernel)));
		json_object_object_add(o, "resolver", jr);
	}

	jp = json_object_new_object();
	jt = json_object_new_array();
	if (d->policy) {
		const struct tg_policy *p = d->policy;
		size_t matchers = 0;
		json_object *best = NULL, *upcoming = json_object_new_array();
		int64_t best_t = INT64_MAX;
		char hex[65];

		sha_hex(p->sha256, hex);
		json_object_object_add(jp, "in_force", json_object_new_boolean(1));
		json_object_object_add(jp, "name", jstr(p->name));
		json_object_object_add(jp, "serial", json_object_new_uint64(p->serial));
		json_object_object_add(jp, "sha256", json_object_new_string(hex));
		json_object_object_add(jp, "source", jstr(p->source));
		json_object_object_add(
		    jp, "source_kind",
		    json_object_new_string(
			d->config && d->config->policy_url && !d->policy_override ? "url" : "file"));
		json_object_object_add(jp, "loaded_at",
				       json_object_new_string(rfc3339_local(
					   (int64_t)(d->policy_loaded_usec / 1000000u), rfc, sizeof(rfc))));
		for (size_t i = 0; i < p->n_tools; i++) {
			const struct tg_tool *t = &p->tools[i];
			const struct tg_tool_counters *tc = tool_counters(ec, t->id);
			json_object *jo = json_object_new_object(), *nx;
			int64_t n;

			matchers += t->n_exes + t->n_scripts + t->n_hosts;
			json_object_object_add(jo, "id", json_object_new_string(t->id));
			json_object_object_add(jo, "name", jstr(t->name));
			json_object_object_add(
			    jo, "state",
			    json_object_new_string(tg_tool_state_name(tg_tool_state_at(p, t, now, NULL))));
			json_object_object_add(jo, "action",
					       json_object_new_string(tg_action_name(tg_tool_action(p, t))));
			json_object_object_add(jo, "blocked_execs",
					       json_object_new_uint64(tc ? tc->blocked_execs : 0));
			json_object_object_add(jo, "blocked_connects",
					       json_object_new_uint64(tc ? tc->blocked_connects : 0));
			json_object_object_add(jo, "warnings", json_object_new_uint64(tc ? tc->warnings : 0));
			json_object_object_add(jo, "alerts", json_object_new_uint64(tc ? tc->alerts : 0));
			json_object_object_add(jo, "would_block",
					       json_object_new_uint64(tc ? tc->would_block : 0));
			json_object_object_add(jo, "exempt", json_object_new_uint64(tc ? tc->exempt : 0));
			nx = next_transition(p, t, now, &n);
			if (nx) {
				json_object_array_add(upcoming, json_object_get(nx));
				if (n < best_t) {
					json_object_put(best);
					best = json_object_get(nx);
					best_t = n;
				}
			}
			json_object_object_add(jo, "next", nx);
			json_object_array_add(jt, jo);
		}
		json_object_object_add(jp, "tools", json_object_new_int64((int64_t)p->n_tools));
		json_object_object_add(jp, "matchers", json_object_new_int64((int64_t)matchers));
		json_object_object_add(jp, "next_transition", best);
		json_object_object_add(jp, "transitions", upcoming);
	} else if (d->policy_awaiting_fetch) {
		json_object_object_add(jp, "in_force", json_object_new_boolean(0));
		json_object_object_add(jp, "note",
				       json_object_new_string("no policy yet, fetching from URL (policy.url)"));
	} else {
		json_object_object_add(jp, "in_force", json_object_new_boolean(0));
		json_object_object_add(
		    jp, "note",
		    json_object_new_string("the pinned policy of an earlier run is enforced; the "
					   "configured policy was refused (see the log)"));
	}
	json_object_object_add(o, "policy", jp);

	js = json_object_new_object();
	if (d->config && d->config->policy_url) {
		const struct tg_sync_state *sy = &d->sync;

		json_object_object_add(js, "configured", json_object_new_boolean(1));
		json_object_object_add(js, "url", json_object_new_string(d->config->policy_url));
		json_object_object_add(js, "interval_sec", json_object_new_int64(d->config->policy_interval));
		json_object_object_add(js, "cache", jstr(d->config->policy_cache));
		json_object_object_add(js, "running", json_object_new_boolean(sy->running));
		json_object_object_add(js, "last_attempt", usec_text(sy->last_attempt_usec, "never"));
		json_object_object_add(js, "last_success", usec_text(sy->last_success_usec, "never"));
		json_object_object_add(js, "last_error",
				       sy->last_error[0] ? json_object_new_string(sy->last_error) : NULL);
		json_object_object_add(js, "last_outcome",
				       sy->last_outcome[0] ? json_object_new_string(sy->last_outcome) : NULL);
		json_object_object_add(
		    js, "next_attempt",
		    usec_text(sy->next_attempt_usec, sy->enabled ? "not scheduled" : "not running"));
		json_object_object_add(js, "serial", json_object_new_uint64(sy->serial));
	} else {
		json_object_object_add(js, "configured", json_object_new_boolean(0));
		json_object_object_add(js, "url", json_object_new_string("not configured"));
		json_object_object_add(js, "last_attempt", json_object_new_string("not configured"));
		json_object_object_add(js, "last_success", json_object_new_string("not configured"));
		json_object_object_add(js, "last_error", NULL);
		json_object_object_add(js, "next_attempt", json_object_new_string("not configured"));
	}
	json_object_object_add(o, "sync", js);
	json_object_object_add(o, "report", tg_report_status_json(d));

	json_object_object_add(o, "tools", jt);

	je = json_object_new_object();
	json_object_object_add(je, "total", json_object_new_uint64(ec->total));
	json_object_object_add(je, "dropped", json_object_new_uint64(ec->dropped));
	json_object_object_add(je, "blocked_execs", json_object_new_uint64(ec->blocked_execs));
	json_object_object_add(je, "blocked_connects", json_object_new_uint64(ec->blocked_connects));
	json_object_object_add(je, "warnings", json_object_new_uint64(ec->warnings));
	json_object_object_add(je, "alerts", json_object_new_uint64(ec->alerts));
	json_object_object_add(je, "log", jstr(tg_events_log_path(d->events)));
	json_object_object_add(je, "log_write_failures", json_object_new_uint64(ec->log_write_failures));
	json_object_object_add(je, "journal_suppressed", json_object_new_uint64(ec->journal_suppressed));
	json_object_object_add(je, "recent_kept", json_object_new_uint64(ctl->ring_n));
	json_object_object_add(o, "events", je);

	{ /* edits of the pinned maps/links found and repaired (tamper.c) */
		const struct tg_tamper_counters *tc = tg_tamper_counters(d->tamper);
		json_object *jt2 = json_object_new_object();

		json_object_object_add(jt2, "checking", json_object_new_boolean(d->tamper != NULL));
		json_object_object_add(jt2, "checks", json_object_new_uint64(tc->checks));
		json_object_object_add(jt2, "detected", json_object_new_uint64(tc->detected));
		json_object_object_add(jt2, "repaired", json_object_new_uint64(tc->repaired));
		json_object_object_add(jt2, "repair_failures", json_object_new_uint64(tc->repair_failures));
		json_object_object_add(jt2, "last_detected", usec_text(tc->last_detected_usec, "never"));
		json_object_object_add(jt2, "last_finding",
				       tc->last_finding[0] ? json_object_new_string(tc->last_finding) : NULL);
		json_object_object_add(o, "tamper", jt2);
	}

	if (d->notices) {
		const struct tg_notice_counters *nc = tg_notices_counters(d->notices);
		json_object *jn = json_object_new_object();

		json_object_object_add(jn, "tty_sent", json_object_new_uint64(nc->tty_sent));
		json_object_object_add(jn, "tty_suppressed", json_object_new_uint64(nc->tty_suppressed));
		json_object_object_add(jn, "tty_failed", json_object_new_uint64(nc->tty_failed));
		json_object_object_add(jn, "desktop_sent", json_object_new_uint64(nc->desktop_sent));
		json_object_object_add(jn, "desktop_suppressed",
				       json_object_new_uint64(nc->desktop_suppressed));
		json_object_object_add(jn, "desktop_failed", json_object_new_uint64(nc->desktop_failed));
		json_object_object_add(jn, "desktop_opened", json_object_new_uint64(nc->desktop_opened));
		json_object_object_add(jn, "warnings_sent", json_object_new_uint64(nc->warnings_sent));
		json_object_object_add(o, "notices", jn);
	}
	send_json(c, o);
}

/* ---------- policy ---------- */

/* The bytes of the policy file when they are still those in force (sha256), else NULL. */
static char *policy_text(const struct tg_policy *p, size_t *ret_len)
{
	uint8_t sha[32];
	unsigned shalen = 0;
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int fd;

	if (!p->source)
		return NULL;
	fd = open(p->source, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > TG_POLICY_MAX_BYTES)
		goto fail;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		goto fail;
	while (len < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + len, (size_t)st.st_size - len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			goto fail;
		len += (size_t)k;
	}
	buf[len] = 0;
	if (EVP_Digest(buf, len, sha, &shalen, EVP_sha256(), NULL) != 1 || shalen != 32 ||
	    memcmp(sha, p->sha256, 32) != 0)
		goto fail;
	close(fd);
	*ret_len = len;
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

static void do_policy(struct tg_control *ctl, struct client *c, const struct tg_ctl_request *r)
{
	const struct tg_policy *p = ctl->d->policy;
	int64_t now = (int64_t)time(NULL);
	json_object *o, *jp, *jt;
	char hex[65], rfc[64];

	if (!p) {
		send_error(
		    c, ENOENT,
		    "no policy in force from this run: the pinned policy of an earlier run is enforced; fix "
		    "the configured policy and reload");
		return;
	}
	o = ok_object();
	jp = json_object_new_object();
	sha_hex(p->sha256, hex);
	json_object_object_add(jp, "name", jstr(p->name));
	json_object_object_add(jp, "serial", json_object_new_uint64(p->serial));
	json_object_object_add(jp, "sha256", json_object_new_string(hex));
	json_object_object_add(jp, "source", jstr(p->source));
	json_object_object_add(jp, "mode", json_object_new_string(tg_mode_name(ctl->d->mode)));
	json_object_object_add(jp, "loaded_at",
			       json_object_new_string(rfc3339_local(
				   (int64_t)(ctl->d->policy_loaded_usec / 1000000u), rfc, sizeof(rfc))));
	jt = json_object_new_array();
	for (size_t i = 0; i < p->n_tools; i++) {
		json_object *t = json_object_new_object();

		json_object_object_add(t, "id", json_object_new_string(p->tools[i].id));
		json_object_object_add(t, "name", jstr(p->tools[i].name));
		json_object_object_add(
		    t, "action", json_object_new_string(tg_action_name(tg_tool_action(p, &p->tools[i]))));
		json_object_object_add(
		    t, "state",
		    json_object_new_string(tg_tool_state_name(tg_tool_state_at(p, &p->tools[i], now, NULL))));
		json_object_array_add(jt, t);
	}
	json_object_object_add(jp, "tools", jt);
	json_object_object_add(o, "policy", jp);
	if (r->policy_text) {
		size_t len = 0;
		char *text = policy_text(p, &len);

		/* NULL: the file changed since it was loaded; the client says so */
		json_object_object_add(o, "text", text ? json_object_new_string_len(text, (int)len) : NULL);
		free(text);
	}
	send_json(c, o);
}

/* ---------- test ---------- */

/* Regular files only, and not a huge one: the loop must not stall on a client's whim. */
static int sha256_path(void *ctx, const char *path, uint8_t out[32])
{
	(void)ctx;
	return tg_sha256_path(path, (uint64_t)512 * 1024 * 1024, out);
}


/* The groups of uid from the user database (its primary group first). */
static size_t user_groups(uid_t uid, gid_t *gids, size_t max)
{
	struct passwd pw, *res = NULL;
	char buf[16384];
	int n = (int)max;

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return 0;
	if (getgrouplist(pw.pw_name, pw.pw_gid, gids, &n) < 0)
		return max > 0 ? (gids[0] = pw.pw_gid, 1) : 0;
	return (size_t)n;
}

static void add_decision(json_object *o, const struct tg_policy *p, const struct tg_decision *dc)
{
	json_object_object_add(o, "verdict", json_object_new_string(tg_verdict_name(dc->verdict)));
	json_object_object_add(o, "tool", dc->tool ? json_object_new_string(dc->tool->id) : NULL);
	json_object_object_add(o, "matcher", dc->tool ? json_object_new_string(dc->matcher) : NULL);
	json_object_object_add(o, "subject", dc->tool ? json_object_new_string(dc->subject) : NULL);
	json_object_object_add(o, "exempt", json_object_new_boolean(dc->exempt));
	if (dc->tool)
		json_object_object_add(o, "state", json_object_new_string(tg_tool_state_name(dc->state)));
	json_object_object_add(o, "policy_name", jstr(p->name));
	json_object_object_add(o, "policy_serial", json_object_new_uint64(p->serial));
}

/* Addresses the daemon holds for policy host names (resolve.c): toolctl test --host/--ip. */
static void do_resolved(struct tg_control *ctl, struct client *c, const struct tg_ctl_request *r)
{
	json_object *o, *jr;

	jr = tg_resolver_json(ctl->d->resolver, r->host, r->ip);
	if (!jr) {
		send_error(c, ENOMEM, "out of memory");
		return;
	}
	if (r->ip) { /* also answered for an allowed name (tg_shared): decided by SNI */
		uint8_t a[16] = {0};
		int64_t left = 0;
		int fam = strchr(r->ip, ':') ? AF_INET6 : AF_INET;

		if (inet_pton(fam, r->ip, a) == 1 && tg_kernel_shared_addr(ctl->d->kernel, fam, a, &left))
			json_object_object_add(jr, "shared_expires_in_sec", json_object_new_int64(left));
	}
	o = ok_object();
	json_object_object_add(o, "resolved", jr);
	send_json(c, o);
}

static void do_test(struct tg_control *ctl, struct client *c, const struct tg_ctl_request *r)
{
	const struct tg_policy *p = ctl->d->policy;
	static gid_t gids[MAX_GROUPS];
	struct tg_decision dc;
	uid_t uid = r->has_uid ? r->uid : c->cred.uid;
	size_t n_gids;
	json_object *o;
	int k;

	if (!p) {
		send_error(
		    c, ENOENT,
		    "no policy in force from this run (the pinned policy of an earlier run is enforced): "
		    "use toolctl test --policy FILE");
		return;
	}
	n_gids = user_groups(uid, gids, MAX_GROUPS);
	memset(&dc, 0, sizeof(dc));
	if (r->test_exec) {
		char *abs = tg_path_absolute(r->cwd, r->argv[0]);
		char *res = abs && abs[0] == '/' ? realpath(abs, NULL) : NULL;
		struct tg_exec_query q = {
		    .path_invoked = r->argv[0],
		    .path_resolved = res ? res : (abs && abs[0] == '/' ? abs : NULL),
		    .cwd = r->cwd,
		    .argv = (const char *const *)r->argv,
		    .argc = r->argc,
		    .uid = uid,
		    .gids = gids,
		    .n_gids = n_gids,
		    .sha256 = sha256_path,
		    .now = (int64_t)time(NULL),
		};

		k = tg_match_exec(p, &q, &dc);
		free(res);
		free(abs);
	} else {
		struct tg_dest_query q = {
		    .port = r->port,
		    .host = r->host,
		    .uid = uid,
		    .gids = gids,
		    .n_gids = n_gids,
		    .now = (int64_t)time(NULL),
		};

		if (r->ip) {
			if (inet_pton(AF_INET, r->ip, q.addr) == 1)
				q.family = AF_INET;
			else if (inet_pton(AF_INET6, r->ip, q.addr) == 1)
				q.family = AF_INET6;
			else {
				send_error(c, EINVAL, "\"dest.ip\" is not an IPv4 or IPv6 address");
				return;
			}
			q.has_addr = true;
		}
		k = tg_match_dest(p, &q, &dc);
	}
	if (k < 0) {
		send_error(c, -k, "the matcher failed on this query");
		return;
	}
	o = ok_object();
	add_decision(o, p, &dc);
	json_object_object_add(o, "uid", json_object_new_int64(uid));
	json_object_object_add(o, "mode", json_object_new_string(tg_mode_name(ctl->d->mode)));
	send_json(c, o);
}

/* ---------- events ---------- */

static bool entry_matches(const struct ring_entry *e, const char *tool, bool has_since, int64_t since_ns)
{
	if (tool && strcmp(e->tool, tool) != 0)
		return false;
	return !has_since || (int64_t)e->t_ns >= since_ns;
}

static void do_events(struct tg_control *ctl, struct client *c, const struct tg_ctl_request *r)
{
	static const char head[] = "{\"v\":1,\"ok\":true,\"events\":[";
	size_t first = 0, n = 0, skip = 0;
	bool comma = false;

	for (size_t i = 0; i < ctl->ring_n; i++)
		if (entry_matches(&ctl->ring[(ctl->ring_head + i) % TG_CTL_MAX_EVENTS], r->tool, r->has_since,
				  r->since_ns))
			n++;
	if (r->limit && n > r->limit)
		skip = n - r->limit;
	if (client_queue(c, head, sizeof(head) - 1) < 0)
		goto oom;
	for (size_t i = 0; i < ctl->ring_n; i++) {
		const struct ring_entry *e = &ctl->ring[(ctl->ring_head + i) % TG_CTL_MAX_EVENTS];

		if (!entry_matches(e, r->tool, r->has_since, r->since_ns))
			continue;
		if (first++ < skip)
			continue;
		if ((comma && client_queue(c, ",", 1) < 0) || client_queue(c, e->line, strlen(e->line)) < 0)
			goto oom;
		comma = true;
	}
	if (client_queue(c, r->follow ? "],\"follow\":true}\n" : "],\"follow\":false}\n",
			 r->follow ? 17 : 18) < 0)
		goto oom;
	if (r->follow) {
		c->follow = true;
		snprintf(c->follow_tool, sizeof(c->follow_tool), "%s", r->tool ? r->tool : "");
		/* a follower waits as long as it likes */
		(void)sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
	}
	return;
oom:
	c->closing = true;
}

/* A tg_events listener: keep the line in the ring and send it to followers. */
static void on_event_line(const char *line, size_t len, void *userdata)
{
	struct tg_control *ctl = userdata;
	struct ring_entry *e;
	json_object *o, *t;
	char tool[64] = "";
	struct client *c, *next;

	if (len == 0 || len >= TG_CTL_MAX_LINE)
		return;
	o = json_tokener_parse(line);
	if (o && json_object_object_get_ex(o, "tool", &t) && json_object_is_type(t, json_type_string))
		snprintf(tool, sizeof(tool), "%s", json_object_get_string(t));
	json_object_put(o);

	if (ctl->ring_n == TG_CTL_MAX_EVENTS) {
		e = &ctl->ring[ctl->ring_head];
		free(e->line);
		ctl->ring_head = (ctl->ring_head + 1) % TG_CTL_MAX_EVENTS;
		ctl->ring_n--;
	}
	e = &ctl->ring[(ctl->ring_head + ctl->ring_n) % TG_CTL_MAX_EVENTS];
	e->line = strndup(line, len);
	if (!e->line)
		return;
	e->t_ns = now_usec(CLOCK_REALTIME) * 1000u;
	memcpy(e->tool, tool, sizeof(tool));
	ctl->ring_n++;

	for (c = ctl->clients; c; c = next) {
		next = c->next;
		if (!c->follow || c->dead || (c->follow_tool[0] && strcmp(c->follow_tool, tool) != 0))
			continue;
		if (c->out_len + len + 1 > FOLLOW_OUT_MAX || client_queue(c, line, len) < 0 ||
		    client_queue(c, "\n", 1) < 0 || client_flush(c) < 0)
			client_free(c);
	}
}

/* ---------- privileged commands ---------- */

static bool peer_in_group(const struct ucred *cr, gid_t gid)
{
	char path[64], line[4096];
	bool in = false, uid_ok = false;
	FILE *f;

	if (cr->gid == gid)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)cr->pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long v;
		char *s, *e;

		if (strncmp(line, "Uid:", 4) == 0) {
			/* the real uid must still be the peer's: a recycled pid answers for nobody */
			uid_ok = strtoul(line + 4, NULL, 10) == cr->uid;
			continue;
		}
		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		for (s = line + 7;; s = e) {
			errno = 0;
			v = strtoul(s, &e, 10);
			if (e == s || errno)
				break;
			if (v == gid)
				in = true;
		}
	}
	fclose(f);
	return in && uid_ok;
}

static bool peer_is_admin(struct tg_control *ctl, const struct ucred *cr, const char **ret_group)
{
	const char *name =
	    ctl->d->config && ctl->d->config->admin_group ? ctl->d->config->admin_group : TG_ADMIN_GROUP;
	gid_t gid;

	*ret_group = name;
	if (cr->uid == 0)
		return true;
	if (tg_lookup_group(name, &gid) < 0)
		return false;
	return peer_in_group(cr, gid);
}

static void do_reload(struct tg_control *ctl, struct client *c)
{
	struct tg_daemon *d = ctl->d;
	json_object *o;
	char line[256];
	int r;

	r = tg_daemon_reload(d);
	if (r < 0) {
		char msg[768];

		snprintf(msg, sizeof(msg),
			 "reload failed: %s; what was in force stays in force (see the log: "
			 "journalctl -u toolguard)",
			 d->last_reload_error[0] ? d->last_reload_error : strerror(-r));
		send_error(c, -r, msg);
		return;
	}
	o = ok_object();
	tg_daemon_status_line(d, line, sizeof(line));
	json_object_object_add(o, "message", json_object_new_string(line));
	if (d->policy) {
		json_object_object_add(o, "policy_name", jstr(d->policy->name));
		json_object_object_add(o, "policy_serial", json_object_new_uint64(d->policy->serial));
	}
	send_json(c, o);
}

static void do_sync(struct tg_control *ctl, struct client *c)
{
	const struct tg_config *cf = ctl->d->config;
	char outcome[512] = "";
	json_object *o;
	int r;

	if (!cf || !cf->policy_url) {
		send_error(c, ENOENT,
			   "no policy.url configured: nothing to sync (set policy.url in toolguard.conf)");
		return;
	}
	if (!tg_fetch_now) {
		send_error(
		    c, EOPNOTSUPP,
		    "this toolguardd cannot fetch the central policy; the cached copy is used on reload "
		    "(toolctl reload)");
		return;
	}
	r = tg_fetch_now(ctl->d, outcome, sizeof(outcome));
	if (r < 0) {
		send_error(c, -r, outcome[0] ? outcome : strerror(-r));
		return;
	}
	o = ok_object();
	json_object_object_add(o, "message", json_object_new_string(outcome[0] ? outcome : "sync started"));
	json_object_object_add(o, "url", json_object_new_string(cf->policy_url));
	send_json(c, o);
}

static void do_unload(struct tg_control *ctl, struct client *c)
{
	struct tg_daemon *d = ctl->d;
	char why[512] = "";
	json_object *o;
	int r;

	log_notice("Unload asked on the control socket by uid %u (pid %d): detaching and stopping",
		   (unsigned)c->cred.uid, (int)c->cred.pid);
	r = tg_kernel_unload_at(d->pin_dir, why, sizeof(why));
	if (r < 0) {
		char msg[768];

		snprintf(msg, sizeof(msg), "unload failed: %s; run: toolguardd --unload",
			 why[0] ? why : strerror(-r));
		send_error(c, -r, msg);
		return;
	}
	o = ok_object();
	json_object_object_add(
	    o, "message",
	    json_object_new_string("toolguard programs detached and pins removed; toolguardd "
				   "stops. Nothing is enforced until it starts again"));
	send_json(c, o);
	(void)client_flush(c);
	/* Stop without re-pinning: the kernel side is closed at exit, the pins are gone. */
	(void)sd_event_exit(d->event, 0);
}

/* ---------- requests ---------- */

static void handle_line(struct tg_control *ctl, struct client *c, const char *line, size_t len)
{
	struct tg_ctl_request r;
	const char *err = NULL;
	const char *group;
	int k;

	/* blank lines (keep-alives) are ignored */
	if (strspn(line, " \t\r") >= len)
		return;
	k = tg_ctl_request_parse(line, len, &r, &err);
	if (k < 0) {
		send_error(c, -k, err);
		return;
	}
	if (tg_ctl_cmd_privileged(r.cmd) && !peer_is_admin(ctl, &c->cred, &group)) {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s needs root or membership of group %s", tg_ctl_cmd_name(r.cmd),
			 group);
		send_error(c, EPERM, msg);
		tg_ctl_request_free(&r);
		return;
	}
	switch (r.cmd) {
	case TG_CTL_STATUS:
		do_status(ctl, c);
		break;
	case TG_CTL_POLICY:
		do_policy(ctl, c, &r);
		break;
	case TG_CTL_TEST:
		do_test(ctl, c, &r);
		break;
	case TG_CTL_EVENTS:
		do_events(ctl, c, &r);
		break;
	case TG_CTL_RELOAD:
		do_reload(ctl, c);
		break;
	case TG_CTL_SYNC:
		do_sync(ctl, c);
		break;
	case TG_CTL_UNLOAD:
		do_unload(ctl, c);
		break;
	case TG_CTL_RESOLVED:
		do_resolved(ctl, c, &r);
		break;
	default:
		send_error(c, EINVAL, "unknown command");
	}
	tg_ctl_request_free(&r);
}

/* Handle every complete line; 1 when the client went over the line limit. */
static void process_input(struct tg_control *ctl, struct client *c, bool eof)
{
	size_t ll;
	int k;

	while (!c->follow && !c->closing && !c->dead) {
		k = tg_ctl_find_line(c->in, c->in_len, TG_CTL_MAX_LINE, &ll);
		if (k == 0 && eof && c->in_len > 0) {
			/* a last request without its newline, then a half-close: answer it */
			ll = c->in_len;
			k = 1;
		}
		if (k < 0) {
			send_error(c, E2BIG, "request too long (at most 64 KiB per line); closing");
			c->closing = true;
			c->in_len = 0;
			break;
		}
		if (k == 0)
			break;
		handle_line(ctl, c, c->in, ll);
		ll = ll < c->in_len ? ll + 1 : ll;
		memmove(c->in, c->in + ll, c->in_len - ll);
		c->in_len -= ll;
	}
	if (c->follow)
		c->in_len = 0; /* followers only listen */
}

static int on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct client *c = userdata;
	struct tg_control *ctl = c->ctl;
	bool eof = false;

	c->busy = true;
	if ((revents & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR)) && !c->closing) {
		for (;;) {
			ssize_t k;

			if (c->in_len >= TG_CTL_MAX_LINE) {
				process_input(ctl, c, false);
				if (c->in_len >= TG_CTL_MAX_LINE || c->closing || c->follow)
					break;
			}
			k = recv(fd, c->in + c->in_len, TG_CTL_MAX_LINE - c->in_len, MSG_DONTWAIT);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0 && errno == EAGAIN)
				break;
			if (k <= 0) {
				eof = true;
				break;
			}
			c->in_len += (size_t)k;
			c->last_usec = now_usec(CLOCK_MONOTONIC);
			if (!c->follow)
				(void)sd_event_source_set_time_relative(c->timer,
									TG_CTL_IDLE_SEC * 1000000ull);
			process_input(ctl, c, false);
			if (c->closing || c->dead)
				break;
		}
		if (eof) {
			process_input(ctl, c, true);
			if (c->follow)
				c->dead = true; /* the follower went away */
			else
				c->closing = true;
		}
	}
	c->busy = false;
	if (c->dead || client_flush(c) < 0) {
		c->dead = false;
		client_free(c);
	}
	return 0;
}

static int on_client_idle(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct client *c = userdata;

	if (c->follow || c->closing)
		return 0;
	/* one line to say why, best effort; then the slot is free */
	send_error(c, ETIMEDOUT, "idle for 10 s: closing (send one request per line)");
	c->closing = true;
	if (client_flush(c) < 0)
		client_free(c);
	return 0;
}

/* At the limit: the client quiet for longest (at least 250 ms: not one whose
 * request is on its way) makes room, so idle connections and followers cannot
 * lock toolctl out. */
static bool evict_one(struct tg_control *ctl)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	struct client *victim = NULL;

	for (struct client *c = ctl->clients; c; c = c->next)
		if (!c->busy && c->out_len == 0 && now - c->last_usec >= 250000u &&
		    (!victim || c->last_usec < victim->last_usec))
			victim = c;
	if (!victim)
		return false;
	client_free(victim);
	return true;
}

static int on_accept_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct tg_control *ctl = userdata;

	ctl->accept_retry = sd_event_source_disable_unref(ctl->accept_retry);
	if (ctl->accept_paused) {
		ctl->accept_paused = false;
		(void)sd_event_source_set_enabled(ctl->accept_source, SD_EVENT_ON);
	}
	return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct tg_control *ctl = userdata;

	for (int i = 0; i < 16; i++) {
		socklen_t sl = sizeof(struct ucred);
		struct client *c;
		int cfd, r;

		if (ctl->n_clients >= TG_CTL_MAX_CLIENTS && !evict_one(ctl)) {
			/* every slot is being served: the next waits in the listen backlog */
			ctl->accept_paused = true;
			(void)sd_event_source_set_enabled(ctl->accept_source, SD_EVENT_OFF);
			if (!ctl->accept_retry)
				(void)sd_event_add_time_relative(ctl->d->event, &ctl->accept_retry,
								 CLOCK_MONOTONIC, 100000, 0, on_accept_retry,
								 ctl);
			return 0;
		}
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warning_errno(-errno, "Failed to accept a control connection: %m");
			return 0;
		}
		c = calloc(1, sizeof(*c));
		if (c)
			c->in = malloc(TG_CTL_MAX_LINE);
		if (!c || !c->in) {
			if (c)
				free(c);
			close(cfd);
			continue;
		}
		c->ctl = ctl;
		c->fd = cfd;
		c->last_usec = now_usec(CLOCK_MONOTONIC);
		if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &c->cred, &sl) < 0) {
			/* unknown peer: nobody */
			c->cred.uid = (uid_t)-1;
			c->cred.gid = (gid_t)-1;
			c->cred.pid = 0;
		}
		r = sd_event_add_io(ctl->d->event, &c->io, cfd, EPOLLIN | EPOLLRDHUP, on_client_io, c);
		if (r >= 0)
			r = sd_event_add_time_relative(ctl->d->event, &c->timer, CLOCK_MONOTONIC,
						       TG_CTL_IDLE_SEC * 1000000ull, 0, on_client_idle, c);
		/* link first: client_free unlinks */
		c->next = ctl->clients;
		if (ctl->clients)
			ctl->clients->prev = c;
		ctl->clients = c;
		ctl->n_clients++;
		if (r < 0) {
			log_warning_errno(r, "Failed to watch a control connection: %m");
			client_free(c);
			continue;
		}
		(void)sd_event_source_set_description(c->io, "control-client");
	}
	return 0;
}

/* ---------- the socket ---------- */

static int mkdir_parents(const char *path)
{
	char buf[PATH_MAX];
	char *s;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	s = strrchr(buf, '/');
	if (!s || s == buf)
		return 0;
	*s = 0;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int listen_socket(struct tg_control *ctl)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, n, r;

	n = sd_listen_fds(0);
	for (int i = 0; i < n; i++) {
		fd = SD_LISTEN_FDS_START + i;
		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0) {
			(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
			ctl->fd = fd;
			ctl->activated = true;
			log_debug("Control socket: using the socket passed by systemd (fd %d)", fd);
			return 0;
		}
	}
	if (strlen(ctl->path) >= sizeof(sa.sun_path))
		return log_error_errno(-ENAMETOOLONG,
				       "Control socket path %s is too long (at most %zu bytes)", ctl->path,
				       sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, ctl->path);
	r = mkdir_parents(ctl->path);
	if (r < 0)
		return log_error_errno(r, "Failed to create the directory of the control socket %s: %m",
				       ctl->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_error_errno(-errno, "Failed to create the control socket: %m");
	if (lstat(ctl->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			close(fd);
			return log_error_errno(
			    -EEXIST, "%s exists and is not a socket: remove it or set control.socket",
			    ctl->path);
		}
		/* Someone answering there is another toolguardd: leave it alone. */
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return log_error_errno(
			    -EADDRINUSE,
			    "Another process answers on the control socket %s: not taking it over",
			    ctl->path);
		}
		close(fd);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return log_error_errno(-errno, "Failed to create the control socket: %m");
		(void)unlink(ctl->path); /* stale, from a run that did not clean up */
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return log_error_errno(r, "Failed to bind the control socket %s: %m", ctl->path);
	}
	/* Everyone may connect (status is public); the peer's credentials decide the rest. */
	if (chmod(ctl->path, 0666) < 0 || listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		close(fd);
		(void)unlink(ctl->path);
		return log_error_errno(r, "Failed to set up the control socket %s: %m", ctl->path);
	}
	ctl->fd = fd;
	return 0;
}

int tg_control_new(struct tg_daemon *d, struct tg_control **ret)
{
	struct tg_control *ctl;
	const char *path =
	    d->config && d->config->control_socket ? d->config->control_socket : TG_CONTROL_SOCKET;
	int r;

	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return log_error_errno(-ENOMEM, "Failed to set up the control socket: %m");
	ctl->d = d;
	ctl->fd = -1;
	ctl->path = strdup(path);
	if (!ctl->path) {
		free(ctl);
		return -ENOMEM;
	}
	r = listen_socket(ctl);
	if (r < 0) {
		tg_control_free(ctl);
		return r;
	}
	r = sd_event_add_io(d->event, &ctl->accept_source, ctl->fd, EPOLLIN, on_accept, ctl);
	if (r < 0) {
		log_error_errno(r, "Failed to watch the control socket: %m");
		tg_control_free(ctl);
		return r;
	}
	(void)sd_event_source_set_description(ctl->accept_source, "control");
	tg_events_set_listener(d->events, on_event_line, ctl);
	log_info("Control socket: %s", ctl->activated ? "passed by systemd" : ctl->path);
	*ret = ctl;
	return 0;
}

void tg_control_free(struct tg_control *ctl)
{
	if (!ctl)
		return;
	if (ctl->d && ctl->d->events)
		tg_events_set_listener(ctl->d->events, NULL, NULL);
	while (ctl->clients) {
		ctl->clients->busy = false;
		client_free(ctl->clients);
	}
	sd_event_source_disable_unref(ctl->accept_source);
	sd_event_source_disable_unref(ctl->accept_retry);
	if (ctl->fd >= 0 && !ctl->activated) {
		close(ctl->fd);
		(void)unlink(ctl->path);
	}
	for (size_t i = 0; i < ctl->ring_n; i++)
		free(ctl->ring[(ctl->ring_head + i) % TG_CTL_MAX_EVENTS].line);
	free(ctl->path);
	free(ctl);
}
