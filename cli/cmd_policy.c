/* SPDX-License-Identifier: GPL-2.0-or-later */
/* toolctl policy check / policy show: offline, on files. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "matcher.h"
#include "toolctl.h"

/* ---------- shared formatting ---------- */

const char *tc_rfc3339(int64_t t, int32_t off_min, char *buf, size_t len)
{
	time_t lt = (time_t)(t + (int64_t)off_min * 60);
	int a = off_min < 0 ? -off_min : off_min;
	struct tm tm;

	if (!gmtime_r(&lt, &tm)) {
		snprintf(buf, len, "@%" PRId64, t);
		return buf;
	}
	if (off_min == 0)
		snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	else
		snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, off_min < 0 ? '-' : '+',
			 a / 60, a % 60);
	return buf;
}

/* As the policy would write it: a bare date stays a bare date (local midnight). */
static const char *instant_text(const struct tg_instant *in, char *buf, size_t len)
{
	if (in->bare_date) {
		time_t lt = (time_t)(in->t + (int64_t)in->utcoff_min * 60);
		struct tm tm;

		if (gmtime_r(&lt, &tm)) {
			snprintf(buf, len, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
			return buf;
		}
	}
	return tc_rfc3339(in->t, in->utcoff_min, buf, len);
}

/* 1209600 -> "14d", 90000 -> "1d1h" */
static const char *duration_text(int64_t s, char *buf, size_t len)
{
	static const struct {
		char unit;
		int64_t mult;
	} units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
	size_t o = 0;

	if (s <= 0) {
		snprintf(buf, len, "0");
		return buf;
	}
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && o < len; i++)
		if (s >= units[i].mult) {
			int n = snprintf(buf + o, len - o, "%" PRId64 "%c", s / units[i].mult, units[i].unit);

			if (n < 0)
				break;
			o += (size_t)n;
			s %= units[i].mult;
		}
	return buf;
}

static const char *cidr_text(const struct tg_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(c->family, c->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->prefixlen);
	return buf;
}

static const char *host_value(const struct tg_host_match *h, char *buf, size_t len)
{
	if (h->kind == TG_HOST_CIDR)
		return cidr_text(&h->cidr, buf, len);
	snprintf(buf, len, "%s%s", h->kind == TG_HOST_WILDCARD ? "*." : "", h->name ? h->name : "");
	return buf;
}

