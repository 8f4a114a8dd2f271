/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket (toolctl <-> toolguardd): a Unix stream socket at
 * control.socket, versioned JSON lines (lib/protocol.h). Anyone may ask for
 * status, policy, test and events; reload, sync and unload need uid 0 or
 * membership of control.admin_group (SO_PEERCRED + the peer's groups).
 */
#pragma once

struct tg_daemon;
struct tg_control;

/* Listen (a socket-activated fd if systemd passed one, else create the socket)
 * and hook into d->event; also becomes d->events' listener (recent events ring,
 * events --follow). Logs its errors; the daemon runs on without it. */
int tg_control_new(struct tg_daemon *d, struct tg_control **ret);
/* Close every client and the socket (removed unless socket-activated). */
void tg_control_free(struct tg_control *c);
