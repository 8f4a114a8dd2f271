/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * toolguardd's log: stderr with a level prefix (foreground, or stderr is not
 * the journal), else structured journal records. Callers log and return in one
 * statement: return log_error_errno(r, "Failed to ...: %m");
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <syslog.h>

enum log_target {
	LOG_TARGET_STDERR,
	LOG_TARGET_JOURNAL,
};

/* Pick the target: stderr when forced (--foreground) or when stderr is not
 * connected to the journal ($JOURNAL_STREAM), else the journal. */
void log_open(bool force_stderr);
enum log_target log_get_target(void);
/* True when stderr is the journal's stream (then stderr copies would duplicate). */
bool log_stderr_is_journal(void);
void log_set_max_level(int level);
int log_get_max_level(void);

/* Returns -abs(error) (0 when error is 0); errno is set to abs(error) for %m. */
__attribute__((format(printf, 6, 7))) int log_internal(int level, int error, const char *file, int line,
						       const char *func, const char *fmt, ...);

#define log_full_errno(level, error, ...)                                                                    \
	({                                                                                                   \
		int _level = (level), _e = (error);                                                          \
		log_get_max_level() >= _level                                                                \
		    ? log_internal(_level, _e, __FILE__, __LINE__, __func__, __VA_ARGS__)                    \
		    : (_e < 0 ? _e : -_e);                                                                   \
	})
#define log_full(level, ...) ((void)log_full_errno((level), 0, __VA_ARGS__))

#define log_debug(...)	 log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)	 log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)	 log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)	 log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...)   log_full_errno(LOG_DEBUG, (error), __VA_ARGS__)
#define log_info_errno(error, ...)    log_full_errno(LOG_INFO, (error), __VA_ARGS__)
#define log_notice_errno(error, ...)  log_full_errno(LOG_NOTICE, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, (error), __VA_ARGS__)
#define log_error_errno(error, ...)   log_full_errno(LOG_ERR, (error), __VA_ARGS__)

/* At most one message per interval; counts what it held back. */
struct log_ratelimit {
	uint64_t interval_usec;
	uint64_t last_usec; /* CLOCK_MONOTONIC of the last message let through, 0 = never */
	uint64_t suppressed;
};
/* True when a message may be logged now; *ret_suppressed (may be NULL) receives
 * how many were held back since the last one, and the count restarts. */
bool log_ratelimit_test(struct log_ratelimit *rl, uint64_t *ret_suppressed);

uint64_t now_usec(int clock_id);
