/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What an event's record could not carry, read from /proc/PID at event time:
 * the parent, the command line, the controlling terminal. Used for records
 * the kernel side fills partly (hash requests answered by the daemon,
 * connections); bounded reads, control characters neutralised.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernel.h"

/* The kernel names pty slaves "pts3" (tty->name); ps, who and /dev say "pts/3":
 * rewrite the first form in place. Other names stay. */
void tg_tty_name_normalize(char *tty, size_t len);

/* "pts/3", "tty2", "ttyS0" for a device number as in /proc/PID/stat's tty_nr;
 * -ENOENT for 0 (no terminal) or a kind of terminal this does not name. */
int tg_tty_name_from_dev(uint64_t tty_nr, char *buf, size_t len);

/* Fill what e lacks from /proc/<e->pid>: ppid when 0, tty when "", argv when
 * argc is 0 and the process's comm is still e->comm (it has not exec'd
 * another program since; first TG_EVENT_ARGV_MAX entries, each cut to
 * TG_EVENT_ARG_LEN-1 bytes, control characters as '?'). A process already
 * gone leaves e as it is.
 * Returns 0 (-EINVAL without a pid). */
int tg_proc_fill_event(struct tg_kernel_event *e);

/* Up to max-1 bytes (max >= 1) of /proc/<pid>/<what> into buf, NUL-terminated;
 * returns the length or -errno. */
ssize_t tg_proc_read(uint32_t pid, const char *what, char *buf, size_t max);
