/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lib/fetchrule.c: poll jitter, failure backoff, the Ed25519 .sig check. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "fetchrule.h"

static void jitter_within_ten_percent(void **state)
{
	static const uint64_t secs[] = {1, 2, 30, 600, 86400};
	static const uint64_t rnds[] = {0, 1, 12345, UINT64_MAX / 2, UINT64_MAX - 1, UINT64_MAX};

	(void)state;
	for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
		uint64_t base = secs[i] * 1000000u, lo = base - base / 10, hi = base + base / 10;
		unsigned below = 0, above = 0;

		for (size_t j = 0; j < sizeof(rnds) / sizeof(rnds[0]); j++) {
			uint64_t v = tg_fetch_jitter_usec(secs[i], rnds[j]);

			assert_true(v >= lo && v <= hi);
		}
		/* rnd 0 is the low end exactly */
		assert_int_equal(tg_fetch_jitter_usec(secs[i], 0), lo);
		for (int k = 0; k < 1000; k++) {
			uint64_t v = tg_fetch_jitter_usec(secs[i], tg_fetch_random());

			assert_true(v >= lo && v <= hi);
			below += v < base;
			above += v > base;
		}
		/* spread over both sides (a failure here is a broken random source, odds 2^-1000) */
		assert_true(below > 0 && above > 0);
	}
	assert_int_equal(tg_fetch_jitter_usec(0, 12345), 0);
	/* no overflow on absurd intervals */
	assert_true(tg_fetch_jitter_usec(UINT64_MAX, UINT64_MAX) >= tg_fetch_jitter_usec(UINT64_MAX, 0));
}

static void backoff_doubles_and_caps(void **state)
{
	(void)state;
	assert_int_equal(tg_fetch_backoff_sec(0, 30, 600), 30);
	assert_int_equal(tg_fetch_backoff_sec(1, 30, 600), 30);
	assert_int_equal(tg_fetch_backoff_sec(2, 30, 600), 60);
	assert_int_equal(tg_fetch_backoff_sec(3, 30, 600), 120);
	assert_int_equal(tg_fetch_backoff_sec(4, 30, 600), 240);
	assert_int_equal(tg_fetch_backoff_sec(5, 30, 600), 480);
	assert_int_equal(tg_fetch_backoff_sec(6, 30, 600), 600);
	assert_int_equal(tg_fetch_backoff_sec(1000000, 30, 600), 600);
	assert_int_equal(tg_fetch_backoff_sec(UINT32_MAX, 2, 300), 300);
	/* the interval is shorter than the first retry: the interval */
	assert_int_equal(tg_fetch_backoff_sec(1, 30, 10), 10);
	assert_int_equal(tg_fetch_backoff_sec(7, 30, 10), 10);
	/* never wraps */
	assert_true(tg_fetch_backoff_sec(200, 3, UINT64_MAX) >= (UINT64_MAX / 2));
}

/* ---------- signatures ---------- */

struct keys {
	EVP_PKEY *key, *other;
	char pub[64], other_pub[64], junk[64];
};

static int write_pub(EVP_PKEY *k, char *path)
{
	int fd;
	FILE *f;

	strcpy(path, "/tmp/tg-test-fetchrule-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || !(f = fdopen(fd, "w")))
		return -1;
	if (PEM_write_PUBKEY(f, k) != 1) {
		fclose(f);
		return -1;
	}
	return fclose(f);
}

static int setup_keys(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));
	FILE *f;
	int fd;

	if (!k)
		return -1;
	k->key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	k->other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!k->key || !k->other || write_pub(k->key, k->pub) < 0 || write_pub(k->other, k->other_pub) < 0)
		return -1;
	strcpy(k->junk, "/tmp/tg-test-fetchrule-XXXXXX");
	fd = mkstemp(k->junk);
	if (fd < 0 || !(f = fdopen(fd, "w")))
		return -1;
	fputs("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n", f);
	fclose(f);
	*state = k;
	return 0;
}

static int teardown_keys(void **state)
{
	struct keys *k = *state;

	unlink(k->pub);
	unlink(k->other_pub);
	unlink(k->junk);
	EVP_PKEY_free(k->key);
	EVP_PKEY_free(k->other);
	free(k);
	return 0;
}

/* base64 of the raw signature of data (64 bytes for Ed25519) into b64 (>= 100 bytes). */
static void sign(EVP_PKEY *key, const char *data, unsigned char raw[64], char *b64)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t n = 64;

	assert_non_null(ctx);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, key), 1);
	assert_int_equal(EVP_DigestSign(ctx, raw, &n, (const unsigned char *)data, strlen(data)), 1);
	assert_int_equal(n, 64);
	EVP_MD_CTX_free(ctx);
	assert_int_equal(EVP_EncodeBlock((unsigned char *)b64, raw, 64), 88);
}

static const char policy[] = "version: 1\nname: t\nserial: 7\n";

static int verify(const struct keys *k, const char *key_path, const char *data, const char *sig, char *why)
{
	return tg_sig_verify(data, strlen(data), sig, strlen(sig), key_path,
			     "https://p.example/policy.yaml.sig", why, 512);
}

