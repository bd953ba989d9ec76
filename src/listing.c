/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Stage 1, listing: each watched namespace's sockets through the backend,
 * matched against the policies (those whose policy names a process once their
 * owner is known), fed to the verdict table; the owners this round needs found
 * in one lookup; entries whose socket a complete listing did not show looked
 * after (sweep). A listing also carries the arming the previous round
 * journaled, where the backend acts on its walk (carries_ops). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine-int.h"

/* owner NULL: not looked up (yet) */
static void handle_matched(struct engine *e, int idx, const struct sock_rec *s,
			   const struct owner *owner)
{
	const struct policy *p = pol(e, idx);
	uint32_t row = 0;
	struct tracked *t;
	enum step step;
	enum row_verdict v = V_ACTIVE;

	e->stats.matched++;
	if (e->keep_rows) {
		row = report_add(&e->report, idx, s, e->cur->name, sock_idle_ms(s));
		if (owner)
			report_set_owner(&e->report, row, owner->pid, owner->comm);
	}
	if (p->action == ACTION_IGNORE) {
		report_set(&e->report, row, V_IGNORED, REASON_NONE, sock_idle_ms(s));
		return;
	}
	t = verdict_find(&e->verdicts, s->cookie);
	if (journal_find(&e->journal, s->cookie) &&
	    !(t && (t->state == TS_PROBING || t->state == TS_ARMING))) {
		/* its hand-back is pending (restore_journaled(), at the round's
		 * end): kareaper's options may be on it, and its count is kareaper's,
		 * no evidence of anything */
		report_set(&e->report, row, V_SUSPECT, REASON_NONE, sock_idle_ms(s));
		return;
	}
	/* A round of kareaper's probes is judged under the policy it was armed
	 * under: the kernel probes at that one's interval, whichever policy the
	 * socket matches now (a process= policy whose owner lookup missed, an
	 * owner that exec'd), and the budget counts on it. */
	if (t && (t->state == TS_ARMING || (t->state == TS_PROBING && !t->owners_probes)) &&
	    t->policy != idx) {
		idx = t->policy;
		p = pol(e, idx);
	}
	step = verdict_observe(&e->verdicts, idx, p, s, e->now, &t);
	if (t && !t->owner.pid && owner && owner->pid > 0)
		t->owner = *owner;
	if (t)
		t->row = row;
	switch (step) {
	case STEP_ACTIVE:
		return; /* as added: active, untracked */
	case STEP_WAIT:
		v = V_PROBING;
		break;
	case STEP_LEFT_ALONE:
		if (t->reason == REASON_BUDGET_SPENT)
			budget_spent(e, t);
		else if (t->reason == REASON_OWNER_KEEPALIVE)
			owner_keepalive(e, t);
		else
			report_set(&e->report, row, V_LEFT_ALONE, t->reason,
				   tracked_idle_ms(t, e->now));
		return;
	case STEP_ARM:
	case STEP_ALIVE:
	case STEP_INCONCLUSIVE:
	case STEP_DEAD:
		v = V_SUSPECT;
		work_add(e, t, step);
		break;
	}
	report_set(&e->report, row, v, REASON_NONE, tracked_idle_ms(t, e->now));
}

static int defer(struct engine *e, const struct sock_rec *s)
{
	if (array_grow(&e->deferred, &e->capdeferred, e->ndeferred, sizeof(*e->deferred)) < 0)
		return -ENOMEM;
	e->deferred[e->ndeferred++] = *s;
	return 0;
}

static int scan_cb(const struct sock_rec *s, void *data)
{
	struct engine *e = data;
	struct sock_rec rec = *s;
	int idx;

	rec.netns = e->cur->ino;
	idx = policy_match(e->cfg, &rec, e->cur->name, NULL);
	if (idx == MATCH_NONE)
		return 0;
	if (idx == MATCH_NEED_OWNER) {
		/* Only worth an owner lookup if some policy could call it idle. */
		if (!e->keep_rows && sock_idle_ms(&rec) < e->min_idle_ms &&
		    !verdict_find(&e->verdicts, rec.cookie))
			return 0;
		defer(e, &rec);
		return 0;
	}
	handle_matched(e, idx, &rec, NULL);
	return 0;
}

/* One lookup for every owner this round needs: the rows of the table, the sockets
 * to arm, and those whose policy depends on their process. */
