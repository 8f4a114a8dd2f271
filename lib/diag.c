/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Diagnostics: a bounded list of "file:line:col: message" records. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

void tg_diags_add(struct tg_diags *d, const char *file, struct tg_pos pos, const char *fmt, ...)
{
	struct tg_diag *dg;
	va_list ap;
	char *msg = NULL;
	char *f = NULL;
	int r;

	if (!d)
		return;
	if (d->n >= TG_POLICY_MAX_DIAGS) {
		d->dropped++;
		return;
	}
	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 8;
		struct tg_diag *nv;

		if (ncap > TG_POLICY_MAX_DIAGS)
			ncap = TG_POLICY_MAX_DIAGS;
		nv = realloc(d->v, ncap * sizeof(*nv));
		if (!nv) {
			d->dropped++;
			return;
		}
		d->v = nv;
		d->cap = ncap;
	}
	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0) {
		d->dropped++;
		return;
	}
	if (file) {
		f = strdup(file);
		if (!f) {
			free(msg);
			d->dropped++;
			return;
		}
	}
	dg = &d->v[d->n++];
	dg->file = f;
	dg->pos = pos;
	dg->msg = msg;
}

void tg_diags_free(struct tg_diags *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	d->v = NULL;
	d->n = d->cap = 0;
	d->dropped = 0;
}

const char *tg_diag_format(const struct tg_diag *dg, char *buf, size_t len)
{
	const char *file = dg->file ? dg->file : "<input>";

	if (!buf || len == 0)
		return buf;
	if (dg->pos.line > 0)
		snprintf(buf, len, "%s:%u:%u: %s", file, dg->pos.line, dg->pos.col, dg->msg ? dg->msg : "");
	else
		snprintf(buf, len, "%s: %s", file, dg->msg ? dg->msg : "");
	return buf;
}
