/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One network namespace's scans, probes and reaps: the I/O around reaper.c. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "prober.h"
#include "reaper.h"
#include "sockdiag.h"

struct table_row;

/* A network namespace being watched, with its own pair of netlink sockets. */
struct netns {
	uint64_t ino;             /* identity: inode of its nsfs file */
	char name[64];            /* /run/netns name, owning process comm, or "self" */
	struct sockdiag diag, destroy;
	bool seen;                /* found by the latest discovery */
	bool dumped;              /* its latest dump completed */
};

struct engine_stats {
	uint64_t last_scanned;    /* sockets the last scan saw */
	uint64_t last_scan_ms;    /* how long it took */
	uint64_t scans, scanned, matched, suspects, probes_armed, alive, reaped, would_reap,
		gone, rate_limited, breaker_trips, unprobeable, errors;
};

struct engine {
	struct config *cfg;
	bool force_dry_run;       /* -n on the command line */
	const char *proc;         /* "/proc" */
	struct netns **ns;
	size_t nns;
	struct netns *cur;        /* the one being dumped */
	int self_fd;              /* our own network namespace, to return to */
	uint64_t self_ino;
	struct reaper table;
	uint8_t bc[4096];
	int bclen;                /* 0: no kernel filter */
	uint32_t states;          /* union of the policies' states */
	uint64_t min_idle_ms;
	struct engine_stats stats;
	uint64_t *reaped_by;      /* [policy][reason] since the config was loaded */

	/* --once: every matched socket, printed at the end */
	bool keep_rows;
	struct table_row *rows;
	size_t nrows, caprows;

	/* per scan, private to engine.c */
	struct work_item {
		struct tracked *t; /* NULL once forgotten */
		enum step step;
	} *work;
	size_t nwork, capwork;
	uint64_t work_gen;
	struct sock_rec *deferred;
	size_t ndeferred, capdeferred;
	uint64_t now;
	int retries;
};

int engine_init(struct engine *e, struct config *cfg, bool force_dry_run, bool keep_rows);
void engine_free(struct engine *e);
/* Take a new config: every armed socket is restored and verdicts start over. */
void engine_set_config(struct engine *e, struct config *cfg);

/* A full scan: dump, match, classify, arm, reap what the kernel already proves. */
int engine_scan(struct engine *e, uint64_t now);
/* Verdicts for sockets whose probing deadline has passed. */
int engine_check_deadlines(struct engine *e, uint64_t now);
/* Earliest verdict deadline, UINT64_MAX if nothing is being probed. */
uint64_t engine_next_deadline(const struct engine *e);
size_t engine_count(const struct engine *e, enum track_state st);
/* Put back the owner's options on every socket still armed (on stop and reload). */
void engine_restore_all(struct engine *e);
void engine_print_table(struct engine *e, FILE *f);
void engine_status(const struct engine *e, char *buf, size_t len);
/* Prometheus text format, written to path.tmp and renamed over path. */
int engine_write_metrics(const struct engine *e, const char *path);

/* Make a loopback pair and destroy it with SOCK_DESTROY: proves the kernel and our
 * privileges allow what reaping needs. 0, or -errno with a message in err. */
int engine_self_test(struct engine *e, char *err, size_t len);

uint64_t now_ms(void);