void fill_owners(struct engine *e)
{
	struct owner_map m = { 0 };
	struct owner o;
	size_t i;
	int r;

	for (i = 0; i < e->ndeferred; i++)
		owner_map_want(&m, e->deferred[i].inode, e->deferred[i].cgroup);
	/* the netlink backend arms through the owner; every log line names it */
	for (i = 0; i < e->nwork; i++)
		if (!e->work[i].t->owner.pid)
			owner_map_want(&m, e->work[i].t->rec.inode, e->work[i].t->rec.cgroup);
	for (i = 0; i < e->report.n; i++)
		owner_map_want(&m, report_at(&e->report, i)->inode, 0); /* rows: any process */
	if (m.n == 0)
		return;
	r = e->ops->find_owners(&m);
	if (r < 0)
		log_msg(LOG_WARNING, NULL, "cannot look up the owners of sockets: %s", strerror(-r));
	e->owners_unreadable = m.unreadable;

	for (i = 0; i < e->report.n; i++)
		if (owner_map_get(&m, report_at(&e->report, i)->inode, &o))
			report_set_owner(&e->report, (uint32_t)i + 1, o.pid, o.comm);
	for (i = 0; i < e->nwork; i++) {
		struct tracked *t = e->work[i].t;

		if (!t->owner.pid)
			owner_map_get(&m, t->rec.inode, &t->owner);
	}
	/* Sockets whose policy depends on the owning process: decide now. */
	for (i = 0; i < e->ndeferred; i++) {
		const struct sock_rec *s = &e->deferred[i];
		bool found = owner_map_get(&m, s->inode, &o);
		int idx;

		e->cur = netns_find(&e->netns, s->netns);
		if (!e->cur)
			continue;
		idx = policy_match(e->cfg, s, e->cur->name, found ? o.comm : "");
		if (idx >= 0)
			handle_matched(e, idx, s, found ? &o : NULL);
	}
	e->ndeferred = 0;
	owner_map_free(&m);
}

/* Entries whose socket was not in this complete scan are gone. */
void sweep(struct engine *e)
{
	struct verdict_table *vt = &e->verdicts;

	for (size_t b = 0; b < vt->nbuckets; b++) {
		struct tracked *t = vt->buckets[b], *next;

		for (; t; t = next) {
			struct netns *n = netns_find(&e->netns, t->rec.netns);

			next = t->next;
			if (t->seen_scan == vt->scan_gen)
				continue;
			if (n && !n->dumped)
				continue; /* its namespace could not be listed this time */
			if (t->state == TS_PROBING)
				gone_while_probing(e, t, 1);
			verdict_forget(vt, t);
		}
	}
}

/* The sockets tracked in n, which its listing must include whatever their idle,
 * and the arming it carries: set only if the options still are the journaled ones
 * and nothing came in since they were. */
static int keep_list(struct engine *e, const struct netns *n)
{
	const struct verdict_table *vt = &e->verdicts;

	e->nkeep = e->ncarry = 0;
	for (size_t b = 0; b < vt->nbuckets; b++)
		for (struct tracked *t = vt->buckets[b]; t; t = t->next) {
			if (t->rec.netns != n->ino)
				continue;
			if (array_grow(&e->keep, &e->capkeep, e->nkeep, sizeof(*e->keep)) < 0)
				return -ENOMEM;
			e->keep[e->nkeep++] = t->cookie;
			if (t->state != TS_ARMING)
				continue;
			if (array_grow(&e->carry, &e->capcarry, e->ncarry, sizeof(*e->carry)) < 0 ||
			    array_grow(&e->carry_t, &e->capcarry_t, e->ncarry, sizeof(*e->carry_t)) < 0)
				return -ENOMEM;
			e->carry_t[e->ncarry] = t;
			e->carry[e->ncarry++] = (struct sock_op){
				.s = &t->rec, .owner = &t->owner, .set = &t->arm,
				.expect = &t->saved, .quiet = true, .result = 1 };
		}
	e->filter.keep = e->keep;
	e->filter.nkeep = e->nkeep;
	e->filter.ops = e->carry;
	e->filter.nops = e->ncarry;
	return 0;
}

/* What the listing's arming answered; those it did not get to wait for the next. */
void listing_carried(struct engine *e)
{
	ops_confirm(e, e->cur->be, e->cur->ino, e->carry, e->ncarry);
	for (size_t i = 0; i < e->ncarry; i++)
		if (e->carry[i].result != 1) {
			arm_result(e, e->carry_t[i], e->carry[i].result);
			e->carried_round++;
		}
	e->ncarry = 0;
	e->filter.nops = 0;
}

void list_namespace(struct engine *e, struct netns *n)
{
	uint64_t matched = e->stats.matched;
	uint32_t heard = UINT32_MAX;
	int r;

	e->cur = n;
	e->filter.heard_ms = &heard;
	r = keep_list(e, n);
	for (int attempt = 0; r == 0; attempt++) {
		size_t rows_mark = e->report.n, deferred_mark = e->ndeferred;

		r = e->ops->enumerate(n->be, &e->filter, scan_cb, e);
		if (r == -EINTR && attempt < 3) {
			report_truncate(&e->report, rows_mark);
			e->ndeferred = deferred_mark;
			e->stats.matched = matched; /* counted again by the next attempt */
			log_msg(LOG_DEBUG, NULL, "socket dump interrupted, starting over");
			r = 0;
			continue;
		}
		if (r >= 0) {
			e->stats.scanned += (uint64_t)r;
			r = 0;
		}
		break;
	}
	listing_carried(e);
	e->filter.heard_ms = NULL;
	n->dumped = r == 0;
	if (r == 0)
		witness_listed(e, n, heard);
	if (r < 0) {
		count_error(e, ERR_DUMP, "dump of %s: %s", n->name, strerror(-r));
		log_msg(LOG_ERR, NULL, "socket dump of network namespace %s failed: %s", n->name,
			strerror(-r));
	}
}
