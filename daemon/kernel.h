/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel side of toolguardd: probe the best backends, load or adopt the
 * pinned programs and maps, compile a policy into map contents (atomic swap),
 * and deliver decoded events from the ring buffer.
 * Implemented in kernel.c / compile.c / scan.c; used by toolguardd.c.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "matcher.h"
#include "policy.h"

struct tg_kernel;

enum tg_exec_backend {
	TG_EXEC_BACKEND_NONE = 0,
	TG_EXEC_BACKEND_LSM,        /* lsm/bprm_check_security: EPERM before exec */
	TG_EXEC_BACKEND_TRACEPOINT, /* tp_btf (or raw_tp) sched_process_exec + SIGKILL */
};
const char *tg_exec_backend_name(enum tg_exec_backend b); /* "lsm", "tracepoint", "none" */

enum tg_event_kind {
	TG_EVENT_EXEC = 1,
	TG_EVENT_CONNECT = 2,
};

#define TG_EVENT_ARGV_MAX 8
#define TG_EVENT_ARG_LEN 128

struct tg_kernel_event {
	enum tg_event_kind kind;
	enum tg_verdict verdict; /* BLOCK, WARN, ALERT (ALLOW for exempt matches) */
	bool would_block;        /* monitor mode: verdict BLOCK was not enforced */
	bool exempt;
	uint64_t realtime_ns;    /* CLOCK_REALTIME of the decision */
	const struct tg_tool *tool; /* in the policy passed to the last successful apply; may be NULL */
	char tool_id[64];
	char matcher[96];        /* "executables[0].name" etc. */
	uint32_t pid, ppid, uid, gid;
	char comm[16];
	char exe[4096];          /* path of the executed file (exec) or the process's exe (connect) */
	char argv[TG_EVENT_ARGV_MAX][TG_EVENT_ARG_LEN];
	uint32_t argc;           /* entries filled in argv */
	char tty[64];            /* "pts/3", "" when none */
	/* destination (connect) */
	int family;              /* AF_INET / AF_INET6, 0 for exec */
	uint8_t addr[16];
	uint16_t port;
	uint8_t protocol;        /* IPPROTO_TCP / IPPROTO_UDP */
	char host[256];          /* when known */
	uint64_t policy_serial;
};

typedef void (*tg_kernel_event_fn)(const struct tg_kernel_event *ev, void *userdata);
/* Fills in ev->host for a connect destination the daemon resolved itself
 * (resolve.c; added by resolve): called for every decoded connect record. */
typedef void (*tg_kernel_namer_fn)(struct tg_kernel_event *ev, void *userdata);
void tg_kernel_set_host_namer(struct tg_kernel *k, tg_kernel_namer_fn fn, void *userdata);

struct tg_kernel_options {
	bool force_tracepoint; /* never try LSM (tests) */
	bool verbose;
	const char *pin_dir; /* NULL = TG_PIN_DIR; tests use their own (added by C1) */
	bool replace; /* load fresh programs even when the pins are adoptable; they take the
		       * pins' place at the first apply (tamper repair; added by tamper) */
};

/* Probe, then adopt pinned state under TG_PIN_DIR if present (no gap), else
 * load, attach and pin. Enforcement of whatever policy the pins hold continues
 * until tg_kernel_apply_policy() swaps in a new one. Logs nothing; returns -errno
 * and a reason in why (static or into buf). */
int tg_kernel_open(const struct tg_kernel_options *opts, struct tg_kernel **ret, char *why, size_t why_len);
/* Close fds; pins stay, so enforcement continues. */
void tg_kernel_close(struct tg_kernel *k);
/* Detach everything and remove TG_PIN_DIR (toolctl unload / toolguardd --unload). */
int tg_kernel_unload(char *why, size_t why_len);
/* Same for another pin directory (NULL = TG_PIN_DIR); tests (added by C1). */
int tg_kernel_unload_at(const char *pin_dir, char *why, size_t why_len);

enum tg_exec_backend tg_kernel_exec_backend(const struct tg_kernel *k);
const char *tg_kernel_connect_backend(const struct tg_kernel *k); /* "cgroup" or "none" */
/* Host name rules work through DNS answers (cgroup_skb program loaded; added by C1). */
bool tg_kernel_dns_learning(const struct tg_kernel *k);
/* Host names are checked in the first bytes of TCP streams: HTTP CONNECT lines
 * and TLS server names (sockops + sk_msg programs loaded; added by sni). */
bool tg_kernel_stream_checks(const struct tg_kernel *k);
bool tg_kernel_adopted(const struct tg_kernel *k); /* pins existed at open */
/* Addresses an allowed host name answered with (tg_shared, dns_guard.bpf.c):
 * TCP to them is decided by the TLS server name / CONNECT line, not by the
 * name rules. The number not expired (0 without the connect hooks), and
 * whether addr (4 or 16 bytes by family) is one, with the seconds left. */
size_t tg_kernel_shared_count(const struct tg_kernel *k);
bool tg_kernel_shared_addr(const struct tg_kernel *k, int family, const uint8_t *addr, int64_t *ret_left_sec);
/* Why the exec backend is not the LSM one ("" when it is, or when adopted):
 * for `toolctl status` and the start-up log (added by C1). */
const char *tg_kernel_backend_note(const struct tg_kernel *k);

/* Compile policy + mode into the maps and swap atomically. On error nothing in
 * force changes. The policy must stay alive until the next successful apply
 * (events point at its tools). Scans install locations for sha256/complex-glob
 * rules (see scan.c). */
/* Which TCP connections stream_guard inspects, from the next apply on: the
 * configuration's network.inspect_ports (or all). Before any call: only the
 * sockets connect_guard marks. */
void tg_kernel_set_inspect(struct tg_kernel *k, const struct tg_config *c);
int tg_kernel_apply_policy(struct tg_kernel *k, const struct tg_policy *p, enum tg_mode mode, char *why,
			   size_t why_len);

/* The fd to poll for events (ring buffer); consume delivers decoded events. */
int tg_kernel_event_fd(const struct tg_kernel *k);
int tg_kernel_consume(struct tg_kernel *k, tg_kernel_event_fn fn, void *userdata);
/* At most max records (0 = all), -EAGAIN when more may wait: a flood must not
 * keep the event loop (control socket, timers) waiting (added by tamper). */
int tg_kernel_consume_max(struct tg_kernel *k, tg_kernel_event_fn fn, void *userdata, unsigned max);
/* Events the kernel could not deliver (ring buffer full), read from a counter map. */
uint64_t tg_kernel_dropped(const struct tg_kernel *k);

/* The fd of the file watcher (new executables written: hashed and added to the
 * inode set), or -1; call process when readable. */
int tg_kernel_watch_fd(const struct tg_kernel *k);
int tg_kernel_watch_process(struct tg_kernel *k);
