/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Stage 2, arming: which suspects are probed (never one whose owner runs
 * keepalive, never past the probe budget, at most max_probes_per_scan, the
 * longest idle first), their owners' options read and journaled before
 * anything is written, then armed: at once, or by the next listing. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine-int.h"
#include "parse.h"

/* t cannot be probed without the kernel's count of unanswered probes (with its
 * owner's own, which a hand-back must leave room for) coming near the kernel's
 * limit: left alone until its peer is heard from, said once. */
void budget_spent(struct engine *e, struct tracked *t)
{
	t->state = TS_UNPROBEABLE;
	t->reason = REASON_BUDGET_SPENT;
	if (!t->budget_logged) {
		struct sock_event ev = event_of(e, t, reason_name(REASON_BUDGET_SPENT));

		t->budget_logged = true;
		e->stats.unprobeable++;
		log_sock(LOG_NOTICE, MSGID_UNPROBEABLE, &ev, "cannot probe: the kernel counts %u "
			 "unanswered keepalive probes, and ends the connection at %d; left alone "
			 "until its peer is heard from", t->rec.probes, KR_MAX_KEEPCNT);
	}
	row_verdict(e, t, V_LEFT_ALONE, REASON_BUDGET_SPENT);
}

/* t's owner runs keepalive of its own (t->saved, as read): its options are its
 * own, and kareaper never arms it. It is judged on its owner's probes only
 * (policy_kernel_evidence), and the kernel ends a dead peer's connection on the
 * owner's schedule anyway: said once, with that schedule. */
void owner_keepalive(struct engine *e, struct tracked *t)
{
	t->state = TS_UNPROBEABLE;
	t->reason = REASON_OWNER_KEEPALIVE;
	if (!t->owner_logged) {
		struct sock_event ev = event_of(e, t, reason_name(REASON_OWNER_KEEPALIVE));
		char when[DURATION_STRLEN], ut[48] = "";

		t->owner_logged = true;
		format_duration(policy_owner_schedule_ms(&t->saved), when, sizeof(when));
		if (t->saved.user_timeout_ms)
			snprintf(ut, sizeof(ut), ", user timeout %ums", t->saved.user_timeout_ms);
		ev.probes = -1;
		log_sock(LOG_INFO, MSGID_UNPROBEABLE, &ev, "its owner runs keepalive (%ds/%ds/%d"
			 "%s): left to it, judged on its probes; a dead peer goes %s after its "
			 "last word", t->saved.idle_s, t->saved.intvl_s, t->saved.cnt, ut, when);
	}
	row_verdict(e, t, V_LEFT_ALONE, REASON_OWNER_KEEPALIVE);
}

static void left_alone(struct engine *e, struct tracked *t, int err)
{
	struct sock_event ev = event_of(e, t, reason_name(REASON_NO_OWNER));

	t->state = TS_UNPROBEABLE;
	t->reason = REASON_NO_OWNER;
	e->stats.unprobeable++;
	/* "no process holds it" only when every process's descriptors were read */
	if (err == -ESRCH && e->owners_unreadable)
		log_sock(LOG_NOTICE, MSGID_UNPROBEABLE, &ev, "cannot probe (no process it may "
			 "read holds it: the descriptors of %zu processes were unreadable; the "
			 "netlink backend needs CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE), leaving "
			 "it alone", e->owners_unreadable);
	else
		log_sock(LOG_NOTICE, MSGID_UNPROBEABLE, &ev, "cannot probe (%s), leaving it alone",
			 err == -ESRCH ? "no process holds it" : strerror(-err));
	row_verdict(e, t, V_LEFT_ALONE, REASON_NO_OWNER);
}

/* Arming t failed with r, and nothing of kareaper's is on it: left alone when a
 * complete lookup found no process holding it (-ESRCH) or none may be reached
 * (-EPERM), else a suspect still, tried again next round (a map full,
 * descriptors short, an owner moving, a walk that did not meet it). */
static void not_armed(struct engine *e, struct tracked *t, int r)
{
	struct sock_event ev;

	if ((r == -ESRCH && !e->owners_unreadable) || r == -EPERM) {
		left_alone(e, t, r);
		return;
	}
	t->state = TS_SUSPECT;
	ev = event_of(e, t, NULL);
	ev.probes = -1;
	row_verdict(e, t, V_SUSPECT, REASON_NONE);
	if (not_reached(r) || r == -EINPROGRESS) {
		log_sock(LOG_DEBUG, NULL, &ev, "not reached this round (%s): probing it next round",
			 strerror(-r));
		return;
	}
	count_error(e, ERR_ARM, "arming cookie %llu: %s", (unsigned long long)t->cookie,
		    strerror(-r));
	log_sock(LOG_WARNING, NULL, &ev, "cannot probe it now (%s): trying again next round",
		 strerror(-r));
}

