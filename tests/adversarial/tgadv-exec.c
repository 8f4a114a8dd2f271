/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Exec paths that avoid naming the file (tests/adversarial/bypass-exec.sh):
 *   tgadv-exec procfd   FILE [ARGS]  open FILE, execv("/proc/self/fd/N")
 *   tgadv-exec execveat FILE [ARGS]  open FILE, execveat(fd, "", AT_EMPTY_PATH)
 *   tgadv-exec memfd    FILE [ARGS]  copy FILE into a memfd, fexecve()
 * argv[0] of the new image is FILE's basename. Exit 120 + message on failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int die(const char *what)
{
	fprintf(stderr, "tgadv-exec: %s: %s\n", what, strerror(errno));
	return 120;
}

static int copy_to_memfd(int in)
{
	char buf[65536];
	int m = memfd_create("tgadv", MFD_CLOEXEC);

	if (m < 0)
		return -1;
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return m;
		for (ssize_t o = 0; o < n;) {
			ssize_t w = write(m, buf + o, (size_t)(n - o));

			if (w < 0 && errno != EINTR)
				return -1;
			if (w > 0)
				o += w;
		}
	}
}

int main(int argc, char **argv)
{
	extern char **environ;
	const char *file, *sl;
	char path[64];
	int fd;

	if (argc < 3) {
		fprintf(stderr, "usage: tgadv-exec procfd|execveat|memfd FILE [ARGS]\n");
		return 2;
	}
	file = argv[2];
	sl = strrchr(file, '/');
	/* Not O_CLOEXEC for procfd: the new image may need the fd (scripts). */
	fd = open(file, strcmp(argv[1], "procfd") == 0 ? O_RDONLY : O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return die("open");
	argv[2] = (char *)(sl ? sl + 1 : file);
	if (strcmp(argv[1], "procfd") == 0) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		execv(path, argv + 2);
		return die("execv /proc/self/fd/N");
	}
	if (strcmp(argv[1], "execveat") == 0) {
		syscall(SYS_execveat, fd, "", argv + 2, environ, AT_EMPTY_PATH);
		return die("execveat AT_EMPTY_PATH");
	}
	if (strcmp(argv[1], "memfd") == 0) {
		int m = copy_to_memfd(fd);

		if (m < 0)
			return die("memfd copy");
		fexecve(m, argv + 2, environ);
		return die("fexecve");
	}
	fprintf(stderr, "tgadv-exec: unknown mode %s\n", argv[1]);
	return 2;
}
