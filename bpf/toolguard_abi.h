/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * toolguard kernel <-> daemon ABI: every BPF map key/value and every ring
 * buffer record. Included by bpf/\*.bpf.c (with vmlinux.h) and by the daemon
 * (with <linux/types.h>). Only __u8..__u64, fixed arrays and explicit padding:
 * no pointers, bool, long or enums, so both sides agree on every byte.
 * Userspace checks the sizes below with _Static_assert (daemon/kernel.c).
 *
 * ===== Maps (names as seen by bpftool; pinned under TG_PIN_DIR/maps/NAME) =====
 *
 *  tg_control  ARRAY[1]     u32 -> struct tg_abi_control   (active generation)
 *  tg_gens     ARRAY[2]     u32 gen -> struct tg_abi_gen   (per-generation settings)
 *  tg_tools    ARRAY[2*TG_ABI_MAX_TOOLS]
 *                           u32 gen*TG_ABI_MAX_TOOLS+tool -> struct tg_abi_tool
 *  tg_strs     LPM_TRIE     struct tg_abi_str_key -> struct tg_abi_refs
 *                           prefix and exact matches on paths and basenames
 *  tg_rstrs    LPM_TRIE     struct tg_abi_str_key -> struct tg_abi_refs
 *                           the same over REVERSED strings: suffix matches
 *  tg_inodes   HASH         struct tg_abi_inode_key -> struct tg_abi_refs
 *                           files found by the daemon (sha256, complex globs)
 *  tg_exempt   HASH         struct tg_abi_exempt_key -> __u8 (1)
 *  tg_affix    HASH         struct tg_abi_affix_key -> struct tg_abi_affix_val
 *                           minimum lengths of prefix+suffix globs
 *  tg_net4     LPM_TRIE     struct tg_abi_net4_key -> struct tg_abi_net_refs
 *  tg_net6     LPM_TRIE     struct tg_abi_net6_key -> struct tg_abi_net_refs
 *  tg_hosts    HASH         struct tg_abi_host_key -> struct tg_abi_net_refs
 *                           host names; DNS answers for them add /32 and /128
 *                           entries to tg_net4/tg_net6 (dns_guard.bpf.c)
 *  tg_shared   LRU_HASH     struct tg_abi_shared_key -> __u64 expiry (CLOCK_TAI ns)
 *                           addresses an ALLOWED name answered with: name refs
 *                           do not apply to TCP there, the SNI check decides
 *                           (no generation)
 *  tg_streams  SOCKHASH     4-tuple -> socket: connections whose first bytes
 *                           are checked (stream_guard.bpf.c; not ABI otherwise)
 *  tg_inspect_sk SK_STORAGE socket -> __u32: connect_guard marks a TCP socket it
 *                           let through to a tg_shared address whose entry has
 *                           name refs; stream_guard inspects it on any port
 *  tg_seen     LRU_HASH     struct tg_abi_seen_key -> struct tg_abi_seen_val
 *                           inodes already sent as hash requests (no generation)
 *  tg_events   RINGBUF      TG_ABI_RINGBUF_BYTES; records below
 *  tg_dropped  PERCPU_ARRAY[TG_ABI_DROP__COUNT] u32 -> __u64 counters
 *  (tg_scratch PERCPU_ARRAY: the programs' private work space, not ABI)
 *
 * ===== Atomic swap (generations) =====
 *
 * Every policy key carries a one-bit generation `gen` (and tg_tools/tg_gens
 * are indexed by it). The programs read tg_control.active_gen ONCE per
 * decision and look up only keys of that generation. To apply a policy the
 * daemon:
 *   1. g = active_gen ^ 1; deletes any leftover generation-g entries;
 *   2. writes all generation-g entries: tg_tools[g*MAX+i], tg_strs, tg_rstrs,
 *      tg_inodes, tg_exempt, tg_net4, tg_net6, and last tg_gens[g];
 *   3. flips tg_control.active_gen = g (one map update of a u32: atomic);
 *   4. waits a grace period (a few ms; decisions in flight finish), then
 *      deletes generation g^1 entries (not tg_gens/tg_tools: overwritten next
 *      time, but their TG_ABI_TOOL_PRESENT flag is cleared).
 * A failure before step 3 leaves the policy in force untouched. Decisions
 * see either the whole old or the whole new policy, never a mix and never
 * nothing. All-zero maps (fresh load) mean: mode OFF, no tools, no decision.
 *
 * ===== Strings: tg_strs / tg_rstrs =====
 *
 * Key = {prefixlen, gen, space, str[254]}; prefixlen counts BITS from `gen`
 * on, so it is 16 + 8 * (number of str bytes that must match).
 *  - prefix literal P (glob "P**", P ends in '/' for paths, or interpreter
 *    glob "python3*" -> P "python3"): str = P, prefixlen = 16 + 8*strlen(P);
 *  - exact literal S (plain path, basename): str = S plus its NUL,
 *    prefixlen = 16 + 8*(strlen(S)+1);
 *  - suffix literal X (glob "**" "/X..."; X starts with '/'): in tg_rstrs,
 *    str = X reversed, prefixlen = 16 + 8*strlen(X).
 * The programs look up with prefixlen = 16 + 8*TG_ABI_STR_MAX and str = the
 * subject NUL-terminated (tg_rstrs: the last <= 254 bytes reversed, no NUL).
 * Literals longer than 253 bytes cannot be stored (compile error / userspace).
 * IMPORTANT: an LPM trie returns only the LONGEST matching entry, so the
 * daemon must copy into each entry the refs of every shorter entry of the
 * same gen+space whose literal is a prefix of it (closure), at most
 * TG_ABI_MAX_REFS refs per entry, highest-precedence first.
 *
 * Prefix+suffix globs ("P/ ** /S" with literal P and S, e.g.
 * "/home/ann/ ** /cli.js"): the daemon stores the ref with matcher
 * |= TG_ABI_MATCHER_PART both in tg_strs (prefix P, same space) and in
 * tg_rstrs (S reversed), and tg_affix {gen, tool, matcher without PART} ->
 * minlen = strlen(P) + strlen(S) - 1 (the "**" may be empty: they share the
 * '/'). The ref counts only when the prefix lookup AND the suffix lookup of
 * the same subject both return it and the subject is >= minlen bytes.
 * Closure applies to PART refs as to any other. Exec paths and scripts only.
 *
 * Spaces (what a string is compared as):
 *  TG_ABI_SPACE_EXE_PATH    executables[i].path, prefix/exact (tg_strs) and
 *                           suffix (tg_rstrs); subjects: the resolved path of
 *                           the executed file and the invoked path when absolute
 *  TG_ABI_SPACE_EXE_NAME    executables[i].name, exact; subjects: basename of
 *                           the invoked path and of the executed file
 *  TG_ABI_SPACE_SCRIPT_PATH scripts[i].path (prefix/exact/suffix); subject:
 *                           the script (shebang file, or interpreter argument
 *                           made absolute with the cwd)
 *  TG_ABI_SPACE_INTERP      interpreters: exact basename, or prefix for
 *                           "name*" globs; globs that reduce to neither are
 *                           stored as their literal prefix up to the first
 *                           wildcard ("ld-linux*.so*" -> "ld-linux", an
 *                           over-approximation). refs.n = 0, refs.flags has
 *                           TG_ABI_REFS_INTERP (and _LDSO for ld-linux*).
 *                           A file whose content is an interpreter's (a
 *                           renamed copy of node) is an interpreter too:
 *                           tg_inodes {dev, ino, TG_ABI_INODE_INTERP} has
 *                           the same refs (n = 0, flags).
 *
 * ===== Refs and matcher encoding =====
 *
 * A ref names one matcher of one tool: tool = index into the policy's tools
 * array (< TG_ABI_MAX_TOOLS), matcher = TG_ABI_MATCHER(kind, index) with
 * kind TG_ABI_MK_EXE ("executables[index]"), _SCRIPT ("scripts[index]"),
 * _HOST ("hosts[index]"), index < 4096. The daemon names it with the matcher's
 * sub-kind (".name", ".path", ".sha256") from the policy.
 *
 * ===== Decision (both exec backends and the connect hooks) =====
 *
 * For every ref found: tool = tg_tools[gen*MAX+ref.tool]; skipped unless
 * TG_ABI_TOOL_PRESENT. now = bpf_ktime_get_tai_ns() (CLOCK_TAI: the daemon
 * converts instants with clock_gettime(CLOCK_TAI)).
 *   now < start_ns or now >= end_ns           -> NONE
 *   action BLOCK: now < block_ns -> WARN, else BLOCK
 *   action ALERT -> ALERT; action ALLOW -> ALLOW
 *   verdict != NONE and now < exempt_end_ns and (real uid in tg_exempt
 *   {gen, tool, UID, uid} or gid/supplementary group (first
 *   TG_ABI_MAX_GROUPS) in tg_exempt {gen, tool, GID, gid}) -> ALLOW, EXEMPT
 * The highest verdict number over all refs wins (BLOCK > WARN > ALERT >
 * ALLOW); ties keep the first found. Verdict numbers equal enum tg_verdict.
 * BLOCK in mode ENFORCE: tracepoint -> SIGKILL (event flag KILLED), LSM and
 * connect -> -EPERM (DENIED). In MONITOR: nothing, flag WOULD_BLOCK.
 * Every verdict other than NONE emits a record (mode OFF: no decision at all).
 *
 * ===== Host names (DNS) =====
 *
 * kernel.c writes tg_hosts {gen, wildcard, name} (lower case, no trailing
 * dot, NUL-padded; wildcard=1 holds the suffix of "*.suffix") with the host
 * matcher's refs and ports, and sets TG_ABI_GEN_HOSTS. A cgroup_skb/ingress
 * program on the cgroup v2 root (dns_guard.bpf.c) reads every DNS response
 * from source port 53 a socket receives, before the process can read it:
 * UDP, and TCP however the stream is cut into segments (each socket's
 * stream followed in sequence order in the tg_dns_streams socket storage
 * from its SYN-ACK, a message read as it grows; a segment after a gap, one
 * while another CPU is at the stream and the rest of one holding more than
 * 512 messages are dropped for TCP to send again). The chain of names starts at the question and follows the
 * answer's CNAMEs; when any name of it (or a parent, for wildcards; names
 * compared lower case, the apex never matching "*.") is in tg_hosts, each
 * A/AAAA record owned by a chain name becomes a /32 or /128 entry of the
 * active generation in tg_net4/tg_net6 with the matching names' refs merged
 * with whatever the trie held for that address (no write when it already
 * has them). The next connect to it is then refused like a CIDR rule.
 * Malformed messages (truncated, compression loops or forward pointers,
 * bad labels) learn nothing. Not seen: DNS over TLS or HTTPS, more than 4
 * IPv6 extension headers (or others than hop-by-hop, routing,
 * destination options and fragment), more than one question, names over 127
 * characters, answers beyond 32 records or the first 2048 bytes, addresses
 * an application cached before a policy swap (learned entries belong to
 * one generation).
 *
 * The daemon also resolves every exact name itself (daemon/resolve.c) and
 * writes /32 and /128 entries of the active generation: refs = the covering
 * CIDR entry's refs + the refs of every exact name holding the address +
 * refs already there that are not exact-name refs (what this program learned
 * for wildcards). On TTL expiry or rule removal it removes only exact-name
 * refs, and deletes the entry when nothing but the covering CIDR's refs
 * remain (CIDR entries are never deleted, a /32 CIDR is written back). Its
 * entries are written again into the new generation before every swap
 * (tg_kernel_apply_compiled calls its hook after writing generation g).
 *
 * Name refs and CIDR refs: in a tg_net4/tg_net6 entry, bit i of refs.flags
 * (TG_ABI_NET_NAME_REF(i)) says ref[i] came from a host NAME (learned here
 * or resolved by the daemon), not from a CIDR rule. Compiled entries have
 * flags 0; whoever merges refs into an entry keeps each ref's bit.
 *
 * Shared addresses (a CDN or front end serving a banned and an allowed
 * name): for an answer whose chain matches NO host rule, this program
 * records each A/AAAA address of a chain name in tg_shared {family, addr}
 * with expiry = now + TTL (clamped to TG_ABI_SHARED_TTL_MIN..MAX seconds;
 * later answers only extend it; a CPU that wrote the same address less
 * than a second ago, with an expiry at most a second earlier, skips the
 * map: an entry can lag, or stay missing after an LRU eviction, by up to a
 * second). A TCP connect to an address in tg_shared
 * (not expired) ignores the entry's name refs (CIDR refs still apply), so
 * the allowed name keeps working; stream_guard then refuses the banned name
 * by its ClientHello server_name or CONNECT line. UDP (QUIC) to such an
 * address is still refused by the name refs (clients fall back to TCP).
 * Either order works: the check happens at connect time. The daemon's
 * pre-resolved entries carry name refs too.
 *
 * ===== Host names in streams (stream_guard.bpf.c) =====
 *
 * When TG_ABI_GEN_HOSTS is set, a sockops program on the cgroup v2 root puts
 * the TCP connections this machine opens, once established, into the
 * tg_streams SOCKHASH when their destination port is one of the generation's
 * inspect_ports (the configuration's network.inspect_ports: HTTPS and the
 * usual proxy ports by default), connect_guard marked the socket in
 * tg_inspect_sk (it skipped name refs for a shared address), or the
 * generation has TG_ABI_GEN_INSPECT_ALL. Other connections
 * skip the sockhash, whose insert and teardown cost more than the rest of
 * the connect path's programs together (key: 4-tuple; bounded; the kernel drops an entry when
 * its socket closes). The sk_msg program on tg_streams parses the FIRST
 * sendmsg of each: an HTTP "CONNECT host:port HTTP/1.x" line (port = the one
 * requested) or a TLS ClientHello's server_name (port = the socket's), both
 * lower-cased, trailing dot dropped, matched against tg_hosts like DNS
 * questions (exact, then "*." suffixes; never the apex); an IPv4 literal in
 * CONNECT is looked up in tg_net4 instead. A BLOCK verdict in
 * ENFORCE mode fails that sendmsg and every later one with EACCES (nothing
 * is sent); every verdict other than NONE emits TG_ABI_REC_CONNECT_HOST.
 * A ClientHello written in pieces is held (cork) until its record is whole,
 * up to 4096 bytes. Not seen: data sent with the SYN (TCP Fast Open), later
 * requests on the same connection, CONNECT over TLS (HTTPS proxies), TLS
 * Encrypted ClientHello (only the outer, public name), QUIC (UDP), sockets
 * of other sockmap users, connections opened before the policy had host rules.
 *
 * ===== Hash requests =====
 *
 * When tg_gens[gen].flags has TG_ABI_GEN_HASH_REQUESTS (policy has sha256
 * rules) and the executed inode is not in tg_inodes, the program looks up
 * {dev, ino} in tg_seen; if absent, of another seen_epoch or of another
 * i_generation (the inode number was reused by a new file), it stores
 * {seen_epoch, i_generation} and emits a TG_ABI_REC_HASH_REQUEST (pid, dev,
 * ino, path).
 * The exec is NOT held: the daemon hashes /proc/PID/exe (the exact file),
 * adds matching inodes to tg_inodes and kills/reports the process itself.
 * Bump tg_gens[].seen_epoch to make the kernel ask again for every inode.
 * This is the one place where a first event is slower than later ones.
 *
 * tg_seen also guards tg_inodes against reused inode numbers: an exec that
 * finds a tg_inodes entry records {seen_epoch, i_generation} when tg_seen
 * has nothing of this epoch, and treats the entry as stale (asks again as
 * above, does not act on it) when the i_generation recorded differs. The
 * daemon deletes the tg_seen entry whenever its file watcher writes a
 * tg_inodes entry, since it has just judged the file now on that number.
 *
 * ===== The dynamic loader run directly ("ld.so FILE") =====
 *
 * The kernel execs only the loader; the loader maps FILE itself, so FILE's
 * inode is never an exec's. When TG_ABI_GEN_HASH_REQUESTS is set and the
 * executed file is an interpreter entry with TG_ABI_REFS_LDSO, the exec
 * tracepoint (both backends) emits a TG_ABI_REC_LOADER_REQUEST (struct
 * tg_abi_hash_request: pid, uid, dev/ino/gen/seen_epoch of the LOADER,
 * path = the program argument made absolute with the cwd, as a hint). No
 * tg_seen de-duplication: every such exec asks. The daemon finds the file
 * from /proc/PID (cmdline, cwd, root), hashes it, adds it to tg_inodes and
 * kills the process (while /proc/PID/exe is still that loader) after the
 * fact, as for a hash request. The LSM backend also has lsm/mmap_file and
 * lsm/file_mprotect: a PROT_EXEC mapping of a file that tg_inodes (space
 * EXE, active gen) holds, by a process whose exe_file is another inode, is
 * decided like an exec (refs, times, exemptions) and refused with -EPERM on
 * BLOCK; the record is TG_ABI_REC_EXEC with TG_ABI_EV_LOADER, path and
 * ino/dev of the mapped file, filename = the process's exe. Per mmap: a
 * PROT_EXEC and file test, then (sha256 rules only) one tg_inodes lookup.
 *
 * ===== Script requests (scripts[].sha256, an extension) =====
 *
 * When tg_gens[gen].flags has TG_ABI_GEN_SCRIPT_REQUESTS, the exec
 * tracepoint (both backends) emits a TG_ABI_REC_SCRIPT_REQUEST for every
 * exec of an interpreter (SPACE_INTERP name or INODE_INTERP copy) and of a
 * "#!" file the kernel has not already decided to BLOCK: pid, uid, dev/ino of
 * the executed file (the interpreter), arg = the script argument as written
 * (or the invoked "#!" path, flag SHEBANG; "" and flag STDIN when there is
 * none and fd 0 is a regular file), path = arg made absolute with the cwd
 * (a hint). Nothing is sent for an interpreter without a script argument
 * whose stdin is not a regular file (terminal, pipe). No de-duplication:
 * scripts are files the kernel has not opened yet, so every run asks. The
 * daemon opens arg relative to /proc/PID/cwd (absolute: under
 * /proc/PID/root), or /proc/PID/fd/0, resolving symlinks, hashes it (size
 * capped, with the hash cache), matches scripts[] sha256 rules AND path
 * globs against the resolved path, and on BLOCK kills the process while it
 * still runs that interpreter, after the fact (it has not read the script
 * yet when the record is sent, but runs meanwhile). Without the flag the
 * per-exec cost is unchanged (one flag test).
 *
 * ===== Devices =====
 *
 * dev is the kernel's internal dev_t: (major << 20) | minor, NOT st_dev's
 * encoding; use tg_abi_dev_from_user(major(st.st_dev), minor(st.st_dev)).
 * On btrfs subvolumes and overlayfs st_dev can differ from the superblock's
 * s_dev (documented limit; the daemon should prefer paths there).
 */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TG_ABI_VERSION 2u

