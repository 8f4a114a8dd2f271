/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * toolguard policy model: pure data produced by the parser (policy_parse.c),
 * consumed by the matcher (matcher.c), the daemon's compiler and toolctl.
 * Library code never logs: problems are collected in a struct tg_diags.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Limits on untrusted input (documented in toolguard-policy(5)). */
#define TG_POLICY_MAX_BYTES (8u * 1024u * 1024u) /* policy/config file size cap */
#define TG_POLICY_MAX_DEPTH 32u                  /* YAML nesting depth */
#define TG_POLICY_MAX_TOOLS 4096u
#define TG_POLICY_MAX_MATCHERS 65536u /* executables+scripts+hosts, all tools */
#define TG_POLICY_MAX_STRING 4096u    /* any scalar */
#define TG_POLICY_MAX_DIAGS 200u      /* errors reported per file, then "too many errors" */

/* ---------- diagnostics ---------- */

struct tg_pos {
	uint32_t line; /* 1-based; 0 = unknown */
	uint32_t col;  /* 1-based */
};

struct tg_diag {
	char *file;
	struct tg_pos pos;
	char *msg; /* "expected ..., got ..." */
};

struct tg_diags {
	struct tg_diag *v;
	size_t n, cap;
	size_t dropped; /* past TG_POLICY_MAX_DIAGS */
};

__attribute__((format(printf, 4, 5))) void tg_diags_add(struct tg_diags *d, const char *file, struct tg_pos pos,
							 const char *fmt, ...);
void tg_diags_free(struct tg_diags *d);
/* "FILE:LINE:COL: msg" into buf; returns buf. */
const char *tg_diag_format(const struct tg_diag *dg, char *buf, size_t len);

/* ---------- time ---------- */

struct tg_instant {
	bool set;
	bool bare_date;     /* written as YYYY-MM-DD: 00:00 local time */
	int64_t t;          /* seconds since the epoch, UTC */
	int32_t utcoff_min; /* offset as written (or local offset for bare dates), for display */
};

/* RFC 3339 (with Z or +hh:mm, optional fraction) or bare YYYY-MM-DD (local time). 0 or -EINVAL. */
int tg_parse_instant(const char *s, struct tg_instant *ret);
/* "14d", "12h", "10m", "30s", "1w", also combined "1d12h". 0 or -EINVAL/-ERANGE. */
/* (Units in decreasing order, each at most once; "0" alone is 0; -ERANGE on int64 overflow.) */
int tg_parse_duration(const char *s, int64_t *ret_seconds);
/* "2026-07-10 00:00 +08:00" in the instant's own offset. */
const char *tg_format_instant(const struct tg_instant *in, char *buf, size_t len);
/* Same, for a bare time_t in local time. */
const char *tg_format_time_local(int64_t t, char *buf, size_t len);
/* "3 d", "5 h", "12 min", "40 s" */
/* (Largest unit that is >= 1, rounded down; negative spans get a '-'.) */
const char *tg_format_span(int64_t seconds, char *buf, size_t len);

/* ---------- network ---------- */

struct tg_cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order; IPv4 in the first 4 bytes */
	uint8_t prefixlen;
};

/* "1.2.3.0/24", "1.2.3.4" (=/32), "2607:6bc0::/48", "::1". Host bits must be zero. */
/* Returns -EDOM (not -EINVAL) when only the host bits are wrong, so callers can suggest the
 * network. "::ffff:a.b.c.d/N" (N >= 96) is returned as IPv4 a.b.c.d/(N-96). */
int tg_parse_cidr(const char *s, struct tg_cidr *ret);
bool tg_cidr_contains(const struct tg_cidr *c, int family, const uint8_t addr[16]);
/* Lower-case, strip one trailing dot, validate labels (LDH, 1..63, total <= 253).
 * "*.example.com" is accepted only when allow_wildcard; *ret_wildcard tells. */
/* *ret keeps the "*." of a wildcard ("*.example.com"). A name whose last label is all digits
 * ("1.2.3.4", "a.123") is refused: it is an IP literal (or a typo of one), not a DNS name.
 * 0, -EINVAL or -ENOMEM. */
int tg_hostname_normalize(const char *s, bool allow_wildcard, char **ret, bool *ret_wildcard);

