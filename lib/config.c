/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon configuration (toolguard.conf): YAML, same error style as policies. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "paths.h"
#include "policy.h"
#include "yaml_walk.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Poll period bounds: below this a fleet hammers the server, above it a ban lags for weeks. */
#define TG_CONFIG_MIN_INTERVAL 10
#define TG_CONFIG_MAX_INTERVAL (30 * 86400)
/* Notices: a day between two reminders of the same refusal is plenty. */
#define TG_CONFIG_MAX_NOTICE_INTERVAL 86400
/* Report spool: below 64 KiB not one batch fits, above 1 GiB it fills /var. */
#define TG_CONFIG_REPORT_SPOOL_DEFAULT (16ull << 20)
#define TG_CONFIG_REPORT_SPOOL_MIN     (64ull << 10)
#define TG_CONFIG_REPORT_SPOOL_MAX     (1ull << 30)
#define TG_CONFIG_REPORT_RETRY_DEFAULT 300
#define TG_CONFIG_URL_MAX	       1000u

void tg_config_free(struct tg_config *c)
{
	if (!c)
		return;
	free(c->policy_file);
	free(c->policy_url);
	free(c->policy_ca_file);
	free(c->policy_public_key);
	free(c->policy_cache);
	free(c->policy_client_cert);
	free(c->policy_client_key);
	free(c->notices_opener);
	free(c->events_log);
	free(c->control_socket);
	free(c->admin_group);
	free(c->report_url);
	free(c->report_spool);
	free(c->report_ca_file);
	free(c->report_client_cert);
	free(c->report_client_key);
	free(c);
}

/* HTTPS and the usual forward-proxy ports (squid, tinyproxy, privoxy, ...). */
static const uint16_t default_inspect_ports[] = {80, 443, 3128, 8000, 8080, 8118, 8443, 8888};
_Static_assert(sizeof(default_inspect_ports) / sizeof(default_inspect_ports[0]) <= TG_CONFIG_INSPECT_PORTS_MAX,
	       "default_inspect_ports");

