/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: arbitrary bytes into the policy parser (built by `make fuzz`). */
#include <stdint.h>
#include <stdlib.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tg_diags d = {0};
	struct tg_policy *p = NULL;
	char line[512];

	if (tg_policy_parse((const char *)data, size, "fuzz.yaml", &p, &d) == 0) {
		/* a success has no diagnostics and a usable model */
		if (d.n != 0 || !p || !p->source)
			abort();
		for (size_t i = 0; i < p->n_tools; i++)
			if (!p->tools[i].id || !p->tools[i].name)
				abort();
		tg_policy_free(p);
	} else if (d.n == 0 && d.dropped == 0) {
		abort(); /* every refusal must say why */
	}
	for (size_t i = 0; i < d.n; i++)
		tg_diag_format(&d.v[i], line, sizeof(line));
	tg_diags_free(&d);
	return 0;
}
