/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "verdict.h"

int verdict_init(struct verdict_table *r)
{
	memset(r, 0, sizeof(*r));
	r->nbuckets = 1024;
	r->buckets = calloc(r->nbuckets, sizeof(*r->buckets));
	return r->buckets ? 0 : -ENOMEM;
}

void verdict_free(struct verdict_table *r)
{
	for (size_t i = 0; i < r->nbuckets; i++) {
		struct tracked *t = r->buckets[i], *n;

		for (; t; t = n) {
			n = t->next;
			free(t);
		}
	}
	free(r->buckets);
	memset(r, 0, sizeof(*r));
}

static size_t bucket_of(const struct verdict_table *r, uint64_t cookie)
{
	return (size_t)(hash_u64(cookie) & (r->nbuckets - 1));
}

static void grow(struct verdict_table *r)
{
	size_t old = r->nbuckets;
	struct tracked **ob = r->buckets, **nb;

	nb = calloc(old * 2, sizeof(*nb));
	if (!nb)
		return; /* longer chains, still correct */
	r->buckets = nb;
	r->nbuckets = old * 2;
	for (size_t i = 0; i < old; i++) {
		struct tracked *t = ob[i], *n;

		for (; t; t = n) {
			size_t b = bucket_of(r, t->cookie);

			n = t->next;
			t->next = nb[b];
			nb[b] = t;
		}
	}
	free(ob);
}

struct tracked *verdict_find(struct verdict_table *r, uint64_t cookie)
{
	struct tracked *t = r->buckets[bucket_of(r, cookie)];

	while (t && t->cookie != cookie)
		t = t->next;
	return t;
}

static struct tracked *track(struct verdict_table *r, const struct sock_rec *s)
{
	struct tracked *t = calloc(1, sizeof(*t));
	size_t b;

	if (!t)
		return NULL;
	if (r->count >= r->nbuckets)
		grow(r);
	t->cookie = s->cookie;
	t->owner.fd = -1;
	b = bucket_of(r, t->cookie);
	t->next = r->buckets[b];
	r->buckets[b] = t;
	r->count++;
	return t;
}

void verdict_forget(struct verdict_table *r, struct tracked *t)
{
	struct tracked **pp = &r->buckets[bucket_of(r, t->cookie)];

	while (*pp && *pp != t)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = t->next;
		r->count--;
		free(t);
	}
}

uint64_t tracked_idle_ms(const struct tracked *t, uint64_t now)
{
	return now > t->quiet_since ? now - t->quiet_since : 0;
}

uint64_t verdict_timer_late_ms(uint64_t ms)
{
	/* The keepalive timer is on the kernel's timer wheel, which rounds a timeout
	 * up to its level's bucket: at worst 8 jiffies late on 63 (the first level
	 * boundary, kernel/time/timer.c), so 8/63 of it; and a jiffy or two more
	 * (20 ms covers two at HZ 100). */
	return ms * 8 / 63 + 20;
}

/* From arming to the verdict of a round of k probes. */
static uint64_t round_window_ms(const struct policy *p, unsigned k)
{
	/* The first probe leaves at once (TCP_KEEPIDLE no longer than the socket
	 * has been idle), each next one an interval later; an interval more, and
	 * half of one for the last one's answer, as margins. Each probe re-arms the
	 * timer, so its lateness adds up over the probes: without it, from about 12
	 * probes the last one had not gone out by the deadline. */
	return (uint64_t)k * (p->interval_ms + verdict_timer_late_ms(p->interval_ms)) +
	       p->interval_ms / 2;
}

uint64_t verdict_probe_window_ms(const struct policy *p)
{
	return round_window_ms(p, p->probes);
}

/* What the count stays below 127 by at a verdict: the probe that may go out
 * before the restore stops them, and the probes (one an interval) a kareaper
 * frozen at the verdict leaves the kernel before it would end the connection. */
#define BUDGET_MARGIN 8

/* Two probes at most go out before a deadline moved on by at most an interval
 * and a half and the timer wheel's lateness, taken up to a quarter interval
 * early or late (the next probe may be due at once). */
