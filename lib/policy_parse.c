/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The policy parser: YAML (untrusted bytes) -> struct tg_policy, exactly the
 * language of toolguard-policy(5). Every problem is reported with its
 * position and parsing keeps going, so one run shows all errors of a file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy.h"
#include "yaml_walk.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *const default_interpreters[] = {"node", "nodejs",   "bun",
						   "deno", "python3*", "ld-linux*.so*"};

struct pctx {
	struct yw_ctx y;
	size_t n_matchers;
	bool matchers_over;
};

const char *tg_action_name(enum tg_action a)
{
	switch (a) {
	case TG_ACTION_BLOCK:
		return "block";
	case TG_ACTION_ALERT:
		return "alert";
	case TG_ACTION_ALLOW:
		return "allow";
	case TG_ACTION_UNSET:
	default:
		return "unset";
	}
}

static void free_tool(struct tg_tool *t)
{
	free(t->id);
	free(t->name);
	free(t->vendor);
	free(t->alternative);
	free(t->message);
	free(t->notice_url);
	for (size_t i = 0; i < t->n_exes; i++)
		free(t->exes[i].value);
	free(t->exes);
	for (size_t i = 0; i < t->n_scripts; i++) {
		free(t->scripts[i].path);
		free(t->scripts[i].sha256_hex);
	}
	free(t->scripts);
	for (size_t i = 0; i < t->n_hosts; i++) {
		free(t->hosts[i].name);
		free(t->hosts[i].ports);
	}
	free(t->hosts);
	for (size_t i = 0; i < t->exempt.n_users; i++)
		free(t->exempt.users[i].name);
	free(t->exempt.users);
	for (size_t i = 0; i < t->exempt.n_groups; i++)
		free(t->exempt.groups[i].name);
	free(t->exempt.groups);
}

void tg_policy_free(struct tg_policy *p)
{
	if (!p)
		return;
	free(p->name);
	free(p->contact);
	free(p->default_notice_url);
	for (size_t i = 0; i < p->n_tools; i++)
		free_tool(&p->tools[i]);
	free(p->tools);
	for (size_t i = 0; i < p->n_interpreters; i++)
		free(p->interpreters[i]);
	free(p->interpreters);
	free(p->source);
	free(p);
}

/* ---------- typed values ---------- */

static void *xcalloc(struct pctx *pc, size_t n, size_t size)
{
	void *v = calloc(n ? n : 1, size);

	if (!v)
		pc->y.oom = true;
	return v;
}

static bool parse_action(struct pctx *pc, const struct yw_node *n, const char *what, enum tg_action *ret)
{
	const char *s = yw_scalar(&pc->y, n, what);

	if (!s)
		return false;
	if (strcmp(s, "block") == 0)
		*ret = TG_ACTION_BLOCK;
	else if (strcmp(s, "alert") == 0)
		*ret = TG_ACTION_ALERT;
	else if (strcmp(s, "allow") == 0)
		*ret = TG_ACTION_ALLOW;
	else {
		yw_error(&pc->y, n, "invalid %s \"%.40s\": expected block, alert or allow", what, s);
		return false;
	}
	return true;
}

static bool parse_instant_node(struct pctx *pc, const struct yw_node *n, const char *what,
			       struct tg_instant *ret)
{
	const char *s = yw_scalar(&pc->y, n, what);

	if (!s)
		return false;
	if (tg_parse_instant(s, ret) < 0) {
		yw_error(
		    &pc->y, n,
		    "invalid date/time for %s: \"%.40s\"; expected RFC 3339 like 2026-07-10T00:00:00+08:00 "
		    "or a date like 2026-07-10",
		    what, s);
		return false;
	}
	return true;
}

static bool parse_duration_node(struct pctx *pc, const struct yw_node *n, const char *what, int64_t *ret)
{
	const char *s = yw_scalar(&pc->y, n, what);
	int r;

	if (!s)
		return false;
	r = tg_parse_duration(s, ret);
	if (r == -ERANGE) {
		yw_error(&pc->y, n, "duration for %s is too large: \"%.40s\"", what, s);
		return false;
	}
	if (r < 0) {
		yw_error(
		    &pc->y, n,
		    "invalid duration for %s: \"%.40s\"; expected a number and a unit (w, d, h, m, s) like "
		    "14d, 12h or 1d12h",
		    what, s);
		return false;
	}
	return true;
}

