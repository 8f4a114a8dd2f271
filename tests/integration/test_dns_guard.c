// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dns_guard.bpf.c on crafted packets (BPF_PROG_TEST_RUN): which addresses end
 * up in tg_net4/tg_net6 for good answers (UDP and TCP, IPv4 and IPv6, exact,
 * wildcard and case-folded names, CNAME chains in any order) and that
 * malformed ones (truncated at every length, compression loops, pointers
 * forward or out of range, oversized labels, 0 and 65535 answers, random
 * corruption) learn nothing, always pass the packet and always end.
 * The program is loaded from the skeleton with private maps: never pinned,
 * never attached, so nothing on this machine is affected. Needs root + BPF
 * (TAP skip otherwise).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "toolguard_abi.h"
#include "bpf_harness.h"
#include "dns_guard.skel.h"

static int tap_n, tap_failed;

static void ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	if (!cond)
		tap_failed++;
	printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN && getenv("TG_TEST_VERBOSE"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

/* ---------- DNS messages ---------- */

struct msg {
	uint8_t b[4096];
	size_t n;
};

static void put(struct msg *m, const void *p, size_t n)
{
	if (m->n + n > sizeof(m->b))
		abort();
	memcpy(m->b + m->n, p, n);
	m->n += n;
}
static void put8(struct msg *m, unsigned v)
{
	uint8_t b = (uint8_t)v;

	put(m, &b, 1);
}
static void put16(struct msg *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v & 0xff);
}
static void put32(struct msg *m, uint32_t v)
{
	put16(m, v >> 16);
	put16(m, v & 0xffff);
}
/* "a.b.c" in wire format, ending with the root label. */
static void put_name(struct msg *m, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);

		put8(m, (unsigned)l);
		put(m, name, l);
		name += l;
		if (*name == '.')
			name++;
	}
	put8(m, 0);
}
static void put_ptr(struct msg *m, unsigned off)
{
	put16(m, 0xc000 | off);
}
static void header(struct msg *m, unsigned flags, unsigned qd, unsigned an)
{
	m->n = 0;
	put16(m, 0x1234);
	put16(m, flags);
	put16(m, qd);
	put16(m, an);
	put16(m, 0);
	put16(m, 0);
}
/* A response with its question; returns the question name's offset (12). */
static unsigned response(struct msg *m, const char *qname, unsigned qtype, unsigned an)
{
	header(m, 0x8180, 1, an);
	put_name(m, qname);
	put16(m, qtype);
	put16(m, 1);
	return 12;
}
/* The fixed part of a record after its owner name. */
static void rr_fixed_ttl(struct msg *m, unsigned type, unsigned rdlen, uint32_t ttl)
{
	put16(m, type);
	put16(m, 1);
	put32(m, ttl);
	put16(m, rdlen);
}

static void rr_fixed(struct msg *m, unsigned type, unsigned rdlen)
{
	rr_fixed_ttl(m, type, rdlen, 300);
}
static void rr_a_ttl(struct msg *m, const char *addr, uint32_t ttl)
{
	struct in_addr a;

	if (inet_pton(AF_INET, addr, &a) != 1)
		abort();
	rr_fixed_ttl(m, 1, 4, ttl);
	put(m, &a, 4);
}
static void rr_a(struct msg *m, const char *addr)
{
	rr_a_ttl(m, addr, 300);
}
static void rr_aaaa(struct msg *m, const char *addr)
{
	struct in6_addr a;

	if (inet_pton(AF_INET6, addr, &a) != 1)
		abort();
	rr_fixed(m, 28, 16);
	put(m, &a, 16);
}
/* CNAME to target (uncompressed); returns the target's offset. */
static unsigned rr_cname(struct msg *m, const char *target)
{
	unsigned at;

	rr_fixed(m, 5, (unsigned)strlen(target) + 2);
	at = (unsigned)m->n;
	put_name(m, target);
	return at;
}

/* ---------- packets ---------- */

enum { UDP4, UDP6, TCP4, TCP6 };
static const char *const kind_names[] = {"UDP/IPv4", "UDP/IPv6", "TCP/IPv4", "TCP/IPv6"};

