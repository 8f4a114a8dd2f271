/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * toolguardd: loads the policy into the kernel and reports what the kernel
 * decides. The kernel enforces on its own; pinned programs keep enforcing
 * when this process stops, crashes or restarts.
 */
#include <malloc.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "compile.h"
#include "control.h"
#include "events.h"
#include "fetch.h"
#include "kernel.h"
#include "log.h"
#include "matcher.h"
#include "paths.h"
#include "policy.h"
#include "report.h"
#include "state.h"
#include "resolve.h"
#include "tamper.h"

#define EXIT_USAGE	     2
#define CONSUME_FAILURES_MAX 100u /* consecutive ring buffer errors before giving up on it */
#define CONSUME_BATCH	     1024u /* records per wake-up during a flood */
/* An apply may scan install locations for sha256/glob rules (up to 2 min): the
 * loop is blocked meanwhile, so tell systemd before it thinks we hang. */
#define APPLY_EXTEND_USEC (180ull * 1000000ull)

static void help(void)
{
	printf("Usage: toolguardd [OPTION...]\n"
	       "Enforce the AI coding tool policy in the kernel (eBPF) and record what it blocks.\n\n"
	       "  -c, --config FILE        daemon configuration (default %s;\n"
	       "                           when it does not exist: defaults and %s)\n"
	       "  -p, --policy FILE        policy file, instead of the configured one\n"
	       "  -m, --mode MODE          enforce | monitor (monitor: record what would be blocked)\n"
	       "  -f, --foreground         log to stderr (default when stderr is not the journal)\n"
	       "  -v, --verbose            log debug messages\n"
	       "  -n, --check              validate configuration and policy, then exit\n"
	       "      --unload             detach every program and remove the pins, then exit\n"
	       "      --force-tracepoint   never use the BPF LSM exec backend (tests)\n"
	       "      --pin-dir DIR        pin under DIR instead of %s (tests)\n"
	       "  -h, --help               show this help\n"
	       "  -V, --version            show the version\n\n"
	       "Signals: SIGHUP reloads configuration and policy; SIGUSR1 fetches policy.url now;\n"
	       "SIGTERM stops the daemon\n"
	       "(enforcement continues from the pinned programs; use --unload to remove it).\n",
	       TG_CONFIG_FILE, TG_EXAMPLE_POLICY, TG_PIN_DIR);
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "toolguardd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; see 'toolguardd --help'\n");
	return EXIT_USAGE;
}

/* Returns -1 to go on, else an exit status. */
static int parse_argv(struct tg_daemon *d, int argc, char **argv, bool *ret_check, bool *ret_unload)
{
	enum { ARG_UNLOAD = 0x100, ARG_FORCE_TRACEPOINT, ARG_PIN_DIR };
	static const struct option options[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"policy", required_argument, NULL, 'p'},
	    {"mode", required_argument, NULL, 'm'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"check", no_argument, NULL, 'n'},
	    {"unload", no_argument, NULL, ARG_UNLOAD},
	    {"force-tracepoint", no_argument, NULL, ARG_FORCE_TRACEPOINT},
	    {"pin-dir", required_argument, NULL, ARG_PIN_DIR},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:p:m:fvnhV", options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			d->config_path = optarg;
			break;
		case 'p':
			d->policy_override = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "enforce") == 0)
				d->mode_override = TG_MODE_ENFORCE;
			else if (strcmp(optarg, "monitor") == 0)
				d->mode_override = TG_MODE_MONITOR;
			else
				return usage_error("--mode must be 'enforce' or 'monitor', not '%s'", optarg);
			break;
		case 'f':
			d->foreground = true;
			break;
		case 'v':
			d->verbose = true;
			break;
		case 'n':
			*ret_check = true;
			break;
		case ARG_UNLOAD:
			*ret_unload = true;
			break;
		case ARG_FORCE_TRACEPOINT:
			d->force_tracepoint = true;
			break;
		case ARG_PIN_DIR:
			if (optarg[0] != '/')
				return usage_error("--pin-dir needs an absolute path, not '%s'", optarg);
			d->pin_dir = optarg;
			break;
		case 'h':
			help();
			return EXIT_SUCCESS;
		case 'V':
			printf("toolguardd %s\n", PACKAGE_VERSION);
			return EXIT_SUCCESS;
		case ':':
			return usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (*ret_check && *ret_unload)
		return usage_error("%s", "--check and --unload cannot be combined");
	return -1;
}

/* ---------- configuration and policy files ---------- */

static void report_diags(const struct tg_diags *diags, bool plain)
{
	char line[4096 + 256];

	for (size_t i = 0; i < diags->n; i++) {
		tg_diag_format(&diags->v[i], line, sizeof(line));
		if (plain)
			fprintf(stderr, "%s\n", line);
		else
			log_error("%s", line);
	}
	if (diags->dropped > 0) {
		if (plain)
			fprintf(stderr, "... and %zu more errors\n", diags->dropped);
		else
			log_error("... and %zu more errors", diags->dropped);
	}
}

