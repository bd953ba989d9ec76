/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: kareaper.conf, whole, through config_load (inih and our line reader,
 * every value parser, validation) and the effective-config printer. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct keepalive_defaults def = { 7200000, 75000, 9 };
	struct config *c = NULL;
	char path[64], err[512];
	int fd = memfd_create("kareaper-fuzz.conf", MFD_CLOEXEC);
	FILE *null;

	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (config_load(path, &def, &c, err, sizeof(err)) == 0) {
		null = fopen("/dev/null", "w");
		if (null) {
			config_print(c, null);
			fclose(null);
		}
		config_free(c);
	}
	close(fd);
	return 0;
}
