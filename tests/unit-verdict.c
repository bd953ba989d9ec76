/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The verdict state machine, driven by a synthetic clock and tcp_info values. */
#include "config.h"

#include <stdbool.h>

#include "verdict.h"
#include "sockrec.h"
#include "tap.h"

#define S 1000ull
#define DAY (86400ull * S)

static struct config *cfg;

static struct sock_rec idle_rec(uint64_t cookie, uint32_t idle_ms, uint32_t segs)
{
	struct sock_rec s = mkrec("192.0.2.1", 6379, "198.51.100.7", 40000, cookie);

	s.last_data_recv_ms = idle_ms;
	s.last_ack_recv_ms = idle_ms;
	s.segs_in = segs;
	return s;
}

/* A socket idle 100 s with probes already counted, found a suspect and armed at
 * now under p (*s its record). */
static struct tracked *armed_on(struct verdict_table *r, const struct policy *p, uint64_t cookie,
				uint32_t segs, uint8_t probes, uint64_t now, struct sock_rec *s)
{
	struct tracked *t;

	*s = idle_rec(cookie, 100 * S, segs);
	s->probes = probes;
	verdict_observe(r, 0, p, s, now, &t);
	verdict_armed(t, p, now);
	return t;
}

static void lifecycle(void)
{
	const struct policy *p = &cfg->policies[0]; /* idle 60s, 5s x 3 */
	struct verdict_table r;
	struct tracked *t;
	struct sock_rec s;
	uint64_t now = 1000 * S;

	verdict_init(&r);
	s = idle_rec(1, 30 * S, 10);
	ok(verdict_observe(&r, 0, p, &s, now, &t) == STEP_ACTIVE && !t, "recent peer: active, untracked");
	s = idle_rec(1, 61 * S, 10);
	ok(verdict_observe(&r, 0, p, &s, now, &t) == STEP_ARM && t && t->state == TS_SUSPECT,
	   "idle beyond policy: suspect, arm");
	verdict_armed(t, p, now);
	is_u64(t->deadline, now + 3 * (5 * S + 5 * S * 8 / 63 + 20) + 2500,
	       "deadline = probes x (interval + the timer wheel's lateness) + half an interval");
	s.probes = 1;
	ok(verdict_observe(&r, 0, p, &s, now + 6 * S, &t) == STEP_WAIT, "probing: wait");
	s.probes = 3;
	ok(verdict_observe(&r, 0, p, &s, now + 17 * S, &t) == STEP_WAIT, "before deadline: wait");
	s.probes = 4; /* the kernel goes on probing past ours */
	ok(verdict_observe(&r, 0, p, &s, now + 20 * S, &t) == STEP_DEAD &&
	   t->reason == REASON_PROBES_UNANSWERED && t->probes_at_verdict == 4,
	   "deadline, probes unanswered: dead");
	ok(verdict_observe(&r, 0, p, &s, now + 48 * S, &t) == STEP_DEAD,
	   "dead stays dead while the peer stays silent");
	s.segs_in = 11;
	s.probes = 0; /* any ACK resets the kernel's count */
	ok(verdict_observe(&r, 0, p, &s, now + 49 * S, &t) == STEP_ARM,
	   "a dead verdict is dropped when the peer sends again");

	/* an answer */
	s = idle_rec(2, 100 * S, 50);
	ok(verdict_observe(&r, 0, p, &s, now, &t) == STEP_ARM, "second socket suspect");
	verdict_armed(t, p, now);
	s.segs_in = 51;
	s.last_ack_recv_ms = 10;
	ok(verdict_observe(&r, 0, p, &s, now + 1 * S, &t) == STEP_ALIVE &&
	   t->reason == REASON_ANSWERED, "any segment after arming: alive");
	verdict_forget(&r, t);
	ok(verdict_find(&r, 2) == NULL, "forgotten");

	/* deadline without probes sent (data queued: retransmit timer instead) */
	t = armed_on(&r, p, 3, 50, 0, now, &s);
	ok(verdict_observe(&r, 0, p, &s, now + 20 * S, &t) == STEP_INCONCLUSIVE,
	   "no probes went out by the deadline: inconclusive");

	/* probes the kernel already counted before we armed do not count for us */
	t = armed_on(&r, p, 5, 50, 2, now, &s);
	s.probes = 4;
	ok(verdict_observe(&r, 0, p, &s, now + 20 * S, &t) == STEP_INCONCLUSIVE,
	   "2 earlier + 2 ours: not yet 3 of ours");
	t->state = TS_SUSPECT;
	t->armed = false; /* handed back */
	ok(verdict_observe(&r, 0, p, &s, now + 21 * S, &t) == STEP_ARM,
	   "options put back (no keepalive timer): 4 in all is not the owner's, probe again");
	s.timer = 2;
	verdict_observe(&r, 0, p, &s, now + 22 * S, &t);
	ok(t->state == TS_PROBING && !t->armed && t->reason == REASON_KEEPALIVE_EVIDENCE,
	   "4 unanswered with the owner's keepalive timer running is evidence: its next "
	   "probe awaited (a witness before it), never armed");

	/* the peer becomes active: entry dropped */
	s = idle_rec(4, 100 * S, 5);
	verdict_observe(&r, 0, p, &s, now, &t);
	s = idle_rec(4, 1 * S, 6);
	ok(verdict_observe(&r, 0, p, &s, now + 30 * S, &t) == STEP_ACTIVE && !verdict_find(&r, 4),
	   "peer talked: active again, forgotten");
	verdict_free(&r);
}

