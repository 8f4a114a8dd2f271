/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel side of toolguardd: pick the exec backend (BPF LSM, else the
 * sched_process_exec tracepoint), load the CO-RE objects, attach, pin under
 * TG_PIN_DIR, adopt pins of an earlier run, swap policies atomically
 * (generations, see bpf/toolguard_abi.h) and decode the ring buffer.
 *
 * Pins:  TG_PIN_DIR/maps/<map name>   every map but the programs' scratch
 *        TG_PIN_DIR/links/<program>   the attachments (they hold the programs)
 * Pins of other programs (other ABI version or build) are replaced without a gap:
 * the new programs are pinned in TG_PIN_DIR-new (bpffs refuses dots in names) and take TG_PIN_DIR's place
 * only after the first successful apply; until then the old ones enforce.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "compile.h"
#include "connect_guard.skel.h"
#include "dns_guard.skel.h"
#include "exec_guard.skel.h"
#include "kernel.h"
#include "kernel_internal.h"
#include "loader.h"
#include "paths.h"
#include "procinfo.h"
#include "script_request.h"
#include "stream_guard.skel.h"
#include "tamper.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif
#define BPF_FS_ROOT   "/sys/fs/bpf"
#define SWAP_GRACE_NS (5 * 1000 * 1000) /* decisions in flight use the old generation for microseconds */

_Static_assert(sizeof(struct tg_abi_control) == TG_ABI_SIZEOF_CONTROL, "ABI");
_Static_assert(sizeof(struct tg_abi_gen) == TG_ABI_SIZEOF_GEN, "ABI");
_Static_assert(TG_ABI_INSPECT_PORTS == TG_CONFIG_INSPECT_PORTS_MAX, "network.inspect_ports");
_Static_assert(sizeof(struct tg_abi_tool) == TG_ABI_SIZEOF_TOOL, "ABI");
_Static_assert(sizeof(struct tg_abi_str_key) == TG_ABI_SIZEOF_STR_KEY, "ABI");
_Static_assert(sizeof(struct tg_abi_refs) == TG_ABI_SIZEOF_REFS, "ABI");
_Static_assert(sizeof(struct tg_abi_inode_key) == TG_ABI_SIZEOF_INODE_KEY, "ABI");
_Static_assert(sizeof(struct tg_abi_exempt_key) == TG_ABI_SIZEOF_EXEMPT_KEY, "ABI");
_Static_assert(sizeof(struct tg_abi_net4_key) == TG_ABI_SIZEOF_NET4_KEY, "ABI");
_Static_assert(sizeof(struct tg_abi_affix_key) == TG_ABI_SIZEOF_AFFIX_KEY, "ABI");
_Static_assert(sizeof(struct tg_abi_affix_val) == TG_ABI_SIZEOF_AFFIX_VAL, "ABI");
_Static_assert(sizeof(struct tg_abi_host_key) == TG_ABI_SIZEOF_HOST_KEY, "ABI");
_Static_assert(sizeof(struct tg_abi_net6_key) == TG_ABI_SIZEOF_NET6_KEY, "ABI");
_Static_assert(sizeof(struct tg_abi_shared_key) == TG_ABI_SIZEOF_SHARED_KEY, "ABI");
_Static_assert(sizeof(struct tg_abi_net_refs) == TG_ABI_SIZEOF_NET_REFS, "ABI");
_Static_assert(sizeof(struct tg_abi_exec_event) == TG_ABI_SIZEOF_EXEC_EVENT, "ABI");
_Static_assert(sizeof(struct tg_abi_connect_event) == TG_ABI_SIZEOF_CONNECT_EVENT, "ABI");
_Static_assert(sizeof(struct tg_abi_hash_request) == TG_ABI_SIZEOF_HASH_REQUEST, "ABI");
_Static_assert(sizeof(struct tg_abi_script_request) == TG_ABI_SIZEOF_SCRIPT_REQUEST, "ABI");
_Static_assert(sizeof(struct tg_abi_connect_host_event) == TG_ABI_SIZEOF_CONNECT_HOST_EVENT, "ABI");
_Static_assert(TG_ABI_VERDICT_BLOCK == TG_VERDICT_BLOCK && TG_ABI_VERDICT_WARN == TG_VERDICT_WARN &&
		   TG_ABI_VERDICT_ALERT == TG_VERDICT_ALERT && TG_ABI_VERDICT_ALLOW == TG_VERDICT_ALLOW,
	       "verdict numbers are shared");
_Static_assert(TG_ABI_ACTION_BLOCK == TG_ACTION_BLOCK && TG_ABI_ACTION_ALERT == TG_ACTION_ALERT &&
		   TG_ABI_ACTION_ALLOW == TG_ACTION_ALLOW,
	       "action numbers are shared");
_Static_assert(TG_ABI_MAX_TOOLS >= TG_POLICY_MAX_TOOLS, "every tool has a slot");
_Static_assert(TG_ABI_ARGV_MAX == TG_EVENT_ARGV_MAX && TG_ABI_ARG_LEN <= TG_EVENT_ARG_LEN, "argv fits");

enum {
	M_CONTROL,
	M_GENS,
	M_TOOLS,
	M_STRS,
	M_RSTRS,
	M_INODES,
	M_EXEMPT,
	M_SEEN,
	M_EVENTS,
	M_DROPPED,
	M_AFFIX,
	M_NET4, /* from the connect object */
	M_NET6,
	M_HOSTS, /* from the DNS object */
	M_STREAMS, /* sockhash of the stream object (pinned: it holds the sk_msg program) */
	M_SHARED, /* from the connect object */
	M_INSPECT_SK, /* from the connect object */
	M__COUNT,
	M__EXEC_COUNT = M_NET4,
};

static const char *const map_names[M__COUNT] = {
    [M_CONTROL] = "tg_control", [M_GENS] = "tg_gens",	    [M_TOOLS] = "tg_tools",   [M_STRS] = "tg_strs",
    [M_RSTRS] = "tg_rstrs",	[M_INODES] = "tg_inodes",   [M_EXEMPT] = "tg_exempt", [M_SEEN] = "tg_seen",
    [M_EVENTS] = "tg_events",	[M_DROPPED] = "tg_dropped", [M_AFFIX] = "tg_affix",   [M_NET4] = "tg_net4",
    [M_NET6] = "tg_net6",	[M_HOSTS] = "tg_hosts",
    [M_STREAMS] = "tg_streams", [M_SHARED] = "tg_shared", [M_INSPECT_SK] = "tg_inspect_sk",
};

/* Maps the connect object shares with the exec object. */
static const int shared_maps[] = {M_CONTROL, M_GENS, M_TOOLS, M_EXEMPT, M_EVENTS, M_DROPPED};

/* Maps the DNS object shares with the others. */
static const int dns_shared_maps[] = {M_CONTROL, M_GENS,    M_TOOLS, M_EXEMPT,
				      M_EVENTS,	 M_DROPPED, M_NET4,  M_NET6, M_SHARED};

/* Link pins. */
#define L_LSM  "lsm_bprm_check"
#define L_LSM_MMAP "lsm_mmap_file" /* with L_LSM: "ld.so FILE" of a known banned FILE */
#define L_LSM_MPROT "lsm_file_mprotect"
#define L_EXEC "exec"
#define L_DNS  "dns_ingress"
#define L_STREAM "stream_sockops"
static const char *const connect_links[4] = {"connect4", "connect6", "sendmsg4", "sendmsg6"};

struct tg_kernel {
	struct exec_guard *exec;       /* NULL when adopted */
	struct connect_guard *connect; /* NULL when adopted or unavailable */
	struct dns_guard *dns;	       /* NULL when adopted or unavailable */
	struct stream_guard *stream;   /* NULL when adopted or unavailable */
	bool stream_ok;		       /* CONNECT lines and TLS server names are checked */
	bool dns_ok;
	enum tg_exec_backend backend;
	bool connect_ok;
	bool adopted;
	uint16_t inspect_ports[TG_ABI_INSPECT_PORTS]; /* written into every generation */
	bool inspect_all;
	bool replace_pins;	/* pinned in pin_new: move into pin_dir after the first apply */
	char pin_dir[256];	/* TG_PIN_DIR unless the options say otherwise (tests) */
	char backend_note[320]; /* why not the LSM backend, or "" */
	char pin_new[264];
	char pin_old[264];
	bool verbose;
	int fds[M__COUNT]; /* owned: dup'ed or from bpf_obj_get */
	struct ring_buffer *rb;

	struct tg_compiled *compiled; /* in force (NULL before the first apply) */
	const struct tg_policy *policy;
	struct tg_watch *watch;
	int watch_epfd;

	tg_kernel_event_fn fn; /* during tg_kernel_consume */
	void *fn_data;
	int64_t tai_offset_ns;
	struct tg_kernel_event ev; /* decoded record, reused */
	tg_kernel_apply_hook_fn apply_hook; /* resolve.c: resolved addresses into the new generation */
	void *apply_hook_data;
	tg_kernel_namer_fn namer; /* resolve.c: names connect destinations it resolved */
	void *namer_data;
	struct tg_digest inode_writes; /* our own tg_inodes writes, for tamper.c */
	unsigned budget;	       /* records left in this consume; 0 = no limit */
};

const char *tg_exec_backend_name(enum tg_exec_backend b)
{
	switch (b) {
	case TG_EXEC_BACKEND_LSM:
		return "lsm";
	case TG_EXEC_BACKEND_TRACEPOINT:
		return "tracepoint";
	default:
		return "none";
	}
}

