/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Poll jitter, failure backoff and the .sig check of the policy fetch (see fetchrule.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "fetchrule.h"

uint64_t tg_fetch_jitter_usec(uint64_t sec, uint64_t rnd)
{
	uint64_t base, span;

	/* base + span / 2 must fit too */
	if (sec > UINT64_MAX / 1100000u)
		sec = UINT64_MAX / 1100000u;
	base = sec * 1000000u;
	span = base / 5;
	if (span == 0)
		return base;
	return base - span / 2 + rnd % (span + 1);
}

uint64_t tg_fetch_backoff_sec(unsigned failures, uint64_t min_sec, uint64_t cap_sec)
{
	uint64_t sec = min_sec;

	while (failures-- > 1 && sec < cap_sec && sec <= UINT64_MAX / 2)
		sec *= 2;
	return sec > cap_sec ? cap_sec : sec;
}

uint64_t tg_fetch_random(void)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v)) {
		struct timespec ts = {};

		(void)clock_gettime(CLOCK_MONOTONIC, &ts);
		v = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) * 6364136223846793005ull +
		    (uint64_t)getpid();
	}
	return v;
}

__attribute__((format(printf, 3, 4))) static void say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

int tg_sig_verify(const void *data, size_t len, const char *sig, size_t sig_len, const char *key_path,
		  const char *sig_name, char *why, size_t why_len)
{
	unsigned char b64[TG_SIG_B64_MAX + 4], raw[TG_SIG_B64_MAX];
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *ctx = NULL;
	size_t n = 0;
	int dec, pad = 0, r;
	FILE *fp;

	for (size_t i = 0; i < sig_len; i++) {
		if (sig[i] == ' ' || sig[i] == '\n' || sig[i] == '\r' || sig[i] == '\t')
			continue;
		if (n == TG_SIG_B64_MAX) {
			say(why, why_len,
			    "the signature is not base64 of 64 bytes (Ed25519): over %u characters",
			    TG_SIG_B64_MAX);
			return -EBADMSG;
		}
		b64[n++] = (unsigned char)sig[i];
	}
	if (n == 0 || n % 4 != 0) {
		say(why, why_len, "the signature is not base64 (%zu characters)", n);
		return -EBADMSG;
	}
	if (b64[n - 1] == '=')
		pad++;
	if (b64[n - 2] == '=')
		pad++;
	dec = EVP_DecodeBlock(raw, b64, (int)n);
	if (dec < 0 || dec - pad != (int)TG_SIG_RAW_LEN) {
		say(why, why_len, "the signature is not base64 of 64 bytes (Ed25519)");
		return -EBADMSG;
	}
	/* Read at every verification: a key replaced on disk counts from the next sync. */
	fp = fopen(key_path, "re");
	if (!fp) {
		r = -errno;
		say(why, why_len, "cannot read public_key %s: %s", key_path, strerror(-r));
		return r;
	}
	key = PEM_read_PUBKEY(fp, NULL, NULL, NULL);
	fclose(fp);
	if (!key || EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
		say(why, why_len, "public_key %s is not a PEM Ed25519 public key", key_path);
		r = -EINVAL;
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) != 1) {
		say(why, why_len, "cannot set up signature verification");
		r = -ENOMEM;
		goto out;
	}
	if (EVP_DigestVerify(ctx, raw, TG_SIG_RAW_LEN, (const unsigned char *)(data ? data : ""), len) != 1) {
		say(why, why_len, "bad signature: %.300s does not verify with %s",
		    sig_name ? sig_name : "the signature", key_path);
		r = -EBADMSG;
		goto out;
	}
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	return r;
}
