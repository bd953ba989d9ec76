/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

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

/* The time work takes inside one round (sd-event's time is the round's start). */
static uint64_t elapsed_clock_ms(void)
{
	return monotonic_usec() / 1000;
}

/* Now on the caller's clock (the one deadlines are on): the round's start plus
 * the time its work has taken so far. Never the monotonic clock itself: the
 * caller's may be another (a test's), and mixing the two put deadlines in the
 * past or the future by the machine's uptime. */
static uint64_t round_clock(const struct engine *e)
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
static void count_error(struct engine *e, enum error_kind k, const char *fmt, ...)
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

static void restore_journaled(struct engine *e, bool all);

/* The probe journal of cfg: locked, read, and every socket in it put back as its
 * owner had it, before anything new is probed. A corrupt one is reported and
 * ignored; one another kareaper holds is an error. */
static int journal_start(struct engine *e, char *errbuf, size_t errlen)
{
	const char *path = config_probe_journal(e->cfg);
	char err[512];
	int r;

	r = journal_init(&e->journal, path);
	if (r == -EBUSY || r == -ENOMEM) {
		snprintf(errbuf, errlen, r == -EBUSY ? "another kareaper is running with the probe "
			 "journal %s (a second one needs a probe_journal of its own)" :
			 "%s: out of memory", path);
		return r;
	}
	if (r < 0) {
		count_error(e, ERR_JOURNAL, "%s: %s", path, strerror(-r));
		log_msg(LOG_WARNING, NULL, "cannot lock the probe journal %s: %s", path,
			strerror(-r));
	}
	r = journal_load(&e->journal, err, sizeof(err));
	if (r < 0) {
		count_error(e, ERR_JOURNAL, "probe journal ignored: %s", err);
		log_msg(LOG_WARNING, NULL, "probe journal ignored: %s (kept as %s.damaged)", err,
			path);
	} else if (e->journal.bad_lines) {
		count_error(e, ERR_JOURNAL, "probe journal: %s", err);
		log_msg(LOG_WARNING, NULL, "probe journal: lines that could not be read: %zu, "
			"the first: %s; the other entries are put back, and the file is kept as "
			"%s.damaged", e->journal.bad_lines, err, path);
	} else if (e->journal.clamped) {
		log_msg(LOG_WARNING, NULL, "probe journal: %zu entries held values setsockopt() "
			"refuses, put back as the nearest it takes; the first: %s",
			e->journal.clamped, err);
	}
	if (e->journal.n)
		log_msg(LOG_NOTICE, NULL, "%zu probed sockets in the journal %s (an earlier run "
			"did not finish): putting their owners' options back", e->journal.n,
			e->journal.path);
	restore_journaled(e, true);
	return 0;
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

static const struct policy *pol(const struct engine *e, int idx)
{
	return &e->cfg->policies[idx];
}

static bool dry(const struct engine *e, const struct policy *p)
{
	return e->force_dry_run || e->cfg->dry_run || p->dry_run;
}

static struct sock_event event_of(const struct engine *e, const struct tracked *t,
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

static void row_verdict(struct engine *e, const struct tracked *t, enum row_verdict v,
			enum reason why)
{
	report_set(&e->report, t->row, v, why, tracked_idle_ms(t, e->now));
	report_set_owner(&e->report, t->row, t->owner.pid, t->owner.comm);
}

static void work_add(struct engine *e, struct tracked *t, enum step step)
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

/* t cannot be probed without the kernel's count of unanswered probes (with its
 * owner's own, which a hand-back must leave room for) coming near the kernel's
 * limit: left alone until its peer is heard from, said once. */
static void budget_spent(struct engine *e, struct tracked *t)
{
	t->state = TS_UNPROBEABLE;
	t->reason = REASON_BUDGET_SPENT;
	if (!t->budget_logged) {
		struct sock_event ev = event_of(e, t, reason_name(REASON_BUDGET_SPENT));

		t->budget_logged = true;
		e->stats.unprobeable++;
		log_sock(LOG_NOTICE, MSGID_UNPROBEABLE, &ev, "cannot probe: the kernel counts %u "
			 "unanswered keepalive probes, and ends the connection at %d; left alone "
			 "until its peer is heard from", t->rec.probes, KR_MAX_KEEPCNT);
	}
	row_verdict(e, t, V_LEFT_ALONE, REASON_BUDGET_SPENT);
}

/* "3h25m", "75s", "1.5s": a duration for a log line */
static void fmt_duration(char *buf, size_t len, uint64_t ms)
{
	uint64_t s = ms / 1000;

	if (s >= 3600)
		snprintf(buf, len, "%lluh%02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, len, "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else
		snprintf(buf, len, "%llu.%llus", (unsigned long long)s,
			 (unsigned long long)(ms % 1000 / 100));
}

/* t's owner runs keepalive of its own (t->saved, as read): its options are its
 * own, and kareaper never arms it. It is judged on its owner's probes only
 * (policy_kernel_evidence), and the kernel ends a dead peer's connection on the
 * owner's schedule anyway: said once, with that schedule. */
static void owner_keepalive(struct engine *e, struct tracked *t)
{
	t->state = TS_UNPROBEABLE;
	t->reason = REASON_OWNER_KEEPALIVE;
	if (!t->owner_logged) {
		struct sock_event ev = event_of(e, t, reason_name(REASON_OWNER_KEEPALIVE));
		char when[32], ut[48] = "";

		t->owner_logged = true;
		fmt_duration(when, sizeof(when), policy_owner_schedule_ms(&t->saved));
		if (t->saved.user_timeout_ms)
			snprintf(ut, sizeof(ut), ", user timeout %ums", t->saved.user_timeout_ms);
		ev.probes = -1;
		log_sock(LOG_INFO, MSGID_UNPROBEABLE, &ev, "its owner runs keepalive (%ds/%ds/%d"
			 "%s): left to it, judged on its probes; a dead peer goes %s after its "
			 "last word", t->saved.idle_s, t->saved.intvl_s, t->saved.cnt, ut, when);
	}
	row_verdict(e, t, V_LEFT_ALONE, REASON_OWNER_KEEPALIVE);
}

/* owner NULL: not looked up (yet) */
static void handle_matched(struct engine *e, int idx, const struct sock_rec *s,
			   const struct owner *owner)
{
	const struct policy *p = pol(e, idx);
	uint32_t row = 0;
	struct tracked *t;
	enum step step;
	enum row_verdict v = V_ACTIVE;

	e->stats.matched++;
	if (e->keep_rows) {
		row = report_add(&e->report, idx, s, e->cur->name, sock_idle_ms(s));
		if (owner)
			report_set_owner(&e->report, row, owner->pid, owner->comm);
	}
	if (p->action == ACTION_IGNORE) {
		report_set(&e->report, row, V_IGNORED, REASON_NONE, sock_idle_ms(s));
		return;
	}
	step = verdict_observe(&e->verdicts, idx, p, s, e->now, &t);
	if (t && !t->owner.pid && owner && owner->pid > 0)
		t->owner = *owner;
	if (t)
		t->row = row;
	switch (step) {
	case STEP_ACTIVE:
		return; /* as added: active, untracked */
	case STEP_WAIT:
		v = V_PROBING;
		break;
	case STEP_LEFT_ALONE:
		if (t->reason == REASON_BUDGET_SPENT)
			budget_spent(e, t);
		else if (t->reason == REASON_OWNER_KEEPALIVE)
			owner_keepalive(e, t);
		else
			report_set(&e->report, row, V_LEFT_ALONE, t->reason,
				   tracked_idle_ms(t, e->now));
		return;
	case STEP_ARM:
	case STEP_ALIVE:
	case STEP_INCONCLUSIVE:
	case STEP_DEAD:
		v = V_SUSPECT;
		work_add(e, t, step);
		break;
	}
	report_set(&e->report, row, v, REASON_NONE, tracked_idle_ms(t, e->now));
}

static int defer(struct engine *e, const struct sock_rec *s)
{
	if (array_grow(&e->deferred, &e->capdeferred, e->ndeferred, sizeof(*e->deferred)) < 0)
		return -ENOMEM;
	e->deferred[e->ndeferred++] = *s;
	return 0;
}

static int scan_cb(const struct sock_rec *s, void *data)
{
	struct engine *e = data;
	struct sock_rec rec = *s;
	int idx;

	rec.netns = e->cur->ino;
	idx = policy_match(e->cfg, &rec, e->cur->name, NULL);
	if (idx == MATCH_NONE)
		return 0;
	if (idx == MATCH_NEED_OWNER) {
		/* Only worth an owner lookup if some policy could call it idle. */
		if (!e->keep_rows && sock_idle_ms(&rec) < e->min_idle_ms &&
		    !verdict_find(&e->verdicts, rec.cookie))
			return 0;
		defer(e, &rec);
		return 0;
	}
	handle_matched(e, idx, &rec, NULL);
	return 0;
}

/* One lookup for every owner this round needs: the rows of the table, the sockets
 * to arm, and those whose policy depends on their process. */
static void fill_owners(struct engine *e)
{
	struct owner_map m = { 0 };
	struct owner o;
	size_t i;
	int r;

	for (i = 0; i < e->ndeferred; i++)
		owner_map_want(&m, e->deferred[i].inode, e->deferred[i].cgroup);
	/* the netlink backend arms through the owner; every log line names it */
	for (i = 0; i < e->nwork; i++)
		if (!e->work[i].t->owner.pid)
			owner_map_want(&m, e->work[i].t->rec.inode, e->work[i].t->rec.cgroup);
	for (i = 0; i < e->report.n; i++)
		owner_map_want(&m, report_at(&e->report, i)->inode, 0); /* rows: any process */
	if (m.n == 0)
		return;
	r = e->ops->find_owners(&m);
	if (r < 0)
		log_msg(LOG_WARNING, NULL, "cannot look up the owners of sockets: %s", strerror(-r));
	e->owners_unreadable = m.unreadable;

	for (i = 0; i < e->report.n; i++)
		if (owner_map_get(&m, report_at(&e->report, i)->inode, &o))
			report_set_owner(&e->report, (uint32_t)i + 1, o.pid, o.comm);
	for (i = 0; i < e->nwork; i++) {
		struct tracked *t = e->work[i].t;

		if (!t->owner.pid)
			owner_map_get(&m, t->rec.inode, &t->owner);
	}
	/* Sockets whose policy depends on the owning process: decide now. */
	for (i = 0; i < e->ndeferred; i++) {
		const struct sock_rec *s = &e->deferred[i];
		bool found = owner_map_get(&m, s->inode, &o);
		int idx;

		e->cur = netns_find(&e->netns, s->netns);
		if (!e->cur)
			continue;
		idx = policy_match(e->cfg, s, e->cur->name, found ? o.comm : "");
		if (idx >= 0)
			handle_matched(e, idx, s, found ? &o : NULL);
	}
	e->ndeferred = 0;
	owner_map_free(&m);
}

static struct backend *backend_in(const struct engine *e, uint64_t netns)
{
	const struct netns *n = netns_find(&e->netns, netns);

	return n ? n->be : NULL;
}

static struct backend *backend_of(const struct engine *e, const struct tracked *t)
{
	return backend_in(e, t->rec.netns);
}

static void forget(struct engine *e, struct work_item *w)
{
	verdict_forget(&e->verdicts, w->t);
	w->t = NULL;
}

/* Only "gone" (backend.h's sock_op) means a socket no longer needs kareaper. */
static bool socket_gone(int r)
{
	return r == -ENOENT;
}

/* What the netlink backend answers when no process it can reach holds the socket:
 * nothing was done, and the socket may still be there. */
static bool not_reached(int r)
{
	return r == -ESRCH || r == -ESTALE || r == -EBADF || r == -EPERM || r == -ENXIO;
}

/* Fresh facts about t's socket by an exact query in its namespace (watched, or
 * entered for the moment): 0, -ENOENT when it is proven gone (with its
 * namespace), or another -errno when that cannot be told now. */
static int query_tracked(struct engine *e, const struct tracked *t, struct sock_rec *fresh)
{
	struct backend *be = backend_of(e, t), *tmp = NULL;
	int r;

	if (!be) {
		r = netns_reach(&e->netns, t->rec.netns, &tmp);
		if (r < 0)
			return r == -ENOENT ? -ENOENT : -ENXIO;
		be = tmp;
	}
	r = e->ops->query(be, &t->rec, fresh);
	fresh->netns = t->rec.netns;
	if (tmp)
		e->ops->close(tmp);
	return r;
}

/* Carry out the ops of the n in ops whose result is still KR_OP_NOT_DONE and whose
 * socket is in the namespace ino, through be: in one pass where the backend can
 * (apply), else one call per socket. Those it could not reach are proven gone,
 * or not, by an exact query by id and cookie (-ENOENT: gone); absence from a
 * walk, or an owner not found, proves nothing. */
static void ops_in(struct engine *e, struct backend *be, uint64_t ino, struct sock_op *ops,
		   size_t n, bool search, struct sock_op *sub, size_t *at)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		if (ops[i].result != KR_OP_NOT_DONE || ops[i].s->netns != ino)
			continue;
		if (!sub) {
			e->ops->op(be, &ops[i], search);
			continue;
		}
		sub[m] = ops[i];
		at[m++] = i;
	}
	if (m) {
		e->ops->apply(be, sub, m);
		for (size_t j = 0; j < m; j++)
			ops[at[j]] = sub[j];
	}
	for (size_t i = 0; i < n; i++) {
		struct sock_rec fresh;

		if (ops[i].s->netns == ino && not_reached(ops[i].result) &&
		    ops[i].result != -ENXIO && e->ops->query(be, ops[i].s, &fresh) == -ENOENT)
			ops[i].result = -ENOENT;
	}
}

/* Carry out ops, each through a backend in its socket's namespace: one watched,
 * or, for a namespace not watched now (deleted from /run/netns while a socket in
 * it was armed, or left by a reload), one opened in it for the moment. search:
 * as set_opts's (the netlink backend may walk /proc for an owner that moved).
 * Those the backend could not reach are confirmed gone, or not, by a query. */
static void run_ops(struct engine *e, struct sock_op *ops, size_t n, bool search)
{
	struct sock_op *sub = NULL;
	size_t *at = NULL;

	if (e->ops->apply && n > 1) {
		sub = calloc(n, sizeof(*sub));
		at = calloc(n, sizeof(*at));
		if (!sub || !at) {
			free(sub);
			sub = NULL;
		}
	}
	for (size_t i = 0; i < n; i++)
		ops[i].result = KR_OP_NOT_DONE;
	for (size_t k = 0; k < e->netns.n; k++)
		ops_in(e, e->netns.ns[k]->be, e->netns.ns[k]->ino, ops, n, search, sub, at);
	for (size_t i = 0; i < n; i++) {
		struct backend *be = NULL;
		uint64_t ino = ops[i].s->netns;
		int r;

		if (ops[i].result != KR_OP_NOT_DONE)
			continue;
		r = netns_reach(&e->netns, ino, &be);
		if (r == 0) {
			ops_in(e, be, ino, ops, n, search, sub, at);
			e->ops->close(be);
			continue;
		}
		/* gone with its namespace; else not attempted (-ENXIO), or through
		 * the owner where the backend can */
		for (size_t j = i; j < n; j++)
			if (ops[j].result == KR_OP_NOT_DONE && ops[j].s->netns == ino) {
				if (r == -ENOENT)
					ops[j].result = -ENOENT;
				else
					e->ops->op(NULL, &ops[j], search);
			}
	}
	free(sub);
	free(at);
}

/* "TCP_KEEPIDLE and TCP_USER_TIMEOUT": the options in KA_* bits */
static void fmt_opts(char *buf, size_t len, unsigned bits)
{
	static const char *const names[] = { "SO_KEEPALIVE", "TCP_KEEPIDLE", "TCP_KEEPINTVL",
					     "TCP_KEEPCNT", "TCP_USER_TIMEOUT" };
	size_t n = 0, k = 0, at = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < 5; i++)
		n += (bits >> i) & 1;
	for (size_t i = 0; i < 5 && at < len; i++)
		if ((bits >> i) & 1)
			at += (size_t)snprintf(buf + at, len - at, "%s%s",
					       !k++ ? "" : k == n ? " and " : ", ", names[i]);
}

