// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Exec decisions. Three entry points share tg_exec_decide():
 *  - lsm/bprm_check_security: refuses with -EPERM before the new image exists
 *    (autoload off unless the daemon picked the LSM backend);
 *  - tp_btf/sched_process_exec, else raw_tp/sched_process_exec: the new image
 *    is in place but has not run an instruction; a BLOCK sends SIGKILL.
 * With the LSM backend the tracepoint still runs, only for interpreter
 * script arguments (argv is not readable from bprm_check_security).
 *
 * Limits (documented in toolguard-policy(5) by the daemon side):
 *  - resolved paths: at most TG_ABI_PATH_DEPTH components and 255 bytes,
 *    relative to the root of the process's mount namespace (flag
 *    PATH_TRUNCATED otherwise; prefix rules still see the first 254 bytes);
 *  - the script argument is the first argv entry after argv[0] that does not
 *    start with '-' ("--" ends options; for ld.so, --library-path, --preload,
 *    --audit and --argv0 take a value); only the first TG_ABI_ARGS_SCAN entries
 *    are examined and an entry of 512 bytes or more ends the scan; a relative
 *    script is made absolute with the cwd ("./" stripped, ".." kept as is);
 *  - symlinks in a script argument or an invoked path are not resolved (the
 *    kernel has not opened the script yet): rules see it as written; with
 *    scripts[].sha256 rules a script request lets the daemon judge the
 *    resolved file after the fact (toolguard_abi.h "Script requests");
 *  - LSM backend: the new image's argv is not mapped yet; events copy the
 *    arguments of the execve/execveat call instead (native x86-64 and arm64
 *    calls only; empty for 32-bit callers and execs started by the kernel).
 */
#include "tg_common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define PBUF  512u /* work buffers: any offset < 256 plus a 256-byte read fits */
#define PMASK 255u

/* An AND the compiler cannot drop: the verifier needs it to bound offsets. */
static __always_inline __u32 tg_m(__u32 v)
{
	asm volatile("%0 &= 255" : "+r"(v));
	return v;
}

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TG_ABI_STR_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_abi_str_key);
	__type(value, struct tg_abi_refs);
} tg_strs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TG_ABI_STR_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_abi_str_key);
	__type(value, struct tg_abi_refs);
} tg_rstrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TG_ABI_INODE_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_abi_inode_key);
	__type(value, struct tg_abi_refs);
} tg_inodes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TG_ABI_AFFIX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tg_abi_affix_key);
	__type(value, struct tg_abi_affix_val);
} tg_affix SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TG_ABI_SEEN_ENTRIES);
	__type(key, struct tg_abi_seen_key);
	__type(value, struct tg_abi_seen_val);
} tg_seen SEC(".maps");

/* Work buffers of struct tg_exec_scratch (bufs[]). */
#define B_PATH	0u /* resolved path of the executed file */
#define B_INV	1u /* invoked path made absolute */
#define B_CWD	2u
#define B_ARG	3u /* argv entry being examined */
#define B_SPATH 4u /* script argument made absolute */
#define B_NAME	5u /* basename of the executed file */
#define B_FILE	6u /* bprm->filename as invoked */
#define B_COUNT 8u

struct tg_exec_scratch {
	char bufs[B_COUNT][PBUF]; /* first: offsets up to 7*512+511+256 stay inside */
	struct tg_abi_exec_event ev;
	struct tg_abi_hash_request hr;
	struct tg_abi_script_request sr; /* hdr.type set: script requests wanted (scripts[].sha256) */
	struct tg_abi_str_key key;
	struct tg_who who;
	struct tg_best best;
	__u64 comps[TG_ABI_PATH_DEPTH];
	__u64 now;
	__u32 gen;
	__u32 have_cwd;
	__u32 slot;
	__u32 npart;			 /* prefix halves of "P/ ** /S" refs seen */
	__u32 part[TG_ABI_MAX_REFS + 1]; /* tool << 16 | matcher, from the last prefix lookup */
};

/*
 * Scratch slots per CPU. Tracepoint programs run with preemption off, but an
 * LSM program can be preempted on a preemptible kernel and another exec on
 * the same CPU can enter it meanwhile: each run claims a free slot (bit in
 * tg_slots) instead of sharing one.
 */
#define TG_SLOTS 4u

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TG_SLOTS);
	__type(key, __u32);
	__type(value, struct tg_exec_scratch);
} tg_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} tg_slots SEC(".maps");

static __always_inline struct tg_exec_scratch *tg_scratch_get(__u32 slot)
{
	slot &= TG_SLOTS - 1;
	return bpf_map_lookup_elem(&tg_scratch, &slot);
}

/* Returns a slot number, or TG_SLOTS when all are busy. */
static __always_inline __u32 tg_slot_claim(void)
{
	__u32 zero = 0, i;
	__u64 *mask = bpf_map_lookup_elem(&tg_slots, &zero);

	if (!mask)
		return TG_SLOTS;
	for (i = 0; i < TG_SLOTS; i++) {
		__u64 old = *(volatile __u64 *)mask;

		if (old & (1ull << i))
			continue;
		if (__sync_val_compare_and_swap(mask, old, old | (1ull << i)) == old)
			return i;
	}
	return TG_SLOTS;
}

static __always_inline void tg_slot_release(__u32 slot)
{
	__u32 zero = 0;
	__u64 *mask = bpf_map_lookup_elem(&tg_slots, &zero);

	if (mask)
		__sync_fetch_and_and(mask, ~(1ull << (slot & (TG_SLOTS - 1))));
}

/*
 * The helpers below are global functions: the verifier checks each once,
 * not once per call site (static ones made the program too complex).
 * They look the scratch map up themselves: a pointer argument would be plain
 * memory to them, which 6.1's map helpers refuse as a key. Hence buffer
 * numbers instead of pointers, and kernel pointers as u64.
 */