/* ---------- limits ---------- */
#define TG_ABI_MAX_TOOLS      4096u /* == TG_POLICY_MAX_TOOLS */
#define TG_ABI_MAX_REFS	      7u    /* refs per string/inode entry */
#define TG_ABI_STR_MAX	      254u  /* bytes of a string in a trie key */
#define TG_ABI_PATH_MAX	      256u  /* path buffers in records, with NUL */
#define TG_ABI_PATH_DEPTH     32u   /* dentry components walked for the resolved path */
#define TG_ABI_ARGV_MAX	      8u    /* argv entries copied into exec records */
#define TG_ABI_ARG_LEN	      128u  /* bytes per argv entry, with NUL */
#define TG_ABI_ARGS_SCAN      16u   /* argv entries examined to find a script argument */
#define TG_ABI_MAX_GROUPS     32u   /* supplementary groups checked for exemptions */
#define TG_ABI_NET_REFS	      4u    /* refs per CIDR entry */
#define TG_ABI_NET_PORTS      7u    /* ports per net ref (0 ports = all ports) */
#define TG_ABI_TTY_LEN	      32u
#define TG_ABI_COMM_LEN	      16u
#define TG_ABI_RINGBUF_BYTES  (4u * 1024u * 1024u)
#define TG_ABI_SEEN_ENTRIES   65536u /* tg_seen LRU size */
#define TG_ABI_STR_ENTRIES    65536u /* tg_strs / tg_rstrs max entries (both gens) */
#define TG_ABI_INODE_ENTRIES  131072u
#define TG_ABI_EXEMPT_ENTRIES 16384u
#define TG_ABI_AFFIX_ENTRIES  16384u
#define TG_ABI_HOST_ENTRIES   16384u
#define TG_ABI_HOST_MAX	      128u   /* bytes of a host name key, with NUL: longer names are not matched */
#define TG_ABI_NET_ENTRIES    65536u /* per family */
#define TG_ABI_SHARED_ENTRIES 16384u /* tg_shared LRU size (both families) */
#define TG_ABI_SHARED_TTL_MIN 60u    /* seconds an allowed answer's address stays shared, at least */
#define TG_ABI_SHARED_TTL_MAX 86400u /* ... at most */