static char *parse_url(struct pctx *pc, const struct yw_node *n, const char *what)
{
	const char *s = yw_scalar(&pc->y, n, what);

	if (!s)
		return NULL;
	if ((strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0) || strpbrk(s, " \t\r\n")) {
		yw_error(&pc->y, n, "invalid URL for %s: \"%.60s\"; expected an https:// or http:// URL",
			 what, s);
		return NULL;
	}
	return yw_strdup(&pc->y, n, what);
}

/* A glob from the policy: syntax checked by the glob module. */
static char *parse_glob(struct pctx *pc, const struct yw_node *n, const char *what, bool absolute)
{
	const char *s = yw_scalar(&pc->y, n, what);
	const char *why = NULL;
	int r;

	if (!s)
		return NULL;
	if (!absolute && strchr(s, '/')) {
		yw_error(&pc->y, n, "%s is matched against a file name: expected no '/', got \"%.80s\"", what,
			 s);
		return NULL;
	}
	if (absolute) {
		r = tg_glob_validate(s, &why);
	} else {
		/* A basename glob is checked as the last component of an absolute one. */
		char tmp[TG_POLICY_MAX_STRING + 2];

		snprintf(tmp, sizeof(tmp), "/%s", s);
		r = tg_glob_validate(tmp, &why);
	}
	if (r == -ENOMEM) {
		pc->y.oom = true;
		return NULL;
	}
	if (r < 0) {
		yw_error(&pc->y, n, "invalid glob for %s: \"%.80s\": %s", what, s, why ? why : "bad pattern");
		return NULL;
	}
	/* Paths are matched in absolute form, so a relative glob could never match. */
	if (absolute && s[0] != '/' && s[0] != '*') {
		yw_error(&pc->y, n,
			 "%s must be an absolute path glob (start with '/' or '**/'), got \"%.80s\"", what,
			 s);
		return NULL;
	}
	return yw_strdup(&pc->y, n, what);
}

static bool count_matcher(struct pctx *pc, const struct yw_node *n)
{
	if (++pc->n_matchers <= TG_POLICY_MAX_MATCHERS)
		return true;
	if (!pc->matchers_over) {
		yw_error(&pc->y, n,
			 "too many matchers: the limit is %u executables, scripts and hosts in all tools",
			 TG_POLICY_MAX_MATCHERS);
		pc->matchers_over = true;
	}
	return false;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ---------- match ---------- */

static bool parse_exe(struct pctx *pc, const struct yw_node *n, const char *what, struct tg_exe_match *e)
{
	struct yw_key k[] = {{.name = "name"}, {.name = "path"}, {.name = "sha256"}};
	const struct yw_key *which = NULL;
	unsigned present = 0;
	const char *s;

	if (!yw_map(&pc->y, n, what, k, ARRAY_SIZE(k)))
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(k); i++)
		if (k[i].val) {
			present++;
			if (!which)
				which = &k[i];
		}
	if (present == 0) {
		yw_error(&pc->y, n, "%s needs one of name, path or sha256", what);
		return false;
	}
	if (present > 1) {
		yw_error(&pc->y, n, "%s has more than one of name, path and sha256: write one entry for each",
			 what);
		return false;
	}
	e->pos = n->pos;
	if (which == &k[0]) {
		s = yw_scalar(&pc->y, which->val, what);
		if (!s)
			return false;
		if (strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || strlen(s) > 255) {
			yw_error(&pc->y, which->val,
				 "executable name \"%.80s\" must be a file name without '/' (use path: for a "
				 "glob on "
				 "the full path)",
				 s);
			return false;
		}
		e->kind = TG_EXE_NAME;
		e->value = yw_strdup(&pc->y, which->val, what);
	} else if (which == &k[1]) {
		e->kind = TG_EXE_PATH;
		e->value = parse_glob(pc, which->val, "executable path", true);
	} else {
		s = yw_scalar(&pc->y, which->val, what);
		if (!s)
			return false;
		if (strlen(s) != 64 || strspn(s, "0123456789abcdefABCDEF") != 64) {
			yw_error(&pc->y, which->val,
				 "invalid sha256 \"%.80s\": expected 64 hexadecimal digits", s);
			return false;
		}
		e->kind = TG_EXE_SHA256;
		e->value = yw_strdup(&pc->y, which->val, what);
		if (!e->value)
			return false;
		for (size_t i = 0; i < 64; i++)
			e->value[i] = (char)("0123456789abcdef"[hexval(s[i])]);
		for (size_t i = 0; i < 32; i++)
			e->sha256[i] = (uint8_t)(hexval(s[2 * i]) << 4 | hexval(s[2 * i + 1]));
	}
	return e->value != NULL;
}

