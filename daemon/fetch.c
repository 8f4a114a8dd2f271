/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Central policy fetch (see fetch.h). One sync is: GET policy.url (conditional
 * on the validators of the policy in force), then GET <url>.sig when a public
 * key is configured, verify, check the serial, parse in an unprivileged child,
 * parse again here, apply, write the last good copy. Any failure leaves the
 * policy in force in force, is counted in d->sync and reported as a policy
 * event; the next attempt backs off exponentially (30 s doubling, capped at the
 * interval, +-10% jitter).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <systemd/sd-event.h>

#include "events.h"
#include "curl_loop.h"
#include "fetch.h"
#include "fetchrule.h"
#include "log.h"
#include "policy.h"
#include "state.h"

#define FETCH_STALL_TIME  30L	/* s below 1 byte/s = stalled */
#define FETCH_SIG_MAX	  1024u /* base64 of 64 bytes is 88: room for whitespace */
#define FETCH_BACKOFF_MIN 30u	/* s, first retry after a failure */
#define FETCH_META_MAX	  4096u
#define CHILD_REPLY_MAX	  2048u
#define CHILD_TIMEOUT_MS  15000
#define NOBODY		  65534u

enum stage { STAGE_IDLE, STAGE_POLICY, STAGE_SIG };

struct tg_fetch {
	struct tg_daemon *d;
	struct tg_curl_loop curl; /* the multi handle on the daemon loop */
	CURL *easy;
	struct curl_slist *hdrs; /* of the transfer running */
	sd_event_source *poll_timer, *sigusr1;
	enum stage stage;
	struct tg_curl_buf body, sig;
	char errbuf[CURL_ERROR_SIZE];
	char new_etag[256], new_last_modified[64];
	uint8_t meta_sha256[32]; /* of the cached bytes the validators describe */
	bool meta_valid;
};

/* ---------- small helpers ---------- */

static void set_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* Untrusted text (server headers, the child's diagnostics) made printable for logs. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = (*s == '\n') ? ';' : '?';
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct tg_fetch *f = userdata;
	size_t n = size * nmemb, klen;
	char line[512], *v, *end;
	char *slot;
	size_t slot_len;

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* A new response (redirect): only the last one's validators count. */
		f->new_etag[0] = f->new_last_modified[0] = '\0';
		return n;
	}
	if (strncasecmp(data, "etag:", 5) == 0) {
		klen = 5;
		slot = f->new_etag;
		slot_len = sizeof(f->new_etag);
	} else if (strncasecmp(data, "last-modified:", 14) == 0) {
		klen = 14;
		slot = f->new_last_modified;
		slot_len = sizeof(f->new_last_modified);
	} else {
		return n;
	}
	if (n - klen >= sizeof(line))
		return n; /* absurd validator: ignore it, the fetch just is not conditional */
	memcpy(line, data + klen, n - klen);
	line[n - klen] = '\0';
	v = line + strspn(line, " \t");
	end = v + strlen(v);
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (strlen(v) < slot_len) {
		sanitize(v);
		set_str(slot, slot_len, v);
	}
	return n;
}

/* ---------- validators next to the cache (cache + ".meta") ---------- */

static char *meta_path(const struct tg_config *c)
{
	char *p = NULL;

	if (!c->policy_cache || asprintf(&p, "%s.meta", c->policy_cache) < 0)
		return NULL;
	return p;
}

static void hex(const uint8_t *v, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", v[i]);
}

/* Format: "sha256 HEX\netag VALUE\nlast-modified VALUE\n". */
static void meta_load(struct tg_fetch *f)
{
	struct tg_daemon *d = f->d;
	char *path = meta_path(d->config), buf[FETCH_META_MAX + 1], *line, *save = NULL;
	ssize_t n;
	int fd;

	f->meta_valid = false;
	d->sync.etag[0] = d->sync.last_modified[0] = '\0';
	if (!path)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd < 0)
		return;
	n = read(fd, buf, FETCH_META_MAX);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "sha256 ", 7) == 0 && strlen(line + 7) == 64) {
			for (int i = 0; i < 32; i++) {
				unsigned v;

				if (sscanf(line + 7 + 2 * i, "%2x", &v) != 1)
					return;
				f->meta_sha256[i] = (uint8_t)v;
			}
			f->meta_valid = true;
		} else if (strncmp(line, "etag ", 5) == 0) {
			set_str(d->sync.etag, sizeof(d->sync.etag), line + 5);
		} else if (strncmp(line, "last-modified ", 14) == 0) {
			set_str(d->sync.last_modified, sizeof(d->sync.last_modified), line + 14);
		}
	}
}

