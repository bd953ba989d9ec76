/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Stage 3, verdicts: probed sockets whose peer answered, went, or stayed silent
 * past the deadline; the dead ones through the rails (breaker, limits, dry run)
 * to a destroy by cookie, the others handed back. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine-int.h"

/* A probed socket that left the established table, or no longer matches, or was
 * not listed. Query it (query_r: the answer of a query already made, 1 for none):
 * proven gone before the kernel's own keepalive could have given up, only an RST
 * takes a socket out of the hash without a trace: the peer answered a probe with
 * one (it rebooted and lost the connection) or sent one anyway. Not proven gone
 * (another state, another policy, missed by a walk, its namespace no longer
 * watched): handed back, or kept in the journal until it can be. */
void gone_while_probing(struct engine *e, struct tracked *t, int query_r)
{
	const struct policy *p = pol(e, t->policy);
	unsigned left = KR_MAX_KEEPCNT > t->probes_base ? KR_MAX_KEEPCNT - t->probes_base : 0;
	uint64_t kernel_gives_up = t->armed_at + (uint64_t)left * p->interval_ms;
	enum reason why = REASON_CLOSED_WHILE_PROBING;
	struct sock_event ev;
	struct sock_rec fresh;

	if (query_r == 1)
		query_r = query_tracked(e, t, &fresh);
	if (query_r != -ENOENT) {
		ev = event_of(e, t, NULL);
		ev.probes = -1;
		log_sock(LOG_INFO, NULL, &ev, "no longer a probed candidate (%s): %s",
			 !backend_of(e, t) ? "its network namespace is not watched now" :
			 query_r == 0 ? "another state, or not listed" : strerror(-query_r),
			 t->armed ? "handed back" : "left to its owner");
		disarm(e, t);
		row_verdict(e, t, V_INCONCLUSIVE, REASON_NONE);
		return;
	}
	if (t->armed && e->now < kernel_gives_up)
		why = REASON_RESET_ON_PROBE; /* not its owner's keepalive giving up */
	t->armed = false; /* nothing left to restore */
	journal_remove(&e->journal, t->cookie);
	t->reason = why;
	e->stats.gone++;
	ev = event_of(e, t, reason_name(why));
	log_sock(LOG_NOTICE, MSGID_GONE, &ev, "connection ended while probing");
	row_verdict(e, t, V_GONE, why);
}

/* The owners' options back on every socket of this round's work that takes step,
 * in one pass. */
static void disarm_work(struct engine *e, enum step step)
{
	struct tracked **ts = calloc(e->nwork ? e->nwork : 1, sizeof(*ts));
	size_t n = 0;

	for (size_t i = 0; i < e->nwork; i++) {
		struct tracked *t = e->work[i].t;

		if (!t || !t->armed)
			continue;
		if (e->work[i].step == step) {
			if (ts)
				ts[n++] = t;
			else
				disarm(e, t); /* no memory: one at a time */
		}
	}
	if (n)
		disarm_all(e, ts, n);
	free(ts);
}

unsigned process_work(struct engine *e)
{
	unsigned alive = 0, room = rails_room(&e->rails, e->cfg, e->now);
	bool arms = false;

	disarm_work(e, STEP_ALIVE);
	disarm_work(e, STEP_INCONCLUSIVE);
	for (size_t i = 0; i < e->nwork; i++) {
		struct work_item *w = &e->work[i];
		struct tracked *t = w->t;
		struct sock_event ev;

		if (!t)
			continue;
		switch (w->step) {
		case STEP_ARM:
			if (t->held_at && (!witness_heard_since(e, t) || e->now < t->rearm_at)) {
				/* held: probed again once its namespace is heard
				 * from, not before (an outage spends no probes),
				 * and after its pause (a held breaker spends them
				 * slowly) */
				w->step = STEP_WAIT;
				row_verdict(e, t, V_HELD, t->reason);
				break;
			}
			if (t->limited && room == 0) {
				/* proven again only when it could then be reaped: the
				 * limits' backlog spends no probes while it waits */
				w->step = STEP_WAIT;
				row_verdict(e, t, V_RATE_LIMITED, t->reason);
				break;
			}
			room -= t->limited;
			arms = true;
			break;
		case STEP_ALIVE:
			witness_answered(e, t);
			alive++;
			e->stats.alive++;
			ev = event_of(e, t, reason_name(REASON_ANSWERED));
			ev.probes = -1;
			log_sock(LOG_INFO, MSGID_ALIVE, &ev, t->owners_probes ?
				 "peer answered its owner's probe" : "peer answered, options restored");
			row_verdict(e, t, V_ALIVE, REASON_ANSWERED);
			forget(e, w);
			break;
		case STEP_INCONCLUSIVE:
			/* No probe left (data queued: the retransmit timer runs instead). */
			verdict_suspect_again(t, e->now);
			ev = event_of(e, t, NULL);
			ev.probes = -1;
			log_sock(LOG_DEBUG, NULL, &ev, "no probe went out by the deadline (data in "
				 "flight): options restored, probing again later");
			row_verdict(e, t, V_INCONCLUSIVE, REASON_NONE);
			break;
		default:
			break;
		}
	}
	if (arms)
		arm_round(e);
	return alive;
}

