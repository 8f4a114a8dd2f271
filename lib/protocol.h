/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket protocol (toolguardd <-> toolctl), the pure parts:
 * limits, request parsing and validation, line framing. Version 1: one JSON
 * object per line each way. Requests: {"v":1,"cmd":"status"} and so on (see
 * toolctl(8)); answers {"v":1,"ok":true,...} or {"v":1,"ok":false,"error":"...",
 * "code":N}. No I/O and no logging here.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_CTL_VERSION	   1
#define TG_CTL_MAX_LINE	   (64u * 1024u) /* a request line, newline included */
#define TG_CTL_IDLE_SEC	   10u		 /* a client that sends nothing for this long is dropped */
#define TG_CTL_MAX_CLIENTS 64u
#define TG_CTL_MAX_ARGV	   256u	 /* test.exec.argv entries */
#define TG_CTL_MAX_EVENTS  1024u /* ring of recent events the daemon keeps */

/* Error codes in answers ("code"): errno values, so clients can strerror() them. */

enum tg_ctl_cmd {
	TG_CTL_STATUS,
	TG_CTL_POLICY,
	TG_CTL_TEST,
	TG_CTL_EVENTS,
	TG_CTL_RELOAD,
	TG_CTL_SYNC,
	TG_CTL_UNLOAD,
	TG_CTL_RESOLVED, /* {"host"?, "ip"?}: addresses the daemon holds for policy names (added by resolve) */
	_TG_CTL_CMD_MAX,
};

struct tg_ctl_request {
	enum tg_ctl_cmd cmd;
	/* policy */
	bool policy_text; /* also send the policy file's text when it still matches */
	/* test: either exec or dest */
	bool test_exec;
	char **argv; /* NULL-terminated */
	size_t argc;
	char *cwd;
	bool has_uid;
	uint32_t uid;
	bool test_dest;
	char *host;
	char *ip;
	uint16_t port; /* 0 = any */
	/* events */
	bool has_since;
	int64_t since_ns; /* realtime ns */
	char *tool;
	bool follow;
	uint32_t limit; /* 0 = all kept */
};

const char *tg_ctl_cmd_name(enum tg_ctl_cmd c);
/* reload, sync, unload: root or the admin group only */
bool tg_ctl_cmd_privileged(enum tg_ctl_cmd c);

/*
 * Parse one request line (without the newline). On success 0 and *ret filled
 * (free with tg_ctl_request_free). On error -EINVAL (malformed/invalid),
 * -E2BIG (over TG_CTL_MAX_LINE) or -EPROTONOSUPPORT (other "v"), and *ret_error
 * says what is wrong (static string).
 */
int tg_ctl_request_parse(const char *line, size_t len, struct tg_ctl_request *ret, const char **ret_error);
void tg_ctl_request_free(struct tg_ctl_request *r);

/*
 * Framing: is there a complete line in buf[0..len)? 1 and *ret_line_len (without
 * the '\n') when yes, 0 when more bytes are needed, -E2BIG when len already
 * reaches max without a newline (the client is over the limit).
 */
int tg_ctl_find_line(const char *buf, size_t len, size_t max, size_t *ret_line_len);

/* {"v":1,"ok":false,"error":msg,"code":code} plus '\n', malloc'd; NULL on ENOMEM. */
char *tg_ctl_error_line(int code, const char *msg);
