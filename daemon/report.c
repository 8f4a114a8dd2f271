/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reporting events to report.url (see report.h).
 *
 * Flow: event line -> pending batch in memory (at most REPORT_FLUSH_USEC, or
 * until it is full) -> spool file "<usec>-<seq>.jsonl" (temporary file, fsync,
 * rename, fsync of the directory) -> oldest spool file POSTed as one JSON
 * object {machine_id, hostname, batch_id, sent_at, agent, events: [...]} ->
 * removed on 2xx. A crash loses at most the pending second of events (they are
 * in the journal and the events log too); a stop or restart loses none.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <systemd/sd-event.h>

#include "log.h"
#include "paths.h"
#include "policy.h"
#include "curl_loop.h"
#include "fetchrule.h"
#include "report.h"
#include "state.h"

#define REPORT_FLUSH_USEC	(1000000ull)   /* pending events reach the spool within 1 s */
#define REPORT_BATCH_MAX_BYTES	(256u * 1024u) /* one POST body (before the envelope) */
#define REPORT_BATCH_MAX_EVENTS 500u
#define REPORT_LINE_MAX		(64u * 1024u) /* longer event lines are not reported (events.c caps too) */
#define REPORT_RESPONSE_MAX	(16u * 1024u) /* what we keep of a collector's answer (for the log) */
#define REPORT_BACKOFF_MIN	2u	      /* s, first retry after a failure */
#define REPORT_STALL_TIME	30L
#define REPORT_MAX_FILES	100000u /* spool entries indexed (the byte cap binds long before) */
#define REPORT_LOG_USEC		(60u * 1000000u)

struct spool_file {
	char name[40]; /* "%016" PRIx64 "-%08x.jsonl" */
	uint64_t bytes;
	uint64_t events;
};

struct tg_report {
	struct tg_daemon *d;
	/* configuration in use */
	char *url; /* NULL = reporting off */
	char url_log[1024];
	char *spool;
	uint64_t spool_max;
	uint64_t batch_max; /* bytes of a spool file: min(REPORT_BATCH_MAX_BYTES, spool_max / 4) */
	int64_t retry_max;

	/* spool index, oldest first */
	struct spool_file *files;
	size_t n_files, cap_files;
	uint64_t spool_bytes;
	uint32_t seq;

	/* pending batch (JSON lines) */
	char *pend;
	size_t pend_len, pend_cap;
	uint64_t pend_events;

	/* loop */
	bool attached;
	struct tg_curl_loop curl; /* the multi handle on the daemon loop */
	CURL *easy;
	struct curl_slist *hdrs;
	sd_event_source *retry_timer, *flush_timer;
	char *body;	   /* of the transfer in flight */
	char inflight[40]; /* its spool file name ("" = none) */
	uint64_t inflight_events;
	char errbuf[CURL_ERROR_SIZE];
	char response[REPORT_RESPONSE_MAX + 1];
	size_t response_len;
	long retry_after; /* s, from a 429/503 answer (-1 = none) */

	char machine_id[64], hostname[256];

	/* counters for toolctl status */
	uint64_t sent_events, sent_batches;
	uint64_t dropped_events, dropped_batches;   /* spool cap, spool write errors, unreadable files */
	uint64_t rejected_events, rejected_batches; /* 4xx from the collector */
	uint64_t attempts, failures;
	unsigned consecutive_failures;
	uint64_t last_attempt_usec, last_success_usec, next_attempt_usec; /* CLOCK_REALTIME */
	char last_error[512];
	struct log_ratelimit drop_rl;
};

/* ---------- small helpers ---------- */

void tg_report_url_for_log(const char *url, char *buf, size_t len)
{
	const char *scheme_end, *host, *at, *path_start, *end;

	if (!url) {
		snprintf(buf, len, "%s", "");
		return;
	}
	scheme_end = strstr(url, "://");
	host = scheme_end ? scheme_end + 3 : url;
	path_start = host + strcspn(host, "/?#");
	/* userinfo: only an '@' inside the authority counts */
	at = memchr(host, '@', (size_t)(path_start - host));
	if (at) {
		const char *a;

		while ((a = memchr(at + 1, '@', (size_t)(path_start - at - 1))))
			at = a;
	}
	end = path_start + strcspn(path_start, "?#");
	snprintf(buf, len, "%.*s%.*s", (int)(host - url), url, (int)(end - (at ? at + 1 : host)),
		 at ? at + 1 : host);
}

