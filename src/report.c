/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "array.h"
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
	for (size_t i = 0; i < r->nblocks; i++)
		free(r->blocks[i]);
	free(r->blocks);
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

	if (r->n == r->nblocks * REPORT_BLOCK) {
		struct report_row *b;

		if (array_grow(&r->blocks, &r->capblocks, r->nblocks, sizeof(*r->blocks)) < 0)
			return 0;
		b = malloc(REPORT_BLOCK * sizeof(*b));
		if (!b)
			return 0;
		r->blocks[r->nblocks++] = b;
	}
	row = report_at(r, r->n++);
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
	return id && id <= r->n ? report_at(r, id - 1) : NULL;
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

static void row_addrs(const struct report_row *row, char l[KADDR_STRLEN], char p[KADDR_STRLEN])
{
	struct kaddr la = { .family = row->family }, pa = { .family = row->family };

	memcpy(la.a, row->local, sizeof(la.a));
	memcpy(pa.a, row->peer, sizeof(pa.a));
	kaddr_format(&la, row->lport, l, KADDR_STRLEN);
	kaddr_format(&pa, row->rport, p, KADDR_STRLEN);
}

/* "pid/comm" or "-", the name escaped (any process names itself as it likes, and
 * the operator reads this on a terminal); buf of OWNER_STRLEN. */
#define OWNER_STRLEN (12 + STR_ESCAPED_MAX(sizeof(((struct report *)0)->comms[0])))
static void row_owner(const struct report *r, const struct report_row *row, char *buf)
{
	if (row->pid > 0) {
		buf = put_uint(buf, (unsigned)row->pid);
		*buf++ = '/';
		str_escape(row->comm < r->ncomms ? r->comms[row->comm] : "?", buf, OWNER_STRLEN - 12);
	} else {
		strcpy(buf, "-");
	}
}

/* s at p, padded with spaces to w columns, then one space (printf's "%-*s "
 * without printf: the table has a row per socket). */
static char *cell(char *p, const char *s, int w)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	p += n;
	for (; (int)n < w; n++)
		*p++ = ' ';
	*p++ = ' ';
	return p;
}

static const char *row_netns(const struct report *r, const struct report_row *row)
{
	return row->ns < r->nnames ? r->names[row->ns] : "?";
}

/* The namespace's name (a /run/netns entry's, or a process's) as the table shows
 * it: escaped; buf of NETNS_STRLEN. */
#define NETNS_STRLEN STR_ESCAPED_MAX(sizeof(((struct report *)0)->names[0]))
static const char *row_netns_shown(const struct report *r, const struct report_row *row,
				   char *buf)
{
	return str_escape(row_netns(r, row), buf, NETNS_STRLEN);
}

static int max_int(int a, size_t b)
{
	return (size_t)a > b ? a : (int)b;
}

void report_print(const struct report *r, const struct config *c, const struct stats *st,
		  FILE *f)
{
	char l[KADDR_STRLEN], p[KADDR_STRLEN], idle[DURATION_STRLEN], owner[OWNER_STRLEN];
	char ns[NETNS_STRLEN], *line;
	bool show_ns = c->namespaces != NS_SELF;
	int wn = 5, wp = 6, wl = 5, wr = 4, wo = 5;
	size_t active = 0;

	/* columns as wide as their widest cell (an IPv6 address and port: 47) */
	for (size_t i = 0; i < r->n; i++) {
		const struct report_row *row = report_at(r, i);

		row_addrs(row, l, p);
		row_owner(r, row, owner);
		wn = max_int(wn, strlen(row_netns_shown(r, row, ns)));
		wp = max_int(wp, strlen(c->policies[row->policy].name));
		wl = max_int(wl, strlen(l));
		wr = max_int(wr, strlen(p));
		wo = max_int(wo, strlen(owner));
	}
	if (show_ns)
		fprintf(f, "%-*s ", wn, "NETNS");
	fprintf(f, "%-*s %-*s %-*s %-11s %-10s %-*s %s\n", wp, "POLICY", wl, "LOCAL", wr, "PEER",
		"STATE", "IDLE", wo, "OWNER", "VERDICT");
	/* a line: the widths, the fixed columns, the longest verdict and reason */
	line = malloc((size_t)(wn + wp + wl + wr + wo) + DURATION_STRLEN + 256);
	if (!line)
		return;
	for (size_t i = 0; i < r->n; i++) {
		const struct report_row *row = report_at(r, i);
		char *e = line;

		row_addrs(row, l, p);
		row_owner(r, row, owner);
		active += row->verdict == V_ACTIVE;
		if (show_ns)
			e = cell(e, row_netns_shown(r, row, ns), wn);
		e = cell(e, c->policies[row->policy].name, wp);
		e = cell(e, l, wl);
		e = cell(e, p, wr);
		e = cell(e, tcp_state_name(row->state), 11);
		e = cell(e, format_duration((uint64_t)row->idle_s * 1000, idle, sizeof(idle)), 10);
		e = cell(e, owner, wo);
		e = stpcpy(e, verdict_names[row->verdict]);
		if (row->why != REASON_NONE)
			e += sprintf(e, " (%s)", reason_name(row->why));
		*e++ = '\n';
		fwrite(line, 1, (size_t)(e - line), f);
	}
	free(line);
	fprintf(f, "# %llu sockets scanned, %zu matched, %zu active, %llu probed, %llu alive, "
		"%llu reaped, %llu would be reaped, %llu gone, %llu left alone\n",
		(unsigned long long)st->scanned, r->n, active,
		(unsigned long long)st->probes_armed, (unsigned long long)st->alive,
		(unsigned long long)st->reaped, (unsigned long long)st->would_reap,
		(unsigned long long)st->gone, (unsigned long long)st->unprobeable);
}

