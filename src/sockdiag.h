/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sock_diag over netlink: dump, exact query, destroy. Negative errno returns. */
#pragma once

#include <libmnl/libmnl.h>
#include <stdint.h>

#include "diagmsg.h"

/* The kernel fills about 32 KiB per recvmsg; libmnl >= 1.0.5 names that size. */
#ifdef MNL_SOCKET_DUMP_SIZE
#define SOCKDIAG_BUFSIZE MNL_SOCKET_DUMP_SIZE
#else
#define SOCKDIAG_BUFSIZE 32768
#endif

struct sockdiag {
	struct mnl_socket *nl;
	uint32_t portid, seq;
	char buf[SOCKDIAG_BUFSIZE];
};

int sockdiag_open(struct sockdiag *d);
void sockdiag_close(struct sockdiag *d);

/* One dump of one family. -EINTR: the dump was interrupted (NLM_F_DUMP_INTR) or
 * overran the socket buffer (ENOBUFS); the caller starts over. */
int sockdiag_dump(struct sockdiag *d, uint8_t family, uint32_t states, const void *bc,
		  size_t bclen, int (*cb)(const struct sock_rec *s, void *data), void *data);
/* Fresh facts about one socket, by id and cookie. -ENOENT: it is gone. */
int sockdiag_query(struct sockdiag *d, const struct sock_rec *s, struct sock_rec *out);
/* SOCK_DESTROY by id and cookie. -ENOENT: gone, or the tuple now belongs to
 * another connection (the kernel checks the cookie). */
int sockdiag_destroy(struct sockdiag *d, const struct sock_rec *s);