/* Write path atomically: temporary file in the same directory, fsync, rename,
 * fsync the directory. On any error (ENOSPC...) the old file stays whole. */
static int write_atomic(const char *path, const void *data, size_t len)
{
	char *tmp = NULL, *dir = NULL, *slash;
	const char *p = data;
	int fd = -1, dfd, r = 0;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
		return -ENOMEM;
	dir = strdup(path);
	if (!dir) {
		free(tmp);
		return -ENOMEM;
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	(void)mkdir(dir, 0755); /* first run: /var/lib/toolguard may not exist yet */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		r = -errno;
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = -errno;
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
out:
	if (fd >= 0)
		close(fd);
	if (r < 0)
		(void)unlink(tmp);
	free(tmp);
	free(dir);
	return r;
}

/* The last good copy and its validators. Failing here loses nothing: the
 * policy is in force, the old cache stays whole, the next sync retries. */
static int save_cache(struct tg_fetch *f, const struct tg_curl_buf *body, const uint8_t sha256[32])
{
	const struct tg_config *c = f->d->config;
	char *mp = meta_path(c), *meta = NULL, h[65];
	int r;

	if (!c->policy_cache || !mp) {
		free(mp);
		return 0;
	}
	r = write_atomic(c->policy_cache, body->p, body->n);
	if (r < 0) {
		log_warning_errno(r, "Failed to write the last good policy to %s: %m; the previous copy stays "
				     "(free space there)",
				  c->policy_cache);
		free(mp);
		return r;
	}
	hex(sha256, 32, h);
	if (asprintf(&meta, "sha256 %s\netag %s\nlast-modified %s\n", h, f->new_etag, f->new_last_modified) <
	    0) {
		free(mp);
		return -ENOMEM;
	}
	r = write_atomic(mp, meta, strlen(meta));
	if (r < 0)
		log_warning_errno(r, "Failed to write %s: %m; the next sync fetches the whole policy", mp);
	free(meta);
	free(mp);
	return r;
}

/* ---------- the unprivileged first parse ---------- */

/*
 * The parser (libyaml + ours) is the part of the daemon that reads bytes from
 * the network. It runs first in a forked child that holds nothing: every fd
 * but its reply pipe closed (so no BPF map, socket or log is reachable),
 * no_new_privs, uid/gid nobody when we are root, no capabilities, CPU and
 * file-size limits. A crash or exploit there refuses the policy and harms
 * nothing; the child only says "ok SERIAL" or why not. The daemon trusts none
 * of that beyond "valid": it parses the same bytes itself afterwards, which
 * the child has shown not to crash the parser. No seccomp filter: with no fds,
 * no privileges and no capabilities, what an exploited child could still do
 * is what user nobody can do, which is what the sandbox is for.
 */
static void child_parse(const struct tg_curl_buf *body, int out)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2] = {};
	struct rlimit cpu = {10, 10}, fsz = {0, 0};
	struct tg_diags diags = {};
	struct tg_policy *p = NULL;
	char reply[CHILD_REPLY_MAX];
	int r;

	if (out != 3) {
		if (dup2(out, 3) < 0)
			_exit(3);
		out = 3;
	}
	{
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);

		/* not even the daemon's log stream */
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0)
			_exit(3);
	}
	if (syscall(SYS_close_range, 4u, ~0u, 0u) < 0)
		for (int fd = 4; fd < 65536; fd++)
			(void)close(fd);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(3);
	if (geteuid() == 0 &&
	    (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 || setresuid(NOBODY, NOBODY, NOBODY) < 0))
		_exit(3);
	if (syscall(SYS_capset, &hdr, data) < 0)
		_exit(3);
	(void)setrlimit(RLIMIT_CPU, &cpu);
	(void)setrlimit(RLIMIT_FSIZE, &fsz);

	r = tg_policy_parse(body->p ? body->p : "", body->n, "policy", &p, &diags);
	if (r >= 0) {
		snprintf(reply, sizeof(reply), "ok %" PRIu64 "\n", p->serial);
	} else {
		size_t o = 0;

		o += (size_t)snprintf(reply, sizeof(reply), "%zu errors", diags.n + diags.dropped);
		for (size_t i = 0; i < diags.n && i < 3 && o < sizeof(reply) - 1; i++) {
			char line[512];

			tg_diag_format(&diags.v[i], line, sizeof(line));
			o += (size_t)snprintf(reply + o, sizeof(reply) - o, "; %s", line);
		}
		if (diags.n == 0)
			snprintf(reply + o, sizeof(reply) - o, ": %s", strerror(-r));
	}
	(void)!write(out, reply, strnlen(reply, sizeof(reply)));
	_exit(r >= 0 ? 0 : 1);
}

