// SPDX-License-Identifier: GPL-2.0-or-later
/* Shared part of the kernel-parser fuzz targets (see bpf_harness.h). */
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "toolguard_abi.h"
#include "bpf_harness.h"

static const char *tg_fuzz_name = "fuzz";

void tg_fuzz_skip(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: SKIP ", tg_fuzz_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(TG_FUZZ_EXIT_SKIP);
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN && getenv("TG_TEST_VERBOSE"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

bool tg_fuzz_bpf_init(const char *name)
{
	tg_fuzz_name = name;
	if (geteuid() != 0)
		tg_fuzz_skip("not root: loading a BPF program needs root (CAP_BPF + CAP_NET_ADMIN)");
	libbpf_set_print(libbpf_quiet);
	return getenv("TG_TEST_VERBOSE") != NULL;
}

int tg_fuzz_add_host(int fdh, const char *name, bool wildcard, unsigned tool, unsigned matcher)
{
	struct tg_abi_host_key k = {.gen = 0, .wildcard = wildcard ? 1 : 0};
	struct tg_abi_net_refs v = {.n = 1};

	strncpy(k.name, name, sizeof(k.name) - 1);
	v.ref[0].tool = (__u16)tool;
	v.ref[0].matcher = (__u16)matcher;
	return bpf_map_update_elem(fdh, &k, &v, BPF_ANY);
}

long tg_fuzz_member_off(const struct btf *btf, __u32 id, const char *path)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	const char *dot = strchr(path, '.');
	size_t len = dot ? (size_t)(dot - path) : strlen(path);

	if (!t || !btf_is_struct(t))
		return -1;
	for (unsigned i = 0; i < btf_vlen(t); i++) {
		const struct btf_member *m = btf_members(t) + i;
		const char *n = btf__name_by_offset(btf, m->name_off);
		long sub;

		if (!n || strlen(n) != len || strncmp(n, path, len) != 0)
			continue;
		if (!dot)
			return (long)(btf_member_bit_offset(t, i) / 8);
		sub = tg_fuzz_member_off(btf, btf__resolve_type(btf, m->type), dot + 1);
		return sub < 0 ? -1 : (long)(btf_member_bit_offset(t, i) / 8) + sub;
	}
	return -1;
}

int tg_fuzz_scratch_setup(struct tg_fuzz_scratch *s, struct bpf_object *obj, const struct bpf_map *map,
			  const char *type)
{
	const struct btf *btf = bpf_object__btf(obj);
	int ncpu = libbpf_num_possible_cpus(), id;
	cpu_set_t set;

	*s = (struct tg_fuzz_scratch){.fd = -1};
	id = btf ? btf__find_by_name_kind(btf, type, BTF_KIND_STRUCT) : -1;
	if (id < 0 || ncpu <= 0)
		return -1;
	s->size = bpf_map__value_size(map);
	s->stride = (s->size + 7) & ~(size_t)7;
	s->buf = calloc((size_t)ncpu, s->stride);
	s->zero = calloc((size_t)ncpu, s->stride);
	/* the program runs on the caller's CPU: stay on one to know whose scratch to read */
	s->cpu = sched_getcpu();
	CPU_ZERO(&set);
	CPU_SET(s->cpu, &set);
	if (!s->buf || !s->zero || s->cpu < 0 || s->cpu >= ncpu ||
	    sched_setaffinity(0, sizeof(set), &set) < 0) {
		fprintf(stderr, "%s: no parser feedback (cannot stay on one CPU); fuzzing blind\n",
			tg_fuzz_name);
		return id;
	}
	s->fd = bpf_map__fd(map);
	return id;
}

const uint8_t *tg_fuzz_scratch_read(struct tg_fuzz_scratch *s)
{
	__u32 zero = 0;

	if (s->fd < 0 || bpf_map_lookup_elem(s->fd, &zero, s->buf) < 0)
		return NULL;
	return s->buf + (size_t)s->cpu * s->stride;
}

void tg_fuzz_scratch_reset(struct tg_fuzz_scratch *s)
{
	__u32 zero = 0;

	if (s->fd >= 0)
		bpf_map_update_elem(s->fd, &zero, s->zero, BPF_ANY);
}
