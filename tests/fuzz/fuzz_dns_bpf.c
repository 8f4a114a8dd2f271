// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the KERNEL DNS answer parser itself (bpf/dns_guard.bpf.c),
 * not a userspace copy of it: the dns_guard object is loaded once from its
 * skeleton with private maps (never pinned, never attached: nothing on this
 * machine sees it) and every input runs through BPF_PROG_TEST_RUN as the
 * payload of a DNS response packet built here.
 *
 * Input: byte 0 chooses the packet:
 *   bits 0-1  UDP/IPv4, UDP/IPv6, TCP/IPv4, TCP/IPv6
 *   bit 2     the harness writes the header and question (byte 1: bits 0-1
 *             the name, bit 2 AAAA; byte 2: ANCOUNT) and the rest is the
 *             answer section; otherwise the rest is the whole message
 *   bit 3     the next 2 bytes replace the TCP length prefix (TCP) or the
 *             UDP length (UDP)
 *   bit 4     the next 2 bytes replace the IP (payload) length
 * Invariants checked after every run: the program returned 1 (pass the
 * packet); every entry in tg_net4/tg_net6 other than the CIDR rule set up
 * here is a /32 or /128 of generation 0 whose address occurs in the DNS
 * message, holding the refs of a host name (and at most the CIDR rule's).
 * Learned entries are deleted after each run, so runs are independent.
 *
 * libFuzzer sees no coverage of kernel code, so the harness gives it the
 * parser's progress as extra counters instead: after each run it reads the
 * program's scratch (found through the object's BTF by member name, so it
 * follows changes of the layout): records parsed, chain length, host found,
 * how the last name ended, pointers followed, CNAMEs, bytes loaded, and the
 * entries learned. Inputs that reach new parser states are kept.
 * Needs root and BPF: without them it prints why and exits 77.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "toolguard_abi.h"
#include "dns_guard.skel.h"
#include "bpf_harness.h"

#define PKT_MAX	  3584 /* BPF_PROG_TEST_RUN takes at most about a page minus skb overhead */

#define T_NAME	1
#define T_WILD	2
#define T_CIDR	3
#define M(i)	TG_ABI_MATCHER(TG_ABI_MK_HOST, i)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dns_guard *skel;
static int prog_fd, fd4, fd6;

/* Parser progress as libFuzzer features: FEAT_SLOTS fields x 64 values. */
enum { F_NREC, F_NCHAIN, F_FOUND, F_DONE, F_HOPS, F_CNAMES, F_LEN, F_LEARNED, FEAT_SLOTS };
static const char *const feat_members[] = {"nrec", "nchain", "found", "nc.done", "nc.hops", "rc.cnames", "len"};
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t tg_features[FEAT_SLOTS * 64];
static struct tg_fuzz_scratch scratch;
static bool verbose;		 /* TG_TEST_VERBOSE: say what each run learned (reproducers) */
static long feat_off[F_LEN + 1]; /* byte offset in the scratch value, -1 = not found */

static void feature(unsigned slot, uint32_t v)
{
	tg_fuzz_feature(tg_features, slot, v);
}

/* Feedback from the scratch map; without it the fuzzing is blind but still runs. */
static void features_setup(void)
{
	int id = tg_fuzz_scratch_setup(&scratch, skel->obj, skel->maps.tg_dns_scratch, "tg_dns_scratch");

	for (unsigned i = 0; i <= F_LEN && id >= 0; i++)
		feat_off[i] = tg_fuzz_member_off(bpf_object__btf(skel->obj), (__u32)id, feat_members[i]);
}

static void features_read(void)
{
	const uint8_t *s = tg_fuzz_scratch_read(&scratch);
	__u32 v;

	for (unsigned i = 0; s && i <= F_LEN; i++) {
		if (feat_off[i] < 0 || (size_t)feat_off[i] + 4 > scratch.size)
			continue;
		memcpy(&v, s + feat_off[i], 4);
		feature(i, i == F_LEN ? v / 32 : v);
	}
}