/* 0 when the child parsed the bytes without error, else -errno with why. */
static int sandboxed_parse(const struct tg_curl_buf *body, char *why, size_t len)
{
	char reply[CHILD_REPLY_MAX + 1];
	size_t n = 0;
	int pfd[2], status = 0;
	pid_t pid;
	uint64_t deadline = now_usec(CLOCK_MONOTONIC) + CHILD_TIMEOUT_MS * 1000ull;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		snprintf(why, len, "cannot create a pipe for the parser: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(pfd[0]);
		close(pfd[1]);
		snprintf(why, len, "cannot fork the parser: %s", strerror(e));
		return -e;
	}
	if (pid == 0) {
		close(pfd[0]);
		child_parse(body, pfd[1]);
	}
	close(pfd[1]);
	/* Bounded: the parse of at most TG_POLICY_MAX_BYTES takes well under a
	 * second; a child that hangs is killed at the deadline. */
	for (;;) {
		uint64_t now = now_usec(CLOCK_MONOTONIC);
		struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
		ssize_t k;
		int pr;

		if (now >= deadline)
			break;
		pr = poll(&pf, 1, (int)((deadline - now) / 1000 + 1));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			break;
		k = read(pfd[0], reply + n, CHILD_REPLY_MAX - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
		if (n == CHILD_REPLY_MAX)
			break;
	}
	close(pfd[0]);
	reply[n] = '\0';
	(void)kill(pid, SIGKILL); /* gone already, or hanging */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	sanitize(reply);
	if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL) {
		snprintf(why, len, "the policy parser crashed (signal %d) on these bytes", WTERMSIG(status));
		return -EBADMSG;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && strncmp(reply, "ok ", 3) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 1) {
		snprintf(why, len, "invalid policy: %.400s", reply);
		return -EINVAL;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
		snprintf(why, len, "cannot drop privileges for the policy parser");
		return -EPERM;
	}
	snprintf(why, len, "the policy parser did not answer in %d s", CHILD_TIMEOUT_MS / 1000);
	return -ETIMEDOUT;
}

/* ---------- scheduling ---------- */

static int start_transfer(struct tg_fetch *f, enum stage stage);

static void schedule(struct tg_fetch *f, uint64_t delay_usec)
{
	struct tg_daemon *d = f->d;
	uint64_t mono = now_usec(CLOCK_MONOTONIC);
	int r;

	d->sync.next_attempt_usec = now_usec(CLOCK_REALTIME) + delay_usec;
	r = sd_event_source_set_time(f->poll_timer, mono + delay_usec);
	if (r >= 0)
		r = sd_event_source_set_enabled(f->poll_timer, SD_EVENT_ONESHOT);
	if (r < 0)
		log_warning_errno(r, "Failed to schedule the next policy fetch: %m");
}

static uint64_t interval_sec(const struct tg_fetch *f)
{
	int64_t v = f->d->config ? f->d->config->policy_interval : 600;

	return v > 0 ? (uint64_t)v : 600;
}

