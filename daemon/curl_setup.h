/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What every toolguard transfer shares: the libcurl settings and the capped
 * in-memory body (the policy fetcher, the event reporter, and bench/fleet_poll
 * that simulates the fetcher). */
#ifndef TOOLGUARD_CURL_SETUP_H
#define TOOLGUARD_CURL_SETUP_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

/* What differs between the transfers of the fetcher and the reporter. */
struct tg_curl_opts {
	const char *ca_file;	 /* CURLOPT_CAINFO; NULL = the system's CA store */
	const char *client_cert; /* PEM client certificate; NULL = none */
	const char *client_key;	 /* NULL = the key is in client_cert */
	char *errbuf;		 /* CURL_ERROR_SIZE bytes, for the transfer's error text */
	long stall_sec;		 /* a transfer below 1 byte/s this long is stalled */
};

/* The settings every toolguard transfer shares: https only (redirects too, at
 * most 3), certificate and host checked, connect/total/stall limits, no
 * signals, the user agent, and o's TLS files. The caller adds URL, data and
 * callbacks. Proxies: libcurl honours https_proxy / no_proxy from the environment. */
void tg_curl_easy_setup(CURL *e, const struct tg_curl_opts *o);

/* A response body held in memory: at most max bytes, NUL-terminated. */
struct tg_curl_buf {
	char *p;
	size_t n, cap, max;
	bool over; /* more than max arrived: the transfer was aborted */
};

/* Frees what b holds; b is then empty, for at most max bytes. */
void tg_curl_buf_reset(struct tg_curl_buf *b, size_t max);
/* CURLOPT_WRITEFUNCTION with CURLOPT_WRITEDATA a struct tg_curl_buf. */
size_t tg_curl_buf_write(char *data, size_t size, size_t nmemb, void *userdata);

#endif
