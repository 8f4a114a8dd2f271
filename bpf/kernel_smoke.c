/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Smoke test driver of the kernel side alone (daemon/kernel.c + the BPF
 * objects), without the policy compiler: it builds map entries by hand for
 * names under a test directory and 127.77.0.0/16, fd77::/16. Driven by
 * bpf/kernel-smoke.sh. Usage:
 *   kernel_smoke run DIR SECONDS [monitor]  load/adopt, apply, print events
 *   kernel_smoke adopt                       open; say whether pins were adopted
 *   kernel_smoke unload
 * Pins go to $SMOKE_PIN_DIR (default /sys/fs/bpf/toolguard-smoke), never to
 * the daemon's TG_PIN_DIR, so a running toolguardd is left alone.
 * The stubs below stand in for compile.c (helper C2) so this links alone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compile.h"
#include "loader.h"
#include "script_request.h"
#include "kernel.h"
#include "kernel_internal.h"

enum { T_BANNED, T_ALERT, T_EXEMPT, T_WARN, T_SCRIPT, T_COUNT };
static const char *const tool_ids[T_COUNT] = {"smoke-banned", "smoke-alert", "smoke-exempt", "smoke-warn",
					      "smoke-script"};
static struct tg_tool smoke_tools[T_COUNT];
static struct tg_policy smoke_policy = {.name = (char *)"smoke",
					.serial = 7,
					.tools = smoke_tools,
					.n_tools = T_COUNT,
					.default_action = TG_ACTION_BLOCK};

/* ---- stand-ins for compile.c ---- */
int tg_compile_policy(const struct tg_policy *p, enum tg_mode mode, struct tg_compiled **ret, char *why,
		      size_t why_len)
{
	(void)p;
	(void)mode;
	(void)ret;
	snprintf(why, why_len, "kernel_smoke has no compiler");
	return -ENOTSUP;
}

void tg_compiled_free(struct tg_compiled *c)
{
	if (!c)
		return;
	free(c->tools);
	free(c->str_keys);
	free(c->str_vals);
	free(c->rstr_keys);
	free(c->rstr_vals);
	free(c->exempt_keys);
	free(c->affix_keys);
	free(c->affix_vals);
	free(c->net4_keys);
	free(c->net4_vals);
	free(c->net6_keys);
	free(c->net6_vals);
	free(c);
}

/* Stands in for hashing: a file named tgtest-hashme "has the banned hash". */
int tg_compiled_hash_request(const struct tg_compiled *c, const struct tg_abi_hash_request *req,
			     struct tg_abi_refs *ret_refs)
{
	static const char name[] = "/tgtest-hashme";
	size_t len = strnlen(req->path, sizeof(req->path));

	(void)c;
	if (len < sizeof(name) - 1 || strcmp(req->path + len - (sizeof(name) - 1), name) != 0)
		return 0;
	printf("hash_request pid=%u dev=%u ino=%llu path=%s\n", req->pid, req->dev,
	       (unsigned long long)req->ino, req->path);
	fflush(stdout);
	memset(ret_refs, 0, sizeof(*ret_refs));
	ret_refs->n = 1;
	ret_refs->ref[0].tool = T_BANNED;
	ret_refs->ref[0].matcher = TG_ABI_MATCHER(TG_ABI_MK_EXE, 4);
	return 1;
}

/* No "ld.so FILE" requests are judged in the smoke test (daemon/loader.c). */
int tg_loader_request(const struct tg_compiled *c, const struct tg_abi_hash_request *req,
		      struct tg_abi_refs *ret_refs, struct tg_abi_inode_key *ret_key, char *ret_path,
		      size_t path_len)
{
	(void)c;
	(void)req;
	(void)ret_refs;
	(void)ret_key;
	(void)ret_path;
	(void)path_len;
	return 0;
}

/* No scripts[].sha256 rules in the smoke test (daemon/script_request.c). */
int tg_script_request_judge(const struct tg_compiled *c, const struct tg_abi_script_request *req,
			    struct tg_abi_refs *ret_refs, char *ret_path, size_t path_len)
{
	(void)c;
	(void)req;
	(void)ret_refs;
	(void)ret_path;
	(void)path_len;
	return 0;
}

bool tg_loader_has_mapped(uint32_t pid, uint32_t dev, uint64_t ino)
{
	(void)pid;
	(void)dev;
	(void)ino;
	return false;
}

/* No interpreter copies in the smoke test. */
int tg_compiled_interp_script(const struct tg_compiled *c, uint32_t pid, struct tg_abi_refs *ret_refs)
{
	(void)c;
	(void)pid;
	(void)ret_refs;
	return 0;
}

