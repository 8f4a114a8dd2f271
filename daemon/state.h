/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's state in one place: what the control socket (toolctl status,
 * reload, events) reads and drives. Owned by toolguardd.c.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "events.h"
#include "kernel.h"
#include "matcher.h"
#include "notice.h"
#include "policy.h"

struct tg_fetch;
struct tg_report;

/* Central policy sync (daemon/fetch.c), shown by `toolctl status`. Times are
 * CLOCK_REALTIME usec, 0 = never. */
struct tg_sync_state {
	bool enabled;		  /* a policy.url is configured and fetched */
	bool running;		  /* a fetch is in progress */
	char url[1024];		  /* policy.url being fetched ("" = none) */
	uint64_t last_attempt_usec;
	uint64_t last_success_usec; /* last fetch that ended with the server's policy in force */
	uint64_t next_attempt_usec;
	char last_error[512];	  /* "" after a success */
	char last_outcome[512];	  /* "not modified (304)", "policy acme serial 43 applied", ... */
	char etag[256];		  /* validator of the policy in force ("" = none) */
	char last_modified[64];
	uint64_t serial;	  /* serial of the central policy in force (0 = none yet) */
	uint64_t attempts, not_modified, applied, refused, failures;
	unsigned consecutive_failures; /* drives the backoff */
};

struct tg_daemon {
	/* command line */
	const char *config_path; /* NULL = TG_CONFIG_FILE, missing is fine */
	const char *policy_override;
	int mode_override; /* -1, or enum tg_mode */
	bool foreground;
	bool verbose;
	bool force_tracepoint;
	const char *pin_dir; /* NULL = TG_PIN_DIR */

	/* configuration in force */
	struct tg_config *config;
	bool config_missing; /* no configuration file: defaults + example policy */
	enum tg_mode mode;

	/* policy in force; NULL while running on pins adopted from an earlier run
	 * because the configured policy was refused */
	struct tg_policy *policy;
	uint64_t policy_loaded_usec;	 /* CLOCK_REALTIME */
	enum tg_tool_state *tool_states; /* per tool of ->policy, for transition messages */

	struct tg_kernel *kernel;
	struct tg_events *events;
	struct tg_notices *notices; /* terminal/desktop notices; counters: tg_notices_counters() */
	struct tg_control *control;  /* control socket (control.c); NULL when it could not be set up */

	uint64_t started_usec; /* CLOCK_REALTIME */
	uint64_t reloads, reload_failures;
	char last_reload_error[512]; /* "" after a good reload */

	sd_event *event;
	sd_event_source *kernel_source, *watch_source, *transition_timer, *watchdog_timer;
	uint64_t watchdog_usec;
	unsigned consume_failures;

	struct tg_tamper *tamper; /* tamper.c: checks the pins against what was applied */
	struct tg_fetch *fetch; /* NULL unless a central policy may be fetched */
	struct tg_sync_state sync;
	/* only policy.url configured, no local file and no cache yet: nothing of
	 * ours is enforced until the first fetch (added by "report") */
	bool policy_awaiting_fetch;
	struct tg_report *report; /* events POSTed to report_url (report.c); NULL when off */
	struct tg_resolver *resolver; /* resolve.c: policy host names resolved ahead of time; may be NULL */
};

/* Re-read configuration and policy (SIGHUP, toolctl reload). All or nothing:
 * on any error what is in force stays in force. 0 or -errno. */
int tg_daemon_reload(struct tg_daemon *d);
/* Apply a policy fetched from policy.url (fetch.c) with the mode in force; p is
 * owned by d on success, by the caller on failure (a policy event says why). */
int tg_daemon_apply_fetched(struct tg_daemon *d, struct tg_policy *p);
/* Put k (open, policy applied) in place of d->kernel: event sources follow,
 * the old one is closed (tamper.c's link repair; added by tamper). */
int tg_daemon_swap_kernel(struct tg_daemon *d, struct tg_kernel *k);
/* "enforcing policy acme serial 42 (tracepoint backend)" */
void tg_daemon_status_line(const struct tg_daemon *d, char *buf, size_t len);

static inline const char *tg_mode_name(enum tg_mode m)
{
	return m == TG_MODE_MONITOR ? "monitor" : "enforce";
}