struct tg_walk_ctx {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	__u32 n;
	__u32 trunc;
	__u32 slot;
};

/* One step up the dentry tree (bpf_loop callback: verified once, unlike an
 * unrolled loop whose branches multiplied the verifier's states). */
static long tg_walk_step(__u32 idx, struct tg_walk_ctx *c)
{
	struct dentry *dentry = c->dentry;
	struct vfsmount *vfsmnt = c->vfsmnt;
	struct mount *mnt = c->mnt;
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct tg_exec_scratch *s;

	if (dentry == mnt_root || dentry == parent) {
		struct mount *mparent = BPF_CORE_READ(mnt, mnt_parent);

		if (dentry != mnt_root || mparent == mnt || !mparent)
			return 1;
		c->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		c->mnt = mparent;
		c->vfsmnt = (void *)((char *)mparent + bpf_core_field_offset(struct mount, mnt));
		return 0;
	}
	if (c->n >= TG_ABI_PATH_DEPTH) {
		c->trunc = 1;
		return 1;
	}
	s = tg_scratch_get(c->slot);
	if (!s)
		return 1;
	s->comps[c->n & (TG_ABI_PATH_DEPTH - 1)] = (__u64)dentry;
	c->n++;
	c->dentry = parent;
	return 0;
}

/* Absolute path of (dentry, vfsmnt) into bufs[which]; returns its length,
 * bit 31 set when truncated. */
__noinline __u32 tg_build_path(__u32 slot, __u64 dentry_p, __u64 vfsmnt_p, __u32 which)
{
	struct tg_walk_ctx c = {
	    .dentry = (void *)dentry_p,
	    .vfsmnt = (void *)vfsmnt_p,
	    .mnt = (void *)((char *)vfsmnt_p - bpf_core_field_offset(struct mount, mnt)),
	    .slot = slot,
	};
	__u32 n, i, pos = 0, trunc;
	char *buf;
	long r;

	struct tg_exec_scratch *s = tg_scratch_get(slot);
	if (!s)
		return 0;
	buf = s->bufs[which & (B_COUNT - 1)];
	r = bpf_loop(TG_ABI_PATH_DEPTH + 8, tg_walk_step, &c, 0);
	n = c.n;
	trunc = c.trunc;
	if (r >= TG_ABI_PATH_DEPTH + 8)
		trunc = 1;

	for (i = 0; i < TG_ABI_PATH_DEPTH; i++) {
		struct dentry *d;
		const unsigned char *name;

		if (i >= n)
			break;
		if (pos >= TG_ABI_PATH_MAX - 1) {
			trunc = 1;
			break;
		}
		d = (void *)s->comps[(n - 1 - i) & (TG_ABI_PATH_DEPTH - 1)];
		name = BPF_CORE_READ(d, d_name.name);
		buf[tg_m(pos)] = '/';
		pos++;
		r = bpf_probe_read_kernel_str(&buf[tg_m(pos)], TG_ABI_PATH_MAX, name);
		if (r <= 0)
			break;
		pos += r - 1;
	}
	if (pos == 0)
		buf[tg_m(pos++)] = '/';
	if (pos >= TG_ABI_PATH_MAX - 1) {
		if (pos > TG_ABI_PATH_MAX - 1)
			trunc = 1;
		pos = TG_ABI_PATH_MAX - 1;
	}
	buf[tg_m(pos)] = 0;
	return pos | (trunc << 31);
}

static __always_inline void tg_need_cwd(struct tg_exec_scratch *s, struct task_struct *task)
{
	if (s->have_cwd)
		return;
	tg_build_path(s->slot, (__u64)BPF_CORE_READ(task, fs, pwd.dentry),
		      (__u64)BPF_CORE_READ(task, fs, pwd.mnt), B_CWD);
	s->have_cwd = 1;
}

/* bufs[dst] = bufs[src] made absolute against bufs[B_CWD]; returns the length. */
__noinline __u32 tg_absolutize(__u32 slot, __u32 src, __u32 dst)
{
	__u32 pos = 0, off = 0;
	char *rel, *out;
	long r;

	struct tg_exec_scratch *s = tg_scratch_get(slot);
	if (!s)
		return 0;
	rel = s->bufs[src & (B_COUNT - 1)];
	out = s->bufs[dst & (B_COUNT - 1)];
	if (rel[0] == '/') {
		r = bpf_probe_read_kernel_str(out, TG_ABI_PATH_MAX, rel);
		return r > 0 ? (__u32)r - 1 : 0;
	}
	r = bpf_probe_read_kernel_str(out, TG_ABI_PATH_MAX, s->bufs[B_CWD]);
	if (r > 0)
		pos = (__u32)r - 1;
	if (pos > 1 || (pos == 1 && out[0] != '/'))
		out[tg_m(pos++)] = '/';
	if (rel[0] == '.' && rel[1] == '/')
		off = 2;
	if (pos >= TG_ABI_PATH_MAX - 1) {
		out[TG_ABI_PATH_MAX - 1] = 0;
		return TG_ABI_PATH_MAX - 1;
	}
	r = bpf_probe_read_kernel_str(&out[tg_m(pos)], TG_ABI_PATH_MAX, rel + off);
	if (r > 0)
		pos += r - 1;
	if (pos > TG_ABI_PATH_MAX - 1)
		pos = TG_ABI_PATH_MAX - 1;
	out[tg_m(pos)] = 0;
	return pos;
}

/* pass: TG_PASS_PLAIN (PART refs ignored), TG_PASS_PREFIX (PART refs
 * remembered), TG_PASS_SUFFIX (PART refs count when remembered and the
 * subject, len bytes, is long enough). */