/* ---------- globs ---------- */

/* '*' within one component, '**' across '/', '?' one char (not '/'), '[...]' class
 * with ranges and '!'/'^' negation. Returns 0 or -EINVAL with a reason in *ret_why (static). */
int tg_glob_validate(const char *pattern, const char **ret_why);
bool tg_glob_match(const char *pattern, const char *path);

enum tg_glob_form {
	TG_GLOB_EXACT,   /* no wildcard: literal is the whole path */
	TG_GLOB_PREFIX,  /* "literal/ **": literal is a prefix ending in '/' */
	TG_GLOB_SUFFIX,  /* "** /literal": literal is a suffix starting with '/' */
	TG_GLOB_COMPLEX, /* anything else: matched in userspace (inode scan) */
};
/* Classify for the kernel; *ret_literal (malloc'd) for EXACT/PREFIX/SUFFIX. */
enum tg_glob_form tg_glob_reduce(const char *pattern, char **ret_literal);
/* A COMPLEX glob of the form "P/ ** /S" with literal, absolute P and literal S:
 * the kernel matches it as prefix "P/" AND suffix "/S" of one path, at least
 * strlen("P/") + strlen("/S") - 1 bytes long. *ret_prefix_len = strlen("P/"),
 * *ret_suffix points at "/S" inside pattern. */
bool tg_glob_split_affix(const char *pattern, size_t *ret_prefix_len, const char **ret_suffix);

/* ---------- policy ---------- */

enum tg_action {
	TG_ACTION_UNSET = 0,
	TG_ACTION_BLOCK,
	TG_ACTION_ALERT,
	TG_ACTION_ALLOW,
};

enum tg_exe_kind {
	TG_EXE_NAME,
	TG_EXE_PATH,
	TG_EXE_SHA256,
};

struct tg_exe_match {
	enum tg_exe_kind kind;
	char *value; /* basename, glob, or lower-case hex digest */
	uint8_t sha256[32];
	struct tg_pos pos;
};

struct tg_script_match {
	char *path; /* glob; NULL for a sha256 entry */
	struct tg_pos pos;
	/* extension ("scripts: - sha256: HEX"): the script's content hash; path is then NULL */
	char *sha256_hex; /* lower-case hex digest, NULL for a path entry */
	uint8_t sha256[32];
};

enum tg_host_kind {
	TG_HOST_NAME,     /* exact name */
	TG_HOST_WILDCARD, /* "*.suffix": any depth below suffix, not suffix itself */
	TG_HOST_CIDR,
};

struct tg_host_match {
	enum tg_host_kind kind;
	char *name; /* normalized; for WILDCARD the suffix without "*." */
	struct tg_cidr cidr;
	uint16_t *ports; /* empty = all ports */
	size_t n_ports;
	struct tg_pos pos;
};

struct tg_principal {
	char *name; /* as written (NULL when numeric) */
	uint32_t id;
	bool numeric; /* written as a number */
};

struct tg_exempt {
	struct tg_principal *users;
	size_t n_users;
	struct tg_principal *groups;
	size_t n_groups;
	struct tg_instant until;
};

struct tg_tool {
	char *id; /* [a-z0-9-]+ */
	char *name;
	char *vendor;
	enum tg_action action; /* UNSET = policy default */
	struct tg_instant effective;
	int64_t warn_before; /* seconds, 0 = no warning window */
	struct tg_instant expires;
	char *alternative;
	char *message;
	char *notice_url; /* tool-level notice.url, else NULL (use policy default) */
	int rollout_percent; /* 100 unless rollout: {percent: N} (extension) */

	struct tg_exe_match *exes;
	size_t n_exes;
	struct tg_script_match *scripts;
	size_t n_scripts;
	struct tg_host_match *hosts;
	size_t n_hosts;
	struct tg_exempt exempt;

	struct tg_pos pos;
};

struct tg_policy {
	char *name;
	uint64_t serial;
	char *contact;
	enum tg_action default_action; /* default: BLOCK */
	char *default_notice_url;

	struct tg_tool *tools;
	size_t n_tools;
	char **interpreters; /* globs on a basename; default list when absent */
	size_t n_interpreters;