/* Handing a socket back (policy_handback) answered r, with the options its owner
 * had changed in owners: done or gone, out of the journal; else kept, for the end
 * of the next round and the next start. True when it left the journal. */
static bool handed_back(struct engine *e, uint64_t cookie, const struct sock_event *ev,
			int r, unsigned owners)
{
	if (r == 0 || socket_gone(r)) {
		journal_remove(&e->journal, cookie);
		if (r == 0 && owners) {
			char what[96];

			fmt_opts(what, sizeof(what), owners);
			if (ev)
				log_sock(LOG_NOTICE, NULL, ev, "its owner set %s while it was probed: "
					 "left as the owner set it, kareaper's other options put back",
					 what);
			else
				log_msg(LOG_NOTICE, NULL, "socket cookie %llu: its owner set %s while "
					"it was probed: left as the owner set it, kareaper's other "
					"options put back", (unsigned long long)cookie, what);
		}
		return true;
	}
	return false;
}

/* What handing t back to its owner answered. */
static void restored(struct engine *e, struct tracked *t, const struct sock_op *op)
{
	struct sock_event ev = event_of(e, t, NULL);

	t->armed = false;
	ev.probes = -1;
	if (handed_back(e, t->cookie, &ev, op->result, op->owners))
		return;
	count_error(e, ERR_RESTORE, "cannot restore cookie %llu: %s",
		    (unsigned long long)t->cookie, strerror(-op->result));
	log_sock(LOG_WARNING, NULL, &ev, "cannot put the owner's keepalive options back: %s; "
		 "kept in the journal, tried again every round", strerror(-op->result));
}

