/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The netlink backend reaches a socket through its owner's descriptor number, which
 * may name another socket by the time it is used (closed, and the number reused):
 * only the socket cookie tells. Point the owner hint of socket A at socket B and
 * arm A: B must keep its options, A must get ours. Root (pidfd_getfd). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "tap.h"

/* A loopback connection; returns the server end. */
static int conn(int lfd, int *client)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);

	getsockname(lfd, (void *)&a, &l);
	*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*client < 0 || connect(*client, (void *)&a, sizeof(a)) < 0)
		return -1;
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

static int opt(int fd, int level, int name)
{
	int v = -1;
	socklen_t l = sizeof(v);

	getsockopt(fd, level, name, &v, &l);
	return v;
}

/* set an option through the backend's one op */
static int set(const struct backend_ops *ops, struct backend *b, const struct sock_rec *s,
	       struct owner *o, const struct ka_opts *ka, const struct ka_opts *expect,
	       bool quiet, bool search)
{
	struct sock_op op = { .s = s, .owner = o, .set = ka, .expect = expect, .quiet = quiet };

	ops->op(b, &op, search);
	return op.result;
}

int main(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	const struct backend_ops *ops = &backend_netlink;
	struct ka_opts want = { .keepalive = 1, .idle_s = 1, .intvl_s = 9, .cnt = 127 }, cur;
	struct backend *b = NULL;
	int lfd, ca, cb, sa, sb, forty_two = 42;
	struct sock_rec rec = { 0 };
	struct owner hint;
	socklen_t l = sizeof(rec.cookie);
	struct stat st;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok(lfd >= 0 && bind(lfd, (void *)&a, sizeof(a)) == 0 && listen(lfd, 4) == 0, "listening");
	sa = conn(lfd, &ca);
	sb = conn(lfd, &cb);
	ok(sa >= 0 && sb >= 0, "two connections, A and B");
	setsockopt(sb, IPPROTO_TCP, TCP_KEEPCNT, &forty_two, sizeof(forty_two));
	ok(getsockopt(sa, SOL_SOCKET, SO_COOKIE, &rec.cookie, &l) == 0 && fstat(sa, &st) == 0,
	   "A's cookie and inode");
	rec.inode = (uint32_t)st.st_ino;
	ok(ops->open(&b) == 0, "netlink backend open");

	hint = (struct owner){ .pid = getpid(), .fd = sb };
	is_u64((unsigned long long)-set(ops, b, &rec, &hint, &want, NULL, false, false), ESTALE,
	       "A armed through B's descriptor, without a search: ESTALE");
	ok(opt(sb, SOL_SOCKET, SO_KEEPALIVE) == 0 && opt(sb, IPPROTO_TCP, TCP_KEEPCNT) == 42,
	   "B untouched");

	hint = (struct owner){ .pid = getpid(), .fd = sb };
	ok(ops->get_opts(b, &rec, &hint, &cur) == 0 && hint.fd == sa,
	   "with a search: A found again under its own descriptor");
	ok(cur.keepalive == 0, "A's own options read (keepalive off)");
	hint = (struct owner){ .pid = getpid(), .fd = sb };
	{
		struct ka_opts other = cur;

		other.cnt = cur.cnt + 1;
		is_u64((unsigned long long)-set(ops, b, &rec, &hint, &want, &other, false, true),
		       EAGAIN, "armed only if the options still are the ones read: EAGAIN");
	}
	ok(opt(sa, SOL_SOCKET, SO_KEEPALIVE) == 0, "and nothing set");
	ok(set(ops, b, &rec, &hint, &want, &cur, false, true) == 0, "A armed after the search");
	ok(opt(sa, SOL_SOCKET, SO_KEEPALIVE) == 1 && opt(sa, IPPROTO_TCP, TCP_KEEPCNT) == 127,
	   "A carries our options");
	ok(opt(sb, SOL_SOCKET, SO_KEEPALIVE) == 0 && opt(sb, IPPROTO_TCP, TCP_KEEPCNT) == 42,
	   "B still untouched");

	/* handing back: exactly the owner's */
	{
		struct sock_op op = { .s = &rec, .owner = &hint, .set = &cur, .expect = &want,
				      .handback = true };

		ops->op(b, &op, true);
		ok(op.result == 0 && op.owners == 0, "handed back (%d, %u)", op.result, op.owners);
		ok(opt(sa, SOL_SOCKET, SO_KEEPALIVE) == 0 &&
		   opt(sa, IPPROTO_TCP, TCP_KEEPCNT) == cur.cnt, "A has its owner's options again");
	}
	/* an owner that sets options of its own while armed keeps them */
	ok(set(ops, b, &rec, &hint, &want, &cur, false, true) == 0, "A armed again");
	setsockopt(sa, IPPROTO_TCP, TCP_KEEPCNT, &forty_two, sizeof(forty_two));
	{
		struct sock_op op = { .s = &rec, .owner = &hint, .set = &cur, .expect = &want,
				      .handback = true };

		ops->op(b, &op, true);
		ok(op.result == 0 && op.owners == KA_CNT, "a hand-back leaves the owner's own "
		   "TCP_KEEPCNT (%d, %u)", op.result, op.owners);
		ok(opt(sa, IPPROTO_TCP, TCP_KEEPCNT) == 42 && opt(sa, SOL_SOCKET, SO_KEEPALIVE) == 0,
		   "the owner's value stays, kareaper's keepalive goes");
	}
	/* quiet: refused once something came in since the record */
	{
		struct sock_op op = { .s = &rec, .owner = &hint, .set = &want, .quiet = true };

		rec.segs_in = 0; /* the handshake's segments came in since */
		ops->op(b, &op, true);
		is_u64((unsigned long long)-op.result, EALREADY,
		       "quiet: set only if nothing came in since the record: EALREADY");
	}
	ops->close(b);
	return done_testing();
}
