/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "rails.h"

unsigned rails_take_budget(struct rails *r, const struct config *c, unsigned want,
			   unsigned used_this_round, uint64_t now)
{
	unsigned allow;

	if (now - r->window_start >= 60000 || r->window_start == 0) {
		r->window_start = now ? now : 1;
		r->window_reaps = 0;
	}
	allow = want;
	if (used_this_round >= c->max_reaps_per_scan)
		allow = 0;
	else if (allow > c->max_reaps_per_scan - used_this_round)
		allow = c->max_reaps_per_scan - used_this_round;
	if (r->window_reaps >= c->max_reaps_per_minute)
		allow = 0;
	else if (allow > c->max_reaps_per_minute - r->window_reaps)
		allow = c->max_reaps_per_minute - r->window_reaps;
	r->window_reaps += allow;
	return allow;
}

unsigned rails_room(const struct rails *r, const struct config *c, uint64_t now)
{
	unsigned minute = now - r->window_start >= 60000 || r->window_start == 0 ? 0 :
			  r->window_reaps;
	unsigned room = c->max_reaps_per_minute > minute ? c->max_reaps_per_minute - minute : 0;

	return room < c->max_reaps_per_scan ? room : c->max_reaps_per_scan;
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