const struct tg_tool *tg_compiled_tool(const struct tg_compiled *c, unsigned tool_idx)
{
	(void)c;
	return tool_idx < T_COUNT ? &smoke_tools[tool_idx] : NULL;
}

const char *tg_compiled_matcher_name(const struct tg_compiled *c, unsigned tool_idx, unsigned matcher,
				     char *buf, size_t len)
{
	static const char *const kinds[] = {"?", "executables", "scripts", "hosts"};

	(void)c;
	(void)tool_idx;
	snprintf(buf, len, "%s[%u]", kinds[TG_ABI_MATCHER_KIND(matcher) & 3], TG_ABI_MATCHER_IDX(matcher));
	return buf;
}

/* Host names: an exact one and a port-limited wildcard. */
static const uint16_t port_443[] = {443};
static const struct tg_compiled_host smoke_hosts[] = {
    {.tool = T_BANNED, .matcher = TG_ABI_MATCHER(TG_ABI_MK_HOST, 3), .name = "tgtest-banned.example"},
    {.tool = T_BANNED,
     .matcher = TG_ABI_MATCHER(TG_ABI_MK_HOST, 4),
     .name = "tgtest-wild.example",
     .wildcard = true,
     .ports = port_443,
     .n_ports = 1},
};

size_t tg_compiled_hosts(const struct tg_compiled *c, const struct tg_compiled_host **ret)
{
	(void)c;
	*ret = smoke_hosts;
	return sizeof(smoke_hosts) / sizeof(smoke_hosts[0]);
}

int tg_watch_new(const struct tg_compiled *c, struct tg_watch **ret)
{
	(void)c;
	*ret = NULL;
	return 0;
}
void tg_watch_free(struct tg_watch *w)
{
	(void)w;
}
int tg_watch_fd(const struct tg_watch *w)
{
	(void)w;
	return -1;
}
int tg_watch_process(struct tg_watch *w, tg_watch_update_fn fn, void *userdata)
{
	(void)w;
	(void)fn;
	(void)userdata;
	return 0;
}

/* ---- building entries ---- */

static void add_str(struct tg_compiled *c, bool reversed, unsigned space, const char *lit, bool exact,
		    unsigned tool, unsigned matcher, unsigned flags)
{
	struct tg_abi_str_key *keys = reversed ? c->rstr_keys : c->str_keys;
	struct tg_abi_refs *vals = reversed ? c->rstr_vals : c->str_vals;
	size_t *n = reversed ? &c->n_rstrs : &c->n_strs;
	struct tg_abi_str_key *k = &keys[*n];
	struct tg_abi_refs *v = &vals[*n];
	size_t len = strlen(lit);

	memset(k, 0, sizeof(*k));
	memset(v, 0, sizeof(*v));
	k->space = (__u8)space;
	for (size_t i = 0; i < len; i++)
		k->str[i] = (__u8)(reversed ? lit[len - 1 - i] : lit[i]);
	k->prefixlen = (__u32)(16 + 8 * (len + (exact ? 1 : 0)));
	if (flags & TG_ABI_REFS_INTERP) {
		v->flags = (__u16)flags;
	} else {
		v->n = 1;
		v->ref[0].tool = (__u16)tool;
		v->ref[0].matcher = (__u16)matcher;
	}
	(*n)++;
}

static struct tg_compiled *build(const char *dir, bool monitor)
{
	struct tg_compiled *c = calloc(1, sizeof(*c));
	struct timespec now;
	uint64_t now_tai;
	char buf[512];

	if (!c)
		return NULL;
	clock_gettime(CLOCK_TAI, &now);
	now_tai = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	c->gen.policy_serial = 7;
	c->gen.mode = monitor ? TG_ABI_MODE_MONITOR : TG_ABI_MODE_ENFORCE;
	c->gen.flags = TG_ABI_GEN_SCRIPTS | TG_ABI_GEN_HASH_REQUESTS;
	c->tools = calloc(T_COUNT, sizeof(*c->tools));
	c->n_tools = T_COUNT;
	for (unsigned i = 0; i < T_COUNT; i++) {
		c->tools[i].flags = TG_ABI_TOOL_PRESENT;
		c->tools[i].action = TG_ABI_ACTION_BLOCK;
		c->tools[i].end_ns = UINT64_MAX;
		c->tools[i].exempt_end_ns = UINT64_MAX;
		smoke_tools[i].id = (char *)tool_ids[i];
		smoke_tools[i].name = (char *)tool_ids[i];
	}
	c->tools[T_ALERT].action = TG_ABI_ACTION_ALERT;
	smoke_tools[T_ALERT].action = TG_ACTION_ALERT;
	c->tools[T_EXEMPT].flags |= TG_ABI_TOOL_EXEMPT_UIDS;
	c->tools[T_WARN].block_ns = now_tai + 3600ull * 1000000000ull;