static void wraparound(void)
{
	const struct policy *p = &cfg->policies[0];
	struct verdict_table r;
	struct tracked *t;
	struct sock_rec s;
	uint64_t now = 100 * DAY;

	verdict_init(&r);
	/* 49 days idle: just below the u32 wrap */
	s = idle_rec(7, 49 * 86400 * 1000u, 42);
	ok(verdict_observe(&r, 0, p, &s, now, &t) == STEP_ARM, "49 days idle: suspect");
	t->state = TS_UNPROBEABLE; /* owner unreachable: it stays tracked */
	t->reason = REASON_NO_OWNER;
	/* a day later the kernel's counter wrapped to a small value; nothing arrived */
	s.last_data_recv_ms = s.last_ack_recv_ms = (uint32_t)(50 * DAY - 4294967296ull);
	is_u64(s.last_data_recv_ms, 25032704, "kernel reports ~7h after the wrap");
	ok(verdict_observe(&r, 0, p, &s, now + DAY, &t) == STEP_LEFT_ALONE,
	   "wrapped idle with no new segments is not activity");
	is_u64(tracked_idle_ms(t, now + DAY), 50 * DAY, "kareaper's idle keeps counting");
	/* with a short reported idle and no new segments, still not active */
	s.last_data_recv_ms = s.last_ack_recv_ms = 1000;
	ok(verdict_observe(&r, 0, p, &s, now + DAY + 1, &t) == STEP_LEFT_ALONE,
	   "even a 1s reported idle after the wrap");
	/* new segments: then a small idle is real */
	s.segs_in = 43;
	ok(verdict_observe(&r, 0, p, &s, now + DAY + 2, &t) == STEP_ACTIVE,
	   "new segments make it active");
	verdict_free(&r);
}