static void schedule_next(struct tg_fetch *f, bool failed)
{
	uint64_t iv = interval_sec(f), sec = iv;

	if (failed)
		sec = tg_fetch_backoff_sec(f->d->sync.consecutive_failures, FETCH_BACKOFF_MIN, iv);
	schedule(f, tg_fetch_jitter_usec(sec, tg_fetch_random()));
}

static void drop_easy(struct tg_fetch *f);

static void finish(struct tg_fetch *f)
{
	drop_easy(f);
	f->stage = STAGE_IDLE;
	f->d->sync.running = false;
	tg_curl_buf_reset(&f->body, 0);
	tg_curl_buf_reset(&f->sig, 0);
}

/* The sync ended without the server's policy in force. */
static void sync_failed(struct tg_fetch *f, bool policy_refused, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void sync_failed(struct tg_fetch *f, bool policy_refused, const char *fmt, ...)
{
	struct tg_daemon *d = f->d;
	char why[512], kept[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (d->policy)
		snprintf(kept, sizeof(kept), "keeping policy %s serial %" PRIu64,
			 d->policy->name ? d->policy->name : "?", d->policy->serial);
	else if (d->policy_awaiting_fetch && !(d->kernel && tg_kernel_adopted(d->kernel)))
		snprintf(kept, sizeof(kept), "no policy in force yet (nothing enforced)");
	else
		snprintf(kept, sizeof(kept), "keeping the pinned policy of an earlier run");
	set_str(d->sync.last_error, sizeof(d->sync.last_error), why);
	snprintf(d->sync.last_outcome, sizeof(d->sync.last_outcome), "%s: %.480s", policy_refused ? "refused" : "failed",
		 why);
	if (policy_refused)
		d->sync.refused++;
	else
		d->sync.failures++;
	d->sync.consecutive_failures++;
	log_warning("Central policy %s %s: %s; %s", d->sync.url, policy_refused ? "refused" : "not fetched", why,
		    kept);
	tg_events_policy(d->events, false, d->policy ? d->policy->name : NULL, d->policy ? d->policy->serial : 0,
			 d->sync.url, NULL, NULL, why, kept);
	finish(f);
	schedule_next(f, true);
}

static void sync_succeeded(struct tg_fetch *f, const char *outcome)
{
	struct tg_daemon *d = f->d;

	d->sync.last_success_usec = now_usec(CLOCK_REALTIME);
	d->sync.last_error[0] = '\0';
	d->sync.consecutive_failures = 0;
	set_str(d->sync.last_outcome, sizeof(d->sync.last_outcome), outcome);
	log_info("Central policy %s: %s", d->sync.url, outcome);
	finish(f);
	schedule_next(f, false);
}

/* Both documents are here: prove, parse, apply, keep. */
static void process_policy(struct tg_fetch *f)
{
	struct tg_daemon *d = f->d;
	const struct tg_config *c = d->config;
	struct tg_policy *p = NULL;
	struct tg_diags diags = {};
	char why[512] = "", outcome[512];
	int r;

	if (c->policy_public_key) {
		char sig_name[320];

		snprintf(sig_name, sizeof(sig_name), "%.300s.sig", d->sync.url);
		r = tg_sig_verify(f->body.p, f->body.n, f->sig.p ? f->sig.p : "", f->sig.n,
				  c->policy_public_key, sig_name, why, sizeof(why));
		if (r < 0)
			return sync_failed(f, true, "%s", why);
	}
	r = sandboxed_parse(&f->body, why, sizeof(why));
	if (r < 0)
		return sync_failed(f, true, "%s", why);
	r = tg_policy_parse(f->body.p ? f->body.p : "", f->body.n, d->sync.url, &p, &diags);
	tg_diags_free(&diags);
	if (r < 0)
		return sync_failed(f, true, "invalid policy (%s)", strerror(-r));
	if (d->policy && p->serial < d->policy->serial && !c->policy_allow_rollback) {
		uint64_t s = p->serial;

		tg_policy_free(p);
		return sync_failed(f, true,
				   "serial %" PRIu64 " is lower than serial %" PRIu64
				   " in force (rollback refused; publish with a higher serial, or set "
				   "policy.allow_rollback)",
				   s, d->policy->serial);
	}
	if (d->policy && memcmp(d->policy->sha256, p->sha256, 32) == 0) {
		/* Same bytes as in force (e.g. the validators were lost): keep, no re-apply. */
		snprintf(outcome, sizeof(outcome), "unchanged (policy %s serial %" PRIu64 ")",
			 p->name ? p->name : "?", p->serial);
	} else {
		uint64_t s = p->serial;
		char name[128];

		set_str(name, sizeof(name), p->name ? p->name : "?");
		r = tg_daemon_apply_fetched(d, p);
		if (r < 0) {
			tg_policy_free(p);
			/* apply() already sent the policy event with the kernel's reason */
			d->sync.refused++;
			d->sync.consecutive_failures++;
			snprintf(d->sync.last_error, sizeof(d->sync.last_error),
				 "policy serial %" PRIu64 " could not be applied: %s", s, strerror(-r));
			set_str(d->sync.last_outcome, sizeof(d->sync.last_outcome), d->sync.last_error);
			finish(f);
			schedule_next(f, true);
			return;
		}
		p = NULL;
		snprintf(outcome, sizeof(outcome), "policy %s serial %" PRIu64 " applied", name, s);
		d->sync.applied++;
	}
	tg_policy_free(p);
	d->sync.serial = d->policy ? d->policy->serial : 0;
	set_str(d->sync.etag, sizeof(d->sync.etag), f->new_etag);
	set_str(d->sync.last_modified, sizeof(d->sync.last_modified), f->new_last_modified);
	if (d->policy) {
		memcpy(f->meta_sha256, d->policy->sha256, 32);
		f->meta_valid = true;
		if (save_cache(f, &f->body, d->policy->sha256) < 0)
			strncat(outcome, "; the last good copy was not updated (see the log)",
				sizeof(outcome) - strlen(outcome) - 1);
	}
	sync_succeeded(f, outcome);
}

static void transfer_done(struct tg_fetch *f, CURLcode res)
{
	struct tg_daemon *d = f->d;
	long code = 0;

	(void)curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code);
	if (f->stage == STAGE_POLICY) {
		if (res == CURLE_WRITE_ERROR && f->body.over)
			return sync_failed(f, true, "the policy is larger than %u bytes (refused)", TG_POLICY_MAX_BYTES);
		if (res == CURLE_FILESIZE_EXCEEDED)
			return sync_failed(f, true, "the policy is larger than %u bytes (refused unread)",
					   TG_POLICY_MAX_BYTES);
		if (res != CURLE_OK)
			return sync_failed(f, false, "%s%s%s", curl_easy_strerror(res), f->errbuf[0] ? ": " : "",
					   f->errbuf);
		if (code == 304) {
			d->sync.not_modified++;
			d->sync.serial = d->policy ? d->policy->serial : d->sync.serial;
			return sync_succeeded(f, "not modified (304)");
		}
		if (code != 200)
			return sync_failed(f, false, "the server answered HTTP %ld", code);
		if (d->config->policy_public_key) {
			int r = start_transfer(f, STAGE_SIG);

			if (r < 0)
				sync_failed(f, false, "cannot start fetching the signature: %s", strerror(-r));
			return;
		}
		return process_policy(f);
	}
	/* STAGE_SIG */
	if (res == CURLE_WRITE_ERROR && f->sig.over)
		return sync_failed(f, true, "the signature %s.sig is larger than %u bytes", d->sync.url, FETCH_SIG_MAX);
	if (res != CURLE_OK)
		return sync_failed(f, false, "signature %s.sig: %s%s%s", d->sync.url, curl_easy_strerror(res),
				   f->errbuf[0] ? ": " : "", f->errbuf);
	if (code == 404 || code == 410)
		return sync_failed(f, true, "missing signature: %s.sig answered HTTP %ld (a signed policy is required)",
				   d->sync.url, code);
	if (code != 200)
		return sync_failed(f, false, "signature %s.sig: the server answered HTTP %ld", d->sync.url, code);
	process_policy(f);
}

static void check_done(struct tg_fetch *f)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(f->curl.multi, &left))) {
		if (m->msg != CURLMSG_DONE || m->easy_handle != f->easy)
			continue;
		transfer_done(f, m->data.result);
		/* transfer_done may have started the next stage: re-read from scratch */
	}
}