static void sig_verifies(void **state)
{
	struct keys *k = *state;
	unsigned char raw[64];
	char b64[100], sig[200], why[512] = "";

	sign(k->key, policy, raw, b64);
	assert_int_equal(verify(k, k->pub, policy, b64, why), 0);
	/* as served: a trailing newline, or wrapped lines */
	snprintf(sig, sizeof(sig), "%s\n", b64);
	assert_int_equal(verify(k, k->pub, policy, sig, why), 0);
	snprintf(sig, sizeof(sig), " %.44s\r\n\t%s\n", b64, b64 + 44);
	assert_int_equal(verify(k, k->pub, policy, sig, why), 0);
	/* no why buffer is fine */
	assert_int_equal(tg_sig_verify(policy, strlen(policy), b64, strlen(b64), k->pub, NULL, NULL, 0), 0);
}

static void sig_flipped_byte_refused(void **state)
{
	struct keys *k = *state;
	unsigned char raw[64];
	char b64[100], data[sizeof(policy)], why[512] = "";

	sign(k->key, policy, raw, b64);
	/* one bit of the policy */
	memcpy(data, policy, sizeof(policy));
	data[12] ^= 1;
	assert_int_equal(verify(k, k->pub, data, b64, why), -EBADMSG);
	assert_non_null(strstr(why, "bad signature"));
	assert_non_null(strstr(why, "https://p.example/policy.yaml.sig"));
	assert_non_null(strstr(why, k->pub));
	/* one bit of the signature */
	for (size_t i = 0; i < 64; i += 21) {
		unsigned char bad[64];

		memcpy(bad, raw, 64);
		bad[i] ^= 0x80;
		assert_int_equal(EVP_EncodeBlock((unsigned char *)b64, bad, 64), 88);
		assert_int_equal(verify(k, k->pub, policy, b64, why), -EBADMSG);
	}
	/* a policy with bytes appended */
	sign(k->key, policy, raw, b64);
	assert_int_equal(
	    tg_sig_verify(policy, sizeof(policy), b64, strlen(b64), k->pub, NULL, why, sizeof(why)),
	    -EBADMSG);
	assert_non_null(strstr(why, "the signature does not verify"));
}

static void sig_wrong_key_refused(void **state)
{
	struct keys *k = *state;
	unsigned char raw[64];
	char b64[100], why[512] = "";

	sign(k->other, policy, raw, b64);
	assert_int_equal(verify(k, k->pub, policy, b64, why), -EBADMSG);
	assert_non_null(strstr(why, "bad signature"));
	/* the right key for it */
	assert_int_equal(verify(k, k->other_pub, policy, b64, why), 0);
}

static void sig_wrong_length_refused(void **state)
{
	struct keys *k = *state;
	unsigned char raw[66];
	char b64[200], why[512] = "", *longsig;

	sign(k->key, policy, raw, b64);
	/* 63 and 65 bytes of base64, and 66 (no padding) */
	assert_int_equal(EVP_EncodeBlock((unsigned char *)b64, raw, 63), 84);
	assert_int_equal(verify(k, k->pub, policy, b64, why), -EBADMSG);
	assert_non_null(strstr(why, "not base64 of 64 bytes"));
	raw[64] = raw[65] = 0;
	assert_int_equal(EVP_EncodeBlock((unsigned char *)b64, raw, 65), 88);
	assert_int_equal(verify(k, k->pub, policy, b64, why), -EBADMSG);
	assert_int_equal(EVP_EncodeBlock((unsigned char *)b64, raw, 66), 88);
	assert_int_equal(verify(k, k->pub, policy, b64, why), -EBADMSG);
	/* a truncated one: not even a multiple of 4 characters */
	sign(k->key, policy, raw, b64);
	b64[87] = '\0';
	assert_int_equal(verify(k, k->pub, policy, b64, why), -EBADMSG);
	assert_non_null(strstr(why, "not base64"));
	/* empty, white space only, not base64 */
	assert_int_equal(verify(k, k->pub, policy, "", why), -EBADMSG);
	assert_int_equal(verify(k, k->pub, policy, " \n\t\r\n", why), -EBADMSG);
	assert_int_equal(verify(k, k->pub, policy, "this is not base64!!", why), -EBADMSG);
	/* longer than TG_SIG_B64_MAX characters: refused before decoding */
	longsig = malloc(TG_SIG_B64_MAX + 5);
	assert_non_null(longsig);
	memset(longsig, 'A', TG_SIG_B64_MAX + 4);
	longsig[TG_SIG_B64_MAX + 4] = '\0';
	assert_int_equal(verify(k, k->pub, policy, longsig, why), -EBADMSG);
	free(longsig);
}

static void sig_bad_key_file(void **state)
{
	struct keys *k = *state;
	unsigned char raw[64];
	char b64[100], why[512] = "";

	sign(k->key, policy, raw, b64);
	assert_int_equal(verify(k, "/nonexistent/tg-key.pem", policy, b64, why), -ENOENT);
	assert_non_null(strstr(why, "cannot read public_key /nonexistent/tg-key.pem"));
	assert_int_equal(verify(k, k->junk, policy, b64, why), -EINVAL);
	assert_non_null(strstr(why, "is not a PEM Ed25519 public key"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(jitter_within_ten_percent),
	    cmocka_unit_test(backoff_doubles_and_caps),
	    cmocka_unit_test(sig_verifies),
	    cmocka_unit_test(sig_flipped_byte_refused),
	    cmocka_unit_test(sig_wrong_key_refused),
	    cmocka_unit_test(sig_wrong_length_refused),
	    cmocka_unit_test(sig_bad_key_file),
	};

	return cmocka_run_group_tests_name("fetchrule", tests, setup_keys, teardown_keys);
}