/* A missing default configuration file is fine (defaults + example policy);
 * a missing --config file is not. */
static int load_config(const struct tg_daemon *d, bool plain, struct tg_config **ret, bool *ret_missing)
{
	const char *path = d->config_path ? d->config_path : TG_CONFIG_FILE;
	struct tg_diags diags = {};
	struct tg_config *c = NULL;
	struct stat st;
	int r;

	if (!d->config_path && stat(path, &st) < 0 && errno == ENOENT) {
		r = tg_config_defaults(&c);
		if (r < 0)
			return log_error_errno(r, "Failed to set up the default configuration: %m");
		*ret = c;
		*ret_missing = true;
		return 0;
	}
	r = tg_config_load_file(path, &c, &diags);
	if (r < 0) {
		if (diags.n > 0)
			report_diags(&diags, plain);
		else if (plain)
			fprintf(stderr, "%s: %s\n", path, strerror(-r));
		else
			log_error_errno(r, "Failed to read configuration %s: %m", path);
		tg_diags_free(&diags);
		return r;
	}
	tg_diags_free(&diags);
	*ret = c;
	*ret_missing = false;
	return 0;
}

/* --policy, else the example policy when there is no configuration file, else the
 * cached central policy (the last good one) when a url is configured, else policy.file. */
static const char *policy_path(const struct tg_daemon *d, const struct tg_config *c, bool config_missing)
{
	if (d->policy_override)
		return d->policy_override;
	if (config_missing)
		return TG_EXAMPLE_POLICY;
	if (c->policy_url && c->policy_cache && access(c->policy_cache, R_OK) == 0)
		return c->policy_cache;
	return c->policy_file ? c->policy_file : TG_POLICY_FILE;
}

/* Only policy.url: no local file and nothing cached yet. Then there is nothing to
 * load, which is not an error: the daemon starts and the first fetch brings the policy. */
static bool policy_awaits_fetch(const struct tg_daemon *d, const struct tg_config *c, bool config_missing,
				const char *path)
{
	return !d->policy_override && !config_missing && c->policy_url && access(path, F_OK) < 0 &&
	       errno == ENOENT;
}

static int load_policy(const char *path, bool plain, struct tg_policy **ret, struct tg_diags *diags)
{
	int r;

	r = tg_policy_load_file(path, ret, diags);
	if (r < 0) {
		if (diags->n > 0)
			report_diags(diags, plain);
		else if (plain)
			fprintf(stderr, "%s: %s\n", path, strerror(-r));
		else
			log_error_errno(r, "Failed to read policy %s: %m", path);
		if (r == -ENOENT && strcmp(path, TG_EXAMPLE_POLICY) == 0) {
			/* Running from a build tree, or a broken install. */
			if (plain)
				fprintf(
				    stderr,
				    "No configuration %s and no example policy: pass --config or --policy\n",
				    TG_CONFIG_FILE);
			else
				log_error(
				    "No configuration %s and no example policy: pass --config or --policy",
				    TG_CONFIG_FILE);
		}
	}
	return r;
}

