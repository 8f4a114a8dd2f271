/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The DNS program alone, for bench/run-dns-bench.sh:
 *   dns_attach [--hold] CGROUP2_DIR NAME...  (a leading "*." makes a wildcard)
 * loads dns_guard.bpf.c with private maps (nothing pinned, no connect
 * hooks), fills tg_hosts with NAMEs as an enforcing policy would, attaches
 * the program to the cgroup, prints "attached prog_id=N" and stays until it
 * is killed: the link is not pinned, so the kernel detaches the program
 * when the process ends, however it ends. With --hold it attaches nothing
 * and prints "loaded prog_id=N": bench/hook_toggle switches it on and off
 * (the program lives as long as either process holds it). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "toolguard_abi.h"
#include "dns_guard.skel.h"

int main(int argc, char **argv)
{
	struct tg_abi_control ctl = {.active_gen = 0, .abi_version = TG_ABI_VERSION};
	/* with the name lengths, as the daemon writes them (kernel.c host_lens) */
	struct tg_abi_gen g = {.mode = TG_ABI_MODE_ENFORCE,
			       .flags = TG_ABI_GEN_HOSTS | TG_ABI_GEN_HOST_LENS,
			       .policy_serial = 1};
	struct dns_guard *skel;
	struct bpf_link *link;
	__u32 zero = 0;
	struct bpf_prog_info info = {0};
	__u32 info_len = sizeof(info);
	bool hold = argc > 1 && !strcmp(argv[1], "--hold");
	int cg, r;

	if (hold) {
		argv++;
		argc--;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: dns_attach [--hold] CGROUP2_DIR NAME...\n");
		return 2;
	}
	skel = dns_guard__open_and_load();
	if (!skel) {
		fprintf(stderr, "dns_attach: cannot load dns_guard: %s\n", strerror(errno));
		return 1;
	}
	r = bpf_map_update_elem(bpf_map__fd(skel->maps.tg_control), &zero, &ctl, BPF_ANY);
	for (int i = 2; !r && i < argc; i++) {
		struct tg_abi_host_key k = {.gen = 0};
		struct tg_abi_net_refs v = {.n = 1};
		const char *name = argv[i];

		if (!strncmp(name, "*.", 2)) {
			k.wildcard = 1;
			name += 2;
		}
		if (strlen(name) >= sizeof(k.name)) {
			fprintf(stderr, "dns_attach: name too long: %s\n", name);
			return 2;
		}
		memcpy(k.name, name, strlen(name));
		(k.wildcard ? g.wild_lens : g.host_lens)[strlen(name) / 64] |= 1ULL << (strlen(name) % 64);
		v.ref[0].tool = 0;
		v.ref[0].matcher = TG_ABI_MATCHER(TG_ABI_MK_HOST, (unsigned)(i - 2) & TG_ABI_MATCHER_INDEX_MAX);
		r = bpf_map_update_elem(bpf_map__fd(skel->maps.tg_hosts), &k, &v, BPF_ANY);
	}
	if (!r)
		r = bpf_map_update_elem(bpf_map__fd(skel->maps.tg_gens), &zero, &g, BPF_ANY);
	if (r) {
		fprintf(stderr, "dns_attach: cannot fill the maps: %s\n", strerror(errno));
		return 1;
	}
	if (bpf_obj_get_info_by_fd(bpf_program__fd(skel->progs.tg_dns_ingress), &info, &info_len) < 0)
		info.id = 0;
	if (hold) {
		printf("loaded prog_id=%u\n", info.id);
		fflush(stdout);
		for (;;)
			pause();
	}
	cg = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		fprintf(stderr, "dns_attach: cannot open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	link = bpf_program__attach_cgroup(skel->progs.tg_dns_ingress, cg);
	if (!link) {
		fprintf(stderr, "dns_attach: cannot attach to %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	printf("attached prog_id=%u\n", info.id);
	fflush(stdout);
	for (;;)
		pause();
}