/* 64 hex digits into lower-case *ret_hex (malloc'd) and raw[32]; false with an error. */
static bool parse_sha256(struct pctx *pc, const struct yw_node *n, const char *what, char **ret_hex,
			 uint8_t raw[32])
{
	const char *s = yw_scalar(&pc->y, n, what);
	char *hex;

	if (!s)
		return false;
	if (strlen(s) != 64 || strspn(s, "0123456789abcdefABCDEF") != 64) {
		yw_error(&pc->y, n, "invalid sha256 \"%.80s\": expected 64 hexadecimal digits", s);
		return false;
	}
	hex = yw_strdup(&pc->y, n, what);
	if (!hex)
		return false;
	for (size_t i = 0; i < 64; i++)
		hex[i] = (char)("0123456789abcdef"[hexval(s[i])]);
	for (size_t i = 0; i < 32; i++)
		raw[i] = (uint8_t)(hexval(s[2 * i]) << 4 | hexval(s[2 * i + 1]));
	*ret_hex = hex;
	return true;
}

static bool parse_script(struct pctx *pc, const struct yw_node *n, const char *what,
			 struct tg_script_match *sm)
{
	struct yw_key k[] = {{.name = "path"}, {.name = "sha256"}};

	if (!yw_map(&pc->y, n, what, k, ARRAY_SIZE(k)))
		return false;
	if (k[0].val && k[1].val) {
		yw_error(&pc->y, n, "%s has both path and sha256: write one entry for each", what);
		return false;
	}
	sm->pos = n->pos;
	if (k[1].val)
		return parse_sha256(pc, k[1].val, what, &sm->sha256_hex, sm->sha256);
	if (!yw_require(&pc->y, n, &k[0], what, "expected path: GLOB or sha256: HEX"))
		return false;
	sm->path = parse_glob(pc, k[0].val, "script path", true);
	return sm->path != NULL;
}

static bool parse_host_value(struct pctx *pc, const struct yw_node *n, const char *what,
			     struct tg_host_match *h)
{
	const char *s = yw_scalar(&pc->y, n, what);
	bool wildcard = false;
	char *norm = NULL;
	int r;

	if (!s)
		return false;
	if (strchr(s, '/') || strchr(s, ':') || tg_parse_cidr(s, &h->cidr) == 0) {
		r = tg_parse_cidr(s, &h->cidr);
		if (r == -EDOM) {
			char net[INET6_ADDRSTRLEN] = "?";
			struct tg_cidr c = {0};
			char a[INET6_ADDRSTRLEN + 4];
			const char *slash = strchr(s, '/');
			size_t alen = slash ? (size_t)(slash - s) : strlen(s);
			unsigned plen = slash ? (unsigned)atoi(slash + 1) : 0;

			/* Suggest the network the admin probably meant. */
			if (alen < sizeof(a)) {
				memcpy(a, s, alen);
				a[alen] = '\0';
				c.family = inet_pton(AF_INET, a, c.addr) == 1 ? AF_INET : AF_INET6;
				if (c.family == AF_INET6 && inet_pton(AF_INET6, a, c.addr) != 1)
					c.family = 0;
				for (unsigned i = plen; c.family && i < 128; i++)
					c.addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
				if (c.family)
					inet_ntop(c.family, c.addr, net, sizeof(net));
			}
			yw_error(&pc->y, n, "host bits are set in CIDR \"%.60s\": did you mean %s/%u?", s,
				 net, plen);
			return false;
		}
		if (r < 0 && !strchr(s, '/') && strchr(s, ':') == strrchr(s, ':')) {
			/* One ':' is "name:port", never IPv6. */
			yw_error(&pc->y, n,
				 "invalid host \"%.80s\": a port is written as a mapping, like "
				 "{host: api.example.com, ports: [443]}",
				 s);
			return false;
		}
		if (r < 0) {
			yw_error(&pc->y, n,
				 "invalid CIDR \"%.60s\": expected an address with a prefix length like "
				 "160.79.104.0/23 or 2607:6bc0::/48",
				 s);
			return false;
		}
		h->kind = TG_HOST_CIDR;
		h->pos = n->pos;
		return true;
	}
	r = tg_hostname_normalize(s, true, &norm, &wildcard);
	if (r == -ENOMEM) {
		pc->y.oom = true;
		return false;
	}
	if (r < 0) {
		yw_error(&pc->y, n,
			 "invalid host \"%.80s\": expected a DNS name (labels of letters, digits and '-'), "
			 "\"*.example.com\" or a CIDR like 160.79.104.0/23",
			 s);
		return false;
	}
	h->pos = n->pos;
	if (wildcard) {
		h->kind = TG_HOST_WILDCARD;
		h->name = strdup(norm + 2);
		free(norm);
		if (!h->name) {
			pc->y.oom = true;
			return false;
		}
	} else {
		h->kind = TG_HOST_NAME;
		h->name = norm;
	}
	return true;
}