static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

__attribute__((format(printf, 2, 3))) static void set_error(struct tg_report *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->last_error, sizeof(r->last_error), fmt, ap);
	va_end(ap);
}

static bool spool_name_ok(const char *n)
{
	size_t l = strlen(n);

	if (l != 16 + 1 + 8 + 6 || strcmp(n + 25, ".jsonl") != 0 || n[16] != '-')
		return false;
	for (size_t i = 0; i < 25; i++)
		if (i != 16 && !((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
			return false;
	return true;
}

static int cmp_files(const void *a, const void *b)
{
	return strcmp(((const struct spool_file *)a)->name, ((const struct spool_file *)b)->name);
}

static int mkdir_p(const char *path, mode_t mode)
{
	char *p = strdup(path);
	int r = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		*s = '/';
	}
	/* The spool names users and their commands: not world-readable. */
	if (r == 0 && mkdir(p, mode) < 0 && errno != EEXIST)
		r = -errno;
	free(p);
	return r;
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

static char *spool_path(const struct tg_report *r, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", r->spool, name) < 0)
		return NULL;
	return p;
}

/* ---------- spool ---------- */

static void log_drop(struct tg_report *r, uint64_t events, const char *why)
{
	uint64_t suppressed = 0;

	if (!log_ratelimit_test(&r->drop_rl, &suppressed))
		return;
	log_warning("Report spool %s: dropped %" PRIu64 " events (%s); %" PRIu64
		    " dropped in all%s (raise report.spool_max, or check %s)",
		    r->spool, events, why, r->dropped_events, suppressed ? ", more messages suppressed" : "",
		    r->url_log);
}

static void remove_index(struct tg_report *r, size_t i)
{
	r->spool_bytes -= r->files[i].bytes;
	memmove(&r->files[i], &r->files[i + 1], (r->n_files - i - 1) * sizeof(r->files[0]));
	r->n_files--;
}

static void unlink_spool(struct tg_report *r, const char *name)
{
	char *p = spool_path(r, name);

	if (p) {
		if (unlink(p) < 0 && errno != ENOENT)
			log_warning_errno(-errno, "Failed to remove %s: %m; it may be sent again", p);
		free(p);
	}
	fsync_dir(r->spool);
}

/* Drop the oldest batches (never the one in flight) until `need` more bytes fit. */
static void make_room(struct tg_report *r, uint64_t need)
{
	size_t i = 0;
	uint64_t events = 0;

	while (r->spool_bytes + need > r->spool_max && i < r->n_files) {
		if (strcmp(r->files[i].name, r->inflight) == 0) {
			i++;
			continue;
		}
		events += r->files[i].events;
		r->dropped_events += r->files[i].events;
		r->dropped_batches++;
		unlink_spool(r, r->files[i].name);
		remove_index(r, i);
	}
	if (events)
		log_drop(r, events, "the spool is full: oldest batches dropped");
}

static int index_add(struct tg_report *r, const char *name, uint64_t bytes, uint64_t events)
{
	struct spool_file *f;

	if (r->n_files >= REPORT_MAX_FILES)
		return -ENOSPC;
	if (r->n_files == r->cap_files) {
		size_t ncap = r->cap_files ? r->cap_files * 2 : 64;
		struct spool_file *nv = realloc(r->files, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		r->files = nv;
		r->cap_files = ncap;
	}
	f = &r->files[r->n_files++];
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->bytes = bytes;
	f->events = events;
	r->spool_bytes += bytes;
	return 0;
}

static uint64_t count_lines(const char *path, uint64_t max_bytes)
{
	char buf[65536];
	uint64_t n = 0, total = 0;
	ssize_t k;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return 0;
	while ((k = read(fd, buf, sizeof(buf))) > 0 && total < max_bytes) {
		total += (uint64_t)k;
		for (ssize_t i = 0; i < k; i++)
			n += buf[i] == '\n';
	}
	close(fd);
	return n;
}

/* Index what an earlier run left (restarts and outages lose nothing). */
static int spool_scan(struct tg_report *r)
{
	DIR *dir;
	struct dirent *de;
	int k;

	free(r->files);
	r->files = NULL;
	r->n_files = r->cap_files = 0;
	r->spool_bytes = 0;
	k = mkdir_p(r->spool, 0700);
	if (k < 0)
		return log_warning_errno(
		    k, "Failed to create the report spool %s: %m; events are not reported", r->spool);
	dir = opendir(r->spool);
	if (!dir)
		return log_warning_errno(-errno, "Failed to open the report spool %s: %m", r->spool);
	while ((de = readdir(dir))) {
		struct stat st;
		char *p;

		if (strncmp(de->d_name, ".tmp-", 5) == 0) {
			/* a write cut short by a crash: never renamed, so never counted */
			(void)unlinkat(dirfd(dir), de->d_name, 0);
			continue;
		}
		if (!spool_name_ok(de->d_name))
			continue;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		p = spool_path(r, de->d_name);
		if (!p)
			break;
		k = index_add(r, de->d_name, (uint64_t)st.st_size, count_lines(p, (uint64_t)st.st_size));
		free(p);
		if (k < 0)
			break;
	}
	closedir(dir);
	if (r->n_files > 1)
		qsort(r->files, r->n_files, sizeof(r->files[0]), cmp_files);
	/* Continue the sequence after what is there (names sort in creation order). */
	if (r->n_files > 0) {
		unsigned s = 0;

		if (sscanf(r->files[r->n_files - 1].name + 17, "%8x", &s) == 1)
			r->seq = s + 1;
	}
	make_room(r, 0); /* report.spool_max may have shrunk */
	if (r->n_files > 0)
		log_info("Report spool %s: %zu batches (%" PRIu64 " bytes) from an earlier run to send",
			 r->spool, r->n_files, r->spool_bytes);
	return 0;
}

static int write_file_atomic(struct tg_report *r, const char *name, const char *data, size_t len)
{
	char *tmp = NULL, *dst = spool_path(r, name);
	int fd = -1, k = 0;

	if (!dst || asprintf(&tmp, "%s/.tmp-%s", r->spool, name) < 0) {
		free(dst);
		return -ENOMEM;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		k = -errno;
		goto out;
	}
	while (len > 0) {
		ssize_t w = write(fd, data, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			k = -errno;
			goto out;
		}
		data += w;
		len -= (size_t)w;
	}
	if (fsync(fd) < 0) {
		k = -errno;
		goto out;
	}
	k = close(fd) < 0 ? -errno : 0;
	fd = -1;
	if (k == 0 && rename(tmp, dst) < 0)
		k = -errno;
	if (k == 0)
		fsync_dir(r->spool);
out:
	if (fd >= 0)
		close(fd);
	if (k < 0)
		(void)unlink(tmp);
	free(tmp);
	free(dst);
	return k;
}

static void kick(struct tg_report *r);

/* The pending batch becomes a spool file. */
static void flush_pending(struct tg_report *r)
{
	char name[40];
	int k;

	if (r->flush_timer)
		(void)sd_event_source_set_enabled(r->flush_timer, SD_EVENT_OFF);
	if (r->pend_events == 0)
		return;
	if (r->pend_len > r->spool_max) {
		k = -EFBIG;
	} else {
		make_room(r, r->pend_len);
		snprintf(name, sizeof(name), "%016" PRIx64 "-%08" PRIx32 ".jsonl", now_usec(CLOCK_REALTIME),
			 r->seq++);
		k = r->spool_bytes + r->pend_len > r->spool_max
			? -ENOSPC
			: write_file_atomic(r, name, r->pend, r->pend_len);
		if (k >= 0)
			k = index_add(r, name, r->pend_len, r->pend_events);
	}
	if (k < 0) {
		char why[160];

		/* Nothing to keep them in without growing without bound: counted, logged. */
		r->dropped_events += r->pend_events;
		r->dropped_batches++;
		snprintf(why, sizeof(why), "cannot write to the spool: %s", strerror(-k));
		set_error(r, "%s", why);
		log_drop(r, r->pend_events, why);
	}
	r->pend_len = 0;
	r->pend_events = 0;
	kick(r);
}

static void on_event_line(const char *line, size_t len, void *userdata)
{
	struct tg_report *r = userdata;

	if (!r->url)
		return;
	if (len == 0 || len > REPORT_LINE_MAX || memchr(line, '\n', len)) {
		r->dropped_events++;
		log_drop(r, 1, "event line too long");
		return;
	}
	if (r->pend_events > 0 &&
	    (r->pend_len + len + 1 > r->batch_max || r->pend_events >= REPORT_BATCH_MAX_EVENTS))
		flush_pending(r);
	if (r->pend_len + len + 1 > r->pend_cap) {
		size_t cap = r->pend_cap ? r->pend_cap : 16384;
		char *p;

		while (cap < r->pend_len + len + 1)
			cap *= 2;
		p = realloc(r->pend, cap);
		if (!p) {
			r->dropped_events++;
			log_drop(r, 1, "out of memory");
			return;
		}
		r->pend = p;
		r->pend_cap = cap;
	}
	memcpy(r->pend + r->pend_len, line, len);
	r->pend_len += len;
	r->pend[r->pend_len++] = '\n';
	r->pend_events++;
	if (r->flush_timer && sd_event_source_get_enabled(r->flush_timer, NULL) == 0) {
		(void)sd_event_source_set_time(r->flush_timer, now_usec(CLOCK_MONOTONIC) + REPORT_FLUSH_USEC);
		(void)sd_event_source_set_enabled(r->flush_timer, SD_EVENT_ONESHOT);
	}
}

/* ---------- the POST body ---------- */

static void rfc3339_now(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

/* Read a spool file and wrap its lines: NULL when unreadable (then it is dropped). */
static char *build_body(struct tg_report *r, const struct spool_file *f, uint64_t *ret_events)
{
	char *path = spool_path(r, f->name), *data = NULL, *save = NULL, *line, *out = NULL, now[40], id[320];
	json_object *o = NULL, *arr = NULL;
	struct stat st;
	uint64_t n = 0;
	ssize_t k;
	int fd;

	if (!path)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd < 0)
		return NULL;
	/* Bounded: a batch file is at most REPORT_BATCH_MAX_BYTES (+ one line) when we wrote it. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t)(REPORT_BATCH_MAX_BYTES + REPORT_LINE_MAX + 1) ||
	    !(data = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return NULL;
	}
	k = read(fd, data, (size_t)st.st_size);
	close(fd);
	if (k != st.st_size) {
		free(data);
		return NULL;
	}
	data[k] = '\0';
	o = json_object_new_object();
	arr = json_object_new_array();
	if (!o || !arr)
		goto out;
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_object *ev = json_tokener_parse(line);

		if (!ev || !json_object_is_type(ev, json_type_object)) {
			json_object_put(ev);
			continue; /* not one of ours */
		}
		json_object_array_add(arr, ev);
		n++;
	}
	rfc3339_now(now, sizeof(now));
	snprintf(id, sizeof(id), "%.255s-%.25s", r->machine_id[0] ? r->machine_id : r->hostname, f->name);
	json_object_object_add(o, "machine_id", json_object_new_string(r->machine_id));
	json_object_object_add(o, "hostname", json_object_new_string(r->hostname));
	json_object_object_add(o, "batch_id", json_object_new_string(id));
	json_object_object_add(o, "sent_at", json_object_new_string(now));
	json_object_object_add(o, "agent", json_object_new_string("toolguard/" PACKAGE_VERSION));
	json_object_object_add(o, "events", arr);
	arr = NULL;
	out = strdup(
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	if (out)
		*ret_events = n;
out:
	json_object_put(arr);
	json_object_put(o);
	free(data);
	return out;
}

/* ---------- sending ---------- */

static void drop_easy(struct tg_report *r)
{
	if (r->easy) {
		curl_multi_remove_handle(r->curl.multi, r->easy);
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
	}
	curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;
	free(r->body);
	r->body = NULL;
	r->inflight[0] = '\0';
	r->inflight_events = 0;
}

static void schedule_retry(struct tg_report *r)
{
	uint64_t cap = (uint64_t)(r->retry_max > 0 ? r->retry_max : 300), usec;
	uint64_t sec = tg_fetch_backoff_sec(r->consecutive_failures, REPORT_BACKOFF_MIN, cap);

	if (r->retry_after > 0 && (uint64_t)r->retry_after > sec)
		sec = (uint64_t)r->retry_after;
	if (sec > cap)
		sec = cap;
	usec = tg_fetch_jitter_usec(sec, tg_fetch_random()); /* a fleet does not retry together */
	r->next_attempt_usec = now_usec(CLOCK_REALTIME) + usec;
	(void)sd_event_source_set_time(r->retry_timer, now_usec(CLOCK_MONOTONIC) + usec);
	(void)sd_event_source_set_enabled(r->retry_timer, SD_EVENT_ONESHOT);
}

static size_t on_response(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct tg_report *r = userdata;
	size_t n = size * nmemb, room = REPORT_RESPONSE_MAX - r->response_len;

	/* Keep the start (the reason); discard the rest without failing the transfer. */
	if (room > 0) {
		size_t c = n < room ? n : room;

		memcpy(r->response + r->response_len, data, c);
		r->response_len += c;
		r->response[r->response_len] = '\0';
	}
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct tg_report *r = userdata;
	size_t n = size * nmemb;

	if (n > 12 && n < 64 && strncasecmp(data, "retry-after:", 12) == 0) {
		char v[64];
		long s;

		memcpy(v, data + 12, n - 12);
		v[n - 12] = '\0';
		s = strtol(v, NULL, 10); /* an HTTP date is not worth parsing: then the backoff rules */
		if (s > 0 && s <= 86400)
			r->retry_after = s;
	}
	return n;
}

static int start_post(struct tg_report *r)
{
	const struct tg_config *c = r->d->config;
	const char *ca = c->report_ca_file ? c->report_ca_file : c->policy_ca_file;
	const char *cert = c->report_client_cert ? c->report_client_cert : c->policy_client_cert;
	const char *key = c->report_client_cert ? c->report_client_key : c->policy_client_key;
	struct spool_file f = r->files[0];
	uint64_t events = 0;
	CURL *e;

	r->body = build_body(r, &f, &events);
	if (!r->body) {
		r->dropped_events += f.events;
		r->dropped_batches++;
		log_drop(r, f.events, "a spool file could not be read");
		unlink_spool(r, f.name);
		remove_index(r, 0);
		return -EAGAIN; /* next file */
	}
	e = curl_easy_init();
	r->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (!e || !r->hdrs) {
		if (e)
			curl_easy_cleanup(e);
		drop_easy(r);
		return -ENOMEM;
	}
	snprintf(r->inflight, sizeof(r->inflight), "%s", f.name);
	r->inflight_events = events;
	r->errbuf[0] = '\0';
	r->response[0] = '\0';
	r->response_len = 0;
	r->retry_after = -1;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->body));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_response);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	tg_curl_easy_setup(e, &(const struct tg_curl_opts){.ca_file = ca,
							   .client_cert = cert,
							   .client_key = key,
							   .errbuf = r->errbuf,
							   .stall_sec = REPORT_STALL_TIME});
	/* 307/308 keep the POST; 301-303 would turn it into a GET: not followed as success */
	curl_easy_setopt(e, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
	if (curl_multi_add_handle(r->curl.multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		drop_easy(r);
		return -ENOMEM;
	}
	r->easy = e;
	r->attempts++;
	r->last_attempt_usec = now_usec(CLOCK_REALTIME);
	r->next_attempt_usec = 0;
	log_debug("Reporting %" PRIu64 " events (%s) to %s", events, f.name, r->url_log);
	return 0;
}

/* Send the oldest batch when nothing is in flight and no retry is pending. */
static void kick(struct tg_report *r)
{
	int k;

	if (!r->attached || !r->url || r->easy)
		return;
	if (sd_event_source_get_enabled(r->retry_timer, NULL) > 0)
		return; /* backing off */
	while (r->n_files > 0) {
		k = start_post(r);
		if (k == 0)
			return;
		if (k != -EAGAIN) {
			r->failures++;
			r->consecutive_failures++;
			set_error(r, "cannot start the transfer: %s", strerror(-k));
			schedule_retry(r);
			return;
		}
	}
	r->next_attempt_usec = 0;
}

static void transfer_done(struct tg_report *r, CURLcode res)
{
	long code = 0;
	char name[40];
	uint64_t events = r->inflight_events;
	size_t idx = SIZE_MAX;

	(void)curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	snprintf(name, sizeof(name), "%s", r->inflight);
	for (size_t i = 0; i < r->n_files; i++)
		if (strcmp(r->files[i].name, name) == 0) {
			idx = i;
			break;
		}
	while (r->response_len > 0 && strchr(" \t\r\n", r->response[r->response_len - 1]))
		r->response[--r->response_len] = '\0';
	sanitize(r->response);
	if (res == CURLE_OK && code >= 200 && code < 300) {
		r->sent_events += events;
		r->sent_batches++;
		r->consecutive_failures = 0;
		r->last_success_usec = now_usec(CLOCK_REALTIME);
		r->last_error[0] = '\0';
		if (idx != SIZE_MAX)
			remove_index(r, idx);
		unlink_spool(r, name);
		log_debug("Reported %" PRIu64 " events to %s (HTTP %ld)", events, r->url_log, code);
		drop_easy(r);
		kick(r);
		return;
	}
	if (res == CURLE_OK && code >= 400 && code < 500 && code != 408 && code != 429) {
		/* The collector says this batch will never be accepted: retrying would block the rest. */
		r->rejected_events += events;
		r->rejected_batches++;
		set_error(r, "the collector refused a batch of %" PRIu64 " events with HTTP %ld: %.200s",
			  events, code, r->response_len ? r->response : "(no reason given)");
		log_warning("Report to %s: batch %s dropped: HTTP %ld: %.200s", r->url_log, name, code,
			    r->response_len ? r->response : "(no reason given)");
		if (idx != SIZE_MAX)
			remove_index(r, idx);
		unlink_spool(r, name);
		r->consecutive_failures = 0;
		drop_easy(r);
		kick(r);
		return;
	}
	r->failures++;
	r->consecutive_failures++;
	if (res != CURLE_OK)
		set_error(r, "%s%s%s", curl_easy_strerror(res), r->errbuf[0] ? ": " : "", r->errbuf);
	else
		set_error(r, "the collector answered HTTP %ld%s%.200s", code, r->response_len ? ": " : "",
			  r->response);
	/* curl's error text may name the URL: the one in the log is stripped of secrets */
	if (r->consecutive_failures == 1 || r->consecutive_failures % 10 == 0)
		log_warning(
		    "Report to %s failed (%u in a row): %s; %zu batches wait in %s, retrying with backoff",
		    r->url_log, r->consecutive_failures,
		    res != CURLE_OK ? curl_easy_strerror(res) : r->last_error, r->n_files, r->spool);
	drop_easy(r);
	schedule_retry(r);
}

static void check_done(struct tg_report *r)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(r->curl.multi, &left))) {
		if (m->msg == CURLMSG_DONE && r->easy && m->easy_handle == r->easy) {
			transfer_done(r, m->data.result);
			return; /* transfer_done may have started the next one: the handle list changed */
		}
	}
}

