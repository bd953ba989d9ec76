/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Writes the raw netlink replies of one TCP dump (with tcp_info) to a file, for the
 * parser's tests: record-dump inet|inet6 FILE. How tests/data/ was made. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>

#include "sockdiag.h"

int main(int argc, char **argv)
{
	static struct sockdiag d;
	struct diag_walk w = { 0 };
	size_t len;
	FILE *f;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: record-dump inet|inet6 FILE\n");
		return 2;
	}
	if (sockdiag_open(&d) < 0 || !(f = fopen(argv[2], "wb"))) {
		perror("record-dump");
		return 1;
	}
	w.seq = ++d.seq;
	len = diag_build_dump(d.buf, sizeof(d.buf), strcmp(argv[1], "inet6") ? AF_INET : AF_INET6,
			      ~0u, NULL, 0, w.seq);
	if (mnl_socket_sendto(d.nl, d.buf, len) < 0)
		return 1;
	do {
		ssize_t n = mnl_socket_recvfrom(d.nl, d.buf, sizeof(d.buf));

		if (n < 0)
			return 1;
		fwrite(d.buf, 1, (size_t)n, f);
		r = diag_walk_buffer(&w, d.buf, (size_t)n);
	} while (r == 1);
	fclose(f);
	sockdiag_close(&d);
	return r < 0 ? 1 : 0;
}