int tg_config_defaults(struct tg_config **ret)
{
	struct tg_config *c;

	if (!ret)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->mode = TG_MODE_ENFORCE;
	c->policy_interval = 600;
	c->notices_tty = true;
	c->notices_desktop = true;
	c->notices_interval = 60;
	c->policy_file = strdup(TG_POLICY_FILE);
	c->policy_cache = strdup(TG_POLICY_CACHE);
	c->events_log = strdup(TG_EVENTS_LOG);
	c->control_socket = strdup(TG_CONTROL_SOCKET);
	c->admin_group = strdup(TG_ADMIN_GROUP);
	c->report_spool = strdup(TG_REPORT_SPOOL);
	c->report_spool_max = TG_CONFIG_REPORT_SPOOL_DEFAULT;
	c->report_retry_max = TG_CONFIG_REPORT_RETRY_DEFAULT;
	memcpy(c->inspect_ports, default_inspect_ports, sizeof(default_inspect_ports));
	if (!c->policy_file || !c->policy_cache || !c->events_log || !c->control_socket || !c->admin_group ||
	    !c->report_spool) {
		tg_config_free(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

/* Replace *slot with an absolute path from n. */
static void set_path(struct yw_ctx *y, const struct yw_node *n, const char *what, char **slot)
{
	const char *s = yw_scalar(y, n, what);
	char *d;

	if (!s)
		return;
	if (s[0] != '/') {
		yw_error(y, n, "%s must be an absolute path, got \"%.80s\"", what, s);
		return;
	}
	d = strdup(s);
	if (!d) {
		y->oom = true;
		return;
	}
	free(*slot);
	*slot = d;
}

static void parse_policy_section(struct yw_ctx *y, const struct yw_node *n, struct tg_config *c)
{
	struct yw_key k[] = {{.name = "file"},	  {.name = "url"},	  {.name = "interval"},
			     {.name = "ca_file"}, {.name = "public_key"}, {.name = "cache"},
			     /* extensions */
			     {.name = "client_cert"}, {.name = "client_key"}, {.name = "allow_rollback"}};
	const char *s;

	if (!yw_map(y, n, "policy", k, ARRAY_SIZE(k)))
		return;
	if (k[0].val)
		set_path(y, k[0].val, "policy.file", &c->policy_file);
	if (k[1].val && (s = yw_scalar(y, k[1].val, "policy.url"))) {
		/* The policy decides what runs on the machine: never fetch it in clear text. */
		if (strncmp(s, "https://", 8) != 0 || s[8] == '\0' || strpbrk(s, " \t\r\n")) {
			yw_error(
			    y, k[1].val,
			    "policy.url must be an https:// URL, got \"%.80s\" (for a test server, use https "
			    "with ca_file)",
			    s);
		} else {
			free(c->policy_url);
			c->policy_url = strdup(s);
			if (!c->policy_url)
				y->oom = true;
		}
	}
	if (k[2].val && (s = yw_scalar(y, k[2].val, "policy.interval"))) {
		int64_t v;
		int r = tg_parse_duration(s, &v);

		if (r < 0)
			yw_error(
			    y, k[2].val,
			    "invalid duration for policy.interval: \"%.40s\"; expected a number and a unit "
			    "(w, d, h, m, s) like 10m",
			    s);
		else if (v < TG_CONFIG_MIN_INTERVAL || v > TG_CONFIG_MAX_INTERVAL)
			yw_error(y, k[2].val,
				 "policy.interval \"%.40s\" is out of range: expected 10s .. 30d", s);
		else
			c->policy_interval = v;
	}
	if (k[3].val)
		set_path(y, k[3].val, "policy.ca_file", &c->policy_ca_file);
	if (k[4].val)
		set_path(y, k[4].val, "policy.public_key", &c->policy_public_key);
	if (k[5].val)
		set_path(y, k[5].val, "policy.cache", &c->policy_cache);
	if (k[6].val)
		set_path(y, k[6].val, "policy.client_cert", &c->policy_client_cert);
	if (k[7].val)
		set_path(y, k[7].val, "policy.client_key", &c->policy_client_key);
	if (k[8].val)
		yw_bool(y, k[8].val, "policy.allow_rollback", &c->policy_allow_rollback);
	if (c->policy_client_key && !c->policy_client_cert && k[7].val)
		yw_error(y, k[7].val, "policy.client_key needs policy.client_cert (the certificate it belongs to)");
}

/* "16MiB", "512k", "1048576": bytes. 0 or -EINVAL. */
static int parse_size(const char *s, uint64_t *ret)
{
	static const struct {
		const char *suffix;
		unsigned shift;
	} units[] = {{"", 0},	  {"b", 0},   {"k", 10}, {"kib", 10}, {"kb", 10}, {"m", 20},
		     {"mib", 20}, {"mb", 20}, {"g", 30}, {"gib", 30}, {"gb", 30}};
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10 / 1024 / 1024 / 1024)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	p += strspn(p, " ");
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (strcasecmp(p, units[i].suffix) == 0) {
			*ret = v << units[i].shift;
			return 0;
		}
	return -EINVAL;
}

/* report_url / report.url: events name users and commands, so https only, like policy.url. */
static void set_report_url(struct yw_ctx *y, const struct yw_node *n, const char *what, struct tg_config *c)
{
	const char *s = yw_scalar(y, n, what);

	if (!s)
		return;
	if (strncmp(s, "https://", 8) != 0 || s[8] == '\0' || strpbrk(s, " \t\r\n") ||
	    strlen(s) > TG_CONFIG_URL_MAX) {
		yw_error(y, n,
			 "%s must be an https:// URL of at most %u characters, got \"%.80s\" (for a test "
			 "collector, use https with report.ca_file)",
			 what, TG_CONFIG_URL_MAX, s);
		return;
	}
	if (c->report_url) {
		yw_error(y, n, "%s: the report URL is already set (use report_url or report.url, not both)",
			 what);
		return;
	}
	c->report_url = strdup(s);
	if (!c->report_url)
		y->oom = true;
}

static void parse_report_section(struct yw_ctx *y, const struct yw_node *n, struct tg_config *c)
{
	struct yw_key k[] = {{.name = "url"},	    {.name = "spool"},	 {.name = "spool_max"},
			     {.name = "retry_max"}, {.name = "ca_file"}, {.name = "client_cert"},
			     {.name = "client_key"}};
	const char *s;

	if (!yw_map(y, n, "report", k, ARRAY_SIZE(k)))
		return;
	if (k[0].val)
		set_report_url(y, k[0].val, "report.url", c);
	if (k[1].val)
		set_path(y, k[1].val, "report.spool", &c->report_spool);
	if (k[2].val && (s = yw_scalar(y, k[2].val, "report.spool_max"))) {
		uint64_t v;

		if (parse_size(s, &v) < 0)
			yw_error(y, k[2].val,
				 "invalid size for report.spool_max: \"%.40s\"; expected a number and a unit "
				 "(k, M, G) like 16M",
				 s);
		else if (v < TG_CONFIG_REPORT_SPOOL_MIN || v > TG_CONFIG_REPORT_SPOOL_MAX)
			yw_error(y, k[2].val,
				 "report.spool_max \"%.40s\" is out of range: expected 64k .. 1G", s);
		else
			c->report_spool_max = v;
	}
	if (k[3].val && (s = yw_scalar(y, k[3].val, "report.retry_max"))) {
		int64_t v;

		if (tg_parse_duration(s, &v) < 0)
			yw_error(y, k[3].val,
				 "invalid duration for report.retry_max: \"%.40s\"; expected a number and a "
				 "unit (d, h, m, s) like 5m",
				 s);
		else if (v < 1 || v > 86400)
			yw_error(y, k[3].val, "report.retry_max \"%.40s\" is out of range: expected 1s .. 1d",
				 s);
		else
			c->report_retry_max = v;
	}
	if (k[4].val)
		set_path(y, k[4].val, "report.ca_file", &c->report_ca_file);
	if (k[5].val)
		set_path(y, k[5].val, "report.client_cert", &c->report_client_cert);
	if (k[6].val)
		set_path(y, k[6].val, "report.client_key", &c->report_client_key);
	if (c->report_client_key && !c->report_client_cert && k[6].val)
		yw_error(y, k[6].val,
			 "report.client_key needs report.client_cert (the certificate it belongs to)");
}

/* network.inspect_ports: a list of 1..TG_CONFIG_INSPECT_PORTS_MAX ports, or "all". */
static void parse_network_section(struct yw_ctx *y, const struct yw_node *n, struct tg_config *c)
{
	struct yw_key k[] = {{.name = "inspect_ports"}};
	uint16_t ports[TG_CONFIG_INSPECT_PORTS_MAX] = {0};
	const struct yw_node *v;
	size_t i, j, n_ports = 0;
	unsigned before = y->errors;
	const char *s;

	if (!yw_map(y, n, "network", k, ARRAY_SIZE(k)) || !(v = k[0].val))
		return;
	if (v->kind == YW_SCALAR && (s = yw_scalar(y, v, "network.inspect_ports"))) {
		if (strcmp(s, "all") == 0) {
			c->inspect_all = true;
			return;
		}
		yw_error(y, v,
			 "invalid network.inspect_ports \"%.40s\": expected a list of ports like [443, 3128] "
			 "or all",
			 s);
		return;
	}
	if (!yw_seq(y, v, "network.inspect_ports"))
		return;
	if (v->n == 0 || v->n > TG_CONFIG_INSPECT_PORTS_MAX) {
		yw_error(y, v,
			 "network.inspect_ports has %zu entries: expected 1 to %u ports, or all to inspect every "
			 "connection",
			 v->n, TG_CONFIG_INSPECT_PORTS_MAX);
		return;
	}
	for (i = 0; i < v->n; i++) {
		uint64_t port;

		if (!yw_uint(y, v->kids[i], "network.inspect_ports entry", 65535, &port))
			continue;
		if (port == 0) {
			yw_error(y, v->kids[i],
				 "network.inspect_ports: port 0 is not a destination port: expected 1 .. 65535");
			continue;
		}
		for (j = 0; j < n_ports && ports[j] != port; j++)
			;
		if (j == n_ports)
			ports[n_ports++] = (uint16_t)port;
	}
	if (y->errors != before)
		return;
	c->inspect_all = false;
	memcpy(c->inspect_ports, ports, sizeof(ports));
}

static void parse_root(struct yw_ctx *y, const struct yw_node *root, struct tg_config *c)
{
	enum { K_MODE, K_POLICY, K_NOTICES, K_EVENTS, K_CONTROL, K_REPORT, K_REPORT_URL, K_NETWORK };
	struct yw_key k[] = {
	    [K_MODE] = {.name = "mode"},       [K_POLICY] = {.name = "policy"},
	    [K_NOTICES] = {.name = "notices"}, [K_EVENTS] = {.name = "events"},
	    [K_CONTROL] = {.name = "control"},
	    /* extension: reporting events to a collector */
	    [K_REPORT] = {.name = "report"},   [K_REPORT_URL] = {.name = "report_url"},
	    /* extension: which connections the stream checks see */
	    [K_NETWORK] = {.name = "network"},
	};
	const char *s;

	if (root->kind != YW_MAP && !root->bad) {
		yw_error(y, root,
			 "expected a mapping (mode:, policy:, ...) at the top of the configuration, got %s",
			 yw_describe(root));
		return;
	}
	if (!yw_map(y, root, "the configuration", k, ARRAY_SIZE(k)))
		return;
	if (k[K_MODE].val && (s = yw_scalar(y, k[K_MODE].val, "mode"))) {
		if (strcmp(s, "enforce") == 0)
			c->mode = TG_MODE_ENFORCE;
		else if (strcmp(s, "monitor") == 0)
			c->mode = TG_MODE_MONITOR;
		else
			yw_error(y, k[K_MODE].val, "invalid mode \"%.40s\": expected enforce or monitor", s);
	}
	if (k[K_POLICY].val)
		parse_policy_section(y, k[K_POLICY].val, c);
	if (k[K_REPORT_URL].val)
		set_report_url(y, k[K_REPORT_URL].val, "report_url", c);
	if (k[K_REPORT].val)
		parse_report_section(y, k[K_REPORT].val, c);
	if (k[K_NETWORK].val)
		parse_network_section(y, k[K_NETWORK].val, c);
	if (k[K_NOTICES].val) {
		struct yw_key nk[] = {{.name = "tty"}, {.name = "desktop"}, {.name = "interval"}, {.name = "opener"}};

		if (yw_map(y, k[K_NOTICES].val, "notices", nk, ARRAY_SIZE(nk))) {
			if (nk[0].val)
				yw_bool(y, nk[0].val, "notices.tty", &c->notices_tty);
			if (nk[1].val)
				yw_bool(y, nk[1].val, "notices.desktop", &c->notices_desktop);
			if (nk[2].val && (s = yw_scalar(y, nk[2].val, "notices.interval"))) {
				int64_t v;

				/* 0 = a notice for every refused launch */
				if (tg_parse_duration(s, &v) < 0)
					yw_error(y, nk[2].val,
						 "invalid duration for notices.interval: \"%.40s\"; expected a "
						 "number and a unit (d, h, m, s) like 1m",
						 s);
				else if (v > TG_CONFIG_MAX_NOTICE_INTERVAL)
					yw_error(y, nk[2].val,
						 "notices.interval \"%.40s\" is out of range: expected 0 .. 1d", s);
				else
					c->notices_interval = v;
			}
			if (nk[3].val)
				set_path(y, nk[3].val, "notices.opener", &c->notices_opener);
		}
	}
	if (k[K_EVENTS].val) {
		struct yw_key ek[] = {{.name = "log"}};

		if (yw_map(y, k[K_EVENTS].val, "events", ek, ARRAY_SIZE(ek)) && ek[0].val)
			set_path(y, ek[0].val, "events.log", &c->events_log);
	}
	if (k[K_CONTROL].val) {
		struct yw_key ck[] = {{.name = "socket"}, {.name = "admin_group"}};

		if (yw_map(y, k[K_CONTROL].val, "control", ck, ARRAY_SIZE(ck))) {
			if (ck[0].val)
				set_path(y, ck[0].val, "control.socket", &c->control_socket);
			if (ck[1].val && (s = yw_scalar(y, ck[1].val, "control.admin_group"))) {
				if (!*s || strlen(s) > 256 || s[0] == '-' || strpbrk(s, " \t:/,")) {
					yw_error(y, ck[1].val,
						 "invalid control.admin_group \"%.60s\": expected a group "
						 "name or number",
						 s);
				} else {
					free(c->admin_group);
					c->admin_group = strdup(s);
					if (!c->admin_group)
						y->oom = true;
				}
			}
		}
	}
}

int tg_config_parse(const char *buf, size_t len, const char *filename, struct tg_config **ret,
		    struct tg_diags *diags)
{
	struct yw_ctx y = {.file = filename ? filename : "<config>", .diags = diags};
	struct yw_node *root = NULL;
	struct tg_config *c = NULL;
	int r;

	if (!ret || (!buf && len))
		return -EINVAL;
	if (len > TG_POLICY_MAX_BYTES) {
		yw_error_at(&y, (struct tg_pos){0, 0},
			    "configuration is %zu bytes, larger than the limit of %u bytes", len,
			    TG_POLICY_MAX_BYTES);
		return -EINVAL;
	}
	r = yw_load(&y, buf ? buf : "", len, &root);
	if (r < 0)
		return r;
	r = tg_config_defaults(&c);
	if (r < 0) {
		yw_free(root);
		return r;
	}
	/* An empty file (or only comments) means: all defaults. */
	if (root && !yw_is_null(root))
		parse_root(&y, root, c);
	yw_free(root);
	if (y.errors || y.oom) {
		tg_config_free(c);
		return y.errors ? -EINVAL : -ENOMEM;
	}
	*ret = c;
	return 0;
}

int tg_config_load_file(const char *path, struct tg_config **ret, struct tg_diags *diags)
{
	size_t len = 0;
	char *buf = NULL;
	int r;

	if (!path || !ret)
		return -EINVAL;
	r = yw_read_file(path, "configuration", &buf, &len, diags);
	if (r < 0)
		return r;
	r = tg_config_parse(buf, len, path, ret, diags);
	free(buf);
	return r;
}

void tg_ports_text(const uint16_t *ports, size_t n, char *buf, size_t len)
{
	size_t o = 0;

	if (!len)
		return;
	buf[0] = 0;
	for (size_t i = 0; i < n && ports[i]; i++) {
		int w = snprintf(buf + o, len - o, "%s%u", o ? "," : "", ports[i]);

		if (w < 0 || (size_t)w >= len - o)
			break; /* what fits, no half port */
		o += (size_t)w;
	}
	buf[o] = 0;
}
