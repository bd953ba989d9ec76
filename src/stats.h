/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the engine counts, as the report, STATUS and the metrics read it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "verdict.h"

#define REASON_COUNT (REASON_OWNER_KEEPALIVE + 1)

/* What went wrong, for kareaper_errors_total{kind=...} and STATUS. */
enum error_kind {
	ERR_DUMP,                 /* listing a namespace's sockets */
	ERR_QUERY,                /* asking after one probed socket */
	ERR_DESTROY,
	ERR_ARM,                  /* arming one suspect */
	ERR_RESTORE,              /* putting an owner's options back */
	ERR_JOURNAL,              /* reading or writing the probe journal */
	ERR_MEMORY,
	ERR_KIND_COUNT,
};
const char *error_kind_name(enum error_kind k);

struct stats {
	uint64_t last_scanned;    /* sockets the last scan saw */
	uint64_t last_scan_ms;    /* how long it took */
	uint64_t scans, scanned, matched, suspects, probes_armed, alive, reaped, would_reap,
		gone, rate_limited, breaker_trips, unprobeable, held, errors;
	uint64_t errors_by[ERR_KIND_COUNT];
	char last_error[160];     /* the latest, for STATUS; "" when none */
	/* gauges, as of the snapshot */
	size_t namespaces, suspect_now, probing_now;
	size_t namespaces_user;   /* other user namespaces' ones, not watched */
	size_t namespaces_short;  /* not watched for want of descriptors */
	/* [policy * REASON_COUNT + reason], since the config was loaded */
	const uint64_t *reaped_by;
	size_t n_policies;
};
