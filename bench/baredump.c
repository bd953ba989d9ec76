/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The baseline: a bare libmnl dump of every TCP socket, v4 then v6, with
 * INET_DIAG_INFO, counting them. Nothing kept, nothing matched. */
#include "config.h"

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static int cb(const struct nlmsghdr *nlh, void *data)
{
	(*(unsigned long *)data)++;
	return MNL_CB_OK;
}

int main(void)
{
	static char buf[32768];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_SOCK_DIAG);
	unsigned long count = 0;
	unsigned seq = 1;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return 1;
	for (int f = 0; f < 2; f++) {
		struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
		struct inet_diag_req_v2 *req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
		int r;

		nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		nlh->nlmsg_seq = ++seq;
		memset(req, 0, sizeof(*req));
		req->sdiag_family = f ? AF_INET6 : AF_INET;
		req->sdiag_protocol = IPPROTO_TCP;
		req->idiag_states = ~0u;
		req->idiag_ext = 1 << (INET_DIAG_INFO - 1);
		if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
			return 1;
		do {
			ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));

			if (n <= 0)
				return 1;
			r = mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(nl), cb, &count);
		} while (r > 0);
		if (r < 0)
			return 1;
	}
	printf("%lu\n", count);
	mnl_socket_close(nl);
	return 0;
}