/* ---------- enumerations (as #defines: no enums in the ABI) ---------- */
/* Verdicts: same numbers as enum tg_verdict (lib/matcher.h). */
#define TG_ABI_VERDICT_NONE  0u
#define TG_ABI_VERDICT_ALLOW 1u
#define TG_ABI_VERDICT_ALERT 2u
#define TG_ABI_VERDICT_WARN  3u
#define TG_ABI_VERDICT_BLOCK 4u

/* Actions: same numbers as enum tg_action (lib/policy.h). */
#define TG_ABI_ACTION_BLOCK 1u
#define TG_ABI_ACTION_ALERT 2u
#define TG_ABI_ACTION_ALLOW 3u

/* Modes (tg_gens[].mode). OFF = no decisions (fresh maps). */
#define TG_ABI_MODE_OFF	    0u
#define TG_ABI_MODE_ENFORCE 1u
#define TG_ABI_MODE_MONITOR 2u

/* Exec backends (tg_control.exec_backend), written by the daemon at load. */
#define TG_ABI_BACKEND_NONE 0u
#define TG_ABI_BACKEND_LSM                                                                                   \
	1u			     /* lsm/bprm_check_security decides; the                                 \
					tracepoint only handles interpreter                                  \
					script arguments (argv is not readable                               \
					from the LSM hook) */
