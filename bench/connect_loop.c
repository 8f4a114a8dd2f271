/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Loopback TCP connect loop against a listener it owns:
 * connect_loop N [ADDR] -> prints "connects=N ns_per_connect=X". */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
	const char *addr = argc > 2 ? argv[2] : "127.0.0.1";
	if (n <= 0 || n > 10000000) {
		fprintf(stderr, "usage: connect_loop N [IPv4 ADDR]  (N in 1..10000000)\n");
		return 2;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET};
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "connect_loop: bad address %s\n", addr);
		return 2;
	}
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 4096) < 0) {
		perror("listen");
		return 1;
	}
	socklen_t sl = sizeof(sa);
	getsockname(l, (struct sockaddr *)&sa, &sl);
	long failed = 0;
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			failed++;
		int a = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (a >= 0)
			close(a);
		/* RST instead of TIME_WAIT so the loop does not run out of ports. */
		struct linger lg = {1, 0};
		setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(c);
	}
	double t1 = now_ns();
	printf("connects=%ld failed=%ld ns_per_connect=%.0f\n", n, failed, (t1 - t0) / (double)n);
	close(l);
	return 0;
}