static bool parse_host(struct pctx *pc, const struct yw_node *n, const char *what, struct tg_host_match *h)
{
	struct yw_key k[] = {{.name = "host"}, {.name = "ports"}};
	const struct yw_node *ports;
	bool ok = true;

	if (n->kind == YW_SCALAR)
		return parse_host_value(pc, n, what, h);
	if (!yw_map(&pc->y, n, what, k, ARRAY_SIZE(k)))
		return false;
	if (!yw_require(&pc->y, n, &k[0], what, "expected host: NAME or CIDR"))
		ok = false;
	else if (!parse_host_value(pc, k[0].val, what, h))
		ok = false;
	h->pos = n->pos;
	ports = k[1].val;
	if (ports && yw_seq(&pc->y, ports, "ports")) {
		if (ports->n == 0) {
			yw_error(&pc->y, ports,
				 "empty ports list: list at least one port, or remove ports: for all");
			ok = false;
		}
		h->ports = xcalloc(pc, ports->n, sizeof(*h->ports));
		if (!h->ports)
			return false;
		for (size_t i = 0; i < ports->n; i++) {
			uint64_t v;

			if (!yw_uint(&pc->y, ports->kids[i], "port", 65535, &v)) {
				ok = false;
				continue;
			}
			if (v == 0) {
				yw_error(&pc->y, ports->kids[i], "port 0 is not a port: expected 1..65535");
				ok = false;
				continue;
			}
			h->ports[h->n_ports++] = (uint16_t)v;
		}
	} else if (ports) {
		ok = false;
	}
	return ok;
}

static void parse_match(struct pctx *pc, const struct yw_node *n, const char *tw, struct tg_tool *t)
{
	struct yw_key k[] = {{.name = "executables"}, {.name = "scripts"}, {.name = "hosts"}};
	unsigned errors_before = pc->y.errors;
	char what[96], ew[128];
	const struct yw_node *l;

	snprintf(what, sizeof(what), "%s.match", tw);
	if (!yw_map(&pc->y, n, what, k, ARRAY_SIZE(k)))
		return;
	l = k[0].val;
	snprintf(what, sizeof(what), "%s.match.executables", tw);
	if (l && yw_seq(&pc->y, l, what) && l->n) {
		t->exes = xcalloc(pc, l->n, sizeof(*t->exes));
		for (size_t i = 0; t->exes && i < l->n; i++) {
			snprintf(ew, sizeof(ew), "%s[%zu]", what, i);
			if (!count_matcher(pc, l->kids[i]))
				break;
			if (parse_exe(pc, l->kids[i], ew, &t->exes[t->n_exes]))
				t->n_exes++;
			else
				free(t->exes[t->n_exes].value), t->exes[t->n_exes].value = NULL;
		}
	}
	l = k[1].val;
	snprintf(what, sizeof(what), "%s.match.scripts", tw);
	if (l && yw_seq(&pc->y, l, what) && l->n) {
		t->scripts = xcalloc(pc, l->n, sizeof(*t->scripts));
		for (size_t i = 0; t->scripts && i < l->n; i++) {
			snprintf(ew, sizeof(ew), "%s[%zu]", what, i);
			if (!count_matcher(pc, l->kids[i]))
				break;
			if (parse_script(pc, l->kids[i], ew, &t->scripts[t->n_scripts]))
				t->n_scripts++;
		}
	}
	l = k[2].val;
	snprintf(what, sizeof(what), "%s.match.hosts", tw);
	if (l && yw_seq(&pc->y, l, what) && l->n) {
		t->hosts = xcalloc(pc, l->n, sizeof(*t->hosts));
		for (size_t i = 0; t->hosts && i < l->n; i++) {
			struct tg_host_match *h = &t->hosts[t->n_hosts];

			snprintf(ew, sizeof(ew), "%s[%zu]", what, i);
			if (!count_matcher(pc, l->kids[i]))
				break;
			if (parse_host(pc, l->kids[i], ew, h)) {
				t->n_hosts++;
			} else {
				free(h->name);
				free(h->ports);
				memset(h, 0, sizeof(*h));
			}
		}
	}
	snprintf(what, sizeof(what), "%s.match", tw);
	if (t->n_exes + t->n_scripts + t->n_hosts == 0 && pc->y.errors == errors_before)
		yw_error(&pc->y, n,
			 "%s matches nothing: expected entries under executables, scripts or hosts", what);
}

