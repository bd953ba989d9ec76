/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The --once table: one row per matched socket with its verdict, and the STATUS
 * line. The engine adds and updates rows; printing reads only the rows and a
 * snapshot of the counters. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "conf.h"
#include "diagmsg.h"
#include "stats.h"
#include "verdict.h"

enum row_verdict {
	V_ACTIVE, V_IGNORED, V_SUSPECT, V_PROBING, V_LEFT_ALONE, V_ALIVE, V_INCONCLUSIVE,
	V_GONE, V_HELD, V_WOULD_REAP, V_RATE_LIMITED, V_REAPED, V_ERROR,
};

/* One matched socket; compact, there may be 100 000 of them. */
struct report_row {
	uint8_t local[16], peer[16];
	uint8_t family, state;
	uint8_t verdict;          /* enum row_verdict */
	uint8_t why;              /* enum reason; REASON_NONE: nothing to add */
	uint16_t lport, rport;
	uint16_t policy;
	uint16_t ns;              /* index into the report's namespace names */
	uint32_t inode;
	uint32_t idle_s;
	uint32_t comm;            /* index into the report's process names */
	pid_t pid;
};

/* Rows in blocks that never move: a table of a million rows grows without
 * copying itself, and each block fits where freed memory is. */
#define REPORT_BLOCK 1024

struct report {
	struct report_row **blocks;
	size_t n, nblocks, capblocks;
	char (*names)[64];        /* namespaces */
	size_t nnames;
	char (*comms)[16];        /* processes */
	size_t ncomms;
};

void report_init(struct report *r);
void report_finalise(struct report *r);
void report_clear(struct report *r);
/* A new row (ACTIVE); returns its id (index + 1), 0 when out of memory. */
uint32_t report_add(struct report *r, int policy, const struct sock_rec *s, const char *netns,
		    uint64_t idle_ms);
/* Rows added since mark are dropped (a listing that starts over). */
void report_truncate(struct report *r, size_t mark);
struct report_row *report_row(struct report *r, uint32_t id);
/* Row i; its block must be there (i < r->nblocks * REPORT_BLOCK). */
static inline struct report_row *report_at(const struct report *r, size_t i)
{
	return &r->blocks[i / REPORT_BLOCK][i % REPORT_BLOCK];
}
void report_set(struct report *r, uint32_t id, enum row_verdict v, enum reason why,
		uint64_t idle_ms);
void report_set_owner(struct report *r, uint32_t id, pid_t pid, const char *comm);

void report_print(const struct report *r, const struct config *c, const struct stats *st,
		  FILE *f);
/* One JSON object per row on a line, every column a typed field, then a summary
 * object: {"summary":{...}}. */
void report_print_json(const struct report *r, const struct config *c, const struct stats *st,
		       FILE *f);
void report_status(const struct stats *st, char *buf, size_t len);
