/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Instants (RFC 3339 or a bare local date), durations and their display. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Exactly n decimal digits at s. */
static bool parse_fixed(const char *s, int n, int *ret)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return true;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (no libc, no time zone). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int parse_date(const char *s, int *y, int *m, int *d)
{
	if (!parse_fixed(s, 4, y) || s[4] != '-' || !parse_fixed(s + 5, 2, m) || s[7] != '-' ||
	    !parse_fixed(s + 8, 2, d))
		return -EINVAL;
	if (*y < 1 || *m < 1 || *m > 12 || *d < 1 || *d > days_in_month(*y, *m))
		return -EINVAL;
	return 0;
}

int tg_parse_instant(const char *s, struct tg_instant *ret)
{
	struct tg_instant out = {.set = true};
	int y, mo, d, h, mi, sec = 0, oh = 0, om = 0, sign = 1;
	const char *p;

	if (!s || !ret)
		return -EINVAL;
	if (parse_date(s, &y, &mo, &d) < 0)
		return -EINVAL;
	p = s + 10;
	if (*p == '\0') {
		/* Bare date: midnight in the machine's local time zone. */
		struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_isdst = -1};
		time_t t = mktime(&tm);

		if (t == (time_t)-1 && !(tm.tm_year == 69 && tm.tm_mon == 11 && tm.tm_mday == 31))
			return -EINVAL;
		out.bare_date = true;
		out.t = (int64_t)t;
		out.utcoff_min = (int32_t)(tm.tm_gmtoff / 60);
		*ret = out;
		return 0;
	}
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -EINVAL;
	p++;
	if (!parse_fixed(p, 2, &h) || p[2] != ':' || !parse_fixed(p + 3, 2, &mi))
		return -EINVAL;
	p += 5;
	/* Seconds are required by RFC 3339; "hh:mm" alone is accepted as a convenience. */
	if (*p == ':') {
		if (!parse_fixed(p + 1, 2, &sec))
			return -EINVAL;
		p += 3;
		if (*p == '.') {
			p++;
			if (!is_digit(*p))
				return -EINVAL;
			while (is_digit(*p))
				p++;
		}
	}
	/* sec == 60 is an RFC 3339 leap second; it lands on the next second. */
	if (h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		if (!parse_fixed(p + 1, 2, &oh) || p[3] != ':' || !parse_fixed(p + 4, 2, &om))
			return -EINVAL;
		if (oh > 23 || om > 59)
			return -EINVAL;
		p += 6;
	} else {
		return -EINVAL; /* no offset: ambiguous */
	}
	if (*p != '\0')
		return -EINVAL;
	out.utcoff_min = sign * (oh * 60 + om);
	out.t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - (int64_t)out.utcoff_min * 60;
	*ret = out;
	return 0;
}

int tg_parse_duration(const char *s, int64_t *ret_seconds)
{
	static const struct {
		char unit;
		int64_t mult;
	} units[] = {{'w', 7 * 86400}, {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
	size_t next_unit = 0; /* units must appear in decreasing order, each once */
	int64_t total = 0;
	const char *p = s;

	if (!s || !ret_seconds || !*s)
		return -EINVAL;
	if (strcmp(s, "0") == 0) {
		*ret_seconds = 0;
		return 0;
	}
	while (*p) {
		int64_t v = 0, part;
		size_t u;

		if (!is_digit(*p))
			return -EINVAL;
		while (is_digit(*p)) {
			if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
				return -ERANGE;
			p++;
		}
		for (u = next_unit; u < sizeof(units) / sizeof(units[0]); u++)
			if (units[u].unit == *p)
				break;
		if (u == sizeof(units) / sizeof(units[0]))
			return -EINVAL;
		if (__builtin_mul_overflow(v, units[u].mult, &part) ||
		    __builtin_add_overflow(total, part, &total))
			return -ERANGE;
		next_unit = u + 1;
		p++;
	}
	*ret_seconds = total;
	return 0;
}

static const char *format_civil(int64_t t, int32_t off_min, char *buf, size_t len)
{
	time_t lt = (time_t)(t + (int64_t)off_min * 60);
	struct tm tm;
	int a = off_min < 0 ? -off_min : off_min;

	if (!gmtime_r(&lt, &tm)) {
		snprintf(buf, len, "@%" PRId64, t);
		return buf;
	}
	if (tm.tm_sec)
		snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d %c%02d:%02d", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, off_min < 0 ? '-' : '+',
			 a / 60, a % 60);
	else
		snprintf(buf, len, "%04d-%02d-%02d %02d:%02d %c%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, off_min < 0 ? '-' : '+', a / 60, a % 60);
	return buf;
}

const char *tg_format_instant(const struct tg_instant *in, char *buf, size_t len)
{
	if (!buf || len == 0)
		return buf;
	if (!in || !in->set) {
		snprintf(buf, len, "not set");
		return buf;
	}
	return format_civil(in->t, in->utcoff_min, buf, len);
}

const char *tg_format_time_local(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!buf || len == 0)
		return buf;
	if (!localtime_r(&tt, &tm)) {
		snprintf(buf, len, "@%" PRId64, t);
		return buf;
	}
	return format_civil(t, (int32_t)(tm.tm_gmtoff / 60), buf, len);
}

const char *tg_format_span(int64_t seconds, char *buf, size_t len)
{
	const char *sign = "";
	uint64_t s;

	if (!buf || len == 0)
		return buf;
	if (seconds < 0) {
		sign = "-";
		s = (uint64_t)0 - (uint64_t)seconds;
	} else {
		s = (uint64_t)seconds;
	}
	/* Largest unit that is at least 1, rounded down. */
	if (s >= 86400)
		snprintf(buf, len, "%s%" PRIu64 " d", sign, s / 86400);
	else if (s >= 3600)
		snprintf(buf, len, "%s%" PRIu64 " h", sign, s / 3600);
	else if (s >= 60)
		snprintf(buf, len, "%s%" PRIu64 " min", sign, s / 60);
	else
		snprintf(buf, len, "%s%" PRIu64 " s", sign, s);
	return buf;
}
