/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reaching sockets: ops carried out through a backend in each socket's network
 * namespace (one watched, or one opened there for the moment), and the rule of
 * what proves a socket gone: an exact query by id and cookie that finds none,
 * or a namespace that exists nowhere. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "engine-int.h"

/* Only "gone" (backend.h's sock_op) means a socket no longer needs kareaper. */
bool socket_gone(int r)
{
	return r == -ENOENT;
}

/* What the netlink backend answers when no process it can reach holds the socket:
 * nothing was done, and the socket may still be there. */
bool not_reached(int r)
{
	return r == -ESRCH || r == -ESTALE || r == -EBADF || r == -EPERM || r == -ENXIO;
}

/* Fresh facts about t's socket by an exact query in its namespace (watched, or
 * entered for the moment): 0, -ENOENT when it is proven gone (with its
 * namespace), or another -errno when that cannot be told now. */
int query_tracked(struct engine *e, const struct tracked *t, struct sock_rec *fresh)
{
	struct backend *be = backend_of(e, t), *tmp = NULL;
	int r;

	if (!be) {
		r = netns_reach(&e->netns, t->rec.netns, &tmp);
		if (r < 0)
			return r == -ENOENT ? -ENOENT : -ENXIO;
		be = tmp;
	}
	r = e->ops->query(be, &t->rec, fresh);
	fresh->netns = t->rec.netns;
	if (tmp)
		e->ops->close(tmp);
	return r;
}

/* Carry out the ops of the n in ops whose result is still KR_OP_NOT_DONE and whose
 * socket is in the namespace ino, through be: in one pass where the backend can
 * (apply), else one call per socket. Those it could not reach are proven gone,
 * or not, by an exact query by id and cookie (-ENOENT: gone); absence from a
 * walk, or an owner not found, proves nothing. */
static void ops_in(struct engine *e, struct backend *be, uint64_t ino, struct sock_op *ops,
		   size_t n, bool search, struct sock_op *sub, size_t *at)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		if (ops[i].result != KR_OP_NOT_DONE || ops[i].s->netns != ino)
			continue;
		if (!sub) {
			e->ops->op(be, &ops[i], search);
			continue;
		}
		sub[m] = ops[i];
		at[m++] = i;
	}
	if (m) {
		e->ops->apply(be, sub, m);
		for (size_t j = 0; j < m; j++)
			ops[at[j]] = sub[j];
	}
	for (size_t i = 0; i < n; i++) {
		struct sock_rec fresh;

		if (ops[i].s->netns == ino && not_reached(ops[i].result) &&
		    ops[i].result != -ENXIO && e->ops->query(be, ops[i].s, &fresh) == -ENOENT)
			ops[i].result = -ENOENT;
	}
}

/* Carry out ops, each through a backend in its socket's namespace: one watched,
 * or, for a namespace not watched now (deleted from /run/netns while a socket in
 * it was armed, or left by a reload), one opened in it for the moment. search:
 * as set_opts's (the netlink backend may walk /proc for an owner that moved).
 * Those the backend could not reach are confirmed gone, or not, by a query. */
void run_ops(struct engine *e, struct sock_op *ops, size_t n, bool search)
{
	struct sock_op *sub = NULL;
	size_t *at = NULL;

	if (e->ops->apply && n > 1) {
		sub = calloc(n, sizeof(*sub));
		at = calloc(n, sizeof(*at));
		if (!sub || !at) {
			free(sub);
			sub = NULL;
		}
	}
	for (size_t i = 0; i < n; i++)
		ops[i].result = KR_OP_NOT_DONE;
	for (size_t k = 0; k < e->netns.n; k++)
		ops_in(e, e->netns.ns[k]->be, e->netns.ns[k]->ino, ops, n, search, sub, at);
	for (size_t i = 0; i < n; i++) {
		struct backend *be = NULL;
		uint64_t ino = ops[i].s->netns;
		int r;

		if (ops[i].result != KR_OP_NOT_DONE)
			continue;
		r = netns_reach(&e->netns, ino, &be);
		if (r == 0) {
			ops_in(e, be, ino, ops, n, search, sub, at);
			e->ops->close(be);
			continue;
		}
		/* gone with its namespace; else not attempted (-ENXIO), or through
		 * the owner where the backend can */
		for (size_t j = i; j < n; j++)
			if (ops[j].result == KR_OP_NOT_DONE && ops[j].s->netns == ino) {
				if (r == -ENOENT)
					ops[j].result = -ENOENT;
				else
					e->ops->op(NULL, &ops[j], search);
			}
	}
	free(sub);
	free(at);
}
