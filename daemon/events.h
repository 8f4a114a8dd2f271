/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The event sink: every decision the kernel reports (and every policy load
 * attempt) goes to the journal (structured, one MESSAGE_ID per kind), to the
 * events log (one JSON object per line) and into counters that `toolctl
 * status` shows. Writing the events log may fail (disk full): enforcement and
 * the journal go on, the failure is counted and logged at most once a minute.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel.h"
#include "policy.h"

#define TG_EVENTS_MAX_TOOLS 4096u /* per-tool counters kept (TG_POLICY_MAX_TOOLS) */

struct tg_tool_counters {
	char id[64];
	uint64_t blocked_execs;
	uint64_t blocked_connects;
	uint64_t warnings;
	uint64_t alerts;      /* alert rules, and would-block in monitor mode */
	uint64_t would_block; /* monitor mode: would have been blocked (also in alerts) */
	uint64_t exempt;      /* matched, allowed by an exemption */
	/* journal flood limit (added by tamper): records of this tool in the window */
	uint64_t journal_window_usec; /* CLOCK_MONOTONIC start of the current window */
	uint64_t journal_in_window;
	uint64_t journal_pending; /* held back in this window, not summarised yet */
};

struct tg_event_counters {
	struct tg_tool_counters *tools; /* by tool id; survives reloads */
	size_t n_tools, cap_tools;
	uint64_t total; /* decisions received from the kernel */
	uint64_t blocked_execs;
	uint64_t blocked_connects;
	uint64_t warnings;
	uint64_t alerts;
	uint64_t would_block;
	uint64_t exempt;
	uint64_t dropped;	     /* ring buffer overflows (tg_kernel_dropped) */
	uint64_t log_write_failures; /* events not written to the events log */
	uint64_t journal_suppressed; /* decisions kept out of the journal by the flood limit (still in the events log) */
	uint64_t policy_loaded;
	uint64_t policy_refused;
};

struct tg_events;

/* log_path NULL or "" = no events log file (journal and counters only). */
int tg_events_new(const char *log_path, struct tg_events **ret);
void tg_events_free(struct tg_events *e);
/* Switch to another events log path (reload), or reopen the same one (logrotate). */
int tg_events_set_log(struct tg_events *e, const char *log_path);
void tg_events_reopen(struct tg_events *e);
const char *tg_events_log_path(const struct tg_events *e);

/* A tg_kernel_event_fn: userdata is the struct tg_events. */
void tg_events_on_kernel_event(const struct tg_kernel_event *ev, void *userdata);

/* One load attempt. loaded: name/serial/sha256 describe the new policy.
 * Refused: name/serial are those kept in force (NULL/0 when none), source is the
 * file refused, diags and reason (either may be NULL) say why, kept (may be NULL)
 * says what stays in force ("keeping the pinned policy of an earlier run"). */
void tg_events_policy(struct tg_events *e, bool loaded, const char *name, uint64_t serial, const char *source,
		      const uint8_t *sha256, const struct tg_diags *diags, const char *reason,
		      const char *kept);

/* Tampering with the pinned maps or links found (tamper.c; added by tamper):
 * kind "tamper", verdict "repaired" / "not-repaired", what was found, what was
 * done and how long the repair took. */
void tg_events_tamper(struct tg_events *e, const char *trigger, const char *found, bool repaired,
		      const char *action, uint64_t repair_usec);
void tg_events_set_dropped(struct tg_events *e, uint64_t dropped);
/* Summarise in the journal what the flood limit held back in windows that
 * have ended (call every few seconds; added by tamper). */
void tg_events_tick(struct tg_events *e);
const struct tg_event_counters *tg_events_counters(const struct tg_events *e);
/* One line with totals and the per-tool counters that are not zero. */
void tg_events_log_summary(const struct tg_events *e, const char *when);

/* Each JSON line written (or that would be written) is also handed to the
 * listener: the control socket's `toolctl events --follow`. */
typedef void (*tg_events_listener_fn)(const char *line, size_t len, void *userdata);
void tg_events_set_listener(struct tg_events *e, tg_events_listener_fn fn, void *userdata);
/* A second listener for the same lines: the reporter (report.c) that POSTs them to report.url. */
void tg_events_set_reporter(struct tg_events *e, tg_events_listener_fn fn, void *userdata);

/* Called for every kernel decision before it is recorded (notice.c): 1 = the
 * user was told, 0 = not, -1 = nothing to tell. Blocked events get
 * "notified": true/false in the events log (added by J). */
typedef int (*tg_events_notify_fn)(const struct tg_kernel_event *ev, void *userdata);
void tg_events_set_notifier(struct tg_events *e, tg_events_notify_fn fn, void *userdata);