	c->str_keys = calloc(32, sizeof(*c->str_keys));
	c->str_vals = calloc(32, sizeof(*c->str_vals));
	c->rstr_keys = calloc(32, sizeof(*c->rstr_keys));
	c->rstr_vals = calloc(32, sizeof(*c->rstr_vals));
	add_str(c, false, TG_ABI_SPACE_EXE_NAME, "tgtest-banned", true, T_BANNED,
		TG_ABI_MATCHER(TG_ABI_MK_EXE, 0), 0);
	snprintf(buf, sizeof(buf), "%s/banned-dir/", dir);
	add_str(c, false, TG_ABI_SPACE_EXE_PATH, buf, false, T_BANNED, TG_ABI_MATCHER(TG_ABI_MK_EXE, 1), 0);
	add_str(c, true, TG_ABI_SPACE_EXE_PATH, "/tgtest-suffix", false, T_BANNED,
		TG_ABI_MATCHER(TG_ABI_MK_EXE, 2), 0);
	snprintf(buf, sizeof(buf), "%s/exact/tgtest-exact", dir);
	add_str(c, false, TG_ABI_SPACE_EXE_PATH, buf, true, T_BANNED, TG_ABI_MATCHER(TG_ABI_MK_EXE, 3), 0);
	add_str(c, false, TG_ABI_SPACE_EXE_NAME, "tgtest-alert", true, T_ALERT,
		TG_ABI_MATCHER(TG_ABI_MK_EXE, 0), 0);
	add_str(c, false, TG_ABI_SPACE_EXE_NAME, "tgtest-exempt", true, T_EXEMPT,
		TG_ABI_MATCHER(TG_ABI_MK_EXE, 0), 0);
	add_str(c, false, TG_ABI_SPACE_EXE_NAME, "tgtest-warn", true, T_WARN,
		TG_ABI_MATCHER(TG_ABI_MK_EXE, 0), 0);
	snprintf(buf, sizeof(buf), "%s/scripts/", dir);
	add_str(c, false, TG_ABI_SPACE_SCRIPT_PATH, buf, false, T_SCRIPT, TG_ABI_MATCHER(TG_ABI_MK_SCRIPT, 0),
		0);
	add_str(c, false, TG_ABI_SPACE_INTERP, "tgtest-interp", false, 0, 0, TG_ABI_REFS_INTERP);
	/* "DIR/affix/ ** /tgtest-affix": prefix and suffix halves + minimum length */
	snprintf(buf, sizeof(buf), "%s/affix/", dir);
	add_str(c, false, TG_ABI_SPACE_EXE_PATH, buf, false, T_BANNED,
		TG_ABI_MATCHER(TG_ABI_MK_EXE, 5) | TG_ABI_MATCHER_PART, 0);
	add_str(c, true, TG_ABI_SPACE_EXE_PATH, "/tgtest-affix", false, T_BANNED,
		TG_ABI_MATCHER(TG_ABI_MK_EXE, 5) | TG_ABI_MATCHER_PART, 0);
	c->affix_keys = calloc(1, sizeof(*c->affix_keys));
	c->affix_vals = calloc(1, sizeof(*c->affix_vals));
	c->affix_keys[0] =
	    (struct tg_abi_affix_key){.tool = T_BANNED, .matcher = TG_ABI_MATCHER(TG_ABI_MK_EXE, 5)};
	c->affix_vals[0].minlen = (__u32)(strlen(buf) + strlen("/tgtest-affix") - 1);
	c->n_affix = 1;

	c->exempt_keys = calloc(1, sizeof(*c->exempt_keys));
	c->exempt_keys[0] =
	    (struct tg_abi_exempt_key){.id = getuid(), .tool = T_EXEMPT, .kind = TG_ABI_EXEMPT_UID};
	c->n_exempt = 1;

	c->net4_keys = calloc(1, sizeof(*c->net4_keys));
	c->net4_vals = calloc(1, sizeof(*c->net4_vals));
	c->net4_keys[0].prefixlen = 8 + 16;
	inet_pton(AF_INET, "127.77.0.0", c->net4_keys[0].addr);
	c->net4_vals[0].n = 2;
	c->net4_vals[0].ref[0] =
	    (struct tg_abi_net_ref){.tool = T_BANNED, .matcher = TG_ABI_MATCHER(TG_ABI_MK_HOST, 0)};
	/* a port-limited alert on the same network: 127.77.x.x:9 is both; block wins */
	c->net4_vals[0].ref[1] = (struct tg_abi_net_ref){
	    .tool = T_ALERT, .matcher = TG_ABI_MATCHER(TG_ABI_MK_HOST, 1), .n_ports = 1, .ports = {9}};
	c->n_net4 = 1;
	c->net6_keys = calloc(1, sizeof(*c->net6_keys));
	c->net6_vals = calloc(1, sizeof(*c->net6_vals));
	c->net6_keys[0].prefixlen = 8 + 16;
	inet_pton(AF_INET6, "fd77::", c->net6_keys[0].addr);
	c->net6_vals[0].n = 1;
	c->net6_vals[0].ref[0] =
	    (struct tg_abi_net_ref){.tool = T_BANNED, .matcher = TG_ABI_MATCHER(TG_ABI_MK_HOST, 2)};
	c->n_net6 = 1;
	return c;
}