#define TG_PASS_PLAIN  0u
#define TG_PASS_PREFIX 1u
#define TG_PASS_SUFFIX 2u

static __always_inline bool tg_part_ok(struct tg_exec_scratch *s, __u16 tool, __u16 matcher, __u32 len)
{
	__u32 want = ((__u32)tool << 16) | matcher, j;
	struct tg_abi_affix_key ak = {
	    .tool = tool, .matcher = matcher & ~TG_ABI_MATCHER_PART, .gen = (__u8)s->gen};
	struct tg_abi_affix_val *av;

	for (j = 0; j < TG_ABI_MAX_REFS; j++) {
		if (j >= s->npart)
			return false;
		if (s->part[j] == want)
			break;
	}
	if (j >= TG_ABI_MAX_REFS)
		return false;
	av = bpf_map_lookup_elem(&tg_affix, &ak);
	return av && len >= av->minlen;
}

static __always_inline void tg_consider_refs(struct tg_exec_scratch *s, const struct tg_abi_refs *refs,
					     __u32 by, __u32 pass, __u32 len)
{
	__u32 i;

	for (i = 0; i < TG_ABI_MAX_REFS; i++) {
		__u16 tool, matcher;

		if (i >= refs->n)
			break;
		tool = refs->ref[i].tool;
		matcher = refs->ref[i].matcher;
		if (matcher & TG_ABI_MATCHER_PART) {
			if (pass == TG_PASS_PREFIX) {
				if (s->npart < TG_ABI_MAX_REFS)
					s->part[s->npart++ & TG_ABI_MAX_REFS] = ((__u32)tool << 16) | matcher;
				continue;
			}
			if (pass != TG_PASS_SUFFIX || !tg_part_ok(s, tool, matcher, len))
				continue;
		}
		tg_consider(&s->best, s->gen, tool, matcher & ~TG_ABI_MATCHER_PART, s->now, &s->who, by);
	}
}

/* Prefix/exact lookup of the string at bufs[which] + off; returns the
 * entry's flags + 1 when found, else 0. */
/* by_pass: TG_ABI_EV_BY_* | pass << 30 (BPF functions take at most 5 arguments) */
__noinline __u32 tg_lookup_str(__u32 slot, __u32 space, __u32 which, __u32 off, __u32 by_pass)
{
	struct tg_exec_scratch *s = tg_scratch_get(slot);
	__u32 pass = by_pass >> 30, by = by_pass & ~(3u << 30);
	struct tg_abi_refs *refs;

	if (!s)
		return 0;
	if (pass == TG_PASS_PREFIX)
		s->npart = 0;
	s->key.prefixlen = 16 + 8 * TG_ABI_STR_MAX;
	s->key.gen = (__u8)s->gen;
	s->key.space = (__u8)space;
	if (bpf_probe_read_kernel_str(s->key.str, TG_ABI_STR_MAX,
				      &s->bufs[which & (B_COUNT - 1)][tg_m(off)]) < 0)
		return 0;
	refs = bpf_map_lookup_elem(&tg_strs, &s->key);
	if (!refs)
		return 0;
	tg_consider_refs(s, refs, by, pass, 0);
	return (__u32)refs->flags + 1;
}

/* Suffix lookup: the last bytes of bufs[which] (length len) reversed. */
__noinline __u32 tg_lookup_rstr(__u32 slot, __u32 space, __u32 which, __u32 len, __u32 by)
{
	struct tg_abi_refs *refs;
	const char *subject;
	__u32 i, n;

	struct tg_exec_scratch *s = tg_scratch_get(slot);
	if (!s || len == 0 || len > TG_ABI_PATH_MAX - 1)
		return 0;
	subject = s->bufs[which & (B_COUNT - 1)];
	n = len < TG_ABI_STR_MAX ? len : TG_ABI_STR_MAX;
	s->key.prefixlen = 16 + 8 * TG_ABI_STR_MAX;
	s->key.gen = (__u8)s->gen;
	s->key.space = (__u8)space;
	for (i = 0; i < TG_ABI_STR_MAX; i++) {
		if (i >= n)
			break;
		s->key.str[i] = subject[tg_m(len - 1 - i)];
	}
	if (n < TG_ABI_STR_MAX)
		s->key.str[tg_m(n)] = 0; /* n < 254 here; the mask keeps the verifier sure */
	refs = bpf_map_lookup_elem(&tg_rstrs, &s->key);
	if (!refs)
		return 0;
	tg_consider_refs(s, refs, by, TG_PASS_SUFFIX, len);
	return 1;
}

static __always_inline void tg_lookup_path(struct tg_exec_scratch *s, __u32 space, __u32 which, __u32 len,
					   __u32 by)
{
	tg_lookup_str(s->slot, space, which, 0, by | TG_PASS_PREFIX << 30);
	tg_lookup_rstr(s->slot, space, which, len, by);
}

/* Offset of the basename in bufs[which]. */
__noinline __u32 tg_basename_off(__u32 slot, __u32 which)
{
	__u32 i, off = 0;
	const char *p;

	struct tg_exec_scratch *s = tg_scratch_get(slot);
	if (!s)
		return 0;
	p = s->bufs[which & (B_COUNT - 1)];
	for (i = 0; i < TG_ABI_PATH_MAX - 1; i++) {
		char c = p[i];

		if (!c)
			break;
		if (c == '/')
			off = i + 1;
	}
	return tg_m(off);
}

