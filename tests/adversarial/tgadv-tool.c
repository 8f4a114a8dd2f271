/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The "banned tool" of tests/adversarial: waits, then prints "tgadv-ran".
 * The wait lets the daemon's after-the-fact kill (sha256 of a file the kernel
 * has not seen yet) land before anything is printed, as it would for a real
 * tool that takes a moment to start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	struct timespec ts = {.tv_sec = 5};
	const char *d = getenv("TGADV_DELAY_MS");

	if (d) {
		long ms = strtol(d, NULL, 10);

		if (ms >= 0 && ms < 60000) {
			ts.tv_sec = ms / 1000;
			ts.tv_nsec = (ms % 1000) * 1000000L;
		}
	}
	while (nanosleep(&ts, &ts) != 0)
		;
	printf("tgadv-ran%s%s\n", argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
	return 0;
}
