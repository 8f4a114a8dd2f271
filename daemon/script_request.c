// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Script requests: judge the script an interpreter is about to run by its
 * content (scripts[].sha256) and by its symlink-resolved path (scripts[].path),
 * wherever it was copied and whatever name or link it was run through. The
 * kernel cannot: it has not opened the script when the interpreter's exec is
 * decided. The caller (kernel.c) kills and reports like a hash request.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compile.h"
#include "hashcache.h"
#include "kernel_internal.h"
#include "matcher.h"
#include "script_request.h"

/* First without reading: a user names the file, and opening a device (a
 * watchdog, a tape) for reading can act; only regular files are reopened. */
#define OPEN_FLAGS (O_PATH | O_CLOEXEC)

/* The argument is NUL-terminated by the kernel; check anyway (untrusted size). */
static bool terminated(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

/* An absolute path inside the process's root: absolute symlinks on the way
 * resolve there too (RESOLVE_IN_ROOT), not in the daemon's root. */
static int open_in_root(uint32_t pid, const char *path)
{
	struct open_how how = {.flags = OPEN_FLAGS, .resolve = RESOLVE_IN_ROOT};
	char p[64 + PATH_MAX];
	int root, fd;

	snprintf(p, sizeof(p), "/proc/%" PRIu32 "/root", pid);
	root = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -errno;
	fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS) {
		/* before 5.6: through the magic link (absolute links resolve in our root) */
		snprintf(p, sizeof(p), "/proc/%" PRIu32 "/root%s", pid, path);
		fd = open(p, OPEN_FLAGS);
	}
	if (fd < 0)
		fd = -errno;
	close(root);
	return fd;
}

static int open_at_cwd(uint32_t pid, const char *path)
{
	char p[64];
	int cwd, fd;

	snprintf(p, sizeof(p), "/proc/%" PRIu32 "/cwd", pid);
	cwd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0)
		return -errno;
	fd = openat(cwd, path, OPEN_FLAGS);
	if (fd < 0)
		fd = -errno;
	close(cwd);
	return fd;
}

int tg_script_request_open(const struct tg_abi_script_request *req, char *ret_path, size_t path_len)
{
	char p[64], path[PATH_MAX];
	struct stat st;
	ssize_t n;
	int fd;

	if (!req || !terminated(req->arg, sizeof(req->arg)) || !terminated(req->path, sizeof(req->path)))
		return -EINVAL;
	if (req->flags & TG_ABI_SCRIPT_STDIN) {
		snprintf(p, sizeof(p), "/proc/%" PRIu32 "/fd/0", req->pid);
		fd = open(p, OPEN_FLAGS);
		if (fd < 0)
			return -errno;
	} else if (!req->arg[0]) {
		return -EINVAL;
	} else {
		fd = req->arg[0] == '/' ? open_in_root(req->pid, req->arg) : open_at_cwd(req->pid, req->arg);
		/* the process is gone: only the kernel's absolute path is left (reporting) */
		snprintf(p, sizeof(p), "/proc/%" PRIu32, req->pid);
		if (fd == -ENOENT && req->path[0] == '/' && access(p, F_OK) < 0) {
			fd = open(req->path, OPEN_FLAGS);
			if (fd < 0)
				fd = -errno;
		}
		if (fd < 0)
			return fd;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL; /* a terminal, pipe, device or directory: nothing to hash */
	}
	if ((uint64_t)st.st_size > TG_SCRIPT_MAX_BYTES) {
		close(fd);
		return -EFBIG;
	}
	/* the file opened, all links resolved, as the daemon names it */
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	{
		int rfd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

		if (rfd < 0) {
			int e = -errno;

			close(fd);
			return e;
		}
		n = readlink(p, path, sizeof(path) - 1);
		close(fd);
		fd = rfd;
	}
	if (n < 0)
		n = 0;
	path[n] = '\0';
	if (n > 10 && strcmp(path + n - 10, " (deleted)") == 0)
		path[n - 10] = '\0';
	if (path[0] != '/')
		snprintf(path, sizeof(path), "%s", req->path); /* e.g. anon inode: keep the hint */
	snprintf(ret_path, path_len, "%s", path);
	return fd;
}

/* A "#!" request whose process has meanwhile exec'd an interpreter of the
 * list ("#!/usr/bin/env node": env, then node): that exec sends its own
 * request for the same script, so this one would only double the event. */
static bool superseded(const struct tg_policy *p, const struct tg_abi_script_request *req)
{
	char proc[64], exe[PATH_MAX];
	const char *base;
	struct stat st;
	ssize_t n;

	if (!(req->flags & TG_ABI_SCRIPT_SHEBANG))
		return false;
	snprintf(proc, sizeof(proc), "/proc/%" PRIu32 "/exe", req->pid);
	if (stat(proc, &st) < 0 || (uint64_t)st.st_ino == req->ino)
		return false;
	n = readlink(proc, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	base = strrchr(exe, '/');
	return tg_is_interpreter(p, base ? base + 1 : exe);
}

int tg_script_request_judge(const struct tg_compiled *c, const struct tg_abi_script_request *req,
			    struct tg_abi_refs *ret_refs, char *ret_path, size_t path_len)
{
	const struct tg_policy *p = tg_compiled_policy(c);
	struct tg_abi_refs refs = {0};
	char path[PATH_MAX];
	uint8_t sha[32];
	bool hashed = false;
	int fd, r = 0;

	if (!p || !req || !ret_refs)
		return -EINVAL;
	if (superseded(p, req))
		return 0;
	fd = tg_script_request_open(req, path, sizeof(path));
	if (fd < 0)
		return fd;
	for (size_t ti = 0; ti < p->n_tools && ti < TG_ABI_MAX_TOOLS && refs.n < TG_ABI_MAX_REFS; ti++) {
		const struct tg_tool *t = &p->tools[ti];

		for (size_t i = 0; i < t->n_scripts && i <= TG_ABI_MATCHER_INDEX_MAX; i++) {
			const struct tg_script_match *m = &t->scripts[i];
			bool hit;

			if (m->path) {
				hit = path[0] == '/' && tg_glob_match(m->path, path);
			} else {
				if (!hashed) {
					struct tg_hashcache *hc = tg_hashcache_default();

					r = hc ? tg_hashcache_fd(hc, fd, NULL, sha)
					       : tg_sha256_fd(fd, TG_SCRIPT_MAX_BYTES, sha);
					if (r < 0)
						goto out;
					hashed = true;
				}
				hit = memcmp(sha, m->sha256, 32) == 0;
			}
			if (!hit)
				continue;
			/* one ref per tool: the first matching rule names it */
			refs.ref[refs.n].tool = (uint16_t)ti;
			refs.ref[refs.n].matcher = TG_ABI_MATCHER(TG_ABI_MK_SCRIPT, i);
			refs.n++;
			break;
		}
	}
	r = refs.n > 0;
	if (r) {
		*ret_refs = refs;
		snprintf(ret_path, path_len, "%s", path);
	}
out:
	close(fd);
	return r;
}
