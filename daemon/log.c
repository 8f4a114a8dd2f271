/* SPDX-License-Identifier: GPL-2.0-or-later */
/* toolguardd's log: see log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* CODE_FILE= etc. are sent explicitly: the caller of log_internal(), not log_internal() */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"

#define LOG_LINE_MAX 4096

static enum log_target target = LOG_TARGET_STDERR;
static int max_level = LOG_INFO;
static bool stderr_is_journal;

static bool detect_stderr_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_open(bool force_stderr)
{
	stderr_is_journal = detect_stderr_journal();
	target = force_stderr || !stderr_is_journal ? LOG_TARGET_STDERR : LOG_TARGET_JOURNAL;
}

enum log_target log_get_target(void)
{
	return target;
}

bool log_stderr_is_journal(void)
{
	return stderr_is_journal;
}

void log_set_max_level(int level)
{
	max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

static const char *level_prefix(int level)
{
	switch (level) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

static void write_stderr(int level, const char *msg)
{
	/* "<N>" lets systemd's stderr capture keep the priority when it is the journal. */
	if (stderr_is_journal)
		fprintf(stderr, "<%d>%s\n", level, msg);
	else
		fprintf(stderr, "toolguardd: %s: %s\n", level_prefix(level), msg);
}

int log_internal(int level, int error, const char *file, int line, const char *func, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX];
	int saved = errno, e = error < 0 ? -error : error;
	va_list ap;

	errno = e;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (target == LOG_TARGET_JOURNAL) {
		int r;

		if (e > 0)
			r = sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%i", level, "ERRNO=%i", e,
					    "CODE_FILE=%s", file, "CODE_LINE=%i", line, "CODE_FUNC=%s", func,
					    "SYSLOG_IDENTIFIER=toolguardd", NULL);
		else
			r = sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%i", level, "CODE_FILE=%s", file,
					    "CODE_LINE=%i", line, "CODE_FUNC=%s", func,
					    "SYSLOG_IDENTIFIER=toolguardd", NULL);
		if (r < 0)
			write_stderr(level, msg);
	} else {
		write_stderr(level, msg);
	}
	errno = saved;
	return -e;
}

uint64_t now_usec(int clock_id)
{
	struct timespec ts;

	if (clock_gettime(clock_id, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

bool log_ratelimit_test(struct log_ratelimit *rl, uint64_t *ret_suppressed)
{
	uint64_t n = now_usec(CLOCK_MONOTONIC);

	if (rl->last_usec != 0 && n - rl->last_usec < rl->interval_usec) {
		rl->suppressed++;
		return false;
	}
	rl->last_usec = n ? n : 1;
	if (ret_suppressed)
		*ret_suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}
