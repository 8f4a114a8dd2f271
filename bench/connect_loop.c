/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Loopback TCP connect loop against a listener it owns:
 *   connect_loop N [ADDR] [--port P] [--join CGROUP-DIR]
 *     -> "connects=N failed=F ns_per_connect=X"
 * --port: the listener's port (default: any free one).
 * --join: the listener is made first, then the process joins CGROUP-DIR for
 *   the loop: only the client ends of the connections belong to that cgroup
 *   and run its programs, as when connecting to another machine (cgroup
 *   programs follow the cgroup a socket was created in; accepted sockets
 *   inherit the listener's). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
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

static int join_cgroup(const char *dir)
{
	char path[4096], pid[32];
	int fd, len, ok;

	if (snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= (int)sizeof(path))
		return -1;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = snprintf(pid, sizeof(pid), "%d", (int)getpid());
	ok = write(fd, pid, (size_t)len) == len;
	close(fd);
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *join = NULL;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	long n = 0, port = 0, failed = 0;
	int l, one = 1, pos = 0;
	socklen_t sl = sizeof(sa);

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--join") == 0 && i + 1 < argc)
			join = argv[++i];
		else if (pos == 0 && ++pos)
			n = strtol(argv[i], NULL, 10);
		else if (pos == 1 && ++pos)
			addr = argv[i];
		else
			n = -1;
	}
	if (n <= 0 || n > 10000000 || port < 0 || port > 65535) {
		fprintf(stderr, "usage: connect_loop N [IPv4-ADDR] [--port P] [--join CGROUP-DIR]  (N in 1..10000000)\n");
		return 2;
	}
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "connect_loop: bad address %s\n", addr);
		return 2;
	}
	sa.sin_port = htons((uint16_t)port);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 4096) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &sl) < 0) {
		perror("connect_loop: listen");
		return 1;
	}
	if (join && join_cgroup(join) < 0) {
		perror("connect_loop: cannot join the cgroup");
		return 1;
	}
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
	return failed ? 1 : 0;
}
