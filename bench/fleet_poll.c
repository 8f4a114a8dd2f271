/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fleet_poll: N simulated machines polling one central policy the way
 * toolguardd's daemon/fetch.c does, for bench/run-fleet.sh.
 *
 * Each machine has its own state (ETag, Last-Modified, serial and sha256 of
 * the policy in force), its own libcurl multi handle kept across polls as the
 * daemon keeps its own (connection cache, CA store), and polls at the daemon's
 * jittered interval (+-10%). No poll reuses the previous poll's connection
 * (CURLOPT_MAXAGE_CONN; nginx's keep-alive is shorter than the interval, as
 * 75 s is against 10 min) and no TLS session is resumed (nginx's session
 * timeout is 5 min): every poll is a full handshake. A sync is what the
 * daemon does: GET the policy with If-None-Match/If-Modified-Since (unless
 * --full), on 200 GET <url>.sig, verify the Ed25519 signature,
 * tg_policy_parse, refuse a lower serial, keep. Not simulated: the daemon's
 * unprivileged first parse in a child, the kernel update and the fsync of
 * the cache file.
 *
 * The fleet is shared among J processes (one event loop each, default one per
 * CPU) so that the simulator keeps up; the parent keeps the timeline,
 * measures the server and publishes. Every loop turn over 1 s is reported:
 * on a busy machine the results carry the simulator's delays.
 *
 * Phases: warm-up (1.2 intervals: every machine's first fetch, at a random
 * point of the first interval), steady (nothing changes; nginx CPU from
 * /proc/PID/stat of master + workers, HTTP bytes and statuses from nginx's
 * access log, TLS bytes from TCP_INFO), then with --publish a new signed
 * policy is renamed into place and the time until the last machine has its
 * serial verified and parsed is measured.
 * Prints one line "result key=value ..." on stdout; progress on stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/tcp.h>

#include <curl/curl.h>

#include "curl_setup.h"
#include "fetchrule.h"
#include "policy.h"

/* The daemon's limits (daemon/fetch.c; the rest in daemon/curl_setup.c). */
#define FETCH_STALL_TIME  30L
#define FETCH_SIG_MAX	  1024u
#define FETCH_BACKOFF_MIN 30u

#define NEVER	     UINT64_MAX
#define MAX_MACHINES 100000u
#define ACCESS_LINE  1024u
#define LOG_READ_MAX (512u * 1024u * 1024u) /* of access log read per window */

enum stage { STAGE_IDLE, STAGE_POLICY, STAGE_SIG };

struct machine {
	unsigned id;  /* in the whole fleet */
	unsigned idx; /* in this worker's share */
	CURLM *multi; /* one sync's: its connection dies with it */
	CURL *easy;
	struct curl_slist *hdrs;
	enum stage stage;
	struct tg_curl_buf body, sig;
	char errbuf[CURL_ERROR_SIZE];
	char new_etag[256], new_last_modified[64]; /* of the response */
	char etag[256], last_modified[64];	   /* of the policy in force */
	bool have_policy;
	uint8_t sha256[32];
	uint64_t serial;
	unsigned consecutive_failures;
	uint64_t next_poll; /* CLOCK_MONOTONIC usec */
	uint64_t curl_due;  /* curl's timer, NEVER when none */
	uint64_t enforced_at;
	int sock_fd; /* of this sync's connection, and its bytes counted so far */
	uint64_t sock_down, sock_up;
};

struct counters {
	uint64_t syncs, not_modified, applied, unchanged, failed, refused;
	uint64_t wire_down, wire_up; /* TCP payload bytes (TLS included) */
	uint64_t connections;	     /* opened */
};

static struct {
	const char *url, *ca_file, *public_key, *publish_new, *publish_to, *access_log;
	const char *policy_path; /* path part of url, as nginx logs $uri */
	unsigned machines, interval, steady;
	bool full;
	pid_t server_pid;
	uint64_t target_serial;
} opt = {.machines = 1000, .interval = 10, .steady = 20};