/* What arming t answered (in a walk of its own, or a listing's). */
void arm_result(struct engine *e, struct tracked *t, int r)
{
	const struct policy *p = pol(e, t->policy);
	struct sock_event ev = event_of(e, t, NULL);
	char more[160] = "";

	ev.probes = -1;
	if (r == -EAGAIN || r == -EALREADY || r == -ENOENT) {
		/* nothing set, nothing to put back: the owner changed its options since
		 * they were read (read them again next round), the peer was heard from
		 * (no longer idle), or the connection is gone */
		journal_remove(&e->journal, t->cookie);
		t->state = TS_SUSPECT;
		log_sock(LOG_DEBUG, NULL, &ev, "%s", r == -EAGAIN ?
			 "its owner changed its keepalive options just now: probing it next round" :
			 r == -EALREADY ? "its peer was heard from just before the probes: not probed" :
			 "gone before it was probed");
		row_verdict(e, t, V_SUSPECT, REASON_NONE);
		return;
	}
	if (r < 0 && (not_reached(r) || r == -EINPROGRESS)) {
		journal_remove(&e->journal, t->cookie); /* nothing was set */
		not_armed(e, t, r);
		return;
	}
	t->armed = true; /* whatever part was set is put back */
	if (r < 0) {
		disarm(e, t);
		not_armed(e, t, r);
		return;
	}
	/* the deadline counts from now, not from the start of the round: finding
	 * owners and arming a thousand sockets can take longer than an interval */
	verdict_armed(t, p, round_clock(e));
	e->stats.probes_armed++;
	if (t->round < p->probes)
		snprintf(more, sizeof(more), " (on top of the %u its earlier rounds left "
			 "unanswered: the policy's %u no longer fit below the kernel's limit)",
			 t->probes_base, p->probes);
	log_sock(LOG_INFO, MSGID_PROBING, &ev, "idle, probing with %u keepalives every %llus%s",
		 t->round, (unsigned long long)(p->interval_ms / 1000), more);
	row_verdict(e, t, V_PROBING, REASON_NONE);
}

/* Whether t's probes wait for the next listing rather than take a walk of their
 * own: with a backend for which every op costs a walk of the socket table, in a
 * daemon whose next listing comes within the time t has been idle already. */
bool arm_carried(const struct engine *e, const struct tracked *t)
{
	return e->ops->carries_ops && !e->once &&
	       e->cfg->scan_interval_ms <= pol(e, t->policy)->idle_ms;
}

struct idle_of {
	uint64_t rounds;          /* idle, in scan intervals */
	size_t at;                /* in the listing's order */
	struct work_item *w;
};

static int longest_idle_first(const void *a, const void *b)
{
	const struct idle_of *x = a, *y = b;

	if (x->rounds != y->rounds)
		return x->rounds < y->rounds ? 1 : -1;
	return x->at < y->at ? -1 : x->at > y->at;
}

/* More suspects to arm than max_probes_per_scan: the longest idle go first, the
 * rest wait. In the listing's order, a live idle peer probed (and so no longer
 * idle) would be a suspect again within `idle`, ahead of those further down the
 * table, which could then wait for ever. Idle times within one scan interval
 * (found idle in the same round) count as equal and keep the listing's order:
 * a backend that acts in a walk stops it after the last socket it acts on.
 * Those already journaled are put back instead, outside the count. */
static void ration_arms(struct engine *e)
{
	size_t n = 0, max = e->cfg->max_probes_per_scan;
	struct idle_of *v;

	/* counted with those journaled: at most max so, none waits, and the journal
	 * need not be searched */
	for (size_t i = 0; i < e->nwork; i++)
		n += e->work[i].t && e->work[i].step == STEP_ARM;
	if (n <= max)
		return;
	v = calloc(n, sizeof(*v));
	n = 0;
	for (size_t i = 0; i < e->nwork; i++) {
		struct work_item *w = &e->work[i];

		if (!w->t || w->step != STEP_ARM || journal_find(&e->journal, w->t->cookie))
			continue;
		if (!v) { /* no memory to sort: in the listing's order */
			w->waits = n++ >= max;
			continue;
		}
		v[n].rounds = tracked_idle_ms(w->t, e->now) / e->cfg->scan_interval_ms;
		v[n].at = n;
		v[n++].w = w;
	}
	if (!v)
		return;
	qsort(v, n, sizeof(*v), longest_idle_first);
	for (size_t i = max; i < n; i++)
		v[i].w->waits = true;
	free(v);
}

/* Whether suspect t is to be armed: its owner's options read (t->saved, exactly as
 * the socket has them: the compare value) and what arming writes (t->arm). Not
 * when its owner runs keepalive of its own, or when its options cannot be read
 * (its probe budget, verdict_observe()). */
