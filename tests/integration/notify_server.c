/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test helper for tests/integration/notices.sh: a minimal freedesktop
 * notification server. Connects to the bus at ADDRESS, owns
 * org.freedesktop.Notifications, answers GetCapabilities with "actions" and
 * "body", and appends one line per Notify call to OUTFILE:
 *   uid=UID app=APP summary=SUMMARY body=BODY actions=A,B urgency=N timeout=T
 * (newlines in the body written as "\n") and " id=N". Prints "ready" on
 * stdout once it owns the name. With a third argument "click", it plays the
 * user: 0.3 s after the first Notify that offers actions it emits
 * ActionInvoked(id, "default"), after later ones NotificationClosed(id, 2)
 * (dismissed), and prints each signal on stdout.
 * Usage: notify_server ADDRESS OUTFILE [click]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-bus.h>

#define PENDING_MAX 64
#define REACT_USEC  300000u

static const char *out_path;
static uint32_t next_id = 1;
static int click_mode, clicked;

/* Signals to emit later: the answer to Notify must reach the caller first. */
static struct pending {
	uint32_t id;
	int click; /* 1 ActionInvoked, 0 NotificationClosed */
	uint64_t at_usec;
} pending[PENDING_MAX];
static size_t n_pending;

static uint64_t mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void put_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '\\')
			fputs("\\\\", f);
		else
			fputc(*s, f);
	}
}

static int method_notify(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
	const char *app, *icon, *summary, *body, *a;
	uint32_t replaces;
	int32_t timeout;
	int urgency = -1;
	char actions[1024] = "";
	sd_bus_creds *creds = NULL;
	uid_t uid = (uid_t)-1;
	FILE *f;
	int r;

	r = sd_bus_message_read(m, "susss", &app, &replaces, &icon, &summary, &body);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(m, 'a', "s");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_read(m, "s", &a)) > 0) {
		if (actions[0])
			strncat(actions, ",", sizeof(actions) - strlen(actions) - 1);
		strncat(actions, a, sizeof(actions) - strlen(actions) - 1);
	}
	if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
		return r;
	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *key;

		r = sd_bus_message_read(m, "s", &key);
		if (r < 0)
			return r;
		if (strcmp(key, "urgency") == 0) {
			uint8_t u;

			r = sd_bus_message_read(m, "v", "y", &u);
			if (r < 0)
				return r;
			urgency = u;
		} else {
			r = sd_bus_message_skip(m, "v");
			if (r < 0)
				return r;
		}
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
		return r;
	r = sd_bus_message_read(m, "i", &timeout);
	if (r < 0)
		return r;

	/* Who sent it, as the bus daemon knows it (not what the message claims). */
	if (sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds) >= 0)
		(void)sd_bus_creds_get_euid(creds, &uid);
	sd_bus_creds_unref(creds);

	f = fopen(out_path, "ae");
	if (!f)
		return sd_bus_error_set_errno(err, errno);
	fprintf(f, "uid=%d app=%s icon=%s summary=", (int)uid, app, icon);
	put_escaped(f, summary);
	fputs(" body=", f);
	put_escaped(f, body);
	fprintf(f, " actions=%s urgency=%d timeout=%d id=%u\n", actions, urgency, timeout, next_id);
	fclose(f);
	if (click_mode && actions[0] && n_pending < PENDING_MAX) {
		pending[n_pending].id = next_id;
		pending[n_pending].click = !clicked;
		pending[n_pending].at_usec = mono_usec() + REACT_USEC;
		n_pending++;
		clicked = 1;
	}
	return sd_bus_reply_method_return(m, "u", next_id++);
}

static int method_caps(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
	return sd_bus_reply_method_return(m, "as", 2, "actions", "body");
}

static const sd_bus_vtable vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Notify", "susssasa{sv}i", "u", method_notify, 0),
    SD_BUS_METHOD("GetCapabilities", "", "as", method_caps, 0),
    SD_BUS_VTABLE_END,
};

int main(int argc, char **argv)
{
	sd_bus *bus = NULL;
	int r;

	if (argc != 3 && !(argc == 4 && strcmp(argv[3], "click") == 0)) {
		fprintf(stderr, "usage: notify_server ADDRESS OUTFILE [click]\n");
		return 2;
	}
	out_path = argv[2];
	click_mode = argc == 4;
	r = sd_bus_new(&bus);
	if (r >= 0)
		r = sd_bus_set_address(bus, argv[1]);
	if (r >= 0)
		r = sd_bus_set_bus_client(bus, 1);
	if (r >= 0)
		r = sd_bus_start(bus);
	if (r < 0) {
		fprintf(stderr, "notify_server: cannot connect to %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/Notifications",
				     "org.freedesktop.Notifications", vtable, NULL);
	if (r >= 0)
		r = sd_bus_request_name(bus, "org.freedesktop.Notifications", 0);
	if (r < 0) {
		fprintf(stderr, "notify_server: cannot serve org.freedesktop.Notifications: %s\n",
			strerror(-r));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		uint64_t wait = UINT64_MAX, now = mono_usec();

		for (size_t i = 0; i < n_pending;) {
			struct pending *p = &pending[i];

			if (p->at_usec > now) {
				if (p->at_usec - now < wait)
					wait = p->at_usec - now;
				i++;
				continue;
			}
			if (p->click)
				r = sd_bus_emit_signal(bus, "/org/freedesktop/Notifications",
						       "org.freedesktop.Notifications", "ActionInvoked", "us",
						       p->id, "default");
			else
				r = sd_bus_emit_signal(bus, "/org/freedesktop/Notifications",
						       "org.freedesktop.Notifications", "NotificationClosed",
						       "uu", p->id, (uint32_t)2);
			printf("%s id=%u%s\n", p->click ? "ActionInvoked" : "NotificationClosed", p->id,
			       r < 0 ? " (failed)" : "");
			fflush(stdout);
			*p = pending[--n_pending];
		}
		r = sd_bus_process(bus, NULL);
		if (r < 0) {
			fprintf(stderr, "notify_server: %s\n", strerror(-r));
			return 1;
		}
		if (r > 0)
			continue;
		r = sd_bus_wait(bus, wait);
		if (r < 0 && r != -EINTR)
			return 1;
	}
}
