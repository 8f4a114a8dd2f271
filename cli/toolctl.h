/* SPDX-License-Identifier: GPL-2.0-or-later */
/* toolctl: shared between the command files (toolctl.c, cmd_policy.c, cmd_test.c). */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "policy.h"

/* Exit codes (toolctl(8)): 1 = the answer is "no" or the input is invalid. */
#define EXIT_NO	      1
#define EXIT_USAGE    2
#define EXIT_NODAEMON 3

struct toolctl {
	const char *config_file; /* --config, $TOOLGUARD_CONFIG, else TG_CONFIG_FILE */
	bool config_explicit;	 /* given by the user: a missing file is an error */
	const char *socket_path; /* --socket, else $TOOLGUARD_SOCKET, else control.socket */
};

#define PATH_MAX_SOCK 256 /* sun_path is shorter */

/* One-line error on stderr, "toolctl: ..." ; returns code. */
__attribute__((format(printf, 2, 3))) int tc_fail(int code, const char *fmt, ...);

/* Print every diagnostic as FILE:LINE:COL: message on f. */
void tc_print_diags(FILE *f, const struct tg_diags *d);

/*
 * The policy a command answers from when --policy is not given: the daemon's
 * (not reachable yet), else the configured file, else the installed example.
 * On success 0, *ret_policy, and *ret_mode from the configuration. Errors are
 * printed; returns an exit code (> 0).
 */
int tc_load_policy(const struct toolctl *tc, const char *explicit_file, struct tg_policy **ret_policy,
		   enum tg_mode *ret_mode);

/* Is the daemon answering on its control socket? Fills the path (for messages). */
bool tc_daemon_reachable(const struct toolctl *tc, char *ret_path, size_t len);
/* The control socket to use (for messages too). */
const char *tc_socket_path(const struct toolctl *tc, char *buf, size_t len);
/* The policy in force in the daemon (its file's text, parsed here) and its mode.
 * 0, or -errno with why filled (the caller falls back to the files). */
int tc_daemon_policy(const struct toolctl *tc, struct tg_policy **ret_policy, enum tg_mode *ret_mode,
		     char *why, size_t why_len);
/* The addresses toolguardd holds for policy names (all, those of host, or
 * those holding ip): 0 and *ret (the "resolved" object), else non-zero and
 * nothing printed (older daemon, not reachable). Added by resolve. */
struct json_object;
int tc_daemon_resolved(const struct toolctl *tc, const char *host, const char *ip, struct json_object **ret);
/* unload through the daemon: 0 done, > 0 exit code, -1 daemon not reachable. */
int tc_daemon_unload(struct toolctl *tc);

/* cmd_daemon.c */
int cmd_status(struct toolctl *tc, int argc, char **argv);
int cmd_events(struct toolctl *tc, int argc, char **argv);
int cmd_reload(struct toolctl *tc, int argc, char **argv);
int cmd_sync(struct toolctl *tc, int argc, char **argv);

int cmd_policy(struct toolctl *tc, int argc, char **argv);
int cmd_test(struct toolctl *tc, int argc, char **argv);

/* Exact tool/matcher text for explanations: `executables[0].name "claude"`. */
const char *tc_matcher_pattern(const struct tg_tool *t, const char *matcher, char *buf, size_t len);
/* The host rule as written: "*.anthropic.com", "160.79.104.0/23", "statsig.anthropic.com ports 443". */
const char *tc_host_rule(const struct tg_host_match *h, char *buf, size_t len);
/* RFC 3339 in the instant's own offset ("2026-07-10T00:00:00+08:00"). */
const char *tc_rfc3339(int64_t t, int32_t off_min, char *buf, size_t len);
