/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reaching sockets: ops carried out through a backend in each socket's network
 * namespace (one watched, or one opened there for the moment), and the rule of
 * what proves a socket gone: an exact query by id and cookie that finds none,
 * or a namespace that exists nowhere. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* Whether op's socket was not reached where it was looked for, so that whether it
 * is gone is a query's (or an owner lookup's) to tell; not one whose namespace
 * was not open (-ENXIO), which was not looked for. */
static bool to_confirm(const struct sock_op *op, uint64_t ino)
{
	return op->s->netns == ino && not_reached(op->result) && op->result != -ENXIO;
}

/* What an exact query by id and cookie answered (r, and the socket found) says
 * of a socket kareaper acted on: gone when there is no such socket, and when
 * what is left of it is a time-wait socket or an orphan (no process holds it),
 * which carries no options of anyone's and never again becomes a full socket
 * a process holds. */
static bool query_gone(int r, const struct sock_rec *fresh)
{
	return r == -ENOENT || (r == 0 && (fresh->state == 6 /* TCP_TIME_WAIT */ ||
					   fresh->inode == 0));
}

/* Whether op is one unheld() looks at: in namespace ino, and not attempted
 * (outside: kareaper cannot enter the namespace), or not reached and with no id
 * to query (an older journal's entry). */
static bool unheld_pick(const struct sock_op *op, uint64_t ino, bool outside)
{
	if (outside)
		return op->s->netns == ino && op->result == KR_OP_NOT_DONE;
	return to_confirm(op, ino) && op->s->family == 0;
}

/* Of the ops unheld_pick() takes, those whose socket no process holds, as a
 * complete look at every process's descriptors finds, end as gone: what is left
 * of such a socket is an orphan at most, whose options no one reads. Not when
 * the look was incomplete, nor in a namespace another kareaper watches. */
static void unheld(struct engine *e, struct sock_op *ops, size_t n, uint64_t ino, bool outside,
		   int why)
{
	struct owner_map m = { 0 };
	struct owner o;
	bool complete;

	for (size_t i = 0; i < n; i++)
		if (unheld_pick(&ops[i], ino, outside))
			owner_map_want(&m, ops[i].s->inode, 0);
	if (!m.n)
		return;
	complete = why != -EBUSY && e->ops->find_owners(&m) == 0 && !m.unreadable;
	log_msg(LOG_DEBUG, NULL, "%zu sockets of network namespace %llu%s looked for among "
		"every process's descriptors: %s (%zu processes unreadable)", m.n,
		(unsigned long long)ino, outside ? ", which cannot be entered," : "",
		complete ? "complete" : "incomplete", m.unreadable);
	for (size_t i = 0; i < n; i++)
		if (complete && unheld_pick(&ops[i], ino, outside) &&
		    !owner_map_get(&m, ops[i].s->inode, &o))
			ops[i].result = -ENOENT;
	owner_map_free(&m);
}

/* Fresh facts about t's socket by an exact query in its namespace (watched, or
 * entered for the moment): 0, -ENOENT when it is proven gone (query_gone), or
 * another -errno when that cannot be told now (-ENXIO: its namespace cannot be
 * entered). */
int query_tracked(struct engine *e, const struct tracked *t, struct sock_rec *fresh)
{
	struct backend *be = backend_of(e, t);
	struct netns_visit v = { .lock_fd = -1 };
	int r;

	if (!be) {
		if (netns_reach(&e->netns, t->rec.netns, &v) < 0)
			return -ENXIO;
		be = v.be;
	}
	r = e->ops->query(be, &t->rec, fresh);
	fresh->netns = t->rec.netns;
	netns_leave(&e->netns, &v);
	return query_gone(r, fresh) ? -ENOENT : r;
}

/* Carry out the ops of the n in ops whose result is still KR_OP_NOT_DONE and whose
 * socket is in the namespace ino, through be: in one pass where the backend can
 * (apply), else one call per socket. Those it could not reach are proven gone,
 * or not, by an exact query by id and cookie (query_gone); absence from a walk,
 * or an owner not found, proves nothing. */
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
	ops_confirm(e, be, ino, ops, n);
}

void ops_confirm(struct engine *e, struct backend *be, uint64_t ino, struct sock_op *ops,
		 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct sock_rec fresh;
		int r;

		if (!to_confirm(&ops[i], ino) || !ops[i].s->family)
			continue;
		r = e->ops->query(be, ops[i].s, &fresh);
		if (query_gone(r, &fresh))
			ops[i].result = -ENOENT;
	}
	unheld(e, ops, n, ino, false, 0); /* no id to query by */
}

/* The ops of a namespace kareaper cannot enter (why: no file of it left to it, as
 * after a restart, or none it may open): gone if no process holds their socket
 * (unheld), else through an owner where the backend can (netlink), else -ENXIO,
 * tried again. */
static void ops_outside(struct engine *e, uint64_t ino, struct sock_op *ops, size_t n,
			bool search, int why)
{
	unheld(e, ops, n, ino, true, why);
	for (size_t i = 0; i < n; i++)
		if (ops[i].result == KR_OP_NOT_DONE && ops[i].s->netns == ino)
			e->ops->op(NULL, &ops[i], search);
}

/* Carry out ops, each through a backend in its socket's namespace: one watched,
 * or, for a namespace not watched now (deleted from /run/netns while a socket in
 * it was armed, or left by a reload), one opened in it for the moment. search:
 * as set_opts's (the netlink backend may walk /proc for an owner that moved).
 * Those the backend could not reach are confirmed gone, or not, by a query. An
 * op that could not be carried out this time (a walk that did not get to it)
 * ends as -EINPROGRESS. */
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
		struct netns_visit v;
		uint64_t ino = ops[i].s->netns;
		int r;

		if (ops[i].result != KR_OP_NOT_DONE || backend_in(e, ino))
			continue;
		r = netns_reach(&e->netns, ino, &v);
		if (r == 0)
			ops_in(e, v.be, ino, ops, n, search, sub, at);
		else
			ops_outside(e, ino, ops, n, search, r);
		netns_leave(&e->netns, &v);
	}
	for (size_t i = 0; i < n; i++)
		if (ops[i].result == KR_OP_NOT_DONE)
			ops[i].result = -EINPROGRESS;
	free(sub);
	free(at);
}