/* ---------- exempt ---------- */

static bool valid_principal_name(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 256 || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		    c == '-' || c == '.' || c == '@' || (c == '$' && i == len - 1))
			continue;
		return false;
	}
	return true;
}

static void parse_principals(struct pctx *pc, const struct yw_node *l, const char *what,
			     struct tg_principal **ret, size_t *ret_n)
{
	struct tg_principal *v;
	size_t n = 0;

	if (!yw_seq(&pc->y, l, what) || l->n == 0)
		return;
	v = xcalloc(pc, l->n, sizeof(*v));
	if (!v)
		return;
	for (size_t i = 0; i < l->n; i++) {
		const struct yw_node *e = l->kids[i];
		const char *s = yw_scalar(&pc->y, e, what);

		if (!s)
			continue;
		if (strspn(s, "0123456789") == strlen(s)) {
			uint64_t id;
			/* A fully numeric entry is an id even when quoted: names cannot be all digits. */
			struct yw_node tmp = *e;

			tmp.plain = true;
			char idw[128];

			snprintf(idw, sizeof(idw), "numeric id in %s", what);
			if (!yw_uint(&pc->y, &tmp, idw, UINT32_MAX - 1, &id))
				continue;
			v[n].id = (uint32_t)id;
			v[n].numeric = true;
			n++;
			continue;
		}
		if (!valid_principal_name(s)) {
			yw_error(&pc->y, e,
				 "invalid name \"%.60s\" in %s: expected a user/group name or a number", s,
				 what);
			continue;
		}
		v[n].name = yw_strdup(&pc->y, e, what);
		if (v[n].name)
			n++;
	}
	*ret = v;
	*ret_n = n;
}

static void parse_exempt(struct pctx *pc, const struct yw_node *n, const char *tw, struct tg_exempt *ex)
{
	struct yw_key k[] = {{.name = "users"}, {.name = "groups"}, {.name = "until"}};
	char what[96];

	snprintf(what, sizeof(what), "%s.exempt", tw);
	if (!yw_map(&pc->y, n, what, k, ARRAY_SIZE(k)))
		return;
	snprintf(what, sizeof(what), "%s.exempt.users", tw);
	if (k[0].val)
		parse_principals(pc, k[0].val, what, &ex->users, &ex->n_users);
	snprintf(what, sizeof(what), "%s.exempt.groups", tw);
	if (k[1].val)
		parse_principals(pc, k[1].val, what, &ex->groups, &ex->n_groups);
	snprintf(what, sizeof(what), "%s.exempt.until", tw);
	if (k[2].val)
		parse_instant_node(pc, k[2].val, what, &ex->until);
}

/* ---------- tool ---------- */

static bool valid_id(const char *s)
{
	if (!*s || strlen(s) > 64)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(s);
}