static struct machine *fleet;
static struct counters cnt;
static int epfd = -1;
static char last_failure[512];
static uint64_t t_start;
static uint64_t max_stall; /* longest turn of the event loop, usec */

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void take_header(char *slot, size_t slot_len, const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n < slot_len) {
		memcpy(slot, v, n);
		slot[n] = '\0';
	}
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct machine *m = userdata;
	size_t n = size * nmemb;

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0)
		m->new_etag[0] = m->new_last_modified[0] = '\0';
	else if (n > 5 && strncasecmp(data, "etag:", 5) == 0)
		take_header(m->new_etag, sizeof(m->new_etag), data + 5, n - 5);
	else if (n > 14 && strncasecmp(data, "last-modified:", 14) == 0)
		take_header(m->new_last_modified, sizeof(m->new_last_modified), data + 14, n - 14);
	return n;
}

/* Bytes that crossed this transfer's connection, TLS included (TCP_INFO counts
 * since the connection opened; a .sig fetched on the same one adds its delta). */
static void count_wire(struct machine *m)
{
	curl_socket_t fd = CURL_SOCKET_BAD;
	struct tcp_info ti = {};
	socklen_t len = sizeof(ti);
	long connects = 0;

	if (curl_easy_getinfo(m->easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK)
		cnt.connections += (uint64_t)connects;
	if (curl_easy_getinfo(m->easy, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK || fd == CURL_SOCKET_BAD ||
	    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
		return;
	if (fd != m->sock_fd)
		m->sock_down = m->sock_up = 0;
	cnt.wire_down += ti.tcpi_bytes_received - m->sock_down;
	cnt.wire_up += ti.tcpi_bytes_acked - m->sock_up;
	m->sock_fd = fd;
	m->sock_down = ti.tcpi_bytes_received;
	m->sock_up = ti.tcpi_bytes_acked;
}

/* ---------- one machine's sync ---------- */

static int start_transfer(struct machine *m, enum stage stage);

static void finish(struct machine *m, bool failed)
{
	uint64_t sec = opt.interval;

	if (m->easy) {
		curl_multi_remove_handle(m->multi, m->easy);
		curl_easy_cleanup(m->easy);
		m->easy = NULL;
	}
	curl_slist_free_all(m->hdrs);
	m->hdrs = NULL;
	m->stage = STAGE_IDLE;
	tg_curl_buf_reset(&m->body, 0);
	tg_curl_buf_reset(&m->sig, 0);
	cnt.syncs++;
	/* The daemon's schedule_next(): backoff from 30 s doubling, capped at the interval. */
	if (failed)
		sec = tg_fetch_backoff_sec(++m->consecutive_failures, FETCH_BACKOFF_MIN, sec);
	else
		m->consecutive_failures = 0;
	m->next_poll = now_usec() + tg_fetch_jitter_usec(sec, tg_fetch_random());
}

__attribute__((format(printf, 3, 4))) static void sync_failed(struct machine *m, bool refused,
							      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_failure, sizeof(last_failure), fmt, ap);
	va_end(ap);
	if (refused)
		cnt.refused++;
	else
		cnt.failed++;
	if (cnt.refused + cnt.failed <= 10) /* the first few, to see when and why */
		fprintf(stderr, "fleet_poll: +%.3f s: %s\n", (double)(now_usec() - t_start) / 1e6,
			last_failure);
	finish(m, true);
}

static void process_policy(struct machine *m)
{
	struct tg_policy *p = NULL;
	struct tg_diags diags = {};
	char why[256];
	int r;

	/* The daemon reads its key file at each verification: so does this. */
	r = tg_sig_verify(m->body.p, m->body.n, m->sig.p ? m->sig.p : "", m->sig.n, opt.public_key, NULL, why,
			  sizeof(why));
	if (r < 0)
		return sync_failed(m, true, "machine %u: %s", m->id, why);
	r = tg_policy_parse(m->body.p ? m->body.p : "", m->body.n, opt.url, &p, &diags);
	tg_diags_free(&diags);
	if (r < 0)
		return sync_failed(m, true, "machine %u: invalid policy (%s)", m->id, strerror(-r));
	if (m->have_policy && p->serial < m->serial) {
		uint64_t s = p->serial;

		tg_policy_free(p);
		return sync_failed(m, true, "machine %u: serial %" PRIu64 " lower than %" PRIu64, m->id, s,
				   m->serial);
	}
	if (m->have_policy && memcmp(m->sha256, p->sha256, 32) == 0) {
		cnt.unchanged++;
	} else {
		cnt.applied++;
		m->have_policy = true;
		m->serial = p->serial;
		memcpy(m->sha256, p->sha256, 32);
		if (opt.target_serial && m->serial == opt.target_serial && !m->enforced_at)
			m->enforced_at = now_usec();
	}
	tg_policy_free(p);
	snprintf(m->etag, sizeof(m->etag), "%s", m->new_etag);
	snprintf(m->last_modified, sizeof(m->last_modified), "%s", m->new_last_modified);
	finish(m, false);
}

static void transfer_done(struct machine *m, CURLcode res)
{
	long code = 0;
	int r;

	(void)curl_easy_getinfo(m->easy, CURLINFO_RESPONSE_CODE, &code);
	count_wire(m);
	if (m->stage == STAGE_POLICY) {
		if (res != CURLE_OK)
			return sync_failed(m, false, "machine %u: %s: %s", m->id, curl_easy_strerror(res),
					   m->errbuf);
		if (code == 304) {
			cnt.not_modified++;
			return finish(m, false);
		}
		if (code != 200)
			return sync_failed(m, false, "machine %u: HTTP %ld", m->id, code);
		r = start_transfer(m, STAGE_SIG);
		if (r < 0)
			sync_failed(m, false, "machine %u: cannot start the .sig transfer: %s", m->id,
				    strerror(-r));
		return;
	}
	if (res != CURLE_OK)
		return sync_failed(m, false, "machine %u: .sig: %s: %s", m->id, curl_easy_strerror(res),
				   m->errbuf);
	if (code != 200)
		return sync_failed(m, code == 404 || code == 410, "machine %u: .sig: HTTP %ld", m->id, code);
	process_policy(m);
}

static void check_done(struct machine *m)
{
	CURLMsg *msg;
	int left;

	while (m->multi && (msg = curl_multi_info_read(m->multi, &left))) {
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == m->easy)
			transfer_done(m, msg->data.result);
	}
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct machine *m = userp;
	struct epoll_event ev = {.data.u64 = ((uint64_t)m->idx << 32) | (uint32_t)s};

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		(void)epoll_ctl(epfd, EPOLL_CTL_DEL, s, NULL);
		curl_multi_assign(m->multi, s, NULL);
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev.events |= EPOLLIN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(epfd, socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev) < 0 &&
	    epoll_ctl(epfd, socketp ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s, &ev) < 0)
		return -1;
	curl_multi_assign(m->multi, s, m);
	return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct machine *m = userp;

	(void)multi;
	/* Never call into curl from here: the main loop does (0 ms = next turn). */
	m->curl_due = timeout_ms < 0 ? NEVER : now_usec() + (uint64_t)timeout_ms * 1000u;
	return 0;
}

