/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the engine's stages share (engine.c, listing.c, reach.c, arming.c,
 * reaping.c, handback.c): the engine's state and each stage's calls. Not for
 * anything outside the engine. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "array.h"
#include "engine.h"
#include "journal.h"
#include "netns.h"
#include "policy.h"
#include "rails.h"
#include "service.h"
#include "verdict.h"

/* An entry needing action this round. */
struct work_item {
	struct tracked *t;        /* NULL once forgotten */
	enum step step;
	bool journaled;           /* STEP_ARM: its owner's options are in the journal */
	bool waits;               /* STEP_ARM: over max_probes_per_scan, for a later round */
};

struct engine {
	struct config *cfg;
	const struct backend_ops *ops;
	bool force_dry_run, keep_rows, once;
	struct netns_set netns;
	struct netns *cur;        /* the one being listed */
	struct verdict_table verdicts;
	struct journal journal;   /* every socket whose options we may have changed */
	struct rails rails;
	struct report report;
	struct scan_filter filter;
	uint8_t bc[4096];
	uint64_t min_idle_ms;
	struct stats stats;
	uint64_t *reaped_by;      /* [policy][reason] since the config was loaded */

	/* one round */
	struct work_item *work;
	size_t nwork, capwork;
	uint64_t work_gen;
	struct sock_rec *deferred; /* matched only once their owner is known */
	size_t ndeferred, capdeferred;
	uint64_t *keep;           /* cookies tracked in the namespace being listed */
	size_t nkeep, capkeep;
	struct sock_op *carry;    /* and the ops its listing carries (carries_ops) */
	struct tracked **carry_t;
	size_t ncarry, capcarry, capcarry_t;
	size_t carried_round;     /* arming carried by this round's listings */
	uint64_t now;             /* the round's start, on the caller's clock */
	uint64_t now_real;        /* the same moment on CLOCK_MONOTONIC */
	size_t owners_unreadable; /* processes the latest owner lookup could not read */
};

/* engine.c: shared helpers */
struct backend *backend_in(const struct engine *e, uint64_t netns);
struct backend *backend_of(const struct engine *e, const struct tracked *t);
__attribute__((format(printf, 3, 4)))
void count_error(struct engine *e, enum error_kind k, const char *fmt, ...);
bool dry(const struct engine *e, const struct policy *p);
struct sock_event event_of(const struct engine *e, const struct tracked *t,
			   const char *reason);
void forget(struct engine *e, struct work_item *w);
const struct policy *pol(const struct engine *e, int idx);
uint64_t round_clock(const struct engine *e);
void row_verdict(struct engine *e, const struct tracked *t, enum row_verdict v,
		 enum reason why);
void work_add(struct engine *e, struct tracked *t, enum step step);

/* listing.c */
void listing_carried(struct engine *e);
void fill_owners(struct engine *e);
void list_namespace(struct engine *e, struct netns *n);
void sweep(struct engine *e);

/* witness.c */
void witness_listed(struct engine *e, struct netns *n, uint32_t heard_ms);
void witness_looks(struct engine *e);
void witness_held_looks(struct engine *e);
void witness_answered(struct engine *e, const struct tracked *t);
uint64_t witness_next(const struct tracked *t);
bool witness_heard_since(const struct engine *e, const struct tracked *t);

/* reach.c */
bool not_reached(int r);
/* Of the n ops in namespace ino, those not reached (not_reached) proven gone or
 * not by an exact query through be. */
void ops_confirm(struct engine *e, struct backend *be, uint64_t ino, struct sock_op *ops,
		 size_t n);
int query_tracked(struct engine *e, const struct tracked *t, struct sock_rec *fresh);
void run_ops(struct engine *e, struct sock_op *ops, size_t n, bool search);
bool socket_gone(int r);

/* arming.c */
void arm_result(struct engine *e, struct tracked *t, int r);
void arm_round(struct engine *e);
void budget_spent(struct engine *e, struct tracked *t);
bool arm_carried(const struct engine *e, const struct tracked *t);
void owner_keepalive(struct engine *e, struct tracked *t);

/* reaping.c */
void gone_while_probing(struct engine *e, struct tracked *t, int query_r);
unsigned process_work(struct engine *e);
void reap_dead(struct engine *e, unsigned probed_alive);

/* handback.c */
void disarm(struct engine *e, struct tracked *t);
void disarm_all(struct engine *e, struct tracked **ts, size_t n);
struct sock_op handback_op(struct tracked *t);
void journal_move(struct engine *e);
int journal_start(struct engine *e, char *errbuf, size_t errlen);
void restore_journaled(struct engine *e, bool all);
void restored(struct engine *e, struct tracked *t, const struct sock_op *op);
void sync_journal(struct engine *e);
void unqueue(struct engine *e);