/* Ethernet + IP + UDP/TCP (source port sport) + message; returns the size. */
static size_t packet(uint8_t *pkt, size_t cap, int kind, const struct msg *m, unsigned sport)
{
	bool v6 = kind == UDP6 || kind == TCP6, tcp = kind == TCP4 || kind == TCP6;
	size_t l4 = tcp ? 20 + 2 : 8, iph = v6 ? 40 : 20, n = 14 + iph + l4 + m->n;
	uint8_t *p = pkt;

	if (n > cap)
		abort();
	memset(pkt, 0, n);
	p[12] = v6 ? 0x86 : 0x08;
	p[13] = v6 ? 0xdd : 0x00;
	p += 14;
	if (v6) {
		p[0] = 0x60;
		p[4] = (uint8_t)((l4 + m->n) >> 8);
		p[5] = (uint8_t)(l4 + m->n);
		p[6] = tcp ? 6 : 17;
		p[7] = 64;
		inet_pton(AF_INET6, "fd77::53", p + 8);
		inet_pton(AF_INET6, "fd77::100", p + 24);
	} else {
		size_t tot = iph + l4 + m->n;

		p[0] = 0x45;
		p[2] = (uint8_t)(tot >> 8);
		p[3] = (uint8_t)tot;
		p[8] = 64;
		p[9] = tcp ? 6 : 17;
		inet_pton(AF_INET, "127.0.0.53", p + 12);
		inet_pton(AF_INET, "127.0.0.1", p + 16);
	}
	p += iph;
	p[0] = (uint8_t)(sport >> 8);
	p[1] = (uint8_t)sport;
	p[2] = 0xc3;
	p[3] = 0x50;
	if (tcp) {
		p[12] = 5 << 4;
		p[13] = 0x18; /* PSH ACK */
		p[20] = (uint8_t)(m->n >> 8);
		p[21] = (uint8_t)m->n;
	} else {
		p[4] = (uint8_t)((8 + m->n) >> 8);
		p[5] = (uint8_t)(8 + m->n);
	}
	memcpy(p + l4, m->b, m->n);
	return n;
}

/* ---------- the program ---------- */

static struct dns_guard *skel;
static int prog_fd, fd4, fd6, fdh;
static unsigned runs_bad; /* runs whose result was not "pass the packet" */

static int run_pkt(const uint8_t *pkt, size_t n)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (__u32)n, .repeat = 1);
	int r = bpf_prog_test_run_opts(prog_fd, &o);

	if (r < 0)
		return -errno;
	if (o.retval != 1)
		runs_bad++;
	return 0;
}

static int run_msg(int kind, const struct msg *m)
{
	static uint8_t pkt[8192];

	return run_pkt(pkt, packet(pkt, sizeof(pkt), kind, m, 53));
}

/* The refs held for exactly this address (a /32 or /128 entry), or n = 0. */
static struct tg_abi_net_refs learned(const char *addr)
{
	struct tg_abi_net_refs v = {0};

	if (strchr(addr, ':')) {
		struct tg_abi_net6_key k = {.prefixlen = 8 + 128};

		inet_pton(AF_INET6, addr, k.addr);
		if (bpf_map_lookup_elem(fd6, &k, &v) < 0)
			memset(&v, 0, sizeof(v));
	} else {
		struct tg_abi_net4_key k = {.prefixlen = 8 + 32};

		inet_pton(AF_INET, addr, k.addr);
		if (bpf_map_lookup_elem(fd4, &k, &v) < 0)
			memset(&v, 0, sizeof(v));
	}
	return v;
}

static bool has_ref(const struct tg_abi_net_refs *v, unsigned tool, unsigned matcher)
{
	for (unsigned i = 0; i < v->n && i < TG_ABI_NET_REFS; i++)
		if (v->ref[i].tool == tool && v->ref[i].matcher == matcher)
			return true;
	return false;
}

/* Tools and matchers of the test hosts. */
#define T_CLAUDE 1
#define T_WILD	 2
#define T_CIDR	 3
#define M(i)	 TG_ABI_MATCHER(TG_ABI_MK_HOST, i)

