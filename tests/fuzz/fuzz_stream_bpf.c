// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the KERNEL CONNECT / TLS-SNI parser itself
 * (bpf/stream_guard.bpf.c, its sk_msg program), not a userspace copy of it.
 * BPF_PROG_TEST_RUN does not run sk_msg programs (ENOTSUPP), so the harness
 * drives the real hook: it loads the object from its skeleton with private
 * maps (never pinned; the sockops program is never attached), attaches the
 * sk_msg program to its OWN private tg_streams sockhash, and for every input
 * opens a loopback TCP connection to itself, puts that one socket into the
 * sockhash and sends the input as the connection's first sendmsg. No other
 * socket on the machine is ever in that map, so nothing else is affected.
 *
 * Policy set up: "claude.ai", "api.anthropic.com" and "*.anthropic.com",
 * action BLOCK, mode ENFORCE. Invariant: the sendmsg either sends the input
 * or fails with EACCES (a banned name); anything else, or a hang (libFuzzer
 * -timeout), is a finding. Extra counters give libFuzzer the parser's
 * progress (scratch found/port/name length, read by BTF member name, and the
 * verdict) since it sees no coverage of kernel code.
 * Needs root and BPF: without them it prints why and exits 77.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>
#include <poll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "toolguard_abi.h"
#include "stream_guard.skel.h"

#define EXIT_SKIP 77
#define MSG_MAX	  8192

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct stream_guard *skel;
static int streams_fd, listen_fd = -1;
static struct sockaddr_in listen_addr;
static uint32_t conn_seq;

enum { F_FOUND, F_PORT, F_NAMELEN, F_VERDICT, FEAT_SLOTS };
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t tg_features[FEAT_SLOTS * 64];
static int scratch_fd = -1, feat_cpu;
static long off_found = -1, off_port = -1, off_name = -1;
static size_t scratch_size, scratch_stride;
static uint8_t *scratch_buf, *scratch_zero;
static bool verbose;

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN && getenv("TG_TEST_VERBOSE"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

static void skip(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_stream_bpf: SKIP ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_SKIP);
}

static void feature(unsigned slot, uint32_t v)
{
	tg_features[slot * 64 + (v > 63 ? 63 : v)] = 1;
}

static long member_off(const struct btf *btf, int id, const char *name)
{
	const struct btf_type *t = btf__type_by_id(btf, (__u32)id);

	if (!t || !btf_is_struct(t))
		return -1;
	for (unsigned i = 0; i < btf_vlen(t); i++) {
		const char *n = btf__name_by_offset(btf, btf_members(t)[i].name_off);

		if (n && strcmp(n, name) == 0)
			return (long)(btf_member_bit_offset(t, i) / 8);
	}
	return -1;
}

static void features_setup(void)
{
	const struct btf *btf = bpf_object__btf(skel->obj);
	int ncpu = libbpf_num_possible_cpus(), id;
	cpu_set_t set;

	id = btf ? btf__find_by_name_kind(btf, "tg_stream_scratch", BTF_KIND_STRUCT) : -1;
	if (id < 0 || ncpu <= 0)
		return;
	off_found = member_off(btf, id, "found");
	off_port = member_off(btf, id, "port");
	off_name = member_off(btf, id, "name");
	scratch_size = bpf_map__value_size(skel->maps.tg_stream_scratch);
	scratch_stride = (scratch_size + 7) & ~(size_t)7;
	scratch_buf = calloc((size_t)ncpu, scratch_stride);
	scratch_zero = calloc((size_t)ncpu, scratch_stride);
	feat_cpu = sched_getcpu();
	CPU_ZERO(&set);
	CPU_SET(feat_cpu, &set);
	if (!scratch_buf || !scratch_zero || feat_cpu < 0 || feat_cpu >= ncpu ||
	    sched_setaffinity(0, sizeof(set), &set) < 0) {
		fprintf(stderr, "fuzz_stream_bpf: no parser feedback (cannot stay on one CPU); fuzzing blind\n");
		return;
	}
	scratch_fd = bpf_map__fd(skel->maps.tg_stream_scratch);
}

static void features_read(void)
{
	const uint8_t *s;
	__u32 zero = 0, v;

	if (scratch_fd < 0 || bpf_map_lookup_elem(scratch_fd, &zero, scratch_buf) < 0)
		return;
	s = scratch_buf + (size_t)feat_cpu * scratch_stride;
	if (off_found >= 0 && (size_t)off_found + 4 <= scratch_size) {
		memcpy(&v, s + off_found, 4);
		feature(F_FOUND, v);
	}
	if (off_port >= 0 && (size_t)off_port + 4 <= scratch_size) {
		memcpy(&v, s + off_port, 4);
		feature(F_PORT, v % 64);
	}
	if (off_name >= 0 && (size_t)off_name + TG_ABI_HOST_MAX <= scratch_size)
		feature(F_NAMELEN, (uint32_t)strnlen((const char *)s + off_name, TG_ABI_HOST_MAX) / 2);
	bpf_map_update_elem(scratch_fd, &zero, scratch_zero, BPF_ANY);
}

