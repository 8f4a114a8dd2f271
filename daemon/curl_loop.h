/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A libcurl multi handle driven by an sd-event loop (sockets and timer),
 * shared by the policy fetcher and the event reporter. */
#ifndef TOOLGUARD_CURL_LOOP_H
#define TOOLGUARD_CURL_LOOP_H

#include <curl/curl.h>
#include <systemd/sd-event.h>

#include "curl_setup.h" /* tg_curl_easy_setup() for the easy handles */

struct tg_curl_loop {
	CURLM *multi;
	sd_event *event;
	sd_event_source *timer;
	const char *name;		  /* event source descriptions */
	void (*progress)(void *userdata); /* after curl ran: read finished transfers */
	void *userdata;
};

/* 0 or -errno; on failure nothing is left to free. */
int tg_curl_loop_init(struct tg_curl_loop *l, sd_event *event, const char *name, void (*progress)(void *),
		      void *userdata);
/* Cleans the multi handle (remove the easy handles first) and the timer. */
void tg_curl_loop_done(struct tg_curl_loop *l);

#endif
