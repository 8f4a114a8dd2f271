/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's resolver of policy host names (see resolve.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <systemd/sd-event.h>

#include "compile.h"
#include "dnsmsg.h"
#include "kernel.h"
#include "kernel_internal.h"
#include "log.h"
#include "resolve.h"
#include "state.h"
#include "tamper.h"

#define USEC		   1000000ull
#define MAX_SERVERS	   4u
#define MAX_INFLIGHT	   64u		       /* names being resolved at once */
#define UDP_TIMEOUT_USEC   (1500ull * 1000ull) /* per UDP attempt */
#define TCP_TIMEOUT_USEC   (3ull * USEC)
#define ATTEMPTS_PER_SRV   2u
#define MIN_REFRESH_USEC   (1ull * USEC) /* re-resolve at 80% of the TTL, within these */
#define MAX_REFRESH_USEC   (3600ull * USEC)
#define MIN_HOLD_SEC	   2u		 /* an address is held at least this long (TTL 0 answers) */
#define HOLD_GRACE_USEC	   (1ull * USEC) /* past the TTL: the refresh has time to answer */
#define NEG_MIN_USEC	   (5ull * USEC) /* a name without addresses: asked again within these */
#define NEG_MAX_USEC	   (300ull * USEC)
#define RETRY_MAX_USEC	   (60ull * USEC)   /* backoff cap when no server answers */
#define STALE_MAX_USEC	   (3600ull * USEC) /* held past the TTL while no server answers, at most */
#define MAX_ADDRS_PER_NAME 64u
#define RESOLV_CONF	   "/etc/resolv.conf"

struct server {
	struct sockaddr_storage sa;
	socklen_t len;
	char text[80];
};

struct haddr {
	int family;
	uint8_t addr[16];
	uint64_t expire; /* CLOCK_MONOTONIC usec */
};

struct rname;

struct query {
	struct rname *n;
	uint16_t qtype, id;
	unsigned attempt;
	bool running, tcp, tcp_sent;
	int fd;
	sd_event_source *io, *timer;
	uint8_t out[TG_DNS_QUERY_MAX + 2]; /* TCP: 2-byte length first */
	size_t out_len, out_off;
	uint8_t *in; /* TCP answer */
	size_t in_len, in_want;
	/* outcome */
	bool answered;
	uint32_t min_ttl, neg_ttl;
	size_t n_got;
	struct tg_dns_addr got[TG_DNS_MAX_ADDRS];
	char error[96];
};

struct rname {
	struct tg_resolver *res;
	char *name;
	struct tg_abi_net_ref refs[TG_ABI_NET_REFS];
	size_t n_refs;
	struct haddr *addrs;
	size_t n_addrs;
	uint64_t next; /* CLOCK_MONOTONIC usec of the next resolution; 0 = now */
	uint64_t last_ok;
	unsigned failures, pending;
	bool keep; /* policy_changed: still in the policy */
	struct query q[2];
	char last_error[128];
};

struct tg_resolver {
	struct tg_daemon *d;
	struct tg_kernel *k; /* the one hooked (d->kernel may be swapped) */
	sd_event *event;
	sd_event_source *tick;
	struct rname **names; /* sorted by name */
	size_t n_names;
	unsigned inflight;
	struct server servers[MAX_SERVERS];
	size_t n_servers;
	const char *conf_path;
	struct timespec conf_mtime;
	bool conf_env;
	uint64_t queries, answers, failures;
};

static uint64_t now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t mono_to_real(uint64_t mono)
{
	struct timespec r, m;
	uint64_t rn, mn;

	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &m);
	rn = (uint64_t)r.tv_sec * USEC + (uint64_t)r.tv_nsec / 1000;
	mn = (uint64_t)m.tv_sec * USEC + (uint64_t)m.tv_nsec / 1000;
	return mono >= mn ? rn + (mono - mn) : rn - (mn - mono);
}

static size_t alen(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* ---------- servers ---------- */

static int parse_server(const char *s, struct server *ret)
{
	char host[64];
	const char *port = NULL;
	unsigned long pn = 53;
	struct server sv = {0};

	if (s[0] == '[') {
		const char *e = strchr(s, ']');

		if (!e || (size_t)(e - s - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, (size_t)(e - s - 1));
		host[e - s - 1] = '\0';
		if (e[1] == ':')
			port = e + 2;
		else if (e[1])
			return -EINVAL;
	} else {
		const char *c = strchr(s, ':');

		if (c && !strchr(c + 1, ':')) { /* one colon: IPv4:port */
			if ((size_t)(c - s) >= sizeof(host))
				return -EINVAL;
			memcpy(host, s, (size_t)(c - s));
			host[c - s] = '\0';
			port = c + 1;
		} else {
			if (strlen(s) >= sizeof(host))
				return -EINVAL;
			snprintf(host, sizeof(host), "%s", s);
		}
	}
	host[strcspn(host, "%")] = '\0'; /* a zone index: not supported, use the address */
	if (port) {
		char *end;

		errno = 0;
		pn = strtoul(port, &end, 10);
		if (errno || *end || pn == 0 || pn > 65535)
			return -EINVAL;
	}
	{
		struct sockaddr_in *a4 = (struct sockaddr_in *)&sv.sa;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&sv.sa;

		if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
			a4->sin_family = AF_INET;
			a4->sin_port = htons((uint16_t)pn);
			sv.len = sizeof(*a4);
		} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
			a6->sin6_family = AF_INET6;
			a6->sin6_port = htons((uint16_t)pn);
			sv.len = sizeof(*a6);
		} else {
			return -EINVAL;
		}
	}
	if (strchr(host, ':'))
		snprintf(sv.text, sizeof(sv.text), "[%s]:%lu", host, pn);
	else
		snprintf(sv.text, sizeof(sv.text), "%s:%lu", host, pn);
	*ret = sv;
	return 0;
}