static void check_done_cb(void *userdata)
{
	check_done(userdata);
}

/* ---------- transfers ---------- */

/* Tests shorten the stall limit (a stalled server must not cost 30 s). */
static long stall_time(void)
{
	const char *e = getenv("TOOLGUARD_FETCH_STALL_SEC");
	long v;

	if (e && (v = strtol(e, NULL, 10)) > 0 && v <= FETCH_STALL_TIME)
		return v;
	return FETCH_STALL_TIME;
}

static int start_transfer(struct tg_fetch *f, enum stage stage)
{
	struct tg_daemon *d = f->d;
	const struct tg_config *c = d->config;
	struct curl_slist *hdrs = NULL;
	char *url = NULL;
	CURL *e;
	CURLMcode mc;

	drop_easy(f);
	e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	if (stage == STAGE_POLICY) {
		url = strdup(d->sync.url);
		tg_curl_buf_reset(&f->body, TG_POLICY_MAX_BYTES);
		f->new_etag[0] = f->new_last_modified[0] = '\0';
		curl_easy_setopt(e, CURLOPT_WRITEDATA, &f->body);
		curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)TG_POLICY_MAX_BYTES);
		curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
		/* Conditional only while the policy in force is the one the validators describe. */
		if (f->meta_valid && d->policy && memcmp(d->policy->sha256, f->meta_sha256, 32) == 0) {
			char h[400];

			if (d->sync.etag[0]) {
				snprintf(h, sizeof(h), "If-None-Match: %s", d->sync.etag);
				hdrs = curl_slist_append(hdrs, h);
			}
			if (d->sync.last_modified[0]) {
				snprintf(h, sizeof(h), "If-Modified-Since: %s", d->sync.last_modified);
				hdrs = curl_slist_append(hdrs, h);
			}
		}
	} else {
		if (asprintf(&url, "%s.sig", d->sync.url) < 0)
			url = NULL;
		tg_curl_buf_reset(&f->sig, FETCH_SIG_MAX);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, &f->sig);
		curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)FETCH_SIG_MAX);
	}
	if (!url) {
		curl_easy_cleanup(e);
		curl_slist_free_all(hdrs);
		return -ENOMEM;
	}
	f->errbuf[0] = '\0';
	tg_curl_easy_setup(e, &(const struct tg_curl_opts){.ca_file = c->policy_ca_file,
							  .client_cert = c->policy_client_cert,
							  .client_key = c->policy_client_key,
							  .errbuf = f->errbuf,
							  .stall_sec = stall_time()});
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, tg_curl_buf_write);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* the cap applies to the decoded bytes */
	free(url);
	f->easy = e;
	f->stage = stage;
	mc = curl_multi_add_handle(f->curl.multi, e);
	if (mc != CURLM_OK) {
		f->easy = NULL;
		curl_easy_cleanup(e);
		curl_slist_free_all(hdrs);
		return -ENOMEM;
	}
	f->hdrs = hdrs; /* must live as long as the transfer */
	return 0;
}