static void parse_tool(struct pctx *pc, const struct yw_node *n, size_t idx, struct tg_tool *t)
{
	enum {
		K_ID,
		K_NAME,
		K_VENDOR,
		K_ACTION,
		K_EFFECTIVE,
		K_WARN,
		K_EXPIRES,
		K_ALT,
		K_MESSAGE,
		K_NOTICE,
		K_MATCH,
		K_EXEMPT,
		K_ROLLOUT,
	};
	struct yw_key k[] = {
	    [K_ID] = {.name = "id"},
	    [K_NAME] = {.name = "name"},
	    [K_VENDOR] = {.name = "vendor"},
	    [K_ACTION] = {.name = "action"},
	    [K_EFFECTIVE] = {.name = "effective"},
	    [K_WARN] = {.name = "warn_before"},
	    [K_EXPIRES] = {.name = "expires"},
	    [K_ALT] = {.name = "alternative"},
	    [K_MESSAGE] = {.name = "message"},
	    [K_NOTICE] = {.name = "notice"},
	    [K_MATCH] = {.name = "match"},
	    [K_EXEMPT] = {.name = "exempt"},
	    [K_ROLLOUT] = {.name = "rollout"},
	};
	char tw[48], what[96];
	const char *id;

	snprintf(tw, sizeof(tw), "tools[%zu]", idx);
	t->pos = n->pos;
	t->rollout_percent = 100;
	if (!yw_map(&pc->y, n, tw, k, ARRAY_SIZE(k)))
		return;

	if (yw_require(&pc->y, n, &k[K_ID], tw, "expected id: NAME of lower-case letters, digits and '-'")) {
		snprintf(what, sizeof(what), "%s.id", tw);
		id = yw_scalar(&pc->y, k[K_ID].val, what);
		if (id && !valid_id(id))
			yw_error(
			    &pc->y, k[K_ID].val,
			    "invalid tool id \"%.64s\": expected 1..64 lower-case letters, digits and '-' "
			    "([a-z0-9-]+)",
			    id);
		else if (id)
			t->id = yw_strdup(&pc->y, k[K_ID].val, what);
	}
	snprintf(what, sizeof(what), "%s.name", tw);
	if (k[K_NAME].val)
		t->name = yw_strdup(&pc->y, k[K_NAME].val, what);
	snprintf(what, sizeof(what), "%s.vendor", tw);
	if (k[K_VENDOR].val)
		t->vendor = yw_strdup(&pc->y, k[K_VENDOR].val, what);
	snprintf(what, sizeof(what), "%s.action", tw);
	if (k[K_ACTION].val)
		parse_action(pc, k[K_ACTION].val, what, &t->action);
	snprintf(what, sizeof(what), "%s.effective", tw);
	if (k[K_EFFECTIVE].val)
		parse_instant_node(pc, k[K_EFFECTIVE].val, what, &t->effective);
	snprintf(what, sizeof(what), "%s.warn_before", tw);
	if (k[K_WARN].val)
		parse_duration_node(pc, k[K_WARN].val, what, &t->warn_before);
	snprintf(what, sizeof(what), "%s.expires", tw);
	if (k[K_EXPIRES].val && parse_instant_node(pc, k[K_EXPIRES].val, what, &t->expires) &&
	    t->effective.set && t->expires.t <= t->effective.t) {
		char a[64], b[64];

		yw_error(&pc->y, k[K_EXPIRES].val, "expires (%s) must be later than effective (%s)",
			 tg_format_instant(&t->expires, a, sizeof(a)),
			 tg_format_instant(&t->effective, b, sizeof(b)));
	}
	snprintf(what, sizeof(what), "%s.alternative", tw);
	if (k[K_ALT].val)
		t->alternative = yw_strdup(&pc->y, k[K_ALT].val, what);
	snprintf(what, sizeof(what), "%s.message", tw);
	if (k[K_MESSAGE].val)
		t->message = yw_strdup(&pc->y, k[K_MESSAGE].val, what);
	if (k[K_NOTICE].val) {
		struct yw_key nk[] = {{.name = "url"}};

		snprintf(what, sizeof(what), "%s.notice", tw);
		if (yw_map(&pc->y, k[K_NOTICE].val, what, nk, ARRAY_SIZE(nk)) && nk[0].val) {
			snprintf(what, sizeof(what), "%s.notice.url", tw);
			t->notice_url = parse_url(pc, nk[0].val, what);
		}
	}
	if (k[K_ROLLOUT].val) {
		struct yw_key rk[] = {{.name = "percent"}};

		snprintf(what, sizeof(what), "%s.rollout", tw);
		if (yw_map(&pc->y, k[K_ROLLOUT].val, what, rk, ARRAY_SIZE(rk)) &&
		    yw_require(&pc->y, k[K_ROLLOUT].val, &rk[0], what, "expected percent: 0..100")) {
			uint64_t v;

			snprintf(what, sizeof(what), "%s.rollout.percent", tw);
			if (yw_uint(&pc->y, rk[0].val, what, 100, &v))
				t->rollout_percent = (int)v;
		}
	}
	if (yw_require(&pc->y, n, &k[K_MATCH], tw, "expected match: with executables, scripts or hosts"))
		parse_match(pc, k[K_MATCH].val, tw, t);
	if (k[K_EXEMPT].val)
		parse_exempt(pc, k[K_EXEMPT].val, tw, &t->exempt);
	if (!t->name && t->id) {
		/* Notices always have a name to show. */
		t->name = strdup(t->id);
		if (!t->name)
			pc->y.oom = true;
	}
}

