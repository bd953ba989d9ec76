/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The per-cookie table of suspects and its verdict state machine. Pure: the caller
 * passes the time, does the I/O the returned step asks for, and reports back. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf.h"
#include "diagmsg.h"
#include "owner.h"
#include "policy.h"

enum track_state {
	TS_SUSPECT,               /* idle beyond policy, not yet probed */
	TS_ARMING,                /* journaled; the next listing arms it (arm) */
	TS_PROBING,               /* keepalive armed, verdict at deadline */
	TS_DEAD,                  /* verdict given, waiting to be reaped */
	TS_UNPROBEABLE,           /* not probed by kareaper (reason says why): left alone */
};

enum reason {
	REASON_NONE,
	REASON_PROBES_UNANSWERED,
	REASON_KEEPALIVE_EVIDENCE,
	REASON_IDLE,              /* action = kill-idle */
	REASON_RESET_ON_PROBE,
	REASON_CLOSED_WHILE_PROBING,
	REASON_ANSWERED,          /* alive */
	REASON_NO_OWNER,
	REASON_BUDGET_SPENT,      /* its unanswered probes near the kernel's limit */
	REASON_OWNER_KEEPALIVE,   /* its owner runs keepalive: judged on its probes only */
};

struct tracked {
	struct tracked *next;     /* hash chain */
	uint64_t cookie;
	struct sock_rec rec;      /* as last seen */
	int policy;
	enum track_state state;
	enum reason reason;
	uint64_t quiet_since;     /* our clock: when the peer last sent anything */
	uint64_t seen_scan;
	uint64_t armed_at, deadline;
	uint32_t armed_segs_in;
	uint8_t probes_base;      /* probes the kernel counted before we armed */
	uint8_t round;            /* probes this round: the policy's, or as many as
				   * fit below the kernel's limit */
	unsigned probes_left;     /* what kareaper's probes left counted at its
				   * hand-back (until the peer is heard from): not
				   * its owner's evidence */
	unsigned probes_at_verdict;
	uint64_t armed_bytes_in;  /* bytes_received when armed: an answer is an ack */
	/* The witness (witness.c, verdict_heard): the count read after a round
	 * trip was first seen completed after this socket's probes began, and
	 * when they began (armed_at, or for an owner's own probes the listing that
	 * first saw them) */
	uint64_t probing_since;
	uint8_t witness_probes;
	bool witnessed;
	uint8_t extended;         /* deadlines moved on for a probe after the witness */
	bool owners_probes;       /* TS_PROBING on its owner's probes, never armed */
	uint64_t look_at;         /* a look for a witness is due (0: none) */
	uint64_t held_at;         /* held (breaker, no witness): armed again only once
				   * its namespace is heard from after this, */
	uint64_t rearm_at;        /* and not before this */
	uint8_t holds;            /* held verdicts since its peer was last heard */
	struct owner owner;       /* pid 0: not known */
	struct ka_opts saved;     /* the owner's options, as read (the journal's) */
	struct ka_opts arm;       /* what kareaper writes (the journal's): TS_ARMING,
				   * what the next listing sets; armed, what it set */
	bool armed;               /* arm may be on it: hand it back */
	bool reported;            /* dry-run verdict already logged */
	bool budget_logged;       /* "probe budget spent" already logged */
	bool limited;             /* its dead verdict waited for the rate limits: armed
				   * again only when they would let one through */
	bool owner_logged;        /* "its owner runs keepalive" already logged */
	uint64_t work_gen;        /* engine's dedup of one round's work */
	uint32_t row;             /* engine's --once table row + 1; 0: none */
};

enum step {
	STEP_ACTIVE,              /* peer talked recently: nothing to do */
	STEP_ARM,                 /* find the owner and arm keepalive probes */
	STEP_WAIT,                /* probing; verdict later */
	STEP_ALIVE,               /* the peer answered: restore and forget */
	STEP_INCONCLUSIVE,        /* deadline passed without probes going out: restore, retry */
	STEP_DEAD,                /* reap (subject to limits) */
	STEP_LEFT_ALONE,          /* unprobeable (no owner, or its probe budget spent) */
};

struct verdict_table {
	struct tracked **buckets;
	size_t nbuckets, count;
	uint64_t scan_gen;
};

int verdict_init(struct verdict_table *r);
void verdict_free(struct verdict_table *r);
struct tracked *verdict_find(struct verdict_table *r, uint64_t cookie);
void verdict_forget(struct verdict_table *r, struct tracked *t);

/* Feed one matched socket; *tp gets its entry when one exists after the call. */
enum step verdict_observe(struct verdict_table *r, int policy_idx, const struct policy *p,
			 const struct sock_rec *s, uint64_t now, struct tracked **tp);
/* How many probes a round may have on a socket whose kernel counts probes_out
 * unanswered keepalive probes: the policy's; when they no longer fit, half of
 * those that do (so that a round held again leaves room for another), but at
 * least as many as bring the count to the policy's; none (0) when not one fits.
 * The count survives a restore (only an ACK resets it), and at KR_MAX_KEEPCNT
 * the kernel ends the connection under our arming, past every rail. So the
 * count, with every probe the kernel may send by the verdict, must stay below
 * that with a margin. */
unsigned verdict_round_probes(const struct policy *p, uint32_t probes_out);
/* A held verdict is proven again after a pause of the policy's idle, doubled for
 * each earlier hold since its peer was last heard, at most HOLD_DOUBLINGS times:
 * an outage the breaker holds spends the probe budget slowly. */
#define HOLD_DOUBLINGS 4
uint64_t verdict_hold_pause_ms(const struct policy *p, unsigned holds);
/* After arming: the verdict is due when t->round probes had time to go out. */
void verdict_armed(struct tracked *t, const struct policy *p, uint64_t now);
/* How late the kernel's timer wheel may fire a timer of ms, at worst. */
uint64_t verdict_timer_late_ms(uint64_t ms);
/* From arming to the verdict: time for every probe to go out, each interval as
 * late as the timer wheel may make it, and for the last one's answer. */
uint64_t verdict_probe_window_ms(const struct policy *p);

/* A peer elsewhere in t's namespace was heard from at heard_at (the latest
 * such), seen at now, when a query of t read fresh: a witness that the network
 * worked, if it came after t's probes began. The first such is kept, its count
 * fresh->probes; the deadline moves on so that the probe after it has time to be
 * answered (false, no witness: the probe budget would not allow that). */
bool verdict_heard(struct tracked *t, const struct policy *p, uint64_t heard_at,
		   const struct sock_rec *fresh, uint64_t now);
/* Out of TS_PROBING with no verdict carried out (held, rate limited,
 * inconclusive): a suspect, whose next verdict needs a witness of its own. */
void verdict_suspect_again(struct tracked *t, uint64_t now);
/* Whether a dead verdict at a count of probes has its witness: a probe that went
 * out after the network was seen working, unanswered. */
bool verdict_witnessed(const struct tracked *t, uint8_t probes);

/* Idle as kareaper believes it: the kernel's u32 counter, corrected for its wrap. */
uint64_t tracked_idle_ms(const struct tracked *t, uint64_t now);

const char *reason_name(enum reason r);
const char *track_state_name(enum track_state s);