static int run_check(struct tg_daemon *d)
{
	struct tg_config *c = NULL;
	struct tg_policy *p = NULL;
	struct tg_diags diags = {};
	const char *path;
	bool missing = false;
	int r;

	r = load_config(d, true, &c, &missing);
	if (r < 0)
		return EXIT_FAILURE;
	path = policy_path(d, c, missing);
	if (policy_awaits_fetch(d, c, missing, path)) {
		printf("%s does not exist and nothing is cached: the policy is fetched from policy.url at start\n"
		       "configuration OK\n",
		       path);
		tg_config_free(c);
		return EXIT_SUCCESS;
	}
	r = load_policy(path, true, &p, &diags);
	tg_diags_free(&diags);
	if (r >= 0) {
		if (d->verbose)
			printf("%s: OK (policy %s serial %" PRIu64 ", %zu tools)\n", path,
			       p->name ? p->name : "?", p->serial, p->n_tools);
		printf("configuration OK\n");
	}
	tg_policy_free(p);
	tg_config_free(c);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---------- status ---------- */

void tg_daemon_status_line(const struct tg_daemon *d, char *buf, size_t len)
{
	const char *backend = d->kernel ? tg_exec_backend_name(tg_kernel_exec_backend(d->kernel)) : "no";

	if (!d->policy && d->policy_awaiting_fetch)
		snprintf(buf, len, "no policy yet, fetching from URL %s (%s)",
			 d->sync.url[0] ? d->sync.url : "(policy.url)",
			 d->kernel && tg_kernel_adopted(d->kernel)
			     ? "the pinned policy of an earlier run is enforced until then"
			     : "nothing is enforced until then");
	else if (!d->policy)
		snprintf(
		    buf, len,
		    "enforcing the pinned policy of an earlier run (%s backend); the configured policy was "
		    "refused, see the log",
		    backend);
	else if (d->mode == TG_MODE_MONITOR)
		snprintf(buf, len, "monitoring policy %s serial %" PRIu64 " (%s backend; nothing is blocked)",
			 d->policy->name ? d->policy->name : "?", d->policy->serial, backend);
	else
		snprintf(buf, len, "enforcing policy %s serial %" PRIu64 " (%s backend)",
			 d->policy->name ? d->policy->name : "?", d->policy->serial, backend);
}

static void notify_ready(const struct tg_daemon *d)
{
	char status[512];

	tg_daemon_status_line(d, status, sizeof(status));
	(void)sd_notifyf(false, "READY=1\nSTATUS=%s", status);
}

static void describe_kept(const struct tg_daemon *d, char *buf, size_t len)
{
	if (d->policy)
		snprintf(buf, len, "keeping policy %s serial %" PRIu64,
			 d->policy->name ? d->policy->name : "?", d->policy->serial);
	else
		snprintf(buf, len, "keeping the pinned policy of an earlier run");
}

/* ---------- time transitions ---------- */

static int64_t now_sec(void)
{
	return (int64_t)time(NULL);
}

/* The kernel switches states itself (instants are in its maps); this only says so in the log. */
static int schedule_transition(struct tg_daemon *d);

static int on_transition(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct tg_daemon *d = userdata;
	int64_t now = now_sec();

	if (!d->policy || !d->tool_states)
		return 0;
	for (size_t i = 0; i < d->policy->n_tools; i++) {
		const struct tg_tool *t = &d->policy->tools[i];
		enum tg_tool_state st = tg_tool_state_at(d->policy, t, now, NULL);

		if (st == d->tool_states[i])
			continue;
		d->tool_states[i] = st;
		log_notice("%s: now %s", t->id, tg_tool_state_name(st));
	}
	(void)schedule_transition(d);
	return 0;
}

static int schedule_transition(struct tg_daemon *d)
{
	int64_t now = now_sec(), next = INT64_MAX;
	uint64_t usec;
	int r;

	if (!d->event)
		return 0; /* setup_loop() schedules the first one */

	if (d->policy)
		for (size_t i = 0; i < d->policy->n_tools; i++) {
			int64_t n = INT64_MAX;

			(void)tg_tool_state_at(d->policy, &d->policy->tools[i], now, &n);
			if (n < next)
				next = n;
		}
	if (next == INT64_MAX) {
		if (d->transition_timer)
			(void)sd_event_source_set_enabled(d->transition_timer, SD_EVENT_OFF);
		return 0;
	}
	if (next <= now)
		next = now + 1;
	/* Instants past the year 2262 do not fit in usec: no message for those. */
	if (next > (int64_t)(UINT64_MAX / 1000000u / 2)) {
		if (d->transition_timer)
			(void)sd_event_source_set_enabled(d->transition_timer, SD_EVENT_OFF);
		return 0;
	}
	usec = (uint64_t)next * 1000000u;
	if (!d->transition_timer) {
		r = sd_event_add_time(d->event, &d->transition_timer, CLOCK_REALTIME, usec, 0, on_transition,
				      d);
		if (r < 0)
			return log_warning_errno(r, "Failed to set up the transition timer: %m");
		(void)sd_event_source_set_description(d->transition_timer, "transition");
		return 0;
	}
	r = sd_event_source_set_time(d->transition_timer, usec);
	if (r >= 0)
		r = sd_event_source_set_enabled(d->transition_timer, SD_EVENT_ONESHOT);
	if (r < 0)
		return log_warning_errno(r, "Failed to set up the transition timer: %m");
	return 0;
}

/* Record (and log) each tool's state under the policy just applied. */
static void snapshot_states(struct tg_daemon *d)
{
	int64_t now = now_sec();
	enum tg_tool_state *states = NULL;

	free(d->tool_states);
	d->tool_states = NULL;
	if (!d->policy)
		return;
	if (d->policy->n_tools > 0)
		states = calloc(d->policy->n_tools, sizeof(*states));
	for (size_t i = 0; i < d->policy->n_tools; i++) {
		const struct tg_tool *t = &d->policy->tools[i];
		int64_t next = INT64_MAX;
		enum tg_tool_state st = tg_tool_state_at(d->policy, t, now, &next);
		char when[64];

		if (states)
			states[i] = st;
		if (!tg_compile_tool_in_rollout(t))
			log_info("%s: not in its rollout (%d%%) on this machine: inactive", t->id,
				 t->rollout_percent);
		else if (next == INT64_MAX)
			log_info("%s: %s", t->id, tg_tool_state_name(st));
		else
			log_info("%s: %s until %s", t->id, tg_tool_state_name(st),
				 tg_format_time_local(next, when, sizeof(when)));
	}
	d->tool_states = states;
}

/* ---------- applying a policy ---------- */

/* What the compile had to say (unknown exemption names, scan limits...) and what the scan did. */
static void report_compile(const struct tg_daemon *d)
{
	const struct tg_compiled *c = tg_kernel_compiled(d->kernel);
	struct tg_compiled_scan_stats st = {};
	const char *const *w = NULL;
	size_t n;

	if (!c)
		return;
	n = tg_compiled_warnings(c, &w);
	for (size_t i = 0; i < n && w; i++)
		log_warning("%s", w[i]);
	tg_compiled_scan_stats(c, &st);
	if (st.ran)
		log_info("Scanned install locations for sha256/glob rules: %zu roots, %zu entries, %zu files "
			 "hashed, %zu matches in %.1f s%s",
			 st.roots, st.entries, st.hashed, st.hits, (double)st.duration_ns / 1e9,
			 st.truncated ? "; stopped early at a limit, see the warnings" : "");
}

/* Apply p (owned by the caller until success, then by d) with mode. */
static int apply(struct tg_daemon *d, struct tg_policy *p, enum tg_mode mode)
{
	char why[512] = "";
	struct tg_policy *old;
	int r;

	/* Record what the ring holds while the policy those events refer to is still in force. */
	if (d->kernel_source)
		(void)tg_kernel_consume(d->kernel, tg_events_on_kernel_event, d->events);
	(void)sd_notifyf(false, "WATCHDOG=1\nEXTEND_TIMEOUT_USEC=%llu", APPLY_EXTEND_USEC);
	r = tg_kernel_apply_policy(d->kernel, p, mode, why, sizeof(why));
	(void)sd_notify(false, "WATCHDOG=1");
	/* Loading and compiling (kernel BTF, scan, map arrays) leave megabytes of
	 * freed heap; give them back so the idle daemon stays small. */
	malloc_trim(0);
	if (r < 0) {
		char kept[256];

		describe_kept(d, kept, sizeof(kept));
		log_error("Failed to apply policy %s serial %" PRIu64 " from %s: %s; %s", p->name ? p->name : "?",
			  p->serial, p->source ? p->source : "?", why[0] ? why : strerror(-r), kept);
		tg_events_policy(d->events, false, d->policy ? d->policy->name : NULL,
				 d->policy ? d->policy->serial : 0, p->source, NULL, NULL,
				 why[0] ? why : strerror(-r), kept);
		return r;
	}
	if (d->policy && p->serial < d->policy->serial)
		log_warning("Policy serial went down from %" PRIu64 " to %" PRIu64
			    " (%s); published policies should raise it",
			    d->policy->serial, p->serial, p->source ? p->source : "?");
	old = d->policy;
	d->policy = p;
	d->mode = mode;
	d->policy_loaded_usec = now_usec(CLOCK_REALTIME);
	d->policy_awaiting_fetch = false;
	tg_policy_free(old); /* only now: events of the old policy are consumed */
	tg_resolver_policy_changed(d->resolver); /* before arming: new names' entries come later anyway */
	tg_tamper_arm(d->tamper);
	tg_events_policy(d->events, true, p->name, p->serial, p->source, p->sha256, NULL, NULL, NULL);
	report_compile(d);
	log_info("Policy %s serial %" PRIu64 ": %zu tools, %s mode", p->name ? p->name : "?", p->serial,
		 p->n_tools, tg_mode_name(mode));
	snapshot_states(d);
	(void)schedule_transition(d);
	return 0;
}

int tg_daemon_apply_fetched(struct tg_daemon *d, struct tg_policy *p)
{
	char status[512];
	int r;

	if (!d->kernel)
		return -ENODEV;
	r = apply(d, p, d->mode_override >= 0 ? (enum tg_mode)d->mode_override : d->config->mode);
	if (r >= 0) {
		/* systemctl status shows the serial now in force, not the one of the start */
		tg_daemon_status_line(d, status, sizeof(status));
		(void)sd_notifyf(false, "STATUS=%s", status);
	}
	return r;
}

/* kept: what stays in force, NULL to say it from d */
static void refused(struct tg_daemon *d, const char *path, const struct tg_diags *diags, int r,
		    const char *kept)
{
	char reason[128], kbuf[256];

	if (diags->n > 0)
		snprintf(reason, sizeof(reason), "%zu errors", diags->n + diags->dropped);
	else
		snprintf(reason, sizeof(reason), "%s", strerror(-r));
	if (!kept) {
		describe_kept(d, kbuf, sizeof(kbuf));
		kept = kbuf;
	}
	tg_events_policy(d->events, false, d->policy ? d->policy->name : NULL,
			 d->policy ? d->policy->serial : 0, path, NULL, diags, reason, kept);
}

int tg_daemon_reload(struct tg_daemon *d)
{
	struct tg_config *c = NULL;
	struct tg_policy *p = NULL;
	struct tg_diags diags = {};
	enum tg_mode mode;
	const char *path;
	char kept[256];
	bool missing = false;
	int r;

	(void)sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=reloading",
			 now_usec(CLOCK_MONOTONIC));
	log_info("Reloading configuration and policy");
	d->reloads++;
	/* Whatever else happens, follow logrotate. */
	tg_events_reopen(d->events);

	r = load_config(d, false, &c, &missing);
	if (r < 0) {
		describe_kept(d, kept, sizeof(kept));
		log_error("Configuration refused; keeping the configuration in force and %s", kept);
		snprintf(d->last_reload_error, sizeof(d->last_reload_error), "configuration refused");
		goto fail;
	}
	mode = d->mode_override >= 0 ? (enum tg_mode)d->mode_override : c->mode;
	path = policy_path(d, c, missing);
	if (policy_awaits_fetch(d, c, missing, path)) {
		/* Nothing to load yet: keep what is in force, take the configuration, fetch. */
		if (!d->policy)
			d->policy_awaiting_fetch = true;
		log_info("No policy file %s and nothing cached yet: the policy in force stays until the fetch", path);
		goto take_config;
	}
	r = load_policy(path, false, &p, &diags);
	if (r < 0) {
		refused(d, path, &diags, r, NULL);
		snprintf(d->last_reload_error, sizeof(d->last_reload_error), "policy %s refused", path);
		goto fail;
	}
	if (!d->kernel) {
		tg_policy_free(p);
		r = -ENODEV;
		goto fail;
	}
	/* the configuration's network.inspect_ports go into the new generation */
	tg_kernel_set_inspect(d->kernel, c);
	r = apply(d, p, mode);
	if (r < 0) {
		tg_kernel_set_inspect(d->kernel, d->config);
		snprintf(d->last_reload_error, sizeof(d->last_reload_error), "policy %s could not be applied",
			 path);
		tg_policy_free(p);
		goto fail;
	}
take_config:
	if (!c->events_log || !tg_events_log_path(d->events) ||
	    strcmp(c->events_log, tg_events_log_path(d->events)) != 0) {
		int k = tg_events_set_log(d->events, c->events_log);
		if (k < 0)
			log_warning_errno(k, "cannot open events log %s: %m; events are still in the journal",
					  c->events_log ? c->events_log : "(none)");
	}
	tg_config_free(d->config);
	d->config = c;
	d->config_missing = missing;
	tg_kernel_set_inspect(d->kernel, c); /* also when no policy was applied: from the next apply on */
	d->last_reload_error[0] = 0;
	tg_fetch_config_changed(d); /* policy.url may have changed: fetch now */
	tg_report_config_changed(d);
	tg_diags_free(&diags);
	tg_events_log_summary(d->events, "at reload");
	notify_ready(d);
	return 0;

fail:
	d->reload_failures++;
	tg_config_free(c);
	tg_diags_free(&diags);
	tg_events_log_summary(d->events, "at reload");
	notify_ready(d);
	return r;
}