/* Re-read the servers when the configuration file changed. */
static void load_servers(struct tg_resolver *r)
{
	const char *env = getenv("TOOLGUARD_RESOLVERS");
	struct stat st;
	FILE *f;
	char line[512];

	if (env && *env) {
		char buf[512], *save = NULL, *tok;

		if (r->conf_env)
			return;
		r->conf_env = true;
		snprintf(buf, sizeof(buf), "%s", env);
		r->n_servers = 0;
		for (tok = strtok_r(buf, " ,\t", &save); tok && r->n_servers < MAX_SERVERS;
		     tok = strtok_r(NULL, " ,\t", &save))
			if (parse_server(tok, &r->servers[r->n_servers]) == 0)
				r->n_servers++;
			else
				log_warning(
				    "TOOLGUARD_RESOLVERS: \"%s\" is not ADDR, ADDR:PORT or [ADDR6]:PORT; "
				    "ignored",
				    tok);
		return;
	}
	if (stat(r->conf_path, &st) == 0 && st.st_mtim.tv_sec == r->conf_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == r->conf_mtime.tv_nsec && r->n_servers > 0)
		return;
	r->n_servers = 0;
	f = fopen(r->conf_path, "re");
	if (f) {
		r->conf_mtime = st.st_mtim;
		while (fgets(line, sizeof(line), f) && r->n_servers < MAX_SERVERS) {
			char *p = line, *e;

			p += strspn(p, " \t");
			if (strncmp(p, "nameserver", 10) != 0 || (p[10] != ' ' && p[10] != '\t'))
				continue;
			p += 10 + strspn(p + 10, " \t");
			e = p + strcspn(p, " \t\r\n#;");
			*e = '\0';
			if (strchr(p, ':') && p[0] != '[') { /* bare IPv6 in resolv.conf: no port */
				char b[80];

				snprintf(b, sizeof(b), "[%.64s]", p);
				if (parse_server(b, &r->servers[r->n_servers]) == 0)
					r->n_servers++;
			} else if (parse_server(p, &r->servers[r->n_servers]) == 0) {
				r->n_servers++;
			}
		}
		fclose(f);
	}
	if (r->n_servers == 0) {
		(void)parse_server("127.0.0.1:53",
				   &r->servers[0]); /* what libc does without nameserver lines */
		r->n_servers = 1;
	}
}

/* ---------- kernel entries ---------- */

