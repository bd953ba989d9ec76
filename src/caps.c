/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"

static const struct {
	int cap;
	const char *name;
} managed[] = {
	{ CAP_BPF, "cap_bpf" },
	{ CAP_PERFMON, "cap_perfmon" },
	{ CAP_NET_ADMIN, "cap_net_admin" },
	{ CAP_SYS_PTRACE, "cap_sys_ptrace" },
	{ CAP_DAC_READ_SEARCH, "cap_dac_read_search" },
};
#define NMANAGED (sizeof(managed) / sizeof(managed[0]))

uint64_t caps_managed(void)
{
	uint64_t m = 0;

	for (size_t i = 0; i < NMANAGED; i++)
		m |= CAPS_BIT(managed[i].cap);
	return m;
}

static int caps_get(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };

	return syscall(SYS_capget, &h, d) < 0 ? -errno : 0;
}

static uint64_t join(uint32_t lo, uint32_t hi)
{
	return (uint64_t)hi << 32 | lo;
}

uint64_t caps_effective(void)
{
	struct __user_cap_data_struct d[2];

	if (caps_get(d) < 0)
		return 0;
	return join(d[0].effective, d[1].effective) & caps_managed();
}

int caps_drop_but(uint64_t keep)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	uint64_t drop = caps_managed() & ~keep;
	int r = caps_get(d);

	if (r < 0)
		return r;
	if (!(join(d[0].permitted, d[1].permitted) & drop) &&
	    !(join(d[0].inheritable, d[1].inheritable) & drop))
		return 0; /* nothing to drop */
	for (size_t i = 0; i < NMANAGED; i++) {
		if (!(drop & CAPS_BIT(managed[i].cap)))
			continue;
		/* the ambient set first (it must stay within permitted and
		 * inheritable); EINVAL: a kernel without it, nothing to lower */
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, managed[i].cap, 0, 0) < 0 &&
		    errno != EINVAL)
			return -errno;
	}
	for (int w = 0; w < 2; w++) {
		uint32_t m = ~(uint32_t)(drop >> (32 * w));

		d[w].effective &= m;
		d[w].permitted &= m;
		d[w].inheritable &= m;
	}
	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

void caps_names(uint64_t mask, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < NMANAGED && n < len; i++)
		if (mask & CAPS_BIT(managed[i].cap))
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? " " : "", managed[i].name);
	if (!n)
		snprintf(buf, len, "none");
}