static void evidence_and_actions(void)
{
	struct verdict_table r;
	struct tracked *t;
	struct sock_rec s;
	uint64_t now = 5000 * S;

	verdict_init(&r);
	s = idle_rec(10, 120 * S, 3);
	s.timer = 2;
	s.probes = 3;
	s.expires_ms = 4000; /* its owner's next probe */
	ok(verdict_observe(&r, 0, &cfg->policies[0], &s, now, &t) == STEP_WAIT &&
	   t->reason == REASON_KEEPALIVE_EVIDENCE && t->state == TS_PROBING && !t->armed,
	   "owner's keepalives unanswered: its next probe awaited, none of ours");
	ok(t->look_at == now + 2000 && t->deadline > now + 4000,
	   "a look for a witness before it goes out, the verdict after");
	{
		uint64_t deadline = t->deadline;

		s.expires_ms = 2000; /* the owner's next probe, as the look reads it */
		ok(verdict_heard(t, &cfg->policies[0], now + 1900, &s, now + 2000) &&
		   t->deadline == deadline, "a witness at its own look: the deadline stands");
	}
	ok(!verdict_witnessed(t, 3), "a peer heard at the look: no witness while no probe followed");
	{
		struct verdict_table r2;
		struct tracked *t2;
		struct sock_rec s2 = idle_rec(11, 120 * S, 3);

		verdict_init(&r2);
		s2.timer = 2;
		s2.probes = 3;
		s2.expires_ms = UINT32_MAX - 1000; /* a timer due, not yet run: not 49 days */
		verdict_observe(&r2, 0, &cfg->policies[0], &s2, now, &t2);
		ok(t2->state == TS_PROBING && t2->deadline - now <= 2 * cfg->policies[0].interval_ms,
		   "an owner's timer's expiry past any interval: awaited an interval, not for ever");
		verdict_free(&r2);
	}
	s.probes = 4;
	ok(verdict_observe(&r, 0, &cfg->policies[0], &s, t->deadline, &t) == STEP_DEAD &&
	   t->reason == REASON_KEEPALIVE_EVIDENCE && t->probes_at_verdict == 4 &&
	   verdict_witnessed(t, 4), "one more unanswered after it: dead, with its witness");
	s = idle_rec(11, 120 * S, 3);
	s.timer = 1;
	s.unacked = 4;
	s.retransmits = 3;
	ok(verdict_observe(&r, 0, &cfg->policies[0], &s, now, &t) == STEP_ARM,
	   "unacked data retransmitted 3 times: no verdict on that (a second of loss)");
	s = idle_rec(14, 120 * S, 3);
	s.timer = 2;
	ok(verdict_observe(&r, 0, &cfg->policies[0], &s, now, &t) == STEP_ARM, "a suspect");
	t->state = TS_UNPROBEABLE;
	t->reason = REASON_OWNER_KEEPALIVE; /* its options were read: keepalive on */
	ok(verdict_observe(&r, 0, &cfg->policies[0], &s, now + 10 * S, &t) == STEP_LEFT_ALONE,
	   "its owner runs keepalive: left to it while its timer runs");
	s.probes = 3;
	s.probes = 1;
	verdict_observe(&r, 0, &cfg->policies[0], &s, now + 15 * S, &t);
	verdict_heard(t, &cfg->policies[0], now + 15 * S, &s, now + 15 * S); /* that listing: a
		peer heard, 1 of its probes out */
	s.probes = 3;
	ok(verdict_observe(&r, 0, &cfg->policies[0], &s, now + 20 * S, &t) == STEP_DEAD &&
	   t->reason == REASON_KEEPALIVE_EVIDENCE,
	   "and dead on its owner's unanswered probes, witnessed by an earlier listing");
	{
		const struct policy *p = &cfg->policies[0];
		struct tracked w = { .probing_since = 100, .deadline = 100000 };
		struct sock_rec f = { .timer = 2, .expires_ms = 500 };

		f.probes = 1;
		verdict_heard(&w, p, 99, &f, 200);
		ok(!w.witnessed, "heard before its probes began: no witness");
		f.probes = 2;
		verdict_heard(&w, p, 100, &f, 200);
		f.probes = 5;
		verdict_heard(&w, p, 150, &f, 200);
		ok(w.witnessed && w.witness_probes == 2, "the first after: kept");
		ok(!verdict_witnessed(&w, 2) && verdict_witnessed(&w, 3),
		   "a verdict needs a probe counted after it");
		w = (struct tracked){ .probing_since = 100, .deadline = 1000 };
		f.probes = 3;
		ok(verdict_heard(&w, p, 150, &f, 900) &&
		   w.deadline >= 900 + 500 + p->interval_ms / 2,
		   "a witness found just before the verdict: the verdict waits for the probe "
		   "after it, and half an interval more for its answer");
		w = (struct tracked){ .probing_since = 100, .deadline = 1000 };
		f.probes = 124;
		ok(!verdict_heard(&w, p, 150, &f, 900) && !w.witnessed && w.deadline == 1000,
		   "found late with no probe budget left: no witness (held, not killed)");
	}
	s = idle_rec(15, 120 * S, 3);
	s.timer = 2;
	verdict_observe(&r, 0, &cfg->policies[0], &s, now, &t);
	t->state = TS_UNPROBEABLE;
	t->reason = REASON_OWNER_KEEPALIVE;
	s.timer = 0;
	ok(verdict_observe(&r, 0, &cfg->policies[0], &s, now + 10 * S, &t) == STEP_ARM,
	   "its owner switched keepalive off: its options are read again");
	s = idle_rec(12, 120 * S, 3);
	ok(verdict_observe(&r, 1, &cfg->policies[1], &s, now, &t) == STEP_DEAD &&
	   t->reason == REASON_IDLE, "kill-idle: idle alone is enough");
	s = idle_rec(13, 10 * S, 3);
	ok(verdict_observe(&r, 1, &cfg->policies[1], &s, now, &t) == STEP_ACTIVE,
	   "kill-idle leaves recent peers");
	verdict_free(&r);
}

