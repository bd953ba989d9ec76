/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Stage 4, handing back and the journal's lifecycle: what still is kareaper's
 * on a socket goes back to its owner's (policy_handback), after each verdict,
 * at the end of every round for what could not be reached before, on reload and
 * stop, and at start for what a crashed run left; a journal entry leaves only
 * when its socket is handed back or proven gone. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine-int.h"

/* The probe journal of cfg: locked, read, and every socket in it put back as its
 * owner had it, before anything new is probed. A corrupt one is reported and
 * ignored; one another kareaper holds is an error. */
int journal_start(struct engine *e, char *errbuf, size_t errlen)
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
/* What a hand-back leaves of t: not armed; what kareaper's unanswered probes
 * left counted, from which its owner's probes, should it switch keepalive on,
 * count; no witness of kareaper's probing (an owner's probes start over). */
static void handed_back_left(struct tracked *t)
{
	t->armed = false;
	t->probes_left = t->rec.probes + 1u;
	t->probing_since = 0;
	t->witnessed = false;
}

void restored(struct engine *e, struct tracked *t, const struct sock_op *op)
{
	struct sock_event ev = event_of(e, t, NULL);

	ev.probes = -1;
	if (handed_back(e, t->cookie, &ev, op->result, op->owners)) {
		handed_back_left(t);
		return;
	}
	/* still armed, as far as anyone can tell: a destroy goes over it only while
	 * it carries exactly kareaper's, and no verdict reads its count */
	count_error(e, ERR_RESTORE, "cannot restore cookie %llu: %s",
		    (unsigned long long)t->cookie, strerror(-op->result));
	log_sock(LOG_WARNING, NULL, &ev, "cannot put the owner's keepalive options back: %s; "
		 "kept in the journal, tried again every round", strerror(-op->result));
}

/* The hand-back of t: the owner's options over what kareaper wrote. */
struct sock_op handback_op(struct tracked *t)
{
	return (struct sock_op){ .s = &t->rec, .owner = &t->owner, .set = &t->saved,
				 .expect = &t->arm, .handback = true };
}

/* Hand sockets back to their owners, in one pass (restored()). What stays in the
 * journal is tried again at the end of every round and at the next start, and is
 * never armed anew meanwhile. */
void disarm_all(struct engine *e, struct tracked **ts, size_t n)
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

void disarm(struct engine *e, struct tracked *t)
{
	disarm_all(e, &t, 1);
}

/* Removals from the journal are written once a round. Failing that, a restart would
 * put back once more what is back already: harmless, but said. */
void sync_journal(struct engine *e)
{
	int r = journal_sync(&e->journal);

	if (r < 0) {
		count_error(e, ERR_JOURNAL, "cannot write %s: %s", e->journal.path, strerror(-r));
		log_msg(LOG_ERR, NULL, "cannot write the probe journal %s: %s", e->journal.path,
			strerror(-r));
	}
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

/* Whether a journaled socket is kareaper's to hand back now: not while it is being
 * probed, or while a listing is to arm it. */
static bool handing_back(struct engine *e, const struct journal_entry *je, bool all)
{
	struct tracked *t = verdict_find(&e->verdicts, je->cookie);

	if (all || !t)
		return true;
	return t->state != TS_PROBING && t->state != TS_ARMING;
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
void restore_journaled(struct engine *e, bool all)
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
		*je = j->e[i];
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
			struct tracked *t = verdict_find(&e->verdicts, h.ents[i].cookie);

			if (t)
				handed_back_left(t);
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
void unqueue(struct engine *e)
{
	struct verdict_table *vt = &e->verdicts;

	for (size_t b = 0; b < vt->nbuckets; b++)
		for (struct tracked *t = vt->buckets[b]; t; t = t->next)
			if (t->state == TS_ARMING) {
				journal_remove(&e->journal, t->cookie);
				t->state = TS_SUSPECT;
			}
}

/* probe_journal changed on reload: what the new one holds is put back first, then
 * what the old one still holds (hand-backs that could not be made) moves to it,
 * and the old file goes. Without the new one, the old one stays in use. */
void journal_move(struct engine *e)
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
