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
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "toolguard_abi.h"
#include "stream_guard.skel.h"
#include "bpf_harness.h"

#define MSG_MAX	  8192

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct stream_guard *skel;
static int streams_fd, listen_fd = -1;
static struct sockaddr_in listen_addr;
static uint32_t conn_seq;

enum { F_FOUND, F_PORT, F_NAMELEN, F_VERDICT, FEAT_SLOTS };
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t tg_features[FEAT_SLOTS * 64];
static struct tg_fuzz_scratch scratch;
static long off_found = -1, off_port = -1, off_name = -1;
static bool verbose;

static void feature(unsigned slot, uint32_t v)
{
	tg_fuzz_feature(tg_features, slot, v);
}

static void features_setup(void)
{
	const struct btf *btf = bpf_object__btf(skel->obj);
	int id =
	    tg_fuzz_scratch_setup(&scratch, skel->obj, skel->maps.tg_stream_scratch, "tg_stream_scratch");

	if (id < 0)
		return;
	off_found = tg_fuzz_member_off(btf, (__u32)id, "found");
	off_port = tg_fuzz_member_off(btf, (__u32)id, "port");
	off_name = tg_fuzz_member_off(btf, (__u32)id, "name");
}

static void features_read(void)
{
	const uint8_t *s = tg_fuzz_scratch_read(&scratch);
	__u32 v;

	if (!s)
		return;
	if (off_found >= 0 && (size_t)off_found + 4 <= scratch.size) {
		memcpy(&v, s + off_found, 4);
		feature(F_FOUND, v);
	}
	if (off_port >= 0 && (size_t)off_port + 4 <= scratch.size) {
		memcpy(&v, s + off_port, 4);
		feature(F_PORT, v % 64);
	}
	if (off_name >= 0 && (size_t)off_name + TG_ABI_HOST_MAX <= scratch.size)
		feature(F_NAMELEN, (uint32_t)strnlen((const char *)s + off_name, TG_ABI_HOST_MAX) / 2);
	tg_fuzz_scratch_reset(&scratch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct tg_abi_control ctl = {.active_gen = 0, .abi_version = TG_ABI_VERSION};
	struct tg_abi_gen g = {.mode = TG_ABI_MODE_ENFORCE, .flags = TG_ABI_GEN_HOSTS, .policy_serial = 1, .n_tools = 2};
	struct tg_abi_tool tool = {.end_ns = ~0ULL, .action = TG_ABI_ACTION_BLOCK, .flags = TG_ABI_TOOL_PRESENT};
	socklen_t alen = sizeof(listen_addr);
	__u32 zero = 0, t1 = 1, t2 = 2;
	int fdh, fdt;

	(void)argc;
	(void)argv;
	verbose = tg_fuzz_bpf_init("fuzz_stream_bpf");
	TG_FUZZ_LOAD_SKEL(stream_guard, skel);
	streams_fd = bpf_map__fd(skel->maps.tg_streams);
	fdh = bpf_map__fd(skel->maps.tg_hosts);
	fdt = bpf_map__fd(skel->maps.tg_tools);
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.tg_control), &zero, &ctl, BPF_ANY) < 0 ||
	    bpf_map_update_elem(bpf_map__fd(skel->maps.tg_gens), &zero, &g, BPF_ANY) < 0 ||
	    bpf_map_update_elem(fdt, &t1, &tool, BPF_ANY) < 0 || bpf_map_update_elem(fdt, &t2, &tool, BPF_ANY) < 0 ||
	    tg_fuzz_add_host(fdh, "claude.ai", false, 1, TG_ABI_MATCHER(TG_ABI_MK_HOST, 0)) < 0 ||
	    tg_fuzz_add_host(fdh, "api.anthropic.com", false, 1, TG_ABI_MATCHER(TG_ABI_MK_HOST, 1)) < 0 ||
	    tg_fuzz_add_host(fdh, "anthropic.com", true, 2, TG_ABI_MATCHER(TG_ABI_MK_HOST, 2)) < 0) {
		fprintf(stderr, "fuzz_stream_bpf: cannot fill the test maps: %s\n", strerror(errno));
		exit(1);
	}
	/* the sk_msg program on our private sockhash only: it sees the sockets we put there */
	if (bpf_prog_attach(bpf_program__fd(skel->progs.tg_stream_msg), streams_fd, BPF_SK_MSG_VERDICT, 0) < 0)
		tg_fuzz_skip("cannot attach sk_msg to the private sockhash: %s", strerror(errno));
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
