/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Script requests (scripts[].sha256, an extension; see bpf/toolguard_abi.h
 * "Script requests"): the kernel says which script an interpreter is about
 * to run; the daemon opens that file as the process would, symlinks
 * resolved, hashes it and matches the tool's scripts[] rules by content and
 * by the resolved path.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "toolguard_abi.h"

struct tg_compiled;

/* Scripts larger than this are not hashed (the daemon loop would stall). */
#define TG_SCRIPT_MAX_BYTES (256ull << 20)

/* Open the script of req as process req->pid sees it: the argument relative
 * to /proc/PID/cwd (absolute: inside /proc/PID/root), or /proc/PID/fd/0 for
 * stdin; when the process is gone, req->path (absolute). Returns an O_RDONLY
 * fd of a regular file and its resolved path in ret_path, or -errno. */
int tg_script_request_open(const struct tg_abi_script_request *req, char *ret_path, size_t path_len);

/* Judge req against the policy compiled in c: 1 and *ret_refs (gen 0, tools
 * in file order, at most TG_ABI_MAX_REFS) and the script's resolved path in
 * ret_path when a scripts[] rule (sha256 of the content, or path glob of the
 * resolved path) matches; 0 when none; -errno when the file cannot be read. */
int tg_script_request_judge(const struct tg_compiled *c, const struct tg_abi_script_request *req,
			    struct tg_abi_refs *ret_refs, char *ret_path, size_t path_len);
