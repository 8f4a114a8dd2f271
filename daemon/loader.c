// SPDX-License-Identifier: GPL-2.0-or-later
/* The program a dynamic loader process runs ("ld.so FILE"): see loader.h. */
#include "loader.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "kernel_internal.h"
#include "procinfo.h"

#define LOADER_CMDLINE_MAX (64u * 1024u)
#define LOADER_ARGV_MAX	   256u
#define LOADER_MAPS_MAX	   (256u * 1024u) /* bytes of /proc/PID/maps read */
#define LOADER_MAPS_FILES  64u		  /* distinct executable mappings judged */

/* glibc's rtld: an argument starting with "--" is an option (these take a
 * value); anything else, even "-x", is the program. */
static bool option_with_value(const char *a)
{
	static const char *const opts[] = {"--library-path",	 "--inhibit-rpath", "--audit",
					   "--preload",		 "--argv0",	    "--glibc-hwcaps-prepend",
					   "--glibc-hwcaps-mask"};

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (strcmp(a, opts[i]) == 0)
			return true;
	return false;
}

const char *tg_loader_program_arg(const char *const *argv, size_t argc, const char **ret_library_path)
{
	const char *lp = NULL;

	for (size_t i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (a[0] != '-' || a[1] != '-') {
			if (ret_library_path)
				*ret_library_path = lp;
			return a;
		}
		if (option_with_value(a)) {
			if (i + 1 >= argc)
				break;
			if (strcmp(a, "--library-path") == 0)
				lp = argv[i + 1];
			i++;
		}
	}
	if (ret_library_path)
		*ret_library_path = lp;
	return NULL;
}

static int read_proc(uint32_t pid, const char *what, size_t max, char **ret, size_t *ret_len)
{
	char *buf = malloc(max + 1);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	n = tg_proc_read(pid, what, buf, max + 1);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	*ret = buf;
	*ret_len = (size_t)n;
	return 0;
}

/* Open path as process pid would: absolute paths (and absolute symlinks)
 * inside its root, relative ones from its cwd. */
static int open_as(uint32_t pid, const char *path)
{
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK};
	char p[64];
	int dfd, fd;

	snprintf(p, sizeof(p), "/proc/%u/%s", pid, path[0] == '/' ? "root" : "cwd");
	dfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (path[0] == '/')
		how.resolve = RESOLVE_IN_ROOT;
	fd = (int)syscall(SYS_openat2, dfd, path, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		fd = -errno;
	close(dfd);
	return fd;
}

/* Judge one open file; 1 fills the outputs. */
static int judge(const struct tg_compiled *c, int fd, const char *path, const struct stat *loader,
		 struct tg_abi_refs *ret_refs, struct tg_abi_inode_key *ret_key, char *ret_path,
		 size_t path_len)
{
	struct tg_abi_refs refs = {0};
	char fdp[64], real[PATH_MAX];
	struct stat st;
	ssize_t n;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (st.st_dev == loader->st_dev && st.st_ino == loader->st_ino))
		return 0;
	/* the file's own path (absolute, links resolved) for path globs and events */
	snprintf(fdp, sizeof(fdp), "/proc/self/fd/%d", fd);
	n = readlink(fdp, real, sizeof(real) - 1);
	if (n > 0 && real[0] == '/') {
		real[n] = '\0';
		path = real;
	}
	r = tg_compiled_hash_fd(c, fd, path, &refs);
	if (r != 1 || refs.n == 0)
		return r < 0 ? r : 0;
	refs.flags = 0; /* judged as the program, not as an interpreter */
	memset(ret_key, 0, sizeof(*ret_key));
	ret_key->dev = tg_abi_dev_from_user(major(st.st_dev), minor(st.st_dev));
	ret_key->space = TG_ABI_INODE_EXE;
	ret_key->ino = (__u64)st.st_ino;
	*ret_refs = refs;
	snprintf(ret_path, path_len, "%s", path);
	return 1;
}

/* Every file mapped executable so far (the loader maps its program before
 * running it): the file itself, whatever path it was reached by. */
