/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Every path toolguard uses, in one place. SYSCONFDIR etc. come from configure. */
#pragma once

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif
#ifndef PKGDATADIR
#define PKGDATADIR "/usr/share/toolguard"
#endif

#define TG_CONFIG_FILE SYSCONFDIR "/toolguard/toolguard.conf"
#define TG_POLICY_FILE SYSCONFDIR "/toolguard/policy.yaml"
#define TG_EXAMPLE_POLICY PKGDATADIR "/example-policy.yaml"
#define TG_POLICY_CACHE LOCALSTATEDIR "/lib/toolguard/policy.yaml"
#define TG_HASH_CACHE LOCALSTATEDIR "/lib/toolguard/hashes.bin" /* sha256 cache kept across restarts */
#define TG_EVENTS_LOG LOCALSTATEDIR "/log/toolguard/events.jsonl"
#define TG_REPORT_SPOOL LOCALSTATEDIR "/lib/toolguard/report-spool" /* events not yet reported */
#define TG_CONTROL_SOCKET RUNSTATEDIR "/toolguard/control.sock"
#define TG_ADMIN_GROUP "toolguard-admin"
#define TG_PIN_DIR "/sys/fs/bpf/toolguard"
