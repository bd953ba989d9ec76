/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The safety rails: of one round's dead verdicts, which may be carried out. The
 * circuit breaker holds a round in which too many look dead at once, and every
 * verdict without its witness; the rate limits make the excess wait, dry run
 * only reports. Pure: time is an argument. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

struct rails {
	uint64_t window_start;    /* per-minute limit, fixed window */
	unsigned window_reaps;
};

enum rail_decision {
	RAIL_REAP,
	RAIL_WOULD_REAP,          /* dry run */
	RAIL_HELD,                /* breaker tripped */
	RAIL_RATE_LIMITED,        /* wait for a later round */
};

struct rail_item {
	bool dry;                 /* in: dry run for this socket */
	bool idle_only;           /* in: action = kill-idle (no evidence, not breaker-held) */
	bool reported;            /* in: already reported as would-reap (not counted again) */
	bool unwitnessed;         /* in: no probe went out after the network was seen
				   * working (witness.c): held */
	enum rail_decision decision; /* out */
};

struct rail_round {
	bool tripped;
	unsigned evidence_dead;   /* dead by probes or kernel evidence, new this round */
	unsigned unwitnessed;     /* of those, held for want of a witness */
	unsigned limited;
};

/* Decide every item of a round; probed_alive: this round's probes answered. */
void rails_decide(struct rails *r, const struct config *c, struct rail_item *items, size_t n,
		  unsigned probed_alive, uint64_t now, struct rail_round *out);

/* Reaps allowed now under both limits; counts them when taken. */
unsigned rails_take_budget(struct rails *r, const struct config *c, unsigned want,
			   unsigned used_this_round, uint64_t now);
/* Reaps the limits would allow now (none taken). */
unsigned rails_room(const struct rails *r, const struct config *c, uint64_t now);
/* Circuit breaker: too many of this round's verdicts say dead. */
bool rails_breaker_trips(const struct config *c, unsigned dead, unsigned alive);