static void check_done_cb(void *userdata)
{
	check_done(userdata);
}

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct tg_report *r = userdata;

	(void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
	kick(r);
	return 0;
}

static int on_flush_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	flush_pending(userdata);
	return 0;
}

/* ---------- configuration ---------- */

/* Take over report_* from the configuration in force. */
static int apply_config(struct tg_report *r)
{
	const struct tg_config *c = r->d->config;
	bool spool_changed;
	char *url = NULL, *spool = NULL;

	if (c->report_url && !(url = strdup(c->report_url)))
		return -ENOMEM;
	if (!(spool = strdup(c->report_spool ? c->report_spool : TG_REPORT_SPOOL))) {
		free(url);
		return -ENOMEM;
	}
	/* Whatever was pending belongs to the old spool. */
	if (r->url && r->spool)
		flush_pending(r);
	spool_changed = !r->spool || strcmp(r->spool, spool) != 0;
	if (spool_changed || !url || !r->url || strcmp(r->url, url) != 0) {
		drop_easy(r); /* the batch stays in its spool */
		/* a new collector (or spool) gets a fresh start, not the old backoff */
		r->consecutive_failures = 0;
		if (r->retry_timer)
			(void)sd_event_source_set_enabled(r->retry_timer, SD_EVENT_OFF);
	}
	free(r->url);
	r->url = url;
	free(r->spool);
	r->spool = spool;
	r->spool_max = c->report_spool_max ? c->report_spool_max : (16ull << 20);
	r->batch_max = r->spool_max / 4 < REPORT_BATCH_MAX_BYTES ? r->spool_max / 4 : REPORT_BATCH_MAX_BYTES;
	r->retry_max = c->report_retry_max > 0 ? c->report_retry_max : 300;
	tg_report_url_for_log(url, r->url_log, sizeof(r->url_log));
	if (!url) {
		r->next_attempt_usec = 0;
		if (r->retry_timer)
			(void)sd_event_source_set_enabled(r->retry_timer, SD_EVENT_OFF);
		return 0;
	}
	if (spool_changed || r->n_files == 0)
		(void)spool_scan(r);
	else
		make_room(r, 0);
	return 0;
}

