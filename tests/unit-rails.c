/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The rails on their own: rate limits with a synthetic clock, the breaker, and the
 * decisions of a whole round. No engine, no sockets. */
#include "config.h"

#include <stdbool.h>

#include "rails.h"
#include "sockrec.h"
#include "tap.h"

#define S 1000ull

static struct config *cfg;

static void limits(void)
{
	struct rails r = { 0 };
	uint64_t now = 10 * S;

	/* max_reaps_per_scan = 3, max_reaps_per_minute = 5 */
	is_u64(rails_take_budget(&r, cfg, 10, 0, now), 3, "per-scan cap");
	is_u64(rails_take_budget(&r, cfg, 10, 3, now), 0, "nothing more this scan");
	is_u64(rails_take_budget(&r, cfg, 10, 0, now + S), 2, "per-minute cap: 5 - 3");
	is_u64(rails_take_budget(&r, cfg, 10, 0, now + 2 * S), 0, "minute exhausted");
	is_u64(rails_take_budget(&r, cfg, 10, 0, now + 61 * S), 3, "next minute");

	/* breaker_share = 50%, breaker_min_probes = 4 */
	ok(!rails_breaker_trips(cfg, 3, 0), "below the minimum: no trip");
	ok(rails_breaker_trips(cfg, 4, 0), "all of 4 dead: trip");
	ok(!rails_breaker_trips(cfg, 2, 2), "exactly half: no trip");
	ok(rails_breaker_trips(cfg, 3, 2), "3 of 5: trip");
	ok(!rails_breaker_trips(cfg, 20, 20), "20 dead among 40: no trip");
}

static unsigned count(const struct rail_item *it, size_t n, enum rail_decision d)
{
	unsigned c = 0;

	for (size_t i = 0; i < n; i++)
		c += it[i].decision == d;
	return c;
}

static void rounds(void)
{
	struct rails r = { 0 };
	struct rail_item it[6] = { 0 };
	struct rail_round rr;
	uint64_t now = 100 * S;

	/* 6 dead, 10 alive: no trip; 3 per scan, 5 per minute */
	rails_decide(&r, cfg, it, 6, 10, now, &rr);
	ok(!rr.tripped && rr.evidence_dead == 6, "6 dead among 16: no trip");
	is_u64(count(it, 6, RAIL_REAP), 3, "3 reaped (per scan)");
	is_u64(count(it, 6, RAIL_RATE_LIMITED), 3, "3 wait");
	is_u64(rr.limited, 3, "counted as limited");
	/* the 3 that waited, a second later: all dead, but below breaker_min_probes */
	rails_decide(&r, cfg, it, 3, 0, now + S, &rr);
	ok(!rr.tripped, "3 dead of 3: below the breaker's minimum, no trip");
	is_u64(count(it, 3, RAIL_REAP), 2, "2 more reaped: the minute's 5 are used up");
	is_u64(count(it, 3, RAIL_RATE_LIMITED), 1, "the last waits for the next minute");
}

static void breaker_and_dry(void)
{
	struct rails r = { 0 };
	struct rail_item it[5] = {
		{ .dry = false }, { .dry = false }, { .dry = false }, { .dry = true },
		{ .idle_only = true },
	};
	struct rail_round rr;

	rails_decide(&r, cfg, it, 5, 0, 1000 * S, &rr);
	ok(rr.tripped && rr.evidence_dead == 4, "4 evidence-dead, none alive: tripped");
	is_u64(count(it, 5, RAIL_HELD), 4, "every evidence verdict held, dry run included");
	ok(it[4].decision == RAIL_REAP, "kill-idle is not the breaker's to hold");

	struct rail_item d[3] = { { .dry = true }, { .dry = true, .reported = true }, { 0 } };

	rails_decide(&r, cfg, d, 3, 10, 2000 * S, &rr);
	ok(!rr.tripped && rr.evidence_dead == 2, "already reported dry-run verdicts not counted again");
	ok(d[0].decision == RAIL_WOULD_REAP && d[1].decision == RAIL_WOULD_REAP,
	   "dry run: would reap, never reap");
	ok(d[2].decision == RAIL_REAP, "the real one is reaped");
}

/* A verdict without its witness is held, whatever the breaker's count says. */
static void witness(void)
{
	struct rails r = { 0 };
	struct rail_item it[4] = {
		{ .unwitnessed = true }, { .unwitnessed = true, .dry = true }, { 0 },
		{ .unwitnessed = true, .idle_only = true },
	};
	struct rail_round rr;

	rails_decide(&r, cfg, it, 4, 0, 5000 * S, &rr);
	ok(!rr.tripped && rr.unwitnessed == 2, "2 unwitnessed of 3: below the minimum, "
	   "no trip, 2 held for want of a witness");
	ok(it[0].decision == RAIL_HELD && it[1].decision == RAIL_HELD,
	   "held, dry run included (nothing to report would-reap on)");
	ok(it[2].decision == RAIL_REAP, "the witnessed one is reaped");
	ok(it[3].decision == RAIL_REAP, "kill-idle needs no witness");
}

int main(void)
{
	cfg = config_from("[global]\n"
			  "max_reaps_per_scan = 3\n"
			  "max_reaps_per_minute = 5\n"
			  "breaker_share = 50%\n"
			  "breaker_min_probes = 4\n"
			  "[policy p]\nidle = 60s\ninterval = 5s\nprobes = 3\n");
	ok(cfg != NULL, "config loads");
	if (!cfg)
		return done_testing();
	limits();
	rounds();
	breaker_and_dry();
	witness();
	config_free(cfg);
	return done_testing();
}
