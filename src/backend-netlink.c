/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The portable backend: sock_diag dumps and SOCK_DESTROY over netlink; the owner
 * found through /proc/PID/fd, a duplicate of its descriptor taken with pidfd_getfd,
 * and the keepalive options read and set on that duplicate. */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "cleanup.h"
#include "conf.h"
#include "policy.h"
#include "procfs.h"
#include "sockdiag.h"

#define PROC "/proc"

/* The witness's wrap check (sent_record): a look records, a listing compares;
 * a listing with no record, or one older than 20 days, takes one first. */
#define SENT_RECORD_MAX_AGE_MS (20ULL * 86400 * 1000)

struct backend {
	struct sockdiag diag;     /* dumps and queries */
	struct sockdiag destroy;  /* destroys, so a dump in progress is never disturbed */
	struct sent_record sent;
	uint64_t sent_at;         /* CLOCK_MONOTONIC ms of its record */
};

static void nl_close(struct backend *b)
{
	if (!b)
		return;
	sockdiag_close(&b->diag);
	sockdiag_close(&b->destroy);
	sent_record_free(&b->sent);
	free(b);
}

static int nl_open(struct backend **ret)
{
	struct backend *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return -ENOMEM;
	r = sockdiag_open(&b->diag);
	if (r == 0)
		r = sockdiag_open(&b->destroy);
	if (r < 0) {
		nl_close(b);
		return r;
	}
	*ret = b;
	return 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct counted {
	struct backend *b;
	sock_cb cb;
	void *data;
	int n;
	uint32_t heard;
	bool record;
};

static int count_cb(const struct sock_rec *s, void *data)
{
	struct counted *c = data;
	uint32_t heard = sent_record_heard(&c->b->sent, s, c->record);

	if (heard < c->heard)
		c->heard = heard;
	c->n++;
	return c->cb ? c->cb(s, c->data) : 0;
}

static int walk(struct backend *b, const struct scan_filter *f, bool every_port,
		struct counted *c)
{
	static const uint8_t families[] = { AF_INET, AF_INET6 };
	int r = 0;

	sent_record_begin(&b->sent);
	for (size_t i = 0; i < sizeof(families) && r == 0; i++)
		/* a record covers every state a witness may come from: a socket
		 * that enters one after the record is no newcomer */
		r = sockdiag_dump(&b->diag, families[i],
				  every_port ? f->states | KR_HEARD_STATES : f->states,
				  !every_port && f->bclen ? f->bc : NULL,
				  every_port ? 0 : f->bclen, count_cb, c);
	if (c->record) {
		sent_record_end(&b->sent, r == 0);
		if (r == 0 && !b->sent.oom)
			b->sent_at = mono_ms();
	}
	return r;
}

/* A look (f->look: every port, for the witness) records what it saw; a listing
 * only compares, after a walk of its own when there is no record to compare
 * with. */
static int nl_enumerate(struct backend *b, const struct scan_filter *f, sock_cb cb, void *data)
{
	struct counted c = { b, cb, data, 0, UINT32_MAX, f->look };
	int r;

	if (!b->sent.have || mono_ms() - b->sent_at > SENT_RECORD_MAX_AGE_MS) {
		struct counted first = { b, NULL, NULL, 0, UINT32_MAX, true };

		if (walk(b, f, true, &first) < 0)
			b->sent.have = false; /* none to trust: no witness from walks */
	}
	r = walk(b, f, f->look, &c);
	if (f->heard_ms)
		*f->heard_ms = c.heard;
	return r < 0 ? r : c.n;
}

static int nl_query(struct backend *b, const struct sock_rec *s, struct sock_rec *out)
{
	return sockdiag_query(&b->diag, s, out);
}

static int nl_find_owners(struct owner_map *m)
{
	return proc_find_owners(m, PROC);
}

/* A duplicate of the owner's descriptor, checked to be the very socket. */
static int dup_socket(const struct owner *o, uint64_t cookie, int *ret)
{
	_cleanup_close_ int pidfd = -1, sfd = -1;
	socklen_t l = sizeof(uint64_t);
	uint64_t c = 0;

	pidfd = pidfd_open(o->pid, 0);
	if (pidfd < 0)
		return -errno;
	sfd = pidfd_getfd(pidfd, o->fd, 0);
	if (sfd < 0)
		return -errno;
	/* The descriptor number may have been reused for another socket since /proc
	 * was read: only the cookie proves it is the one we mean. */
	if (getsockopt(sfd, SOL_SOCKET, SO_COOKIE, &c, &l) < 0 || c != cookie)
		return -ESTALE;
	*ret = TAKE_FD(sfd);
	return 0;
}

/* The socket through its owner: the known descriptor first, then (with search) one
 * walk of /proc when it has moved (fd reused, process exited, socket passed on). */
static int reach(const struct sock_rec *s, struct owner *o, bool search, int *sfd)
{
	struct owner_map m = { 0 };
	int r;

	if (o->pid <= 0 && !search)
		return -ESRCH; /* the caller's lookup found no process holding it */
	r = o->pid > 0 ? dup_socket(o, s->cookie, sfd) : -ESRCH;
	if (r == 0 || r == -EPERM || !search)
		return r == -ESRCH || r == -EBADF ? -ESTALE : r;
	if (owner_map_want(&m, s->inode, s->cgroup) == 0 && proc_find_owners(&m, PROC) == 0 &&
	    owner_map_get(&m, s->inode, o)) {
		r = dup_socket(o, s->cookie, sfd);
	}
	owner_map_free(&m);
	return r;
}

static int getint(int sfd, int level, int opt, int *v)
{
	socklen_t l = sizeof(*v);

	return getsockopt(sfd, level, opt, v, &l) < 0 ? -errno : 0;
}

static int setint(int sfd, int level, int opt, int v)
{
	return setsockopt(sfd, level, opt, &v, sizeof(v)) < 0 ? -errno : 0;
}

static int get_all(int sfd, struct ka_opts *cur)
{
	int r, ut;

	if ((r = getint(sfd, SOL_SOCKET, SO_KEEPALIVE, &cur->keepalive)) < 0 ||
	    (r = getint(sfd, IPPROTO_TCP, TCP_KEEPIDLE, &cur->idle_s)) < 0 ||
	    (r = getint(sfd, IPPROTO_TCP, TCP_KEEPINTVL, &cur->intvl_s)) < 0 ||
	    (r = getint(sfd, IPPROTO_TCP, TCP_KEEPCNT, &cur->cnt)) < 0 ||
	    (r = getint(sfd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut)) < 0)
		return r;
	cur->user_timeout_ms = (unsigned)ut;
	return 0;
}

static int nl_get_opts(struct backend *b, const struct sock_rec *s, struct owner *o,
		       struct ka_opts *cur)
{
	_cleanup_close_ int sfd = -1;
	int r;

	r = reach(s, o, true, &sfd);
	return r < 0 ? r : get_all(sfd, cur);
}

/* Write the options of ka that differ from cur. Probes off (a hand-back to an
 * owner without keepalive): the switch first, which stops the timer, so that no
 * value set after it can fire it (a TCP_KEEPIDLE shorter than the socket's idle
 * time fires it at once, and the owner's TCP_KEEPCNT may already be below the
 * kernel's count of unanswered probes); the owner's user timeout last. Probes on
 * (arming): no user timeout before probes can go out; timing, then the switch,
 * then TCP_KEEPIDLE, from which the kernel re-arms the running timer. */
static int set_changed(int sfd, const struct ka_opts *cur, const struct ka_opts *ka)
{
	int r = 0, q;

	if (!ka->keepalive && cur->keepalive && (q = setint(sfd, SOL_SOCKET, SO_KEEPALIVE, 0)) < 0)
		r = q;
	if (ka->keepalive && ka->user_timeout_ms != cur->user_timeout_ms &&
	    (q = setint(sfd, IPPROTO_TCP, TCP_USER_TIMEOUT, (int)ka->user_timeout_ms)) < 0)
		r = q;
	if (ka->intvl_s != cur->intvl_s &&
	    (q = setint(sfd, IPPROTO_TCP, TCP_KEEPINTVL, ka->intvl_s)) < 0)
		r = q;
	if (ka->cnt != cur->cnt && (q = setint(sfd, IPPROTO_TCP, TCP_KEEPCNT, ka->cnt)) < 0)
		r = q;
	if (!ka->keepalive && ka->idle_s != cur->idle_s &&
	    (q = setint(sfd, IPPROTO_TCP, TCP_KEEPIDLE, ka->idle_s)) < 0)
		r = q;
	if (ka->keepalive && !cur->keepalive && r < 0)
		return r; /* probes on only with all that makes them kareaper's */
	if (ka->keepalive && !cur->keepalive && (q = setint(sfd, SOL_SOCKET, SO_KEEPALIVE, 1)) < 0)
		r = q;
	if (ka->keepalive && ka->idle_s != cur->idle_s &&
	    (q = setint(sfd, IPPROTO_TCP, TCP_KEEPIDLE, ka->idle_s)) < 0)
		r = q;
	if (!ka->keepalive && ka->user_timeout_ms != cur->user_timeout_ms &&
	    (q = setint(sfd, IPPROTO_TCP, TCP_USER_TIMEOUT, (int)ka->user_timeout_ms)) < 0)
		r = q;
	return r;
}

/* The op's checks, then its options or the destroy, through the owner's
 * descriptor: read, compare, then act (not atomic: see sock_op). */
static int run_op(struct backend *b, struct sock_op *op, bool search)
{
	_cleanup_close_ int sfd = -1;
	struct ka_opts cur, back;
	struct tcp_info ti = { 0 };
	socklen_t l = sizeof(ti);
	struct sock_rec fresh;
	int r;

	if (!op->set && !op->expect) /* a destroy that needs no owner */
		goto destroy;
	r = reach(op->s, op->owner, search, &sfd);
	if (r < 0)
		return r;
	if ((r = get_all(sfd, &cur)) < 0)
		return r;
	if (getsockopt(sfd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
		return -errno;
	if (op->quiet && ti.tcpi_segs_in != op->s->segs_in)
		return -EALREADY;
	if (op->handback) {
		op->owners = policy_handback(&cur, op->expect, op->set, &back);
		return set_changed(sfd, &cur, &back);
	}
	if (op->expect && ka_opts_diff(&cur, op->expect))
		return -EAGAIN;
	if (op->set)
		return set_changed(sfd, &cur, op->set);
destroy:
	if (!b)
		return -ENXIO;
	/* sock_diag has no way to compare and destroy at once: a segment arriving
	 * between the query and the destroy is missed (kareaper(8)) */
	if (op->quiet) {
		r = sockdiag_query(&b->destroy, op->s, &fresh);
		if (r < 0)
			return r;
		if (fresh.segs_in != op->s->segs_in)
			return -EALREADY;
	}
	return sockdiag_destroy(&b->destroy, op->s);
}

static void nl_op(struct backend *b, struct sock_op *op, bool search)
{
	op->owners = 0;
	op->result = run_op(b, op, search);
}

const struct backend_ops backend_netlink = {
	.name = "netlink",
	.open = nl_open,
	.close = nl_close,
	.enumerate = nl_enumerate,
	.query = nl_query,
	.get_opts = nl_get_opts,
	.op = nl_op,
	.find_owners = nl_find_owners,
};