static void read_identity(struct tg_report *r)
{
	FILE *f = fopen("/etc/machine-id", "re");

	r->machine_id[0] = '\0';
	if (f) {
		if (!fgets(r->machine_id, sizeof(r->machine_id), f))
			r->machine_id[0] = '\0';
		fclose(f);
	}
	r->machine_id[strcspn(r->machine_id, " \t\r\n")] = '\0';
	sanitize(r->machine_id);
	if (gethostname(r->hostname, sizeof(r->hostname) - 1) < 0)
		r->hostname[0] = '\0';
	r->hostname[sizeof(r->hostname) - 1] = '\0';
	sanitize(r->hostname);
}

/* ---------- public ---------- */

int tg_report_new(struct tg_daemon *d)
{
	struct tg_report *r;
	int k;

	if (d->report)
		return 0;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->d = d;
	r->drop_rl.interval_usec = REPORT_LOG_USEC;
	read_identity(r);
	k = apply_config(r);
	if (k < 0) {
		tg_report_free(r);
		return k;
	}
	d->report = r;
	tg_events_set_reporter(d->events, on_event_line, r);
	if (r->url)
		log_info("Reporting events to %s (spool %s, at most %" PRIu64 " bytes)", r->url_log, r->spool,
			 r->spool_max);
	return 0;
}

