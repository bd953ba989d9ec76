/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: a probe journal as a crash may have left it. */
#include "config.h"

#include <stdint.h>

#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct journal j = { .lock_fd = -1 };
	char err[160];

	journal_parse(&j, (const char *)data, size, err, sizeof(err));
	journal_finalise(&j);
	return 0;
}