static int start_transfer(struct machine *m, enum stage stage)
{
	char *url = NULL, h[400];
	CURL *e;

	if (m->easy) {
		curl_multi_remove_handle(m->multi, m->easy); /* its connection stays in m->multi */
		curl_easy_cleanup(m->easy);
		m->easy = NULL;
	}
	curl_slist_free_all(m->hdrs);
	m->hdrs = NULL;
	e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	if (stage == STAGE_POLICY) {
		url = strdup(opt.url);
		tg_curl_buf_reset(&m->body, TG_POLICY_MAX_BYTES);
		m->new_etag[0] = m->new_last_modified[0] = '\0';
		curl_easy_setopt(e, CURLOPT_WRITEDATA, &m->body);
		curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)TG_POLICY_MAX_BYTES);
		curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(e, CURLOPT_HEADERDATA, m);
		if (!opt.full && m->have_policy) {
			if (m->etag[0]) {
				snprintf(h, sizeof(h), "If-None-Match: %s", m->etag);
				m->hdrs = curl_slist_append(m->hdrs, h);
			}
			if (m->last_modified[0]) {
				snprintf(h, sizeof(h), "If-Modified-Since: %s", m->last_modified);
				m->hdrs = curl_slist_append(m->hdrs, h);
			}
		}
	} else {
		if (asprintf(&url, "%s.sig", opt.url) < 0)
			url = NULL;
		tg_curl_buf_reset(&m->sig, FETCH_SIG_MAX);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, &m->sig);
		curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)FETCH_SIG_MAX);
	}
	if (!url) {
		curl_easy_cleanup(e);
		return -ENOMEM;
	}
	m->errbuf[0] = '\0';
	tg_curl_easy_setup(e, &(const struct tg_curl_opts){.ca_file = opt.ca_file,
							   .errbuf = m->errbuf,
							   .stall_sec = FETCH_STALL_TIME});
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, m->hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, tg_curl_buf_write);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	/* A daemon polling every 10 min finds its TLS session expired (nginx: 5 min): full handshake. */
	curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	/* ...and its connection is gone: never reuse one idle since the last poll. */
	curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, 1L);
	free(url);
	m->easy = e;
	m->stage = stage;
	if (curl_multi_add_handle(m->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		m->easy = NULL;
		return -ENOMEM;
	}
	return 0;
}