/* What destroying a dead connection answered. */
static void reaped(struct engine *e, struct work_item *w, const struct sock_event *ev, int r)
{
	struct tracked *t = w->t;

	if (r == 0 || r == -ENOENT) {
		t->armed = false; /* nothing left to put back */
		journal_remove(&e->journal, t->cookie);
	}
	if (r == 0) {
		e->stats.reaped++;
		if (e->reaped_by)
			e->reaped_by[t->policy * REASON_COUNT + t->reason]++;
		log_sock(LOG_NOTICE, MSGID_REAPED, ev, "reaped");
		row_verdict(e, t, V_REAPED, t->reason);
	} else if (r == -ENOENT) {
		/* gone already, or the tuple is now another connection's: the kernel
		 * compared the cookie and left it alone */
		log_sock(LOG_DEBUG, MSGID_GONE, ev, "already gone");
		row_verdict(e, t, V_GONE, t->reason);
	} else if (r == -EALREADY) {
		disarm(e, t);
		e->stats.alive++;
		log_sock(LOG_INFO, MSGID_ALIVE, ev, "its peer was heard from just before the reap: "
			 "spared, options restored");
		row_verdict(e, t, V_ALIVE, REASON_ANSWERED);
	} else if (r == -EAGAIN) {
		/* not what kareaper wrote: its owner set an option while it was
		 * probed; the probes' count is no proof of that owner's intent */
		disarm(e, t);
		log_sock(LOG_NOTICE, NULL, ev, "its owner changed its keepalive options while it "
			 "was probed: spared, handed back, to be proven again");
		row_verdict(e, t, V_INCONCLUSIVE, t->reason);
	} else {
		disarm(e, t); /* it lives on: as its owner had it */
		count_error(e, ERR_DESTROY, "destroy: %s", strerror(-r));
		log_sock(LOG_ERR, NULL, ev, "destroying the socket failed: %s", strerror(-r));
		row_verdict(e, t, V_ERROR, t->reason);
	}
	forget(e, w);
}

/* What the breaker held this round, and why: counted, logged. */
static void say_breaker(struct engine *e, const struct rail_round *round,
			const struct rail_item *items, struct work_item *const *dead, size_t n,
			unsigned probed_alive)
{
	unsigned first = 0;

	if (round->tripped) {
		e->stats.breaker_trips++;
		log_msg(LOG_WARNING, MSGID_BREAKER,
			"circuit breaker: %u of %u connections checked this round look dead at "
			"once; reaping none of them (is this host's own network down?)",
			round->evidence_dead, round->evidence_dead + probed_alive);
	}
	if (!round->unwitnessed)
		return;
	for (size_t i = 0; i < n; i++)
		first += items[i].decision == RAIL_HELD && items[i].unwitnessed &&
			 !round->tripped && !dead[i]->t->held_at;
	/* said once for each socket: a quiet host holds the same ones again */
	if (first)
		e->stats.breaker_trips++;
	log_msg(first ? LOG_WARNING : LOG_DEBUG, MSGID_BREAKER,
		"circuit breaker: %u connections look dead, but no probe to them went "
		"unanswered after a round trip from this host was seen completed (no "
		"other peer heard from); reaping none of them until one is (is this "
		"host's own network down?)", round->unwitnessed);
}

