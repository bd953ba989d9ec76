/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "rails.h"

static bool window_over(const struct rails *r, uint64_t now)
{
	return r->window_start == 0 || now - r->window_start >= 60000;
}

/* What the limits let through now: what is left of the round's and the minute's. */
static unsigned allowance(const struct rails *r, const struct config *c, unsigned used,
			  uint64_t now)
{
	unsigned minute = window_over(r, now) ? 0 : r->window_reaps;
	unsigned scan = used < c->max_reaps_per_scan ? c->max_reaps_per_scan - used : 0;
	unsigned room = c->max_reaps_per_minute > minute ? c->max_reaps_per_minute - minute : 0;

	return scan < room ? scan : room;
}

unsigned rails_take_budget(struct rails *r, const struct config *c, unsigned want,
			   unsigned used_this_round, uint64_t now)
{
	unsigned allow = allowance(r, c, used_this_round, now);

	if (window_over(r, now)) {
		r->window_start = now ? now : 1;
		r->window_reaps = 0;
	}
	if (allow > want)
		allow = want;
	r->window_reaps += allow;
	return allow;
}

unsigned rails_room(const struct rails *r, const struct config *c, uint64_t now)
{
	return allowance(r, c, 0, now);
}

bool rails_breaker_trips(const struct config *c, unsigned dead, unsigned alive)
{
	unsigned total = dead + alive;

	if (total < c->breaker_min)
		return false;
	return (uint64_t)dead * 100 > (uint64_t)c->breaker_share * total;
}

void rails_decide(struct rails *r, const struct config *c, struct rail_item *items, size_t n,
		  unsigned probed_alive, uint64_t now, struct rail_round *out)
{
	unsigned used = 0;

	*out = (struct rail_round){ 0 };
	for (size_t i = 0; i < n; i++)
		out->evidence_dead += !items[i].reported && !items[i].idle_only;
	out->tripped = rails_breaker_trips(c, out->evidence_dead, probed_alive);
	for (size_t i = 0; i < n; i++) {
		struct rail_item *it = &items[i];

		if ((out->tripped || it->unwitnessed) && !it->idle_only) {
			it->decision = RAIL_HELD;
			out->unwitnessed += it->unwitnessed && !out->tripped;
		} else if (it->dry) {
			it->decision = RAIL_WOULD_REAP;
		} else if (rails_take_budget(r, c, 1, used, now) == 0) {
			it->decision = RAIL_RATE_LIMITED;
			out->limited++;
		} else {
			it->decision = RAIL_REAP;
			used++;
		}
	}
}