static void begin_sync(struct machine *m)
{
	int r;

	m->next_poll = NEVER;
	m->sock_fd = -1;
	if (!m->multi) {
		m->multi = curl_multi_init();
		if (!m->multi)
			return sync_failed(m, false, "machine %u: curl_multi_init failed", m->id);
		curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
		curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
		curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_timer);
		curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
	}
	r = start_transfer(m, STAGE_POLICY);
	if (r < 0)
		sync_failed(m, false, "machine %u: cannot start the transfer: %s", m->id, strerror(-r));
}

/* ---------- the server's side ---------- */

struct server_snap {
	uint64_t ticks;	 /* utime + stime of nginx master and workers (/proc/PID/stat) */
	uint64_t run_ns; /* on-CPU time of the same (/proc/PID/schedstat) */
	off_t log_size;
	unsigned procs;
};

/* utime+stime and parent of one process; false when it is gone. */
static bool proc_cpu(pid_t pid, pid_t *ret_ppid, uint64_t *ret_ticks, uint64_t *ret_ns)
{
	char path[64], line[1024], *p;
	unsigned long long ut = 0, st = 0, ns = 0;
	int ppid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	p = fgets(line, sizeof(line), f);
	fclose(f);
	if (!p || !(p = strrchr(line, ')')))
		return false;
	/* after "pid (comm)": state ppid ... field 14 utime, 15 stime */
	if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ppid, &ut, &st) != 3)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%llu", &ns) != 1)
			ns = 0;
		fclose(f);
	}
	*ret_ppid = ppid;
	*ret_ticks = ut + st;
	*ret_ns = ns;
	return true;
}

static void server_snapshot(struct server_snap *s)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	uint64_t t, ns;
	pid_t ppid;

	*s = (struct server_snap){};
	if (opt.access_log && stat(opt.access_log, &st) == 0)
		s->log_size = st.st_size;
	if (opt.server_pid <= 0)
		return;
	if (proc_cpu(opt.server_pid, &ppid, &t, &ns)) {
		s->ticks += t;
		s->run_ns += ns;
		s->procs++;
	}
	d = opendir("/proc");
	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0 || pid == opt.server_pid)
			continue;
		if (proc_cpu((pid_t)pid, &ppid, &t, &ns) && ppid == opt.server_pid) {
			s->ticks += t;
			s->run_ns += ns;
			s->procs++;
		}
	}
	closedir(d);
}

struct log_stats {
	uint64_t polls, sigs, other, st304, st200, st_other, bytes_sent, request_length;
};

/* Lines "$uri $status $bytes_sent $request_length" appended between two sizes. */
static int read_access_log(off_t from, off_t to, struct log_stats *ls)
{
	char line[ACCESS_LINE], uri[ACCESS_LINE], sig_path[ACCESS_LINE];
	unsigned long long bytes, reqlen;
	int status;
	FILE *f;

	*ls = (struct log_stats){};
	if (!opt.access_log || to <= from)
		return 0;
	if (to - from > (off_t)LOG_READ_MAX)
		return -EFBIG;
	f = fopen(opt.access_log, "re");
	if (!f)
		return -errno;
	snprintf(sig_path, sizeof(sig_path), "%s.sig", opt.policy_path);
	if (fseeko(f, from, SEEK_SET) < 0) {
		fclose(f);
		return -errno;
	}
	while (ftello(f) < to && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%1023s %d %llu %llu", uri, &status, &bytes, &reqlen) != 4)
			continue;
		if (strcmp(uri, opt.policy_path) == 0) {
			ls->polls++;
			if (status == 304)
				ls->st304++;
			else if (status == 200)
				ls->st200++;
			else
				ls->st_other++;
		} else if (strcmp(uri, sig_path) == 0) {
			ls->sigs++;
		} else {
			ls->other++;
		}
		ls->bytes_sent += bytes;
		ls->request_length += reqlen;
	}
	fclose(f);
	return 0;
}

