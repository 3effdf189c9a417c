// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* libFuzzer target: the configuration parser on arbitrary bytes. Whatever
 * the input, it returns 0 or -EINVAL with one line, and leaves nothing
 * allocated (the sanitizers check the rest). */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pw_config cfg;
	char err[512] = "";
	int ret;

	ret = pw_config_parse("fuzz.yaml", (const char *)data, size, &cfg, err, sizeof(err));
	assert(ret == 0 || ret == -EINVAL || ret == -ENOMEM);
	assert(ret == 0 || (err[0] && !strchr(err, '\n')));
	if (ret == 0)
		pw_config_free(&cfg);
	return 0;
}
