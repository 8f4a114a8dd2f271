/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Notices to the person whose launch was refused (or will be soon): a few
 * lines on the process's terminal, and a freedesktop notification on the
 * user's session bus, sent by a child running as that user. When the server
 * supports actions, the notification offers the policy's URL: the child waits
 * (at most 10 minutes) for a click and then opens it as that user.
 * Rate limited: one notice per tool per terminal (per user on the desktop)
 * per notices.interval; warnings once per user per tool per day.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "kernel.h"
#include "policy.h"

/* For `toolctl status`: what was told, held back, or could not be told. */
struct tg_notice_counters {
	uint64_t tty_sent;
	uint64_t tty_suppressed; /* rate limit */
	uint64_t tty_failed;	 /* open/write failed, bad tty name */
	uint64_t tty_not_owner;	 /* terminal not owned by the event's user: not written to */
	uint64_t desktop_sent;	 /* the Notify call succeeded */
	uint64_t desktop_suppressed;
	uint64_t desktop_failed;      /* no notification server, bus error, timeout, too many at once */
	uint64_t desktop_no_bus;      /* no session bus for the user ("no session bus") */
	uint64_t desktop_opened;      /* the notice's link was clicked and opened as the user */
	uint64_t desktop_open_failed; /* clicked, but the opener could not be started */
	uint64_t warnings_sent;	      /* warning notices before the cutoff (any channel) */
};

struct tg_notice_settings {
	bool tty;
	bool desktop;
	int64_t interval; /* seconds between notices per (tool, terminal), 0 = no limit */
	const char
	    *opener; /* absolute path run as OPENER URL after a click; NULL = xdg-open, else gio open */
};

struct tg_notices;

/* Blocks SIGCHLD (desktop children are reaped by the event loop). */
int tg_notices_new(struct tg_notices **ret);
void tg_notices_free(struct tg_notices *n);
const struct tg_notice_counters *tg_notices_counters(const struct tg_notices *n);
/* One log line with the counters (n may be NULL). */
void tg_notices_log_summary(const struct tg_notices *n, const char *when);

/* Tell the user about ev (BLOCK not in monitor mode, or WARN); p is the policy
 * ev->tool belongs to (may be NULL: nothing to say), event the loop that reaps
 * the desktop child (NULL: no desktop notice). Returns 1 when the user was told
 * now on some channel, 0 when not, -1 when the event is not one to tell about. */
int tg_notices_event(struct tg_notices *n, const struct tg_notice_settings *s, const struct tg_policy *p,
		     const struct tg_kernel_event *ev, sd_event *event);

/* A tg_events notifier (events.h): userdata is the struct tg_daemon. */
int tg_notices_event_hook(const struct tg_kernel_event *ev, void *userdata);

/* Copy in to out (always terminated), neutralising what a terminal would
 * interpret: C0/C1 controls, DEL, ESC, bidi overrides and invalid UTF-8 become
 * '?', tab and newline a space. Valid UTF-8 text stays. Returns strlen(out). */
size_t tg_notice_sanitize(const char *in, char *out, size_t len);

/* An http(s) URL with a host, printable ASCII only, at most 2048 bytes: the
 * only kind a click on a desktop notice opens. */
bool tg_notice_url_ok(const char *url);

/* "/dev/pts/3" for "pts3" (kernel's name) or "pts/3"; "/dev/ttyN", "/dev/ttySN";
 * -EINVAL for anything else. */
int tg_notice_tty_path(const char *tty, char *buf, size_t len);
