/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Names become addresses ahead of time: the daemon resolves every exact host
 * name of the policy in force (A and AAAA) on its event loop, never blocking
 * it, and keeps the answers as /32 and /128 entries of the active generation
 * of tg_net4/tg_net6 until their TTL passes without the name resolving to
 * that address again, or the rule goes.
 *
 * Resolvers: TOOLGUARD_RESOLVERS ("127.0.0.1:5353 [::1]:53", tests and special
 * set-ups), else the nameserver lines of /etc/resolv.conf (re-read when it
 * changes; TOOLGUARD_RESOLV_CONF names another file), else 127.0.0.1:53.
 * UDP with EDNS0, TCP when the answer is truncated; every server tried twice
 * with a short timeout; a server that never answers delays only its own
 * names' next attempt (retried with backoff), never the loop, the start-up or
 * any decision.
 *
 * Entries and the kernel's DNS learner (dns_guard.bpf.c) coexist: the daemon
 * owns the refs of exact-name rules on the addresses it resolved; it writes
 * each entry as (covering CIDR rule's refs) + (refs of every name holding the
 * address) + (whatever else the entry holds, e.g. a wildcard the learner
 * matched), and on release removes only exact-name refs, deleting the entry
 * when nothing but the covering CIDR's refs would remain. CIDR entries are
 * never deleted. Learned entries belong to one generation; the daemon's are
 * written again into every new generation before the swap (no gap).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct tg_daemon;
struct tg_resolver;
struct tg_kernel;

/* Hooks itself into d->kernel (apply, event naming); timers on the default
 * sd-event loop. 0 or -errno. */
int tg_resolver_new(struct tg_daemon *d, struct tg_resolver **ret);
void tg_resolver_free(struct tg_resolver *r);
/* After every successful apply: names added start resolving, names removed go
 * (their entries did not enter the new generation). NULL r is fine. */
void tg_resolver_policy_changed(struct tg_resolver *r);

struct tg_resolver_stats {
	size_t names;		    /* exact names of the policy in force */
	size_t names_resolved;	    /* ... holding at least one address */
	size_t addresses;	    /* (name, address) pairs held */
	uint64_t next_resolve_usec; /* CLOCK_REALTIME of the next query, 0 = none */
	uint64_t queries, answers, failures;
	size_t servers;
	char server[80]; /* the first server, "" when none */
};
void tg_resolver_stats(const struct tg_resolver *r, struct tg_resolver_stats *ret);

/* {"names":[{"name","tools":[...],"addresses":[{"ip","expires"}],"next_resolve",
 * "last_error"}],...} for names equal to host (normalized) or holding ip
 * (text), or every name when both are NULL. NULL on ENOMEM. */
json_object *tg_resolver_json(const struct tg_resolver *r, const char *host, const char *ip);