const char *tc_host_rule(const struct tg_host_match *h, char *buf, size_t len)
{
	size_t o;

	host_value(h, buf, len);
	o = strlen(buf);
	for (size_t i = 0; i < h->n_ports && o + 8 < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%u", i ? "," : " ports ", h->ports[i]);
	return buf;
}

const char *tc_matcher_pattern(const struct tg_tool *t, const char *matcher, char *buf, size_t len)
{
	size_t i;
	char kind[16];

	buf[0] = '\0';
	if (!t || !matcher)
		return buf;
	if (sscanf(matcher, "executables[%zu].%15s", &i, kind) == 2 && i < t->n_exes)
		snprintf(buf, len, "%s", t->exes[i].value);
	else if (sscanf(matcher, "scripts[%zu]", &i) == 1 && i < t->n_scripts)
		snprintf(buf, len, "%s", t->scripts[i].path ? t->scripts[i].path : t->scripts[i].sha256_hex);
	else if (sscanf(matcher, "hosts[%zu]", &i) == 1 && i < t->n_hosts)
		tc_host_rule(&t->hosts[i], buf, len);
	return buf;
}

static const char *glob_form_name(const char *glob)
{
	char *lit = NULL;
	enum tg_glob_form f = tg_glob_reduce(glob, &lit);

	free(lit);
	switch (f) {
	case TG_GLOB_EXACT:
		return "exact";
	case TG_GLOB_PREFIX:
		return "prefix";
	case TG_GLOB_SUFFIX:
		return "suffix";
	case TG_GLOB_COMPLEX:
	default: {
		size_t plen;
		const char *suffix;

		return tg_glob_split_affix(glob, &plen, &suffix) ? "prefix+suffix" : "scan";
	}
	}
}

static void sha_hex(const uint8_t sha[32], char out[65])
{
	for (size_t i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", sha[i]);
}

/* ---------- policy check ---------- */

static int check_one(const char *file, struct tg_policy **ret, struct tg_diags *d)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int r;

	if (strcmp(file, "-") != 0)
		return tg_policy_load_file(file, ret, d);
	/* "-": standard input, with the same cap as a file */
	for (;;) {
		size_t k;

		if (len == cap) {
			char *nb;

			if (cap > TG_POLICY_MAX_BYTES) {
				free(buf);
				tg_diags_add(d, "<stdin>", (struct tg_pos){0, 0},
					     "input is larger than the limit of %u bytes",
					     TG_POLICY_MAX_BYTES);
				return -EFBIG;
			}
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		k = fread(buf + len, 1, cap - len, stdin);
		len += k;
		if (k == 0)
			break;
	}
	if (len > TG_POLICY_MAX_BYTES) {
		free(buf);
		tg_diags_add(d, "<stdin>", (struct tg_pos){0, 0},
			     "input is larger than the limit of %u bytes", TG_POLICY_MAX_BYTES);
		return -EFBIG;
	}
	r = tg_policy_parse(buf ? buf : "", len, "<stdin>", ret, d);
	free(buf);
	return r;
}

static int policy_check(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
	json_object *out = NULL;
	bool json = false;
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'h') {
			printf("Usage: toolctl policy check [--json] FILE... (\"-\" reads standard input)\n");
			return 0;
		} else
			return EXIT_USAGE;
	}
	if (optind >= argc)
		return tc_fail(EXIT_USAGE, "policy check: name at least one FILE (\"-\" for standard input)");
	if (json)
		out = json_object_new_array();
	for (int i = optind; i < argc; i++) {
		const char *file = argv[i];
		struct tg_policy *p = NULL;
		struct tg_diags d = {0};
		int r = check_one(file, &p, &d);

		if (r == 0) {
			if (json) {
				json_object *o = json_object_new_object();
				char hex[65];

				sha_hex(p->sha256, hex);
				json_object_object_add(o, "file", json_object_new_string(file));
				json_object_object_add(o, "ok", json_object_new_boolean(1));
				json_object_object_add(o, "tools",
						       json_object_new_int64((int64_t)p->n_tools));
				json_object_object_add(o, "name",
						       json_object_new_string(p->name ? p->name : ""));
				json_object_object_add(o, "serial", json_object_new_uint64(p->serial));
				json_object_object_add(o, "sha256", json_object_new_string(hex));
				json_object_array_add(out, o);
			} else {
				printf("%s: OK (%zu tool%s)\n", file, p->n_tools, p->n_tools == 1 ? "" : "s");
			}
			tg_policy_free(p);
		} else {
			rc = EXIT_NO;
			if (json) {
				json_object *o = json_object_new_object(), *errs = json_object_new_array();
				char line[8192];

				for (size_t k = 0; k < d.n; k++) {
					json_object *e = json_object_new_object();

					json_object_object_add(e, "line",
							       json_object_new_int((int)d.v[k].pos.line));
					json_object_object_add(e, "column",
							       json_object_new_int((int)d.v[k].pos.col));
					json_object_object_add(
					    e, "message",
					    json_object_new_string(d.v[k].msg ? d.v[k].msg : ""));
					json_object_object_add(e, "text",
							       json_object_new_string(tg_diag_format(
								   &d.v[k], line, sizeof(line))));
					json_object_array_add(errs, e);
				}
				if (r == -ENOMEM && d.n == 0) {
					json_object *e = json_object_new_object();

					json_object_object_add(e, "message",
							       json_object_new_string("out of memory"));
					json_object_array_add(errs, e);
				}
				json_object_object_add(o, "file", json_object_new_string(file));
				json_object_object_add(o, "ok", json_object_new_boolean(0));
				json_object_object_add(o, "errors", errs);
				json_object_object_add(o, "errors_not_shown",
						       json_object_new_int64((int64_t)d.dropped));
				json_object_array_add(out, o);
			} else {
				tc_print_diags(stderr, &d);
				if (d.n == 0)
					fprintf(stderr, "%s: %s\n", file, strerror(-r));
			}
		}
		tg_diags_free(&d);
	}
	if (json) {
		puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(out);
	}
	return rc;
}

/* ---------- policy show ---------- */

/* A YAML double-quoted scalar. */
static void yq(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
		if (*c == '"' || *c == '\\')
			fprintf(f, "\\%c", *c);
		else if (*c == '\n')
			fputs("\\n", f);
		else if (*c == '\t')
			fputs("\\t", f);
		else if (*c < 0x20 || *c == 0x7f)
			fprintf(f, "\\x%02x", *c);
		else
			fputc(*c, f);
	}
	fputc('"', f);
}