static void drop_easy(struct tg_fetch *f)
{
	if (f->easy) {
		curl_multi_remove_handle(f->curl.multi, f->easy);
		curl_easy_cleanup(f->easy);
		f->easy = NULL;
	}
	curl_slist_free_all(f->hdrs);
	f->hdrs = NULL;
}

/* ---------- a sync ---------- */

static int begin_sync(struct tg_fetch *f)
{
	struct tg_daemon *d = f->d;
	int r;

	if (f->stage != STAGE_IDLE)
		return -EBUSY;
	if (!d->config || !d->config->policy_url) {
		d->sync.enabled = false;
		d->sync.url[0] = '\0';
		d->sync.next_attempt_usec = 0;
		(void)sd_event_source_set_enabled(f->poll_timer, SD_EVENT_OFF);
		return -ENOENT;
	}
	d->sync.enabled = true;
	set_str(d->sync.url, sizeof(d->sync.url), d->config->policy_url);
	d->sync.last_attempt_usec = now_usec(CLOCK_REALTIME);
	d->sync.next_attempt_usec = 0;
	d->sync.attempts++;
	d->sync.running = true;
	(void)sd_event_source_set_enabled(f->poll_timer, SD_EVENT_OFF);
	r = start_transfer(f, STAGE_POLICY);
	if (r < 0) {
		sync_failed(f, false, "cannot start the transfer: %s", strerror(-r));
		return r;
	}
	log_debug("Fetching the central policy %s", d->sync.url);
	return 0;
}