static bool to_arm(struct engine *e, struct tracked *t)
{
	struct backend *b = backend_of(e, t);
	struct ka_opts put;
	int r;

	r = b ? e->ops->get_opts(b, &t->rec, &t->owner, &t->saved) : -ENXIO;
	if (r < 0) {
		not_armed(e, t, r);
		return false;
	}
	if (t->saved.keepalive) {
		owner_keepalive(e, t);
		return false;
	}
	put = t->saved;
	if (policy_opts_settable(&put)) {
		struct sock_event ev = event_of(e, t, NULL);

		log_sock(LOG_NOTICE, NULL, &ev, "its keepalive options read beyond what "
			 "setsockopt() takes (a sysctl's, most likely): they will be put back "
			 "as %d s, %d s, %d probes", put.idle_s, put.intvl_s, put.cnt);
	}
	policy_arm_opts(pol(e, t->policy), tracked_idle_ms(t, e->now), &t->arm);
	return true;
}

/* Arm this round's suspects in three steps, so that a crash at any point leaves
 * nothing the next start cannot undo: read the owners' options, write them all to
 * the journal at once, then arm (now, or by the next listing). No journal, no
 * probes. */
void arm_round(struct engine *e)
{
	bool was_dirty = e->journal.dirty;
	size_t journaled = 0, waiting = 0;
	struct sock_op *ops;
	int r;

	ration_arms(e);
	for (size_t i = 0; i < e->nwork; i++) {
		struct work_item *w = &e->work[i];
		struct tracked *t = w->t;
		struct journal_entry je;

		if (!t || w->step != STEP_ARM)
			continue;
		if (journal_find(&e->journal, t->cookie)) {
			/* its hand-back failed: never armed anew before
			 * restore_journaled() hands it back, at a round's end */
			row_verdict(e, t, V_SUSPECT, REASON_NONE);
			continue;
		}
		if (w->waits) {
			waiting++; /* a suspect still: the next round takes it */
			continue;
		}
		if (!to_arm(e, t))
			continue;
		je = (struct journal_entry){ .netns = t->rec.netns, .cookie = t->cookie,
					     .inode = t->rec.inode, .family = t->rec.family,
					     .id = t->rec.id, .saved = t->saved, .armed = t->arm };
		if (journal_add(&e->journal, &je) < 0) {
			count_error(e, ERR_MEMORY, "no memory for the probe journal");
			continue;
		}
		w->journaled = true;
		journaled++;
	}
	if (waiting)
		log_msg(LOG_NOTICE, NULL, "%zu idle connections wait for a later round "
			"(max_probes_per_scan = %u)", waiting, e->cfg->max_probes_per_scan);
	if (!journaled)
		return;
	r = journal_sync(&e->journal);
	if (r < 0) {
		count_error(e, ERR_JOURNAL, "cannot write %s: %s", e->journal.path, strerror(-r));
		log_msg(LOG_ERR, NULL, "cannot write the probe journal %s: %s; probing none of "
			"%zu suspects this round", e->journal.path, strerror(-r), journaled);
		for (size_t i = 0; i < e->nwork; i++) {
			struct work_item *w = &e->work[i];

			if (!w->journaled)
				continue;
			journal_remove(&e->journal, w->t->cookie);
			w->journaled = false;
			row_verdict(e, w->t, V_SUSPECT, REASON_NONE);
		}
		e->journal.dirty = was_dirty; /* the file still holds what it held */
		return;
	}
	for (size_t i = 0; i < e->nwork; i++) {
		struct tracked *t = e->work[i].t;

		if (!e->work[i].journaled)
			continue;
		if (arm_carried(e, t)) {
			e->work[i].journaled = false;
			t->state = TS_ARMING;
			row_verdict(e, t, V_PROBING, REASON_NONE);
			journaled--;
		}
	}
	if (!journaled)
		return;
	ops = calloc(journaled, sizeof(*ops));
	if (!ops) {
		count_error(e, ERR_MEMORY, "no memory to arm %zu sockets", journaled);
		for (size_t i = 0; i < e->nwork; i++)
			if (e->work[i].journaled) /* armed nothing: nothing to put back */
				journal_remove(&e->journal, e->work[i].t->cookie);
		return;
	}
	for (size_t i = 0, k = 0; i < e->nwork; i++) {
		struct tracked *t = e->work[i].t;

		/* armed only if its options still are what the journal holds */
		if (e->work[i].journaled)
			ops[k++] = (struct sock_op){ .s = &t->rec, .owner = &t->owner,
						     .set = &t->arm, .expect = &t->saved };
	}
	run_ops(e, ops, journaled, true);
	for (size_t i = 0, k = 0; i < e->nwork; i++)
		if (e->work[i].journaled)
			arm_result(e, e->work[i].t, ops[k++].result);
	free(ops);
}