int tg_report_attach(struct tg_daemon *d)
{
	struct tg_report *r = d->report;
	int k;

	if (!r || r->attached)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return log_error_errno(-ENOMEM, "Failed to initialise libcurl for reporting");
	k = tg_curl_loop_init(&r->curl, d->event, "report", check_done_cb, r);
	if (k < 0) {
		curl_global_cleanup();
		return log_error_errno(k, "Failed to set up event reporting: %m");
	}
	k = sd_event_add_time(d->event, &r->retry_timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_retry_timer, r);
	if (k >= 0)
		k = sd_event_add_time(d->event, &r->flush_timer, CLOCK_MONOTONIC, UINT64_MAX, 0,
				      on_flush_timer, r);
	if (k < 0)
		return log_error_errno(k, "Failed to set up event reporting: %m");
	(void)sd_event_source_set_enabled(r->retry_timer, SD_EVENT_OFF);
	(void)sd_event_source_set_enabled(r->flush_timer, SD_EVENT_OFF);
	(void)sd_event_source_set_description(r->retry_timer, "report-retry");
	(void)sd_event_source_set_description(r->flush_timer, "report-flush");
	r->attached = true;
	/* Start-up events wait in memory: spool them, then send what the spool holds. */
	if (r->pend_events > 0)
		flush_pending(r);
	else
		kick(r);
	return 0;
}