static __always_inline bool tg_ldso_opt_with_value(const char *a)
{
	/* --library-path, --preload, --audit, --argv0 */
	if (a[0] != '-' || a[1] != '-')
		return false;
	return (a[2] == 'l' && a[3] == 'i' && a[4] == 'b') || (a[2] == 'p' && a[3] == 'r' && a[4] == 'e') ||
	       (a[2] == 'a' && a[3] == 'u' && a[4] == 'd') || (a[2] == 'a' && a[3] == 'r' && a[4] == 'g');
}

/*
 * Walk argv of the new image: copy the first entries into the event and,
 * when want_script, find the script argument and look it up.
 */
__noinline __u32 tg_scan_argv(__u32 slot, __u64 task_p, __u32 want_script, __u32 ldso)
{
	struct task_struct *task = (void *)task_p;
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	unsigned long p, end;
	__u32 i, skip_next = 0, opts_done = 0;
	char *arg;
	long r;

	struct tg_exec_scratch *s = tg_scratch_get(slot);
	if (!s || !mm)
		return 0;
	arg = s->bufs[B_ARG];
	p = BPF_CORE_READ(mm, arg_start);
	end = BPF_CORE_READ(mm, arg_end);
	for (i = 0; i < TG_ABI_ARGS_SCAN; i++) {
		if (p >= end)
			break;
		if (i >= TG_ABI_ARGV_MAX && !want_script)
			break;
		r = bpf_probe_read_user_str(arg, PBUF, (const void *)p);
		if (r <= 0)
			break;
		if (i < TG_ABI_ARGV_MAX)
			bpf_probe_read_kernel_str(s->ev.argv[i & (TG_ABI_ARGV_MAX - 1)], TG_ABI_ARG_LEN, arg);
		if (r >= PBUF)
			break; /* longer than the buffer: its end is unknown */
		p += r;
		if (i == 0 || !want_script)
			continue;
		if (skip_next) {
			skip_next = 0;
			continue;
		}
		if (!opts_done && arg[0] == '-') {
			if (arg[1] == '-' && arg[2] == 0)
				opts_done = 1;
			else if (ldso && tg_ldso_opt_with_value(arg))
				skip_next = 1;
			continue;
		}
		/* the script argument */
		want_script = 0;
		if (s->sr.hdr.type)
			bpf_probe_read_kernel_str(s->sr.arg, TG_ABI_PATH_MAX, arg);
		if (arg[0] != '/') {
			tg_need_cwd(s, task);
			if (!s->bufs[B_CWD][0])
				s->ev.flags |= TG_ABI_EV_SCRIPT_RELATIVE;
		}
		{
			__u32 len = tg_absolutize(s->slot, B_ARG, B_SPATH);

			bpf_probe_read_kernel_str(s->ev.script, TG_ABI_PATH_MAX, s->bufs[B_SPATH]);
			tg_lookup_path(s, TG_ABI_SPACE_SCRIPT_PATH, B_SPATH, len, TG_ABI_EV_BY_SCRIPT);
			if (ldso) {
				/* "ld-linux.so FILE" runs FILE without exec'ing it: FILE is
				 * judged as the program, like lib/matcher.c does */
				tg_lookup_path(s, TG_ABI_SPACE_EXE_PATH, B_SPATH, len, TG_ABI_EV_BY_INVOKED_PATH);
				tg_lookup_str(s->slot, TG_ABI_SPACE_EXE_NAME, B_SPATH,
					      tg_basename_off(s->slot, B_SPATH), TG_ABI_EV_BY_INVOKED_NAME);
			}
			if (ldso == 2) /* the daemon's hint (it parses argv like ld.so) */
				bpf_probe_read_kernel_str(s->hr.path, TG_ABI_PATH_MAX, s->bufs[B_SPATH]);
		}
	}
	return 0;
}

/* The registers of a syscall as CO-RE sees them on either architecture (the
 * field that exists tells which one runs; BPF_ARCH is not relied upon). */
struct pt_regs___x86 {
	unsigned long dx, si, orig_ax;
} __attribute__((preserve_access_index));
struct pt_regs___arm64 {
	unsigned long regs[31];
	int syscallno;
} __attribute__((preserve_access_index));

/*
 * LSM: copy argv from the execve(at) call in progress (the caller's memory,
 * still mapped: the new image does not exist yet) into the event.
 */
__noinline __u32 tg_syscall_argv(__u32 slot)
{
	struct task_struct *task = bpf_get_current_task_btf();
	void *regs = (void *)bpf_task_pt_regs(task);
	struct pt_regs___x86 *rx = regs;
	struct pt_regs___arm64 *ra = regs;
	const char *const *argv = 0;
	const char *arg;
	long nr;
	__u32 i;

	struct tg_exec_scratch *s = tg_scratch_get(slot);
	if (!s || !regs)
		return 0;
	if (bpf_core_field_exists(rx->orig_ax)) {
		nr = (long)BPF_CORE_READ(rx, orig_ax);
		if (nr == 59) /* execve(filename, argv, envp) */
			argv = (const char *const *)BPF_CORE_READ(rx, si);
		else if (nr == 322) /* execveat(dirfd, filename, argv, envp, flags) */
			argv = (const char *const *)BPF_CORE_READ(rx, dx);
	} else if (bpf_core_field_exists(ra->syscallno)) {
		nr = BPF_CORE_READ(ra, syscallno);
		if (nr == 221)
			argv = (const char *const *)BPF_CORE_READ(ra, regs[1]);
		else if (nr == 281)
			argv = (const char *const *)BPF_CORE_READ(ra, regs[2]);
	}
	if (!argv)
		return 0;
	for (i = 0; i < TG_ABI_ARGV_MAX; i++) {
		arg = 0;
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) || !arg)
			break;
		if (bpf_probe_read_user_str(s->ev.argv[i & (TG_ABI_ARGV_MAX - 1)], TG_ABI_ARG_LEN, arg) <= 0)
			break;
	}
	return 0;
}