static void parse_tools(struct pctx *pc, const struct yw_node *l, struct tg_policy *p)
{
	if (!yw_seq(&pc->y, l, "tools"))
		return;
	if (l->n > TG_POLICY_MAX_TOOLS) {
		yw_error(&pc->y, l, "too many tools: %zu, the limit is %u", l->n, TG_POLICY_MAX_TOOLS);
		return;
	}
	if (l->n == 0)
		return;
	p->tools = xcalloc(pc, l->n, sizeof(*p->tools));
	if (!p->tools)
		return;
	for (size_t i = 0; i < l->n; i++) {
		struct tg_tool *t = &p->tools[p->n_tools++];

		parse_tool(pc, l->kids[i], i, t);
		if (!t->id)
			continue;
		/* Quadratic, but bounded by TG_POLICY_MAX_TOOLS. */
		for (size_t j = 0; j + 1 < p->n_tools; j++)
			if (p->tools[j].id && strcmp(p->tools[j].id, t->id) == 0) {
				yw_error_at(&pc->y, t->pos,
					    "duplicate tool id \"%s\" (first defined at %u:%u)", t->id,
					    p->tools[j].pos.line, p->tools[j].pos.col);
				break;
			}
	}
}

static void parse_interpreters(struct pctx *pc, const struct yw_node *l, struct tg_policy *p)
{
	if (!l) {
		p->interpreters = xcalloc(pc, ARRAY_SIZE(default_interpreters), sizeof(char *));
		if (!p->interpreters)
			return;
		for (size_t i = 0; i < ARRAY_SIZE(default_interpreters); i++) {
			p->interpreters[i] = strdup(default_interpreters[i]);
			if (!p->interpreters[i]) {
				pc->y.oom = true;
				return;
			}
			p->n_interpreters++;
		}
		return;
	}
	if (!yw_seq(&pc->y, l, "interpreters"))
		return;
	p->interpreters = xcalloc(pc, l->n, sizeof(char *));
	if (!p->interpreters)
		return;
	for (size_t i = 0; i < l->n; i++) {
		char *g = parse_glob(pc, l->kids[i], "interpreters entry", false);

		if (g)
			p->interpreters[p->n_interpreters++] = g;
	}
}