void tg_report_config_changed(struct tg_daemon *d)
{
	struct tg_report *r = d->report;
	bool had = r && r->url;

	if (!r)
		return;
	if (apply_config(r) < 0) {
		log_warning("Out of memory applying the report configuration; reporting stays as it was");
		return;
	}
	if (r->url && !had)
		log_info("Reporting events to %s (spool %s)", r->url_log, r->spool);
	else if (!r->url && had)
		log_info("Event reporting off (no report_url); %zu batches stay in %s", r->n_files, r->spool);
	kick(r);
}

void tg_report_flush(struct tg_daemon *d)
{
	struct tg_report *r = d->report;

	if (!r || !r->url)
		return;
	r->attached = false; /* spool only: no new transfer while stopping */
	flush_pending(r);
}

void tg_report_free(struct tg_report *r)
{
	if (!r)
		return;
	if (r->d && r->d->events && r->d->report == r)
		tg_events_set_reporter(r->d->events, NULL, NULL);
	r->attached = false;
	if (r->url && r->spool)
		flush_pending(r);
	drop_easy(r);
	if (r->curl.multi) {
		tg_curl_loop_done(&r->curl);
		curl_global_cleanup();
	}
	sd_event_source_unref(r->retry_timer);
	sd_event_source_unref(r->flush_timer);
	free(r->files);
	free(r->pend);
	free(r->url);
	free(r->spool);
	free(r);
}