	char *source;      /* file name or URL it was read from */
	uint8_t sha256[32]; /* of the exact bytes parsed */
};

/* Parse and validate a whole policy. On any error returns -EINVAL, *ret untouched,
 * every problem in diags (file:line:col). On success 0 and *ret owned by caller.
 * filename is used in diagnostics and stored in ->source. */
int tg_policy_parse(const char *buf, size_t len, const char *filename, struct tg_policy **ret,
		    struct tg_diags *diags);
/* Read (refusing files over TG_POLICY_MAX_BYTES and non-regular files) and parse. */
/* Symlinks are followed (the path is chosen by root); FIFOs/devices/directories give -EINVAL,
 * files over the cap -EFBIG (refused unread), open/read errors -errno; always with a diagnostic
 * at line 0 ("FILE: message"). */
int tg_policy_load_file(const char *path, struct tg_policy **ret, struct tg_diags *diags);
void tg_policy_free(struct tg_policy *p);

static inline enum tg_action tg_tool_action(const struct tg_policy *p, const struct tg_tool *t)
{
	return t->action != TG_ACTION_UNSET ? t->action : p->default_action;
}
static inline const char *tg_tool_notice_url(const struct tg_policy *p, const struct tg_tool *t)
{
	return t->notice_url ? t->notice_url : p->default_notice_url;
}
const char *tg_action_name(enum tg_action a);

/* ---------- daemon configuration ---------- */

enum tg_mode {
	TG_MODE_ENFORCE,
	TG_MODE_MONITOR,
};

#define TG_CONFIG_INSPECT_PORTS_MAX 16u /* network.inspect_ports entries (the kernel's list) */

struct tg_config {
	enum tg_mode mode;
	char *policy_file;
	char *policy_url;
	int64_t policy_interval; /* seconds */
	char *policy_ca_file;
	char *policy_public_key;
	char *policy_cache;
	char *policy_client_cert;   /* extension: PEM client certificate for policy.url (added by K) */
	char *policy_client_key;    /* extension: its PEM private key (else in client_cert) */
	bool policy_allow_rollback; /* extension: accept a lower metadata.serial from policy.url */
	bool notices_tty;
	bool notices_desktop;
	int64_t notices_interval; /* seconds between notices per tool per terminal (60; added by J) */
	char *notices_opener;	  /* absolute path run as the user with the URL after a click on a
				     desktop notice; NULL = xdg-open (else gio open) (added by "notice") */
	char *events_log;
	char *control_socket;
	char *admin_group;
	/* report: events POSTed in batches to a collector (daemon/report.c; added by "report") */
	char *report_url;	    /* report.url or report_url; NULL = no reporting */
	char *report_spool;	    /* spool directory (TG_REPORT_SPOOL) */
	uint64_t report_spool_max;  /* bytes kept in the spool before the oldest are dropped */
	int64_t report_retry_max;   /* seconds: cap of the retry backoff */
	char *report_ca_file;	    /* NULL = policy.ca_file */
	char *report_client_cert;   /* NULL = policy.client_cert */
	char *report_client_key;    /* NULL = policy.client_key */
	/* network.inspect_ports: TCP destination ports whose first bytes (TLS
	 * server_name, HTTP CONNECT line) are checked against host rules; 0 ends
	 * the list. inspect_all: every TCP connection (network.inspect_ports: all). */
	uint16_t inspect_ports[TG_CONFIG_INSPECT_PORTS_MAX];
	bool inspect_all;
};

/* Defaults (see paths.h). */
int tg_config_defaults(struct tg_config **ret);
int tg_config_parse(const char *buf, size_t len, const char *filename, struct tg_config **ret,
		    struct tg_diags *diags);
int tg_config_load_file(const char *path, struct tg_config **ret, struct tg_diags *diags);
/* ports[0..n) up to the first 0 as "80,443,..." in buf (always NUL-terminated;
 * "" for none); TG_CONFIG_INSPECT_PORTS_TEXT bytes hold any inspect_ports. */
#define TG_CONFIG_INSPECT_PORTS_TEXT (TG_CONFIG_INSPECT_PORTS_MAX * 6)
void tg_ports_text(const uint16_t *ports, size_t n, char *buf, size_t len);
void tg_config_free(struct tg_config *c);
