/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A 4-tuple reused by a new connection between dump and destroy must not be killed:
 * SOCK_DESTROY with the old cookie has to miss the new connection. Runs in a network
 * namespace of its own (root). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sockdiag.h"
#include "tap.h"

static struct sockdiag d, destroy;

static int lo_up(void)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	strcpy(ifr.ifr_name, "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -1;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return -1;
	close(s);
	return 0;
}

/* Connect 127.0.0.2:40000 -> 127.0.0.1:5555 and accept: always the same tuple. */
static int pair(int lfd, int *client)
{
	struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = htons(40000) };
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(5555) };
	int one = 1, c;

	inet_pton(AF_INET, "127.0.0.2", &src.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
	c = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(c, (void *)&src, sizeof(src)) < 0 || connect(c, (void *)&dst, sizeof(dst)) < 0)
		return -1;
	*client = c;
	return accept(lfd, NULL, NULL);
}

static int find_cb(const struct sock_rec *s, void *data)
{
	if (s->lport == 5555 && s->state == 1)
		*(struct sock_rec *)data = *s;
	return 0;
}

static void abort_close(int fd)
{
	struct linger lg = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

int main(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(5555) };
	struct sock_rec old = { 0 }, cur = { 0 };
	int lfd, c1, s1, c2, s2, one = 1, r;
	char ch;

	if (unshare(CLONE_NEWNET) < 0 || lo_up() < 0) {
		printf("1..0 # SKIP cannot create a network namespace: %s\n", strerror(errno));
		return 77;
	}
	ok(sockdiag_open(&d) == 0 && sockdiag_open(&destroy) == 0, "netlink sockets open");
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok(bind(lfd, (void *)&a, sizeof(a)) == 0 && listen(lfd, 4) == 0, "listening");

	s1 = pair(lfd, &c1);
	ok(s1 >= 0, "first connection");
	ok(sockdiag_dump(&d, AF_INET, 1u << 1, NULL, 0, find_cb, &old) == 0 && old.cookie,
	   "dumped the first connection (cookie %llu)", (unsigned long long)old.cookie);

	/* Both ends go away abortively (no TIME_WAIT), and the same tuple comes back. */
	abort_close(c1);
	abort_close(s1);
	s2 = pair(lfd, &c2);
	ok(s2 >= 0, "second connection on the same 4-tuple");
	ok(sockdiag_dump(&d, AF_INET, 1u << 1, NULL, 0, find_cb, &cur) == 0 && cur.cookie,
	   "dumped the second connection");
	ok(cur.cookie != old.cookie, "a new cookie for the reused tuple");
	ok(memcmp(cur.id.idiag_src, old.id.idiag_src, 16) == 0 &&
	   cur.id.idiag_sport == old.id.idiag_sport && cur.id.idiag_dport == old.id.idiag_dport,
	   "the same tuple");

	r = sockdiag_destroy(&destroy, &old);
	is_u64((unsigned long long)-r, ENOENT, "destroy with the old cookie: ENOENT");
	ok(send(c2, "x", 1, 0) == 1 && recv(s2, &ch, 1, 0) == 1 && ch == 'x',
	   "the new connection still carries data");

	r = sockdiag_destroy(&destroy, &cur);
	is_u64((unsigned long long)-r, 0, "destroy with the right cookie succeeds");
	ok(recv(s2, &ch, 1, 0) < 0 && errno == ECONNABORTED, "and its owner sees ECONNABORTED");
	{
		struct sock_rec fresh;

		is_u64((unsigned long long)-sockdiag_query(&d, &cur, &fresh), ENOENT,
		       "exact query after destroy: ENOENT");
	}
	return done_testing();
}