/* ---------- publishing a change ---------- */

/* Like a publisher: the signature first, then the policy (README "Sign and publish"). */
static int publish(void)
{
	char *from_sig = NULL, *to_sig = NULL;
	int r = 0;

	if (asprintf(&from_sig, "%s.sig", opt.publish_new) < 0 ||
	    asprintf(&to_sig, "%s.sig", opt.publish_to) < 0) {
		free(from_sig);
		return -ENOMEM;
	}
	/* a fresh mtime: nginx's ETag is mtime-size */
	if (utimensat(AT_FDCWD, opt.publish_new, NULL, 0) < 0 || rename(from_sig, to_sig) < 0 ||
	    rename(opt.publish_new, opt.publish_to) < 0)
		r = -errno;
	free(from_sig);
	free(to_sig);
	return r;
}

static int target_serial(const char *path, uint64_t *ret)
{
	struct tg_policy *p = NULL;
	struct tg_diags diags = {};
	int r = tg_policy_load_file(path, &p, &diags);

	for (size_t i = 0; i < diags.n; i++) {
		char line[512];

		fprintf(stderr, "fleet_poll: %s\n", tg_diag_format(&diags.v[i], line, sizeof(line)));
	}
	tg_diags_free(&diags);
	if (r < 0)
		return r;
	*ret = p->serial;
	tg_policy_free(p);
	return 0;
}

/* ---------- one worker: a share of the fleet in one event loop ---------- */

/* The timeline every process follows (CLOCK_MONOTONIC is system-wide). */
static struct {
	uint64_t start, steady0, steady1, deadline;
} plan;

struct worker_report {
	struct counters c0, c1; /* at the start and the end of the steady phase */
	double cpu_sec;		/* this worker's CPU in the steady phase */
	uint64_t max_stall;
	uint64_t failed, refused;
	unsigned missing; /* machines without a policy when the steady phase began */
	unsigned n;	  /* followed by n enforced_at values */
};

static unsigned nfleet;

/* Run until done() says so; false on an internal error. */
static bool run_until(bool (*done)(uint64_t now, void *arg), void *arg)
{
	struct epoll_event evs[256];
	uint64_t last = now_usec();

	for (;;) {
		uint64_t now = now_usec(), due = NEVER;
		int n, timeout_ms;

		/* A busy machine shows here (the results then carry its delays). */
		if (now - last > 1000000u)
			fprintf(stderr, "fleet_poll: +%.1f s: a simulator process did not run for %.1f s\n",
				(double)(now - plan.start) / 1e6, (double)(now - last) / 1e6);
		if (now - last > max_stall)
			max_stall = now - last;
		last = now;
		if (done(now, arg))
			return true;
		for (unsigned i = 0; i < nfleet; i++) {
			struct machine *m = &fleet[i];

			if (m->curl_due <= now && m->multi) {
				int running;

				m->curl_due = NEVER;
				(void)curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
				check_done(m);
			}
			if (m->stage == STAGE_IDLE && m->next_poll <= now)
				begin_sync(m);
			if (m->curl_due < due)
				due = m->curl_due;
			if (m->stage == STAGE_IDLE && m->next_poll < due)
				due = m->next_poll;
		}
		now = now_usec();
		timeout_ms = 100; /* phases are checked at least every 100 ms */
		if (due <= now)
			timeout_ms = 0;
		else if (due - now < 100000u)
			timeout_ms = (int)((due - now + 999) / 1000);
		n = epoll_wait(epfd, evs, 256, timeout_ms);
		if (n < 0 && errno != EINTR) {
			perror("fleet_poll: epoll_wait");
			return false;
		}
		for (int i = 0; i < n; i++) {
			struct machine *m = &fleet[evs[i].data.u64 >> 32];
			int fd = (int)(uint32_t)evs[i].data.u64, flags = 0, running;

			if (!m->multi)
				continue;
			if (evs[i].events & EPOLLIN)
				flags |= CURL_CSELECT_IN;
			if (evs[i].events & EPOLLOUT)
				flags |= CURL_CSELECT_OUT;
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				flags |= CURL_CSELECT_ERR;
			(void)curl_multi_socket_action(m->multi, fd, flags, &running);
			check_done(m);
		}
	}
}

static bool time_done(uint64_t now, void *arg)
{
	return now >= *(uint64_t *)arg;
}

