/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The checks of one op (backend.h's sock_op) on a real socket, through each
 * backend: expect (arm only over the options read; destroy only over the options
 * written), handback (what still is kareaper's goes back, what the owner set
 * while armed stays: each option in turn), quiet (act only if nothing came in
 * since the record), and "gone" only when an exact query says so. The BPF
 * backend makes them in its act walk, under the socket's lock; the netlink one
 * through the owner's descriptor. Root. */
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

/* Arm sfd, let its owner set one option (each in turn), hand it back: that one
 * stays as the owner set it, every other is the owner's first value again. */
static void handbacks(const struct backend_ops *ops, struct backend *b, const struct sock_rec *rec,
		      struct owner *hint, int sfd, const struct ka_opts *own,
		      const struct ka_opts *armed)
{
	static const struct {
		int level, name, value;
		unsigned bit;
		const char *what;
	} sets[] = {
		{ SOL_SOCKET, SO_KEEPALIVE, 0, 0, "SO_KEEPALIVE off" },
		{ IPPROTO_TCP, TCP_KEEPIDLE, 30, KA_IDLE, "TCP_KEEPIDLE" },
		{ IPPROTO_TCP, TCP_KEEPINTVL, 11, KA_INTVL, "TCP_KEEPINTVL" },
		{ IPPROTO_TCP, TCP_KEEPCNT, 42, KA_CNT, "TCP_KEEPCNT" },
		{ IPPROTO_TCP, TCP_USER_TIMEOUT, 5000, KA_USER_TIMEOUT, "TCP_USER_TIMEOUT" },
	};

	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		struct sock_op op = { .s = rec, .owner = hint, .set = armed, .expect = own };
		struct ka_opts want = *own, now;

		if (run(ops, b, &op) != 0) {
			ok(0, "%s: armed before the owner sets %s (%d)", ops->name, sets[i].what,
			   op.result);
			continue;
		}
		setopt(sfd, sets[i].level, sets[i].name, sets[i].value);
		op = (struct sock_op){ .s = rec, .owner = hint, .set = own, .expect = armed,
				       .handback = true };
		run(ops, b, &op);
		now = opts_of(sfd);
		switch (sets[i].name) {
		case TCP_KEEPIDLE: want.idle_s = sets[i].value; break;
		case TCP_KEEPINTVL: want.intvl_s = sets[i].value; break;
		case TCP_KEEPCNT: want.cnt = sets[i].value; break;
		case TCP_USER_TIMEOUT: want.user_timeout_ms = (unsigned)sets[i].value; break;
		default: break; /* keepalive off: the owner's first value anyway */
		}
		ok(op.result == 0 && op.owners == sets[i].bit && !memcmp(&now, &want, sizeof(now)),
		   "%s: the owner set %s while armed: kept, kareaper's others put back "
		   "(%d, owners %u; now %d %d %d %d %u)", ops->name, sets[i].what, op.result,
		   op.owners, now.keepalive, now.idle_s, now.intvl_s, now.cnt, now.user_timeout_ms);
		/* the owner's first options again, for the next */
		setopt(sfd, sets[i].level, sets[i].name,
		       sets[i].name == SO_KEEPALIVE ? own->keepalive :
		       sets[i].name == TCP_KEEPIDLE ? own->idle_s :
		       sets[i].name == TCP_KEEPINTVL ? own->intvl_s :
		       sets[i].name == TCP_KEEPCNT ? own->cnt : (int)own->user_timeout_ms);
	}
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

	/* destroy: only while the socket carries exactly what kareaper wrote */
	setopt(sfd, IPPROTO_TCP, TCP_KEEPINTVL, 7);
	op = (struct sock_op){ .s = &f.rec, .owner = &hint, .expect = &armed };
	is_u64((unsigned long long)-run(ops, b, &op), EAGAIN,
	       "%s: not destroyed once its owner changed an option: EAGAIN", ops->name);
	ok(getsockopt(sfd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0,
	   "%s: and the connection lives", ops->name);
	setopt(sfd, IPPROTO_TCP, TCP_KEEPINTVL, armed.intvl_s);

	/* handback: armed, untouched: exactly the owner's */
	op = (struct sock_op){ .s = &f.rec, .owner = &hint, .set = &own, .expect = &armed,
			       .handback = true };
	ok(run(ops, b, &op) == 0 && op.owners == 0, "%s: handed back, nothing of the owner's in "
	   "the way (%d, %u)", ops->name, op.result, op.owners);
	{
		struct ka_opts now = opts_of(sfd);

		ok(!memcmp(&now, &own, sizeof(now)), "%s: exactly the owner's options", ops->name);
	}

	/* handback: each option the owner sets while armed stays, the rest goes back */
	handbacks(ops, b, &f.rec, &hint, sfd, &own, &armed);

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
	op = (struct sock_op){ .s = &f.rec, .owner = &hint, .set = &own, .expect = &armed,
			       .handback = true };
	run(ops, b, &op);
	ok(op.result == -ESTALE || op.result == -ESRCH, "%s: closed: not reached (no owner "
	   "holds it, or a walk did not meet it), which is not gone (%d)", ops->name, op.result);
	{
		struct sock_rec fresh;
		int q = ops->query(b, &f.rec, &fresh);

		ok(q == -ENOENT || (q == 0 && (fresh.inode == 0 || fresh.state == 6)),
		   "%s: an exact query finds none, or an orphan: what the engine calls gone "
		   "(%d)", ops->name, q);
	}
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