static bool ref_eq(const struct tg_abi_net_ref *a, const struct tg_abi_net_ref *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* name: the ref is a host name's (TG_ABI_NET_NAME_REF), which a shared address ignores. */
static void refs_add(struct tg_abi_net_refs *v, const struct tg_abi_net_ref *ref, bool name, bool *overflow)
{
	for (unsigned i = 0; i < v->n; i++)
		if (ref_eq(&v->ref[i], ref))
			return;
	if (v->n >= TG_ABI_NET_REFS) {
		*overflow = true;
		return;
	}
	if (name)
		v->flags |= TG_ABI_NET_NAME_REF(v->n);
	v->ref[v->n++] = *ref;
}

/* The refs an exact name contributes under c (ports in chunks, as kernel.c writes tg_hosts). */
static size_t name_refs(const struct tg_compiled *c, const char *name, struct tg_abi_net_ref *out)
{
	const struct tg_compiled_host *hosts = NULL;
	size_t nh = c ? tg_compiled_hosts(c, &hosts) : 0, n = 0;

	for (size_t i = 0; i < nh; i++) {
		const struct tg_compiled_host *h = &hosts[i];
		size_t p = 0;

		if (h->wildcard || !h->name || strcmp(h->name, name) != 0)
			continue;
		do {
			struct tg_abi_net_ref *r;

			if (n >= TG_ABI_NET_REFS)
				return n;
			r = &out[n++];
			memset(r, 0, sizeof(*r));
			r->tool = h->tool;
			r->matcher = h->matcher;
			for (; p < h->n_ports && r->n_ports < TG_ABI_NET_PORTS; p++)
				r->ports[r->n_ports++] = h->ports[p];
		} while (p < h->n_ports);
	}
	return n;
}

static bool is_name_ref(const struct tg_compiled *c, const struct tg_abi_net_ref *ref)
{
	const struct tg_compiled_host *hosts = NULL;
	size_t nh = c ? tg_compiled_hosts(c, &hosts) : 0;

	for (size_t i = 0; i < nh; i++)
		if (!hosts[i].wildcard && hosts[i].tool == ref->tool && hosts[i].matcher == ref->matcher)
			return true;
	return false;
}

static bool covers(const uint8_t *net, unsigned plen, const uint8_t *addr)
{
	unsigned full = plen / 8, rem = plen % 8;

	if (memcmp(net, addr, full) != 0)
		return false;
	return rem == 0 || ((net[full] ^ addr[full]) & (uint8_t)(0xff00u >> rem)) == 0;
}

/* The compiled CIDR entry covering addr with the longest prefix: its refs
 * (closure included) and whether it is exactly the address. */
static void cidr_base(const struct tg_compiled *c, int family, const uint8_t *addr,
		      struct tg_abi_net_refs *ret, bool *ret_exact)
{
	int best = -1;
	unsigned best_plen = 0;
	size_t n = family == AF_INET ? c->n_net4 : c->n_net6;

	memset(ret, 0, sizeof(*ret));
	*ret_exact = false;
	for (size_t i = 0; i < n; i++) {
		unsigned plen =
		    (family == AF_INET ? c->net4_keys[i].prefixlen : c->net6_keys[i].prefixlen) - 8u;
		const uint8_t *net = family == AF_INET ? c->net4_keys[i].addr : c->net6_keys[i].addr;

		if (covers(net, plen, addr) && (best < 0 || plen > best_plen)) {
			best = (int)i;
			best_plen = plen;
		}
	}
	if (best < 0)
		return;
	*ret = family == AF_INET ? c->net4_vals[best] : c->net6_vals[best];
	*ret_exact = best_plen == alen(family) * 8;
}

/*
 * Make the /32 or /128 entry of addr in generation gen what c and the holders
 * say: CIDR closure + holders' refs + foreign refs already there (learned
 * wildcards); delete it when only the CIDR's refs would remain. held: refs of
 * the names holding addr. Returns 1 written, 0 deleted/nothing, -errno.
 */
static int sync_entry(struct tg_kernel *k, const struct tg_compiled *c, unsigned gen, int family,
		      const uint8_t *addr, const struct tg_abi_net_ref *held, size_t n_held, bool *overflow)
{
	int fd = tg_kernel_net_fd(k, family);
	union {
		struct tg_abi_net4_key k4;
		struct tg_abi_net6_key k6;
	} key;
	struct tg_abi_net_refs base, val, old;
	bool exact;
	unsigned n_base;

	if (fd < 0 || !c)
		return 0;
	memset(&key, 0, sizeof(key));
	if (family == AF_INET) {
		key.k4.prefixlen = 8 + 32;
		key.k4.gen = (__u8)gen;
		memcpy(key.k4.addr, addr, 4);
	} else {
		key.k6.prefixlen = 8 + 128;
		key.k6.gen = (__u8)gen;
		memcpy(key.k6.addr, addr, 16);
	}
	cidr_base(c, family, addr, &base, &exact);
	val = base;
	n_base = val.n;
	for (size_t i = 0; i < n_held; i++)
		refs_add(&val, &held[i], true, overflow);
	/* LPM lookup: the entry itself, or the covering CIDR's (its refs are in base already) */
	if (bpf_map_lookup_elem(fd, &key, &old) == 0)
		for (unsigned i = 0; i < old.n && i < TG_ABI_NET_REFS; i++)
			if (!is_name_ref(c, &old.ref[i]))
				refs_add(&val, &old.ref[i], (old.flags & TG_ABI_NET_NAME_REF(i)) != 0, overflow);
	if (val.n == n_base && !exact) {
		if (bpf_map_delete_elem(fd, &key) < 0 && errno != ENOENT)
			return -errno;
		return 0;
	}
	if (bpf_map_update_elem(fd, &key, &val, BPF_ANY) < 0)
		return -errno;
	return 1;
}

/* Refs of every name holding addr now (the names' cached refs: policy in force). */
static size_t holders_refs(const struct tg_resolver *r, int family, const uint8_t *addr,
			   struct tg_abi_net_ref *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_names; i++) {
		const struct rname *nm = r->names[i];

		for (size_t j = 0; j < nm->n_addrs; j++)
			if (nm->addrs[j].family == family &&
			    memcmp(nm->addrs[j].addr, addr, alen(family)) == 0) {
				for (size_t q = 0; q < nm->n_refs && n < max; q++)
					out[n++] = nm->refs[q];
				break;
			}
	}
	return n;
}

/* Bring the active generation's entry of one address up to date. */
static void sync_addr(struct tg_resolver *r, int family, const uint8_t *addr)
{
	struct tg_kernel *k = r->d->kernel;
	struct tg_abi_net_ref held[64];
	const struct tg_compiled *c = k ? tg_kernel_compiled(k) : NULL;
	int gen = k ? tg_kernel_active_gen(k) : -1;
	bool overflow = false;
	size_t n;
	int q;

	if (!c || gen < 0)
		return;
	n = holders_refs(r, family, addr, held, sizeof(held) / sizeof(held[0]));
	q = sync_entry(k, c, (unsigned)gen, family, addr, held, n, &overflow);
	if (q < 0) {
		char a[INET6_ADDRSTRLEN] = "?";

		inet_ntop(family, addr, a, sizeof(a));
		log_warning_errno(q, "Failed to update the kernel entry of %s (resolved host name): %m", a);
	}
	if (overflow)
		log_warning("More than %u rules hold one resolved address; some are not enforced on it",
			    TG_ABI_NET_REFS);
}

struct pair {
	int family;
	uint8_t addr[16];
	const struct rname *n;
};

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->addr, y->addr, 16);
}