/*
 * scripts[].sha256: tell the daemon which script this interpreter (or "#!"
 * file, flags SHEBANG) is about to run; sr.arg, dev, ino and gen are set.
 * Without a script argument, only a regular file on fd 0 is worth a request.
 */
__noinline __u32 tg_script_request(__u32 slot, __u64 task_p, __u32 flags)
{
	struct task_struct *task = (void *)task_p;
	struct tg_exec_scratch *s = tg_scratch_get(slot);

	if (!s)
		return 0;
	if (flags & TG_ABI_SCRIPT_SHEBANG) {
		bpf_probe_read_kernel_str(s->sr.arg, TG_ABI_PATH_MAX, s->bufs[B_FILE]);
		s->sr.path[0] = 0;
	} else if (s->sr.arg[0]) {
		bpf_probe_read_kernel_str(s->sr.path, TG_ABI_PATH_MAX, s->bufs[B_SPATH]);
	} else {
		struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
		struct file *f0 = 0;
		__u32 mode = 0;

		if (fds)
			bpf_probe_read_kernel(&f0, sizeof(f0), &fds[0]);
		if (f0)
			mode = BPF_CORE_READ(f0, f_inode, i_mode);
		if ((mode & 0170000) != 0100000) /* S_ISREG */
			return 0;
		flags |= TG_ABI_SCRIPT_STDIN;
		s->sr.path[0] = 0;
	}
	s->sr.flags = flags;
	s->sr.pid = (__u32)(bpf_get_current_pid_tgid() >> 32);
	s->sr.uid = s->who.uid;
	tg_fill_hdr(&s->sr.hdr, TG_ABI_REC_SCRIPT_REQUEST, sizeof(s->sr), s->now);
	tg_emit(&s->sr, sizeof(s->sr));
	return 0;
}

static __always_inline void tg_fill_who(struct tg_who *who, struct task_struct *task)
{
	const struct cred *cred = BPF_CORE_READ(task, real_cred);
	struct group_info *gi = BPF_CORE_READ(cred, group_info);
	__u32 i, n = 0;

	who->uid = BPF_CORE_READ(cred, uid.val);
	who->gid = BPF_CORE_READ(cred, gid.val);
	if (gi)
		n = (__u32)BPF_CORE_READ(gi, ngroups);
	if (n > TG_ABI_MAX_GROUPS)
		n = TG_ABI_MAX_GROUPS;
	who->ngroups = n;
	for (i = 0; i < TG_ABI_MAX_GROUPS; i++) {
		if (i >= n)
			break;
		bpf_probe_read_kernel(&who->groups[i], sizeof(__u32), &gi->gid[i]);
	}
}

/* A decision starts: generation, clock, no verdict yet, no event flags. */
static __always_inline void tg_scratch_begin(struct tg_exec_scratch *s, __u32 gen)
{
	s->gen = gen;
	s->now = bpf_ktime_get_tai_ns();
	s->have_cwd = 0;
	s->best.verdict = TG_ABI_VERDICT_NONE;
	s->best.flags = 0;
	s->best.tool = 0;
	s->best.matcher = 0;
	s->ev.flags = 0;
}

/* The exec record's common part: header, ids, the decision, comm, tty and
 * the path in B_PATH. For an exec and for an executable mapping (mmap_file,
 * file_mprotect); flags, argv, script and filename are the caller's. */
static __always_inline void tg_fill_exec_event(struct tg_exec_scratch *s, const struct tg_abi_gen *g,
					       struct task_struct *task, const struct tg_abi_inode_key *ik,
					       __u32 argc, __u32 gen)
{
	struct tty_struct *tty;

	tg_fill_hdr(&s->ev.hdr, TG_ABI_REC_EXEC, sizeof(s->ev), s->now);
	s->ev.policy_serial = g->policy_serial;
	s->ev.ino = ik->ino;
	s->ev.dev = ik->dev;
	s->ev.pid = (__u32)(bpf_get_current_pid_tgid() >> 32);
	s->ev.ppid = BPF_CORE_READ(task, real_parent, tgid);
	s->ev.uid = s->who.uid;
	s->ev.gid = s->who.gid;
	s->ev.argc = argc;
	s->ev.tool = s->best.tool;
	s->ev.matcher = s->best.matcher;
	s->ev.verdict = (__u8)s->best.verdict;
	s->ev.gen = (__u8)gen;
	bpf_get_current_comm(s->ev.comm, sizeof(s->ev.comm));
	s->ev.tty[0] = 0;
	tty = BPF_CORE_READ(task, signal, tty);
	if (tty)
		bpf_probe_read_kernel_str(s->ev.tty, sizeof(s->ev.tty), &tty->name);
	bpf_probe_read_kernel_str(s->ev.path, TG_ABI_PATH_MAX, s->bufs[B_PATH]);
}

/*
 * The one decision for both backends. lsm: called from bprm_check_security
 * (returns -EPERM to refuse), else from sched_process_exec (sends SIGKILL).
 */