static int add_host(int fdh, const char *name, bool wildcard, unsigned tool, unsigned matcher)
{
	struct tg_abi_host_key k = {.gen = 0, .wildcard = wildcard ? 1 : 0};
	struct tg_abi_net_refs v = {.n = 1};

	strncpy(k.name, name, sizeof(k.name) - 1);
	v.ref[0].tool = (__u16)tool;
	v.ref[0].matcher = (__u16)matcher;
	return bpf_map_update_elem(fdh, &k, &v, BPF_ANY);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct tg_abi_control ctl = {.active_gen = 0, .abi_version = TG_ABI_VERSION};
	struct tg_abi_gen g = {.mode = TG_ABI_MODE_ENFORCE, .flags = TG_ABI_GEN_HOSTS, .policy_serial = 1, .n_tools = 2};
	struct tg_abi_tool tool = {.end_ns = ~0ULL, .action = TG_ABI_ACTION_BLOCK, .flags = TG_ABI_TOOL_PRESENT};
	socklen_t alen = sizeof(listen_addr);
	__u32 zero = 0, t1 = 1, t2 = 2;
	int r, fdh, fdt;

	(void)argc;
	(void)argv;
	if (geteuid() != 0)
		skip("not root: loading a BPF program needs root (CAP_BPF + CAP_NET_ADMIN)");
	libbpf_set_print(libbpf_quiet);
	verbose = getenv("TG_TEST_VERBOSE") != NULL;
	skel = stream_guard__open();
	if (!skel)
		skip("cannot open the stream_guard BPF object: %s", strerror(errno));
	r = stream_guard__load(skel);
	if (r < 0)
		skip("cannot load stream_guard: %s (no BPF here? TG_TEST_VERBOSE=1 shows the verifier log)",
		     strerror(-r));
	streams_fd = bpf_map__fd(skel->maps.tg_streams);
	fdh = bpf_map__fd(skel->maps.tg_hosts);
	fdt = bpf_map__fd(skel->maps.tg_tools);
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.tg_control), &zero, &ctl, BPF_ANY) < 0 ||
	    bpf_map_update_elem(bpf_map__fd(skel->maps.tg_gens), &zero, &g, BPF_ANY) < 0 ||
	    bpf_map_update_elem(fdt, &t1, &tool, BPF_ANY) < 0 || bpf_map_update_elem(fdt, &t2, &tool, BPF_ANY) < 0 ||
	    add_host(fdh, "claude.ai", false, 1, TG_ABI_MATCHER(TG_ABI_MK_HOST, 0)) < 0 ||
	    add_host(fdh, "api.anthropic.com", false, 1, TG_ABI_MATCHER(TG_ABI_MK_HOST, 1)) < 0 ||
	    add_host(fdh, "anthropic.com", true, 2, TG_ABI_MATCHER(TG_ABI_MK_HOST, 2)) < 0) {
		fprintf(stderr, "fuzz_stream_bpf: cannot fill the test maps: %s\n", strerror(errno));
		exit(1);
	}
	/* the sk_msg program on our private sockhash only: it sees the sockets we put there */
	if (bpf_prog_attach(bpf_program__fd(skel->progs.tg_stream_msg), streams_fd, BPF_SK_MSG_VERDICT, 0) < 0)
		skip("cannot attach sk_msg to the private sockhash: %s", strerror(errno));
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	listen_addr.sin_family = AF_INET;
	listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&listen_addr, sizeof(listen_addr)) < 0 ||
	    listen(listen_fd, 64) < 0 || getsockname(listen_fd, (struct sockaddr *)&listen_addr, &alen) < 0) {
		fprintf(stderr, "fuzz_stream_bpf: cannot listen on loopback: %s\n", strerror(errno));
		exit(1);
	}
	features_setup();
	return 0;
}

/* libFuzzer's timers interrupt syscalls: an interrupted connect goes on, wait for it. */
static int connect_loopback(int c)
{
	struct pollfd p = {.fd = c, .events = POLLOUT};
	socklen_t elen = sizeof(int);
	int e = 0;

	if (connect(c, (struct sockaddr *)&listen_addr, sizeof(listen_addr)) == 0)
		return 0;
	if (errno != EINTR && errno != EINPROGRESS)
		return -1;
	while (poll(&p, 1, 5000) < 0)
		if (errno != EINTR)
			return -1;
	if (getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &elen) < 0 || e) {
		errno = e ? e : errno;
		return -1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close with RST: no TIME_WAIT pile-up */
	struct {
		__u32 family, local_port, remote_port, local_ip[4], remote_ip[4];
	} key = {.family = AF_INET};
	int c, a = -1;
	__u64 fd; /* the map's value is 8 bytes: the kernel reads a u64 fd */
	ssize_t n;

	if (size == 0 || size > MSG_MAX)
		return 0;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0 ||
	    connect_loopback(c) < 0) {
		fprintf(stderr, "fuzz_stream_bpf: loopback connection failed: %s\n", strerror(errno));
		abort();
	}
	do
		a = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	while (a < 0 && errno == EINTR);
	if (a < 0) {
		fprintf(stderr, "fuzz_stream_bpf: accept failed: %s\n", strerror(errno));
		abort();
	}
	/* any unique key: the program does not look sockets up, it runs for those in the map */
	key.local_port = ++conn_seq;
	fd = (__u64)c;
	if (bpf_map_update_elem(streams_fd, &key, &fd, BPF_ANY) < 0) {
		if (errno == EBUSY) {
			/* a running toolguardd's sockops took this socket first: not ours to test */
			close(c);
			close(a);
			return 0;
		}
		fprintf(stderr, "fuzz_stream_bpf: cannot add the socket to tg_streams: %s\n", strerror(errno));
		abort();
	}
	do
		n = send(c, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EACCES) {
		fprintf(stderr, "fuzz_stream_bpf: sendmsg of %zu bytes failed: %s (expected success or EACCES)\n",
			size, strerror(errno));
		abort();
	}
	feature(F_VERDICT, n < 0 ? 0 : n == (ssize_t)size ? 1 : 2);
	if (verbose)
		fprintf(stderr, "fuzz_stream_bpf: sendmsg -> %zd%s\n", n, n < 0 ? " (EACCES: banned)" : "");
	features_read();
	close(c);
	close(a);
	return 0;
}
