/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Event details from /proc at event time. See procinfo.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procinfo.h"

#define STAT_READ_MAX	 1024u			     /* /proc/PID/stat is one line of about 300 bytes */
#define CMDLINE_READ_MAX (TG_EVENT_ARGV_MAX * 4096u) /* enough for the entries kept */

void tg_tty_name_normalize(char *tty, size_t len)
{
	size_t nd;

	if (!tty || strncmp(tty, "pts", 3) != 0 || tty[3] == '/')
		return;
	nd = strspn(tty + 3, "0123456789");
	if (nd == 0 || tty[3 + nd] != 0 || 3 + nd + 2 > len)
		return;
	memmove(tty + 4, tty + 3, nd + 1);
	tty[3] = '/';
}

int tg_tty_name_from_dev(uint64_t tty_nr, char *buf, size_t len)
{
	/* the kernel's new_encode_dev(): minor bits 0-7 and 20-31, major bits 8-19 */
	unsigned major = (unsigned)((tty_nr >> 8) & 0xfff);
	unsigned minor = (unsigned)((tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00));
	int n;

	if (tty_nr == 0)
		return -ENOENT;
	if (major >= 136 && major <= 143) /* Unix98 pty slaves */
		n = snprintf(buf, len, "pts/%u", (major - 136) * 256 + minor);
	else if (major == 4 && minor < 64) /* virtual consoles */
		n = snprintf(buf, len, "tty%u", minor);
	else if (major == 4 && minor < 256) /* 8250 serial ports */
		n = snprintf(buf, len, "ttyS%u", minor - 64);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

ssize_t tg_proc_read(uint32_t pid, const char *what, char *buf, size_t max)
{
	char path[64];
	size_t off = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%" PRIu32 "/%s", pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	while (off < max - 1 && (n = read(fd, buf + off, max - 1 - off)) > 0)
		off += (size_t)n;
	close(fd);
	buf[off] = 0;
	return (ssize_t)off;
}

static void fill_from_stat(struct tg_kernel_event *e)
{
	char buf[STAT_READ_MAX], *rp;
	unsigned long long tty_nr;
	uint32_t ppid;

	if (tg_proc_read(e->pid, "stat", buf, sizeof(buf)) <= 0)
		return;
	rp = strrchr(buf, ')'); /* comm may contain spaces and parentheses */
	/* state ppid pgrp session tty_nr */
	if (!rp || sscanf(rp + 1, " %*c %" SCNu32 " %*d %*d %llu", &ppid, &tty_nr) != 2)
		return;
	if (!e->ppid)
		e->ppid = ppid;
	if (!e->tty[0] && tg_tty_name_from_dev(tty_nr, e->tty, sizeof(e->tty)) < 0)
		e->tty[0] = 0;
}

static void fill_from_cmdline(struct tg_kernel_event *e)
{
	char *buf;
	ssize_t len;
	size_t i = 0;

	buf = malloc(CMDLINE_READ_MAX);
	if (!buf)
		return;
	len = tg_proc_read(e->pid, "cmdline", buf, CMDLINE_READ_MAX);
	/* empty for a zombie and for kernel threads: nothing to say */
	for (size_t off = 0; len > 0 && off < (size_t)len && i < TG_EVENT_ARGV_MAX; i++) {
		const char *a = buf + off;
		size_t al = strnlen(a, (size_t)len - off), k;

		for (k = 0; k < al && k < TG_EVENT_ARG_LEN - 1; k++) {
			unsigned char ch = (unsigned char)a[k];

			e->argv[i][k] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
		}
		e->argv[i][k] = 0;
		off += al + 1;
	}
	if (i > 0)
		e->argc = (uint32_t)i;
	free(buf);
}

/* The process still runs the program of the event (not exec'd into another
 * since): the command line read now is the one it was started with. */
static bool same_comm(const struct tg_kernel_event *e)
{
	char comm[sizeof(e->comm) + 2];
	ssize_t n;

	if (!e->comm[0])
		return true;
	n = tg_proc_read(e->pid, "comm", comm, sizeof(comm));
	if (n <= 0)
		return false;
	comm[strcspn(comm, "\n")] = 0;
	return strncmp(comm, e->comm, sizeof(e->comm)) == 0;
}

int tg_proc_fill_event(struct tg_kernel_event *e)
{
	if (!e || e->pid == 0)
		return -EINVAL;
	if (!e->ppid || !e->tty[0])
		fill_from_stat(e);
	if (e->argc == 0 && same_comm(e))
		fill_from_cmdline(e);
	return 0;
}
