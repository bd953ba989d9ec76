/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "selftest.h"

/* A loopback connection: the server end (non-blocking) and its dump id. */
static int loopback_pair(int *lfd, int *cfd, int *sfd, struct sock_rec *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in ca;
	socklen_t al = sizeof(a), cl = sizeof(ca), kl = sizeof(uint64_t);
	uint64_t cookie;

	*lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	*cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*lfd < 0 || *cfd < 0 || bind(*lfd, (void *)&a, sizeof(a)) < 0 || listen(*lfd, 1) < 0 ||
	    getsockname(*lfd, (void *)&a, &al) < 0 || connect(*cfd, (void *)&a, sizeof(a)) < 0 ||
	    getsockname(*cfd, (void *)&ca, &cl) < 0 ||
	    (*sfd = accept4(*lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0 ||
	    getsockopt(*sfd, SOL_SOCKET, SO_COOKIE, &cookie, &kl) < 0)
		return -errno;
	memset(s, 0, sizeof(*s));
	s->family = AF_INET;
	s->cookie = cookie;
	s->id.idiag_sport = a.sin_port;
	s->id.idiag_dport = ca.sin_port;
	s->id.idiag_src[0] = a.sin_addr.s_addr;
	s->id.idiag_dst[0] = ca.sin_addr.s_addr;
	s->id.idiag_cookie[0] = (uint32_t)cookie;
	s->id.idiag_cookie[1] = (uint32_t)(cookie >> 32);
	return 0;
}

int selftest_run(const struct backend_ops *ops, char *err, size_t len)
{
	_cleanup_close_ int lfd = -1, cfd = -1, sfd = -1;
	struct backend *b = NULL;
	struct sock_rec s;
	int r;
	char c;

	r = loopback_pair(&lfd, &cfd, &sfd, &s);
	if (r < 0) {
		snprintf(err, len, "self-test: cannot make a loopback TCP connection: %s "
			 "(is the loopback interface up?)", strerror(-r));
		return r;
	}
	r = ops->open(&b);
	if (r == 0) {
		r = ops->destroy(b, &s);
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
	else if (recv(sfd, &c, 1, 0) >= 0 || errno != ECONNABORTED) {
		r = -EIO;
		snprintf(err, len, "self-test: SOCK_DESTROY returned success but the socket "
			 "was not aborted");
	}
	return r;
}
