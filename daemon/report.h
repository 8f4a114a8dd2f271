/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reporting back: every event line (the same JSON objects as the events log)
 * is spooled on disk (report.spool, one file per batch, written atomically and
 * fsync'd) and POSTed in batches to report.url with libcurl's multi interface
 * on the daemon's sd-event loop (never blocking it). A 2xx answer removes the
 * batch; 408/429/5xx and transport errors retry with exponential backoff
 * (capped by report.retry_max); any other 4xx drops the batch, counted and
 * logged. The spool is bounded by report.spool_max: the oldest batches are
 * dropped first, counted. Delivery is at least once: each batch carries a
 * batch_id (machine id + spool file name) a collector can deduplicate on.
 */
#pragma once

#include <json-c/json.h>

struct tg_daemon;
struct tg_report;

/* Set up the spool and the event hook (before the first event: start-up policy
 * events are reported too). Sending starts with tg_report_attach(). Without
 * report_url nothing is spooled. 0 or -errno (then reporting is off). */
int tg_report_new(struct tg_daemon *d);
/* The event loop exists: arm timers and curl, send what the spool holds. */
int tg_report_attach(struct tg_daemon *d);
/* After a reload: url, spool directory, limits or TLS files may have changed. */
void tg_report_config_changed(struct tg_daemon *d);
/* At exit: events still in memory go to the spool (synchronously). */
void tg_report_flush(struct tg_daemon *d);
void tg_report_free(struct tg_report *r);

/* The "report" object of `toolctl status --json` (never NULL unless out of memory). */
json_object *tg_report_status_json(const struct tg_daemon *d);

/* url without userinfo, query and fragment, for logs and status. */
void tg_report_url_for_log(const char *url, char *buf, size_t len);