/* Write every held address into generation gen for compiled c (apply hook and kernel swaps). */
static void write_all(struct tg_resolver *r, struct tg_kernel *k, const struct tg_compiled *c, unsigned gen,
		      bool names_from_c)
{
	struct pair *pairs;
	size_t n = 0, total = 0, written = 0;
	bool overflow = false;

	for (size_t i = 0; i < r->n_names; i++)
		total += r->names[i]->n_addrs;
	if (total == 0)
		return;
	pairs = calloc(total, sizeof(*pairs));
	if (!pairs) {
		log_error("Out of memory: the resolved host addresses are not in the new policy");
		return;
	}
	for (size_t i = 0; i < r->n_names; i++)
		for (size_t j = 0; j < r->names[i]->n_addrs; j++) {
			pairs[n].family = r->names[i]->addrs[j].family;
			memcpy(pairs[n].addr, r->names[i]->addrs[j].addr, 16);
			pairs[n].n = r->names[i];
			n++;
		}
	qsort(pairs, n, sizeof(*pairs), pair_cmp);
	for (size_t i = 0; i < n;) {
		struct tg_abi_net_ref held[64];
		size_t j = i, nh = 0;

		while (j < n && pair_cmp(&pairs[i], &pairs[j]) == 0) {
			struct tg_abi_net_ref tmp[TG_ABI_NET_REFS];
			size_t t = names_from_c ? name_refs(c, pairs[j].n->name, tmp) : pairs[j].n->n_refs;

			for (size_t q = 0; q < t && nh < 64; q++)
				held[nh++] = names_from_c ? tmp[q] : pairs[j].n->refs[q];
			j++;
		}
		if (nh > 0 && sync_entry(k, c, gen, pairs[i].family, pairs[i].addr, held, nh, &overflow) > 0)
			written++;
		i = j;
	}
	free(pairs);
	log_debug("Resolved host names: %zu addresses written into generation %u", written, gen);
}

static void on_apply(struct tg_kernel *k, const struct tg_compiled *c, unsigned gen, void *userdata)
{
	write_all(userdata, k, c, gen, true);
}

/* ---------- event naming ---------- */

static void on_name(struct tg_kernel_event *ev, void *userdata)
{
	const struct tg_resolver *r = userdata;
	const char *first = NULL;

	if (ev->family != AF_INET && ev->family != AF_INET6)
		return;
	for (size_t i = 0; i < r->n_names; i++) {
		const struct rname *nm = r->names[i];

		for (size_t j = 0; j < nm->n_addrs; j++)
			if (nm->addrs[j].family == ev->family &&
			    memcmp(nm->addrs[j].addr, ev->addr, alen(ev->family)) == 0) {
				if (strcmp(nm->name, ev->host) == 0)
					return; /* the rule's own name: already right */
				if (!first)
					first = nm->name;
				break;
			}
	}
	if (first)
		snprintf(ev->host, sizeof(ev->host), "%s", first);
}

/* ---------- queries ---------- */

static void schedule(struct tg_resolver *r);
static void query_send(struct query *q);

/* Run the tick soon, from the loop (never recursively from a query's callback). */
static void kick(struct tg_resolver *r)
{
	(void)sd_event_source_set_time(r->tick, now_mono());
	(void)sd_event_source_set_enabled(r->tick, SD_EVENT_ONESHOT);
}

static void query_close(struct query *q)
{
	q->io = sd_event_source_disable_unref(q->io);
	q->timer = sd_event_source_disable_unref(q->timer);
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	free(q->in);
	q->in = NULL;
}

static void commit(struct rname *n);

static void query_done(struct query *q, bool answered, const char *error)
{
	struct rname *n = q->n;
	struct tg_resolver *r = n->res;

	query_close(q);
	q->running = false;
	q->answered = answered;
	if (!answered)
		snprintf(q->error, sizeof(q->error), "%s", error ? error : "no answer");
	if (answered)
		r->answers++;
	else
		r->failures++;
	if (--n->pending == 0) {
		r->inflight--;
		commit(n);
		kick(r);
	}
}

/* A next attempt: the next server, over UDP. */
static void query_retry(struct query *q, const char *why)
{
	struct tg_resolver *r = q->n->res;

	q->attempt++;
	snprintf(q->error, sizeof(q->error), "%s", why);
	if (q->attempt >= r->n_servers * ATTEMPTS_PER_SRV) {
		char e[96];

		snprintf(e, sizeof(e), "%s", why);
		query_done(q, false, e);
		return;
	}
	q->tcp = false;
	query_send(q);
}

/* 0 consumed (done or retried), -EAGAIN ignore the packet and keep waiting. */
static int query_answer(struct query *q, const uint8_t *msg, size_t len)
{
	struct tg_dns_result *res = malloc(sizeof(*res));
	int k;

	if (!res) {
		query_retry(q, "out of memory");
		return 0;
	}
	k = tg_dns_parse_response(msg, len, q->id, q->n->name, q->qtype, res);
	if (k < 0) {
		free(res);
		/* over UDP a stray or forged packet is ignored; over TCP the stream is bad */
		if (q->tcp) {
			query_retry(q, "malformed answer over TCP");
			return 0;
		}
		return -EAGAIN;
	}
	if (res->truncated) {
		free(res);
		if (q->tcp) {
			query_retry(q, "truncated answer over TCP");
			return 0;
		}
		q->tcp = true;
		query_send(q);
		return 0;
	}
	if (res->rcode != TG_DNS_RCODE_NOERROR && res->rcode != TG_DNS_RCODE_NXDOMAIN) {
		char e[64];

		snprintf(e, sizeof(e), "server answered rcode %u", res->rcode);
		free(res);
		query_retry(q, e);
		return 0;
	}
	q->n_got = res->n_addrs;
	memcpy(q->got, res->addrs, res->n_addrs * sizeof(res->addrs[0]));
	q->min_ttl = UINT32_MAX;
	for (size_t i = 0; i < res->n_addrs; i++)
		if (res->addrs[i].ttl < q->min_ttl)
			q->min_ttl = res->addrs[i].ttl;
	q->neg_ttl = res->neg_ttl;
	free(res);
	query_done(q, true, NULL);
	return 0;
}