void reap_dead(struct engine *e, unsigned probed_alive)
{
	struct work_item **dead;
	struct sock_op *ops;
	struct rail_item *items;
	struct rail_round round;
	size_t n = 0, m = 0;

	for (size_t i = 0; i < e->nwork; i++)
		n += e->work[i].t && e->work[i].t->state == TS_DEAD;
	if (!n)
		return;
	dead = calloc(n, sizeof(*dead));
	ops = calloc(n, sizeof(*ops));
	items = calloc(n, sizeof(*items));
	if (!dead || !ops || !items) {
		free(dead);
		free(ops);
		free(items);
		count_error(e, ERR_MEMORY, "no memory to judge %zu dead connections", n);
		log_msg(LOG_ERR, NULL, "out of memory: %zu dead connections wait", n);
		return;
	}
	n = 0;
	for (size_t i = 0; i < e->nwork; i++) {
		struct tracked *t = e->work[i].t;

		if (!t || t->state != TS_DEAD)
			continue;
		dead[n] = &e->work[i];
		items[n].dry = dry(e, pol(e, t->policy));
		items[n].idle_only = t->reason == REASON_IDLE;
		items[n].reported = t->reported;
		/* a dry run's verdict, reported, was witnessed when it was made */
		items[n].unwitnessed = !t->reported && !verdict_witnessed(t, t->rec.probes);
		n++;
	}
	rails_decide(&e->rails, e->cfg, items, n, probed_alive, e->now, &round);
	say_breaker(e, &round, items, dead, n, probed_alive);
	/* One pass: the reaped destroyed, the others' options put back. */
	for (size_t i = 0; i < n; i++) {
		struct tracked *t = dead[i]->t;

		/* only if nothing came in since the record the verdict was made on,
		 * and, armed, while it carries exactly what kareaper wrote */
		if (items[i].decision == RAIL_REAP)
			ops[m++] = (struct sock_op){ .s = &t->rec, .owner = &t->owner,
						     .expect = t->armed ? &t->arm : NULL,
						     .quiet = true };
		else if (t->armed)
			ops[m++] = handback_op(t);
	}
	run_ops(e, ops, m, true);
	m = 0;
	for (size_t i = 0; i < n; i++) {
		struct tracked *t = dead[i]->t;
		struct sock_event ev;
		int r = 0;

		if (items[i].decision == RAIL_REAP)
			r = ops[m++].result;
		else if (t->armed)
			restored(e, t, &ops[m++]);
		ev = event_of(e, t, reason_name(t->reason));
		switch (items[i].decision) {
		case RAIL_HELD:
			/* a suspect again, proven again once its outage is over; kept,
			 * so that what its probes left counted is known */
			e->stats.held++;
			verdict_suspect_again(t, e->now);
			/* probed again once the network is heard from, not before: an
			 * outage does not spend its probe budget; and after a pause
			 * that doubles with each hold, so that a breaker held round
			 * after round spends it slowly */
			t->held_at = round_clock(e);
			if (t->holds < UINT8_MAX)
				t->holds++;
			t->rearm_at = e->now + verdict_hold_pause_ms(pol(e, t->policy), t->holds);
			row_verdict(e, t, V_HELD, t->reason);
			break;
		case RAIL_WOULD_REAP:
			if (!t->reported) {
				e->stats.would_reap++;
				log_sock(LOG_NOTICE, MSGID_WOULD_REAP, &ev, "dry run: would reap");
			}
			t->reported = true;
			row_verdict(e, t, V_WOULD_REAP, t->reason);
			break;
		case RAIL_RATE_LIMITED:
			/* not on this evidence later: its probes stopped with the
			 * restore, and a peer back meanwhile could not be heard; a
			 * later round proves it again */
			verdict_suspect_again(t, e->now);
			t->limited = true;
			row_verdict(e, t, V_RATE_LIMITED, t->reason);
			break;
		case RAIL_REAP:
			reaped(e, dead[i], &ev, r);
			break;
		}
	}
	if (round.limited) {
		e->stats.rate_limited += round.limited;
		log_msg(LOG_NOTICE, MSGID_RATE_LIMITED,
			"%u dead connections wait for a later round (max_reaps_per_scan = %u, "
			"max_reaps_per_minute = %u)", round.limited, e->cfg->max_reaps_per_scan,
			e->cfg->max_reaps_per_minute);
	}
	free(dead);
	free(ops);
	free(items);
}