static const char *const qnames[] = {"claude.ai", "api.anthropic.com", "x.y.anthropic.com", "example.org"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct tg_abi_control ctl = {.active_gen = 0, .abi_version = TG_ABI_VERSION};
	struct tg_abi_gen g = {.mode = TG_ABI_MODE_ENFORCE, .flags = TG_ABI_GEN_HOSTS, .policy_serial = 1};
	struct tg_abi_net4_key cidr = {.prefixlen = 8 + 24};
	struct tg_abi_net_refs cv = {.n = 1};
	__u32 zero = 0;
	int fdh;

	(void)argc;
	(void)argv;
	verbose = tg_fuzz_bpf_init("fuzz_dns_bpf");
	TG_FUZZ_LOAD_SKEL(dns_guard, skel);
	prog_fd = bpf_program__fd(skel->progs.tg_dns_ingress);
	fd4 = bpf_map__fd(skel->maps.tg_net4);
	fd6 = bpf_map__fd(skel->maps.tg_net6);
	fdh = bpf_map__fd(skel->maps.tg_hosts);
	inet_pton(AF_INET, "127.77.3.0", cidr.addr);
	cv.ref[0].tool = T_CIDR;
	cv.ref[0].matcher = M(3);
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.tg_control), &zero, &ctl, BPF_ANY) < 0 ||
	    bpf_map_update_elem(bpf_map__fd(skel->maps.tg_gens), &zero, &g, BPF_ANY) < 0 ||
	    tg_fuzz_add_host(fdh, "claude.ai", false, T_NAME, M(0)) < 0 ||
	    tg_fuzz_add_host(fdh, "api.anthropic.com", false, T_NAME, M(1)) < 0 ||
	    tg_fuzz_add_host(fdh, "anthropic.com", true, T_WILD, M(2)) < 0 ||
	    bpf_map_update_elem(fd4, &cidr, &cv, BPF_ANY) < 0) {
		fprintf(stderr, "fuzz_dns_bpf: cannot fill the test maps: %s\n", strerror(errno));
		exit(1);
	}
	features_setup();
	return 0;
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The harness's header and question for qnames[sel & 3]; returns its length. */
static size_t question(uint8_t *m, unsigned sel, unsigned an)
{
	const char *name = qnames[sel & 3];
	size_t n = 12;

	memset(m, 0, 12);
	put16(m, 0x1234);
	put16(m + 2, 0x8180);
	put16(m + 4, 1);
	put16(m + 6, an);
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);

		m[n++] = (uint8_t)l;
		memcpy(m + n, name, l);
		n += l;
		name += l + (dot ? 1 : 0);
	}
	m[n++] = 0;
	put16(m + n, (sel & 4) ? 28 : 1);
	put16(m + n + 2, 1);
	return n + 4;
}

/* Is this learned entry one the message could have produced? */
static bool entry_ok(const uint8_t *addr, size_t alen, const struct tg_abi_net_refs *v, const uint8_t *msg,
		     size_t mlen)
{
	bool host = false;

	if (!memmem(msg, mlen, addr, alen) || v->n == 0 || v->n > TG_ABI_NET_REFS)
		return false;
	for (unsigned i = 0; i < v->n; i++) {
		unsigned t = v->ref[i].tool;

		if (t != T_NAME && t != T_WILD && t != T_CIDR)
			return false;
		if (t == T_CIDR && (alen != 4 || memcmp(addr, "\x7f\x4d\x03", 3) != 0))
			return false; /* the CIDR rule's refs on an address it does not cover */
		host |= t != T_CIDR;
	}
	return host;
}

