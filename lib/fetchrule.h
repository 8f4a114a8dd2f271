/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The central policy fetch's rules, shared by the daemon (daemon/fetch.c,
 * daemon/report.c) and the fleet simulator (bench/fleet_poll.c) so that both
 * poll, back off and verify the same way: +-10% jitter, exponential backoff
 * with a cap, Ed25519 signature of the policy bytes (<url>.sig, base64).
 * No logging, no global state; randomness comes in as an argument.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define TG_SIG_B64_MAX 1024u /* base64 characters of a .sig, white space excluded (88 expected) */
#define TG_SIG_RAW_LEN 64u   /* an Ed25519 signature */

/* sec +-10% in usec, uniform over rnd (64 random bits): 100,000 machines must
 * not arrive together. Saturates instead of overflowing. */
uint64_t tg_fetch_jitter_usec(uint64_t sec, uint64_t rnd);

/* Seconds to wait after `failures` consecutive failures: min_sec, doubled per
 * failure after the first, capped at cap_sec (cap_sec also when min_sec > cap_sec). */
uint64_t tg_fetch_backoff_sec(unsigned failures, uint64_t min_sec, uint64_t cap_sec);

/* 64 random bits for the jitter (getrandom, else a clock-derived value). */
uint64_t tg_fetch_random(void);

/*
 * Verify the Ed25519 signature sig (base64 of 64 bytes; white space allowed,
 * at most TG_SIG_B64_MAX other characters) of data[0..len) with the PEM
 * public key in the file key_path. sig_name names the signature in messages
 * (e.g. "https://host/policy.yaml.sig"; NULL: "the signature").
 * 0 when it verifies; else -EBADMSG (not base64 of 64 bytes, or it does not
 * verify), -EINVAL (not a PEM Ed25519 public key), -errno of reading the key,
 * -ENOMEM; why (when not NULL) then says what is wrong.
 */
int tg_sig_verify(const void *data, size_t len, const char *sig, size_t sig_len, const char *key_path,
		  const char *sig_name, char *why, size_t why_len);