static int setup(char *why, size_t why_len)
{
	struct tg_abi_control ctl = {.active_gen = 0, .abi_version = TG_ABI_VERSION};
	struct tg_abi_gen g = {.mode = TG_ABI_MODE_ENFORCE, .flags = TG_ABI_GEN_HOSTS, .policy_serial = 1};
	struct tg_abi_net4_key cidr = {.prefixlen = 8 + 24};
	struct tg_abi_net_refs cv = {.n = 1};
	__u32 zero = 0;
	int r;

	libbpf_set_print(libbpf_quiet);
	skel = dns_guard__open();
	if (!skel) {
		snprintf(why, why_len, "cannot open the DNS BPF object: %s", strerror(errno));
		return -errno;
	}
	r = dns_guard__load(skel);
	if (r < 0) {
		snprintf(why, why_len, "cannot load dns_guard: %s (TG_TEST_VERBOSE=1 shows the verifier log)",
			 strerror(-r));
		return r;
	}
	prog_fd = bpf_program__fd(skel->progs.tg_dns_ingress);
	fd4 = bpf_map__fd(skel->maps.tg_net4);
	fd6 = bpf_map__fd(skel->maps.tg_net6);
	fdh = bpf_map__fd(skel->maps.tg_hosts);
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.tg_control), &zero, &ctl, BPF_ANY) < 0 ||
	    bpf_map_update_elem(bpf_map__fd(skel->maps.tg_gens), &zero, &g, BPF_ANY) < 0 ||
	    tg_fuzz_add_host(fdh, "claude.ai", false, T_CLAUDE, M(0)) < 0 ||
	    tg_fuzz_add_host(fdh, "api.anthropic.com", false, T_CLAUDE, M(1)) < 0 ||
	    tg_fuzz_add_host(fdh, "anthropic.com", true, T_WILD, M(2)) < 0) {
		snprintf(why, why_len, "cannot fill the test maps: %s", strerror(errno));
		return -errno;
	}
	/* a CIDR rule already covering 127.77.3.0/24: learned entries keep it */
	inet_pton(AF_INET, "127.77.3.0", cidr.addr);
	cv.ref[0].tool = T_CIDR;
	cv.ref[0].matcher = M(3);
	if (bpf_map_update_elem(fd4, &cidr, &cv, BPF_ANY) < 0) {
		snprintf(why, why_len, "cannot fill tg_net4: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* ---------- cases ---------- */

static void expect(const char *addr, unsigned tool, unsigned matcher, const char *what)
{
	struct tg_abi_net_refs v = learned(addr);

	ok(has_ref(&v, tool, matcher), "%s: %s learned (tool %u, matcher 0x%x; got %u refs)", what, addr, tool,
	   matcher, v.n);
}

static void expect_none(const char *addr, const char *what)
{
	struct tg_abi_net_refs v = learned(addr);

	ok(v.n == 0, "%s: %s not learned (got %u refs)", what, addr, v.n);
}

/* An answer over UDP/IPv4: qname A addr, for ttl seconds. */
static void answer_a_ttl(const char *qname, const char *addr, uint32_t ttl)
{
	struct msg m;

	response(&m, qname, 1, 1);
	put_ptr(&m, 12);
	rr_a_ttl(&m, addr, ttl);
	run_msg(UDP4, &m);
}

static void answer_a(const char *qname, const char *addr)
{
	answer_a_ttl(qname, addr, 300);
}

/* An answer over UDP/IPv4: qname CNAME target, target A addr. */
static void answer_cname(const char *qname, const char *target, const char *addr)
{
	struct msg m;
	unsigned t;

	response(&m, qname, 1, 2);
	put_ptr(&m, 12);
	t = rr_cname(&m, target);
	put_ptr(&m, t);
	rr_a(&m, addr);
	run_msg(UDP4, &m);
}

static void good_answers(void)
{
	struct msg m;
	unsigned t, t2;

	/* exact name, each transport */
	for (int kind = UDP4; kind <= TCP6; kind++) {
		bool v6 = kind == UDP6 || kind == TCP6;
		char a[64];

		response(&m, "claude.ai", v6 ? 28 : 1, 2);
		put_ptr(&m, 12);
		snprintf(a, sizeof(a), v6 ? "fd77::1:%d" : "127.77.1.%d", 10 + kind);
		if (v6)
			rr_aaaa(&m, a);
		else
			rr_a(&m, a);
		put_ptr(&m, 12);
		snprintf(a, sizeof(a), v6 ? "fd77::2:%d" : "127.77.2.%d", 10 + kind);
		if (v6)
			rr_aaaa(&m, a);
		else
			rr_a(&m, a);
		ok(run_msg(kind, &m) == 0, "%s: claude.ai answer runs", kind_names[kind]);
		snprintf(a, sizeof(a), v6 ? "fd77::1:%d" : "127.77.1.%d", 10 + kind);
		expect(a, T_CLAUDE, M(0), kind_names[kind]);
		snprintf(a, sizeof(a), v6 ? "fd77::2:%d" : "127.77.2.%d", 10 + kind);
		expect(a, T_CLAUDE, M(0), kind_names[kind]);
	}

	answer_a("CLaUDE.Ai", "127.77.1.20");
	expect("127.77.1.20", T_CLAUDE, M(0), "mixed-case question (0x20 encoding)");

	answer_a("x.y.anthropic.com", "127.77.1.21");
	expect("127.77.1.21", T_WILD, M(2), "x.y.anthropic.com under *.anthropic.com");

	answer_a("api.anthropic.com", "127.77.1.22");
	expect("127.77.1.22", T_CLAUDE, M(1), "api.anthropic.com: the exact rule wins over the wildcard");

	answer_a("anthropic.com", "127.77.1.23");
	expect_none("127.77.1.23", "apex anthropic.com is not under *.anthropic.com");

	answer_a("notanthropic.com", "127.77.1.24");
	expect_none("127.77.1.24", "notanthropic.com");

	answer_a("allowed.test", "127.77.1.25");
	expect_none("127.77.1.25", "answer to an unbanned name");

	/* owner written out in full instead of a pointer */
	response(&m, "claude.ai", 1, 1);
	put_name(&m, "claude.ai");
	rr_a(&m, "127.77.1.26");
	run_msg(UDP4, &m);
	expect("127.77.1.26", T_CLAUDE, M(0), "uncompressed owner name");

	/* CNAME from an allowed name into a banned one; an unrelated record stays allowed */
	response(&m, "alias.allowed.test", 1, 3);
	put_ptr(&m, 12);
	t = rr_cname(&m, "api.anthropic.com");
	put_ptr(&m, t);
	rr_a(&m, "127.77.1.30");
	put_name(&m, "other.allowed.test");
	rr_a(&m, "127.77.1.31");
	run_msg(UDP4, &m);
	expect("127.77.1.30", T_CLAUDE, M(1), "CNAME alias.allowed.test -> api.anthropic.com");
	expect_none("127.77.1.31", "record outside the CNAME chain");

	/* the same, address record before the CNAME */
	response(&m, "alias2.allowed.test", 1, 2);
	put_name(&m, "api.anthropic.com");
	rr_a(&m, "127.77.1.32");
	put_ptr(&m, 12);
	rr_cname(&m, "api.anthropic.com");
	run_msg(UDP4, &m);
	expect("127.77.1.32", T_CLAUDE, M(1), "CNAME after the A record it explains");

	/* two CNAMEs (owners as pointers into earlier RDATA) into *.anthropic.com */
	response(&m, "a.allowed.test", 28, 3);
	put_ptr(&m, 12);
	t = rr_cname(&m, "b.allowed.test");
	put_ptr(&m, t);
	t2 = rr_cname(&m, "edge.x.anthropic.com");
	put_ptr(&m, t2);
	rr_aaaa(&m, "fd77::3:1");
	run_msg(UDP6, &m);
	expect("fd77::3:1", T_WILD, M(2), "two-step CNAME chain into *.anthropic.com (AAAA)");

	/* a compressed target: "edge" + a pointer to the question "anthropic.com" */
	response(&m, "anthropic.com", 1, 2);
	put_ptr(&m, 12);
	rr_fixed(&m, 5, 7);
	t = (unsigned)m.n;
	put8(&m, 4);
	put(&m, "edge", 4);
	put_ptr(&m, 12); /* the (unbanned) apex of the question */
	put_ptr(&m, t);
	rr_a(&m, "127.77.1.34");
	run_msg(UDP4, &m);
	expect("127.77.1.34", T_WILD, M(2), "apex CNAME edge + pointer (edge.anthropic.com)");

	/* banned question, CNAME to an allowed CDN name: the CDN addresses of this answer */
	answer_cname("claude.ai", "cdn.allowed.test", "127.77.1.33");
	expect("127.77.1.33", T_CLAUDE, M(0), "claude.ai CNAME cdn.allowed.test");

	/* an address under a CIDR rule keeps the CIDR rule's ref */
	answer_a("claude.ai", "127.77.3.5");
	expect("127.77.3.5", T_CLAUDE, M(0), "inside a banned /24");
	expect("127.77.3.5", T_CIDR, M(3), "inside a banned /24 (the CIDR ref merged)");

	/* not a DNS response from port 53 */
	response(&m, "claude.ai", 1, 1);
	put_ptr(&m, 12);
	rr_a(&m, "127.77.1.40");
	{
		static uint8_t pkt[8192];

		run_pkt(pkt, packet(pkt, sizeof(pkt), UDP4, &m, 5353));
	}
	expect_none("127.77.1.40", "source port 5353");

	header(&m, 0x0100, 1, 1); /* a query (QR clear) carrying an answer */
	put_name(&m, "claude.ai");
	put16(&m, 1);
	put16(&m, 1);
	put_ptr(&m, 12);
	rr_a(&m, "127.77.1.41");
	run_msg(UDP4, &m);
	expect_none("127.77.1.41", "a query, not a response");

	header(&m, 0x8183, 1, 1); /* NXDOMAIN with a record */
	put_name(&m, "claude.ai");
	put16(&m, 1);
	put16(&m, 1);
	put_ptr(&m, 12);
	rr_a(&m, "127.77.1.42");
	run_msg(UDP4, &m);
	expect_none("127.77.1.42", "rcode NXDOMAIN");
}

/* Expiry (CLOCK_TAI ns) of addr in tg_shared, 0 when it is not there. */
static uint64_t shared_until(const char *addr)
{
	struct tg_abi_shared_key k = {0};
	uint64_t v = 0;

	if (strchr(addr, ':')) {
		k.family = AF_INET6;
		inet_pton(AF_INET6, addr, k.addr);
	} else {
		k.family = AF_INET;
		inet_pton(AF_INET, addr, k.addr);
	}
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.tg_shared), &k, &v) < 0)
		return 0;
	return v;
}