#define TG_ABI_BACKEND_TRACEPOINT 2u /* tp_btf or raw_tp sched_process_exec */

/* String spaces (tg_abi_str_key.space). */
#define TG_ABI_SPACE_EXE_PATH	 1u
#define TG_ABI_SPACE_EXE_NAME	 2u
#define TG_ABI_SPACE_SCRIPT_PATH 3u
#define TG_ABI_SPACE_INTERP	 4u

/* Inode spaces (tg_abi_inode_key.space). */
#define TG_ABI_INODE_EXE    1u /* the executed file (binary or shebang script itself) */
#define TG_ABI_INODE_SCRIPT 2u /* a file matching scripts[]: LSM sees shebang scripts' inodes */
#define TG_ABI_INODE_INTERP 3u /* a copy of an interpreter (same sha256): refs.n = 0, refs.flags as SPACE_INTERP */

/* Matcher kinds and encoding. */
#define TG_ABI_MK_EXE		  1u
#define TG_ABI_MK_SCRIPT	  2u
#define TG_ABI_MK_HOST		  3u
#define TG_ABI_MATCHER_INDEX_MAX  4095u
#define TG_ABI_MATCHER(kind, idx) ((__u16)(((kind) << 12) | ((idx)&0x0fffu)))
#define TG_ABI_MATCHER_KIND(m)	  (((m) >> 12) & 0x7u)
#define TG_ABI_MATCHER_IDX(m)	  ((m)&0x0fffu)
/* In a trie ref only: one half of a "P/ ** /S" glob (see "Prefix+suffix
 * globs" above). Never in records: the programs strip it. */
