/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Control socket protocol: request parsing and line framing (see protocol.h). */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

static const char *const cmd_names[_TG_CTL_CMD_MAX] = {
    [TG_CTL_STATUS] = "status", [TG_CTL_POLICY] = "policy", [TG_CTL_TEST] = "test",
    [TG_CTL_EVENTS] = "events", [TG_CTL_RELOAD] = "reload", [TG_CTL_SYNC] = "sync",
    [TG_CTL_UNLOAD] = "unload", [TG_CTL_RESOLVED] = "resolved",
};

const char *tg_ctl_cmd_name(enum tg_ctl_cmd c)
{
	return (unsigned)c < _TG_CTL_CMD_MAX ? cmd_names[c] : "?";
}

bool tg_ctl_cmd_privileged(enum tg_ctl_cmd c)
{
	return c == TG_CTL_RELOAD || c == TG_CTL_SYNC || c == TG_CTL_UNLOAD;
}

void tg_ctl_request_free(struct tg_ctl_request *r)
{
	if (!r)
		return;
	if (r->argv)
		for (size_t i = 0; i < r->argc; i++)
			free(r->argv[i]);
	free(r->argv);
	free(r->cwd);
	free(r->host);
	free(r->ip);
	free(r->tool);
	memset(r, 0, sizeof(*r));
}

/* A string member: absent is fine (*ret untouched), present must be a non-empty string without NUL. */
static int get_string(json_object *o, const char *key, size_t max, char **ret, const char **ret_error,
		      const char *what)
{
	json_object *v;
	const char *s;
	int n;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string)) {
		*ret_error = what;
		return -EINVAL;
	}
	s = json_object_get_string(v);
	n = json_object_get_string_len(v);
	if (n <= 0 || (size_t)n > max || strlen(s) != (size_t)n) {
		*ret_error = what;
		return -EINVAL;
	}
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

static int parse_test(json_object *o, struct tg_ctl_request *r, const char **ret_error)
{
	json_object *ex = NULL, *de = NULL, *v;
	int k;

	json_object_object_get_ex(o, "exec", &ex);
	json_object_object_get_ex(o, "dest", &de);
	if (!!ex == !!de) {
		*ret_error = "test needs exactly one of \"exec\" and \"dest\"";
		return -EINVAL;
	}
	if (ex) {
		size_t n;

		if (!json_object_is_type(ex, json_type_object)) {
			*ret_error = "\"exec\" must be an object";
			return -EINVAL;
		}
		if (!json_object_object_get_ex(ex, "argv", &v) || !json_object_is_type(v, json_type_array) ||
		    json_object_array_length(v) == 0) {
			*ret_error = "\"exec.argv\" must be a non-empty array of strings";
			return -EINVAL;
		}
		n = json_object_array_length(v);
		if (n > TG_CTL_MAX_ARGV) {
			*ret_error = "\"exec.argv\" has too many entries (at most 256)";
			return -EINVAL;
		}
		r->argv = calloc(n + 1, sizeof(char *));
		if (!r->argv)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			json_object *a = json_object_array_get_idx(v, i);
			const char *s;

			if (!json_object_is_type(a, json_type_string)) {
				*ret_error = "\"exec.argv\" must be a non-empty array of strings";
				return -EINVAL;
			}
			s = json_object_get_string(a);
			if (strlen(s) != (size_t)json_object_get_string_len(a) || (i == 0 && !*s)) {
				*ret_error =
				    "\"exec.argv\" entries must be strings without NUL, argv[0] not empty";
				return -EINVAL;
			}
			r->argv[i] = strdup(s);
			if (!r->argv[i])
				return -ENOMEM;
			r->argc = i + 1;
		}
		k = get_string(ex, "cwd", PATH_MAX, &r->cwd, ret_error,
			       "\"exec.cwd\" must be an absolute path");
		if (k < 0)
			return k;
		if (r->cwd && r->cwd[0] != '/') {
			*ret_error = "\"exec.cwd\" must be an absolute path";
			return -EINVAL;
		}
		if (json_object_object_get_ex(ex, "uid", &v)) {
			int64_t u;

			if (!json_object_is_type(v, json_type_int) || (u = json_object_get_int64(v)) < 0 ||
			    u >= UINT32_MAX) {
				*ret_error = "\"exec.uid\" must be a user id (0 .. 4294967294)";
				return -EINVAL;
			}
			r->has_uid = true;
			r->uid = (uint32_t)u;
		}
		r->test_exec = true;
		return 0;
	}
	if (!json_object_is_type(de, json_type_object)) {
		*ret_error = "\"dest\" must be an object";
		return -EINVAL;
	}
	k = get_string(de, "host", 253, &r->host, ret_error, "\"dest.host\" must be a host name");
	if (k < 0)
		return k;
	k = get_string(de, "ip", 64, &r->ip, ret_error, "\"dest.ip\" must be an IP address");
	if (k < 0)
		return k;
	if (!!r->host == !!r->ip) {
		*ret_error = "\"dest\" needs exactly one of \"host\" and \"ip\"";
		return -EINVAL;
	}
	if (json_object_object_get_ex(de, "port", &v)) {
		int64_t p;

		if (!json_object_is_type(v, json_type_int) || (p = json_object_get_int64(v)) < 0 ||
		    p > 65535) {
			*ret_error = "\"dest.port\" must be a port number (0 .. 65535)";
			return -EINVAL;
		}
		r->port = (uint16_t)p;
	}
	r->test_dest = true;
	return 0;
}

