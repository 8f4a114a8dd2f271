/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: arbitrary bytes into the control socket's framing and request parser. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t off = 0, len;

	/* as the daemon does: split into lines under the limit, parse each */
	while (off < size) {
		struct tg_ctl_request r;
		const char *err = NULL;
		int k = tg_ctl_find_line(buf + off, size - off, TG_CTL_MAX_LINE, &len);

		if (k < 0)
			break;
		if (k == 0)
			len = size - off; /* the last line, at a half-close */
		k = tg_ctl_request_parse(buf + off, len, &r, &err);
		if (k == 0) {
			if (err || (unsigned)r.cmd >= _TG_CTL_CMD_MAX)
				abort();
			if (r.cmd == TG_CTL_TEST && r.test_exec == r.test_dest)
				abort();
			if (r.test_exec && (!r.argv || r.argc == 0 || !r.argv[0][0] || r.argv[r.argc]))
				abort();
			tg_ctl_request_free(&r);
		} else if (!err || (k != -EINVAL && k != -E2BIG && k != -EPROTONOSUPPORT && k != -ENOMEM)) {
			abort();
		}
		off += len + 1;
	}
	return 0;
}