static int on_query_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct query *q = userdata;

	(void)s;
	(void)usec;
	query_retry(q, q->tcp ? "TCP: no answer in time" : "no answer in time");
	return 0;
}

static int on_query_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct query *q = userdata;

	(void)s;
	if (!q->tcp) {
		uint8_t buf[4096];
		ssize_t got = recv(fd, buf, sizeof(buf), 0);

		if (got < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			query_retry(q, errno == ECONNREFUSED ? "connection refused" : "receive failed");
			return 0;
		}
		(void)query_answer(q, buf, (size_t)got);
		return 0;
	}
	if (revents & (EPOLLERR | EPOLLHUP) && !(revents & EPOLLIN)) {
		query_retry(q, "TCP connection failed");
		return 0;
	}
	if (!q->tcp_sent) {
		ssize_t w = send(fd, q->out + q->out_off, q->out_len - q->out_off, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR)
				query_retry(q, "TCP send failed");
			return 0;
		}
		q->out_off += (size_t)w;
		if (q->out_off == q->out_len) {
			q->tcp_sent = true;
			(void)sd_event_source_set_io_events(q->io, EPOLLIN);
		}
		return 0;
	}
	for (;;) {
		size_t want = q->in_want ? q->in_want : 2;
		ssize_t got;

		if (!q->in) {
			q->in = malloc(TG_DNS_MSG_MAX + 2);
			if (!q->in) {
				query_retry(q, "out of memory");
				return 0;
			}
		}
		got = recv(fd, q->in + q->in_len, want - q->in_len, 0);
		if (got < 0) {
			if (errno != EAGAIN && errno != EINTR)
				query_retry(q, "TCP receive failed");
			return 0;
		}
		if (got == 0) {
			query_retry(q, "TCP connection closed early");
			return 0;
		}
		q->in_len += (size_t)got;
		if (q->in_len < want)
			continue;
		if (!q->in_want) {
			size_t l = ((size_t)q->in[0] << 8) | q->in[1];

			if (l < 12) {
				query_retry(q, "TCP answer too short");
				return 0;
			}
			q->in_want = l;
			q->in_len = 0;
			continue;
		}
		(void)query_answer(q, q->in, q->in_len);
		return 0;
	}
}

