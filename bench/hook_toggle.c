/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Switches loaded cgroup programs on and off in milliseconds, so that a
 * benchmark can alternate "with" and "without" in many short rounds:
 *   hook_toggle CGROUP2_DIR [--links DIR] [--sockmap MAP_PIN] [PROG_ID:TYPE ...]
 * --links DIR: the cgroup links pinned in DIR (a daemon's PIN_DIR/links,
 *   the daemon stopped): their programs are taken over and the links
 *   detached (run `toolguardd --unload --pin-dir` afterwards, as always).
 * --sockmap MAP_PIN: the sk_msg program attached to that pinned sockhash,
 *   for "stats" only (it runs when sockops puts sockets in the map).
 * PROG_ID:TYPE: a loaded program by id (TYPE: ingress, egress, sock_ops,
 *   connect4, connect6, sendmsg4, sendmsg6).
 * Commands on stdin, one answer line each:
 *   on    -> attach every program to the cgroup (BPF_F_ALLOW_MULTI)  "ok"
 *   off   -> detach them                                              "ok"
 *   only S-> attach the programs whose name contains S, detach the rest "ok"
 *   nop   -> attach an empty program ("return 1", named nop_TYPE) beside
 *            each attach type in use: with bpf_stats, its run time is the
 *            floor every program pays (dispatch and the accounting)   "ok"
 *   nopoff-> detach those                                             "ok"
 *   stats -> "stats NAME@TYPE=RUN_CNT/RUN_TIME_NS ..." (kernel.bpf_stats_enabled)
 * Programs start detached; at EOF, SIGTERM or SIGINT they are detached. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#define MAX_PROGS 16

struct hook {
	int fd;
	enum bpf_attach_type type;
	int attachable; /* 0: stats only, 2: an empty program (nop) */
	int on;
};

static struct hook hooks[MAX_PROGS];
static int n_hooks, cg = -1;
static volatile sig_atomic_t stop;

static const struct {
	const char *name;
	enum bpf_attach_type type;
} types[] = {
    {"ingress", BPF_CGROUP_INET_INGRESS},    {"egress", BPF_CGROUP_INET_EGRESS},
    {"sock_ops", BPF_CGROUP_SOCK_OPS},       {"connect4", BPF_CGROUP_INET4_CONNECT},
    {"connect6", BPF_CGROUP_INET6_CONNECT},  {"sendmsg4", BPF_CGROUP_UDP4_SENDMSG},
    {"sendmsg6", BPF_CGROUP_UDP6_SENDMSG},
};

static int add_hook(int fd, enum bpf_attach_type type, int attachable)
{
	if (n_hooks >= MAX_PROGS) {
		fprintf(stderr, "hook_toggle: more than %d programs\n", MAX_PROGS);
		return -1;
	}
	hooks[n_hooks++] = (struct hook){.fd = fd, .type = type, .attachable = attachable};
	return 0;
}

static int take_links(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d) {
		fprintf(stderr, "hook_toggle: cannot open %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		struct bpf_link_info li = {0};
		__u32 len = sizeof(li);
		char path[4096];
		int lfd, pfd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		lfd = bpf_obj_get(path);
		if (lfd < 0 || bpf_obj_get_info_by_fd(lfd, &li, &len) < 0) {
			fprintf(stderr, "hook_toggle: %s: %s\n", path, strerror(errno));
			closedir(d);
			return -1;
		}
		if (li.type != BPF_LINK_TYPE_CGROUP) { /* the exec hook: left as it is */
			close(lfd);
			continue;
		}
		pfd = bpf_prog_get_fd_by_id(li.prog_id);
		if (pfd < 0 || add_hook(pfd, li.cgroup.attach_type, 1) < 0 || bpf_link_detach(lfd) < 0) {
			fprintf(stderr, "hook_toggle: taking over %s: %s\n", path, strerror(errno));
			closedir(d);
			return -1;
		}
		close(lfd);
	}
	closedir(d);
	return 0;
}

static int take_sockmap(const char *pin)
{
	__u32 ids[4], n = 4;
	int mfd = bpf_obj_get(pin);

	if (mfd < 0 || bpf_prog_query(mfd, BPF_SK_MSG_VERDICT, 0, NULL, ids, &n) < 0) {
		fprintf(stderr, "hook_toggle: %s: no sk_msg program found (%s), not counted\n", pin, strerror(errno));
		return 0; /* stats only: not worth failing the benchmark over */
	}
	for (__u32 i = 0; i < n; i++) {
		int pfd = bpf_prog_get_fd_by_id(ids[i]);

		if (pfd >= 0 && add_hook(pfd, BPF_SK_MSG_VERDICT, 0) < 0)
			return -1;
	}
	close(mfd);
	return 0;
}