static void json_addr(FILE *f, const char *key, const char *formatted, uint16_t port)
{
	char a[KADDR_STRLEN];
	const char *colon = strrchr(formatted, ':');
	size_t len = colon ? (size_t)(colon - formatted) : strlen(formatted);

	if (len && formatted[0] == '[') { /* [v6]:port */
		formatted++;
		len -= 2;
	}
	snprintf(a, sizeof(a), "%.*s", (int)len, formatted);
	fprintf(f, "\"%s_addr\":", key);
	json_str(f, a);
	fprintf(f, ",\"%s_port\":%u,", key, port);
}

void report_print_json(const struct report *r, const struct config *c, const struct stats *st,
		       FILE *f)
{
	char l[KADDR_STRLEN], p[KADDR_STRLEN];
	size_t active = 0;

	for (size_t i = 0; i < r->n; i++) {
		const struct report_row *row = report_at(r, i);

		row_addrs(row, l, p);
		active += row->verdict == V_ACTIVE;
		fputs("{\"netns\":", f);
		json_str(f, row_netns(r, row));
		fputs(",\"policy\":", f);
		json_str(f, c->policies[row->policy].name);
		fprintf(f, ",\"family\":\"%s\",", row->family == AF_INET6 ? "inet6" : "inet");
		json_addr(f, "local", l, row->lport);
		json_addr(f, "peer", p, row->rport);
		fprintf(f, "\"state\":\"%s\",\"idle_ms\":%llu,\"inode\":%u,",
			tcp_state_name(row->state), (unsigned long long)row->idle_s * 1000, row->inode);
		if (row->pid) {
			fprintf(f, "\"pid\":%d,\"comm\":", (int)row->pid);
			json_str(f, row->comm < r->ncomms ? r->comms[row->comm] : "?");
		} else {
			fputs("\"pid\":null,\"comm\":null", f);
		}
		fprintf(f, ",\"verdict\":\"%s\",\"reason\":", verdict_names[row->verdict]);
		if (row->why != REASON_NONE)
			fprintf(f, "\"%s\"}\n", reason_name(row->why));
		else
			fputs("null}\n", f);
	}
	fprintf(f, "{\"summary\":{\"scanned\":%llu,\"matched\":%zu,\"active\":%zu,"
		"\"probed\":%llu,\"alive\":%llu,\"reaped\":%llu,\"would_reap\":%llu,"
		"\"gone\":%llu,\"left_alone\":%llu,\"held\":%llu,\"rate_limited\":%llu,"
		"\"errors\":%llu}}\n",
		(unsigned long long)st->scanned, r->n, active, (unsigned long long)st->probes_armed,
		(unsigned long long)st->alive, (unsigned long long)st->reaped,
		(unsigned long long)st->would_reap, (unsigned long long)st->gone,
		(unsigned long long)st->unprobeable, (unsigned long long)st->held,
		(unsigned long long)st->rate_limited, (unsigned long long)st->errors);
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
		[ERR_ARM] = "arm",
		[ERR_RESTORE] = "restore",
		[ERR_JOURNAL] = "journal",
		[ERR_MEMORY] = "memory",
	};

	return k < ERR_KIND_COUNT ? names[k] : "?";
}
