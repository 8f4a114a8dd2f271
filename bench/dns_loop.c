/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DNS query loop over UDP, one query in flight:
 * dns_loop N SERVER NAME [A|AAAA]
 *   -> prints "queries=N ns_per_query=X p10_ns=Y p50_ns=Z answers=M"
 * (mean, and the 10th and 50th percentiles of single round trips: the
 * percentiles hold still on a busy machine where the mean does not).
 * Every reply is checked (id, a response with an answer); a lost reply
 * times out after 1 s and counts as unanswered. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The query for name in wire format; returns its length, 0 if the name does not fit. */
static size_t build_query(uint8_t *q, size_t cap, const char *name, unsigned qtype)
{
	size_t n = 12;

	if (cap < 12 + 255 + 4)
		return 0;
	memset(q, 0, 12);
	q[2] = 0x01; /* RD */
	q[5] = 1;    /* QDCOUNT */
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);

		if (l == 0 || l > 63 || n + 1 + l > 12 + 254)
			return 0;
		q[n++] = (uint8_t)l;
		memcpy(q + n, name, l);
		n += l;
		name += l;
		if (*name == '.')
			name++;
	}
	q[n++] = 0;
	q[n++] = 0;
	q[n++] = (uint8_t)qtype;
	q[n++] = 0;
	q[n++] = 1;
	return n;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
	unsigned qtype = argc > 4 && !strcmp(argv[4], "AAAA") ? 28 : 1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(53)};
	struct timeval tv = {.tv_sec = 1};
	uint8_t q[512], r[4096];
	long answered = 0;
	double t0, *lat;
	size_t qlen;
	int s;

	if (n <= 0 || n > 10000000 || argc < 4) {
		fprintf(stderr, "usage: dns_loop N SERVER_IPv4 NAME [A|AAAA]  (N in 1..10000000)\n");
		return 2;
	}
	if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1) {
		fprintf(stderr, "dns_loop: bad server address %s\n", argv[2]);
		return 2;
	}
	qlen = build_query(q, sizeof(q), argv[3], qtype);
	if (!qlen) {
		fprintf(stderr, "dns_loop: bad name %s\n", argv[3]);
		return 2;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("dns_loop: socket");
		return 1;
	}
	lat = calloc((size_t)n, sizeof(*lat));
	if (!lat) {
		fprintf(stderr, "dns_loop: out of memory\n");
		return 1;
	}
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		uint16_t id = (uint16_t)i;
		double t1 = now_ns();
		ssize_t got;

		q[0] = (uint8_t)(id >> 8);
		q[1] = (uint8_t)id;
		if (send(s, q, qlen, 0) != (ssize_t)qlen) {
			perror("dns_loop: send");
			return 1;
		}
		do
			got = recv(s, r, sizeof(r), 0);
		while (got >= 2 && (r[0] != q[0] || r[1] != q[1])); /* a late reply to an earlier query */
		if (got >= 12 && (r[2] & 0x80) && (r[6] || r[7]))
			answered++;
		lat[i] = now_ns() - t1;
	}
	t0 = (now_ns() - t0) / (double)n;
	qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
	printf("queries=%ld ns_per_query=%.0f p10_ns=%.0f p50_ns=%.0f answers=%ld\n", n, t0, lat[n / 10], lat[n / 2],
	       answered);
	free(lat);
	close(s);
	return answered == n ? 0 : 1;
}
