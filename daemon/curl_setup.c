// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdlib.h>
#include <string.h>

#include "curl_setup.h"

#define CONNECT_TIMEOUT 10L /* s, TLS handshake included */
#define TOTAL_TIMEOUT	60L /* s for one transfer */
#define MAX_REDIRS	3L

void tg_curl_easy_setup(CURL *e, const struct tg_curl_opts *o)
{
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, o->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, MAX_REDIRS);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, TOTAL_TIMEOUT);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, o->stall_sec);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "toolguard/" PACKAGE_VERSION);
	if (o->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
	if (o->client_cert) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, o->client_cert);
		curl_easy_setopt(e, CURLOPT_SSLKEY, o->client_key ? o->client_key : o->client_cert);
	}
}

void tg_curl_buf_reset(struct tg_curl_buf *b, size_t max)
{
	free(b->p);
	*b = (struct tg_curl_buf){.max = max};
}

size_t tg_curl_buf_write(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct tg_curl_buf *b = userdata;
	size_t n = size * nmemb;

	/* The cap holds whatever Content-Length said (or did not say). */
	if (n > b->max - b->n) {
		b->over = true;
		return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *p;

		while (cap < b->n + n + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		p = realloc(b->p, cap);
		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, data, n);
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}
