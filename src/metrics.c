/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "fileio.h"
#include "metrics.h"

static void metric(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
		(unsigned long long)v);
}

/* Label values are policy names ([A-Za-z0-9_.-]) and fixed reason words: no
 * escaping needed. */
int metrics_render(const struct stats *st, const struct config *c, char **ret, size_t *retlen)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int r = 0;

	f = open_memstream(&buf, &len);
	if (!f)
		return -errno;
	metric(f, "kareaper_scans_total", "counter", "Full scans of the socket tables.", st->scans);
	metric(f, "kareaper_sockets_scanned", "gauge", "Sockets listed by the last scan.",
	       st->last_scanned);
	metric(f, "kareaper_scan_duration_milliseconds", "gauge",
	       "Time the last scan took, probes and reaps included.", st->last_scan_ms);
	metric(f, "kareaper_namespaces", "gauge", "Network namespaces watched.", st->namespaces);
	fprintf(f, "# HELP kareaper_namespaces_unwatched Network namespaces found and not "
		   "watched, by why.\n"
		   "# TYPE kareaper_namespaces_unwatched gauge\n"
		   "kareaper_namespaces_unwatched{reason=\"user-namespace\"} %zu\n"
		   "kareaper_namespaces_unwatched{reason=\"descriptors\"} %zu\n",
		   st->namespaces_user, st->namespaces_short);
	metric(f, "kareaper_suspects", "gauge",
	       "Connections idle beyond their policy, not yet probed or left alone.",
	       st->suspect_now);
	metric(f, "kareaper_probing", "gauge", "Connections with keepalive probes armed.",
	       st->probing_now);
	metric(f, "kareaper_probes_armed_total", "counter", "Connections probed.",
	       st->probes_armed);
	metric(f, "kareaper_alive_total", "counter", "Probed peers that answered.", st->alive);
	metric(f, "kareaper_would_reap_total", "counter", "Dead connections left alone by dry run.",
	       st->would_reap);
	metric(f, "kareaper_gone_total", "counter",
	       "Connections that ended while probed (reset by the peer, or closed).", st->gone);
	metric(f, "kareaper_rate_limited_total", "counter",
	       "Dead connections made to wait by the rate limits.", st->rate_limited);
	metric(f, "kareaper_breaker_trips_total", "counter",
	       "Rounds in which the circuit breaker held dead verdicts (too many at once, "
	       "or without a witness).",
	       st->breaker_trips);
	metric(f, "kareaper_unprobeable_total", "counter",
	       "Connections left alone for want of a reachable owner.", st->unprobeable);
	fprintf(f, "# HELP kareaper_errors_total Failures, by what failed.\n"
		   "# TYPE kareaper_errors_total counter\n");
	for (int k = 0; k < ERR_KIND_COUNT; k++)
		fprintf(f, "kareaper_errors_total{kind=\"%s\"} %llu\n",
			error_kind_name((enum error_kind)k), (unsigned long long)st->errors_by[k]);
	fprintf(f, "# HELP kareaper_reaped_total Connections destroyed, by policy and reason.\n"
		   "# TYPE kareaper_reaped_total counter\n");
	for (size_t p = 0; p < c->n_policies && p < st->n_policies; p++)
		for (int why = 0; why < REASON_COUNT; why++) {
			uint64_t v = st->reaped_by ? st->reaped_by[p * REASON_COUNT + why] : 0;

			if (v)
				fprintf(f, "kareaper_reaped_total{policy=\"%s\",reason=\"%s\"} %llu\n",
					c->policies[p].name, reason_name((enum reason)why),
					(unsigned long long)v);
		}
	if (ferror(f))
		r = -ENOMEM;
	if (fclose(f) != 0 && r == 0)
		r = -ENOMEM;
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret = buf;
	*retlen = len;
	return 0;
}

int metrics_write(const char *path, const char *text, size_t len)
{
	/* readable by node_exporter, whatever the service's umask */
	return atomic_replace_path(path, text, len, 0644);
}