static json_object *time_or(uint64_t usec, const char *none)
{
	time_t t = (time_t)(usec / 1000000u);
	struct tm tm;
	char buf[64], off[8];

	if (!usec)
		return json_object_new_string(none);
	if (!localtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return json_object_new_int64((int64_t)t);
	strftime(off, sizeof(off), "%z", &tm);
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%.3s:%.2s", off, off + 3);
	return json_object_new_string(buf);
}

json_object *tg_report_status_json(const struct tg_daemon *d)
{
	const struct tg_report *r = d->report;
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (!r || !r->url) {
		json_object_object_add(o, "configured", json_object_new_boolean(0));
		json_object_object_add(o, "url", json_object_new_string("not configured"));
		if (r && r->n_files > 0)
			json_object_object_add(o, "queued_batches", json_object_new_uint64(r->n_files));
		return o;
	}
	json_object_object_add(o, "configured", json_object_new_boolean(1));
	json_object_object_add(o, "url", json_object_new_string(r->url_log));
	json_object_object_add(o, "spool", json_object_new_string(r->spool));
	json_object_object_add(o, "spool_max", json_object_new_uint64(r->spool_max));
	json_object_object_add(o, "spool_bytes", json_object_new_uint64(r->spool_bytes));
	{
		uint64_t q = r->pend_events;

		for (size_t i = 0; i < r->n_files; i++)
			q += r->files[i].events;
		json_object_object_add(o, "queued", json_object_new_uint64(q));
	}
	json_object_object_add(o, "queued_batches", json_object_new_uint64(r->n_files));
	json_object_object_add(o, "sent", json_object_new_uint64(r->sent_events));
	json_object_object_add(o, "sent_batches", json_object_new_uint64(r->sent_batches));
	json_object_object_add(o, "dropped", json_object_new_uint64(r->dropped_events));
	json_object_object_add(o, "dropped_batches", json_object_new_uint64(r->dropped_batches));
	json_object_object_add(o, "rejected", json_object_new_uint64(r->rejected_events));
	json_object_object_add(o, "rejected_batches", json_object_new_uint64(r->rejected_batches));
	json_object_object_add(o, "attempts", json_object_new_uint64(r->attempts));
	json_object_object_add(o, "failures", json_object_new_uint64(r->failures));
	json_object_object_add(o, "running", json_object_new_boolean(r->easy != NULL));
	json_object_object_add(o, "last_attempt", time_or(r->last_attempt_usec, "never"));
	json_object_object_add(o, "last_success", time_or(r->last_success_usec, "never"));
	json_object_object_add(o, "last_error",
			       r->last_error[0] ? json_object_new_string(r->last_error) : NULL);
	json_object_object_add(o, "next_attempt",
			       time_or(r->next_attempt_usec, r->easy	  ? "sending now"
							     : r->n_files ? "now"
									  : "when events come"));
	return o;
}