/* The per-CPU memo of what was last written to tg_shared: the same answer
 * again within a second leaves the map alone (shown by removing the entry
 * first), a longer TTL is written at once, and after a second the same
 * answer is written again. On one CPU: the memo is per CPU. */
static void share_memo(uint64_t now)
{
	struct tg_abi_shared_key k = {.family = AF_INET};
	struct timespec pause = {.tv_sec = 1, .tv_nsec = 100000000};
	int fds = bpf_map__fd(skel->maps.tg_shared);
	cpu_set_t one, all;
	uint64_t u1;

	inet_pton(AF_INET, "127.77.1.3", k.addr);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
	if (sched_getaffinity(0, sizeof(all), &all) < 0 || sched_setaffinity(0, sizeof(one), &one) < 0) {
		for (int i = 0; i < 3; i++)
			ok(true, "# SKIP the memo checks need one CPU: sched_setaffinity: %s", strerror(errno));
		return;
	}
	answer_a("cdn2.allowed.test", "127.77.1.3");
	u1 = shared_until("127.77.1.3");
	bpf_map_delete_elem(fds, &k);
	answer_a("cdn2.allowed.test", "127.77.1.3");
	ok(u1 > now && shared_until("127.77.1.3") == 0,
	   "the same allowed answer again at once writes nothing (the CPU's memo)");
	answer_a_ttl("cdn2.allowed.test", "127.77.1.3", 3600);
	u1 = shared_until("127.77.1.3");
	ok(u1 > now + 3500000000000ull, "the same address with a longer TTL is written at once (%lld s left)",
	   u1 ? (long long)((u1 - now) / 1000000000u) : -1LL);
	bpf_map_delete_elem(fds, &k);
	while (nanosleep(&pause, &pause) < 0 && errno == EINTR)
		;
	answer_a("cdn2.allowed.test", "127.77.1.3");
	ok(shared_until("127.77.1.3") > now, "a second later the same answer is written again");
	sched_setaffinity(0, sizeof(all), &all);
}

