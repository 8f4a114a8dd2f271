/* SPDX-License-Identifier: GPL-2.0-or-later */
/* CIDR ranges and DNS host names as written in a policy. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy.h"

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool host_bits_zero(const uint8_t *a, unsigned bits, unsigned prefix)
{
	for (unsigned i = prefix; i < bits; i++)
		if (a[i / 8] & (0x80u >> (i % 8)))
			return false;
	return true;
}

int tg_parse_cidr(const char *s, struct tg_cidr *ret)
{
	struct tg_cidr c = {0};
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash;
	size_t alen;
	long prefix = -1;

	if (!s || !ret)
		return -EINVAL;
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (slash) {
		const char *p = slash + 1;

		/* Plain decimal only: no sign, no spaces, at most 3 digits. */
		if (!*p || strlen(p) > 3)
			return -EINVAL;
		prefix = 0;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
			prefix = prefix * 10 + (*p - '0');
		}
	}
	if (inet_pton(AF_INET, addr, c.addr) == 1) {
		c.family = AF_INET;
		if (prefix < 0)
			prefix = 32;
		if (prefix > 32)
			return -EINVAL;
	} else if (inet_pton(AF_INET6, addr, c.addr) == 1) {
		c.family = AF_INET6;
		if (prefix < 0)
			prefix = 128;
		if (prefix > 128)
			return -EINVAL;
		/* ::ffff:a.b.c.d/N is an IPv4 range: the kernel sees IPv4 for those sockets. */
		if (memcmp(c.addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
			if (prefix < 96)
				return -EINVAL;
			memmove(c.addr, c.addr + 12, 4);
			memset(c.addr + 4, 0, 12);
			c.family = AF_INET;
			prefix -= 96;
		}
	} else {
		return -EINVAL;
	}
	c.prefixlen = (uint8_t)prefix;
	if (!host_bits_zero(c.addr, c.family == AF_INET ? 32 : 128, c.prefixlen))
		return -EDOM;
	*ret = c;
	return 0;
}

bool tg_cidr_contains(const struct tg_cidr *c, int family, const uint8_t addr[16])
{
	const uint8_t *a = addr;
	unsigned full, rest;

	if (!c || !addr)
		return false;
	if (family == AF_INET6 && c->family == AF_INET &&
	    memcmp(addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
		family = AF_INET;
		a = addr + 12;
	}
	if (family != c->family)
		return false;
	if (c->prefixlen > (c->family == AF_INET ? 32 : 128))
		return false;
	full = c->prefixlen / 8;
	rest = c->prefixlen % 8;
	if (memcmp(a, c->addr, full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff00u >> rest);

		if ((a[full] & mask) != (c->addr[full] & mask))
			return false;
	}
	return true;
}

static bool is_ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

int tg_hostname_normalize(const char *s, bool allow_wildcard, char **ret, bool *ret_wildcard)
{
	size_t len, start = 0, label_start, i;
	bool wildcard = false, last_numeric = true;
	char *n;

	if (!s || !ret)
		return -EINVAL;
	len = strlen(s);
	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return -EINVAL;
	n = strndup(s, len);
	if (!n)
		return -ENOMEM;
	for (i = 0; i < len; i++)
		if (n[i] >= 'A' && n[i] <= 'Z')
			n[i] = (char)(n[i] - 'A' + 'a');
	if (n[0] == '*') {
		if (!allow_wildcard || len < 3 || n[1] != '.')
			goto invalid;
		wildcard = true;
		start = 2;
	}
	label_start = start;
	for (i = start; i <= len; i++) {
		if (i == len || n[i] == '.') {
			size_t l = i - label_start;

			if (l == 0 || l > 63 || n[label_start] == '-' || n[i - 1] == '-')
				goto invalid;
			last_numeric = true;
			for (size_t k = label_start; k < i; k++)
				if (n[k] < '0' || n[k] > '9')
					last_numeric = false;
			label_start = i + 1;
			continue;
		}
		if (!is_ldh(n[i]))
			goto invalid;
	}
	/* An all-numeric last label is an IP literal (or a typo of one), never a DNS name. */
	if (last_numeric)
		goto invalid;
	*ret = n;
	if (ret_wildcard)
		*ret_wildcard = wildcard;
	return 0;
invalid:
	free(n);
	return -EINVAL;
}
