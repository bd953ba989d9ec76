/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The checks of one op (backend.h's sock_op) on a real socket, through each
 * backend: expect (arm only over the options read), restore (hand back only over
 * kareaper's own options, and exactly when no probe is unanswered), quiet (act
 * only if nothing came in since the record). The BPF backend makes them in its
 * act walk, under the socket's lock; the netlink one through the owner's
 * descriptor. Root. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "tap.h"

static int opt(int fd, int level, int name)
{
	int v = -1;
	socklen_t l = sizeof(v);

	getsockopt(fd, level, name, &v, &l);
	return v;
}

static void setopt(int fd, int level, int name, int v)
{
	setsockopt(fd, level, name, &v, sizeof(v));
}

static struct ka_opts opts_of(int fd)
{
	return (struct ka_opts){ opt(fd, SOL_SOCKET, SO_KEEPALIVE), opt(fd, IPPROTO_TCP, TCP_KEEPIDLE),
				 opt(fd, IPPROTO_TCP, TCP_KEEPINTVL), opt(fd, IPPROTO_TCP, TCP_KEEPCNT),
				 (unsigned)opt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT) };
}

struct find {
	uint64_t cookie;
	struct sock_rec rec;
	bool found;
};

static int find_cb(const struct sock_rec *s, void *data)
{
	struct find *f = data;

	if (s->cookie == f->cookie) {
		f->rec = *s;
		f->found = true;
	}
	return 0;
}

static int run(const struct backend_ops *ops, struct backend *b, struct sock_op *op)
{
	op->owner = op->owner ? op->owner : &(struct owner){ .pid = getpid(), .fd = -1 };
	ops->op(b, op, true);
	return op->result;
}

static void checks(const struct backend_ops *ops)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct ka_opts armed = { 1, 1, 1, 127, 0 }, own, other;
	struct scan_filter all = { .states = 1u << 1, .all = true };
	int lfd, cfd, sfd, e = 0;
	socklen_t l = sizeof(a), el = sizeof(e);
	struct backend *b = NULL;
	struct find f = { 0 };
	struct owner hint;
	struct sock_op op;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bind(lfd, (void *)&a, sizeof(a));
	listen(lfd, 1);
	getsockname(lfd, (void *)&a, &l);
	connect(cfd, (void *)&a, sizeof(a));
	sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	l = sizeof(f.cookie);
	ok(sfd >= 0 && getsockopt(sfd, SOL_SOCKET, SO_COOKIE, &f.cookie, &l) == 0,
	   "%s: a loopback connection", ops->name);
	ok(ops->open(&b) == 0, "%s: backend open", ops->name);
	ok(ops->enumerate(b, &all, find_cb, &f) >= 0 && f.found, "%s: its server end listed",
	   ops->name);
	hint = (struct owner){ .pid = getpid(), .fd = sfd };
	own = opts_of(sfd);

	/* expect: the owner changed its options after they were read */
	other = own;
	other.cnt++;
	op = (struct sock_op){ .s = &f.rec, .owner = &hint, .set = &armed, .expect = &other };
	is_u64((unsigned long long)-run(ops, b, &op), EAGAIN,
	       "%s: armed only over the options read: EAGAIN", ops->name);
	ok(opt(sfd, SOL_SOCKET, SO_KEEPALIVE) == 0, "%s: and nothing set", ops->name);
	op = (struct sock_op){ .s = &f.rec, .owner = &hint, .set = &armed, .expect = &own };
	ok(run(ops, b, &op) == 0 && opt(sfd, IPPROTO_TCP, TCP_KEEPCNT) == 127,
	   "%s: armed over the options read", ops->name);

	/* restore: the owner set options of its own while armed */
	setopt(sfd, IPPROTO_TCP, TCP_KEEPCNT, 42);
	op = (struct sock_op){ .s = &f.rec, .owner = &hint, .set = &own, .restore = true };
	is_u64((unsigned long long)-run(ops, b, &op), EAGAIN,
	       "%s: a hand-back over the owner's own TCP_KEEPCNT: EAGAIN", ops->name);
	ok(opt(sfd, IPPROTO_TCP, TCP_KEEPCNT) == 42 && opt(sfd, SOL_SOCKET, SO_KEEPALIVE) == 1,
	   "%s: and the owner's options stay", ops->name);
	setopt(sfd, IPPROTO_TCP, TCP_USER_TIMEOUT, 5000);
	setopt(sfd, IPPROTO_TCP, TCP_KEEPCNT, 127);
	op = (struct sock_op){ .s = &f.rec, .owner = &hint, .set = &own, .restore = true };
	is_u64((unsigned long long)-run(ops, b, &op), EAGAIN,
	       "%s: and over a user timeout it set: EAGAIN", ops->name);
	setopt(sfd, IPPROTO_TCP, TCP_USER_TIMEOUT, 0);

	/* restore: armed, every probe answered */
	op = (struct sock_op){ .s = &f.rec, .owner = &hint, .set = &own, .restore = true };
	ok(run(ops, b, &op) == 0 && !op.held && op.probes == 0,
	   "%s: handed back: no probe unanswered, not held (%d, %d, %d)", ops->name, op.result,
	   op.held, op.probes);
	{
		struct ka_opts now = opts_of(sfd);

		ok(!memcmp(&now, &own, sizeof(now)), "%s: exactly the owner's options", ops->name);
	}

	/* quiet: something came in since the record */
	if (write(cfd, "x", 1) == 1) {
		char c;

		while (read(sfd, &c, 1) != 1)
			;
	}
	op = (struct sock_op){ .s = &f.rec, .owner = &hint, .set = &armed, .quiet = true };
	is_u64((unsigned long long)-run(ops, b, &op), EALREADY,
	       "%s: armed only if nothing came in since the record: EALREADY", ops->name);
	op = (struct sock_op){ .s = &f.rec, .quiet = true };
	is_u64((unsigned long long)-run(ops, b, &op), EALREADY,
	       "%s: destroyed only if nothing came in: EALREADY", ops->name);
	ok(getsockopt(sfd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0,
	   "%s: and the connection lives", ops->name);
	f.found = false;
	ops->enumerate(b, &all, find_cb, &f);
	op = (struct sock_op){ .s = &f.rec, .quiet = true };
	ok(f.found && run(ops, b, &op) == 0, "%s: with a fresh record, destroyed", ops->name);
	ok(getsockopt(sfd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == ECONNABORTED,
	   "%s: the connection was aborted", ops->name);
	close(sfd);
	op = (struct sock_op){ .s = &f.rec, .owner = &hint, .set = &own, .restore = true };
	run(ops, b, &op);
	if (ops == &backend_netlink)
		ok(op.result == -ESTALE || op.result == -ESRCH, "%s: closed, its owner cannot "
		   "reach it: not reached, which is not gone (%d)", ops->name, op.result);
	else
		is_u64((unsigned long long)-op.result, ENOENT,
		       "%s: closed, a whole walk does not find it: gone", ops->name);
	ops->close(b);
	close(cfd);
	close(lfd);
}

int main(void)
{
	checks(&backend_netlink);
#ifdef HAVE_BPF
	if (backend_bpf_unavailable())
		printf("# the bpf backend cannot run here: %s\n", backend_bpf_unavailable());
	ok(!backend_bpf_unavailable(), "the bpf backend can run here");
	if (!backend_bpf_unavailable())
		checks(&backend_bpf);
#endif
	return done_testing();
}