/* Answers for allowed names mark their addresses shared (TTL 300 s here);
 * answers that match a rule never do; learned refs are marked name refs. */
static void shared_answers(void)
{
	struct tg_abi_net_refs v;
	struct timespec ts;
	struct msg m;
	uint64_t now, until;
	bool marks = true;

	clock_gettime(CLOCK_TAI, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	answer_a("cdn.allowed.test", "127.77.1.2");
	until = shared_until("127.77.1.2");
	ok(until > now + 290000000000ull && until < now + 310000000000ull,
	   "allowed answer: 127.77.1.2 in tg_shared for its TTL (%lld s left)",
	   until ? (long long)((until - now) / 1000000000u) : -1LL);
	expect_none("127.77.1.2", "allowed answer (shared, not learned)");

	share_memo(now);

	response(&m, "cdn.allowed.test", 28, 1);
	put_ptr(&m, 12);
	rr_aaaa(&m, "fd77::5:1");
	run_msg(TCP6, &m);
	ok(shared_until("fd77::5:1") > now, "allowed AAAA answer over TCP: fd77::5:1 in tg_shared");

	ok(shared_until("127.77.1.20") == 0 && shared_until("127.77.1.22") == 0 &&
	       shared_until("fd77::1:11") == 0,
	   "answers for banned names never mark their addresses shared");
	ok(shared_until("127.77.1.30") == 0 && shared_until("127.77.1.31") == 0,
	   "a CNAME chain into a banned name marks nothing shared (nor records outside the chain)");

	v = learned("127.77.3.5");
	for (unsigned i = 0; i < v.n && i < TG_ABI_NET_REFS; i++)
		if (!!(v.flags & TG_ABI_NET_NAME_REF(i)) != (v.ref[i].tool == T_CLAUDE))
			marks = false;
	ok(v.n == 2 && marks, "learned entry under a CIDR rule: the name's ref is marked, the CIDR's is not (flags 0x%x)",
	   v.flags);
}

/* ---------- the "no rule name this long" filter (TG_ABI_GEN_HOST_LENS) ---------- */

/* Names of the word-boundary lengths 63, 64 and 127, and a 64-character
 * wildcard suffix; filled in by length_filter(). */
static char name63[64], name64[65], name127[128], wild64[65];

/* The generation with the lengths of every name in tg_hosts, as the daemon
 * writes them (daemon/kernel.c host_lens), minus the length drop (0: none). */
static void set_lens(bool on, size_t drop)
{
	const char *exact[] = {"claude.ai", "api.anthropic.com", name63, name64, name127};
	const char *wild[] = {"anthropic.com", wild64};
	struct tg_abi_gen g = {.mode = TG_ABI_MODE_ENFORCE, .flags = TG_ABI_GEN_HOSTS, .policy_serial = 1};
	__u32 zero = 0;

	if (on) {
		g.flags |= TG_ABI_GEN_HOST_LENS;
		for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
			g.host_lens[strlen(exact[i]) / 64] |= 1ULL << (strlen(exact[i]) % 64);
		for (size_t i = 0; i < sizeof(wild) / sizeof(wild[0]); i++)
			g.wild_lens[strlen(wild[i]) / 64] |= 1ULL << (strlen(wild[i]) % 64);
		if (drop)
			g.host_lens[drop / 64] &= ~(1ULL << (drop % 64));
	}
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.tg_gens), &zero, &g, BPF_ANY) < 0)
		ok(false, "cannot write tg_gens: %s", strerror(errno));
}