static void print_event(const struct tg_kernel_event *e, void *userdata)
{
	char addr[INET6_ADDRSTRLEN] = "";

	(void)userdata;
	if (e->kind == TG_EVENT_CONNECT)
		inet_ntop(e->family, e->addr, addr, sizeof(addr));
	printf("event kind=%s verdict=%s would_block=%d exempt=%d tool=%s matcher=%s pid=%" PRIu32
	       " ppid=%" PRIu32 " uid=%" PRIu32 " comm=%s exe=%s argc=%" PRIu32
	       " argv0=%s argv1=%s tty=%s addr=%s port=%u proto=%u serial=%" PRIu64 "\n",
	       e->kind == TG_EVENT_EXEC ? "exec" : "connect", tg_verdict_name(e->verdict), e->would_block,
	       e->exempt, e->tool_id[0] ? e->tool_id : "-", e->matcher, e->pid, e->ppid, e->uid, e->comm,
	       e->exe, e->argc, e->argc > 0 ? e->argv[0] : "", e->argc > 1 ? e->argv[1] : "",
	       e->tty[0] ? e->tty : "-", addr, e->port, e->protocol, e->policy_serial);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *pin_dir =
	    getenv("SMOKE_PIN_DIR") ? getenv("SMOKE_PIN_DIR") : "/sys/fs/bpf/toolguard-smoke";
	struct tg_kernel_options opts = {
	    .force_tracepoint = getenv("SMOKE_TRY_LSM") == NULL,
	    .verbose = getenv("SMOKE_VERBOSE") != NULL,
	    .pin_dir = pin_dir,
	};
	struct tg_kernel *k = NULL;
	char why[512] = "";
	int r;

	if (argc >= 2 && strcmp(argv[1], "unload") == 0) {
		r = tg_kernel_unload_at(pin_dir, why, sizeof(why));
		printf("unload: %d %s\n", r, why);
		return r < 0;
	}
	if (argc >= 2 && strcmp(argv[1], "adopt") == 0) {
		r = tg_kernel_open(&opts, &k, why, sizeof(why));
		if (r < 0) {
			fprintf(stderr, "open: %s\n", why);
			return 1;
		}
		printf("adopted=%d backend=%s connect=%s\n", tg_kernel_adopted(k),
		       tg_exec_backend_name(tg_kernel_exec_backend(k)), tg_kernel_connect_backend(k));
		tg_kernel_close(k);
		return 0;
	}
	if (argc >= 4 && strcmp(argv[1], "run") == 0) {
		int seconds = atoi(argv[3]);
		bool monitor = argc >= 5 && strcmp(argv[4], "monitor") == 0;
		struct timespec t0, t;
		struct tg_compiled *c;

		r = tg_kernel_open(&opts, &k, why, sizeof(why));
		if (r < 0) {
			fprintf(stderr, "open: %s\n", why);
			return 1;
		}
		c = build(argv[2], monitor);
		r = tg_kernel_apply_compiled(k, &smoke_policy, c, why, sizeof(why));
		if (r < 0) {
			fprintf(stderr, "apply: %s\n", why);
			tg_kernel_close(k);
			return 1;
		}
		printf("ready adopted=%d backend=%s connect=%s dns=%d\n", tg_kernel_adopted(k),
		       tg_exec_backend_name(tg_kernel_exec_backend(k)), tg_kernel_connect_backend(k),
		       tg_kernel_dns_learning(k));
		fflush(stdout);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (;;) {
			struct pollfd pfd = {.fd = tg_kernel_event_fd(k), .events = POLLIN};

			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec >= seconds)
				break;
			(void)poll(&pfd, 1, 200);
			tg_kernel_consume(k, print_event, NULL);
		}
		printf("dropped=%" PRIu64 "\n", tg_kernel_dropped(k));
		tg_kernel_close(k);
		return 0;
	}
	fprintf(stderr, "usage: kernel_smoke run DIR SECONDS [monitor] | adopt | unload\n");
	return 2;
}
