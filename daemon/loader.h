/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * "ld.so FILE": the kernel sees only the exec of the dynamic loader, which
 * then maps FILE itself, so FILE is never hashed at an exec. For a
 * TG_ABI_REC_LOADER_REQUEST the daemon finds the program such a process
 * runs (its argument as ld.so parses it, resolved from the process's root
 * and cwd, and every file it has mapped executable so far) and judges each
 * by the policy's sha256 rules and complex globs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "toolguard_abi.h"

struct tg_compiled;

/* 1: a file of process req->pid (still running the loader req->dev/ino)
 * matched: *ret_refs, its tg_inodes key (space EXE, gen 0) and its path
 * (as the process names it) are filled. 0: nothing matched. -ESTALE: the
 * process runs something else now; -errno otherwise (process gone). */
int tg_loader_request(const struct tg_compiled *c, const struct tg_abi_hash_request *req,
		      struct tg_abi_refs *ret_refs, struct tg_abi_inode_key *ret_key, char *ret_path,
		      size_t path_len);

/* Whether process pid has the file (kernel dev, ino) mapped executable. */
bool tg_loader_has_mapped(uint32_t pid, uint32_t dev, uint64_t ino);

/* The program argument of a dynamic loader's argv (argv[0] is the loader),
 * skipping ld.so's options and their values; NULL when there is none. Sets
 * *ret_library_path to the --library-path value, or NULL. */
const char *tg_loader_program_arg(const char *const *argv, size_t argc, const char **ret_library_path);