static void length_filter(void)
{
	char sub[128];
	struct msg m;

	/* labels of at most 63 characters: 40.22 = 63, 40.23 = 64, 63.63 = 127, 30.33 = 64 */
	snprintf(name63, sizeof(name63), "%.40s.%.22s", "llllllllllllllllllllllllllllllllllllllll", "eeeeeeeeeeeeeeeeeeeeee");
	snprintf(name64, sizeof(name64), "%.40s.%.23s", "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm", "fffffffffffffffffffffff");
	memset(name127, 'n', 127);
	name127[63] = '.';
	name127[127] = 0;
	snprintf(wild64, sizeof(wild64), "%.30s.%.33s", "wwwwwwwwwwwwwwwwwwwwwwwwwwwwww", "ggggggggggggggggggggggggggggggggg");
	if (tg_fuzz_add_host(fdh, name63, false, T_CLAUDE, M(4)) < 0 ||
	    tg_fuzz_add_host(fdh, name64, false, T_CLAUDE, M(5)) < 0 ||
	    tg_fuzz_add_host(fdh, name127, false, T_CLAUDE, M(6)) < 0 ||
	    tg_fuzz_add_host(fdh, wild64, true, T_WILD, M(7)) < 0) {
		ok(false, "length filter: cannot add the names of 63, 64, 127 and 64 (wildcard) characters: %s",
		   strerror(errno));
		return;
	}

	set_lens(true, 0);
	answer_a(name63, "127.77.6.1");
	expect("127.77.6.1", T_CLAUDE, M(4), "length filter on: a 63-character name");
	answer_a(name64, "127.77.6.2");
	expect("127.77.6.2", T_CLAUDE, M(5), "length filter on: a 64-character name (second word)");
	/* 127 characters: the longest name matched (the last bit of the second word) */
	answer_a(name127, "127.77.6.3");
	expect("127.77.6.3", T_CLAUDE, M(6), "length filter on: a 127-character name (the last length bit)");
	snprintf(sub, sizeof(sub), "x.%s", wild64);
	answer_a(sub, "127.77.6.4");
	expect("127.77.6.4", T_WILD, M(7), "length filter on: under a 64-character \"*.\" suffix");
	answer_a("claude.ai", "127.77.6.5");
	expect("127.77.6.5", T_CLAUDE, M(0), "length filter on: claude.ai");
	answer_a("x.y.anthropic.com", "127.77.6.6");
	expect("127.77.6.6", T_WILD, M(2), "length filter on: x.y.anthropic.com under *.anthropic.com");
	answer_cname("alias.allowed.test", "api.anthropic.com", "127.77.6.7");
	expect("127.77.6.7", T_CLAUDE, M(1), "length filter on: CNAME target api.anthropic.com");
	answer_a("allowed.test", "127.77.6.8");
	expect_none("127.77.6.8", "length filter on: an unbanned name");

	/* the filter is consulted: without the bit for 9 characters, claude.ai is not looked up */
	set_lens(true, strlen("claude.ai"));
	answer_a("claude.ai", "127.77.6.9");
	expect_none("127.77.6.9", "length filter without claude.ai's length: no lookup, nothing learned");
	set_lens(false, 0);
	answer_a("claude.ai", "127.77.6.10");
	expect("127.77.6.10", T_CLAUDE, M(0), "without TG_ABI_GEN_HOST_LENS: every name looked up");

	/* RFC 1035's 255 octets: an owner name of 254 octets (with its zero) is
	 * read, one of 256 ends the records there */
	for (int over = 0; over <= 1; over++) {
		char longname[300], a[32];

		/* 3 labels of 63 and one of 61 or 63: 3 * 64 + 62 + 1 = 255, or 257 */
		snprintf(longname, sizeof(longname), "%.63s.%.63s.%.63s.%.*s", name127, name127, name127,
			 over ? 63 : 61, name127);
		response(&m, "claude.ai", 1, 2);
		put_name(&m, longname);
		rr_a(&m, "127.77.6.20");
		put_ptr(&m, 12);
		snprintf(a, sizeof(a), "127.77.6.%d", 21 + over);
		rr_a(&m, a);
		run_msg(UDP4, &m);
		if (over)
			expect_none(a, "a record owned by a 257-octet name: malformed, the records after it unread");
		else
			expect(a, T_CLAUDE, M(0), "a record owned by a 255-octet name: the records after it read");
	}
}

