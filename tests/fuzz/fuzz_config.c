/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: arbitrary bytes into the daemon configuration parser. */
#include <stdint.h>
#include <stdlib.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tg_diags d = {0};
	struct tg_config *c = NULL;
	char line[512];

	if (tg_config_parse((const char *)data, size, "fuzz.conf", &c, &d) == 0) {
		if (d.n != 0 || !c || !c->policy_file || !c->admin_group)
			abort();
		tg_config_free(c);
	} else if (d.n == 0 && d.dropped == 0) {
		abort();
	}
	for (size_t i = 0; i < d.n; i++)
		tg_diag_format(&d.v[i], line, sizeof(line));
	tg_diags_free(&d);
	return 0;
}
