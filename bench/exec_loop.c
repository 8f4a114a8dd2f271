/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fork+exec loop: exec_loop N PROGRAM [ARGS...] -> prints "execs=N ns_per_exec=X". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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
	if (argc < 3) {
		fprintf(stderr, "usage: exec_loop N PROGRAM [ARGS...]\n");
		return 2;
	}
	long n = strtol(argv[1], NULL, 10);
	if (n <= 0 || n > 100000000) {
		fprintf(stderr, "exec_loop: N must be 1..100000000\n");
		return 2;
	}
	long failed = 0;
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			execv(argv[2], argv + 2);
			_exit(127);
		}
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
	}
	double t1 = now_ns();
	printf("execs=%ld failed=%ld ns_per_exec=%.0f\n", n, failed, (t1 - t0) / (double)n);
	return 0;
}