static int on_poll_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void)begin_sync(userdata);
	return 0;
}

static int on_sigusr1(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct tg_fetch *f = userdata;
	int r = begin_sync(f);

	if (r == -EBUSY)
		log_info("SIGUSR1: a policy fetch is already running");
	else if (r == -ENOENT)
		log_info("SIGUSR1: no policy.url configured, nothing to fetch");
	return 0;
}

int tg_fetch_now(struct tg_daemon *d, char *outcome, size_t len)
{
	int r;

	if (!d->fetch) {
		snprintf(outcome, len, "central policy fetching is off (--policy given, or no event loop)");
		return -ENOENT;
	}
	r = begin_sync(d->fetch);
	if (r == -EBUSY)
		snprintf(outcome, len, "a sync of %s is already running", d->sync.url);
	else if (r == -ENOENT)
		snprintf(outcome, len, "no policy.url configured: nothing to fetch");
	else if (r < 0)
		snprintf(outcome, len, "sync failed to start: %s", d->sync.last_error);
	else
		snprintf(outcome, len, "sync of %s started; see 'toolctl status' for the outcome", d->sync.url);
	return r;
}

void tg_fetch_config_changed(struct tg_daemon *d)
{
	struct tg_fetch *f = d->fetch;

	if (!f)
		return;
	meta_load(f);
	d->sync.serial = d->policy ? d->policy->serial : 0;
	if (!d->config->policy_url) {
		d->sync.enabled = false;
		d->sync.url[0] = '\0';
		d->sync.next_attempt_usec = 0;
		if (f->stage == STAGE_IDLE)
			(void)sd_event_source_set_enabled(f->poll_timer, SD_EVENT_OFF);
		return;
	}
	if (f->stage == STAGE_IDLE)
		(void)begin_sync(f);
}

void tg_fetch_free(struct tg_fetch *f)
{
	if (!f)
		return;
	drop_easy(f);
	tg_curl_loop_done(&f->curl);
	sd_event_source_unref(f->poll_timer);
	sd_event_source_unref(f->sigusr1);
	tg_curl_buf_reset(&f->body, 0);
	tg_curl_buf_reset(&f->sig, 0);
	free(f);
	curl_global_cleanup();
}

int tg_fetch_start(struct tg_daemon *d)
{
	struct tg_fetch *f;
	sigset_t usr1;
	int r;

	if (d->fetch)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return log_error_errno(-ENOMEM, "Failed to initialise libcurl");
	f = calloc(1, sizeof(*f));
	if (!f) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	f->d = d;
	r = tg_curl_loop_init(&f->curl, d->event, "policy-fetch", check_done_cb, f);
	if (r < 0)
		goto fail;
	r = sd_event_add_time(d->event, &f->poll_timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_poll_timer, f);
	if (r < 0)
		goto fail;
	(void)sd_event_source_set_enabled(f->poll_timer, SD_EVENT_OFF);
	(void)sd_event_source_set_description(f->poll_timer, "policy-fetch-poll");
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &usr1, NULL) >= 0 &&
	    sd_event_add_signal(d->event, &f->sigusr1, SIGUSR1, on_sigusr1, f) < 0)
		log_warning("Failed to set up SIGUSR1 (fetch now); 'toolctl sync' still works");
	d->fetch = f;
	tg_fetch_config_changed(d); /* validators, then the first fetch when a url is configured */
	return 0;
fail:
	log_error_errno(r, "Failed to set up central policy fetching: %m");
	tg_fetch_free(f);
	return r;
}