static __always_inline int tg_exec_decide_in(struct linux_binprm *bprm, bool lsm, __u32 slot)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct tg_exec_scratch *s;
	struct tg_abi_gen *g;
	struct file *file;
	struct inode *inode;
	struct dentry *fdentry;
	__u32 gen = 0, len, off, interp = 0, scripts_only, shebang = 0, second = 0;
	struct tg_abi_inode_key ik = {};
	const char *filename, *interp_name;
	int ret = 0;

	g = tg_active(&gen);
	if (!g)
		return 0;
	s = tg_scratch_get(slot);
	if (!s)
		return 0;
	s->slot = slot;
	scripts_only = !lsm && tg_backend() == TG_ABI_BACKEND_LSM;
	if (scripts_only && !(g->flags & (TG_ABI_GEN_SCRIPTS | TG_ABI_GEN_HASH_REQUESTS)))
		return 0;

	tg_scratch_begin(s, gen);
	s->hr.hdr.type = 0;
	s->sr.hdr.type = (g->flags & TG_ABI_GEN_SCRIPT_REQUESTS) ? TG_ABI_REC_SCRIPT_REQUEST : 0;
	s->sr.arg[0] = 0;
	s->ev.script[0] = 0;
	s->ev.argc = 0;
	for (__u32 i = 0; i < TG_ABI_ARGV_MAX; i++)
		s->ev.argv[i][0] = 0; /* entries not read this time (LSM, short argv) */
	tg_fill_who(&s->who, task);

	file = BPF_CORE_READ(bprm, file);
	inode = BPF_CORE_READ(file, f_inode);
	fdentry = BPF_CORE_READ(file, f_path.dentry);
	ik.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	ik.ino = BPF_CORE_READ(inode, i_ino);
	ik.gen = (__u8)gen;
	ik.space = TG_ABI_INODE_EXE;

	filename = BPF_CORE_READ(bprm, filename);
	interp_name = BPF_CORE_READ(bprm, interp);
	bpf_probe_read_kernel_str(s->bufs[B_FILE], TG_ABI_PATH_MAX, filename);
	bpf_probe_read_kernel_str(s->ev.filename, TG_ABI_PATH_MAX, s->bufs[B_FILE]);
	if (lsm) {
		char magic[2] = {};

		bpf_probe_read_kernel(magic, sizeof(magic), &bprm->buf[0]);
		shebang = magic[0] == '#' && magic[1] == '!';
		/* second and later calls: bprm->file is an interpreter */
		second = interp_name != filename;
	} else {
		shebang = interp_name != filename;
	}

	len = tg_build_path(s->slot, (__u64)fdentry, (__u64)BPF_CORE_READ(file, f_path.mnt), B_PATH);
	if (len & (1u << 31))
		s->ev.flags |= TG_ABI_EV_PATH_TRUNCATED;
	len &= ~(1u << 31);
	bpf_probe_read_kernel_str(s->bufs[B_NAME], TG_ABI_PATH_MAX, BPF_CORE_READ(fdentry, d_name.name));

	if (!scripts_only) {
		struct tg_abi_refs *refs = bpf_map_lookup_elem(&tg_inodes, &ik);
		struct tg_abi_seen_key sk = {.dev = ik.dev, .ino = ik.ino};
		__u32 igen = BPF_CORE_READ(inode, i_generation);
		__u32 stale = 0;

		if (refs) {
			struct tg_abi_seen_val *sv = bpf_map_lookup_elem(&tg_seen, &sk);

			if (!sv || sv->seen_epoch != g->seen_epoch) {
				/* remember which file this entry was first seen as (an
				 * entry of an earlier apply predates the scan that made
				 * this one) */
				struct tg_abi_seen_val nv = {.seen_epoch = g->seen_epoch, .i_generation = igen};

				bpf_map_update_elem(&tg_seen, &sk, &nv, BPF_ANY);
			} else if (sv->i_generation != igen) {
				/* the inode number now belongs to another file: ask the daemon again */
				stale = 1;
				refs = 0;
			}
		}
		if (refs)
			tg_consider_refs(s, refs, TG_ABI_EV_BY_INODE, TG_PASS_PLAIN, 0);
		tg_lookup_str(s->slot, TG_ABI_SPACE_EXE_NAME, B_NAME, 0, TG_ABI_EV_BY_RESOLVED_NAME);
		tg_lookup_path(s, TG_ABI_SPACE_EXE_PATH, B_PATH, len, TG_ABI_EV_BY_RESOLVED_PATH);

		if (!second) {
			__u32 ilen;

			if (s->bufs[B_FILE][0] != '/')
				tg_need_cwd(s, task);
			ilen = tg_absolutize(s->slot, B_FILE, B_INV);
			off = tg_basename_off(s->slot, B_INV);
			tg_lookup_str(s->slot, TG_ABI_SPACE_EXE_NAME, B_INV, off, TG_ABI_EV_BY_INVOKED_NAME);
			tg_lookup_path(s, TG_ABI_SPACE_EXE_PATH, B_INV, ilen, TG_ABI_EV_BY_INVOKED_PATH);
			if (shebang) {
				s->ev.flags |= TG_ABI_EV_SHEBANG;
				if (lsm) {
					/* bprm->file is the script itself: its resolved path */
					bpf_probe_read_kernel_str(s->ev.script, TG_ABI_PATH_MAX,
								  s->bufs[B_PATH]);
					tg_lookup_path(s, TG_ABI_SPACE_SCRIPT_PATH, B_PATH, len,
						       TG_ABI_EV_BY_SCRIPT);
					ik.space = TG_ABI_INODE_SCRIPT;
					refs = bpf_map_lookup_elem(&tg_inodes, &ik);
					if (refs)
						tg_consider_refs(s, refs,
								 TG_ABI_EV_BY_SCRIPT | TG_ABI_EV_BY_INODE,
								 TG_PASS_PLAIN, 0);
					ik.space = TG_ABI_INODE_EXE;
				} else {
					bpf_probe_read_kernel_str(s->ev.script, TG_ABI_PATH_MAX,
								  s->bufs[B_INV]);
					tg_lookup_path(s, TG_ABI_SPACE_SCRIPT_PATH, B_INV, ilen,
						       TG_ABI_EV_BY_SCRIPT);
				}
			}
		}

		/* sha256 rules: ask the daemon about inodes it has not seen */
		if ((g->flags & TG_ABI_GEN_HASH_REQUESTS) && (stale || !bpf_map_lookup_elem(&tg_inodes, &ik))) {
			struct tg_abi_seen_val *sv = bpf_map_lookup_elem(&tg_seen, &sk);

			if (!sv || sv->seen_epoch != g->seen_epoch || sv->i_generation != igen) {
				struct tg_abi_seen_val nv = {.seen_epoch = g->seen_epoch,
							     .i_generation = igen};

				if (bpf_map_update_elem(&tg_seen, &sk, &nv, BPF_ANY))
					tg_count_drop(TG_ABI_DROP_SEEN);
				tg_fill_hdr(&s->hr.hdr, TG_ABI_REC_HASH_REQUEST, sizeof(s->hr), s->now);
				s->hr.pid = (__u32)(bpf_get_current_pid_tgid() >> 32);
				s->hr.uid = s->who.uid;
				s->hr.dev = ik.dev;
				s->hr.seen_epoch = g->seen_epoch;
				s->hr.ino = ik.ino;
				s->hr.gen = (__u8)gen;
				bpf_probe_read_kernel_str(s->hr.path, TG_ABI_PATH_MAX, s->bufs[B_PATH]);
				tg_emit(&s->hr, sizeof(s->hr));
			}
		}
	}

	/* interpreters: the script they run is in argv (tracepoint only) */
	if (!lsm && (g->flags & (TG_ABI_GEN_SCRIPTS | TG_ABI_GEN_HASH_REQUESTS))) {
		interp = tg_lookup_str(s->slot, TG_ABI_SPACE_INTERP, B_NAME, 0, 0);
		if (!interp) {
			off = tg_basename_off(s->slot, B_FILE);
			interp = tg_lookup_str(s->slot, TG_ABI_SPACE_INTERP, B_FILE, off, 0);
		}
		if (!interp) {
			/* a renamed copy of an interpreter: known by its content (daemon) */
			struct tg_abi_refs *irefs;

			ik.space = TG_ABI_INODE_INTERP;
			irefs = bpf_map_lookup_elem(&tg_inodes, &ik);
			if (irefs)
				interp = (__u32)irefs->flags + 1;
			ik.space = TG_ABI_INODE_EXE;
		}
	}
	/* sha256 rules alone: only the dynamic loader's argument matters */
	if (interp && !(g->flags & TG_ABI_GEN_SCRIPTS) && !((interp - 1) & TG_ABI_REFS_LDSO))
		interp = 0;
	if (s->sr.hdr.type) {
		/* scripts[].sha256: the daemon judges the script by its content */
		s->sr.dev = ik.dev;
		s->sr.ino = ik.ino;
		s->sr.gen = (__u8)gen;
		if (!interp && shebang && !lsm &&
		    !(s->best.verdict == TG_ABI_VERDICT_BLOCK && g->mode == TG_ABI_MODE_ENFORCE))
			tg_script_request(s->slot, (__u64)task, TG_ABI_SCRIPT_SHEBANG);
	}
	if (interp) {
		__u32 ldso = ((interp - 1) & TG_ABI_REFS_LDSO) ? 1 : 0;

		if (ldso && (g->flags & TG_ABI_GEN_HASH_REQUESTS)) {
			s->hr.pid = (__u32)(bpf_get_current_pid_tgid() >> 32);
			s->hr.uid = s->who.uid;
			s->hr.dev = ik.dev;
			s->hr.ino = ik.ino;
			s->hr.seen_epoch = g->seen_epoch;
			s->hr.gen = (__u8)gen;
			s->hr.path[0] = 0;
			/* sent after the decision, even without a program argument
			 * found here: ld.so runs "-/x" (only "--" starts options) */
			s->hr.hdr.type = TG_ABI_REC_LOADER_REQUEST;
			ldso = 2;
		}
		tg_scan_argv(s->slot, (__u64)task, 1, ldso);
		if (s->sr.hdr.type && !ldso &&
		    !(s->best.verdict == TG_ABI_VERDICT_BLOCK && g->mode == TG_ABI_MODE_ENFORCE))
			tg_script_request(s->slot, (__u64)task, 0);
		/* "ld.so FILE" and sha256 rules: unless killed already, the daemon
		 * hashes FILE (the loader maps it, no exec of it) and judges */
		if (s->hr.hdr.type == TG_ABI_REC_LOADER_REQUEST &&
		    !(s->best.verdict == TG_ABI_VERDICT_BLOCK && g->mode == TG_ABI_MODE_ENFORCE)) {
			tg_fill_hdr(&s->hr.hdr, TG_ABI_REC_LOADER_REQUEST, sizeof(s->hr), s->now);
			tg_emit(&s->hr, sizeof(s->hr));
		}
	} else if (s->best.verdict == TG_ABI_VERDICT_NONE) {
		return 0;
	} else if (!lsm) {
		tg_scan_argv(s->slot, (__u64)task, 0, 0);
	} else {
		tg_syscall_argv(s->slot);
	}
	if (s->best.verdict == TG_ABI_VERDICT_NONE)
		return 0;

	s->ev.flags |= s->best.flags;
	if (lsm)
		s->ev.flags |= TG_ABI_EV_LSM;
	if (s->best.verdict == TG_ABI_VERDICT_BLOCK) {
		if (g->mode == TG_ABI_MODE_ENFORCE) {
			if (lsm) {
				s->ev.flags |= TG_ABI_EV_DENIED;
				ret = -EPERM;
			} else {
				bpf_send_signal(SIGKILL);
				s->ev.flags |= TG_ABI_EV_KILLED;
			}
		} else {
			s->ev.flags |= TG_ABI_EV_WOULD_BLOCK;
		}
	}

	tg_fill_exec_event(s, g, task, &ik, (__u32)BPF_CORE_READ(bprm, argc), gen);
	tg_emit(&s->ev, sizeof(s->ev));
	return ret;
}