/* Jiffies after which a timer armed delta jiffies from now fires, at worst: the
 * timer wheel (kernel/time/timer.c) puts it in a bucket of its level's
 * granularity (1 jiffy under 63, then 8, 64, 512... each level 8 times the
 * last) and rounds its expiry up past the next bucket boundary. */
static uint64_t wheel_latest(uint64_t delta)
{
	uint64_t gran = 1, start = 63;

	while (delta >= start) {
		gran *= 8;
		start *= 8;
	}
	return delta + gran;
}

/* For every probes and interval a policy may have, at HZ 100, 250 and 1000: the
 * last probe has gone out, however late the wheel fires each, half an interval
 * before the deadline; and by the deadline the kernel cannot have counted the
 * 127 unanswered probes (KR_MAX_KEEPCNT) that end a connection on its own. */
static void deadlines(void)
{
	static const unsigned hzs[] = { 100, 250, 1000 };
	static const uint64_t intervals_s[] = { 1, 2, 3, 7, 10, 15, 30, 75, 300, 3600, KR_MAX_KEEPINTVL_S };
	unsigned late = 0, over = 0, cases = 0;

	for (size_t h = 0; h < sizeof(hzs) / sizeof(hzs[0]); h++)
		for (size_t i = 0; i < sizeof(intervals_s) / sizeof(intervals_s[0]); i++)
			for (unsigned n = 1; n <= KR_MAX_PROBES; n++) {
				struct policy p = { .probes = n, .interval_ms = intervals_s[i] * S };
				uint64_t hz = hzs[h], d = intervals_s[i] * hz, last = wheel_latest(0);
				uint64_t window = verdict_probe_window_ms(&p);

				for (unsigned k = 2; k <= n; k++)
					last += wheel_latest(d);
				cases++;
				if (last * 1000 / hz + p.interval_ms / 2 > window) {
					if (!late++)
						printf("# %u probes every %llus at HZ %llu: the last goes out "
						       "at %llums, the verdict is at %llums\n", n,
						       (unsigned long long)intervals_s[i], (unsigned long long)hz,
						       (unsigned long long)(last * 1000 / hz),
						       (unsigned long long)window);
				}
				/* on time, the kernel sends one at once and one each interval */
				if (1 + window / p.interval_ms >= KR_MAX_KEEPCNT && !over++)
					printf("# %u probes every %llus: the kernel counts 127 before the "
					       "verdict\n", n, (unsigned long long)intervals_s[i]);
			}
	is_u64(late, 0, "the last probe is out half an interval before the deadline, however late "
	       "the timer wheel (1-100 probes, 1 s-32767 s, HZ 100/250/1000)");
	is_u64(over, 0, "and the kernel never counts 127 unanswered probes before the verdict");
	ok(cases == 3 * 11 * KR_MAX_PROBES, "every case checked");
}