static int set_why(char *why, size_t len, int r, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int set_why(char *why, size_t len, int r, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return r;
}

static int64_t tai_offset_ns(void)
{
	struct timespec tai, rt;

	if (clock_gettime(CLOCK_TAI, &tai) < 0 || clock_gettime(CLOCK_REALTIME, &rt) < 0)
		return 0;
	/* whole seconds: the kernel's TAI offset is an integer number of seconds */
	return (int64_t)(tai.tv_sec - rt.tv_sec + (tai.tv_nsec - rt.tv_nsec >= 500000000L ? 1 : 0) -
			 (rt.tv_nsec - tai.tv_nsec > 500000000L ? 1 : 0)) *
	       1000000000LL;
}

uint64_t tg_realtime_to_tai_ns(int64_t realtime_sec)
{
	int64_t off = tai_offset_ns();

	if (realtime_sec <= 0)
		return 0;
	if (realtime_sec > (INT64_MAX - off) / 1000000000LL - 1)
		return UINT64_MAX - 1;
	return (uint64_t)(realtime_sec * 1000000000LL + off);
}

/* ---------- bpffs and pin paths ---------- */

static int ensure_bpffs(void)
{
	struct statfs sfs;

	if (statfs(BPF_FS_ROOT, &sfs) == 0 && (uint32_t)sfs.f_type == BPF_FS_MAGIC)
		return 0;
	if (mkdir(BPF_FS_ROOT, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (mount("bpf", BPF_FS_ROOT, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") < 0)
		return -errno;
	return 0;
}

static int mkdir_p2(const char *dir)
{
	char sub[PATH_MAX];

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	snprintf(sub, sizeof(sub), "%s/maps", dir);
	if (mkdir(sub, 0700) < 0 && errno != EEXIST)
		return -errno;
	snprintf(sub, sizeof(sub), "%s/links", dir);
	if (mkdir(sub, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Remove a pin directory (two levels). Links are detached first where the
 * kernel supports it (cgroup links), so other holders cannot keep them. */
static int remove_pin_dir(const char *dir)
{
	static const char *const subs[] = {"links", "maps"};
	char path[PATH_MAX];
	int r = 0;

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		DIR *d;
		struct dirent *de;

		snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
		d = opendir(path);
		if (!d) {
			if (errno != ENOENT)
				r = -errno;
			continue;
		}
		while ((de = readdir(d))) {
			char file[PATH_MAX + 256];

			if (de->d_name[0] == '.')
				continue;
			snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
			if (i == 0) {
				int fd = bpf_obj_get(file);

				if (fd >= 0) {
					(void)bpf_link_detach(
					    fd); /* EOPNOTSUPP for tracing links: unpin is enough */
					close(fd);
				}
			}
			if (unlink(file) < 0 && errno != ENOENT)
				r = -errno;
		}
		closedir(d);
		if (rmdir(path) < 0 && errno != ENOENT)
			r = -errno;
	}
	if (rmdir(dir) < 0 && errno != ENOENT)
		r = -errno;
	return r;
}

static bool path_exists(const char *p)
{
	return access(p, F_OK) == 0;
}

/* ---------- cgroup v2 root ---------- */

static int open_cgroup2_root(char *why, size_t why_len)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char line[4096];
	int fd = -ENOENT;

	if (!f)
		return set_why(why, why_len, -errno, "cannot read /proc/self/mounts: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char dev[256], dir[PATH_MAX], type[64];

		if (sscanf(line, "%255s %4095s %63s", dev, dir, type) != 3 || strcmp(type, "cgroup2") != 0)
			continue;
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			fd = -errno;
		break;
	}
	fclose(f);
	if (fd < 0)
		set_why(why, why_len, fd,
			"no cgroup v2 hierarchy mounted (mount -t cgroup2 none /sys/fs/cgroup)");
	return fd;
}

/* ---------- loading ---------- */

static void close_fds(struct tg_kernel *k)
{
	for (int i = 0; i < M__COUNT; i++) {
		if (k->fds[i] >= 0)
			close(k->fds[i]);
		k->fds[i] = -1;
	}
}

/* Map m of a skeleton's object, by its ABI name (NULL when that object has none). */
static struct bpf_map *obj_map(struct bpf_object *obj, int m)
{
	return bpf_object__find_map_by_name(obj, map_names[m]);
}

static int silent_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static int verbose_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* FNV-1a of the BPF objects: pins made from other objects are replaced. */
static uint32_t objects_build_id(void)
{
	const unsigned char *parts[4];
	size_t lens[4];
	uint32_t h = 2166136261u;

	parts[0] = exec_guard__elf_bytes(&lens[0]);
	parts[1] = connect_guard__elf_bytes(&lens[1]);
	parts[2] = dns_guard__elf_bytes(&lens[2]);
	parts[3] = stream_guard__elf_bytes(&lens[3]);
	for (int p = 0; p < 4; p++)
		for (size_t i = 0; i < lens[p]; i++)
			h = (h ^ parts[p][i]) * 16777619u;
	return h;
}

/* Load the exec object with one backend. attach: also attach. */
static int load_exec(struct tg_kernel *k, enum tg_exec_backend backend, bool raw, char *why, size_t why_len)
{
	struct exec_guard *s = exec_guard__open();
	int r;

	if (!s)
		return set_why(why, why_len, -errno, "cannot open the exec BPF object: %s", strerror(errno));
	bpf_program__set_autoload(s->progs.tg_lsm_bprm_check, backend == TG_EXEC_BACKEND_LSM);
	bpf_program__set_autoload(s->progs.tg_lsm_mmap_file, backend == TG_EXEC_BACKEND_LSM);
	bpf_program__set_autoload(s->progs.tg_lsm_file_mprotect, backend == TG_EXEC_BACKEND_LSM);
	bpf_program__set_autoload(s->progs.tg_exec_tp, !raw);
	bpf_program__set_autoload(s->progs.tg_exec_raw, raw);
	r = exec_guard__load(s);
	if (r < 0) {
		exec_guard__destroy(s);
		return set_why(why, why_len, r, "cannot load the exec BPF programs (%s backend%s): %s",
			       tg_exec_backend_name(backend), raw ? ", raw_tp" : "", strerror(-r));
	}
	if (backend == TG_EXEC_BACKEND_LSM) {
		s->links.tg_lsm_bprm_check = bpf_program__attach(s->progs.tg_lsm_bprm_check);
		if (s->links.tg_lsm_bprm_check)
			s->links.tg_lsm_mmap_file = bpf_program__attach(s->progs.tg_lsm_mmap_file);
		if (s->links.tg_lsm_mmap_file)
			s->links.tg_lsm_file_mprotect = bpf_program__attach(s->progs.tg_lsm_file_mprotect);
		if (!s->links.tg_lsm_file_mprotect) {
			r = -errno;
			exec_guard__destroy(s);
			return set_why(why, why_len, r, "cannot attach the BPF LSM program: %s",
				       strerror(-r));
		}
	}
	if (raw) {
		s->links.tg_exec_raw = bpf_program__attach(s->progs.tg_exec_raw);
		r = s->links.tg_exec_raw ? 0 : -errno;
	} else {
		s->links.tg_exec_tp = bpf_program__attach(s->progs.tg_exec_tp);
		r = s->links.tg_exec_tp ? 0 : -errno;
	}
	if (r < 0) {
		exec_guard__destroy(s);
		return set_why(why, why_len, r, "cannot attach the exec tracepoint program: %s",
			       strerror(-r));
	}
	k->exec = s;
	k->backend = backend;
	return 0;
}

static int load_connect(struct tg_kernel *k, char *why, size_t why_len)
{
	struct connect_guard *s = connect_guard__open();
	int cg, r;

	if (!s)
		return set_why(why, why_len, -errno, "cannot open the connect BPF object: %s",
			       strerror(errno));
	for (size_t i = 0; i < sizeof(shared_maps) / sizeof(shared_maps[0]); i++) {
		r = bpf_map__reuse_fd(obj_map(s->obj, shared_maps[i]), k->fds[shared_maps[i]]);
		if (r < 0) {
			connect_guard__destroy(s);
			return set_why(why, why_len, r, "cannot share map %s: %s", map_names[shared_maps[i]],
				       strerror(-r));
		}
	}
	r = connect_guard__load(s);
	if (r < 0) {
		connect_guard__destroy(s);
		return set_why(why, why_len, r, "cannot load the connect BPF programs: %s", strerror(-r));
	}
	cg = open_cgroup2_root(why, why_len);
	if (cg < 0) {
		connect_guard__destroy(s);
		return cg;
	}
	s->links.tg_connect4 = bpf_program__attach_cgroup(s->progs.tg_connect4, cg);
	s->links.tg_connect6 =
	    s->links.tg_connect4 ? bpf_program__attach_cgroup(s->progs.tg_connect6, cg) : NULL;
	s->links.tg_sendmsg4 =
	    s->links.tg_connect6 ? bpf_program__attach_cgroup(s->progs.tg_sendmsg4, cg) : NULL;
	s->links.tg_sendmsg6 =
	    s->links.tg_sendmsg4 ? bpf_program__attach_cgroup(s->progs.tg_sendmsg6, cg) : NULL;
	r = s->links.tg_sendmsg6 ? 0 : -errno;
	close(cg);
	if (r < 0) {
		connect_guard__destroy(s);
		return set_why(why, why_len, r,
			       "cannot attach the connect programs to the cgroup v2 root: %s", strerror(-r));
	}
	k->connect = s;
	k->connect_ok = true;
	return 0;
}

/* The DNS learner: optional (host names then only match by CIDR rules). */
static int load_dns(struct tg_kernel *k, char *why, size_t why_len)
{
	struct dns_guard *s = dns_guard__open();
	int cg, r;

	if (!s)
		return set_why(why, why_len, -errno, "cannot open the DNS BPF object: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(dns_shared_maps) / sizeof(dns_shared_maps[0]); i++) {
		r = bpf_map__reuse_fd(obj_map(s->obj, dns_shared_maps[i]), k->fds[dns_shared_maps[i]]);
		if (r < 0) {
			dns_guard__destroy(s);
			return set_why(why, why_len, r, "cannot share map %s: %s",
				       map_names[dns_shared_maps[i]], strerror(-r));
		}
	}
	r = dns_guard__load(s);
	if (r < 0) {
		dns_guard__destroy(s);
		return set_why(why, why_len, r, "cannot load the DNS BPF program: %s", strerror(-r));
	}
	cg = open_cgroup2_root(why, why_len);
	if (cg < 0) {
		dns_guard__destroy(s);
		return cg;
	}
	s->links.tg_dns_ingress = bpf_program__attach_cgroup(s->progs.tg_dns_ingress, cg);
	r = s->links.tg_dns_ingress ? 0 : -errno;
	close(cg);
	if (r < 0) {
		dns_guard__destroy(s);
		return set_why(why, why_len, r, "cannot attach the DNS program to the cgroup v2 root: %s",
			       strerror(-r));
	}
	k->fds[M_HOSTS] = fcntl(bpf_map__fd(s->maps.tg_hosts), F_DUPFD_CLOEXEC, 3);
	k->dns = s;
	k->dns_ok = true;
	return 0;
}

/* The stream checks (HTTP CONNECT lines, TLS server names): optional, like
 * DNS learning. sockops on the cgroup root fills tg_streams; the sk_msg
 * program hangs on tg_streams itself (no link: the pinned map holds it). */
static int load_stream(struct tg_kernel *k, char *why, size_t why_len)
{
	static const int shared[] = {M_CONTROL, M_GENS,	 M_TOOLS,  M_EXEMPT, M_EVENTS,	   M_DROPPED,
				     M_NET4,	M_NET6,	 M_HOSTS,  M_SHARED, M_INSPECT_SK};
	struct stream_guard *s = stream_guard__open();
	int cg, r;

	if (!s)
		return set_why(why, why_len, -errno, "cannot open the stream BPF object: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
		if (k->fds[shared[i]] < 0)
			continue; /* tg_hosts without the DNS object: this object's own */
		r = bpf_map__reuse_fd(obj_map(s->obj, shared[i]), k->fds[shared[i]]);
		if (r < 0) {
			stream_guard__destroy(s);
			return set_why(why, why_len, r, "cannot share map %s: %s", map_names[shared[i]],
				       strerror(-r));
		}
	}
	r = stream_guard__load(s);
	if (r < 0) {
		stream_guard__destroy(s);
		return set_why(why, why_len, r, "cannot load the stream BPF programs: %s", strerror(-r));
	}
	if (bpf_prog_attach(bpf_program__fd(s->progs.tg_stream_msg), bpf_map__fd(s->maps.tg_streams),
			    BPF_SK_MSG_VERDICT, 0) < 0) {
		r = -errno;
		stream_guard__destroy(s);
		return set_why(why, why_len, r, "cannot attach the sk_msg program: %s", strerror(-r));
	}
	cg = open_cgroup2_root(why, why_len);
	if (cg < 0) {
		stream_guard__destroy(s);
		return cg;
	}
	s->links.tg_stream_sockops = bpf_program__attach_cgroup(s->progs.tg_stream_sockops, cg);
	r = s->links.tg_stream_sockops ? 0 : -errno;
	close(cg);
	if (r < 0) {
		stream_guard__destroy(s);
		return set_why(why, why_len, r, "cannot attach the sockops program to the cgroup v2 root: %s",
			       strerror(-r));
	}
	if (k->fds[M_HOSTS] < 0)
		k->fds[M_HOSTS] = fcntl(bpf_map__fd(s->maps.tg_hosts), F_DUPFD_CLOEXEC, 3);
	k->fds[M_STREAMS] = fcntl(bpf_map__fd(s->maps.tg_streams), F_DUPFD_CLOEXEC, 3);
	k->stream = s;
	k->stream_ok = true;
	return 0;
}

static int pin_all(struct tg_kernel *k, const char *dir, char *why, size_t why_len)
{
	char path[PATH_MAX];
	int r;

	r = mkdir_p2(dir);
	if (r < 0)
		return set_why(why, why_len, r, "cannot create %s: %s", dir, strerror(-r));
	for (int m = 0; m < M__COUNT; m++) {
		if (k->fds[m] < 0)
			continue;
		snprintf(path, sizeof(path), "%s/maps/%s", dir, map_names[m]);
		if (bpf_obj_pin(k->fds[m], path) < 0)
			return set_why(why, why_len, -errno, "cannot pin %s: %s", path, strerror(errno));
	}
	if (k->exec->links.tg_lsm_bprm_check) {
		snprintf(path, sizeof(path), "%s/links/%s", dir, L_LSM);
		r = bpf_link__pin(k->exec->links.tg_lsm_bprm_check, path);
		if (r < 0)
			return set_why(why, why_len, r, "cannot pin %s: %s", path, strerror(-r));
	}
	if (k->exec->links.tg_lsm_mmap_file && k->exec->links.tg_lsm_file_mprotect) {
		snprintf(path, sizeof(path), "%s/links/%s", dir, L_LSM_MMAP);
		r = bpf_link__pin(k->exec->links.tg_lsm_mmap_file, path);
		if (r >= 0) {
			snprintf(path, sizeof(path), "%s/links/%s", dir, L_LSM_MPROT);
			r = bpf_link__pin(k->exec->links.tg_lsm_file_mprotect, path);
		}
		if (r < 0)
			return set_why(why, why_len, r, "cannot pin %s: %s", path, strerror(-r));
	}
	snprintf(path, sizeof(path), "%s/links/%s", dir, L_EXEC);
	r = bpf_link__pin(k->exec->links.tg_exec_tp ? k->exec->links.tg_exec_tp : k->exec->links.tg_exec_raw,
			  path);
	if (r < 0)
		return set_why(why, why_len, r, "cannot pin %s: %s", path, strerror(-r));
	if (k->dns) {
		snprintf(path, sizeof(path), "%s/links/%s", dir, L_DNS);
		r = bpf_link__pin(k->dns->links.tg_dns_ingress, path);
		if (r < 0)
			return set_why(why, why_len, r, "cannot pin %s: %s", path, strerror(-r));
	}
	if (k->stream) {
		snprintf(path, sizeof(path), "%s/links/%s", dir, L_STREAM);
		r = bpf_link__pin(k->stream->links.tg_stream_sockops, path);
		if (r < 0)
			return set_why(why, why_len, r, "cannot pin %s: %s", path, strerror(-r));
	}
	if (k->connect) {
		struct bpf_link *links[4] = {k->connect->links.tg_connect4, k->connect->links.tg_connect6,
					     k->connect->links.tg_sendmsg4, k->connect->links.tg_sendmsg6};

		for (int i = 0; i < 4; i++) {
			snprintf(path, sizeof(path), "%s/links/%s", dir, connect_links[i]);
			r = bpf_link__pin(links[i], path);
			if (r < 0)
				return set_why(why, why_len, r, "cannot pin %s: %s", path, strerror(-r));
		}
	}
	return 0;
}

/* A BPF LSM program loads and attaches even when "bpf" is missing from the
 * kernel's active LSM list, and then never runs: check the list first. */
static bool bpf_lsm_active(void)
{
	char buf[512];
	ssize_t n;
	int fd = open("/sys/kernel/security/lsm", O_RDONLY | O_CLOEXEC);

	/* securityfs not mounted (no systemd): mount it where it belongs */
	if (fd < 0 && errno == ENOENT &&
	    mount("securityfs", "/sys/kernel/security", "securityfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) == 0)
		fd = open("/sys/kernel/security/lsm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",\n", &save); tok; tok = strtok_r(NULL, ",\n", &save))
		if (strcmp(tok, "bpf") == 0)
			return true;
	return false;
}

static int fresh_load(struct tg_kernel *k, const struct tg_kernel_options *opts, const char *pin_dir,
		      char *why, size_t why_len)
{
	char lsm_why[256] = "", tp_why[256] = "", cwhy[256] = "";
	struct tg_abi_control ctl = {0};
	__u32 zero = 0;
	int r;

	if (opts->force_tracepoint) {
		snprintf(k->backend_note, sizeof(k->backend_note),
			 "LSM backend not tried (forced tracepoint)");
		r = -EPERM;
	} else if (!bpf_lsm_active()) {
		snprintf(k->backend_note, sizeof(k->backend_note),
			 "BPF LSM not active (add \"bpf\" to the lsm= kernel parameter to use it)");
		r = -EPERM;
	} else {
		r = load_exec(k, TG_EXEC_BACKEND_LSM, false, lsm_why, sizeof(lsm_why));
		if (r < 0)
			snprintf(k->backend_note, sizeof(k->backend_note), "%s", lsm_why);
	}
	/* LSM refused (EPERM here: lockdown or no BPF LSM): the tracepoint, then raw_tp */
	if (r < 0)
		r = load_exec(k, TG_EXEC_BACKEND_TRACEPOINT, false, tp_why, sizeof(tp_why));
	if (r < 0)
		r = load_exec(k, TG_EXEC_BACKEND_TRACEPOINT, true, why, why_len);
	if (r < 0) {
		if (why && why_len) {
			char tmp[256];

			snprintf(tmp, sizeof(tmp), "%s", why);
			set_why(why, why_len, r, "%s; %s (is this kernel built with BTF and BPF enabled?)",
				tp_why, tmp);
		}
		return r;
	}
	for (int m = 0; m < M__EXEC_COUNT; m++) {
		k->fds[m] = fcntl(bpf_map__fd(obj_map(k->exec->obj, m)), F_DUPFD_CLOEXEC, 3);
		if (k->fds[m] < 0)
			return set_why(why, why_len, -errno, "cannot dup a map fd: %s", strerror(errno));
	}
	ctl.active_gen = 0;
	ctl.abi_version = TG_ABI_VERSION;
	ctl.build_id = objects_build_id();
	ctl.exec_backend = k->backend == TG_EXEC_BACKEND_LSM ? TG_ABI_BACKEND_LSM : TG_ABI_BACKEND_TRACEPOINT;
	if (bpf_map_update_elem(k->fds[M_CONTROL], &zero, &ctl, BPF_ANY) < 0)
		return set_why(why, why_len, -errno, "cannot initialize tg_control: %s", strerror(errno));

	r = load_connect(k, cwhy, sizeof(cwhy));
	if (r == 0) {
		k->fds[M_NET4] = fcntl(bpf_map__fd(k->connect->maps.tg_net4), F_DUPFD_CLOEXEC, 3);
		k->fds[M_NET6] = fcntl(bpf_map__fd(k->connect->maps.tg_net6), F_DUPFD_CLOEXEC, 3);
		k->fds[M_SHARED] = fcntl(bpf_map__fd(k->connect->maps.tg_shared), F_DUPFD_CLOEXEC, 3);
		k->fds[M_INSPECT_SK] = fcntl(bpf_map__fd(k->connect->maps.tg_inspect_sk), F_DUPFD_CLOEXEC, 3);
		if (load_dns(k, cwhy, sizeof(cwhy)) < 0 && opts->verbose)
			fprintf(stderr, "toolguard: DNS learning unavailable: %s\n", cwhy);
		if (load_stream(k, cwhy, sizeof(cwhy)) < 0 && opts->verbose)
			fprintf(stderr, "toolguard: CONNECT/SNI checks unavailable: %s\n", cwhy);
	} else if (opts->verbose) {
		fprintf(stderr, "toolguard: connect hooks unavailable: %s\n", cwhy);
	}
	return pin_all(k, pin_dir, why, why_len);
}

/* Reuse pins of an earlier run when they are complete, of this ABI and of
 * these very programs. */
static int try_adopt(struct tg_kernel *k)
{
	char path[PATH_MAX];
	struct tg_abi_control ctl;
	__u32 zero = 0;

	for (int m = 0; m < M__COUNT; m++) {
		snprintf(path, sizeof(path), "%s/maps/%s", k->pin_dir, map_names[m]);
		k->fds[m] = bpf_obj_get(path);
		if (m < M__EXEC_COUNT && k->fds[m] < 0)
			goto fail;
		if (k->fds[m] >= 0)
			(void)fcntl(k->fds[m], F_SETFD, FD_CLOEXEC);
	}
	if (bpf_map_lookup_elem(k->fds[M_CONTROL], &zero, &ctl) < 0 || ctl.abi_version != TG_ABI_VERSION ||
	    ctl.build_id != objects_build_id())
		goto fail;
	snprintf(path, sizeof(path), "%s/links/%s", k->pin_dir, L_EXEC);
	if (!path_exists(path))
		goto fail;
	/* the value sizes tell an incompatible layout even under the same version */
	{
		struct bpf_map_info info = {0};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(k->fds[M_STRS], &info, &len) < 0 ||
		    info.key_size != sizeof(struct tg_abi_str_key) ||
		    info.value_size != sizeof(struct tg_abi_refs))
			goto fail;
	}
	k->backend =
	    ctl.exec_backend == TG_ABI_BACKEND_LSM ? TG_EXEC_BACKEND_LSM : TG_EXEC_BACKEND_TRACEPOINT;
	snprintf(path, sizeof(path), "%s/links/%s", k->pin_dir, connect_links[0]);
	k->connect_ok = k->fds[M_NET4] >= 0 && path_exists(path);
	snprintf(path, sizeof(path), "%s/links/%s", k->pin_dir, L_DNS);
	k->dns_ok = k->fds[M_HOSTS] >= 0 && path_exists(path);
	snprintf(path, sizeof(path), "%s/links/%s", k->pin_dir, L_STREAM);
	k->stream_ok = k->fds[M_STREAMS] >= 0 && path_exists(path);
	k->adopted = true;
	return 0;
fail:
	close_fds(k);
	return -ENOENT;
}

static int handle_record(void *ctx, void *data, size_t size);

static int open_events(struct tg_kernel *k, char *why, size_t why_len)
{
	k->rb = ring_buffer__new(k->fds[M_EVENTS], handle_record, k, NULL);
	if (!k->rb)
		return set_why(why, why_len, -errno, "cannot open the event ring buffer: %s",
			       strerror(errno));
	k->watch_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (k->watch_epfd < 0)
		return set_why(why, why_len, -errno, "epoll_create1: %s", strerror(errno));
	return 0;
}

int tg_kernel_open(const struct tg_kernel_options *opts, struct tg_kernel **ret, char *why, size_t why_len)
{
	static const struct tg_kernel_options defaults = {0};
	struct tg_kernel *k;
	int r;

	if (!opts)
		opts = &defaults;
	if (geteuid() != 0)
		return set_why(why, why_len, -EPERM,
			       "loading BPF programs needs root (CAP_BPF, CAP_SYS_ADMIN)");
	k = calloc(1, sizeof(*k));
	if (!k)
		return set_why(why, why_len, -ENOMEM, "out of memory");
	for (int i = 0; i < M__COUNT; i++)
		k->fds[i] = -1;
	k->watch_epfd = -1;
	k->verbose = opts->verbose;
	if (opts->pin_dir && (opts->pin_dir[0] != '/' || strlen(opts->pin_dir) >= sizeof(k->pin_dir))) {
		free(k);
		return set_why(why, why_len, -EINVAL, "pin directory must be an absolute path under %s",
			       BPF_FS_ROOT);
	}
	snprintf(k->pin_dir, sizeof(k->pin_dir), "%s", opts->pin_dir ? opts->pin_dir : TG_PIN_DIR);
	snprintf(k->pin_new, sizeof(k->pin_new), "%s-new", k->pin_dir);
	snprintf(k->pin_old, sizeof(k->pin_old), "%s-old", k->pin_dir);
	libbpf_set_print(opts->verbose ? verbose_print : silent_print);

	r = ensure_bpffs();
	if (r < 0) {
		set_why(why, why_len, r, "no BPF filesystem at %s and mounting one failed: %s", BPF_FS_ROOT,
			strerror(-r));
		goto fail;
	}
	/* a half-finished replacement from a run that died: its programs only
	 * duplicate the ones in pin_dir */
	if (path_exists(k->pin_new))
		(void)remove_pin_dir(k->pin_new);
	if (path_exists(k->pin_old))
		(void)remove_pin_dir(k->pin_old);

	if (!opts->replace && path_exists(k->pin_dir) && try_adopt(k) == 0) {
		r = open_events(k, why, why_len);
		if (r < 0)
			goto fail;
		*ret = k;
		return 0;
	}
	if (path_exists(k->pin_dir)) {
		k->replace_pins = true; /* incompatible pins: they enforce until our first apply */
		r = fresh_load(k, opts, k->pin_new, why, why_len);
	} else {
		r = fresh_load(k, opts, k->pin_dir, why, why_len);
	}
	if (r < 0) {
		(void)remove_pin_dir(k->replace_pins ? k->pin_new : k->pin_dir);
		goto fail;
	}
	r = open_events(k, why, why_len);
	if (r < 0)
		goto fail;
	*ret = k;
	return 0;
fail:
	tg_kernel_close(k);
	return r;
}

void tg_kernel_close(struct tg_kernel *k)
{
	if (!k)
		return;
	ring_buffer__free(k->rb);
	tg_watch_free(k->watch);
	if (k->watch_epfd >= 0)
		close(k->watch_epfd);
	/* destroying closes link fds; the pins keep the attachments */
	if (k->stream)
		stream_guard__destroy(k->stream);
	if (k->dns)
		dns_guard__destroy(k->dns);
	if (k->connect)
		connect_guard__destroy(k->connect);
	if (k->exec)
		exec_guard__destroy(k->exec);
	close_fds(k);
	tg_compiled_free(k->compiled);
	free(k);
}

int tg_kernel_unload_at(const char *pin_dir, char *why, size_t why_len)
{
	char path[PATH_MAX], dirs[3][PATH_MAX];
	int fd, r = 0, r2;

	if (!pin_dir)
		pin_dir = TG_PIN_DIR;
	/* first stop deciding (immediate, even if something still holds a link) */
	snprintf(path, sizeof(path), "%s/maps/tg_gens", pin_dir);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		for (__u32 g = 0; g < 2; g++) {
			struct tg_abi_gen gen;

			if (bpf_map_lookup_elem(fd, &g, &gen) == 0) {
				gen.mode = TG_ABI_MODE_OFF;
				(void)bpf_map_update_elem(fd, &g, &gen, BPF_ANY);
			}
		}
		close(fd);
	}
	snprintf(dirs[0], sizeof(dirs[0]), "%s-new", pin_dir);
	snprintf(dirs[1], sizeof(dirs[1]), "%s-old", pin_dir);
	snprintf(dirs[2], sizeof(dirs[2]), "%s", pin_dir);
	for (int i = 0; i < 3; i++) {
		if (!path_exists(dirs[i]))
			continue;
		r2 = remove_pin_dir(dirs[i]);
		if (r2 < 0 && r == 0)
			r = set_why(why, why_len, r2, "cannot remove %s: %s", dirs[i], strerror(-r2));
	}
	return r;
}

int tg_kernel_unload(char *why, size_t why_len)
{
	return tg_kernel_unload_at(NULL, why, why_len);
}

enum tg_exec_backend tg_kernel_exec_backend(const struct tg_kernel *k)
{
	return k ? k->backend : TG_EXEC_BACKEND_NONE;
}

const char *tg_kernel_connect_backend(const struct tg_kernel *k)
{
	return k && k->connect_ok ? "cgroup" : "none";
}

bool tg_kernel_stream_checks(const struct tg_kernel *k)
{
	return k && k->stream_ok;
}

bool tg_kernel_dns_learning(const struct tg_kernel *k)
{
	return k && k->dns_ok;
}

const char *tg_kernel_backend_note(const struct tg_kernel *k)
{
	return k ? k->backend_note : "";
}

bool tg_kernel_adopted(const struct tg_kernel *k)
{
	return k && k->adopted;
}

const struct tg_compiled *tg_kernel_compiled(const struct tg_kernel *k)
{
	return k ? k->compiled : NULL;
}

/* ---------- generations ---------- */

static int read_control(struct tg_kernel *k, struct tg_abi_control *ret)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(k->fds[M_CONTROL], &zero, ret) < 0)
		return -errno;
	ret->active_gen &= 1;
	return 0;
}

/* Generation byte of a key, per map. */
static int key_gen(int m, const void *key)
{
	switch (m) {
	case M_STRS:
	case M_RSTRS:
		return ((const struct tg_abi_str_key *)key)->gen;
	case M_INODES:
		return ((const struct tg_abi_inode_key *)key)->gen;
	case M_EXEMPT:
		return ((const struct tg_abi_exempt_key *)key)->gen;
	case M_AFFIX:
		return ((const struct tg_abi_affix_key *)key)->gen;
	case M_HOSTS:
		return ((const struct tg_abi_host_key *)key)->gen;
	case M_NET4:
		return ((const struct tg_abi_net4_key *)key)->gen;
	case M_NET6:
		return ((const struct tg_abi_net6_key *)key)->gen;
	default:
		return -1;
	}
}

static size_t key_size(int m)
{
	switch (m) {
	case M_STRS:
	case M_RSTRS:
		return sizeof(struct tg_abi_str_key);
	case M_INODES:
		return sizeof(struct tg_abi_inode_key);
	case M_EXEMPT:
		return sizeof(struct tg_abi_exempt_key);
	case M_AFFIX:
		return sizeof(struct tg_abi_affix_key);
	case M_HOSTS:
		return sizeof(struct tg_abi_host_key);
	case M_NET4:
		return sizeof(struct tg_abi_net4_key);
	case M_NET6:
		return sizeof(struct tg_abi_net6_key);
	default:
		return 0;
	}
}

/* Delete every key of generation gen in the policy maps; clear its tools.
 * Keys are collected first: deleting while walking an LPM trie restarts the walk. */
static int purge_gen(struct tg_kernel *k, unsigned gen)
{
	static const int maps[] = {M_STRS, M_RSTRS, M_INODES, M_EXEMPT, M_AFFIX, M_NET4, M_NET6, M_HOSTS};
	struct tg_abi_tool zero_tool = {0};
	int r = 0;

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		int m = maps[i], fd = k->fds[m];
		size_t ks = key_size(m), n = 0, cap = 0;
		unsigned char cur[sizeof(struct tg_abi_str_key)] = {0}, next[sizeof(struct tg_abi_str_key)];
		unsigned char *keys = NULL;
		bool have = false;

		if (fd < 0)
			continue;
		while (bpf_map_get_next_key(fd, have ? cur : NULL, next) == 0) {
			if (key_gen(m, next) == (int)gen) {
				if (n == cap) {
					size_t ncap = cap ? cap * 2 : 256;
					unsigned char *nk = realloc(keys, ncap * ks);

					if (!nk) {
						r = -ENOMEM;
						break;
					}
					keys = nk;
					cap = ncap;
				}
				memcpy(keys + n * ks, next, ks);
				n++;
			}
			memcpy(cur, next, ks);
			have = true;
		}
		for (size_t j = 0; j < n; j++)
			if (bpf_map_delete_elem(fd, keys + j * ks) < 0 && errno != ENOENT)
				r = -errno;
		free(keys);
	}
	for (__u32 i = 0; i < TG_ABI_MAX_TOOLS; i++) {
		__u32 idx = gen * TG_ABI_MAX_TOOLS + i;
		struct tg_abi_tool t;

		if (bpf_map_lookup_elem(k->fds[M_TOOLS], &idx, &t) == 0 && (t.flags & TG_ABI_TOOL_PRESENT))
			(void)bpf_map_update_elem(k->fds[M_TOOLS], &idx, &zero_tool, BPF_ANY);
	}
	return r;
}

#define WRITE_ENTRIES(m, keys, vals, n, vsize, T)                                                            \
	do {                                                                                                 \
		for (size_t _i = 0; _i < (n); _i++) {                                                        \
			T _k = (keys)[_i];                                                                   \
			_k.gen = (__u8)gen;                                                                  \
			if (k->fds[m] < 0)                                                                   \
				break;                                                                       \
			if (bpf_map_update_elem(k->fds[m], &_k, (const char *)(vals) + _i * (vsize),         \
						BPF_ANY) < 0)                                                \
				return set_why(why, why_len, -errno, "cannot write %s: %s%s", map_names[m],  \
					       strerror(errno),                                              \
					       errno == E2BIG || errno == ENOMEM                             \
						   ? " (policy too large for the map)"                       \
						   : "");                                                    \
		}                                                                                            \
	} while (0)

/* Host names for the DNS learner; refs of the same name merged. Returns the
 * number written (0 without the DNS program) or -errno. */
static int write_hosts(struct tg_kernel *k, const struct tg_compiled *c, unsigned gen, char *why,
		       size_t why_len)
{
	const struct tg_compiled_host *hosts = NULL;
	size_t n = tg_compiled_hosts(c, &hosts);
	int written = 0;

	if (k->fds[M_HOSTS] < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const struct tg_compiled_host *h = &hosts[i];
		struct tg_abi_host_key key = {.gen = (__u8)gen, .wildcard = h->wildcard ? 1 : 0};
		struct tg_abi_net_refs val = {0};
		size_t len = h->name ? strlen(h->name) : 0;
		size_t p = 0;

		if (len == 0 || len >= TG_ABI_HOST_MAX)
			continue; /* longer names cannot be learned: documented limit */
		memcpy(key.name, h->name, len);
		(void)bpf_map_lookup_elem(k->fds[M_HOSTS], &key, &val);
		/* ports beyond one ref's room: more refs of the same matcher */
		do {
			struct tg_abi_net_ref *r;

			if (val.n >= TG_ABI_NET_REFS)
				return set_why(why, why_len, -E2BIG,
					       "host %s: more than %u rules or port groups on one name",
					       h->name, TG_ABI_NET_REFS);
			r = &val.ref[val.n++];
			memset(r, 0, sizeof(*r));
			r->tool = h->tool;
			r->matcher = h->matcher;
			for (; p < h->n_ports && r->n_ports < TG_ABI_NET_PORTS; p++)
				r->ports[r->n_ports++] = h->ports[p];
		} while (p < h->n_ports);
		if (bpf_map_update_elem(k->fds[M_HOSTS], &key, &val, BPF_ANY) < 0)
			return set_why(why, why_len, -errno, "cannot write tg_hosts: %s", strerror(errno));
		written++;
	}
	return written;
}

/* The lengths of the names write_hosts() wrote, for dns_guard's quick
 * "no name this long" test; returns TG_ABI_GEN_HOST_LENS. */
static __u32 host_lens(const struct tg_compiled *c, struct tg_abi_gen *g)
{
	const struct tg_compiled_host *hosts = NULL;
	size_t n = tg_compiled_hosts(c, &hosts);

	memset(g->host_lens, 0, sizeof(g->host_lens));
	memset(g->wild_lens, 0, sizeof(g->wild_lens));
	for (size_t i = 0; i < n; i++) {
		size_t len = hosts[i].name ? strlen(hosts[i].name) : 0;
		__u64 *bits = hosts[i].wildcard ? g->wild_lens : g->host_lens;

		if (len == 0 || len >= TG_ABI_HOST_MAX)
			continue; /* not written (write_hosts) */
		bits[len / 64] |= 1ULL << (len % 64);
	}
	return TG_ABI_GEN_HOST_LENS;
}

static int write_gen(struct tg_kernel *k, const struct tg_compiled *c, unsigned gen, char *why,
		     size_t why_len)
{
	static const __u8 one = 1;

	if (c->n_tools > TG_ABI_MAX_TOOLS)
		return set_why(why, why_len, -E2BIG, "too many tools (%zu, at most %u)", c->n_tools,
			       TG_ABI_MAX_TOOLS);
	for (size_t i = 0; i < c->n_tools; i++) {
		__u32 idx = gen * TG_ABI_MAX_TOOLS + (__u32)i;

		if (bpf_map_update_elem(k->fds[M_TOOLS], &idx, &c->tools[i], BPF_ANY) < 0)
			return set_why(why, why_len, -errno, "cannot write tg_tools: %s", strerror(errno));
	}
	WRITE_ENTRIES(M_STRS, c->str_keys, c->str_vals, c->n_strs, sizeof(struct tg_abi_refs),
		      struct tg_abi_str_key);
	WRITE_ENTRIES(M_RSTRS, c->rstr_keys, c->rstr_vals, c->n_rstrs, sizeof(struct tg_abi_refs),
		      struct tg_abi_str_key);
	WRITE_ENTRIES(M_INODES, c->inode_keys, c->inode_vals, c->n_inodes, sizeof(struct tg_abi_refs),
		      struct tg_abi_inode_key);
	for (size_t i = 0; i < c->n_exempt; i++) {
		struct tg_abi_exempt_key ek = c->exempt_keys[i];

		ek.gen = (__u8)gen;
		if (bpf_map_update_elem(k->fds[M_EXEMPT], &ek, &one, BPF_ANY) < 0)
			return set_why(why, why_len, -errno, "cannot write tg_exempt: %s", strerror(errno));
	}
	WRITE_ENTRIES(M_AFFIX, c->affix_keys, c->affix_vals, c->n_affix, sizeof(struct tg_abi_affix_val),
		      struct tg_abi_affix_key);
	WRITE_ENTRIES(M_NET4, c->net4_keys, c->net4_vals, c->n_net4, sizeof(struct tg_abi_net_refs),
		      struct tg_abi_net4_key);
	WRITE_ENTRIES(M_NET6, c->net6_keys, c->net6_vals, c->n_net6, sizeof(struct tg_abi_net_refs),
		      struct tg_abi_net6_key);
	return write_hosts(k, c, gen, why, why_len);
}

/* Move freshly pinned programs into pin_dir; the old ones detach. */
static void promote_pins(struct tg_kernel *k)
{
	if (!k->replace_pins)
		return;
	if (rename(k->pin_dir, k->pin_old) == 0) {
		if (rename(k->pin_new, k->pin_dir) < 0)
			(void)rename(k->pin_old, k->pin_dir);
		else
			(void)remove_pin_dir(k->pin_old);
	}
	k->replace_pins = false;
}

static void watch_swap(struct tg_kernel *k, struct tg_watch *w)
{
	int ofd = tg_watch_fd(k->watch), nfd = tg_watch_fd(w);

	if (ofd >= 0)
		(void)epoll_ctl(k->watch_epfd, EPOLL_CTL_DEL, ofd, NULL);
	tg_watch_free(k->watch);
	k->watch = w;
	if (nfd >= 0) {
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = nfd};

		(void)epoll_ctl(k->watch_epfd, EPOLL_CTL_ADD, nfd, &ev);
	}
}

int tg_kernel_apply_compiled(struct tg_kernel *k, const struct tg_policy *p, struct tg_compiled *c, char *why,
			     size_t why_len)
{
	struct tg_abi_control ctl;
	struct tg_abi_gen gen_val, cur;
	struct tg_watch *w = NULL;
	unsigned g;
	__u32 gi;
	int r;

	r = read_control(k, &ctl);
	if (r < 0) {
		tg_compiled_free(c);
		return set_why(why, why_len, r, "cannot read tg_control: %s", strerror(-r));
	}
	g = ctl.active_gen ^ 1;
	gi = ctl.active_gen;
	if (bpf_map_lookup_elem(k->fds[M_GENS], &gi, &cur) < 0)
		memset(&cur, 0, sizeof(cur));

	/* 1. leftovers of an interrupted apply */
	(void)purge_gen(k, g);
	/* 2. the new generation */
	r = write_gen(k, c, g, why, why_len);
	if (r < 0) {
		(void)purge_gen(k, g);
		tg_compiled_free(c);
		return r;
	}
	gen_val = c->gen;
	if (r > 0)
		gen_val.flags |= TG_ABI_GEN_HOSTS | host_lens(c, &gen_val);
	if (k->apply_hook) /* addresses the daemon resolved: in force from the swap on, no gap */
		k->apply_hook(k, c, g, k->apply_hook_data);
	gen_val.seen_epoch = cur.seen_epoch + 1; /* new rules: ask about every inode again */
	gen_val.n_tools = (__u32)c->n_tools;
	memcpy(gen_val.inspect_ports, k->inspect_ports, sizeof(gen_val.inspect_ports));
	if (k->inspect_all)
		gen_val.flags |= TG_ABI_GEN_INSPECT_ALL;
	gi = g;
	if (bpf_map_update_elem(k->fds[M_GENS], &gi, &gen_val, BPF_ANY) < 0) {
		r = -errno;
		(void)purge_gen(k, g);
		tg_compiled_free(c);
		return set_why(why, why_len, r, "cannot write tg_gens: %s", strerror(-r));
	}
	c->gen = gen_val;
	/* 3. the swap */
	ctl.active_gen = g;
	if (bpf_map_update_elem(k->fds[M_CONTROL], &(__u32){0}, &ctl, BPF_ANY) < 0) {
		r = -errno;
		(void)purge_gen(k, g);
		tg_compiled_free(c);
		return set_why(why, why_len, r, "cannot switch generations: %s", strerror(-r));
	}
	/* 4. grace period, then the old generation goes */
	nanosleep(&(struct timespec){0, SWAP_GRACE_NS}, NULL);
	(void)purge_gen(k, g ^ 1);

	promote_pins(k);
	tg_compiled_free(k->compiled);
	k->compiled = c;
	k->policy = p;
	if (tg_watch_new(c, &w) < 0)
		w = NULL;
	watch_swap(k, w);
	return 0;
}

void tg_kernel_set_inspect(struct tg_kernel *k, const struct tg_config *c)
{
	if (!k || !c)
		return;
	memcpy(k->inspect_ports, c->inspect_ports, sizeof(k->inspect_ports)); /* same size: asserted above */
	k->inspect_all = c->inspect_all;
}

int tg_kernel_apply_policy(struct tg_kernel *k, const struct tg_policy *p, enum tg_mode mode, char *why,
			   size_t why_len)
{
	struct tg_compiled *c = NULL;
	int r;

	if (!k || !p)
		return set_why(why, why_len, -EINVAL, "no policy");
	r = tg_compile_policy(p, mode, &c, why, why_len);
	if (r < 0)
		return r;
	c->gen.mode = mode == TG_MODE_MONITOR ? TG_ABI_MODE_MONITOR : TG_ABI_MODE_ENFORCE;
	return tg_kernel_apply_compiled(k, p, c, why, why_len);
}

/* ---------- inode updates (watcher, hash requests) ---------- */

int tg_kernel_inode_update(struct tg_kernel *k, const struct tg_abi_inode_key *key,
			   const struct tg_abi_refs *val)
{
	struct tg_abi_control ctl;
	struct tg_abi_inode_key ik = *key;
	int r = read_control(k, &ctl);

	if (r < 0)
		return r;
	ik.gen = (__u8)ctl.active_gen;
	{
		struct tg_abi_refs old;

		if (bpf_map_lookup_elem(k->fds[M_INODES], &ik, &old) == 0)
			tg_digest_entry(&k->inode_writes, -1, TG_TAMPER_TAG_INODES, &ik, sizeof(ik), &old,
					sizeof(old));
	}
	if (bpf_map_update_elem(k->fds[M_INODES], &ik, val, BPF_ANY) < 0)
		return -errno;
	tg_digest_entry(&k->inode_writes, 1, TG_TAMPER_TAG_INODES, &ik, sizeof(ik), val, sizeof(*val));
	return 0;
}

int tg_kernel_inode_delete(struct tg_kernel *k, const struct tg_abi_inode_key *key)
{
	struct tg_abi_control ctl;
	struct tg_abi_inode_key ik = *key;
	int r = read_control(k, &ctl);

	if (r < 0)
		return r;
	ik.gen = (__u8)ctl.active_gen;
	{
		struct tg_abi_refs old;

		if (bpf_map_lookup_elem(k->fds[M_INODES], &ik, &old) == 0)
			tg_digest_entry(&k->inode_writes, -1, TG_TAMPER_TAG_INODES, &ik, sizeof(ik), &old,
					sizeof(old));
	}
	if (bpf_map_delete_elem(k->fds[M_INODES], &ik) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* ---------- for resolve.c ---------- */

void tg_kernel_set_apply_hook(struct tg_kernel *k, tg_kernel_apply_hook_fn fn, void *userdata)
{
	k->apply_hook = fn;
	k->apply_hook_data = userdata;
}

void tg_kernel_set_host_namer(struct tg_kernel *k, tg_kernel_namer_fn fn, void *userdata)
{
	k->namer = fn;
	k->namer_data = userdata;
}

int tg_kernel_net_fd(const struct tg_kernel *k, int family)
{
	if (!k)
		return -1;
	return family == 2 /* AF_INET */ ? k->fds[M_NET4] : k->fds[M_NET6];
}

int tg_kernel_shared_fd(const struct tg_kernel *k)
{
	return k ? k->fds[M_SHARED] : -1;
}

static uint64_t tai_now_ns(void)
{
	struct timespec t;

	if (clock_gettime(CLOCK_TAI, &t) < 0)
		return 0;
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

size_t tg_kernel_shared_count(const struct tg_kernel *k)
{
	struct tg_abi_shared_key key, next;
	int fd = tg_kernel_shared_fd(k);
	uint64_t now = tai_now_ns(), exp;
	bool first = true;
	size_t n = 0;

	/* bounded: an LRU map changes while it is walked */
	for (unsigned i = 0; fd >= 0 && i < 2 * TG_ABI_SHARED_ENTRIES; i++) {
		if (bpf_map_get_next_key(fd, first ? NULL : &key, &next) < 0)
			break;
		key = next;
		first = false;
		if (bpf_map_lookup_elem(fd, &key, &exp) == 0 && exp > now)
			n++;
	}
	return n;
}

bool tg_kernel_shared_addr(const struct tg_kernel *k, int family, const uint8_t *addr, int64_t *ret_left_sec)
{
	struct tg_abi_shared_key key;
	int fd = tg_kernel_shared_fd(k);
	uint64_t now = tai_now_ns(), exp;

	if (fd < 0 || (family != 2 /* AF_INET */ && family != 10 /* AF_INET6 */))
		return false;
	memset(&key, 0, sizeof(key));
	key.family = (__u32)family;
	memcpy(key.addr, addr, family == 2 ? 4 : 16);
	if (bpf_map_lookup_elem(fd, &key, &exp) < 0 || exp <= now)
		return false;
	if (ret_left_sec)
		*ret_left_sec = (int64_t)((exp - now) / 1000000000u);
	return true;
}

int tg_kernel_active_gen(struct tg_kernel *k)
{
	struct tg_abi_control ctl;
	int r = read_control(k, &ctl);

	return r < 0 ? r : (int)ctl.active_gen;
}

/* ---------- for tamper.c ---------- */

int tg_kernel_map_fd(const struct tg_kernel *k, const char *name)
{
	for (int m = 0; k && m < M__COUNT; m++)
		if (strcmp(map_names[m], name) == 0)
			return k->fds[m];
	return -1;
}

const char *tg_kernel_pin_dir(const struct tg_kernel *k)
{
	return k->replace_pins ? k->pin_new : k->pin_dir;
}

void tg_kernel_inode_writes(const struct tg_kernel *k, struct tg_digest *ret)
{
	*ret = k->inode_writes;
}

static int watch_update(const struct tg_abi_inode_key *key, const struct tg_abi_refs *val, const char *path,
			void *userdata)
{
	struct tg_kernel *k = userdata;
	int r;

	(void)path;
	if (!val)
		return tg_kernel_inode_delete(k, key);
	r = tg_kernel_inode_update(k, key, val);
	if (r == 0 && k->fds[M_SEEN] >= 0) {
		/* The watcher just judged the file now on this inode number; what
		 * the kernel remembers about it (its i_generation) may be of an
		 * earlier file there, which would make the next exec look stale
		 * and only be stopped after it started. Forget it: the next exec
		 * records the current file. */
		struct tg_abi_seen_key sk = {.dev = key->dev, .ino = key->ino};

		(void)bpf_map_delete_elem(k->fds[M_SEEN], &sk);
	}
	return r;
}

int tg_kernel_watch_fd(const struct tg_kernel *k)
{
	return k ? k->watch_epfd : -1;
}

int tg_kernel_watch_process(struct tg_kernel *k)
{
	if (!k || !k->watch)
		return 0;
	return tg_watch_process(k->watch, watch_update, k);
}

/* ---------- events ---------- */

int tg_kernel_event_fd(const struct tg_kernel *k)
{
	return k && k->rb ? ring_buffer__epoll_fd(k->rb) : -1;
}

uint64_t tg_kernel_dropped(const struct tg_kernel *k)
{
	int ncpu = libbpf_num_possible_cpus();
	__u32 idx = TG_ABI_DROP_RINGBUF;
	uint64_t sum = 0;
	__u64 *v;

	if (!k || ncpu <= 0 || k->fds[M_DROPPED] < 0)
		return 0;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return 0;
	if (bpf_map_lookup_elem(k->fds[M_DROPPED], &idx, v) == 0)
		for (int i = 0; i < ncpu; i++)
			sum += v[i];
	free(v);
	return sum;
}

static void copy_str(char *dst, size_t dlen, const char *src, size_t slen)
{
	size_t n = strnlen(src, slen);

	if (n >= dlen)
		n = dlen - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

static void fill_tool(struct tg_kernel *k, struct tg_kernel_event *e, unsigned tool, unsigned matcher,
		      unsigned gen, uint64_t serial)
{
	const struct tg_tool *t = NULL;

	e->tool = NULL;
	e->tool_id[0] = 0;
	snprintf(e->matcher, sizeof(e->matcher), "?");
	/* events decided under another generation than the policy we know cannot be named */
	if (!k->compiled || k->compiled->gen.policy_serial != serial || !k->policy)
		return;
	{
		struct tg_abi_control ctl;

		if (read_control(k, &ctl) == 0 && ctl.active_gen != gen)
			return;
	}
	t = tg_compiled_tool(k->compiled, tool);
	if (!t)
		return;
	e->tool = t;
	copy_str(e->tool_id, sizeof(e->tool_id), t->id ? t->id : "", sizeof(e->tool_id));
	tg_compiled_matcher_name(k->compiled, tool, matcher, e->matcher, sizeof(e->matcher));
}

static uint64_t to_realtime(struct tg_kernel *k, uint64_t tai_ns)
{
	return tai_ns - (uint64_t)k->tai_offset_ns;
}

static void proc_exe(uint32_t pid, char *buf, size_t len)
{
	char p[64];
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/%" PRIu32 "/exe", pid);
	n = readlink(p, buf, len - 1);
	buf[n > 0 ? (size_t)n : 0] = 0;
}

/* The connect hooks cannot see the parent: ask /proc (0 when gone). */
static uint32_t proc_ppid(uint32_t pid)
{
	char p[64], buf[512], *rp;
	uint32_t ppid = 0;
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "/proc/%" PRIu32 "/stat", pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	rp = strrchr(buf, ')'); /* comm may contain spaces and parentheses */
	if (rp && sscanf(rp + 1, " %*c %" SCNu32, &ppid) != 1)
		ppid = 0;
	return ppid;
}

static void decode_exec(struct tg_kernel *k, const struct tg_abi_exec_event *r)
{
	struct tg_kernel_event *e = &k->ev;

	memset(e, 0, sizeof(*e));
	e->kind = TG_EVENT_EXEC;
	e->verdict = (enum tg_verdict)r->verdict;
	e->would_block = r->flags & TG_ABI_EV_WOULD_BLOCK;
	e->exempt = r->flags & TG_ABI_EV_EXEMPT;
	e->realtime_ns = to_realtime(k, r->hdr.ktime_tai_ns);
	fill_tool(k, e, r->tool, r->matcher, r->gen, r->policy_serial);
	e->pid = r->pid;
	e->ppid = r->ppid;
	e->uid = r->uid;
	e->gid = r->gid;
	copy_str(e->comm, sizeof(e->comm), r->comm, sizeof(r->comm));
	/* the script, when that is what matched, else the executed file */
	if ((r->flags & TG_ABI_EV_BY_SCRIPT) && r->script[0])
		copy_str(e->exe, sizeof(e->exe), r->script, sizeof(r->script));
	else if (r->path[0])
		copy_str(e->exe, sizeof(e->exe), r->path, sizeof(r->path));
	else
		copy_str(e->exe, sizeof(e->exe), r->filename, sizeof(r->filename));
	for (unsigned i = 0; i < TG_ABI_ARGV_MAX; i++) {
		if (!r->argv[i][0] && i >= r->argc)
			break;
		copy_str(e->argv[i], sizeof(e->argv[i]), r->argv[i], sizeof(r->argv[i]));
		e->argc = i + 1;
	}
	copy_str(e->tty, sizeof(e->tty), r->tty, sizeof(r->tty));
	tg_tty_name_normalize(e->tty, sizeof(e->tty));
	e->policy_serial = r->policy_serial;
}

static void decode_connect(struct tg_kernel *k, const struct tg_abi_connect_event *r)
{
	struct tg_kernel_event *e = &k->ev;

	memset(e, 0, sizeof(*e));
	e->kind = TG_EVENT_CONNECT;
	e->verdict = (enum tg_verdict)r->verdict;
	e->would_block = r->flags & TG_ABI_EV_WOULD_BLOCK;
	e->exempt = r->flags & TG_ABI_EV_EXEMPT;
	e->realtime_ns = to_realtime(k, r->hdr.ktime_tai_ns);
	fill_tool(k, e, r->tool, r->matcher, r->gen, r->policy_serial);
	e->pid = r->pid;
	e->ppid = r->ppid;
	e->uid = r->uid;
	e->gid = r->gid;
	copy_str(e->comm, sizeof(e->comm), r->comm, sizeof(r->comm));
	proc_exe(r->pid, e->exe, sizeof(e->exe));
	if (!e->ppid)
		e->ppid = proc_ppid(r->pid);
	/* the connect hooks record neither command line nor terminal (the notice needs it) */
	(void)tg_proc_fill_event(e);
	/* a host-name rule: the name (the address was learned from its DNS answer) */
	if (e->tool && k->compiled) {
		const struct tg_compiled_host *hosts = NULL;
		size_t n = tg_compiled_hosts(k->compiled, &hosts);

		for (size_t i = 0; i < n; i++)
			if (hosts[i].tool == r->tool && hosts[i].matcher == r->matcher && hosts[i].name) {
				snprintf(e->host, sizeof(e->host), "%s%s", hosts[i].wildcard ? "*." : "",
					 hosts[i].name);
				break;
			}
	}
	e->family = (r->flags & TG_ABI_EV_V4MAPPED) ? 2 /* AF_INET */ : r->family;
	memcpy(e->addr, r->addr, sizeof(e->addr));
	e->port = r->port;
	e->protocol = r->protocol;
	e->policy_serial = r->policy_serial;
	if (k->namer)
		k->namer(e, k->namer_data);
}

/* A name seen in a stream's first bytes: the name as sent, and what the
 * sk_msg program cannot read itself (comm, parent) from /proc. */
static void decode_connect_host(struct tg_kernel *k, const struct tg_abi_connect_host_event *r)
{
	struct tg_kernel_event *e = &k->ev;
	char p[64];
	int fd;

	decode_connect(k, &r->conn);
	copy_str(e->host, sizeof(e->host), r->host, sizeof(r->host));
	if (e->comm[0])
		return;
	snprintf(p, sizeof(p), "/proc/%" PRIu32 "/comm", r->conn.pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, e->comm, sizeof(e->comm) - 1);

		e->comm[n > 0 ? (size_t)n : 0] = 0;
		e->comm[strcspn(e->comm, "\n")] = 0;
		close(fd);
	}
}

/* Real uid and groups of a process from /proc (hash requests). */
static int proc_ids(uint32_t pid, uid_t *uid, gid_t *gids, size_t *n_gids)
{
	char p[64], line[4096];
	size_t n = 0, max = *n_gids;
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%" PRIu32 "/status", pid);
	f = fopen(p, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long v;
		char *s, *end;

		if (sscanf(line, "Uid: %lu", &v) == 1)
			*uid = (uid_t)v;
		else if (sscanf(line, "Gid: %lu", &v) == 1 && n < max)
			gids[n++] = (gid_t)v;
		else if (strncmp(line, "Groups:", 7) == 0)
			for (s = line + 7; n < max; s = end) {
				v = strtoul(s, &end, 10);
				if (end == s)
					break;
				gids[n++] = (gid_t)v;
			}
	}
	fclose(f);
	*n_gids = n;
	return 0;
}

static enum tg_verdict state_verdict(enum tg_tool_state s)
{
	switch (s) {
	case TG_STATE_WARNING:
		return TG_VERDICT_WARN;
	case TG_STATE_BLOCKING:
		return TG_VERDICT_BLOCK;
	case TG_STATE_ALERT:
		return TG_VERDICT_ALERT;
	case TG_STATE_ALLOW:
		return TG_VERDICT_ALLOW;
	default:
		return TG_VERDICT_NONE;
	}
}

/* The kernel could not know this file (sha256 rules): hash it, remember the
 * answer in tg_inodes, and act as the kernel would have. judged: refs already
 * found for a script request (the interpreter's inode is then not banned). */
static void handle_hash_request(struct tg_kernel *k, const struct tg_abi_hash_request *req,
				const struct tg_abi_refs *judged)
{
	struct tg_kernel_event *e = &k->ev;
	struct tg_abi_refs refs = {0};
	struct tg_abi_inode_key ik = {.dev = req->dev, .space = TG_ABI_INODE_EXE, .ino = req->ino};
	gid_t gids[64];
	size_t n_gids = 64;
	uid_t uid = req->uid;
	enum tg_verdict best = TG_VERDICT_NONE;
	unsigned best_i = 0;
	bool best_exempt = false, interp_script = false;
	bool loader = req->hdr.type == TG_ABI_REC_LOADER_REQUEST;
	char loaded[TG_ABI_PATH_MAX] = "";
	struct timespec now;
	int r;

	if (!k->compiled || !k->policy)
		return;
	if (judged) {
		refs = *judged;
		interp_script = true;
		r = 1;
	} else if (loader) {
		/* "ld.so FILE": FILE (not the loader) is hashed and remembered */
		struct tg_abi_refs known;

		if (tg_loader_request(k->compiled, req, &refs, &ik, loaded, sizeof(loaded)) != 1)
			return;
		ik.gen = req->gen;
		/* LSM: lsm/mmap_file refused the mapping of a file already known */
		if (k->backend == TG_EXEC_BACKEND_LSM && k->fds[M_INODES] >= 0 &&
		    bpf_map_lookup_elem(k->fds[M_INODES], &ik, &known) == 0 && known.n > 0)
			return;
		r = 1;
	} else {
		r = tg_compiled_hash_request(k->compiled, req, &refs);
	}
	if (r == 1 && (refs.flags & TG_ABI_REFS_INTERP)) {
		/* a copy of an interpreter (same sha256) under another name: from
		 * now on the kernel examines its script argument */
		struct tg_abi_inode_key iik = {.dev = req->dev, .gen = req->gen, .space = TG_ABI_INODE_INTERP,
					       .ino = req->ino};
		struct tg_abi_refs ir = {.flags = refs.flags};
		const char *base = strrchr(req->path, '/');

		(void)tg_kernel_inode_update(k, &iik, &ir);
		base = base ? base + 1 : req->path;
		if (refs.n == 0) {
			/* this run may have escaped the kernel (the watcher may have
			 * added the entry only after the exec): judge its script now,
			 * after the fact; a run the kernel killed is gone already */
			if (tg_is_interpreter(k->policy, base) ||
			    tg_compiled_interp_script(k->compiled, req->pid, &refs) != 1)
				return;
			interp_script = true;
		}
	}
	if (r < 0) {
		/* Not hashed (file gone, unreadable): forget it, so the next exec asks again. */
		struct tg_abi_seen_key sk = {.dev = req->dev, .ino = req->ino};

		if (k->fds[M_SEEN] >= 0)
			(void)bpf_map_delete_elem(k->fds[M_SEEN], &sk);
		return;
	}
	if (r != 1 || refs.n == 0) {
		/* Not (or no longer) banned: drop an entry left by an earlier file on this inode number. */
		struct tg_abi_inode_key stale = {.dev = req->dev, .gen = req->gen, .space = TG_ABI_INODE_EXE,
						 .ino = req->ino};

		if (r == 0 && k->fds[M_INODES] >= 0)
			(void)bpf_map_delete_elem(k->fds[M_INODES], &stale);
		return;
	}
	if (!interp_script)
		(void)tg_kernel_inode_update(k, &ik, &refs);
	if (proc_ids(req->pid, &uid, gids, &n_gids) < 0)
		n_gids = 0;
	clock_gettime(CLOCK_REALTIME, &now);
	for (unsigned i = 0; i < refs.n && i < TG_ABI_MAX_REFS; i++) {
		const struct tg_tool *t = tg_compiled_tool(k->compiled, refs.ref[i].tool);
		enum tg_verdict v;
		bool ex = false;

		if (!t)
			continue;
		v = state_verdict(tg_tool_state_at(k->policy, t, now.tv_sec, NULL));
		if (v != TG_VERDICT_NONE && v != TG_VERDICT_ALLOW &&
		    tg_tool_exempts(t, uid, gids, n_gids, now.tv_sec)) {
			v = TG_VERDICT_ALLOW;
			ex = true;
		}
		if (v > best) {
			best = v;
			best_i = i;
			best_exempt = ex;
		}
	}
	if (best == TG_VERDICT_NONE)
		return;

	memset(e, 0, sizeof(*e));
	e->kind = TG_EVENT_EXEC;
	e->verdict = best;
	e->exempt = best_exempt;
	e->realtime_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	fill_tool(k, e, refs.ref[best_i].tool, refs.ref[best_i].matcher, req->gen,
		  k->compiled->gen.policy_serial);
	e->pid = req->pid;
	e->uid = uid;
	e->gid = n_gids ? gids[0] : 0;
	if (loader)
		copy_str(e->exe, sizeof(e->exe), loaded, sizeof(loaded));
	else
		copy_str(e->exe, sizeof(e->exe), req->path, sizeof(req->path));
	{
		char p[64];
		int fd;

		snprintf(p, sizeof(p), "/proc/%" PRIu32 "/comm", req->pid);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t n = read(fd, e->comm, sizeof(e->comm) - 1);

			e->comm[n > 0 ? (size_t)n : 0] = 0;
			e->comm[strcspn(e->comm, "\n")] = 0;
			close(fd);
		}
	}
	e->policy_serial = k->compiled->gen.policy_serial;
	/* the record has no parent, command line nor terminal: read them before the kill */
	(void)tg_proc_fill_event(e);
	/* LSM, "ld.so FILE" not mapped yet: now that tg_inodes has FILE,
	 * lsm/mmap_file refuses (and reports) its mapping; do neither here */
	if (loader && k->backend == TG_EXEC_BACKEND_LSM && !tg_loader_has_mapped(req->pid, ik.dev, ik.ino))
		return;
	if (best == TG_VERDICT_BLOCK) {
		if (k->compiled->gen.mode == TG_ABI_MODE_ENFORCE) {
			char p[64];
			struct stat st;

			/* only the process still running that file */
			snprintf(p, sizeof(p), "/proc/%" PRIu32 "/exe", req->pid);
			if (stat(p, &st) == 0 && st.st_ino == req->ino &&
			    tg_abi_dev_from_user(major(st.st_dev), minor(st.st_dev)) == req->dev)
				(void)kill((pid_t)req->pid, SIGKILL);
		} else {
			e->would_block = true;
		}
	}
	if (k->fn)
		k->fn(e, k->fn_data);
}

/* scripts[].sha256 (script_request.c): the script an interpreter is about to
 * run, judged by content and resolved path; acted upon like a hash request
 * (the process must still run the interpreter, req.ino, to be killed). */
static void handle_script_request(struct tg_kernel *k, const struct tg_abi_script_request *sr)
{
	struct tg_abi_hash_request req = {.hdr = sr->hdr, .pid = sr->pid, .uid = sr->uid, .dev = sr->dev,
					  .ino = sr->ino, .gen = sr->gen};
	struct tg_abi_refs refs;

	if (k->compiled && k->policy &&
	    tg_script_request_judge(k->compiled, sr, &refs, req.path, sizeof(req.path)) == 1)
		handle_hash_request(k, &req, &refs);
}

static int handle_record(void *ctx, void *data, size_t size)
{
	struct tg_kernel *k = ctx;
	const struct tg_abi_rec_hdr *h = data;

	if (size < sizeof(*h) || h->version != TG_ABI_VERSION || h->size > size)
		return 0;
	switch (h->type) {
	case TG_ABI_REC_EXEC:
		if (h->size != sizeof(struct tg_abi_exec_event))
			return 0;
		decode_exec(k, data);
		break;
	case TG_ABI_REC_CONNECT:
		if (h->size != sizeof(struct tg_abi_connect_event))
			return 0;
		decode_connect(k, data);
		break;
	case TG_ABI_REC_CONNECT_HOST:
		if (h->size != sizeof(struct tg_abi_connect_host_event))
			return 0;
		decode_connect_host(k, data);
		break;
	case TG_ABI_REC_HASH_REQUEST:
	case TG_ABI_REC_LOADER_REQUEST:
		if (h->size == sizeof(struct tg_abi_hash_request))
			handle_hash_request(k, data, NULL);
		return 0;
	case TG_ABI_REC_SCRIPT_REQUEST:
		if (h->size == sizeof(struct tg_abi_script_request))
			handle_script_request(k, data);
		return 0;
	default:
		return 0;
	}
	if (k->fn)
		k->fn(&k->ev, k->fn_data);
	/* a negative return stops ring_buffer__consume(); this record is consumed */
	return k->budget && --k->budget == 0 ? -EAGAIN : 0;
}

int tg_kernel_consume_max(struct tg_kernel *k, tg_kernel_event_fn fn, void *userdata, unsigned max)
{
	int r;

	if (!k || !k->rb)
		return -EBADF;
	k->fn = fn;
	k->fn_data = userdata;
	k->tai_offset_ns = tai_offset_ns();
	k->budget = max;
	r = ring_buffer__consume(k->rb);
	k->budget = 0;
	k->fn = NULL;
	k->fn_data = NULL;
	return r < 0 ? r : 0;
}

int tg_kernel_consume(struct tg_kernel *k, tg_kernel_event_fn fn, void *userdata)
{
	return tg_kernel_consume_max(k, fn, userdata, 0);
}