static void query_send(struct query *q)
{
	struct tg_resolver *r = q->n->res;
	const struct server *sv = &r->servers[(q->attempt / ATTEMPTS_PER_SRV) % r->n_servers];
	size_t len = 0;
	int k;

	query_close(q);
	if (getrandom(&q->id, sizeof(q->id), 0) != sizeof(q->id))
		q->id = (uint16_t)(now_mono() ^ (uintptr_t)q);
	k = tg_dns_build_query(q->id, q->n->name, q->qtype, q->out + 2, sizeof(q->out) - 2, &len);
	if (k < 0) {
		query_done(q, false, "not a name that can be queried");
		return;
	}
	r->queries++;
	q->out[0] = (uint8_t)(len >> 8);
	q->out[1] = (uint8_t)len;
	q->fd =
	    socket(sv->sa.ss_family, (q->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (q->fd < 0) {
		query_retry(q, "cannot create a socket");
		return;
	}
	if (connect(q->fd, (const struct sockaddr *)&sv->sa, sv->len) < 0 && errno != EINPROGRESS) {
		query_retry(q, "cannot reach the server");
		return;
	}
	if (q->tcp) {
		q->out_len = len + 2;
		q->out_off = 0;
		q->tcp_sent = false;
		q->in_len = q->in_want = 0;
		k = sd_event_add_io(r->event, &q->io, q->fd, EPOLLOUT, on_query_io, q);
	} else {
		if (send(q->fd, q->out + 2, len, MSG_NOSIGNAL) < 0) {
			query_retry(q, "cannot send to the server");
			return;
		}
		k = sd_event_add_io(r->event, &q->io, q->fd, EPOLLIN, on_query_io, q);
	}
	if (k >= 0)
		k = sd_event_add_time_relative(r->event, &q->timer, CLOCK_MONOTONIC,
					       q->tcp ? TCP_TIMEOUT_USEC : UDP_TIMEOUT_USEC, 0,
					       on_query_timeout, q);
	if (k < 0) {
		query_close(q);
		query_done(q, false, "event loop failure");
	}
}

static void resolve_start(struct rname *n)
{
	struct tg_resolver *r = n->res;
	static const uint16_t types[2] = {TG_DNS_TYPE_A, TG_DNS_TYPE_AAAA};

	r->inflight++;
	n->pending = 2;
	for (int i = 0; i < 2; i++) {
		struct query *q = &n->q[i];

		memset(q, 0, sizeof(*q));
		q->n = n;
		q->fd = -1;
		q->qtype = types[i];
		q->running = true;
	}
	for (int i = 0; i < 2; i++)
		query_send(&n->q[i]);
}

static struct haddr *find_addr(struct rname *n, int family, const uint8_t *addr)
{
	for (size_t i = 0; i < n->n_addrs; i++)
		if (n->addrs[i].family == family && memcmp(n->addrs[i].addr, addr, alen(family)) == 0)
			return &n->addrs[i];
	return NULL;
}

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Both answers are in: hold the addresses, plan the next resolution. */
static void commit(struct rname *n)
{
	struct tg_resolver *r = n->res;
	uint64_t now = now_mono(), refresh = MAX_REFRESH_USEC;
	bool any_addr = false, all_answered = true;
	uint32_t neg = 0;

	for (int i = 0; i < 2; i++) {
		struct query *q = &n->q[i];

		if (!q->answered) {
			all_answered = false;
			snprintf(n->last_error, sizeof(n->last_error), "%s: %s", i ? "AAAA" : "A", q->error);
			continue;
		}
		if (q->neg_ttl && (!neg || q->neg_ttl < neg))
			neg = q->neg_ttl;
		for (size_t j = 0; j < q->n_got; j++) {
			const struct tg_dns_addr *a = &q->got[j];
			uint64_t hold = (uint64_t)(a->ttl > MIN_HOLD_SEC ? a->ttl : MIN_HOLD_SEC) * USEC +
					HOLD_GRACE_USEC;
			struct haddr *h = find_addr(n, a->family, a->addr);

			any_addr = true;
			refresh = clamp(refresh < (uint64_t)a->ttl * USEC * 8 / 10
					    ? refresh
					    : (uint64_t)a->ttl * USEC * 8 / 10,
					MIN_REFRESH_USEC, MAX_REFRESH_USEC);
			if (h) {
				if (h->expire < now + hold)
					h->expire = now + hold;
				continue;
			}
			if (n->n_addrs >= MAX_ADDRS_PER_NAME)
				continue;
			h = realloc(n->addrs, (n->n_addrs + 1) * sizeof(*n->addrs));
			if (!h)
				continue;
			n->addrs = h;
			h = &n->addrs[n->n_addrs++];
			memset(h, 0, sizeof(*h));
			h->family = a->family;
			memcpy(h->addr, a->addr, alen(a->family));
			h->expire = now + hold;
			sync_addr(r, h->family, h->addr);
			{
				char t[INET6_ADDRSTRLEN] = "?";

				inet_ntop(h->family, h->addr, t, sizeof(t));
				log_debug("Host %s resolved to %s (TTL %" PRIu32 " s): banned", n->name, t,
					  a->ttl);
			}
		}
	}
	if (all_answered) {
		n->failures = 0;
		n->last_ok = now;
		n->last_error[0] = '\0';
		n->next =
		    now + (any_addr ? refresh : clamp((uint64_t)neg * USEC, NEG_MIN_USEC, NEG_MAX_USEC));
		return;
	}
	/* no server answered (for one family at least): retry with backoff, and keep
	 * what is held meanwhile (fail closed), up to STALE_MAX after the last answer */
	n->failures++;
	{
		uint64_t backoff = clamp(USEC << (n->failures < 6 ? n->failures : 6), USEC, RETRY_MAX_USEC);
		uint64_t next = now + (any_addr ? (refresh < backoff ? refresh : backoff) : backoff);

		n->next = next;
		if (n->n_addrs && n->last_ok && now - n->last_ok < STALE_MAX_USEC)
			for (size_t i = 0; i < n->n_addrs; i++)
				if (n->addrs[i].expire < next + HOLD_GRACE_USEC)
					n->addrs[i].expire = next + HOLD_GRACE_USEC;
	}
	if (n->failures == 1 || n->failures % 10 == 0)
		log_warning(
		    "Cannot resolve policy host %s (%s); retrying, addresses already held stay banned",
		    n->name, n->last_error);
}

/* ---------- the tick: expiry and due resolutions ---------- */

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata);

static void rehook(struct tg_resolver *r)
{
	struct tg_kernel *k = r->d->kernel;

	if (r->k == k)
		return;
	r->k = k;
	if (!k)
		return;
	tg_kernel_set_apply_hook(k, on_apply, r);
	tg_kernel_set_host_namer(k, on_name, r);
	/* a kernel swapped in (tamper repair) was applied without us */
	{
		int gen = tg_kernel_active_gen(k);
		const struct tg_compiled *c = tg_kernel_compiled(k);

		if (gen >= 0 && c)
			write_all(r, k, c, (unsigned)gen, false);
	}
}

static void expire(struct tg_resolver *r, uint64_t now)
{
	struct pair *gone = NULL;
	size_t n_gone = 0;

	for (size_t i = 0; i < r->n_names; i++) {
		struct rname *n = r->names[i];

		for (size_t j = 0; j < n->n_addrs;) {
			struct pair *g;

			if (n->addrs[j].expire > now) {
				j++;
				continue;
			}
			g = realloc(gone, (n_gone + 1) * sizeof(*gone));
			if (g) {
				gone = g;
				gone[n_gone].family = n->addrs[j].family;
				memcpy(gone[n_gone].addr, n->addrs[j].addr, 16);
				gone[n_gone].n = n;
				n_gone++;
			}
			{
				char t[INET6_ADDRSTRLEN] = "?";

				inet_ntop(n->addrs[j].family, n->addrs[j].addr, t, sizeof(t));
				log_info("Host %s no longer resolves to %s (TTL passed): released", n->name,
					 t);
			}
			n->addrs[j] = n->addrs[--n->n_addrs];
		}
	}
	if (!n_gone)
		return;
	/* Releasing shrinks entries recorded at the last apply: look for foreign
	 * edits first, then record the maps as they are after ours. */
	if (r->d->tamper)
		(void)tg_tamper_check(r->d->tamper, "timer");
	for (size_t i = 0; i < n_gone; i++)
		sync_addr(r, gone[i].family, gone[i].addr);
	tg_tamper_arm(r->d->tamper);
	free(gone);
}

static void schedule(struct tg_resolver *r)
{
	uint64_t now = now_mono(), when = UINT64_MAX;

	if (!r->event)
		return;
	rehook(r);
	expire(r, now);
	for (size_t i = 0; i < r->n_names; i++) {
		struct rname *n = r->names[i];

		if (!n->pending && n->next <= now && r->inflight < MAX_INFLIGHT) {
			if (r->inflight == 0)
				load_servers(r);
			resolve_start(n);
		}
		if (!n->pending && n->next < when)
			when = n->next;
		for (size_t j = 0; j < n->n_addrs; j++)
			if (n->addrs[j].expire < when)
				when = n->addrs[j].expire;
	}
	if (when == UINT64_MAX) {
		(void)sd_event_source_set_enabled(r->tick, SD_EVENT_OFF);
		return;
	}
	if (when < now + 1000)
		when = now + 1000; /* names left for free slots: soon, not in a busy loop */
	(void)sd_event_source_set_time(r->tick, when);
	(void)sd_event_source_set_enabled(r->tick, SD_EVENT_ONESHOT);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void)s;
	(void)usec;
	schedule(userdata);
	return 0;
}