#define TG_ABI_MATCHER_PART 0x8000u

/* tg_abi_tool.flags */
#define TG_ABI_TOOL_PRESENT	(1u << 0)
#define TG_ABI_TOOL_EXEMPT_UIDS (1u << 1) /* tg_exempt has UID keys for this tool */
#define TG_ABI_TOOL_EXEMPT_GIDS (1u << 2) /* tg_exempt has GID keys for this tool */

/* tg_abi_gen.flags */
#define TG_ABI_GEN_HASH_REQUESTS (1u << 0) /* policy has sha256 rules */
#define TG_ABI_GEN_SCRIPTS	 (1u << 1) /* policy has scripts rules: examine interpreters */
#define TG_ABI_GEN_HOSTS	 (1u << 2) /* tg_hosts has names: learn addresses from DNS answers */
#define TG_ABI_GEN_SCRIPT_REQUESTS (1u << 3) /* scripts[].sha256 rules: send script requests */
#define TG_ABI_GEN_INSPECT_ALL	   (1u << 4) /* stream_guard: every TCP connection, not inspect_ports */
#define TG_ABI_INSPECT_PORTS	   16u	     /* tg_abi_gen.inspect_ports */
#define TG_ABI_GEN_HOST_LENS	   (1u << 5) /* host_lens/wild_lens are filled in */

