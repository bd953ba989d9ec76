/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The engine: it sequences a round (list, judge, arm, reap, hand back), each a
 * call into its stage, and keeps what the stages share (engine-int.h): the
 * configuration, the namespaces, the verdict table, the journal, the counters. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "engine-int.h"

/* The time work takes inside one round (sd-event's time is the round's start). */
static uint64_t elapsed_clock_ms(void)
{
	return monotonic_usec() / 1000;
}

/* Now on the caller's clock (the one deadlines are on): the round's start plus
 * the time its work has taken so far. Never the monotonic clock itself: the
 * caller's may be another (a test's), and mixing the two put deadlines in the
 * past or the future by the machine's uptime. */
uint64_t round_clock(const struct engine *e)
{
	return e->now + (elapsed_clock_ms() - e->now_real);
}

/* CPU time this process has used, user and system, in microseconds: what a round
 * costs, for the debug log (the wall time of one on a busy host says less). */
static uint64_t cpu_us(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static double cpu_ms_since(uint64_t us)
{
	return (double)(cpu_us() - us) / 1000.0;
}

/* Counted by kind for the metrics, the latest kept for STATUS; the caller logs. */
__attribute__((format(printf, 3, 4)))
void count_error(struct engine *e, enum error_kind k, const char *fmt, ...)
{
	va_list ap;

	e->stats.errors++;
	e->stats.errors_by[k]++;
	va_start(ap, fmt);
	vsnprintf(e->stats.last_error, sizeof(e->stats.last_error), fmt, ap);
	va_end(ap);
}

static void engine_compile(struct engine *e)
{
	int len;

	free(e->reaped_by);
	e->reaped_by = calloc(e->cfg->n_policies * REASON_COUNT, sizeof(*e->reaped_by));
	if (!e->reaped_by)
		count_error(e, ERR_MEMORY, "no memory for the per-policy reap counters");
	e->filter.cfg = e->cfg;
	e->filter.all = e->keep_rows;
	e->filter.states = 0;
	for (size_t i = 0; i < e->cfg->n_policies; i++)
		e->filter.states |= e->cfg->policies[i].states;
	e->min_idle_ms = config_min_idle_ms(e->cfg);
	len = diag_compile_ports(e->cfg, e->bc, sizeof(e->bc));
	if (len < 0) {
		log_msg(LOG_NOTICE, NULL, "too many port selectors for a kernel filter; "
			"filtering in user space only");
		len = 0;
	} else if (len > 0) {
		log_msg(LOG_DEBUG, NULL, "kernel filter: %d bytes of bytecode", len);
	} else {
		log_msg(LOG_DEBUG, NULL, "no kernel filter: a policy selects no port");
	}
	e->filter.bc = len ? e->bc : NULL;
	e->filter.bclen = (size_t)len;
}

int engine_new(struct config *cfg, const struct engine_options *o, struct engine **ret,
	       char *err, size_t errlen)
{
	struct engine *e = calloc(1, sizeof(*e));
	int r;

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->cfg = cfg;
	e->ops = o->backend;
	e->force_dry_run = o->force_dry_run;
	e->keep_rows = o->keep_rows;
	e->once = o->once;
	report_init(&e->report);
	r = netns_init(&e->netns, e->ops);
	if (r == 0)
		r = verdict_init(&e->verdicts);
	if (r < 0) {
		snprintf(err, errlen, "%s", strerror(-r));
	} else {
		engine_compile(e);
		r = netns_discover(&e->netns, cfg);
		if (r == -EBUSY)
			snprintf(err, errlen, "another kareaper watches this network namespace "
				 "(one at a time: each would take the other's probes for the "
				 "owners' options)");
		else if (r < 0)
			snprintf(err, errlen, "cannot open the %s backend: %s", e->ops->name,
				 strerror(-r));
	}
	if (r >= 0)
		r = journal_start(e, err, errlen);
	if (r < 0) {
		engine_free(e);
		return r;
	}
	*ret = e;
	return 0;
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	netns_finalise(&e->netns);
	verdict_free(&e->verdicts);
	journal_finalise(&e->journal);
	report_finalise(&e->report);
	free(e->reaped_by);
	free(e->work);
	free(e->deferred);
	free(e->keep);
	free(e->carry);
	free(e->carry_t);
	free(e);
}

const struct policy *pol(const struct engine *e, int idx)
{
	return &e->cfg->policies[idx];
}

bool dry(const struct engine *e, const struct policy *p)
{
	return e->force_dry_run || e->cfg->dry_run || p->dry_run;
}

struct sock_event event_of(const struct engine *e, const struct tracked *t,
			   const char *reason)
{
	struct sock_event ev = {
		.policy = pol(e, t->policy)->name,
		.s = &t->rec,
		.pid = t->owner.pid,
		.comm = t->owner.pid ? t->owner.comm : NULL,
		.idle_ms = tracked_idle_ms(t, e->now),
		.probes = (int)t->probes_at_verdict,
		.reason = reason,
	};
	const struct netns *n = netns_find(&e->netns, t->rec.netns);

	ev.netns = n && e->cfg->namespaces != NS_SELF ? n->name : NULL;
	return ev;
}

void row_verdict(struct engine *e, const struct tracked *t, enum row_verdict v,
		 enum reason why)
{
	report_set(&e->report, t->row, v, why, tracked_idle_ms(t, e->now));
	report_set_owner(&e->report, t->row, t->owner.pid, t->owner.comm);
}

void work_add(struct engine *e, struct tracked *t, enum step step)
{
	if (t->work_gen == e->work_gen)
		return; /* a retried listing may report a socket twice */
	if (array_grow(&e->work, &e->capwork, e->nwork, sizeof(*e->work)) < 0) {
		count_error(e, ERR_MEMORY, "no memory for this round's work");
		/* a verdict left undone is due again later, not at once */
		if (t->state == TS_PROBING)
			t->deadline = e->now + pol(e, t->policy)->interval_ms;
		return;
	}
	t->work_gen = e->work_gen;
	e->work[e->nwork] = (struct work_item){ .t = t, .step = step };
	e->nwork++;
}

struct backend *backend_in(const struct engine *e, uint64_t netns)
{
	const struct netns *n = netns_find(&e->netns, netns);

	return n ? n->be : NULL;
}

struct backend *backend_of(const struct engine *e, const struct tracked *t)
{
	return backend_in(e, t->rec.netns);
}

void forget(struct engine *e, struct work_item *w)
{
	verdict_forget(&e->verdicts, w->t);
	w->t = NULL;
}

/* The files of namespaces no longer watched are kept while the journal holds a
 * socket of theirs: the only way back into a namespace that lives on through its
 * sockets alone. */
static void keep_namespaces(struct engine *e)
{
	uint64_t *inos;
	size_t n = 0;

	if (!e->netns.nkept)
		return;
	inos = calloc(e->journal.n ? e->journal.n : 1, sizeof(*inos));
	if (!inos)
		return; /* kept a round more */
	for (size_t i = 0; i < e->journal.n; i++)
		inos[n++] = e->journal.e[i].netns;
	netns_keep_only(&e->netns, inos, n);
	free(inos);
}

int engine_scan(struct engine *e, uint64_t now)
{
	uint64_t t0 = elapsed_clock_ms(), t_dump, t_owners, cpu0 = cpu_us();
	uint64_t scanned_before = e->stats.scanned;
	unsigned alive;

	e->now = now;
	e->now_real = t0;
	e->stats.scans++;
	e->nwork = 0;
	e->work_gen++;
	e->verdicts.scan_gen++;
	e->ndeferred = 0;
	e->carried_round = 0;
	report_clear(&e->report);
	/* the first scan follows engine_new's discovery at once: walking /proc
	 * again would find the same */
	if (e->stats.scans > 1)
		netns_discover(&e->netns, e->cfg);
	for (size_t i = 0; i < e->netns.n; i++)
		list_namespace(e, e->netns.ns[i]);
	t_dump = elapsed_clock_ms();
	e->stats.last_scanned = e->stats.scanned - scanned_before;
	fill_owners(e);
	sweep(e);
	witness_held_looks(e);
	t_owners = elapsed_clock_ms();
	alive = process_work(e);
	reap_dead(e, alive);
	if (e->journal.n)
		restore_journaled(e, false);
	sync_journal(e);
	keep_namespaces(e);
	e->stats.last_scan_ms = elapsed_clock_ms() - t0;
	log_msg(LOG_DEBUG, NULL, "scan: %llu sockets in %zu namespaces, dump %llu ms (arming %zu on "
		"the way), owners %llu ms, probes and reaps %llu ms; cpu %.1f ms",
		(unsigned long long)e->stats.last_scanned, e->netns.n,
		(unsigned long long)(t_dump - t0), e->carried_round,
		(unsigned long long)(t_owners - t_dump),
		(unsigned long long)(elapsed_clock_ms() - t_owners), cpu_ms_since(cpu0));
	return 0;
}

int engine_check_deadlines(struct engine *e, uint64_t now)
{
	struct verdict_table *vt = &e->verdicts;
	uint64_t t0 = elapsed_clock_ms(), cpu0 = cpu_us();
	unsigned due = 0;

	e->now = now;
	e->now_real = t0;
	e->nwork = 0;
	e->work_gen++;
	witness_looks(e);
	for (size_t b = 0; b < vt->nbuckets; b++) {
		struct tracked *t = vt->buckets[b], *next, *same;

		for (; t; t = next) {
			const struct policy *p = pol(e, t->policy);
			struct sock_rec fresh;
			enum step step;
			int r;

			next = t->next;
			/* Sockets armed in one round get their verdicts together (the breaker
			 * judges a round): take those due within a quarter interval too. The
			 * policy's last probe still has over an interval to be answered, the
			 * one after it (the witness's, after the look) a quarter at least. */
			if (t->state != TS_PROBING || t->deadline > now + p->interval_ms / 4)
				continue;
			due++;
			r = query_tracked(e, t, &fresh);
			if (r == -ENOENT || r == -ENXIO || !backend_of(e, t) ||
			    (r == 0 && (!sock_is_candidate(&fresh) ||
					!(p->states & (1u << fresh.state))))) {
				gone_while_probing(e, t, r);
				verdict_forget(vt, t);
				continue;
			}
			if (r < 0) {
				/* no verdict without its count: handed back now, not asked
				 * again while the kernel goes on counting towards 127 */
				count_error(e, ERR_QUERY, "query of a probed socket: %s", strerror(-r));
				log_msg(LOG_WARNING, NULL, "query of a probed socket failed: %s; its "
					"options handed back, probed again later", strerror(-r));
				disarm(e, t);
				verdict_suspect_again(t, now);
				continue;
			}
			/* taken early (the batch window): judge it as at its deadline, or the
			 * state machine says wait and the timer spins until then */
			step = verdict_observe(vt, t->policy, p, &fresh,
					       t->deadline > now ? t->deadline : now, &same);
			work_add(e, t, step);
		}
	}
	reap_dead(e, process_work(e));
	sync_journal(e);
	log_msg(LOG_DEBUG, NULL, "verdicts: %u sockets due, %llu ms; cpu %.1f ms", due,
		(unsigned long long)(elapsed_clock_ms() - t0), cpu_ms_since(cpu0));
	return 0;
}

uint64_t engine_next_deadline(const struct engine *e)
{
	uint64_t min = UINT64_MAX;

	for (size_t b = 0; b < e->verdicts.nbuckets; b++)
		for (struct tracked *t = e->verdicts.buckets[b]; t; t = t->next) {
			if (t->state == TS_PROBING && t->deadline < min)
				min = t->deadline;
			if (witness_next(t) < min)
				min = witness_next(t);
		}
	return min;
}

static size_t count_state(const struct engine *e, enum track_state st)
{
	size_t n = 0;

	for (size_t b = 0; b < e->verdicts.nbuckets; b++)
		for (struct tracked *t = e->verdicts.buckets[b]; t; t = t->next)
			n += t->state == st;
	return n;
}

void engine_restore_all(struct engine *e)
{
	unqueue(e);
	restore_journaled(e, true);
}

void engine_set_config(struct engine *e, struct config *cfg)
{
	struct verdict_table *vt = &e->verdicts;

	unqueue(e);
	restore_journaled(e, true);
	/* Policy indexes and verdicts belong to the old config: start over. */
	for (size_t b = 0; b < vt->nbuckets; b++) {
		struct tracked *t = vt->buckets[b], *next;

		for (; t; t = next) {
			next = t->next;
			verdict_forget(vt, t);
		}
	}
	e->cfg = cfg;
	netns_reconsider(&e->netns);
	engine_compile(e);
	if (strcmp(config_probe_journal(cfg), e->journal.path) != 0)
		journal_move(e);
}

const struct stats *engine_stats(struct engine *e)
{
	e->stats.namespaces = e->netns.n;
	e->stats.namespaces_user = e->netns.n_user;
	e->stats.namespaces_short = e->netns.n_short;
	e->stats.suspect_now = count_state(e, TS_SUSPECT) + count_state(e, TS_ARMING) +
			       count_state(e, TS_UNPROBEABLE);
	e->stats.probing_now = count_state(e, TS_PROBING);
	e->stats.reaped_by = e->reaped_by;
	e->stats.n_policies = e->cfg->n_policies;
	return &e->stats;
}

const struct report *engine_report(const struct engine *e)
{
	return &e->report;
}