/* An empty program of the type of each attach type in use. */
static int add_nops(void)
{
	const struct bpf_insn ret1[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1},
	    {.code = BPF_JMP | BPF_EXIT},
	};
	int n = n_hooks;

	for (int i = 0; i < n; i++) {
		enum bpf_attach_type t = hooks[i].type;
		enum bpf_prog_type pt;
		char name[16];
		int dup = 0, fd;

		for (int j = 0; j < i; j++)
			dup |= hooks[j].type == t;
		if (dup || hooks[i].attachable != 1)
			continue;
		switch (t) {
		case BPF_CGROUP_INET_INGRESS:
		case BPF_CGROUP_INET_EGRESS:
			pt = BPF_PROG_TYPE_CGROUP_SKB;
			break;
		case BPF_CGROUP_SOCK_OPS:
			pt = BPF_PROG_TYPE_SOCK_OPS;
			break;
		default:
			pt = BPF_PROG_TYPE_CGROUP_SOCK_ADDR;
			break;
		}
		LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = t);
		snprintf(name, sizeof(name), "nop_%d", (int)t);
		for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++)
			if (types[k].type == t)
				snprintf(name, sizeof(name), "nop_%s", types[k].name);
		fd = bpf_prog_load(pt, name, "GPL", ret1, 2, &o);
		if (fd < 0) {
			fprintf(stderr, "hook_toggle: cannot load an empty program: %s\n", strerror(errno));
			return -1;
		}
		if (add_hook(fd, t, 2) < 0)
			return -1;
	}
	return 0;
}

/* Attach (on) or detach the programs of kind which (1: the taken-over ones,
 * 2: the empty ones). With sub, only those whose name contains sub: the
 * others are switched the other way ("only S": on = 1, which = 1). */
static int set_hooks(int on, int which, const char *sub)
{
	int r = 0;

	for (int i = 0; i < n_hooks; i++) {
		struct hook *h = &hooks[i];
		int want = on;

		if (h->attachable != which)
			continue;
		if (sub) {
			struct bpf_prog_info pi = {0};
			__u32 len = sizeof(pi);

			if (bpf_obj_get_info_by_fd(h->fd, &pi, &len) < 0)
				continue;
			want = (strstr(pi.name, sub) != NULL) == on;
		}
		if (h->on == want)
			continue;
		if (want ? bpf_prog_attach(h->fd, cg, h->type, BPF_F_ALLOW_MULTI)
			 : bpf_prog_detach2(h->fd, cg, h->type)) {
			fprintf(stderr, "hook_toggle: %s: %s\n", want ? "attach" : "detach", strerror(errno));
			r = -1;
			continue;
		}
		h->on = want;
	}
	return r;
}

static void print_stats(void)
{
	printf("stats");
	for (int i = 0; i < n_hooks; i++) {
		struct bpf_prog_info pi = {0};
		__u32 len = sizeof(pi);

		const char *tn = "sk_msg";

		for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++)
			if (types[k].type == hooks[i].type)
				tn = types[k].name;
		if (bpf_obj_get_info_by_fd(hooks[i].fd, &pi, &len) == 0)
			printf(" %s@%s=%llu/%llu", pi.name, tn, (unsigned long long)pi.run_cnt,
			       (unsigned long long)pi.run_time_ns);
	}
	printf("\n");
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: fgets returns */
	char line[64];
	int r = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: hook_toggle CGROUP2_DIR [--links DIR] [--sockmap MAP_PIN] [PROG_ID:TYPE ...]\n");
		return 2;
	}
	cg = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		fprintf(stderr, "hook_toggle: cannot open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	for (int i = 2; i < argc && !r; i++) {
		if (!strcmp(argv[i], "--links") && i + 1 < argc) {
			r = take_links(argv[++i]);
		} else if (!strcmp(argv[i], "--sockmap") && i + 1 < argc) {
			r = take_sockmap(argv[++i]);
		} else {
			char *colon = strchr(argv[i], ':');
			size_t t;
			int fd;

			for (t = 0; colon && t < sizeof(types) / sizeof(types[0]); t++)
				if (!strcmp(colon + 1, types[t].name))
					break;
			if (!colon || t == sizeof(types) / sizeof(types[0])) {
				fprintf(stderr, "hook_toggle: bad argument %s (PROG_ID:TYPE)\n", argv[i]);
				r = -1;
				break;
			}
			fd = bpf_prog_get_fd_by_id((__u32)strtoul(argv[i], NULL, 10));
			if (fd < 0) {
				fprintf(stderr, "hook_toggle: program %s: %s\n", argv[i], strerror(errno));
				r = -1;
				break;
			}
			r = add_hook(fd, types[t].type, 1);
		}
	}
	if (!r)
		r = add_nops();
	if (r) {
		set_hooks(0, 1, NULL);
		set_hooks(0, 2, NULL);
		return 1;
	}
	printf("ready %d programs\n", n_hooks);
	fflush(stdout);
	while (!stop && fgets(line, sizeof(line), stdin)) {
		if (!strcmp(line, "on\n"))
			printf(set_hooks(1, 1, NULL) ? "error\n" : "ok\n");
		else if (!strcmp(line, "off\n"))
			printf(set_hooks(0, 1, NULL) ? "error\n" : "ok\n");
		else if (!strncmp(line, "only ", 5) && strlen(line) > 6) {
			line[strcspn(line, "\n")] = 0;
			printf(set_hooks(1, 1, line + 5) ? "error\n" : "ok\n");
		} else if (!strcmp(line, "nop\n"))
			printf(set_hooks(1, 2, NULL) ? "error\n" : "ok\n");
		else if (!strcmp(line, "nopoff\n"))
			printf(set_hooks(0, 2, NULL) ? "error\n" : "ok\n");
		else if (!strncmp(line, "stats", 5))
			print_stats();
		else
			printf("error unknown command\n");
		fflush(stdout);
	}
	r = set_hooks(0, 1, NULL);
	r |= set_hooks(0, 2, NULL);
	return r ? 1 : 0;
}