static int parse_events(json_object *o, struct tg_ctl_request *r, const char **ret_error)
{
	json_object *v;
	int k;

	if (json_object_object_get_ex(o, "since", &v)) {
		int64_t s;

		/* seconds since the epoch */
		if (!json_object_is_type(v, json_type_int) || (s = json_object_get_int64(v)) < 0 ||
		    s > INT64_MAX / 1000000000) {
			*ret_error = "\"since\" must be seconds since the epoch";
			return -EINVAL;
		}
		r->has_since = true;
		r->since_ns = s * 1000000000;
	}
	k = get_string(o, "tool", 63, &r->tool, ret_error, "\"tool\" must be a tool id");
	if (k < 0)
		return k;
	if (json_object_object_get_ex(o, "follow", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			*ret_error = "\"follow\" must be true or false";
			return -EINVAL;
		}
		r->follow = json_object_get_boolean(v);
	}
	if (json_object_object_get_ex(o, "limit", &v)) {
		int64_t l;

		if (!json_object_is_type(v, json_type_int) || (l = json_object_get_int64(v)) < 0 ||
		    l > TG_CTL_MAX_EVENTS) {
			*ret_error = "\"limit\" must be 0 .. 1024";
			return -EINVAL;
		}
		r->limit = (uint32_t)l;
	}
	return 0;
}

int tg_ctl_request_parse(const char *line, size_t len, struct tg_ctl_request *ret, const char **ret_error)
{
	struct tg_ctl_request r = {0};
	json_tokener *tok;
	json_object *o = NULL, *v;
	const char *cmd;
	int k = -EINVAL;

	*ret_error = NULL;
	if (len >= TG_CTL_MAX_LINE) {
		*ret_error = "request too long (at most 64 KiB per line)";
		return -E2BIG;
	}
	if (memchr(line, '\0', len)) {
		*ret_error = "request contains a NUL byte";
		return -EINVAL;
	}
	tok = json_tokener_new_ex(16);
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, line, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		/* trailing spaces after the object are fine */
		size_t end = json_tokener_get_parse_end(tok);

		if (!o || json_tokener_get_error(tok) != json_tokener_success ||
		    strspn(line + end, " \t\r") != len - end) {
			*ret_error = "request is not one JSON object";
			goto out;
		}
	}
	if (!json_object_is_type(o, json_type_object)) {
		*ret_error = "request is not one JSON object";
		goto out;
	}
	if (!json_object_object_get_ex(o, "v", &v) || !json_object_is_type(v, json_type_int)) {
		*ret_error = "request has no protocol version (\"v\":1)";
		goto out;
	}
	if (json_object_get_int64(v) != TG_CTL_VERSION) {
		*ret_error =
		    "unsupported protocol version: this toolguardd speaks \"v\":1; use a toolctl of the "
		    "same version";
		k = -EPROTONOSUPPORT;
		goto out;
	}
	if (!json_object_object_get_ex(o, "cmd", &v) || !json_object_is_type(v, json_type_string)) {
		*ret_error = "request has no \"cmd\"";
		goto out;
	}
	cmd = json_object_get_string(v);
	r.cmd = _TG_CTL_CMD_MAX;
	for (unsigned i = 0; i < _TG_CTL_CMD_MAX; i++)
		if (strcmp(cmd, cmd_names[i]) == 0)
			r.cmd = i;
	switch (r.cmd) {
	case TG_CTL_POLICY:
		if (json_object_object_get_ex(o, "text", &v)) {
			if (!json_object_is_type(v, json_type_boolean)) {
				*ret_error = "\"text\" must be true or false";
				goto out;
			}
			r.policy_text = json_object_get_boolean(v);
		}
		k = 0;
		break;
	case TG_CTL_TEST:
		k = parse_test(o, &r, ret_error);
		break;
	case TG_CTL_EVENTS:
		k = parse_events(o, &r, ret_error);
		break;
	case TG_CTL_RESOLVED:
		k = get_string(o, "host", 255, &r.host, ret_error, "\"host\" must be a host name");
		if (k >= 0)
			k = get_string(o, "ip", 64, &r.ip, ret_error, "\"ip\" must be an address");
		break;
	case TG_CTL_STATUS:
	case TG_CTL_RELOAD:
	case TG_CTL_SYNC:
	case TG_CTL_UNLOAD:
		k = 0;
		break;
	default:
		*ret_error =
		    "unknown \"cmd\" (expected status, policy, test, events, reload, sync or unload)";
		k = -EINVAL;
	}
out:
	json_object_put(o);
	json_tokener_free(tok);
	if (k < 0) {
		tg_ctl_request_free(&r);
		if (!*ret_error)
			*ret_error = k == -ENOMEM ? "out of memory" : "invalid request";
		return k;
	}
	*ret = r;
	return 0;
}

int tg_ctl_find_line(const char *buf, size_t len, size_t max, size_t *ret_line_len)
{
	const char *nl = memchr(buf, '\n', len < max ? len : max);

	if (nl) {
		*ret_line_len = (size_t)(nl - buf);
		return 1;
	}
	return len >= max ? -E2BIG : 0;
}

char *tg_ctl_error_line(int code, const char *msg)
{
	json_object *o = json_object_new_object();
	char *s = NULL;

	if (!o)
		return NULL;
	json_object_object_add(o, "v", json_object_new_int(TG_CTL_VERSION));
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg ? msg : "error"));
	json_object_object_add(o, "code", json_object_new_int(code));
	{
		const char *j = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								      JSON_C_TO_STRING_NOSLASHESCAPE);
		size_t n = j ? strlen(j) : 0;

		s = j ? malloc(n + 2) : NULL;
		if (s) {
			memcpy(s, j, n);
			s[n] = '\n';
			s[n + 1] = 0;
		}
	}
	json_object_put(o);
	return s;
}