static void show_principals(FILE *f, const char *key, const struct tg_principal *v, size_t n)
{
	if (!n)
		return;
	fprintf(f, "      %s: [", key);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputs(", ", f);
		if (v[i].numeric)
			fprintf(f, "%" PRIu32, v[i].id);
		else
			yq(f, v[i].name);
	}
	fputs("]\n", f);
}

static void show_state_comment(FILE *f, const struct tg_policy *p, const struct tg_tool *t, int64_t now)
{
	int64_t next;
	enum tg_tool_state s = tg_tool_state_at(p, t, now, &next);
	char when[64], span[32];

	fprintf(f, "    # now: %s", tg_tool_state_name(s));
	if (next != INT64_MAX) {
		enum tg_tool_state ns = tg_tool_state_at(p, t, next, NULL);

		fprintf(f, "; %s from %s, in %s", tg_tool_state_name(ns),
			tg_format_time_local(next, when, sizeof(when)),
			tg_format_span(next - now, span, sizeof(span)));
	}
	fputc('\n', f);
}

static void show_yaml(FILE *f, const struct tg_policy *p)
{
	int64_t now = (int64_t)time(NULL);
	char buf[256], hex[65];

	sha_hex(p->sha256, hex);
	fprintf(f, "# normalized from %s (sha256 %s)\n", p->source ? p->source : "?", hex);
	fprintf(f, "apiVersion: toolguard/v1\nkind: Policy\nmetadata:\n  name: ");
	yq(f, p->name);
	fprintf(f, "\n  serial: %" PRIu64 "\n", p->serial);
	if (p->contact) {
		fputs("  contact: ", f);
		yq(f, p->contact);
		fputc('\n', f);
	}
	fprintf(f, "defaults:\n  action: %s\n", tg_action_name(p->default_action));
	if (p->default_notice_url) {
		fputs("  notice:\n    url: ", f);
		yq(f, p->default_notice_url);
		fputc('\n', f);
	}
	fprintf(f, "tools:%s\n", p->n_tools ? "" : " []");
	for (size_t i = 0; i < p->n_tools; i++) {
		const struct tg_tool *t = &p->tools[i];

		fputs("  - id: ", f);
		yq(f, t->id);
		fputc('\n', f);
		show_state_comment(f, p, t, now);
		if (t->name) {
			fputs("    name: ", f);
			yq(f, t->name);
			fputc('\n', f);
		}
		if (t->vendor) {
			fputs("    vendor: ", f);
			yq(f, t->vendor);
			fputc('\n', f);
		}
		fprintf(f, "    action: %s\n", tg_action_name(tg_tool_action(p, t)));
		if (t->effective.set)
			fprintf(f, "    effective: %s\n", instant_text(&t->effective, buf, sizeof(buf)));
		if (t->warn_before)
			fprintf(f, "    warn_before: %s\n", duration_text(t->warn_before, buf, sizeof(buf)));
		if (t->expires.set)
			fprintf(f, "    expires: %s\n", instant_text(&t->expires, buf, sizeof(buf)));
		if (t->alternative) {
			fputs("    alternative: ", f);
			yq(f, t->alternative);
			fputc('\n', f);
		}
		if (t->message) {
			fputs("    message: ", f);
			yq(f, t->message);
			fputc('\n', f);
		}
		if (t->notice_url) {
			fputs("    notice:\n      url: ", f);
			yq(f, t->notice_url);
			fputc('\n', f);
		}
		if (t->rollout_percent != 100)
			fprintf(f, "    rollout:\n      percent: %d\n", t->rollout_percent);
		fputs("    match:\n", f);
		if (t->n_exes)
			fputs("      executables:\n", f);
		for (size_t k = 0; k < t->n_exes; k++) {
			const struct tg_exe_match *m = &t->exes[k];
			const char *key = m->kind == TG_EXE_NAME   ? "name"
					  : m->kind == TG_EXE_PATH ? "path"
								   : "sha256";

			fprintf(f, "        - %s: ", key);
			yq(f, m->value);
			if (m->kind == TG_EXE_PATH)
				fprintf(f, "   # kernel: %s", glob_form_name(m->value));
			fputc('\n', f);
		}
		if (t->n_scripts)
			fputs("      scripts:\n", f);
		for (size_t k = 0; k < t->n_scripts; k++) {
			if (!t->scripts[k].path) {
				/* extension: judged by the daemon on each interpreter run */
				fprintf(f, "        - sha256: %s   # kernel: script request\n", t->scripts[k].sha256_hex);
				continue;
			}
			fputs("        - path: ", f);
			yq(f, t->scripts[k].path);
			fprintf(f, "   # kernel: %s\n", glob_form_name(t->scripts[k].path));
		}
		if (t->n_hosts)
			fputs("      hosts:\n", f);
		for (size_t k = 0; k < t->n_hosts; k++) {
			const struct tg_host_match *h = &t->hosts[k];

			if (h->n_ports) {
				fputs("        - host: ", f);
				yq(f, host_value(h, buf, sizeof(buf)));
				fputs("\n          ports: [", f);
				for (size_t j = 0; j < h->n_ports; j++)
					fprintf(f, "%s%u", j ? ", " : "", h->ports[j]);
				fputs("]\n", f);
			} else {
				fputs("        - ", f);
				yq(f, host_value(h, buf, sizeof(buf)));
				fputc('\n', f);
			}
		}
		if (t->exempt.n_users || t->exempt.n_groups || t->exempt.until.set) {
			fputs("    exempt:\n", f);
			show_principals(f, "users", t->exempt.users, t->exempt.n_users);
			show_principals(f, "groups", t->exempt.groups, t->exempt.n_groups);
			if (t->exempt.until.set)
				fprintf(f, "      until: %s\n",
					instant_text(&t->exempt.until, buf, sizeof(buf)));
		}
	}
	fputs("interpreters:", f);
	if (!p->n_interpreters)
		fputs(" []", f);
	fputc('\n', f);
	for (size_t i = 0; i < p->n_interpreters; i++) {
		fputs("  - ", f);
		yq(f, p->interpreters[i]);
		fputc('\n', f);
	}
}

