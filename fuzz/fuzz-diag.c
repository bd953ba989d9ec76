/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: a receive buffer of sock_diag replies, as the kernel would hand it to
 * the netlink backend: mnl_cb_run, attribute validation, tcp_info of any length. */
#include "config.h"

#include <linux/netlink.h>
#include <stdint.h>
#include <string.h>

#include "diagmsg.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(const struct sock_rec *s, void *data)
{
	/* touch what the engine reads */
	*(uint64_t *)data += s->cookie + s->inode + sock_idle_ms(s) + s->segs_in +
			     (uint64_t)sock_is_candidate(s);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t acc = 0;
	struct diag_walk w = { .cb = sink, .data = &acc };
	/* netlink messages are 4-byte aligned in a receive buffer */
	static uint32_t buf[65536 / 4];

	if (size > sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	if (size >= sizeof(struct nlmsghdr))
		w.seq = ((const struct nlmsghdr *)buf)->nlmsg_seq; /* take it as ours */
	diag_walk_buffer(&w, buf, size);
	return 0;
}
