/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tamper detection: another root process editing toolguard's pinned maps
 * (bpftool map update/delete), flipping the generation, or unpinning or
 * detaching a link. After every successful apply the daemon records a digest
 * of what it wrote (tg_tamper_arm); a timer (every few seconds) and SIGHUP
 * compare the maps and link pins with it. A difference is logged, becomes a
 * "tamper" event, and is repaired by applying the policy in force again
 * (maps) or by loading fresh programs (links).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tg_daemon;
struct tg_kernel;

#define TG_TAMPER_INTERVAL_USEC (5ull * 1000000ull)

/* Order-independent digest of map entries: adding an entry and removing it
 * again (sign -1) gives the digest back. */
struct tg_digest {
	uint64_t sum;
	uint64_t mix;
	int64_t n;
};
/* Inline: kernel.c (also linked without tamper.c) adds its own writes. */
static inline uint64_t tg_digest_fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static inline uint64_t tg_digest_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static inline void tg_digest_entry(struct tg_digest *dg, int sign, uint32_t tag, const void *key, size_t klen,
				   const void *val, size_t vlen)
{
	uint64_t h = tg_digest_fnv1a(0xcbf29ce484222325ull, &tag, sizeof(tag));

	h = tg_digest_fnv1a(h, key, klen);
	h = tg_digest_fnv1a(h, val, vlen);
	h = tg_digest_mix64(h);
	if (sign < 0) {
		dg->sum -= h;
		dg->n--;
	} else {
		dg->sum += h;
		dg->n++;
	}
	dg->mix ^= tg_digest_mix64(h ^ 0x9e3779b97f4a7c15ull);
}

/* Tag of tg_inodes entries (kernel.c adds its own inode writes with it). */
#define TG_TAMPER_TAG_INODES 0x696e6fu

struct tg_tamper_counters {
	uint64_t checks;
	uint64_t detected; /* checks that found a difference */
	uint64_t repaired; /* ... and repaired it */
	uint64_t repair_failures;
	uint64_t last_detected_usec; /* CLOCK_REALTIME, 0 = never */
	uint64_t last_repair_usec;   /* how long the last repair took */
	char last_finding[512];	     /* "" = never */
};

struct tg_tamper;

/* Starts the periodic check on d->event. Interval: TG_TAMPER_INTERVAL_USEC,
 * or TOOLGUARD_TAMPER_INTERVAL_MS (tests; 0 turns the timer off). */
int tg_tamper_new(struct tg_daemon *d, struct tg_tamper **ret);
void tg_tamper_free(struct tg_tamper *t);
/* What the maps and link pins hold now is what the daemon wrote (call after
 * every successful apply; NULL t is fine). */
void tg_tamper_arm(struct tg_tamper *t);
/* Compare now; on a difference log, report and repair. trigger: "timer",
 * "SIGHUP". Returns 1 when something was found, 0 when intact or not armed. */
int tg_tamper_check(struct tg_tamper *t, const char *trigger);
const struct tg_tamper_counters *tg_tamper_counters(const struct tg_tamper *t);
