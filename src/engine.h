/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Rounds of work: a scan (list, match, classify, arm, reap what the kernel already
 * proves) or a batch of verdicts due, carried out through the backend and the rails.
 * Time is the event loop's CLOCK_MONOTONIC, in milliseconds. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "conf.h"
#include "report.h"
#include "stats.h"

struct engine;

struct engine_options {
	const struct backend_ops *backend;
	bool force_dry_run;       /* -n on the command line */
	bool keep_rows;           /* --once: every matched socket, for the table */
	bool once;                /* no listing after this one: arm at once */
};

/* Opens the namespaces, takes the probe journal and puts back what it holds. 0, or
 * -errno with a message in err and nothing allocated. */
int engine_new(struct config *cfg, const struct engine_options *o, struct engine **ret,
	       char *err, size_t errlen);
void engine_free(struct engine *e);
/* Take a new config: every armed socket is restored and verdicts start over. */
void engine_set_config(struct engine *e, struct config *cfg);

int engine_scan(struct engine *e, uint64_t now);
/* Verdicts for sockets whose probing deadline has passed. */
int engine_check_deadlines(struct engine *e, uint64_t now);
/* Earliest verdict deadline, UINT64_MAX if nothing is being probed. */
uint64_t engine_next_deadline(const struct engine *e);
/* Put back the owner's options on every socket still armed (on stop and reload). */
void engine_restore_all(struct engine *e);

/* Counters, with the gauges brought up to date. */
const struct stats *engine_stats(struct engine *e);
const struct report *engine_report(const struct engine *e);
