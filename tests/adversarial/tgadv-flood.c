/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Event storm for tests/adversarial/flood.sh:
 *   tgadv-flood exec FILE SECONDS [WORKERS]     fork + exec FILE as fast as possible
 *   tgadv-flood connect IPV4 PORT SECONDS       TCP connect() as fast as possible
 * Prints one line: "<attempts> <refused> <seconds>" (refused: killed by a
 * signal or exit 126 for exec, EPERM for connect). Exit 120 on setup errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int flood_exec(const char *file, double secs, int workers)
{
	unsigned long long attempts = 0, refused = 0;
	double start = now();
	int fds[2];

	if (pipe(fds) < 0)
		return 120;
	for (int w = 0; w < workers; w++) {
		pid_t p = fork();

		if (p < 0)
			return 120;
		if (p == 0) {
			unsigned long long a = 0, r = 0;
			char line[64];

			close(fds[0]);
			while (now() - start < secs) {
				int st;
				pid_t c = fork();

				if (c < 0)
					continue;
				if (c == 0) {
					char *argv[] = {(char *)file, NULL};

					execv(file, argv);
					_exit(127);
				}
				a++;
				if (waitpid(c, &st, 0) == c &&
				    (WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 126)))
					r++;
			}
			snprintf(line, sizeof(line), "%llu %llu\n", a, r);
			if (write(fds[1], line, strlen(line)) < 0)
				_exit(1);
			_exit(0);
		}
	}
	close(fds[1]);
	{
		FILE *f = fdopen(fds[0], "r");
		unsigned long long a, r;

		while (f && fscanf(f, "%llu %llu", &a, &r) == 2) {
			attempts += a;
			refused += r;
		}
		if (f)
			fclose(f);
	}
	while (wait(NULL) > 0)
		;
	printf("%llu %llu %.2f\n", attempts, refused, now() - start);
	return 0;
}

static int flood_connect(const char *ip, int port, double secs)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	unsigned long long attempts = 0, refused = 0;
	double start = now();

	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
		return 120;
	while (now() - start < secs) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (s < 0)
			return 120;
		attempts++;
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == EPERM)
			refused++;
		close(s);
	}
	printf("%llu %llu %.2f\n", attempts, refused, now() - start);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 4 && strcmp(argv[1], "exec") == 0)
		return flood_exec(argv[2], atof(argv[3]), argc > 4 ? atoi(argv[4]) : 2);
	if (argc == 5 && strcmp(argv[1], "connect") == 0)
		return flood_connect(argv[2], atoi(argv[3]), atof(argv[4]));
	fprintf(stderr, "usage: tgadv-flood exec FILE SECONDS [WORKERS] | connect IPV4 PORT SECONDS\n");
	return 120;
}
