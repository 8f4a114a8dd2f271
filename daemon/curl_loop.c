// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <time.h>

#include "curl_loop.h"
#include "log.h"

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct tg_curl_loop *l = userdata;
	int flags = 0, running = 0;

	(void)s;
	if (revents & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (revents & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (revents & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	(void)curl_multi_socket_action(l->multi, fd, flags, &running);
	l->progress(l->userdata);
	return 0;
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct tg_curl_loop *l = userp;
	sd_event_source *src = socketp;
	uint32_t events = 0;
	int r;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (src) {
			(void)sd_event_source_set_enabled(src, SD_EVENT_OFF);
			sd_event_source_unref(src);
			curl_multi_assign(l->multi, s, NULL);
		}
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= EPOLLIN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= EPOLLOUT;
	if (src) {
		r = sd_event_source_set_io_events(src, events);
		if (r >= 0)
			r = sd_event_source_set_enabled(src, SD_EVENT_ON);
	} else {
		r = sd_event_add_io(l->event, &src, s, events, on_io, l);
		if (r >= 0) {
			(void)sd_event_source_set_description(src, l->name);
			curl_multi_assign(l->multi, s, src);
		}
	}
	return r < 0 ? -1 : 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct tg_curl_loop *l = userdata;
	int running = 0;

	(void)s;
	(void)usec;
	(void)curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	l->progress(l->userdata);
	return 0;
}

static int on_timeout(CURLM *multi, long timeout_ms, void *userp)
{
	struct tg_curl_loop *l = userp;
	int r;

	(void)multi;
	if (timeout_ms < 0)
		return sd_event_source_set_enabled(l->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
	/* Never call into curl from here: the sd-event timer does it (0 ms = next iteration). */
	r = sd_event_source_set_time(l->timer, now_usec(CLOCK_MONOTONIC) + (uint64_t)timeout_ms * 1000u);
	if (r >= 0)
		r = sd_event_source_set_enabled(l->timer, SD_EVENT_ONESHOT);
	return r < 0 ? -1 : 0;
}

int tg_curl_loop_init(struct tg_curl_loop *l, sd_event *event, const char *name, void (*progress)(void *),
		      void *userdata)
{
	int r;

	*l = (struct tg_curl_loop){.event = event, .name = name, .progress = progress, .userdata = userdata};
	l->multi = curl_multi_init();
	if (!l->multi)
		return -ENOMEM;
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, on_timeout);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
	r = sd_event_add_time(event, &l->timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_timer, l);
	if (r < 0) {
		curl_multi_cleanup(l->multi);
		l->multi = NULL;
		return r;
	}
	(void)sd_event_source_set_enabled(l->timer, SD_EVENT_OFF);
	(void)sd_event_source_set_description(l->timer, name);
	return 0;
}

void tg_curl_loop_done(struct tg_curl_loop *l)
{
	if (l->multi)
		curl_multi_cleanup(l->multi);
	l->multi = NULL;
	l->timer = sd_event_source_unref(l->timer);
}