static bool extension_fits(uint32_t probes_out)
{
	return probes_out + 2u + BUDGET_MARGIN < KR_MAX_KEEPCNT;
}

unsigned verdict_round_probes(const struct policy *p, uint32_t probes_out)
{
	unsigned fit = p->probes, k;

	/* one at once, then one each interval, on time at best */
	while (fit > 0 && probes_out + 1 + round_window_ms(p, fit) / p->interval_ms +
			  BUDGET_MARGIN >= KR_MAX_KEEPCNT)
		fit--;
	if (fit == p->probes || fit == 0)
		return fit;
	/* short of the policy's: half of what fits, so that a round held again
	 * leaves room for another; but never so few that the count at its
	 * verdict falls short of the policy's (unit-verdict checks that those
	 * always fit) */
	k = (fit + 1) / 2;
	if (probes_out + k < p->probes)
		k = p->probes - probes_out;
	return k < fit ? k : fit;
}

uint64_t verdict_hold_pause_ms(const struct policy *p, unsigned holds)
{
	unsigned doublings = holds ? holds - 1 : 0;

	return p->idle_ms << (doublings < HOLD_DOUBLINGS ? doublings : HOLD_DOUBLINGS);
}

void verdict_armed(struct tracked *t, const struct policy *p, uint64_t now)
{
	t->state = TS_PROBING;
	t->armed = true;
	t->armed_at = now;
	t->armed_segs_in = t->rec.segs_in;
	t->armed_bytes_in = t->rec.bytes_received;
	t->probes_base = t->rec.probes;
	t->deadline = now + round_window_ms(p, t->round);
	t->probing_since = now;
	t->witnessed = false;
	t->extended = 0;
	t->owners_probes = false;
	t->held_at = 0;
	t->limited = false;
	/* half an interval before the probe that follows the round's last: one the
	 * look sees go out after it, with a quarter interval at least to be answered
	 * by the deadline (verdicts are taken up to a quarter early) */
	t->look_at = now + t->round * p->interval_ms - p->interval_ms / 2;
}


/* When an owner's next keepalive probe goes out: its timer's expiry as listed,
 * the policy's interval when that says nothing (no timer, or past any interval
 * the kernel takes). */
static uint64_t next_probe_ms(const struct policy *p, const struct sock_rec *s)
{
	if (s->timer != 2 || s->expires_ms > KR_MAX_KEEPINTVL_S * 1000u)
		return p->interval_ms;
	return s->expires_ms;
}

bool verdict_heard(struct tracked *t, const struct policy *p, uint64_t heard_at,
		   const struct sock_rec *fresh, uint64_t now)
{
	uint64_t next = next_probe_ms(p, fresh);
	uint64_t earliest = now + next + verdict_timer_late_ms(next) + p->interval_ms / 2;

	if (t->witnessed || !t->probing_since || heard_at < t->probing_since)
		return false;
	/* the probe that follows the count read now needs time to be answered
	 * before the verdict (taken up to a quarter interval early): a witness
	 * found late moves the verdict on, if the budget lets two more out */
	if (t->deadline < earliest) {
		/* one more probe goes out before it, two at most */
		if (!t->owners_probes && !extension_fits(fresh->probes))
			return false;
		t->deadline = earliest;
	}
	t->witnessed = true;
	t->witness_probes = fresh->probes;
	return true;
}

void verdict_suspect_again(struct tracked *t, uint64_t now)
{
	t->state = TS_SUSPECT;
	t->witnessed = false;
	t->reported = false; /* a new verdict, logged as such */
	if (t->probing_since)
		t->probing_since = now; /* its owner's probes go on: a witness after now */
}

bool verdict_witnessed(const struct tracked *t, uint8_t probes)
{
	return t->witnessed && probes > t->witness_probes;
}

/* What a listing says of tracked t: its record, and whether its peer was heard
 * from since the last one (which resets what kareaper's rounds left counted). */