/* tg_abi_refs.flags */
#define TG_ABI_REFS_INTERP (1u << 0) /* SPACE_INTERP entry */
#define TG_ABI_REFS_LDSO   (1u << 1) /* ... the dynamic loader: the script is the program it loads */

/* tg_abi_exempt_key.kind */
#define TG_ABI_EXEMPT_UID 1u
#define TG_ABI_EXEMPT_GID 2u

/* Record types. */
#define TG_ABI_REC_EXEC		1u
#define TG_ABI_REC_CONNECT	2u
#define TG_ABI_REC_HASH_REQUEST 3u
#define TG_ABI_REC_CONNECT_HOST 4u /* struct tg_abi_connect_host_event (stream_guard.bpf.c) */
#define TG_ABI_REC_LOADER_REQUEST                                                                            \
	5u /* struct tg_abi_hash_request about the program a dynamic loader was                              \
	      asked to run ("ld.so FILE"): dev/ino are the loader's; see                                     \
	      "The dynamic loader run directly" above */
#define TG_ABI_REC_SCRIPT_REQUEST 6u /* struct tg_abi_script_request; see "Script requests" */

/* tg_abi_script_request.flags */
#define TG_ABI_SCRIPT_STDIN   (1u << 0) /* no script argument, fd 0 a regular file: the script is stdin */
#define TG_ABI_SCRIPT_SHEBANG (1u << 1) /* a "#!" file executed directly: arg is the invoked path */

/* Record flags (exec and connect records). */
#define TG_ABI_EV_WOULD_BLOCK	   (1u << 0) /* BLOCK not enforced: monitor mode */
#define TG_ABI_EV_EXEMPT	   (1u << 1) /* verdict ALLOW because of an exemption */
#define TG_ABI_EV_KILLED	   (1u << 2) /* SIGKILL sent (tracepoint backend) */
#define TG_ABI_EV_DENIED	   (1u << 3) /* -EPERM returned (LSM, connect) */
#define TG_ABI_EV_BY_INVOKED_NAME  (1u << 4) /* what matched (winning ref) */
#define TG_ABI_EV_BY_RESOLVED_NAME (1u << 5)
#define TG_ABI_EV_BY_INVOKED_PATH  (1u << 6)
#define TG_ABI_EV_BY_RESOLVED_PATH (1u << 7)
#define TG_ABI_EV_BY_INODE	   (1u << 8)
#define TG_ABI_EV_BY_SCRIPT	   (1u << 9)  /* record's script field matched */
#define TG_ABI_EV_SHEBANG	   (1u << 10) /* the executed file was a "#!" script */
#define TG_ABI_EV_PATH_TRUNCATED   (1u << 11) /* resolved path deeper/longer than the limits */
#define TG_ABI_EV_LSM		   (1u << 12) /* decided by the LSM program */
#define TG_ABI_EV_V4MAPPED	   (1u << 13) /* connect: IPv4-mapped IPv6 destination */
#define TG_ABI_EV_SENDMSG	   (1u << 14) /* connect: sendmsg/sendto, not connect */
#define TG_ABI_EV_SCRIPT_RELATIVE  (1u << 15) /* script argument relative and no cwd found */
#define TG_ABI_EV_PROXY_CONNECT	   (1u << 16) /* connect: name from an HTTP "CONNECT host:port" line */
#define TG_ABI_EV_TLS_SNI	   (1u << 17) /* connect: name from a TLS ClientHello's server_name */
#define TG_ABI_EV_LOADER	   (1u << 18) /* exec: decided at an executable mapping of the file (lsm/mmap_file) */

/* tg_dropped indexes. */
#define TG_ABI_DROP_RINGBUF 0u /* records lost: ring buffer full */
#define TG_ABI_DROP_SEEN    1u /* hash requests lost: tg_seen update failed */
#define TG_ABI_DROP_BUSY                                                                                     \
	2u /* exec decisions skipped: every scratch slot of the CPU busy                                     \
	      (needs 4 preempted LSM runs on one CPU) */
#define TG_ABI_DROP__COUNT 3u

/* ---------- maps: keys and values ---------- */

struct tg_abi_control {
	__u32 active_gen;   /* 0 or 1; the only thing flipped on a swap */
	__u32 abi_version;  /* TG_ABI_VERSION of the programs that own the pins */
	__u32 exec_backend; /* TG_ABI_BACKEND_* */
	__u32 build_id;	    /* hash of the BPF objects that own the pins: a daemon
			       built with other objects replaces them (no gap) */
};