static bool all_enforced(uint64_t now, void *arg)
{
	(void)arg;
	if (now >= plan.deadline)
		return true;
	for (unsigned i = 0; i < nfleet; i++)
		if (!fleet[i].enforced_at)
			return false;
	return true;
}

static double cpu_sec_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static int write_full(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -EIO;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_full(int fd, void *p, size_t n)
{
	char *c = p;

	while (n > 0) {
		ssize_t r = read(fd, c, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EIO;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Machines [first, first + n): the whole timeline, then the report on out. */
static int worker(unsigned first, unsigned n, int out)
{
	struct worker_report rep = {.n = n};
	uint64_t *at;
	double cpu0;
	int r = 0;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	fleet = calloc(n, sizeof(*fleet));
	at = calloc(n, sizeof(*at));
	if (epfd < 0 || !fleet || !at)
		return 1;
	nfleet = n;
	for (unsigned i = 0; i < n; i++) {
		fleet[i].idx = i;
		fleet[i].id = first + i;
		fleet[i].curl_due = NEVER;
		/* machines booted at random times: first fetches spread over one interval */
		fleet[i].next_poll = plan.start + tg_fetch_random() % ((uint64_t)opt.interval * 1000000u);
	}
	if (!run_until(time_done, &plan.steady0))
		return 1;
	for (unsigned i = 0; i < n; i++)
		rep.missing += !fleet[i].have_policy;
	rep.c0 = cnt;
	cpu0 = cpu_sec_self();
	if (!run_until(time_done, &plan.steady1))
		return 1;
	rep.c1 = cnt;
	rep.cpu_sec = cpu_sec_self() - cpu0;
	if (opt.publish_new && !run_until(all_enforced, NULL))
		return 1;
	rep.max_stall = max_stall;
	rep.failed = cnt.failed;
	rep.refused = cnt.refused;
	for (unsigned i = 0; i < n; i++)
		at[i] = fleet[i].enforced_at;
	if (write_full(out, &rep, sizeof(rep)) < 0 || write_full(out, at, n * sizeof(*at)) < 0)
		r = 1;
	if (cnt.failed + cnt.refused)
		fprintf(stderr,
			"fleet_poll: machines %u-%u: %" PRIu64 " failed and %" PRIu64
			" refused syncs; last: %s\n",
			first, first + n - 1, cnt.failed, cnt.refused, last_failure);
	for (unsigned i = 0; i < n; i++) {
		if (fleet[i].stage != STAGE_IDLE)
			finish(&fleet[i], false);
		if (fleet[i].multi)
			curl_multi_cleanup(fleet[i].multi);
	}
	free(fleet);
	free(at);
	close(epfd);
	curl_global_cleanup();
	return r;
}

/* ---------- the parent: forks the workers, measures the server, publishes ---------- */

static void sleep_until(uint64_t usec)
{
	struct timespec ts = {.tv_sec = (time_t)(usec / 1000000u), .tv_nsec = (long)(usec % 1000000u) * 1000};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fleet_poll --url https://HOST:PORT/PATH --public-key PEM [--ca-file PEM]\n"
		"         [--machines N (1000)] [--interval SEC (10)] [--steady SEC (20)] [--full]\n"
		"         [--jobs J (CPUs, at most 8)] [--server-pid NGINX_MASTER_PID] [--access-log FILE]\n"
		"         [--publish NEW_POLICY --to PUBLISHED_POLICY]\n"
		"Simulates N toolguard daemons polling the policy (in J processes); --full: no\n"
		"conditional requests. The access log's format must be\n"
		"'$uri $status $bytes_sent $request_length'. --publish renames NEW.sig over\n"
		"PUBLISHED.sig, then NEW over PUBLISHED, after the steady phase, and measures until\n"
		"every machine has verified and parsed it.\n");
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"ca-file", required_argument, NULL, 'c'},
	    {"public-key", required_argument, NULL, 'k'},
	    {"machines", required_argument, NULL, 'n'},
	    {"interval", required_argument, NULL, 'i'},
	    {"steady", required_argument, NULL, 's'},
	    {"full", no_argument, NULL, 'f'},
	    {"server-pid", required_argument, NULL, 'p'},
	    {"access-log", required_argument, NULL, 'l'},
	    {"publish", required_argument, NULL, 'P'},
	    {"to", required_argument, NULL, 'T'},
	    {"jobs", required_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	struct server_snap s0, s1;
	struct counters tot0 = {}, tot1 = {};
	struct log_stats ls;
	double secs, cpu = 0;
	uint64_t t_pub = 0, *lat = NULL, stall = 0, failed = 0, refused = 0;
	unsigned missing = 0, enforced = 0, pid, jobs;
	long hz = sysconf(_SC_CLK_TCK), ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	pid_t kids[8];
	int pipes[8], c, r, bad = 0;

	jobs = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (unsigned)ncpu;
	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			opt.url = optarg;
			break;
		case 'c':
			opt.ca_file = optarg;
			break;
		case 'k':
			opt.public_key = optarg;
			break;
		case 'f':
			opt.full = true;
			break;
		case 'l':
			opt.access_log = optarg;
			break;
		case 'P':
			opt.publish_new = optarg;
			break;
		case 'T':
			opt.publish_to = optarg;
			break;
		case 'n':
			if (parse_uint(optarg, 1, MAX_MACHINES, &opt.machines) < 0)
				goto bad;
			break;
		case 'i':
			if (parse_uint(optarg, 1, 3600, &opt.interval) < 0)
				goto bad;
			break;
		case 's':
			if (parse_uint(optarg, 1, 3600, &opt.steady) < 0)
				goto bad;
			break;
		case 'j':
			if (parse_uint(optarg, 1, 8, &jobs) < 0)
				goto bad;
			break;
		case 'p':
			if (parse_uint(optarg, 1, INT_MAX, &pid) < 0)
				goto bad;
			opt.server_pid = (pid_t)pid;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc || !opt.url || !opt.public_key || !!opt.publish_new != !!opt.publish_to ||
	    strncmp(opt.url, "https://", 8) != 0 || !(opt.policy_path = strchr(opt.url + 8, '/')))
		goto bad;
	if (jobs > opt.machines)
		jobs = opt.machines;
	if (opt.publish_new && (r = target_serial(opt.publish_new, &opt.target_serial)) < 0) {
		fprintf(stderr, "fleet_poll: %s is not a valid policy (%s): fix it before publishing\n",
			opt.publish_new, strerror(-r));
		return 1;
	}

	/* Warm-up of 1.2 intervals: every machine's first fetch (at a random point of
	 * the first interval) is done before the steady phase begins. */
	t_start = plan.start = now_usec() + 100000u;
	plan.steady0 = plan.start + (uint64_t)opt.interval * 1200000u;
	plan.steady1 = plan.steady0 + (uint64_t)opt.steady * 1000000u;
	plan.deadline = plan.steady1 + 3ull * opt.interval * 1000000u;
	fprintf(
	    stderr,
	    "fleet_poll: %u machines in %u processes, interval %u s +-10%%, %s requests: warm-up %.0f s\n",
	    opt.machines, jobs, opt.interval, opt.full ? "unconditional" : "conditional",
	    (double)(plan.steady0 - plan.start) / 1e6);
	fflush(stderr);
	for (unsigned k = 0; k < jobs; k++) {
		unsigned first = (unsigned)((uint64_t)opt.machines * k / jobs),
			 next = (unsigned)((uint64_t)opt.machines * (k + 1) / jobs);
		int p[2];

		if (pipe2(p, O_CLOEXEC) < 0 || (kids[k] = fork()) < 0) {
			perror("fleet_poll: cannot start a worker");
			return 1;
		}
		if (kids[k] == 0) {
			close(p[0]);
			_exit(worker(first, next - first, p[1]));
		}
		close(p[1]);
		pipes[k] = p[0];
	}

	sleep_until(plan.steady0);
	fprintf(stderr, "fleet_poll: steady phase, %u s\n", opt.steady);
	server_snapshot(&s0);
	sleep_until(plan.steady1);
	server_snapshot(&s1);
	secs = (double)(plan.steady1 - plan.steady0) / 1e6;
	r = read_access_log(s0.log_size, s1.log_size, &ls);
	if (r < 0)
		fprintf(stderr, "fleet_poll: cannot read %s: %s\n", opt.access_log, strerror(-r));
	if (opt.publish_new) {
		r = publish();
		if (r < 0)
			fprintf(stderr, "fleet_poll: cannot publish %s as %s: %s\n", opt.publish_new,
				opt.publish_to, strerror(-r));
		t_pub = now_usec();
		fprintf(stderr, "fleet_poll: published serial %" PRIu64 "; waiting for every machine\n",
			opt.target_serial);
		lat = calloc(opt.machines, sizeof(*lat));
		if (!lat)
			return 1;
	}

	for (unsigned k = 0; k < jobs; k++) {
		struct worker_report rep;
		int status = 0;

		if (read_full(pipes[k], &rep, sizeof(rep)) < 0) {
			bad = 1;
		} else {
			uint64_t at;

			for (unsigned i = 0; i < rep.n; i++) {
				if (read_full(pipes[k], &at, sizeof(at)) < 0) {
					bad = 1;
					break;
				}
				if (lat && at)
					lat[enforced++] = at > t_pub ? at - t_pub : 0;
			}
			missing += rep.missing;
			failed += rep.failed;
			refused += rep.refused;
			cpu += rep.cpu_sec;
			if (rep.max_stall > stall)
				stall = rep.max_stall;
#define ADD(f) (tot0.f += rep.c0.f, tot1.f += rep.c1.f)
			ADD(syncs);
			ADD(wire_down);
			ADD(wire_up);
			ADD(connections);
#undef ADD
		}
		close(pipes[k]);
		while (waitpid(kids[k], &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad = 1;
	}
	if (bad) {
		fprintf(stderr, "fleet_poll: a worker process failed (see above)\n");
		return 1;
	}
	if (missing)
		fprintf(stderr, "fleet_poll: %u machines had no policy yet when the steady phase began\n",
			missing);
	if (lat)
		qsort(lat, enforced, sizeof(*lat), cmp_u64);

	{
		uint64_t polls = ls.polls ? ls.polls : 1, cpolls = tot1.syncs - tot0.syncs;
		double ticks = (double)(s1.ticks - s0.ticks), per = (double)(cpolls ? cpolls : 1);

		printf("result mode=%s machines=%u jobs=%u interval_s=%u steady_s=%.1f server_procs=%u"
		       " polls=%" PRIu64 " polls_per_s=%.1f st304=%" PRIu64 " st200=%" PRIu64
		       " st_other=%" PRIu64 " sig_requests=%" PRIu64 " other_requests=%" PRIu64
		       " share304=%.4f"
		       " http_bytes_per_poll=%.1f request_bytes_per_poll=%.1f"
		       " server_ticks=%.0f hz=%ld server_cpu_us_per_poll=%.1f server_run_us_per_poll=%.1f"
		       " server_cpu_pct=%.2f client_polls=%" PRIu64 " connections=%" PRIu64
		       " wire_down_per_poll=%.1f wire_up_per_poll=%.1f client_cpu_us_per_poll=%.1f"
		       " failed=%" PRIu64 " refused=%" PRIu64 " missing_at_steady=%u"
		       " expected_polls_per_s=%.1f max_stall_s=%.2f",
		       opt.full ? "full" : "conditional", opt.machines, jobs, opt.interval, secs, s1.procs,
		       ls.polls, (double)ls.polls / secs, ls.st304, ls.st200, ls.st_other, ls.sigs, ls.other,
		       (double)ls.st304 / (double)polls, (double)ls.bytes_sent / (double)polls,
		       (double)ls.request_length / (double)polls, ticks, hz,
		       ticks * 1e6 / (double)hz / (double)polls,
		       (double)(s1.run_ns - s0.run_ns) / 1e3 / (double)polls,
		       ticks / (double)hz / secs * 100.0, cpolls, tot1.connections - tot0.connections,
		       (double)(tot1.wire_down - tot0.wire_down) / per,
		       (double)(tot1.wire_up - tot0.wire_up) / per, cpu * 1e6 / per, failed, refused, missing,
		       (double)opt.machines / opt.interval, (double)stall / 1e6);
		if (lat)
			printf(" serial=%" PRIu64
			       " enforced=%u of=%u propagate_p50_s=%.2f propagate_p99_s=%.2f"
			       " propagate_max_s=%.2f",
			       opt.target_serial, enforced, opt.machines,
			       enforced ? (double)lat[(enforced - 1) / 2] / 1e6 : -1.0,
			       enforced ? (double)lat[(enforced * 99 + 99) / 100 - 1] / 1e6 : -1.0,
			       enforced ? (double)lat[enforced - 1] / 1e6 : -1.0);
		printf("\n");
	}
	free(lat);
	return opt.publish_new && enforced < opt.machines ? 1 : 0;
bad:
	usage(stderr);
	return 2;
}