static bool refresh(struct verdict_table *r, struct tracked *t, int policy_idx,
		    const struct sock_rec *s, uint64_t reported, uint64_t now)
{
	bool heard = s->segs_in != t->rec.segs_in || s->bytes_received != t->rec.bytes_received;

	/* tcpi_last_*_recv are u32 ms and wrap after 49.7 days: if nothing arrived
	 * since we last looked, a smaller reported idle is the wrap, not activity. */
	if (heard || reported > tracked_idle_ms(t, now))
		t->quiet_since = now > reported ? now - reported : 0;
	/* probes_left is one above the count at the hand-back (a probe may
	 * have gone out on the way): below that count, an ACK reset it */
	if (heard || s->probes + 1u < t->probes_left)
		t->probes_left = 0;
	if (heard) {
		t->holds = 0; /* its next hold pauses as its first did */
		t->rearm_at = 0;
	}
	if (!t->armed && (heard || s->probes == 0 || s->probes < t->rec.probes)) {
		t->probing_since = 0; /* its owner's probes, if any, start over */
		t->witnessed = false;
	}
	if (!t->armed && !t->probing_since && s->probes > 0)
		t->probing_since = now;
	t->rec = *s;
	t->seen_scan = r->scan_gen;
	t->policy = policy_idx;
	return heard;
}

/* t is being probed (armed, or on its owner's probes): its verdict, when due. */
static enum step probing_verdict(struct tracked *t, const struct policy *p,
				 const struct sock_rec *s, uint64_t now)
{
	uint64_t next;

	/* Any segment after arming is the peer answering. */
	if (s->segs_in != t->armed_segs_in) {
		t->reason = REASON_ANSWERED;
		return STEP_ALIVE;
	}
	if (now < t->deadline)
		return STEP_WAIT;
	t->probes_at_verdict = s->probes > t->probes_base ? s->probes - t->probes_base : 0;
	if (t->probes_at_verdict >= t->round && t->witnessed && s->probes <= t->witness_probes &&
	    t->extended < 2 && (t->owners_probes || extension_fits(s->probes))) {
		/* a round trip was seen, but no probe counted since (a late look, a
		 * frozen kareaper, an owner's probe not yet out): one more, and the
		 * verdict after it */
		next = t->owners_probes ? next_probe_ms(p, s) : p->interval_ms;
		t->extended++;
		t->deadline = now + next + verdict_timer_late_ms(next) + p->interval_ms / 2;
		return STEP_WAIT;
	}
	/* every probe of the round unanswered: with those earlier rounds left
	 * counted (a count only something received resets), at least the policy's
	 * in a row (verdict_round_probes) */
	if (t->probes_at_verdict >= t->round) {
		t->state = TS_DEAD;
		t->reason = t->owners_probes ? REASON_KEEPALIVE_EVIDENCE : REASON_PROBES_UNANSWERED;
		if (t->owners_probes)
			t->probes_at_verdict = s->probes; /* all its owner's */
		return STEP_DEAD;
	}
	return STEP_INCONCLUSIVE;
}

/* t's owner's own probes went unanswered, as many as the policy's: dead on a
 * witness; without one yet, its next probe is awaited, a look for a witness taken
 * before it goes out; still silent after it, dead. As a probed socket, never
 * armed: nothing to hand back. */
static enum step owners_evidence(struct tracked *t, const struct policy *p,
				 const struct sock_rec *s, uint64_t now)
{
	uint64_t next;

	t->reason = REASON_KEEPALIVE_EVIDENCE;
	t->probes_at_verdict = s->probes;
	if (verdict_witnessed(t, s->probes)) {
		t->state = TS_DEAD;
		return STEP_DEAD;
	}
	t->state = TS_PROBING;
	t->armed_at = now;
	t->armed_segs_in = s->segs_in;
	t->armed_bytes_in = s->bytes_received;
	t->probes_base = (uint8_t)(s->probes - p->probes);
	if (!t->probing_since)
		t->probing_since = now;
	t->extended = 0;
	t->owners_probes = true;
	t->round = (uint8_t)p->probes;
	next = next_probe_ms(p, s);
	t->look_at = now + next / 2;
	t->deadline = now + next + verdict_timer_late_ms(next) + p->interval_ms / 2;
	return STEP_WAIT;
}