static __always_inline int tg_exec_decide(struct linux_binprm *bprm, bool lsm)
{
	__u32 slot = tg_slot_claim();
	int ret;

	if (slot >= TG_SLOTS) {
		tg_count_drop(TG_ABI_DROP_BUSY);
		return 0;
	}
	ret = tg_exec_decide_in(bprm, lsm, slot);
	tg_slot_release(slot);
	return ret;
}

SEC("lsm/bprm_check_security")
int BPF_PROG(tg_lsm_bprm_check, struct linux_binprm *bprm, int ret)
{
	if (ret)
		return ret;
	return tg_exec_decide(bprm, true);
}

#define TG_PROT_EXEC 0x4ul

/*
 * LSM backend: a file mapped executable that is not the process's own exe
 * ("ld.so FILE", which maps FILE itself) is decided like an exec of it, by
 * its tg_inodes entry (sha256 rules, complex globs). Cost per mmap without
 * sha256 rules: the PROT_EXEC test and two array lookups; with them, one
 * hash lookup per executable file mapping. The exe itself was judged by
 * bprm_check_security.
 */
static __always_inline int tg_map_decide(struct file *file, unsigned long prot)
{
	struct task_struct *task;
	struct tg_exec_scratch *s;
	struct tg_abi_refs *refs;
	struct tg_abi_gen *g;
	struct inode *inode;
	struct file *exe;
	struct tg_abi_inode_key ik = {};
	struct tg_abi_seen_key sk = {};
	struct tg_abi_seen_val *sv;
	__u32 gen = 0, slot, len;
	int ret = 0;

	if (!file || !(prot & TG_PROT_EXEC))
		return 0;
	g = tg_active(&gen);
	if (!g || !(g->flags & TG_ABI_GEN_HASH_REQUESTS))
		return 0;
	inode = BPF_CORE_READ(file, f_inode);
	ik.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	ik.ino = BPF_CORE_READ(inode, i_ino);
	ik.gen = (__u8)gen;
	ik.space = TG_ABI_INODE_EXE;
	refs = bpf_map_lookup_elem(&tg_inodes, &ik);
	if (!refs)
		return 0;
	/* a plain value, not a BTF pointer: the global helpers take it as a u64 */
	task = (struct task_struct *)bpf_get_current_task();
	exe = BPF_CORE_READ(task, mm, exe_file);
	if (!exe || BPF_CORE_READ(exe, f_inode) == inode)
		return 0;
	sk.dev = ik.dev;
	sk.ino = ik.ino;
	sv = bpf_map_lookup_elem(&tg_seen, &sk);
	if (sv && sv->seen_epoch == g->seen_epoch && sv->i_generation != BPF_CORE_READ(inode, i_generation))
		return 0; /* another file on a reused inode number: the daemon is asked at its exec */

	slot = tg_slot_claim();
	if (slot >= TG_SLOTS) {
		tg_count_drop(TG_ABI_DROP_BUSY);
		return 0;
	}
	s = tg_scratch_get(slot);
	if (!s)
		goto out;
	s->slot = slot;
	tg_scratch_begin(s, gen);
	s->ev.script[0] = 0;
	for (__u32 i = 0; i < TG_ABI_ARGV_MAX; i++)
		s->ev.argv[i][0] = 0;
	tg_fill_who(&s->who, task);
	tg_consider_refs(s, refs, TG_ABI_EV_BY_INODE, TG_PASS_PLAIN, 0);
	if (s->best.verdict == TG_ABI_VERDICT_NONE)
		goto out;
	s->ev.flags = s->best.flags | TG_ABI_EV_LSM | TG_ABI_EV_LOADER;
	if (s->best.verdict == TG_ABI_VERDICT_BLOCK) {
		if (g->mode == TG_ABI_MODE_ENFORCE) {
			s->ev.flags |= TG_ABI_EV_DENIED;
			ret = -EPERM;
		} else {
			s->ev.flags |= TG_ABI_EV_WOULD_BLOCK;
		}
	}
	len = tg_build_path(slot, (__u64)BPF_CORE_READ(file, f_path.dentry), (__u64)BPF_CORE_READ(file, f_path.mnt),
			    B_PATH);
	if (len & (1u << 31))
		s->ev.flags |= TG_ABI_EV_PATH_TRUNCATED;
	tg_build_path(slot, (__u64)BPF_CORE_READ(exe, f_path.dentry), (__u64)BPF_CORE_READ(exe, f_path.mnt), B_FILE);
	tg_scan_argv(slot, (__u64)task, 0, 0);

	bpf_probe_read_kernel_str(s->ev.filename, TG_ABI_PATH_MAX, s->bufs[B_FILE]);
	tg_fill_exec_event(s, g, task, &ik, 0, gen);
	tg_emit(&s->ev, sizeof(s->ev));
out:
	tg_slot_release(slot);
	return ret;
}

SEC("?lsm/mmap_file")
int BPF_PROG(tg_lsm_mmap_file, struct file *file, unsigned long reqprot, unsigned long prot, unsigned long flags,
	     int ret)
{
	if (ret)
		return ret;
	return tg_map_decide(file, prot);
}

SEC("?lsm/file_mprotect")
int BPF_PROG(tg_lsm_file_mprotect, struct vm_area_struct *vma, unsigned long reqprot, unsigned long prot, int ret)
{
	if (ret)
		return ret;
	return tg_map_decide(BPF_CORE_READ(vma, vm_file), prot);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tg_exec_tp, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	tg_exec_decide(bprm, false);
	return 0;
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(tg_exec_raw, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	tg_exec_decide(bprm, false);
	return 0;
}
