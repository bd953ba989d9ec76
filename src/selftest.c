/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "selftest.h"

/* A listening socket on loopback and its dump id. A listener, not a connection:
 * the BPF backend's walk meets listeners first, so destroying one costs a walk
 * of the listeners only, not of every connection on the host. The kernel aborts
 * both the same way (tcp_abort), under the same permission checks. */
static int loopback_listener(int *lfd, struct sock_rec *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a), kl = sizeof(uint64_t);
	uint64_t cookie;

	*lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*lfd < 0 || bind(*lfd, (void *)&a, sizeof(a)) < 0 || listen(*lfd, 1) < 0 ||
	    getsockname(*lfd, (void *)&a, &al) < 0 ||
	    getsockopt(*lfd, SOL_SOCKET, SO_COOKIE, &cookie, &kl) < 0)
		return -errno;
	memset(s, 0, sizeof(*s));
	sock_rec_set_id(s, AF_INET, &(struct inet_diag_sockid){
		.idiag_sport = a.sin_port,
		.idiag_src = { a.sin_addr.s_addr },
		.idiag_cookie = { (uint32_t)cookie, (uint32_t)(cookie >> 32) },
	});
	s->state = TCP_LISTEN;
	return 0;
}

int selftest_run(const struct backend_ops *ops, char *err, size_t len)
{
	_cleanup_close_ int lfd = -1;
	struct backend *b = NULL;
	struct sock_rec s;
	socklen_t el = sizeof(int);
	int r, e = 0;

	r = loopback_listener(&lfd, &s);
	if (r < 0) {
		snprintf(err, len, "self-test: cannot listen on loopback: %s "
			 "(is the loopback interface up?)", strerror(-r));
		return r;
	}
	r = ops->open(&b);
	if (r == 0) {
		struct sock_op op = { .s = &s };

		ops->op(b, &op, false);
		r = op.result;
		ops->close(b);
	}
	if ((r == -EPERM || r == -EACCES) && ops != &backend_netlink)
		snprintf(err, len, "self-test: the %s backend may not destroy a socket: it "
			 "needs CAP_BPF and CAP_PERFMON, and CAP_NET_ADMIN on kernels without "
			 "bpf_sock_destroy (before 6.5)", ops->name);
	else if (r == -EPERM || r == -EACCES)
		snprintf(err, len, "self-test: SOCK_DESTROY not permitted: kareaper needs "
			 "CAP_NET_ADMIN (run it as root or give it the capability)");
	else if (r == -EOPNOTSUPP)
		snprintf(err, len, "self-test: this kernel cannot destroy sockets "
			 "(built without CONFIG_INET_DIAG_DESTROY)");
	else if (r < 0)
		snprintf(err, len, "self-test: the %s backend cannot destroy a socket: %s",
			 ops->name, strerror(-r));
	else if (getsockopt(lfd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e != ECONNABORTED) {
		r = -EIO;
		snprintf(err, len, "self-test: SOCK_DESTROY returned success but the socket "
			 "was not aborted");
	}
	return r;
}