struct tg_abi_gen {
	__u64 policy_serial; /* metadata.serial, copied into records */
	__u32 mode;	     /* TG_ABI_MODE_* */
	__u32 flags;	     /* TG_ABI_GEN_* */
	__u32 seen_epoch;    /* hash requests: tg_seen entries of another epoch are stale */
	__u32 n_tools;
	/* stream_guard inspects TCP connections to these destination ports (host
	 * order, 0 ends the list), those marked in tg_inspect_sk, or every one with
	 * TG_ABI_GEN_INSPECT_ALL; from the daemon configuration, not the policy */
	__u16 inspect_ports[TG_ABI_INSPECT_PORTS];
	/* with TG_ABI_GEN_HOST_LENS: bit L (of word L / 64) set when tg_hosts
	 * of this generation has an exact name (host_lens) or a "*." suffix
	 * (wild_lens) of L characters; names of other lengths need no lookup */
	__u64 host_lens[TG_ABI_HOST_MAX / 64];
	__u64 wild_lens[TG_ABI_HOST_MAX / 64];
	__u64 reserved;
};

struct tg_abi_tool {
	__u64 start_ns;	     /* CLOCK_TAI ns: before it the tool is inactive (0 = always active) */
	__u64 block_ns;	     /* action BLOCK: WARN in [start_ns, block_ns), BLOCK from block_ns */
	__u64 end_ns;	     /* inactive (expired) from this instant; ~0 = never */
	__u64 exempt_end_ns; /* exemptions apply before this instant; ~0 = forever */
	__u32 action;	     /* TG_ABI_ACTION_* */
	__u32 flags;	     /* TG_ABI_TOOL_* */
	__u64 reserved;
};

struct tg_abi_str_key {
	__u32 prefixlen; /* bits from gen on: 16 + 8 * bytes of str */
	__u8 gen;
	__u8 space; /* TG_ABI_SPACE_* */
	__u8 str[TG_ABI_STR_MAX];
};

struct tg_abi_ref {
	__u16 tool;    /* index into the policy's tools */
	__u16 matcher; /* TG_ABI_MATCHER(kind, index) */
};

struct tg_abi_refs {
	__u16 n;     /* used entries of ref[] */
	__u16 flags; /* TG_ABI_REFS_* */
	struct tg_abi_ref ref[TG_ABI_MAX_REFS];
};

struct tg_abi_inode_key {
	__u32 dev; /* kernel dev_t: major << 20 | minor */
	__u8 gen;
	__u8 space; /* TG_ABI_INODE_* */
	__u16 pad;  /* zero */
	__u64 ino;
};

struct tg_abi_exempt_key {
	__u32 id; /* uid or gid */
	__u16 tool;
	__u8 gen;
	__u8 kind; /* TG_ABI_EXEMPT_* */
};

struct tg_abi_affix_key {
	__u16 tool;
	__u16 matcher; /* without TG_ABI_MATCHER_PART */
	__u8 gen;
	__u8 pad[3];
};

struct tg_abi_affix_val {
	__u32 minlen; /* bytes of the subject at least */
	__u32 pad;
};

struct tg_abi_host_key {
	__u8 gen;
	__u8 wildcard; /* 1: name is the suffix of "*.name" */
	__u16 pad;
	char name[TG_ABI_HOST_MAX]; /* NUL-padded */
};

struct tg_abi_net4_key {
	__u32 prefixlen; /* 8 + CIDR prefix length */
	__u8 gen;
	__u8 addr[4]; /* network byte order */
	__u8 pad[3];  /* zero; beyond the longest prefix */
};

struct tg_abi_net6_key {
	__u32 prefixlen; /* 8 + CIDR prefix length */
	__u8 gen;
	__u8 addr[16];
	__u8 pad[3];
};

struct tg_abi_net_ref {
	__u16 tool;
	__u16 matcher;		       /* TG_ABI_MATCHER(TG_ABI_MK_HOST, i) */
	__u16 n_ports;		       /* 0 = every port; more than TG_ABI_NET_PORTS: several refs */
	__u16 ports[TG_ABI_NET_PORTS]; /* host byte order; TCP and UDP alike */
};

struct tg_abi_net_refs {
	__u16 n;
	__u16 flags; /* TG_ABI_NET_NAME_REF(i): ref[i] is a host name's, not a CIDR rule's */
	struct tg_abi_net_ref ref[TG_ABI_NET_REFS];
};

#define TG_ABI_NET_NAME_REF(i) ((__u16)(1u << (i)))

/* tg_shared key; the value is a __u64 expiry (CLOCK_TAI ns). */
struct tg_abi_shared_key {
	__u32 family; /* AF_INET (2) or AF_INET6 (10); v4-mapped IPv6 is AF_INET */
	__u8 addr[16]; /* network order; IPv4 in addr[0..3], the rest zero */
};

struct tg_abi_seen_key {
	__u32 dev;
	__u32 pad;
	__u64 ino;
};

struct tg_abi_seen_val {
	__u32 seen_epoch;
	__u32 i_generation; /* a new file on a reused inode number differs here */
};

/* ---------- ring buffer records ---------- */

struct tg_abi_rec_hdr {
	__u16 type;	    /* TG_ABI_REC_* */
	__u16 version;	    /* TG_ABI_VERSION */
	__u32 size;	    /* sizeof the whole record */
	__u64 ktime_tai_ns; /* bpf_ktime_get_tai_ns() of the decision */
};