static json_object *jstr(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static json_object *jinstant(const struct tg_instant *in)
{
	char buf[64];

	return in->set ? json_object_new_string(instant_text(in, buf, sizeof(buf))) : NULL;
}

static json_object *principals_json(const struct tg_principal *v, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, v[i].numeric ? json_object_new_int64(v[i].id)
						      : json_object_new_string(v[i].name));
	return a;
}

static json_object *tool_json(const struct tg_policy *p, const struct tg_tool *t, int64_t now)
{
	json_object *o = json_object_new_object(), *m = json_object_new_object();
	json_object *exes = json_object_new_array(), *scripts = json_object_new_array(),
		    *hosts = json_object_new_array();
	char buf[256];
	int64_t next;
	enum tg_tool_state s = tg_tool_state_at(p, t, now, &next);

	json_object_object_add(o, "id", jstr(t->id));
	json_object_object_add(o, "name", jstr(t->name));
	json_object_object_add(o, "vendor", jstr(t->vendor));
	json_object_object_add(o, "action", json_object_new_string(tg_action_name(tg_tool_action(p, t))));
	json_object_object_add(o, "effective", jinstant(&t->effective));
	json_object_object_add(o, "warn_before_seconds", json_object_new_int64(t->warn_before));
	json_object_object_add(o, "expires", jinstant(&t->expires));
	json_object_object_add(o, "alternative", jstr(t->alternative));
	json_object_object_add(o, "message", jstr(t->message));
	json_object_object_add(o, "notice_url", jstr(tg_tool_notice_url(p, t)));
	json_object_object_add(o, "rollout_percent", json_object_new_int(t->rollout_percent));
	json_object_object_add(o, "state", json_object_new_string(tg_tool_state_name(s)));
	if (next != INT64_MAX) {
		json_object *n = json_object_new_object();

		json_object_object_add(n, "at",
				       json_object_new_string(tc_rfc3339(next, 0, buf, sizeof(buf))));
		json_object_object_add(
		    n, "state",
		    json_object_new_string(tg_tool_state_name(tg_tool_state_at(p, t, next, NULL))));
		json_object_object_add(o, "next_transition", n);
	} else {
		json_object_object_add(o, "next_transition", NULL);
	}
	for (size_t k = 0; k < t->n_exes; k++) {
		const struct tg_exe_match *e = &t->exes[k];
		json_object *x = json_object_new_object();

		json_object_object_add(x,
				       e->kind == TG_EXE_NAME	? "name"
				       : e->kind == TG_EXE_PATH ? "path"
								: "sha256",
				       json_object_new_string(e->value));
		if (e->kind == TG_EXE_PATH)
			json_object_object_add(x, "kernel_form",
					       json_object_new_string(glob_form_name(e->value)));
		json_object_array_add(exes, x);
	}
	for (size_t k = 0; k < t->n_scripts; k++) {
		json_object *x = json_object_new_object();

		if (!t->scripts[k].path) {
			json_object_object_add(x, "sha256", json_object_new_string(t->scripts[k].sha256_hex));
			json_object_object_add(x, "kernel_form", json_object_new_string("script request"));
			json_object_array_add(scripts, x);
			continue;
		}
		json_object_object_add(x, "path", json_object_new_string(t->scripts[k].path));
		json_object_object_add(x, "kernel_form",
				       json_object_new_string(glob_form_name(t->scripts[k].path)));
		json_object_array_add(scripts, x);
	}
	for (size_t k = 0; k < t->n_hosts; k++) {
		const struct tg_host_match *h = &t->hosts[k];
		json_object *x = json_object_new_object(), *ports = json_object_new_array();
		static const char *const kinds[] = {"name", "wildcard", "cidr"};

		json_object_object_add(x, "host", json_object_new_string(host_value(h, buf, sizeof(buf))));
		json_object_object_add(x, "kind", json_object_new_string(kinds[h->kind]));
		for (size_t j = 0; j < h->n_ports; j++)
			json_object_array_add(ports, json_object_new_int(h->ports[j]));
		json_object_object_add(x, "ports", ports);
		json_object_array_add(hosts, x);
	}
	json_object_object_add(m, "executables", exes);
	json_object_object_add(m, "scripts", scripts);
	json_object_object_add(m, "hosts", hosts);
	json_object_object_add(o, "match", m);
	{
		json_object *e = json_object_new_object();

		json_object_object_add(e, "users", principals_json(t->exempt.users, t->exempt.n_users));
		json_object_object_add(e, "groups", principals_json(t->exempt.groups, t->exempt.n_groups));
		json_object_object_add(e, "until", jinstant(&t->exempt.until));
		json_object_object_add(o, "exempt", e);
	}
	return o;
}

