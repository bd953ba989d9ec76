/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "report.h"

static const char *const verdict_names[] = {
	[V_ACTIVE] = "active",
	[V_IGNORED] = "ignored",
	[V_SUSPECT] = "suspect",
	[V_PROBING] = "probing",
	[V_LEFT_ALONE] = "left alone",
	[V_ALIVE] = "alive",
	[V_INCONCLUSIVE] = "suspect, no probe went out",
	[V_GONE] = "gone",
	[V_HELD] = "dead, held by breaker",
	[V_WOULD_REAP] = "would reap",
	[V_RATE_LIMITED] = "dead, rate-limited",
	[V_REAPED] = "reaped",
	[V_ERROR] = "destroy failed",
};

void report_init(struct report *r)
{
	memset(r, 0, sizeof(*r));
}

void report_finalise(struct report *r)
{
	free(r->rows);
	free(r->names);
	free(r->comms);
	memset(r, 0, sizeof(*r));
}

void report_clear(struct report *r)
{
	r->n = 0;
}

void report_truncate(struct report *r, size_t mark)
{
	if (mark < r->n)
		r->n = mark;
}

/* Index of a name in a small table of distinct names, added when new; the last one
 * is checked first (rows come in runs of one namespace, one owner). */
static uint32_t intern(void *tablep, size_t *n, size_t width, const char *name)
{
	char **table = tablep, *t = *table, *nt;

	if (*n && strncmp(t + (*n - 1) * width, name, width) == 0)
		return (uint32_t)(*n - 1);
	for (size_t i = 0; i < *n; i++)
		if (strncmp(t + i * width, name, width) == 0)
			return (uint32_t)i;
	nt = realloc(t, (*n + 1) * width);
	if (!nt)
		return UINT32_MAX;
	*table = nt;
	snprintf(nt + *n * width, width, "%s", name);
	return (uint32_t)(*n)++;
}

uint32_t report_add(struct report *r, int policy, const struct sock_rec *s, const char *netns,
		    uint64_t idle_ms)
{
	struct report_row *row;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		struct report_row *n = realloc(r->rows, cap * sizeof(*n));

		if (!n)
			return 0;
		r->rows = n;
		r->cap = cap;
	}
	row = &r->rows[r->n++];
	memset(row, 0, sizeof(*row));
	memcpy(row->local, s->local.a, sizeof(row->local));
	memcpy(row->peer, s->peer.a, sizeof(row->peer));
	row->family = (uint8_t)s->local.family;
	row->lport = s->lport;
	row->rport = s->rport;
	row->state = s->state;
	row->policy = (uint16_t)policy;
	row->ns = (uint16_t)intern(&r->names, &r->nnames, sizeof(*r->names), netns);
	row->inode = s->inode;
	row->idle_s = (uint32_t)(idle_ms / 1000);
	row->verdict = V_ACTIVE;
	row->comm = UINT32_MAX;
	return (uint32_t)r->n;
}

struct report_row *report_row(struct report *r, uint32_t id)
{
	return id && id <= r->n ? &r->rows[id - 1] : NULL;
}

void report_set(struct report *r, uint32_t id, enum row_verdict v, enum reason why,
		uint64_t idle_ms)
{
	struct report_row *row = report_row(r, id);

	if (row) {
		row->verdict = (uint8_t)v;
		row->why = (uint8_t)why;
		row->idle_s = (uint32_t)(idle_ms / 1000);
	}
}

void report_set_owner(struct report *r, uint32_t id, pid_t pid, const char *comm)
{
	struct report_row *row = report_row(r, id);

	if (row && pid > 0) {
		row->pid = pid;
		row->comm = intern(&r->comms, &r->ncomms, sizeof(*r->comms), comm ? comm : "?");
	}
}

void report_print(const struct report *r, const struct config *c, const struct stats *st,
		  FILE *f)
{
	char l[KADDR_STRLEN], p[KADDR_STRLEN], idle[DURATION_STRLEN], owner[40];
	bool show_ns = c->namespaces != NS_SELF;
	size_t active = 0;

	if (show_ns)
		fprintf(f, "%-16s ", "NETNS");
	fprintf(f, "%-12s %-26s %-26s %-11s %-10s %-22s %s\n", "POLICY", "LOCAL", "PEER",
		"STATE", "IDLE", "OWNER", "VERDICT");
	for (size_t i = 0; i < r->n; i++) {
		const struct report_row *row = &r->rows[i];
		struct kaddr la = { .family = row->family }, pa = { .family = row->family };
		const char *why = row->why != REASON_NONE ? reason_name(row->why) : NULL;

		memcpy(la.a, row->local, sizeof(la.a));
		memcpy(pa.a, row->peer, sizeof(pa.a));
		if (row->pid)
			snprintf(owner, sizeof(owner), "%d/%s", (int)row->pid,
				 row->comm < r->ncomms ? r->comms[row->comm] : "?");
		else
			snprintf(owner, sizeof(owner), "-");
		active += row->verdict == V_ACTIVE;
		if (show_ns)
			fprintf(f, "%-16s ", row->ns < r->nnames ? r->names[row->ns] : "?");
		fprintf(f, "%-12s %-26s %-26s %-11s %-10s %-22s %s%s%s%s\n",
			c->policies[row->policy].name,
			kaddr_format(&la, row->lport, l, sizeof(l)),
			kaddr_format(&pa, row->rport, p, sizeof(p)), tcp_state_name(row->state),
			format_duration((uint64_t)row->idle_s * 1000, idle, sizeof(idle)), owner,
			verdict_names[row->verdict], why ? " (" : "", why ? why : "", why ? ")" : "");
	}
	fprintf(f, "# %llu sockets scanned, %zu matched, %zu active, %llu probed, %llu alive, "
		"%llu reaped, %llu would be reaped, %llu gone, %llu left alone\n",
		(unsigned long long)st->scanned, r->n, active,
		(unsigned long long)st->probes_armed, (unsigned long long)st->alive,
		(unsigned long long)st->reaped, (unsigned long long)st->would_reap,
		(unsigned long long)st->gone, (unsigned long long)st->unprobeable);
}

void report_status(const struct stats *st, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%llu scans, %llu sockets in the last; %zu suspect, %zu probing; "
			 "%llu alive, %llu reaped, %llu would reap so far",
			 (unsigned long long)st->scans, (unsigned long long)st->last_scanned,
			 st->suspect_now, st->probing_now, (unsigned long long)st->alive,
			 (unsigned long long)st->reaped, (unsigned long long)st->would_reap);

	if (st->errors && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "; %llu errors, last: %s",
			 (unsigned long long)st->errors, st->last_error);
}

const char *error_kind_name(enum error_kind k)
{
	static const char *const names[] = {
		[ERR_DUMP] = "dump",
		[ERR_QUERY] = "query",
		[ERR_DESTROY] = "destroy",
		[ERR_RESTORE] = "restore",
		[ERR_JOURNAL] = "journal",
		[ERR_MEMORY] = "memory",
	};

	return k < ERR_KIND_COUNT ? names[k] : "?";
}