/* The hand-back of t: the owner's options over what kareaper wrote. */
static struct sock_op handback_op(struct tracked *t)
{
	return (struct sock_op){ .s = &t->rec, .owner = &t->owner, .set = &t->saved,
				 .expect = &t->arm, .handback = true };
}

/* Hand sockets back to their owners, in one pass (restored()). What stays in the
 * journal is tried again at the end of every round and at the next start, and is
 * never armed anew meanwhile. */
static void disarm_all(struct engine *e, struct tracked **ts, size_t n)
{
	struct sock_op one, *ops = n > 1 ? calloc(n, sizeof(*ops)) : &one;
	size_t m = 0;

	if (!ops) {
		count_error(e, ERR_MEMORY, "no memory to restore %zu sockets", n);
		for (size_t i = 0; i < n; i++) /* one at a time, then */
			disarm_all(e, &ts[i], 1);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (ts[i]->armed)
			ops[m++] = handback_op(ts[i]);
	run_ops(e, ops, m, true);
	m = 0;
	for (size_t i = 0; i < n; i++)
		if (ts[i]->armed)
			restored(e, ts[i], &ops[m++]);
	if (ops != &one)
		free(ops);
}

static void disarm(struct engine *e, struct tracked *t)
{
	disarm_all(e, &t, 1);
}

static void left_alone(struct engine *e, struct tracked *t, int err)
{
	struct sock_event ev = event_of(e, t, reason_name(REASON_NO_OWNER));

	t->state = TS_UNPROBEABLE;
	t->reason = REASON_NO_OWNER;
	e->stats.unprobeable++;
	/* "no process holds it" only when every process's descriptors were read */
	if (err == -ESRCH && e->owners_unreadable)
		log_sock(LOG_NOTICE, MSGID_UNPROBEABLE, &ev, "cannot probe (no process it may "
			 "read holds it: the descriptors of %zu processes were unreadable; the "
			 "netlink backend needs CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE), leaving "
			 "it alone", e->owners_unreadable);
	else
		log_sock(LOG_NOTICE, MSGID_UNPROBEABLE, &ev, "cannot probe (%s), leaving it alone",
			 err == -ESRCH ? "no process holds it" : strerror(-err));
	row_verdict(e, t, V_LEFT_ALONE, REASON_NO_OWNER);
}

/* Arming t failed with r, and nothing of kareaper's is on it: left alone when no
 * process holds it or may be reached (-ESRCH, -EPERM), else a suspect still,
 * tried again next round (a map full, descriptors short, an owner moving). */
static void not_armed(struct engine *e, struct tracked *t, int r)
{
	struct sock_event ev;

	if (r == -ESRCH || r == -EPERM) {
		left_alone(e, t, r);
		return;
	}
	t->state = TS_SUSPECT;
	count_error(e, ERR_ARM, "arming cookie %llu: %s", (unsigned long long)t->cookie,
		    strerror(-r));
	ev = event_of(e, t, NULL);
	ev.probes = -1;
	log_sock(LOG_WARNING, NULL, &ev, "cannot probe it now (%s): trying again next round",
		 strerror(-r));
	row_verdict(e, t, V_SUSPECT, REASON_NONE);
}

/* What arming t answered; carried: by a listing (the socket was looked for in the
 * whole table). */
static void arm_result(struct engine *e, struct tracked *t, int r, bool carried)
{
	const struct policy *p = pol(e, t->policy);
	struct sock_event ev = event_of(e, t, NULL);

	ev.probes = -1;
	if (r == -EAGAIN || r == -EALREADY || (carried && r == -ENOENT)) {
		/* nothing set, nothing to put back: the owner changed its options since
		 * they were read (read them again next round), the peer was heard from
		 * (no longer idle), or the connection is gone */
		journal_remove(&e->journal, t->cookie);
		t->state = TS_SUSPECT;
		log_sock(LOG_DEBUG, NULL, &ev, "%s", r == -EAGAIN ?
			 "its owner changed its keepalive options just now: probing it next round" :
			 r == -EALREADY ? "its peer was heard from just before the probes: not probed" :
			 "gone before it was probed");
		row_verdict(e, t, V_SUSPECT, REASON_NONE);
		return;
	}
	if (r < 0 && not_reached(r)) {
		journal_remove(&e->journal, t->cookie); /* nothing was set */
		not_armed(e, t, r);
		return;
	}
	t->armed = true; /* whatever part was set is put back */
	if (r < 0) {
		disarm(e, t);
		not_armed(e, t, r);
		return;
	}
	/* the deadline counts from now, not from the start of the round: finding
	 * owners and arming a thousand sockets can take longer than an interval */
	verdict_armed(t, p, round_clock(e));
	e->stats.probes_armed++;
	log_sock(LOG_INFO, MSGID_PROBING, &ev, "idle, probing with %u keepalives every %llus",
		 p->probes, (unsigned long long)(p->interval_ms / 1000));
	row_verdict(e, t, V_PROBING, REASON_NONE);
}

/* Whether t's probes wait for the next listing rather than take a walk of their
 * own: with a backend for which every op costs a walk of the socket table, in a
 * daemon whose next listing comes within the time t has been idle already. */
static bool carry(const struct engine *e, const struct tracked *t)
{
	return e->ops->carries_ops && !e->once &&
	       e->cfg->scan_interval_ms <= pol(e, t->policy)->idle_ms;
}

struct idle_of {
	uint64_t rounds;          /* idle, in scan intervals */
	size_t at;                /* in the listing's order */
	struct work_item *w;
};

static int longest_idle_first(const void *a, const void *b)
{
	const struct idle_of *x = a, *y = b;

	if (x->rounds != y->rounds)
		return x->rounds < y->rounds ? 1 : -1;
	return x->at < y->at ? -1 : x->at > y->at;
}

/* More suspects to arm than max_probes_per_scan: the longest idle go first, the
 * rest wait. In the listing's order, a live idle peer probed (and so no longer
 * idle) would be a suspect again within `idle`, ahead of those further down the
 * table, which could then wait for ever. Idle times within one scan interval
 * (found idle in the same round) count as equal and keep the listing's order:
 * a backend that acts in a walk stops it after the last socket it acts on.
 * Those already journaled are put back instead, outside the count. */
static void ration_arms(struct engine *e)
{
	size_t n = 0, max = e->cfg->max_probes_per_scan;
	struct idle_of *v;

	/* counted with those journaled: at most max so, none waits, and the journal
	 * need not be searched */
	for (size_t i = 0; i < e->nwork; i++)
		n += e->work[i].t && e->work[i].step == STEP_ARM;
	if (n <= max)
		return;
	v = calloc(n, sizeof(*v));
	n = 0;
	for (size_t i = 0; i < e->nwork; i++) {
		struct work_item *w = &e->work[i];

		if (!w->t || w->step != STEP_ARM || journal_find(&e->journal, w->t->cookie))
			continue;
		if (!v) { /* no memory to sort: in the listing's order */
			w->waits = n++ >= max;
			continue;
		}
		v[n].rounds = tracked_idle_ms(w->t, e->now) / e->cfg->scan_interval_ms;
		v[n].at = n;
		v[n++].w = w;
	}
	if (!v)
		return;
	qsort(v, n, sizeof(*v), longest_idle_first);
	for (size_t i = max; i < n; i++)
		v[i].w->waits = true;
	free(v);
}

/* Whether suspect t is to be armed: its owner's options read (t->saved, exactly as
 * the socket has them: the compare value) and what arming writes (t->arm). Not
 * when its owner runs keepalive of its own, when its probe budget is spent, or
 * when its options cannot be read. */
static bool to_arm(struct engine *e, struct tracked *t)
{
	struct backend *b = backend_of(e, t);
	struct ka_opts put;
	int r;

	r = b ? e->ops->get_opts(b, &t->rec, &t->owner, &t->saved) : -ENXIO;
	if (r < 0) {
		not_armed(e, t, r);
		return false;
	}
	if (t->saved.keepalive) {
		owner_keepalive(e, t);
		return false;
	}
	if (!verdict_budget_left(pol(e, t->policy), t->rec.probes)) {
		budget_spent(e, t);
		return false;
	}
	put = t->saved;
	if (policy_opts_settable(&put)) {
		struct sock_event ev = event_of(e, t, NULL);

		log_sock(LOG_NOTICE, NULL, &ev, "its keepalive options read beyond what "
			 "setsockopt() takes (a sysctl's, most likely): they will be put back "
			 "as %d s, %d s, %d probes", put.idle_s, put.intvl_s, put.cnt);
	}
	policy_arm_opts(pol(e, t->policy), tracked_idle_ms(t, e->now), &t->arm);
	return true;
}

/* Arm this round's suspects in three steps, so that a crash at any point leaves
 * nothing the next start cannot undo: read the owners' options, write them all to
 * the journal at once, then arm (now, or by the next listing). No journal, no
 * probes. */
static void arm_round(struct engine *e)
{
	bool was_dirty = e->journal.dirty;
	size_t journaled = 0, waiting = 0;
	struct sock_op *ops;
	int r;

	ration_arms(e);
	for (size_t i = 0; i < e->nwork; i++) {
		struct work_item *w = &e->work[i];
		struct tracked *t = w->t;
		struct journal_entry je;

		if (!t || w->step != STEP_ARM)
			continue;
		if (journal_find(&e->journal, t->cookie)) {
			/* its hand-back failed: never armed anew before
			 * restore_journaled() hands it back, at a round's end */
			row_verdict(e, t, V_SUSPECT, REASON_NONE);
			continue;
		}
		if (w->waits) {
			waiting++; /* a suspect still: the next round takes it */
			continue;
		}
		if (!to_arm(e, t))
			continue;
		je = (struct journal_entry){ .netns = t->rec.netns, .cookie = t->cookie,
					     .inode = t->rec.inode, .family = t->rec.family,
					     .id = t->rec.id, .saved = t->saved, .armed = t->arm };
		if (journal_add(&e->journal, &je) < 0) {
			count_error(e, ERR_MEMORY, "no memory for the probe journal");
			continue;
		}
		w->journaled = true;
		journaled++;
	}
	if (waiting)
		log_msg(LOG_NOTICE, NULL, "%zu idle connections wait for a later round "
			"(max_probes_per_scan = %u)", waiting, e->cfg->max_probes_per_scan);
	if (!journaled)
		return;
	r = journal_sync(&e->journal);
	if (r < 0) {
		count_error(e, ERR_JOURNAL, "cannot write %s: %s", e->journal.path, strerror(-r));
		log_msg(LOG_ERR, NULL, "cannot write the probe journal %s: %s; probing none of "
			"%zu suspects this round", e->journal.path, strerror(-r), journaled);
		for (size_t i = 0; i < e->nwork; i++) {
			struct work_item *w = &e->work[i];

			if (!w->journaled)
				continue;
			journal_remove(&e->journal, w->t->cookie);
			w->journaled = false;
			row_verdict(e, w->t, V_SUSPECT, REASON_NONE);
		}
		e->journal.dirty = was_dirty; /* the file still holds what it held */
		return;
	}
	for (size_t i = 0; i < e->nwork; i++) {
		struct tracked *t = e->work[i].t;

		if (!e->work[i].journaled)
			continue;
		if (carry(e, t)) {
			e->work[i].journaled = false;
			t->state = TS_ARMING;
			row_verdict(e, t, V_PROBING, REASON_NONE);
			journaled--;
		}
	}
	if (!journaled)
		return;
	ops = calloc(journaled, sizeof(*ops));
	if (!ops) {
		count_error(e, ERR_MEMORY, "no memory to arm %zu sockets", journaled);
		for (size_t i = 0; i < e->nwork; i++)
			if (e->work[i].journaled) /* armed nothing: nothing to put back */
				journal_remove(&e->journal, e->work[i].t->cookie);
		return;
	}
	for (size_t i = 0, k = 0; i < e->nwork; i++) {
		struct tracked *t = e->work[i].t;

		/* armed only if its options still are what the journal holds */
		if (e->work[i].journaled)
			ops[k++] = (struct sock_op){ .s = &t->rec, .owner = &t->owner,
						     .set = &t->arm, .expect = &t->saved };
	}
	run_ops(e, ops, journaled, true);
	for (size_t i = 0, k = 0; i < e->nwork; i++)
		if (e->work[i].journaled)
			arm_result(e, e->work[i].t, ops[k++].result, false);
	free(ops);
}

/* A probed socket that left the established table, or no longer matches, or was
 * not listed. Query it (query_r: the answer of a query already made, 1 for none):
 * proven gone before the kernel's own keepalive could have given up, only an RST
 * takes a socket out of the hash without a trace: the peer answered a probe with
 * one (it rebooted and lost the connection) or sent one anyway. Not proven gone
 * (another state, another policy, missed by a walk, its namespace no longer
 * watched): handed back, or kept in the journal until it can be. */
static void gone_while_probing(struct engine *e, struct tracked *t, int query_r)
{
	const struct policy *p = pol(e, t->policy);
	unsigned left = KR_MAX_KEEPCNT > t->probes_base ? KR_MAX_KEEPCNT - t->probes_base : 0;
	uint64_t kernel_gives_up = t->armed_at + (uint64_t)left * p->interval_ms;
	enum reason why = REASON_CLOSED_WHILE_PROBING;
	struct sock_event ev;
	struct sock_rec fresh;

	if (query_r == 1)
		query_r = query_tracked(e, t, &fresh);
	if (query_r != -ENOENT) {
		ev = event_of(e, t, NULL);
		ev.probes = -1;
		log_sock(LOG_INFO, NULL, &ev, "no longer a probed candidate (%s): handed back",
			 !backend_of(e, t) ? "its network namespace is not watched now" :
			 query_r == 0 ? "another state, or not listed" : strerror(-query_r));
		disarm(e, t);
		row_verdict(e, t, V_INCONCLUSIVE, REASON_NONE);
		return;
	}
	if (e->now < kernel_gives_up)
		why = REASON_RESET_ON_PROBE;
	t->armed = false; /* nothing left to restore */
	journal_remove(&e->journal, t->cookie);
	t->reason = why;
	e->stats.gone++;
	ev = event_of(e, t, reason_name(why));
	log_sock(LOG_NOTICE, MSGID_GONE, &ev, "connection ended while probing");
	row_verdict(e, t, V_GONE, why);
}

/* The owners' options back on every socket of this round's work that takes step,
 * in one pass. */
static void disarm_work(struct engine *e, enum step step)
{
	struct tracked **ts = calloc(e->nwork ? e->nwork : 1, sizeof(*ts));
	size_t n = 0;

	for (size_t i = 0; i < e->nwork; i++) {
		struct tracked *t = e->work[i].t;

		if (!t || !t->armed)
			continue;
		if (e->work[i].step == step) {
			if (ts)
				ts[n++] = t;
			else
				disarm(e, t); /* no memory: one at a time */
		}
	}
	if (n)
		disarm_all(e, ts, n);
	free(ts);
}

static unsigned process_work(struct engine *e)
{
	unsigned alive = 0;
	bool arms = false;

	disarm_work(e, STEP_ALIVE);
	disarm_work(e, STEP_INCONCLUSIVE);
	for (size_t i = 0; i < e->nwork; i++) {
		struct work_item *w = &e->work[i];
		struct tracked *t = w->t;
		struct sock_event ev;

		if (!t)
			continue;
		switch (w->step) {
		case STEP_ARM:
			arms = true;
			break;
		case STEP_ALIVE:
			alive++;
			e->stats.alive++;
			ev = event_of(e, t, reason_name(REASON_ANSWERED));
			ev.probes = -1;
			log_sock(LOG_INFO, MSGID_ALIVE, &ev, "peer answered, options restored");
			row_verdict(e, t, V_ALIVE, REASON_ANSWERED);
			forget(e, w);
			break;
		case STEP_INCONCLUSIVE:
			/* No probe left (data queued: the retransmit timer runs instead). */
			t->state = TS_SUSPECT;
			ev = event_of(e, t, NULL);
			ev.probes = -1;
			log_sock(LOG_DEBUG, NULL, &ev, "no probe went out by the deadline (data in "
				 "flight): options restored, probing again later");
			row_verdict(e, t, V_INCONCLUSIVE, REASON_NONE);
			break;
		default:
			break;
		}
	}
	if (arms)
		arm_round(e);
	return alive;
}

/* What destroying a dead connection answered. */
static void reaped(struct engine *e, struct work_item *w, const struct sock_event *ev, int r)
{
	struct tracked *t = w->t;

	if (r == 0 || r == -ENOENT) {
		t->armed = false; /* nothing left to put back */
		journal_remove(&e->journal, t->cookie);
	}
	if (r == 0) {
		e->stats.reaped++;
		if (e->reaped_by)
			e->reaped_by[t->policy * REASON_COUNT + t->reason]++;
		log_sock(LOG_NOTICE, MSGID_REAPED, ev, "reaped");
		row_verdict(e, t, V_REAPED, t->reason);
	} else if (r == -ENOENT) {
		/* gone already, or the tuple is now another connection's: the kernel
		 * compared the cookie and left it alone */
		log_sock(LOG_DEBUG, MSGID_GONE, ev, "already gone");
		row_verdict(e, t, V_GONE, t->reason);
	} else if (r == -EALREADY) {
		disarm(e, t);
		e->stats.alive++;
		log_sock(LOG_INFO, MSGID_ALIVE, ev, "its peer was heard from just before the reap: "
			 "spared, options restored");
		row_verdict(e, t, V_ALIVE, REASON_ANSWERED);
	} else if (r == -EAGAIN) {
		/* not what kareaper wrote: its owner set an option while it was
		 * probed; the probes' count is no proof of that owner's intent */
		disarm(e, t);
		log_sock(LOG_NOTICE, NULL, ev, "its owner changed its keepalive options while it "
			 "was probed: spared, handed back, to be proven again");
		row_verdict(e, t, V_INCONCLUSIVE, t->reason);
	} else {
		disarm(e, t); /* it lives on: as its owner had it */
		count_error(e, ERR_DESTROY, "destroy: %s", strerror(-r));
		log_sock(LOG_ERR, NULL, ev, "destroying the socket failed: %s", strerror(-r));
		row_verdict(e, t, V_ERROR, t->reason);
	}
	forget(e, w);
}

static void reap_dead(struct engine *e, unsigned probed_alive)
{
	struct work_item **dead;
	struct sock_op *ops;
	struct rail_item *items;
	struct rail_round round;
	size_t n = 0, m = 0;

	for (size_t i = 0; i < e->nwork; i++)
		n += e->work[i].t && e->work[i].t->state == TS_DEAD;
	if (!n)
		return;
	dead = calloc(n, sizeof(*dead));
	ops = calloc(n, sizeof(*ops));
	items = calloc(n, sizeof(*items));
	if (!dead || !ops || !items) {
		free(dead);
		free(ops);
		free(items);
		count_error(e, ERR_MEMORY, "no memory to judge %zu dead connections", n);
		log_msg(LOG_ERR, NULL, "out of memory: %zu dead connections wait", n);
		return;
	}
	n = 0;
	for (size_t i = 0; i < e->nwork; i++) {
		struct tracked *t = e->work[i].t;

		if (!t || t->state != TS_DEAD)
			continue;
		dead[n] = &e->work[i];
		items[n].dry = dry(e, pol(e, t->policy));
		items[n].idle_only = t->reason == REASON_IDLE;
		items[n].reported = t->reported;
		n++;
	}
	rails_decide(&e->rails, e->cfg, items, n, probed_alive, e->now, &round);
	if (round.tripped) {
		e->stats.breaker_trips++;
		log_msg(LOG_WARNING, MSGID_BREAKER,
			"circuit breaker: %u of %u connections checked this round look dead at "
			"once; reaping none of them (is this host's own network down?)",
			round.evidence_dead, round.evidence_dead + probed_alive);
	}
	/* One pass: the reaped destroyed, the others' options put back. */
	for (size_t i = 0; i < n; i++) {
		struct tracked *t = dead[i]->t;

		/* only if nothing came in since the record the verdict was made on,
		 * and, armed, while it carries exactly what kareaper wrote */
		if (items[i].decision == RAIL_REAP)
			ops[m++] = (struct sock_op){ .s = &t->rec, .owner = &t->owner,
						     .expect = t->armed ? &t->arm : NULL,
						     .quiet = true };
		else if (t->armed)
			ops[m++] = handback_op(t);
	}
	run_ops(e, ops, m, true);
	m = 0;
	for (size_t i = 0; i < n; i++) {
		struct tracked *t = dead[i]->t;
		struct sock_event ev;
		int r = 0;

		if (items[i].decision == RAIL_REAP)
			r = ops[m++].result;
		else if (t->armed)
			restored(e, t, &ops[m++]);
		ev = event_of(e, t, reason_name(t->reason));
		switch (items[i].decision) {
		case RAIL_HELD:
			e->stats.held++;
			row_verdict(e, t, V_HELD, t->reason);
			forget(e, dead[i]);
			break;
		case RAIL_WOULD_REAP:
			if (!t->reported) {
				e->stats.would_reap++;
				log_sock(LOG_NOTICE, MSGID_WOULD_REAP, &ev, "dry run: would reap");
			}
			t->reported = true;
			row_verdict(e, t, V_WOULD_REAP, t->reason);
			break;
		case RAIL_RATE_LIMITED:
			/* not on this evidence later: its probes stopped with the
			 * restore, and a peer back meanwhile could not be heard; a
			 * later round proves it again */
			t->state = TS_SUSPECT;
			row_verdict(e, t, V_RATE_LIMITED, t->reason);
			break;
		case RAIL_REAP:
			reaped(e, dead[i], &ev, r);
			break;
		}
	}
	if (round.limited) {
		e->stats.rate_limited += round.limited;
		log_msg(LOG_NOTICE, MSGID_RATE_LIMITED,
			"%u dead connections wait for a later round (max_reaps_per_scan = %u, "
			"max_reaps_per_minute = %u)", round.limited, e->cfg->max_reaps_per_scan,
			e->cfg->max_reaps_per_minute);
	}
	free(dead);
	free(ops);
	free(items);
}

/* Entries whose socket was not in this complete scan are gone. */
static void sweep(struct engine *e)
{
	struct verdict_table *vt = &e->verdicts;

	for (size_t b = 0; b < vt->nbuckets; b++) {
		struct tracked *t = vt->buckets[b], *next;

		for (; t; t = next) {
			struct netns *n = netns_find(&e->netns, t->rec.netns);

			next = t->next;
			if (t->seen_scan == vt->scan_gen)
				continue;
			if (n && !n->dumped)
				continue; /* its namespace could not be listed this time */
			if (t->state == TS_PROBING)
				gone_while_probing(e, t, 1);
			verdict_forget(vt, t);
		}
	}
}

/* The sockets tracked in n, which its listing must include whatever their idle,
 * and the arming it carries: set only if the options still are the journaled ones
 * and nothing came in since they were. */
static int keep_list(struct engine *e, const struct netns *n)
{
	const struct verdict_table *vt = &e->verdicts;

	e->nkeep = e->ncarry = 0;
	for (size_t b = 0; b < vt->nbuckets; b++)
		for (struct tracked *t = vt->buckets[b]; t; t = t->next) {
			if (t->rec.netns != n->ino)
				continue;
			if (array_grow(&e->keep, &e->capkeep, e->nkeep, sizeof(*e->keep)) < 0)
				return -ENOMEM;
			e->keep[e->nkeep++] = t->cookie;
			if (t->state != TS_ARMING)
				continue;
			if (array_grow(&e->carry, &e->capcarry, e->ncarry, sizeof(*e->carry)) < 0 ||
			    array_grow(&e->carry_t, &e->capcarry_t, e->ncarry, sizeof(*e->carry_t)) < 0)
				return -ENOMEM;
			e->carry_t[e->ncarry] = t;
			e->carry[e->ncarry++] = (struct sock_op){
				.s = &t->rec, .owner = &t->owner, .set = &t->arm,
				.expect = &t->saved, .quiet = true, .result = 1 };
		}
	e->filter.keep = e->keep;
	e->filter.nkeep = e->nkeep;
	e->filter.ops = e->carry;
	e->filter.nops = e->ncarry;
	return 0;
}

/* What the listing's arming answered; those it did not get to wait for the next. */
static void carried(struct engine *e)
{
	for (size_t i = 0; i < e->ncarry; i++)
		if (e->carry[i].result != 1) {
			arm_result(e, e->carry_t[i], e->carry[i].result, true);
			e->carried_round++;
		}
	e->ncarry = 0;
	e->filter.nops = 0;
}

static void list_namespace(struct engine *e, struct netns *n)
{
	uint64_t matched = e->stats.matched;
	int r;

	e->cur = n;
	r = keep_list(e, n);
	for (int attempt = 0; r == 0; attempt++) {
		size_t rows_mark = e->report.n, deferred_mark = e->ndeferred;

		r = e->ops->enumerate(n->be, &e->filter, scan_cb, e);
		if (r == -EINTR && attempt < 3) {
			report_truncate(&e->report, rows_mark);
			e->ndeferred = deferred_mark;
			e->stats.matched = matched; /* counted again by the next attempt */
			log_msg(LOG_DEBUG, NULL, "socket dump interrupted, starting over");
			r = 0;
			continue;
		}
		if (r >= 0) {
			e->stats.scanned += (uint64_t)r;
			r = 0;
		}
		break;
	}
	carried(e);
	n->dumped = r == 0;
	if (r < 0) {
		count_error(e, ERR_DUMP, "dump of %s: %s", n->name, strerror(-r));
		log_msg(LOG_ERR, NULL, "socket dump of network namespace %s failed: %s", n->name,
			strerror(-r));
	}
}

/* Removals from the journal are written once a round. Failing that, a restart would
 * put back once more what is back already: harmless, but said. */
static void sync_journal(struct engine *e)
{
	int r = journal_sync(&e->journal);

	if (r < 0) {
		count_error(e, ERR_JOURNAL, "cannot write %s: %s", e->journal.path, strerror(-r));
		log_msg(LOG_ERR, NULL, "cannot write the probe journal %s: %s", e->journal.path,
			strerror(-r));
	}
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
	netns_discover(&e->netns, e->cfg);
	for (size_t i = 0; i < e->netns.n; i++)
		list_namespace(e, e->netns.ns[i]);
	t_dump = elapsed_clock_ms();
	e->stats.last_scanned = e->stats.scanned - scanned_before;
	fill_owners(e);
	sweep(e);
	t_owners = elapsed_clock_ms();
	alive = process_work(e);
	reap_dead(e, alive);
	if (e->journal.n)
		restore_journaled(e, false);
	sync_journal(e);
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
			 * last probe still has over an interval to be answered. */
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
				/* ask again an interval later, not at once: the deadline passed */
				t->deadline = now + p->interval_ms;
				count_error(e, ERR_QUERY, "query of a probed socket: %s", strerror(-r));
				log_msg(LOG_WARNING, NULL, "query of a probed socket failed: %s",
					strerror(-r));
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
		for (struct tracked *t = e->verdicts.buckets[b]; t; t = t->next)
			if (t->state == TS_PROBING && t->deadline < min)
				min = t->deadline;
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

static void restore_failed(struct engine *e, const struct journal_entry *je, int r)
{
	count_error(e, ERR_RESTORE, "cannot restore cookie %llu: %s",
		    (unsigned long long)je->cookie, strerror(-r));
	log_msg(LOG_WARNING, NULL, "cannot put the owner's keepalive options back on socket "
		"inode %u (cookie %llu): %s; kept in the journal, tried again every round%s",
		je->inode,
		(unsigned long long)je->cookie, strerror(-r), r == -ENXIO ?
		" (its network namespace is not watched now: see namespaces in "
		"kareaper.conf(5))" : "");
}

/* Whether a journaled socket is kareaper's to hand back now: not while armed, or
 * while a listing is to arm it. */
static bool handing_back(struct engine *e, const struct journal_entry *je, bool all)
{
	struct tracked *t = verdict_find(&e->verdicts, je->cookie);

	if (all || !t)
		return true;
	return !t->armed && t->state != TS_ARMING;
}

/* What restore_journaled() hands back: copies of the journal's entries (restored
 * ones leave the journal as it goes), each socket's record and owner, its op. */
struct handbacks {
	struct journal_entry *ents;
	struct sock_rec *recs;
	struct owner *owners;
	struct sock_op *ops;
	size_t n;
};

/* The netlink backend's owners that moved or were never known: found in one
 * lookup, not one per socket (thousands may be armed), and tried again. */
static void handback_lookup(struct engine *e, struct handbacks *h)
{
	struct owner_map m = { 0 };
	struct sock_op *again;
	size_t *at, k = 0;

	for (size_t i = 0; i < h->n; i++) {
		h->ents[i].lookup = h->ops[i].result == -ESTALE || h->ops[i].result == -ESRCH;
		if (h->ents[i].lookup)
			owner_map_want(&m, h->recs[i].inode, h->recs[i].cgroup);
	}
	if (!m.n)
		return;
	again = calloc(m.n, sizeof(*again));
	at = calloc(m.n, sizeof(*at));
	e->ops->find_owners(&m);
	for (size_t i = 0; i < h->n; i++) {
		if (!h->ents[i].lookup || !owner_map_get(&m, h->recs[i].inode, &h->owners[i]))
			continue; /* no process holds it: run_ops() said if it is gone */
		if (again && at) {
			at[k] = i;
			again[k++] = h->ops[i];
		} else {
			h->ops[i].result = -ENOMEM; /* kept for the next round */
		}
	}
	run_ops(e, again, k, false);
	for (size_t q = 0; q < k; q++)
		h->ops[at[q]] = again[q];
	free(again);
	free(at);
	owner_map_free(&m);
}

/* Journaled sockets handed back to their owners (policy_handback: what still is
 * kareaper's goes back): every one at start (what a crashed run left), on reload
 * and on stop (all); else, at the end of each round, those not armed: those an
 * earlier hand-back could not reach. A socket leaves the journal when it is
 * handed back or proven gone, never otherwise. */
static void restore_journaled(struct engine *e, bool all)
{
	struct journal *j = &e->journal;
	size_t cap = j->n ? j->n : 1, restored = 0, failed = 0;
	struct handbacks h = {
		.ents = calloc(cap, sizeof(*h.ents)), .recs = calloc(cap, sizeof(*h.recs)),
		.owners = calloc(cap, sizeof(*h.owners)), .ops = calloc(cap, sizeof(*h.ops)),
	};

	if (!h.ents || !h.recs || !h.owners || !h.ops) {
		count_error(e, ERR_MEMORY, "no memory to restore %zu sockets", j->n);
		log_msg(LOG_ERR, NULL, "out of memory: %zu sockets keep kareaper's keepalive "
			"options until the next round", j->n);
		goto out;
	}
	/* through the owner we know (if the backend needs one) */
	for (size_t i = 0; i < j->n; i++) {
		struct tracked *t = verdict_find(&e->verdicts, j->e[i].cookie);
		struct journal_entry *je = &h.ents[h.n];

		if (!handing_back(e, &j->e[i], all))
			continue;
		if (t)
			t->armed = false;
		*je = j->e[i];
		je->id.idiag_cookie[0] = (uint32_t)je->cookie; /* the journal's word */
		je->id.idiag_cookie[1] = (uint32_t)(je->cookie >> 32);
		sock_rec_set_id(&h.recs[h.n], je->family, &je->id);
		h.recs[h.n].inode = je->inode;
		h.recs[h.n].netns = je->netns;
		h.recs[h.n].cgroup = t ? t->rec.cgroup : 0;
		h.owners[h.n] = t ? t->owner : (struct owner){ .fd = -1 };
		h.ops[h.n] = (struct sock_op){ .s = &h.recs[h.n], .owner = &h.owners[h.n],
					       .set = &je->saved, .expect = &je->armed,
					       .handback = true };
		h.n++;
	}
	if (!h.n)
		goto out;
	run_ops(e, h.ops, h.n, false);
	handback_lookup(e, &h);
	for (size_t i = 0; i < h.n; i++) {
		if (handed_back(e, h.ents[i].cookie, NULL, h.ops[i].result, h.ops[i].owners)) {
			restored += h.ops[i].result == 0;
			continue;
		}
		if (all)
			restore_failed(e, &h.ents[i], h.ops[i].result);
		failed++;
	}
	if (restored || (failed && all))
		log_msg(LOG_INFO, NULL, "put back the keepalive options of %zu probed sockets%s",
			restored, failed ? ", some could not be" : "");
out:
	free(h.ents);
	free(h.recs);
	free(h.owners);
	free(h.ops);
	sync_journal(e);
}

/* Sockets journaled for the next listing to arm, which will not come: out of the
 * journal, untouched. */
static void unqueue(struct engine *e)
{
	struct verdict_table *vt = &e->verdicts;

	for (size_t b = 0; b < vt->nbuckets; b++)
		for (struct tracked *t = vt->buckets[b]; t; t = t->next)
			if (t->state == TS_ARMING) {
				journal_remove(&e->journal, t->cookie);
				t->state = TS_SUSPECT;
			}
}

void engine_restore_all(struct engine *e)
{
	unqueue(e);
	restore_journaled(e, true);
}

/* probe_journal changed on reload: what the new one holds is put back first, then
 * what the old one still holds (hand-backs that could not be made) moves to it,
 * and the old file goes. Without the new one, the old one stays in use. */
static void journal_move(struct engine *e)
{
	struct journal old = e->journal;
	char err[512];
	int r;

	r = journal_start(e, err, sizeof(err));
	if (r < 0) {
		count_error(e, ERR_JOURNAL, "%s", err);
		log_msg(LOG_ERR, NULL, "%s; keeping the probe journal %s", err, old.path);
		journal_finalise(&e->journal);
		e->journal = old;
		return;
	}
	for (size_t i = 0; i < old.n; i++)
		if (!journal_find(&e->journal, old.e[i].cookie) &&
		    journal_add(&e->journal, &old.e[i]) < 0)
			count_error(e, ERR_MEMORY, "no memory for the probe journal");
	if (old.n)
		log_msg(LOG_NOTICE, NULL, "%zu entries of the probe journal %s moved to %s",
			old.n, old.path, e->journal.path);
	if (journal_sync(&e->journal) < 0 || e->journal.dirty) {
		log_msg(LOG_ERR, NULL, "cannot write the probe journal %s: the old one, %s, stays "
			"on disk", e->journal.path, old.path);
	} else {
		while (old.n)
			journal_remove(&old, old.e[0].cookie);
		journal_sync(&old);
	}
	journal_finalise(&old);
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