static json_object *policy_json(const struct tg_policy *p)
{
	json_object *o = json_object_new_object(), *tools = json_object_new_array(),
		    *interp = json_object_new_array();
	int64_t now = (int64_t)time(NULL);
	char hex[65];

	sha_hex(p->sha256, hex);
	json_object_object_add(o, "apiVersion", json_object_new_string("toolguard/v1"));
	json_object_object_add(o, "name", jstr(p->name));
	json_object_object_add(o, "serial", json_object_new_uint64(p->serial));
	json_object_object_add(o, "contact", jstr(p->contact));
	json_object_object_add(o, "source", jstr(p->source));
	json_object_object_add(o, "sha256", json_object_new_string(hex));
	json_object_object_add(o, "default_action",
			       json_object_new_string(tg_action_name(p->default_action)));
	json_object_object_add(o, "default_notice_url", jstr(p->default_notice_url));
	for (size_t i = 0; i < p->n_tools; i++)
		json_object_array_add(tools, tool_json(p, &p->tools[i], now));
	json_object_object_add(o, "tools", tools);
	for (size_t i = 0; i < p->n_interpreters; i++)
		json_object_array_add(interp, json_object_new_string(p->interpreters[i]));
	json_object_object_add(o, "interpreters", interp);
	return o;
}

static int policy_show(struct toolctl *tc, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
					     {"policy", required_argument, NULL, 'p'},
					     {"help", no_argument, NULL, 'h'},
					     {0}};
	const char *file = NULL;
	struct tg_policy *p = NULL;
	enum tg_mode mode;
	bool json = false;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hp:", opts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'p')
			file = optarg;
		else if (c == 'h') {
			printf("Usage: toolctl policy show [--policy FILE] [--json]\n");
			return 0;
		} else
			return EXIT_USAGE;
	}
	if (optind < argc)
		return tc_fail(EXIT_USAGE, "policy show: unexpected argument \"%s\" (use --policy FILE)",
			       argv[optind]);
	r = tc_load_policy(tc, file, &p, &mode);
	if (r)
		return r;
	if (json) {
		json_object *o = policy_json(p);

		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							   JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		show_yaml(stdout, p);
	}
	tg_policy_free(p);
	return 0;
}

int cmd_policy(struct toolctl *tc, int argc, char **argv)
{
	if (argc < 2)
		return tc_fail(EXIT_USAGE, "policy: expected \"check FILE...\" or \"show\"");
	if (strcmp(argv[1], "check") == 0)
		return policy_check(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return policy_show(tc, argc - 1, argv + 1);
	return tc_fail(EXIT_USAGE, "policy: unknown subcommand \"%s\": expected check or show", argv[1]);
}