/* ---------- lifecycle ---------- */

static void rname_free(struct rname *n)
{
	if (!n)
		return;
	for (int i = 0; i < 2; i++)
		if (n->q[i].running || n->q[i].fd >= 0 || n->q[i].io || n->q[i].timer)
			query_close(&n->q[i]);
	if (n->pending)
		n->res->inflight--;
	free(n->addrs);
	free(n->name);
	free(n);
}

static int rname_cmp(const void *a, const void *b)
{
	return strcmp((*(struct rname *const *)a)->name, (*(struct rname *const *)b)->name);
}

static struct rname *find_name(const struct tg_resolver *r, const char *name)
{
	struct rname key = {.name = (char *)name}, *kp = &key, **f;

	if (!r->n_names)
		return NULL;
	f = bsearch(&kp, r->names, r->n_names, sizeof(*r->names), rname_cmp);
	return f ? *f : NULL;
}

int tg_resolver_new(struct tg_daemon *d, struct tg_resolver **ret)
{
	struct tg_resolver *r = calloc(1, sizeof(*r));
	const char *conf = getenv("TOOLGUARD_RESOLV_CONF");
	int k;

	if (!r)
		return -ENOMEM;
	r->d = d;
	r->conf_path = conf && *conf ? conf : RESOLV_CONF;
	k = sd_event_default(&r->event);
	if (k >= 0)
		k = sd_event_add_time(r->event, &r->tick, CLOCK_MONOTONIC, UINT64_MAX, 0, on_tick, r);
	if (k < 0) {
		sd_event_unref(r->event);
		free(r);
		return k;
	}
	(void)sd_event_source_set_description(r->tick, "resolver");
	(void)sd_event_source_set_enabled(r->tick, SD_EVENT_OFF);
	rehook(r);
	*ret = r;
	return 0;
}

void tg_resolver_free(struct tg_resolver *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_names; i++)
		rname_free(r->names[i]);
	free(r->names);
	if (r->d->kernel == r->k && r->k) {
		tg_kernel_set_apply_hook(r->k, NULL, NULL);
		tg_kernel_set_host_namer(r->k, NULL, NULL);
	}
	sd_event_source_disable_unref(r->tick);
	sd_event_unref(r->event);
	free(r);
}