static void bad_answers(void)
{
	static uint8_t pkt[8192];
	struct msg m;
	size_t n, cut;
	unsigned t;
	bool any;

	/* a TCP message longer than its segment, and no later segment (each
	 * run has a socket of its own; dns.sh sends the rest on a real
	 * connection): the records complete so far count, since a reader can
	 * take them before the rest comes; an allowed name's addresses are
	 * shared only from a whole message */
	response(&m, "claude.ai", 1, 1);
	put_ptr(&m, 12);
	rr_a(&m, "127.77.4.1");
	n = packet(pkt, sizeof(pkt), TCP4, &m, 53);
	pkt[14 + 20 + 20 + 1] += 40; /* the length announces 40 more bytes */
	run_pkt(pkt, n);
	expect("127.77.4.1", T_CLAUDE, M(0), "TCP message longer than its segment, its first record");
	response(&m, "cdn.allowed.test", 1, 1);
	put_ptr(&m, 12);
	rr_a(&m, "127.77.4.2");
	n = packet(pkt, sizeof(pkt), TCP4, &m, 53);
	pkt[14 + 20 + 20 + 1] += 40;
	run_pkt(pkt, n);
	ok(shared_until("127.77.4.2") == 0, "allowed name, TCP message longer than its segment: 127.77.4.2 not in tg_shared yet");

	/* truncated anywhere, each transport */
	any = false;
	for (int kind = UDP4; kind <= TCP6; kind++) {
		bool v6 = kind == UDP6 || kind == TCP6;

		response(&m, "claude.ai", v6 ? 28 : 1, 1);
		put_ptr(&m, 12);
		if (v6)
			rr_aaaa(&m, "fd77::4:2");
		else
			rr_a(&m, "127.77.4.2");
		n = packet(pkt, sizeof(pkt), kind, &m, 53);
		for (cut = 14; cut < n; cut++) {
			int r = run_pkt(pkt, cut);

			if (r < 0 && cut >= 14 + (v6 ? 40u : 20u)) { /* shorter: refused by the kernel itself */
				if (!any)
					printf("# %s cut at %zu of %zu: %s\n", kind_names[kind], cut, n, strerror(-r));
				any = true;
			}
		}
	}
	ok(!any, "truncated packets (every length, 4 transports) all run");
	expect_none("127.77.4.2", "truncated IPv4 answers");
	expect_none("fd77::4:2", "truncated IPv6 answers");

	/* compression loops: a pointer to itself, two pointers to each other */
	response(&m, "claude.ai", 1, 1);
	t = (unsigned)m.n;
	put_ptr(&m, t);
	rr_a(&m, "127.77.4.3");
	run_msg(UDP4, &m);
	expect_none("127.77.4.3", "owner pointer to itself");

	response(&m, "claude.ai", 1, 2);
	t = (unsigned)m.n;
	put_ptr(&m, 12);
	rr_cname(&m, "x.allowed.test");
	/* a name at t2: label "a" then a pointer back to itself */
	{
		unsigned t2 = (unsigned)m.n;

		put8(&m, 1);
		put8(&m, 'a');
		put_ptr(&m, t2);
	}
	rr_a(&m, "127.77.4.4");
	run_msg(UDP4, &m);
	expect_none("127.77.4.4", "owner label + pointer back to its own start (loop)");

	/* a name that points forward, and one beyond the message */
	response(&m, "claude.ai", 1, 1);
	put_ptr(&m, (unsigned)m.n + 2);
	put_name(&m, "claude.ai");
	rr_a(&m, "127.77.4.5");
	run_msg(UDP4, &m);
	expect_none("127.77.4.5", "forward pointer");

	response(&m, "claude.ai", 1, 1);
	put_ptr(&m, 0x3ff0);
	rr_a(&m, "127.77.4.6");
	run_msg(UDP4, &m);
	expect_none("127.77.4.6", "pointer out of range");

	response(&m, "claude.ai", 1, 1);
	put_ptr(&m, 2);
	rr_a(&m, "127.77.4.7");
	run_msg(UDP4, &m);
	expect_none("127.77.4.7", "pointer into the header");

	/* a CNAME target that loops: the chain ends there, nothing learned from it */
	response(&m, "alias.allowed.test", 1, 2);
	put_ptr(&m, 12);
	rr_fixed(&m, 5, 2);
	t = (unsigned)m.n;
	put_ptr(&m, t);
	put_ptr(&m, t);
	rr_a(&m, "127.77.4.8");
	run_msg(UDP4, &m);
	expect_none("127.77.4.8", "CNAME target pointing to itself");

	/* oversized label (64) and the obsolete label types in the question */
	for (unsigned len = 64; len <= 0xbf; len += 0x3f) {
		char a[32];

		header(&m, 0x8180, 1, 1);
		put8(&m, len);
		for (unsigned i = 0; i < 64; i++)
			put8(&m, 'a');
		put_name(&m, "claude.ai");
		put16(&m, 1);
		put16(&m, 1);
		put_ptr(&m, 12);
		snprintf(a, sizeof(a), "127.77.4.%u", 10 + len / 0x3f);
		rr_a(&m, a);
		run_msg(UDP4, &m);
		expect_none(a, len == 64 ? "label of 64 bytes" : "extended label type");
	}

	/* ANCOUNT 0 with a record, and 65535 with one record */
	response(&m, "claude.ai", 1, 0);
	put_ptr(&m, 12);
	rr_a(&m, "127.77.4.20");
	run_msg(UDP4, &m);
	expect_none("127.77.4.20", "ANCOUNT 0");

	response(&m, "claude.ai", 1, 65535);
	put_ptr(&m, 12);
	rr_a(&m, "127.77.4.21");
	run_msg(UDP4, &m);
	expect("127.77.4.21", T_CLAUDE, M(0), "ANCOUNT 65535 with one record: that record, then the end");

	/* 65535 answers announced, 60 present: the first DNS_MAX_RECS (32) learned */
	response(&m, "claude.ai", 1, 65535);
	for (unsigned i = 0; i < 60; i++) {
		char a[32];

		put_ptr(&m, 12);
		snprintf(a, sizeof(a), "127.77.5.%u", i);
		rr_a(&m, a);
	}
	run_msg(UDP4, &m);
	expect("127.77.5.0", T_CLAUDE, M(0), "60 answers: the first");
	expect("127.77.5.31", T_CLAUDE, M(0), "60 answers: the 32nd");
	expect_none("127.77.5.32", "60 answers: the 33rd (beyond the parse limit)");

	/* two questions */
	header(&m, 0x8180, 2, 1);
	put_name(&m, "claude.ai");
	put16(&m, 1);
	put16(&m, 1);
	put_name(&m, "claude.ai");
	put16(&m, 1);
	put16(&m, 1);
	put_ptr(&m, 12);
	rr_a(&m, "127.77.4.22");
	run_msg(UDP4, &m);
	expect_none("127.77.4.22", "QDCOUNT 2");

	/* a huge rdlength */
	response(&m, "claude.ai", 1, 1);
	put_ptr(&m, 12);
	rr_fixed(&m, 1, 0xffff);
	put32(&m, 0x7f4d0417);
	run_msg(UDP4, &m);
	expect_none("127.77.4.23", "RDLENGTH 65535");
}