static int judge_maps(const struct tg_compiled *c, uint32_t pid, const struct stat *loader,
		      struct tg_abi_refs *ret_refs, struct tg_abi_inode_key *ret_key, char *ret_path,
		      size_t path_len)
{
	unsigned long long seen[LOADER_MAPS_FILES];
	size_t n_seen = 0, len;
	char *buf = NULL, *line, *save = NULL;
	int r, found = 0;

	r = read_proc(pid, "maps", LOADER_MAPS_MAX, &buf, &len);
	if (r < 0)
		return r;
	for (line = strtok_r(buf, "\n", &save); line && found == 0; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long start, end, off, ino;
		char perms[8], dev[16], mf[96];
		int name_off = 0, fd;
		bool dup = false;

		if (sscanf(line, "%llx-%llx %7s %llx %15s %llu %n", &start, &end, perms, &off, dev, &ino,
			   &name_off) < 6 ||
		    ino == 0 || perms[2] != 'x' || name_off <= 0 || line[name_off] != '/')
			continue;
		for (size_t i = 0; i < n_seen; i++)
			dup |= seen[i] == ino;
		if (dup || n_seen >= LOADER_MAPS_FILES)
			continue;
		seen[n_seen++] = ino;
		/* map_files: the mapped file itself, not what its path names now */
		snprintf(mf, sizeof(mf), "/proc/%u/map_files/%llx-%llx", pid, start, end);
		fd = open(mf, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd < 0)
			continue;
		found = judge(c, fd, line + name_off, loader, ret_refs, ret_key, ret_path, path_len);
		close(fd);
		if (found < 0)
			found = 0;
	}
	free(buf);
	return found;
}

int tg_loader_request(const struct tg_compiled *c, const struct tg_abi_hash_request *req,
		      struct tg_abi_refs *ret_refs, struct tg_abi_inode_key *ret_key, char *ret_path,
		      size_t path_len)
{
	const char *argv[LOADER_ARGV_MAX], *prog;
	struct stat loader;
	char p[64], *buf = NULL;
	size_t len = 0, argc = 0;
	int r, fd;

	if (!c || !req || !ret_refs || !ret_key || !ret_path || path_len == 0)
		return -EINVAL;
	snprintf(p, sizeof(p), "/proc/%u/exe", req->pid);
	if (stat(p, &loader) < 0)
		return -errno;
	if ((uint64_t)loader.st_ino != req->ino)
		return -ESTALE; /* it runs something else now */

	r = read_proc(req->pid, "cmdline", LOADER_CMDLINE_MAX, &buf, &len);
	if (r < 0)
		return r;
	for (size_t o = 0; o < len && argc < LOADER_ARGV_MAX; o += strlen(buf + o) + 1)
		argv[argc++] = buf + o;
	prog = tg_loader_program_arg(argv, argc, NULL);
	/* ld.so opens a program named without a '/' nowhere (glibc 2.36 tried) */
	r = 0;
	if (prog && strchr(prog, '/')) {
		fd = open_as(req->pid, prog);
		if (fd >= 0) {
			r = judge(c, fd, prog, &loader, ret_refs, ret_key, ret_path, path_len);
			close(fd);
		}
	}
	free(buf);
	if (r == 1)
		return 1;
	/* the argument may name another file by now (or be a path trick):
	 * what the process has actually mapped */
	r = judge_maps(c, req->pid, &loader, ret_refs, ret_key, ret_path, path_len);
	return r;
}

bool tg_loader_has_mapped(uint32_t pid, uint32_t dev, uint64_t ino)
{
	size_t len;
	char *buf = NULL, *line, *save = NULL;
	bool found = false;

	if (read_proc(pid, "maps", LOADER_MAPS_MAX, &buf, &len) < 0)
		return false;
	for (line = strtok_r(buf, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long start, end, off, i;
		unsigned maj, mnr;
		char perms[8];

		if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &start, &end, perms, &off, &maj, &mnr,
			   &i) == 7 &&
		    perms[2] == 'x' && i == ino && tg_abi_dev_from_user(maj, mnr) == dev)
			found = true;
	}
	free(buf);
	return found;
}