void tg_resolver_policy_changed(struct tg_resolver *r)
{
	const struct tg_compiled_host *hosts = NULL;
	const struct tg_compiled *c;
	size_t nh, n = 0;
	struct rname **names;

	if (!r)
		return;
	rehook(r);
	c = r->d->kernel ? tg_kernel_compiled(r->d->kernel) : NULL;
	nh = c ? tg_compiled_hosts(c, &hosts) : 0;
	for (size_t i = 0; i < r->n_names; i++)
		r->names[i]->keep = false;
	names = calloc(r->n_names + nh + 1, sizeof(*names));
	if (!names) {
		log_error("Out of memory: host names of the new policy are not resolved ahead of time");
		return;
	}
	for (size_t i = 0; i < nh; i++) {
		struct rname *nm;

		if (hosts[i].wildcard || !hosts[i].name || tg_dns_name_check(hosts[i].name) < 0)
			continue;
		nm = find_name(r, hosts[i].name);
		if (!nm) {
			bool dup = false;

			for (size_t j = 0; j < n && !dup; j++)
				dup = strcmp(names[j]->name, hosts[i].name) == 0;
			if (dup)
				continue;
			nm = calloc(1, sizeof(*nm));
			if (!nm || !(nm->name = strdup(hosts[i].name))) {
				free(nm);
				continue;
			}
			nm->res = r;
			nm->q[0].fd = nm->q[1].fd = -1;
		} else if (nm->keep) {
			continue;
		}
		nm->keep = true;
		nm->n_refs = name_refs(c, nm->name, nm->refs);
		names[n++] = nm;
	}
	for (size_t i = 0; i < r->n_names; i++)
		if (!r->names[i]->keep)
			rname_free(r->names[i]); /* its entries did not enter the new generation: released */
	free(r->names);
	r->names = names;
	r->n_names = n;
	if (n > 1)
		qsort(r->names, n, sizeof(*r->names), rname_cmp);
	kick(r); /* from the loop: the caller is in the middle of an apply */
}

/* ---------- status and control ---------- */

void tg_resolver_stats(const struct tg_resolver *r, struct tg_resolver_stats *ret)
{
	uint64_t next = UINT64_MAX, now = now_mono();

	memset(ret, 0, sizeof(*ret));
	if (!r)
		return;
	ret->names = r->n_names;
	for (size_t i = 0; i < r->n_names; i++) {
		const struct rname *n = r->names[i];

		if (n->n_addrs)
			ret->names_resolved++;
		ret->addresses += n->n_addrs;
		if (n->pending) /* a query under way: "now" */
			next = now;
		else if (n->next < next)
			next = n->next;
	}
	if (next != UINT64_MAX)
		ret->next_resolve_usec = mono_to_real(next > now ? next : now);
	ret->queries = r->queries;
	ret->answers = r->answers;
	ret->failures = r->failures;
	ret->servers = r->n_servers;
	if (r->n_servers)
		snprintf(ret->server, sizeof(ret->server), "%s", r->servers[0].text);
}

static json_object *jtime(uint64_t realtime_usec)
{
	char buf[64];
	time_t t = (time_t)(realtime_usec / USEC);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return NULL;
	return json_object_new_string(buf);
}

json_object *tg_resolver_json(const struct tg_resolver *r, const char *host, const char *ip)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array(),
		    *sv = json_object_new_array();
	const struct tg_compiled *c = r && r->d->kernel ? tg_kernel_compiled(r->d->kernel) : NULL;
	uint8_t want[16] = {0};
	int want_family = 0;
	uint64_t now = now_mono();

	if (!o || !arr || !sv) {
		json_object_put(o);
		json_object_put(arr);
		json_object_put(sv);
		return NULL;
	}
	if (ip) {
		if (inet_pton(AF_INET, ip, want) == 1)
			want_family = AF_INET;
		else if (inet_pton(AF_INET6, ip, want) == 1)
			want_family = AF_INET6;
	}
	for (size_t i = 0; r && i < r->n_names; i++) {
		const struct rname *n = r->names[i];
		json_object *jn, *ja, *jt;

		if (host && strcmp(n->name, host) != 0)
			continue;
		if (ip && !find_addr((struct rname *)n, want_family, want))
			continue;
		jn = json_object_new_object();
		ja = json_object_new_array();
		jt = json_object_new_array();
		json_object_object_add(jn, "name", json_object_new_string(n->name));
		for (size_t q = 0; q < n->n_refs; q++) {
			const struct tg_tool *t = c ? tg_compiled_tool(c, n->refs[q].tool) : NULL;
			bool dup = false;

			for (size_t z = 0; z < q; z++)
				dup = dup || n->refs[z].tool == n->refs[q].tool;
			if (t && t->id && !dup)
				json_object_array_add(jt, json_object_new_string(t->id));
		}
		json_object_object_add(jn, "tools", jt);
		for (size_t j = 0; j < n->n_addrs; j++) {
			json_object *a = json_object_new_object();
			char t[INET6_ADDRSTRLEN] = "?";

			inet_ntop(n->addrs[j].family, n->addrs[j].addr, t, sizeof(t));
			json_object_object_add(a, "ip", json_object_new_string(t));
			json_object_object_add(a, "expires", jtime(mono_to_real(n->addrs[j].expire)));
			json_object_object_add(
			    a, "expires_in_sec",
			    json_object_new_int64(
				n->addrs[j].expire > now ? (int64_t)((n->addrs[j].expire - now) / USEC) : 0));
			json_object_array_add(ja, a);
		}
		json_object_object_add(jn, "addresses", ja);
		json_object_object_add(jn, "next_resolve",
				       n->pending ? NULL
						  : jtime(mono_to_real(n->next > now ? n->next : now)));
		json_object_object_add(jn, "resolving", json_object_new_boolean(n->pending > 0));
		json_object_object_add(jn, "last_error",
				       n->last_error[0] ? json_object_new_string(n->last_error) : NULL);
		json_object_array_add(arr, jn);
	}
	for (size_t i = 0; r && i < r->n_servers; i++)
		json_object_array_add(sv, json_object_new_string(r->servers[i].text));
	json_object_object_add(o, "names", arr);
	json_object_object_add(o, "servers", sv);
	return o;
}