static void parse_root(struct pctx *pc, const struct yw_node *root, struct tg_policy *p)
{
	enum { K_API, K_KIND, K_META, K_DEFAULTS, K_TOOLS, K_INTERP };
	struct yw_key k[] = {
	    [K_API] = {.name = "apiVersion"}, [K_KIND] = {.name = "kind"},
	    [K_META] = {.name = "metadata"},  [K_DEFAULTS] = {.name = "defaults"},
	    [K_TOOLS] = {.name = "tools"},    [K_INTERP] = {.name = "interpreters"},
	};
	const char *s;

	p->default_action = TG_ACTION_BLOCK;
	if (root->kind != YW_MAP && !root->bad) {
		yw_error(&pc->y, root,
			 "expected a mapping with apiVersion: toolguard/v1 at the top of the policy, got %s",
			 yw_describe(root));
		return;
	}
	if (!yw_map(&pc->y, root, "the policy", k, ARRAY_SIZE(k)))
		return;
	if (yw_require(&pc->y, root, &k[K_API], "the policy", "expected apiVersion: toolguard/v1")) {
		s = yw_scalar(&pc->y, k[K_API].val, "apiVersion");
		if (s && strcmp(s, "toolguard/v1") != 0)
			yw_error(&pc->y, k[K_API].val,
				 "unsupported apiVersion \"%.40s\": expected toolguard/v1", s);
	}
	if (yw_require(&pc->y, root, &k[K_KIND], "the policy", "expected kind: Policy")) {
		s = yw_scalar(&pc->y, k[K_KIND].val, "kind");
		if (s && strcmp(s, "Policy") != 0)
			yw_error(&pc->y, k[K_KIND].val, "unsupported kind \"%.40s\": expected Policy", s);
	}
	if (yw_require(&pc->y, root, &k[K_META], "the policy",
		       "expected metadata: with name, serial, contact")) {
		struct yw_key mk[] = {{.name = "name"}, {.name = "serial"}, {.name = "contact"}};
		const struct yw_node *m = k[K_META].val;

		if (yw_map(&pc->y, m, "metadata", mk, ARRAY_SIZE(mk))) {
			if (yw_require(&pc->y, m, &mk[0], "metadata", "expected name: POLICY-NAME"))
				p->name = yw_strdup(&pc->y, mk[0].val, "metadata.name");
			if (mk[1].val)
				yw_uint(&pc->y, mk[1].val, "metadata.serial", INT64_MAX, &p->serial);
			if (mk[2].val)
				p->contact = yw_strdup(&pc->y, mk[2].val, "metadata.contact");
		}
	}
	if (k[K_DEFAULTS].val) {
		struct yw_key dk[] = {{.name = "action"}, {.name = "notice"}};
		const struct yw_node *d = k[K_DEFAULTS].val;

		if (yw_map(&pc->y, d, "defaults", dk, ARRAY_SIZE(dk))) {
			if (dk[0].val)
				parse_action(pc, dk[0].val, "defaults.action", &p->default_action);
			if (dk[1].val) {
				struct yw_key nk[] = {{.name = "url"}};

				if (yw_map(&pc->y, dk[1].val, "defaults.notice", nk, ARRAY_SIZE(nk)) &&
				    nk[0].val)
					p->default_notice_url =
					    parse_url(pc, nk[0].val, "defaults.notice.url");
			}
		}
	}
	if (k[K_TOOLS].val)
		parse_tools(pc, k[K_TOOLS].val, p);
	parse_interpreters(pc, k[K_INTERP].val, p);
}

int tg_policy_parse(const char *buf, size_t len, const char *filename, struct tg_policy **ret,
		    struct tg_diags *diags)
{
	struct pctx pc = {.y = {.file = filename ? filename : "<policy>", .diags = diags}};
	struct yw_node *root = NULL;
	struct tg_policy *p;
	int r;

	if (!ret || (!buf && len))
		return -EINVAL;
	if (len > TG_POLICY_MAX_BYTES) {
		yw_error_at(&pc.y, (struct tg_pos){0, 0},
			    "policy is %zu bytes, larger than the limit of %u bytes", len,
			    TG_POLICY_MAX_BYTES);
		return -EINVAL;
	}
	r = yw_load(&pc.y, buf ? buf : "", len, &root);
	if (r < 0)
		return r;
	if (!root || yw_is_null(root)) {
		yw_error_at(&pc.y, (struct tg_pos){1, 1},
			    "empty policy: expected a mapping with apiVersion: toolguard/v1");
		yw_free(root);
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		yw_free(root);
		return -ENOMEM;
	}
	parse_root(&pc, root, p);
	yw_free(root);

	p->source = strdup(pc.y.file);
	if (!p->source)
		pc.y.oom = true;
	if (!pc.y.oom && pc.y.errors == 0 &&
	    EVP_Digest(buf ? buf : "", len, p->sha256, NULL, EVP_sha256(), NULL) != 1)
		pc.y.oom = true;
	if (pc.y.oom || pc.y.errors) {
		tg_policy_free(p);
		return pc.y.oom && !pc.y.errors ? -ENOMEM : -EINVAL;
	}
	*ret = p;
	return 0;
}

int tg_policy_load_file(const char *path, struct tg_policy **ret, struct tg_diags *diags)
{
	size_t len = 0;
	char *buf = NULL;
	int r;

	if (!path || !ret)
		return -EINVAL;
	r = yw_read_file(path, "policy", &buf, &len, diags);
	if (r < 0)
		return r;
	r = tg_policy_parse(buf, len, path, ret, diags);
	free(buf);
	return r;
}