struct tg_abi_exec_event {
	struct tg_abi_rec_hdr hdr;
	__u64 policy_serial;
	__u64 ino;  /* of the executed file (interpreter for shebang scripts) */
	__u32 pid;  /* tgid */
	__u32 ppid; /* real parent's tgid */
	__u32 uid;  /* real uid */
	__u32 gid;  /* real gid */
	__u32 dev;
	__u32 flags; /* TG_ABI_EV_* */
	__u32 argc;  /* argc of the new image (argv[] holds at most TG_ABI_ARGV_MAX) */
	__u16 tool;
	__u16 matcher;
	__u8 verdict; /* TG_ABI_VERDICT_* */
	__u8 gen;
	__u8 pad[6];
	char comm[TG_ABI_COMM_LEN];
	char tty[TG_ABI_TTY_LEN];		    /* "pts/3", "" when none */
	char filename[TG_ABI_PATH_MAX];		    /* as invoked (bprm->filename) */
	char path[TG_ABI_PATH_MAX];		    /* resolved path of bprm->file */
	char script[TG_ABI_PATH_MAX];		    /* shebang script or interpreter argument, "" when none */
	char argv[TG_ABI_ARGV_MAX][TG_ABI_ARG_LEN]; /* truncated entries */
};

struct tg_abi_connect_event {
	struct tg_abi_rec_hdr hdr;
	__u64 policy_serial;
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u16 tool;
	__u16 matcher;
	__u8 verdict;
	__u8 family;   /* AF_INET (2) or AF_INET6 (10) as called */
	__u8 protocol; /* IPPROTO_TCP / IPPROTO_UDP / 0 unknown */
	__u8 gen;
	__u32 flags; /* TG_ABI_EV_* */
	__u16 port;  /* host byte order */
	__u16 pad;
	__u8 addr[16]; /* network order; IPv4 (also v4-mapped) in addr[0..3] */
	char comm[TG_ABI_COMM_LEN];
};

/* A TCP stream whose first bytes named a host (stream_guard.bpf.c): conn.addr
 * and conn.port are the socket's peer (the proxy, for CONNECT); conn.flags
 * has TG_ABI_EV_PROXY_CONNECT or TG_ABI_EV_TLS_SNI; conn.ppid and conn.comm
 * are zero (not available to sk_msg programs on every kernel). */
struct tg_abi_connect_host_event {
	struct tg_abi_connect_event conn; /* hdr.type = TG_ABI_REC_CONNECT_HOST */
	char host[TG_ABI_HOST_MAX];	  /* the name as sent, lower case, no trailing dot */
};

struct tg_abi_hash_request {
	struct tg_abi_rec_hdr hdr;
	__u32 pid;
	__u32 uid;
	__u32 dev;
	__u32 seen_epoch;
	__u64 ino;
	__u8 gen;
	__u8 pad[7];
	char path[TG_ABI_PATH_MAX]; /* resolved path (hash /proc/PID/exe, not this) */
};

/* A script an interpreter is about to run (see "Script requests"). */
struct tg_abi_script_request {
	struct tg_abi_rec_hdr hdr;
	__u32 pid;
	__u32 uid;
	__u32 dev;   /* of the executed file (the interpreter) */
	__u32 flags; /* TG_ABI_SCRIPT_* */
	__u64 ino;
	__u8 gen;
	__u8 pad[7];
	char arg[TG_ABI_PATH_MAX];  /* the script as written, "" for stdin */
	char path[TG_ABI_PATH_MAX]; /* arg made absolute with the cwd (hint) */
};

/* Kernel-internal dev_t (MKDEV) from userspace major/minor. */
static inline __u32 tg_abi_dev_from_user(__u32 major_nr, __u32 minor_nr)
{
	return (major_nr << 20) | (minor_nr & 0xfffffu);
}

/* Expected sizes; the daemon asserts them with _Static_assert. */
#define TG_ABI_SIZEOF_CONTROL	    16
#define TG_ABI_SIZEOF_GEN	    96
#define TG_ABI_SIZEOF_TOOL	    48
#define TG_ABI_SIZEOF_STR_KEY	    260
#define TG_ABI_SIZEOF_REFS	    32
#define TG_ABI_SIZEOF_INODE_KEY	    16
#define TG_ABI_SIZEOF_EXEMPT_KEY    8
#define TG_ABI_SIZEOF_AFFIX_KEY	    8
#define TG_ABI_SIZEOF_AFFIX_VAL	    8
#define TG_ABI_SIZEOF_HOST_KEY	    132
#define TG_ABI_SIZEOF_NET4_KEY	    12
#define TG_ABI_SIZEOF_NET6_KEY	    24
#define TG_ABI_SIZEOF_NET_REFS	    84
#define TG_ABI_SIZEOF_SHARED_KEY    20
#define TG_ABI_SIZEOF_EXEC_EVENT    1912
#define TG_ABI_SIZEOF_CONNECT_EVENT 88
#define TG_ABI_SIZEOF_HASH_REQUEST  304
#define TG_ABI_SIZEOF_SCRIPT_REQUEST 560
#define TG_ABI_SIZEOF_CONNECT_HOST_EVENT 216
