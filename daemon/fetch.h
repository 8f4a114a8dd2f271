/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Central policy: policy.url fetched with libcurl's multi interface driven by
 * the daemon's sd-event loop (the loop never waits on the network), proved
 * (Ed25519 signature of <url>.sig, serial never going down), parsed first by
 * an unprivileged child, applied, and kept as the last good copy (policy.cache
 * plus policy.cache + ".meta" with the ETag/Last-Modified validators).
 * State for `toolctl status` is in struct tg_daemon's ->sync (state.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tg_daemon;
struct tg_fetch;

/* Start polling d->config->policy_url (now, then every interval +-10%) on
 * d->event. Without a url nothing is scheduled until a reload configures one
 * (call tg_fetch_config_changed()). SIGUSR1 also means "fetch now".
 * 0 or -errno. */
int tg_fetch_start(struct tg_daemon *d);
/* After a reload: url/interval/keys may have changed; a configured url is
 * fetched at once. */
void tg_fetch_config_changed(struct tg_daemon *d);
void tg_fetch_free(struct tg_fetch *f);

/* `toolctl sync`: start a fetch now (asynchronous; the outcome goes to
 * d->sync and the events). outcome gets one line for the user
 * ("sync started", "a sync is already running", "no policy.url configured").
 * 0 when a fetch runs, else -errno (-ENOENT: no url, -EBUSY: one runs). */
int tg_fetch_now(struct tg_daemon *d, char *outcome, size_t len);
