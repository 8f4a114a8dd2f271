/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the kernel-parser fuzz targets (fuzz_dns_bpf.c, fuzz_stream_bpf.c)
 * share: skipping (exit 77) without root or BPF, loading a skeleton with
 * private maps, the policy's host entries, and libFuzzer feedback from the
 * program's per-CPU scratch map read by BTF member name.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#define TG_FUZZ_EXIT_SKIP 77

/* Prints "NAME: SKIP why" and exits 77 (the harness reports a skip). */
__attribute__((noreturn, format(printf, 1, 2))) void tg_fuzz_skip(const char *fmt, ...);

/* Skips unless root; libbpf quiet unless TG_TEST_VERBOSE. Returns whether
 * TG_TEST_VERBOSE is set. name prefixes every message. */
bool tg_fuzz_bpf_init(const char *name);

/* Open and load skeleton NAME (dns_guard, stream_guard) into skel, or skip. */
#define TG_FUZZ_LOAD_SKEL(NAME, skel)                                                                        \
	do {                                                                                                 \
		int r_;                                                                                      \
		(skel) = NAME##__open();                                                                     \
		if (!(skel))                                                                                 \
			tg_fuzz_skip("cannot open the " #NAME " BPF object: %s", strerror(errno));           \
		r_ = NAME##__load(skel);                                                                     \
		if (r_ < 0)                                                                                  \
			tg_fuzz_skip("cannot load " #NAME                                                    \
				     ": %s (no BPF here? TG_TEST_VERBOSE=1 shows the verifier log)",         \
				     strerror(-r_));                                                         \
	} while (0)

/* One tg_hosts entry of generation 0 with a single ref. */
int tg_fuzz_add_host(int fdh, const char *name, bool wildcard, unsigned tool, unsigned matcher);

/* Byte offset of member path "a" or "a.b" in struct type id, -1 if absent. */
long tg_fuzz_member_off(const struct btf *btf, __u32 id, const char *path);

/* The program's per-CPU scratch, read back after each run (fd < 0: none). */
struct tg_fuzz_scratch {
	int fd, cpu;
	size_t size, stride;
	uint8_t *buf, *zero;
};

/* Finds struct `type` in obj's BTF (returned, -1 when absent: fuzzing is then
 * blind but runs) and pins this process to one CPU so that its scratch slot
 * is the program's. Fill the member offsets with the id, then read/reset. */
int tg_fuzz_scratch_setup(struct tg_fuzz_scratch *s, struct bpf_object *obj, const struct bpf_map *map,
			  const char *type);
/* This CPU's scratch value after a run, NULL without feedback. */
const uint8_t *tg_fuzz_scratch_read(struct tg_fuzz_scratch *s);
void tg_fuzz_scratch_reset(struct tg_fuzz_scratch *s);

/* Marks value v (63 and above in one) of feature slot in libFuzzer's extra counters. */
static inline void tg_fuzz_feature(uint8_t *counters, unsigned slot, uint32_t v)
{
	counters[slot * 64 + (v > 63 ? 63 : v)] = 1;
}