/* The kernel's count of unanswered probes outlives a restore: a round never has
 * more probes than keep the count, with all the kernel may send by the verdict,
 * 8 below the 127 at which it ends the connection under our arming. Half of those
 * that fit when the policy's do not, yet enough to bring the count to the
 * policy's; none, left alone, when not one fits. */
static void budget(void)
{
	static const uint64_t intervals_s[] = { 1, 2, 5, 10, 75, 600, KR_MAX_KEEPINTVL_S };
	const struct policy *p = &cfg->policies[0]; /* idle 60s, 5s x 3 */
	struct policy many = { .probes = KR_MAX_PROBES, .interval_ms = 1 * S };
	unsigned over = 0, rising = 0, short_of = 0, no_full = 0, cases = 0;
	struct verdict_table r;
	struct tracked *t;
	struct sock_rec s;
	uint64_t now = 1000 * S;

	for (size_t i = 0; i < sizeof(intervals_s) / sizeof(intervals_s[0]); i++)
		for (unsigned n = 1; n <= KR_MAX_PROBES; n++) {
			struct policy pol = { .probes = n, .interval_ms = intervals_s[i] * S };
			unsigned prev = n;

			no_full += verdict_round_probes(&pol, 0) != n;
			for (unsigned c = 0; c < KR_MAX_KEEPCNT; c++) {
				struct policy k = pol;

				k.probes = verdict_round_probes(&pol, c);
				cases++;
				rising += k.probes > prev;
				prev = k.probes;
				if (!k.probes)
					continue;
				/* on time, the kernel sends one at once and one each interval */
				over += c + 1 + verdict_probe_window_ms(&k) / k.interval_ms + 8 >=
					KR_MAX_KEEPCNT;
				short_of += c + k.probes < n;
			}
		}
	ok(!no_full && !over && !rising && !short_of && cases == 7 * KR_MAX_PROBES * KR_MAX_KEEPCNT,
	   "every policy (1-100 probes; 1, 2, 5, 10, 75, 600 and 32767 s), every count: the "
	   "policy's round on a count "
	   "of none; shorter rounds as the count grows; by the verdict, the count 8 below 127 at "
	   "least; a shorter round's verdict on the policy's count in a row at least");
	ok(verdict_round_probes(&many, 2) == 100 && verdict_round_probes(&many, 3) == 97 &&
	   verdict_round_probes(&many, 30) == 70 && verdict_round_probes(&many, 60) == 40,
	   "100 probes a second: all 100 on 2 counted; on 3, the 97 that bring it to 100 (99 "
	   "fit); on 30, 70 likewise (76 fit); on 60, 40 likewise (50 fit)");
	ok(verdict_round_probes(p, 114) == 3 && verdict_round_probes(p, 115) == 1 &&
	   verdict_round_probes(p, 116) == 1 && verdict_round_probes(p, 117) == 0,
	   "3 probes 5 s apart: 3 on 114 counted, 1 on 115 (2 fit) and 116, none on 117");
	verdict_init(&r);
	s = idle_rec(7, 100 * S, 10);
	s.probes = 117; /* rounds held by the breaker, each adding its probes */
	ok(verdict_observe(&r, 0, p, &s, now, &t) == STEP_LEFT_ALONE && t &&
	   t->reason == REASON_BUDGET_SPENT, "117 unanswered probes counted: not armed again");
	ok(verdict_observe(&r, 0, p, &s, now + 30 * S, &t) == STEP_LEFT_ALONE,
	   "nor the next round");
	s.probes = 0; /* its peer answered something: the kernel's count is reset */
	s.segs_in = 11;
	ok(verdict_observe(&r, 0, p, &s, now + 200 * S, &t) != STEP_LEFT_ALONE,
	   "heard from: no longer left alone");
	s = idle_rec(8, 100 * S, 10);
	s.probes = 3; /* one round's worth, not carried out: room for another */
	ok(verdict_observe(&r, 0, p, &s, now, &t) == STEP_ARM && t->round == 3,
	   "3 counted, 3 more to send: armed, for the policy's 3");
	t->holds = 3;
	s.segs_in++; /* an ACK alone (the peer's own keepalive): still idle */
	ok(verdict_observe(&r, 0, p, &s, now + 5 * S, &t) == STEP_ARM && t && t->holds == 0,
	   "its peer heard from, still idle: its holds start over");

	/* a shorter round: dead when its probes go unanswered */
	s = idle_rec(9, 100 * S, 10);
	s.probes = 115;
	ok(verdict_observe(&r, 0, p, &s, now, &t) == STEP_ARM && t->round == 1,
	   "115 counted: armed for a round of 1");
	verdict_armed(t, p, now);
	ok(t->deadline - now < verdict_probe_window_ms(p) &&
	   t->look_at == now + p->interval_ms - p->interval_ms / 2,
	   "its verdict comes sooner than a full round's, its look before its second probe");
	ok(verdict_observe(&r, 0, p, &s, t->deadline, &t) == STEP_INCONCLUSIVE,
	   "none out by the deadline: no verdict");
	t = armed_on(&r, p, 10, 10, 115, now, &s);
	s.probes = 116;
	ok(verdict_observe(&r, 0, p, &s, t->deadline, &t) == STEP_DEAD &&
	   t->reason == REASON_PROBES_UNANSWERED && t->probes_at_verdict == 1,
	   "unanswered: dead, on 1 probe of its own and 115 before");

	/* a witness with no probe counted since: one more, if two more fit */
	for (unsigned at = 115; at <= 117; at++) {
		t = armed_on(&r, p, 11 + at, 10, 112, now, &s);
		s.probes = (uint8_t)at; /* 3 or more out, the last seen by the look */
		t->witnessed = true;
		t->witness_probes = (uint8_t)at;
		ok(verdict_observe(&r, 0, p, &s, t->deadline, &t) == (at < 117 ? STEP_WAIT : STEP_DEAD),
		   "a witness at %u counted, no probe since: %s", at,
		   at < 117 ? "one more awaited (a whole round would not fit)" :
			      "no more fit, a verdict without its witness (held)");
	}

	/* a held verdict's pause: idle, doubling with each hold, at most 16 times */
	ok(verdict_hold_pause_ms(p, 1) == p->idle_ms && verdict_hold_pause_ms(p, 2) == 2 * p->idle_ms &&
	   verdict_hold_pause_ms(p, 5) == 16 * p->idle_ms &&
	   verdict_hold_pause_ms(p, 255) == 16 * p->idle_ms,
	   "held: proven again after idle, 2 idle, 4, 8, then 16 at most");
	verdict_free(&r);
}

int main(void)
{
	cfg = config_from("[global]\n"
			  "[policy p]\nidle = 60s\ninterval = 5s\nprobes = 3\n"
			  "[policy k]\nidle = 60s\naction = kill-idle\n");
	ok(cfg != NULL, "config loads");
	if (!cfg)
		return done_testing();
	lifecycle();
	deadlines();
	budget();
	wraparound();
	evidence_and_actions();
	config_free(cfg);
	return done_testing();
}