/* Random corruption of good answers: every run passes the packet and ends. */
static void fuzz(void)
{
	static uint8_t pkt[8192];
	unsigned seed = (unsigned)time(NULL), runs = 0, errs = 0;
	struct timespec t0, t1;
	struct msg m;
	unsigned t;
	size_t n;

	srand(seed);
	response(&m, "alias.allowed.test", 1, 3);
	put_ptr(&m, 12);
	t = rr_cname(&m, "x.y.anthropic.com");
	put_ptr(&m, t);
	rr_a(&m, "127.77.6.1");
	put_ptr(&m, t);
	rr_a(&m, "127.77.6.2");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int kind = UDP4; kind <= TCP6; kind++) {
		n = packet(pkt, sizeof(pkt), kind, &m, 53);
		for (int i = 0; i < 1500; i++) {
			static uint8_t bad[8192];
			size_t hdr = n - m.n, flips = 1 + (size_t)rand() % 6;

			memcpy(bad, pkt, n);
			for (size_t f = 0; f < flips; f++)
				bad[hdr + (size_t)rand() % m.n] ^= (uint8_t)(1u << (rand() % 8));
			if (rand() % 4 == 0)
				bad[hdr + (size_t)rand() % m.n] = (uint8_t)rand();
			if (run_pkt(bad, rand() % 8 ? n : hdr + (size_t)rand() % m.n) < 0)
				errs++;
			runs++;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ok(errs == 0, "fuzz: %u corrupted answers ran (seed %u, %u errors, %.0f ms)", runs, seed, errs,
	   (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
}

/* The program's own time per packet (repeat runs), printed for the record. */
static void timing(void)
{
	static uint8_t pkt[8192];
	const char *names[] = {"allowed.example.test", "claude.ai", "www.example.com", "x.test", "abcdefghijklmnopqrstuvwxyz.test", "a.b.c.d.e.f.g.h.i.test"};
	struct msg m;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .repeat = 20000);

		response(&m, names[i], 1, 2);
		put_ptr(&m, 12);
		rr_a(&m, "127.77.7.1");
		put_ptr(&m, 12);
		rr_a(&m, "127.77.7.2");
		o.data_size_in = (__u32)packet(pkt, sizeof(pkt), UDP4, &m, 53);
		if (bpf_prog_test_run_opts(prog_fd, &o) == 0)
			printf("# program time for an answer with 2 A records to %s: %u ns\n", names[i], o.duration);
	}
	{
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .repeat = 20000);

		header(&m, 0x0100, 1, 0);
		put_name(&m, "claude.ai");
		put16(&m, 1);
		put16(&m, 1);
		o.data_size_in = (__u32)packet(pkt, sizeof(pkt), UDP4, &m, 40000);
		if (bpf_prog_test_run_opts(prog_fd, &o) == 0)
			printf("# program time for a packet not from port 53: %u ns\n", o.duration);
	}
}

int main(void)
{
	char why[256] = "";

	if (getenv("TOOLGUARD_SKIP_KERNEL_TESTS") && !strcmp(getenv("TOOLGUARD_SKIP_KERNEL_TESTS"), "1")) {
		printf("1..0 # SKIP TOOLGUARD_SKIP_KERNEL_TESTS=1\n");
		return 0;
	}
	if (geteuid() != 0) {
		printf("1..0 # SKIP not root (loads a BPF program; run make check as root)\n");
		return 0;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		printf("1..0 # SKIP no /sys/kernel/btf/vmlinux (kernel without BTF)\n");
		return 0;
	}
	if (setup(why, sizeof(why)) < 0) {
		/* loading is what this test is about: a refusal is a failure, not a skip */
		printf("1..1\nnot ok 1 - load dns_guard: %s\n", why);
		dns_guard__destroy(skel);
		return 0;
	}
	good_answers();
	shared_answers();
	length_filter();
	bad_answers();
	fuzz();
	timing();
	ok(runs_bad == 0, "every run passed the packet (retval 1; %u did not)", runs_bad);
	printf("1..%d\n", tap_n);
	dns_guard__destroy(skel);
	return 0;
}