static void check_and_reset(const uint8_t *msg, size_t mlen)
{
	struct tg_abi_net4_key k4, n4;
	struct tg_abi_net6_key k6, n6;
	struct tg_abi_net_refs v;
	void *prev = NULL;
	unsigned c4 = 0, c6 = 0;

	while (bpf_map_get_next_key(fd4, prev, &n4) == 0) {
		k4 = n4;
		prev = &k4;
		if (k4.prefixlen == 8 + 24)
			continue; /* the CIDR rule */
		if (k4.prefixlen != 8 + 32 || k4.gen != 0 || bpf_map_lookup_elem(fd4, &k4, &v) < 0 ||
		    !entry_ok(k4.addr, 4, &v, msg, mlen)) {
			fprintf(stderr, "fuzz_dns_bpf: bad tg_net4 entry %u.%u.%u.%u/%u gen %u\n", k4.addr[0],
				k4.addr[1], k4.addr[2], k4.addr[3], k4.prefixlen - 8, k4.gen);
			abort();
		}
		if (bpf_map_delete_elem(fd4, &k4) < 0)
			abort();
		c4++;
		prev = NULL; /* start over: the key just deleted cannot lead on */
	}
	prev = NULL;
	while (bpf_map_get_next_key(fd6, prev, &n6) == 0) {
		k6 = n6;
		if (k6.prefixlen != 8 + 128 || k6.gen != 0 || bpf_map_lookup_elem(fd6, &k6, &v) < 0 ||
		    !entry_ok(k6.addr, 16, &v, msg, mlen)) {
			fprintf(stderr, "fuzz_dns_bpf: bad tg_net6 entry /%u gen %u\n", k6.prefixlen - 8, k6.gen);
			abort();
		}
		if (bpf_map_delete_elem(fd6, &k6) < 0)
			abort();
		c6++;
	}
	feature(F_LEARNED, (c4 > 7 ? 7 : c4) + 8 * (c6 > 7 ? 7 : c6));
	if (verbose)
		fprintf(stderr, "fuzz_dns_bpf: learned %u IPv4 and %u IPv6 entries\n", c4, c6);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pkt[PKT_MAX];
	unsigned flags, kind, l4_len_override = 0, ip_len_override = 0;
	bool v6, tcp, l4_lie, ip_lie;
	size_t iph, l4, mlen, n;
	uint8_t *p, *msg;

	if (size < 1)
		return 0;
	flags = data[0];
	data++;
	size--;
	kind = flags & 3;
	v6 = kind & 1;
	tcp = kind & 2;
	l4_lie = flags & 8;
	ip_lie = flags & 16;
	if (l4_lie) {
		if (size < 2)
			return 0;
		l4_len_override = (unsigned)(data[0] << 8 | data[1]);
		data += 2;
		size -= 2;
	}
	if (ip_lie) {
		if (size < 2)
			return 0;
		ip_len_override = (unsigned)(data[0] << 8 | data[1]);
		data += 2;
		size -= 2;
	}
	iph = v6 ? 40 : 20;
	l4 = tcp ? 20 + 2 : 8;
	memset(pkt, 0, 14 + iph + l4);
	msg = pkt + 14 + iph + l4;
	mlen = 0;
	if (flags & 4) {
		if (size < 2)
			return 0;
		mlen = question(msg, data[0], data[1]);
		data += 2;
		size -= 2;
	}
	if (size > PKT_MAX - 14 - iph - l4 - mlen)
		size = PKT_MAX - 14 - iph - l4 - mlen;
	memcpy(msg + mlen, data, size);
	mlen += size;
	n = 14 + iph + l4 + mlen;

	p = pkt;
	p[12] = v6 ? 0x86 : 0x08;
	p[13] = v6 ? 0xdd : 0x00;
	p += 14;
	if (v6) {
		p[0] = 0x60;
		put16(p + 4, ip_lie ? ip_len_override : (unsigned)(l4 + mlen));
		p[6] = tcp ? 6 : 17;
		p[7] = 64;
		inet_pton(AF_INET6, "fd77::53", p + 8);
		inet_pton(AF_INET6, "fd77::100", p + 24);
	} else {
		p[0] = 0x45;
		put16(p + 2, ip_lie ? ip_len_override : (unsigned)(iph + l4 + mlen));
		p[8] = 64;
		p[9] = tcp ? 6 : 17;
		inet_pton(AF_INET, "127.0.0.53", p + 12);
		inet_pton(AF_INET, "127.0.0.1", p + 16);
	}
	p += iph;
	put16(p, 53);
	put16(p + 2, 50000);
	if (tcp) {
		p[12] = 5 << 4;
		p[13] = 0x18; /* PSH ACK */
		put16(p + 20, l4_lie ? l4_len_override : (unsigned)mlen);
	} else {
		put16(p + 4, l4_lie ? l4_len_override : (unsigned)(8 + mlen));
	}

	{
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (__u32)n, .repeat = 1);

		tg_fuzz_scratch_reset(&scratch);
		if (bpf_prog_test_run_opts(prog_fd, &o) < 0) {
			fprintf(stderr, "fuzz_dns_bpf: BPF_PROG_TEST_RUN failed: %s\n", strerror(errno));
			abort();
		}
		if (o.retval != 1) {
			fprintf(stderr, "fuzz_dns_bpf: the program returned %u, not 1 (pass)\n", o.retval);
			abort();
		}
	}
	features_read();
	check_and_reset(msg, mlen);
	return 0;
}