/* ---------- event loop ---------- */

static int on_kernel_event(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct tg_daemon *d = userdata;
	int r;

	/* a bounded batch: the fd stays readable, other sources get their turn */
	r = tg_kernel_consume_max(d->kernel, tg_events_on_kernel_event, d->events, CONSUME_BATCH);
	tg_events_set_dropped(d->events, tg_kernel_dropped(d->kernel));
	if (r >= 0 || r == -EINTR || r == -EAGAIN) {
		d->consume_failures = 0;
		return 0;
	}
	if (++d->consume_failures == 1)
		log_error_errno(r, "Failed to read events from the kernel: %m");
	if (d->consume_failures >= CONSUME_FAILURES_MAX) {
		/* Enforcement is in the kernel and goes on; only reporting stops. */
		log_error(
		    "Giving up reading kernel events after %u failures; blocking continues but is no longer "
		    "recorded until the daemon restarts",
		    d->consume_failures);
		(void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
	}
	return 0;
}

static int on_watch(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct tg_daemon *d = userdata;
	int r;

	r = tg_kernel_watch_process(d->kernel);
	if (r < 0 && r != -EAGAIN && r != -EINTR)
		log_warning_errno(r, "Failed to process new executables: %m");
	return 0;
}

static int on_watchdog(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct tg_daemon *d = userdata;

	(void)sd_notify(false, "WATCHDOG=1");
	(void)sd_event_source_set_time(s, usec + d->watchdog_usec / 2);
	(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct tg_daemon *d = userdata;

	(void)tg_tamper_check(d->tamper, "SIGHUP"); /* the reload re-applies, but say what was found */
	(void)tg_daemon_reload(d);
	return 0;
}

static int on_stop(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	log_info("Received %s, stopping; the pinned programs keep enforcing the policy",
		 si->ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
	return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int setup_loop(struct tg_daemon *d)
{
	sigset_t mask;
	int fd, r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return log_error_errno(-errno, "Failed to block signals: %m");

	r = sd_event_default(&d->event);
	if (r < 0)
		return log_error_errno(r, "Failed to create the event loop: %m");
	r = sd_event_add_signal(d->event, NULL, SIGTERM, on_stop, d);
	if (r >= 0)
		r = sd_event_add_signal(d->event, NULL, SIGINT, on_stop, d);
	if (r >= 0)
		r = sd_event_add_signal(d->event, NULL, SIGHUP, on_sighup, d);
	if (r < 0)
		return log_error_errno(r, "Failed to set up signal handling: %m");

	fd = tg_kernel_event_fd(d->kernel);
	if (fd >= 0) {
		r = sd_event_add_io(d->event, &d->kernel_source, fd, EPOLLIN, on_kernel_event, d);
		if (r < 0)
			return log_error_errno(r, "Failed to watch the kernel event ring: %m");
		(void)sd_event_source_set_description(d->kernel_source, "kernel-events");
	} else {
		log_warning("The kernel side offers no event ring: decisions are enforced but not recorded");
	}
	fd = tg_kernel_watch_fd(d->kernel);
	if (fd >= 0) {
		r = sd_event_add_io(d->event, &d->watch_source, fd, EPOLLIN, on_watch, d);
		if (r < 0)
			return log_error_errno(r, "Failed to watch for new executables: %m");
		(void)sd_event_source_set_description(d->watch_source, "file-watch");
	}

	if (sd_watchdog_enabled(false, &d->watchdog_usec) > 0 && d->watchdog_usec > 0) {
		uint64_t now;

		(void)sd_event_now(d->event, CLOCK_MONOTONIC, &now);
		r = sd_event_add_time(d->event, &d->watchdog_timer, CLOCK_MONOTONIC,
				      now + d->watchdog_usec / 2, 0, on_watchdog, d);
		if (r < 0)
			return log_error_errno(r, "Failed to set up the watchdog timer: %m");
		log_debug("Watchdog: pinging every %" PRIu64 " ms", d->watchdog_usec / 2000);
	}
	return schedule_transition(d);
}

int tg_daemon_swap_kernel(struct tg_daemon *d, struct tg_kernel *k)
{
	int fd, r;

	if (d->kernel)
		(void)tg_kernel_consume(d->kernel, tg_events_on_kernel_event, d->events);
	d->kernel_source = sd_event_source_disable_unref(d->kernel_source);
	d->watch_source = sd_event_source_disable_unref(d->watch_source);
	tg_kernel_close(d->kernel);
	d->kernel = k;
	tg_resolver_policy_changed(d->resolver); /* its hooks and held addresses onto the new kernel */
	fd = tg_kernel_event_fd(k);
	if (fd >= 0) {
		r = sd_event_add_io(d->event, &d->kernel_source, fd, EPOLLIN, on_kernel_event, d);
		if (r < 0)
			log_warning_errno(r, "Failed to watch the new kernel event ring: %m; events are not recorded");
	}
	fd = tg_kernel_watch_fd(k);
	if (fd >= 0) {
		r = sd_event_add_io(d->event, &d->watch_source, fd, EPOLLIN, on_watch, d);
		if (r < 0)
			log_warning_errno(r, "Failed to watch for new executables: %m");
	}
	d->consume_failures = 0;
	return 0;
}

static void daemon_free(struct tg_daemon *d)
{
	tg_resolver_free(d->resolver);
	tg_tamper_free(d->tamper);
	sd_event_source_unref(d->kernel_source);
	sd_event_source_unref(d->watch_source);
	sd_event_source_unref(d->transition_timer);
	sd_event_source_unref(d->watchdog_timer);
	tg_fetch_free(d->fetch);
	tg_report_free(d->report); /* flushes what is pending to the spool */
	d->report = NULL;
	tg_control_free(d->control);
	tg_notices_free(d->notices); /* before the loop: it holds desktop child sources */
	sd_event_unref(d->event);
	if (d->kernel)
		tg_kernel_close(d->kernel); /* pins stay: enforcement continues */
	tg_events_free(d->events);
	tg_policy_free(d->policy);
	tg_config_free(d->config);
	free(d->tool_states);
}

static bool pins_present(const struct tg_daemon *d)
{
	struct stat st;

	return stat(d->pin_dir ? d->pin_dir : TG_PIN_DIR, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Leave after a failed start. Pins this run created for a policy it could not
 * apply are removed, so that a later start does not mistake them for a policy
 * that was in force; pins of an earlier run (not adoptable by this version) keep
 * enforcing their policy. */
static void abandon_start(struct tg_daemon *d, bool had_pins)
{
	char why[256] = "";
	int r;

	tg_kernel_close(d->kernel);
	d->kernel = NULL;
	if (had_pins) {
		log_warning("The pins under %s of an earlier run stay and keep enforcing their policy",
			    d->pin_dir ? d->pin_dir : TG_PIN_DIR);
		return;
	}
	r = tg_kernel_unload_at(d->pin_dir, why, sizeof(why));
	if (r < 0)
		log_warning_errno(r, "Failed to remove the programs loaded by this run: %s: %m", why);
}

/* sha256 results survive restarts; TOOLGUARD_HASH_CACHE="" turns that off (tests). */
static void setup_hashcache_file(void)
{
	const char *hc = getenv("TOOLGUARD_HASH_CACHE");
	int r;

	r = tg_compile_set_hashcache_file(hc ? (*hc ? hc : NULL) : TG_HASH_CACHE);
	if (r < 0)
		log_warning_errno(r, "Failed to set up the hash cache file: %m");
}

/* Rollout selection (tools[].rollout.percent) is keyed on the machine id. */
static void setup_machine_id(void)
{
	char id[128] = "";
	FILE *f = fopen("/etc/machine-id", "re");

	if (f) {
		if (!fgets(id, sizeof(id), f))
			id[0] = '\0';
		fclose(f);
	}
	id[strcspn(id, " \t\r\n")] = '\0';
	if (!id[0])
		log_warning("No /etc/machine-id: every rollout percentage applies to this machine");
	(void)tg_compile_set_machine_id(id);
}

static int run(struct tg_daemon *d)
{
	struct tg_kernel_options kopts = {
	    .force_tracepoint = d->force_tracepoint,
	    .verbose = d->verbose,
	    .pin_dir = d->pin_dir,
	};
	struct tg_policy *p = NULL;
	struct tg_diags diags = {};
	const char *path;
	char why[512] = "";
	bool missing = false, had_pins;
	sigset_t hup;
	int r, pr;

	d->started_usec = now_usec(CLOCK_REALTIME);
	/* A reload asked for during start-up (maybe a long scan) waits for the loop instead of
	 * killing us; SIGTERM keeps its default until then (the pins stay either way). */
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	(void)sigprocmask(SIG_BLOCK, &hup, NULL);
	r = load_config(d, false, &d->config, &missing);
	if (r < 0) {
		log_error("Configuration %s refused: fix it (check with 'toolguardd --check')",
			  d->config_path ? d->config_path : TG_CONFIG_FILE);
		return EXIT_FAILURE;
	}
	d->config_missing = missing;
	if (missing)
		log_notice("No configuration file %s: running with defaults", TG_CONFIG_FILE);
	d->mode = d->mode_override >= 0 ? (enum tg_mode)d->mode_override : d->config->mode;

	r = tg_events_new(d->config->events_log, &d->events);
	if (r < 0)
		return log_error_errno(r, "Failed to set up the event sink: %m"), EXIT_FAILURE;
	/* Notices are a courtesy: without them enforcement and recording go on. */
	r = tg_notices_new(&d->notices);
	if (r < 0)
		log_warning_errno(r, "Failed to set up notices, users will not be told of refusals: %m");
	tg_events_set_notifier(d->events, tg_notices_event_hook, d);
	/* Before the first event: the start-up policy events are reported too. */
	if (tg_report_new(d) < 0)
		log_warning("Running without event reporting: events stay in the journal and the events log");

	/* Parse before touching the kernel: with no pins and a bad policy there is nothing to start. */
	path = policy_path(d, d->config, missing);
	d->policy_awaiting_fetch = policy_awaits_fetch(d, d->config, missing, path);
	pr = d->policy_awaiting_fetch ? -ENOENT : load_policy(path, false, &p, &diags);
	had_pins = pins_present(d);
	if (pr < 0 && !had_pins && !d->policy_awaiting_fetch) {
		refused(d, path, &diags, pr, "no policy in force and none pinned: not starting");
		log_error("Fix %s (check with 'toolguardd --check') and start toolguardd again", path);
		tg_diags_free(&diags);
		return EXIT_FAILURE;
	}

	setup_hashcache_file();
	setup_machine_id();

	/* Adopts the pins if present: their policy stays enforced until apply(). */
	r = tg_kernel_open(&kopts, &d->kernel, why, sizeof(why));
	if (r < 0) {
		log_error_errno(r, "Failed to load the BPF programs: %s: %m%s", why[0] ? why : "error",
				geteuid() != 0 ? " (run toolguardd as root)" : "");
		tg_policy_free(p);
		tg_diags_free(&diags);
		return EXIT_FAILURE;
	}
	if (tg_kernel_adopted(d->kernel))
		log_info("Kernel: exec backend %s, connect backend %s, adopted the pinned programs of an "
			 "earlier run",
			 tg_exec_backend_name(tg_kernel_exec_backend(d->kernel)),
			 tg_kernel_connect_backend(d->kernel));
	else
		log_info("Kernel: exec backend %s, connect backend %s, programs loaded and pinned under %s",
			 tg_exec_backend_name(tg_kernel_exec_backend(d->kernel)),
			 tg_kernel_connect_backend(d->kernel), d->pin_dir ? d->pin_dir : TG_PIN_DIR);
	tg_kernel_set_inspect(d->kernel, d->config);
	if (!tg_kernel_stream_checks(d->kernel))
		log_info("Kernel: host names NOT checked in HTTP CONNECT lines and TLS server names "
			 "(sockops/sk_msg unavailable)");
	else if (d->config->inspect_all)
		log_info("Kernel: host names checked in HTTP CONNECT lines and TLS server names of every TCP "
			 "connection");
	else {
		char ports[TG_CONFIG_INSPECT_PORTS_TEXT];

		tg_ports_text(d->config->inspect_ports, TG_CONFIG_INSPECT_PORTS_MAX, ports, sizeof(ports));
		log_info("Kernel: host names checked in HTTP CONNECT lines and TLS server names on ports %s "
			 "and to addresses shared with allowed names (network.inspect_ports)",
			 ports);
	}
	/* Host names of the policy resolved ahead of time, on the loop (never blocks it). */
	r = tg_resolver_new(d, &d->resolver);
	if (r < 0)
		log_warning_errno(r, "Failed to set up the host name resolver, names are banned only as the kernel "
				     "sees DNS answers: %m");

	if (pr < 0 && d->policy_awaiting_fetch) {
		tg_diags_free(&diags);
		log_notice("No policy yet: %s does not exist and nothing is cached; %s until the first fetch from %s",
			   path,
			   tg_kernel_adopted(d->kernel) ? "the pinned policy of an earlier run is enforced"
							: "nothing is enforced",
			   d->config->policy_url);
	} else if (pr < 0) {
		refused(
		    d, path, &diags, pr,
		    tg_kernel_adopted(d->kernel)
			? NULL
			: "the pins of an earlier run (not adoptable by this version) keep enforcing; not "
			  "starting");
		tg_diags_free(&diags);
		if (!tg_kernel_adopted(d->kernel)) {
			abandon_start(d, had_pins);
			return EXIT_FAILURE;
		}
		log_warning("Running on the pinned policy of an earlier run; fix %s and send SIGHUP", path);
		if (d->mode_override >= 0)
			log_warning("--mode %s not applied: it takes effect with the next good policy",
				    tg_mode_name(d->mode));
	} else {
		tg_diags_free(&diags);
		r = apply(d, p, d->mode);
		if (r < 0) {
			tg_policy_free(p);
			if (!tg_kernel_adopted(d->kernel)) {
				abandon_start(d, had_pins);
				return EXIT_FAILURE;
			}
			log_warning("Running on the pinned policy of an earlier run");
		}
	}

	r = setup_loop(d);
	if (r < 0)
		return EXIT_FAILURE;
	/* Root can edit the pinned maps: compare them with what was applied, repair. */
	r = tg_tamper_new(d, &d->tamper);
	if (r < 0)
		log_warning_errno(r, "Failed to set up tamper checks, edits of the pinned maps go unnoticed: %m");
	/* toolctl's view; enforcement does not depend on it */
	if (tg_control_new(d, &d->control) < 0)
		log_warning("Running without a control socket: toolctl status/reload will not reach this daemon");
	/* Central policy: the cache (if any) is in force already; fetch now and every interval. */
	if (!d->policy_override && tg_fetch_start(d) < 0)
		log_warning("Running without central policy fetching: the policy in force stays");
	if (d->report && tg_report_attach(d) < 0)
		log_warning("Event reporting cannot send: events wait in the spool until a restart");
	notify_ready(d);

	r = sd_event_loop(d->event);
	(void)sd_notify(false, "STOPPING=1\nSTATUS=stopping; the pinned programs keep enforcing");
	if (d->kernel) {
		/* Record what is still in the ring before going. */
		(void)tg_kernel_consume(d->kernel, tg_events_on_kernel_event, d->events);
		tg_events_set_dropped(d->events, tg_kernel_dropped(d->kernel));
	}
	tg_report_flush(d); /* the last events wait in the spool for the next run */
	tg_events_log_summary(d->events, "at exit");
	tg_notices_log_summary(d->notices, "at exit");
	if (r < 0)
		return log_error_errno(r, "Event loop failed: %m"), EXIT_FAILURE;
	return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	struct tg_daemon d = {.mode_override = -1};
	bool check = false, unload = false;
	int r;

	r = parse_argv(&d, argc, argv, &check, &unload);
	if (r >= 0)
		return r;
	log_open(d.foreground || check || unload);
	log_set_max_level(d.verbose ? LOG_DEBUG : LOG_INFO);
	signal(SIGPIPE, SIG_IGN);

	if (check)
		return run_check(&d);
	if (unload) {
		char why[512] = "";

		r = tg_kernel_unload_at(d.pin_dir, why, sizeof(why));
		if (r < 0) {
			errno = -r;
			fprintf(stderr, "toolguardd: failed to unload: %s: %m%s\n", why[0] ? why : "error",
				geteuid() != 0 ? " (run as root)" : "");
			return EXIT_FAILURE;
		}
		printf("toolguard programs detached and pins removed; nothing is enforced until toolguardd "
		       "starts "
		       "again\n");
		return EXIT_SUCCESS;
	}

	r = run(&d);
	daemon_free(&d);
	return r;
}
