/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <linux/sock_diag.h>
#include <string.h>
#include <sys/socket.h>

#include "sockdiag.h"

int sockdiag_open(struct sockdiag *d)
{
	d->nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
	if (!d->nl)
		return -errno;
	if (mnl_socket_bind(d->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = -errno;

		mnl_socket_close(d->nl);
		d->nl = NULL;
		return e;
	}
	d->portid = mnl_socket_get_portid(d->nl);
	d->seq = 1;
	return 0;
}

void sockdiag_close(struct sockdiag *d)
{
	if (d->nl)
		mnl_socket_close(d->nl);
	d->nl = NULL;
}

static int roundtrip(struct sockdiag *d, size_t reqlen, struct diag_walk *w)
{
	int r;

	if (mnl_socket_sendto(d->nl, d->buf, reqlen) < 0)
		return -errno;
	w->portid = d->portid;
	do {
		ssize_t n = mnl_socket_recvfrom(d->nl, d->buf, sizeof(d->buf));

		if (n < 0)
			return errno == ENOBUFS ? -EINTR : -errno;
		r = diag_walk_buffer(w, d->buf, (size_t)n);
	} while (r == 1);
	return r;
}

/* After an error mid-dump the rest of the reply is still queued: drain it, so the
 * next request does not read it as its own (mnl_cb_run would refuse it: EPROTO). */
static void drain(struct sockdiag *d)
{
	struct timeval tv = { 0, 100000 };
	int fd = mnl_socket_get_fd(d->nl);

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (mnl_socket_recvfrom(d->nl, d->buf, sizeof(d->buf)) > 0)
		;
	tv.tv_usec = 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

int sockdiag_dump(struct sockdiag *d, uint8_t family, uint32_t states, const void *bc,
		  size_t bclen, int (*cb)(const struct sock_rec *s, void *data), void *data)
{
	struct diag_walk w = { .seq = ++d->seq, .cb = cb, .data = data };
	size_t len;
	int r;

	len = diag_build_dump(d->buf, sizeof(d->buf), family, states, bc, bclen, w.seq);
	if (!len)
		return -ENOSPC;
	r = roundtrip(d, len, &w);
	if (r < 0 && r != -ENOENT)
		drain(d);
	return r;
}

static int copy_one(const struct sock_rec *s, void *data)
{
	*(struct sock_rec *)data = *s;
	return 0;
}

int sockdiag_query(struct sockdiag *d, const struct sock_rec *s, struct sock_rec *out)
{
	struct diag_walk w = { .seq = ++d->seq, .cb = copy_one, .data = out };
	size_t len = diag_build_exact(d->buf, sizeof(d->buf), SOCK_DIAG_BY_FAMILY, s, w.seq);

	return roundtrip(d, len, &w);
}

int sockdiag_destroy(struct sockdiag *d, const struct sock_rec *s)
{
	struct diag_walk w = { .seq = ++d->seq };
	size_t len = diag_build_exact(d->buf, sizeof(d->buf), SOCK_DESTROY, s, w.seq);

	return roundtrip(d, len, &w);
}