enum step verdict_observe(struct verdict_table *r, int policy_idx, const struct policy *p,
			 const struct sock_rec *s, uint64_t now, struct tracked **tp)
{
	struct tracked *t = verdict_find(r, s->cookie);
	uint64_t reported = sock_idle_ms(s), idle;
	enum evidence ev;

	*tp = t;
	if (t) {
		bool heard = refresh(r, t, policy_idx, s, reported, now);

		idle = tracked_idle_ms(t, now);
		if (t->state == TS_PROBING)
			return probing_verdict(t, p, s, now);
		if (t->state == TS_ARMING)
			return STEP_WAIT; /* the listing arms it, if nothing came in */
		if (t->state == TS_DEAD && !heard)
			return STEP_DEAD;
	} else {
		idle = reported;
	}

	if (idle < p->idle_ms) {
		if (t) {
			verdict_forget(r, t);
			*tp = NULL;
		}
		return STEP_ACTIVE;
	}

	if (!t) {
		t = track(r, s);
		if (!t)
			return STEP_ACTIVE; /* out of memory: try again next scan */
		t->rec = *s;
		t->policy = policy_idx;
		t->seen_scan = r->scan_gen;
		t->quiet_since = now > reported ? now - reported : 0;
		t->state = TS_SUSPECT;
		t->probing_since = s->probes ? now : 0;
		*tp = t;
	}

	ev = policy_kernel_evidence(p, s);
	/* probes counted by kareaper's earlier rounds are not its owner's */
	if (ev == EVIDENCE_KEEPALIVE && s->probes < t->probes_left + p->probes)
		ev = EVIDENCE_NONE;
	if (ev == EVIDENCE_KEEPALIVE)
		return owners_evidence(t, p, s, now);
	if (p->action == ACTION_KILL_IDLE) {
		t->state = TS_DEAD;
		t->reason = REASON_IDLE;
		return STEP_DEAD;
	}
	if (t->state == TS_UNPROBEABLE && t->reason == REASON_NO_OWNER)
		return STEP_LEFT_ALONE;
	/* Its owner's keepalive timer still runs: its probes are the evidence. Once
	 * it stops (the owner switched keepalive off), its options are read again. */
	if (t->state == TS_UNPROBEABLE && t->reason == REASON_OWNER_KEEPALIVE && s->timer == 2)
		return STEP_LEFT_ALONE;
	/* Unanswered probes of earlier rounds (a verdict not carried out, an
	 * inconclusive round) are still counted: never re-probe past the kernel's
	 * limit. A round is the policy's probes, or half of those that still fit;
	 * when not one fits, it is left alone until the peer is heard from (an ACK
	 * resets the count). */
	t->round = (uint8_t)verdict_round_probes(p, s->probes);
	if (!t->round) {
		t->state = TS_UNPROBEABLE;
		t->reason = REASON_BUDGET_SPENT;
		return STEP_LEFT_ALONE;
	}
	t->state = TS_SUSPECT;
	t->budget_logged = false;
	return STEP_ARM;
}

const char *reason_name(enum reason r)
{
	switch (r) {
	case REASON_NONE:
		return "none";
	case REASON_PROBES_UNANSWERED:
		return "probes-unanswered";
	case REASON_KEEPALIVE_EVIDENCE:
		return "keepalive-unanswered";
	case REASON_IDLE:
		return "idle";
	case REASON_RESET_ON_PROBE:
		return "reset-by-peer-on-probe";
	case REASON_CLOSED_WHILE_PROBING:
		return "closed-while-probing";
	case REASON_ANSWERED:
		return "answered-probe";
	case REASON_NO_OWNER:
		return "no-owner";
	case REASON_BUDGET_SPENT:
		return "probe-budget-spent";
	case REASON_OWNER_KEEPALIVE:
		return "owner-keepalive";
	}
	return "?";
}

const char *track_state_name(enum track_state s)
{
	switch (s) {
	case TS_SUSPECT:
		return "suspect";
	case TS_ARMING:
		return "arming";
	case TS_PROBING:
		return "probing";
	case TS_DEAD:
		return "dead";
	case TS_UNPROBEABLE:
		return "unprobeable";
	}
	return "?";
}
