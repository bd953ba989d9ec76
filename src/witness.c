/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The witness: a silent peer is called dead only if a probe went out to it after
 * a round trip from this host was seen completed, and went unanswered. A round
 * trip completed: on another connection of the same namespace, to a peer
 * elsewhere, data this host sent was acknowledged, all of it (the backends'
 * heard_ms, found by every walk on its way); or a peer answered a probe. A
 * segment merely received proves nothing of the way out.
 *
 * A look is taken inside each probe window, half an interval before the probe
 * that follows the policy's last: a walk of the namespace for the latest round
 * trip, then an exact query of each socket being probed there, for its count
 * after that moment (and for answers, round trips themselves). The verdict then
 * needs a probe counted since, unanswered. An outage, however its suspects are
 * spread over rounds, has no witness and reaps nothing; nor does a host on which
 * nothing else completes a round trip (kareaper(8) SAFETY says so). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine-int.h"

static void seen_at(struct netns *n, uint64_t at)
{
	if (at > n->heard_at)
		n->heard_at = at;
}

/* A listing's walk: the latest round trip it saw, for held sockets' re-arming. */
void witness_listed(struct engine *e, struct netns *n, uint32_t heard_ms)
{
	uint64_t now = round_clock(e);

	if (heard_ms != UINT32_MAX && heard_ms <= now)
		seen_at(n, now - heard_ms);
}

/* When a probed peer's answer came, if what came was an answer to a probe (an
 * ack, no data): a round trip from this host. 0: none. */
static uint64_t answered_at(const struct engine *e, const struct tracked *t,
			    const struct sock_rec *s)
{
	uint64_t now = round_clock(e);

	/* a peer on this host answers whatever the host's network does */
	if (sock_peer_local(s) || s->segs_in == t->armed_segs_in ||
	    s->bytes_received != t->armed_bytes_in || s->last_ack_recv_ms > now)
		return 0;
	return now - s->last_ack_recv_ms;
}

void witness_answered(struct engine *e, const struct tracked *t)
{
	struct netns *n = netns_find(&e->netns, t->rec.netns);
	uint64_t at = answered_at(e, t, &t->rec);

	if (n && at)
		seen_at(n, at);
}

static int nothing(const struct sock_rec *s, void *data)
{
	return 0;
}

/* One look at n. What the walk saw and the answers that came before the queries
 * began make the moment; the counts are read after it. */
static void look(struct engine *e, struct netns *n)
{
	const struct verdict_table *vt = &e->verdicts;
	struct scan_filter f = e->filter;
	struct tracked **ts = NULL;
	struct sock_rec *fresh = NULL;
	uint32_t heard = UINT32_MAX;
	uint64_t begun, now, at = 0;
	size_t m = 0, capts = 0, capfresh = 0;
	int r;

	n->looked_gen = e->work_gen;
	f.keep = NULL;
	f.nkeep = 0;
	f.ops = NULL;
	f.nops = 0;
	f.look = true;
	f.heard_ms = &heard;
	f.bc = NULL; /* every port: the netlink backend's listings see only the policies' */
	f.bclen = 0;
	r = e->ops->enumerate(n->be, &f, nothing, e);
	begun = round_clock(e);
	if (r >= 0 && heard != UINT32_MAX && heard <= begun)
		at = begun - heard;
	for (size_t b = 0; b < vt->nbuckets; b++)
		for (struct tracked *t = vt->buckets[b]; t; t = t->next) {
			if (t->state != TS_PROBING || t->rec.netns != n->ino)
				continue;
			if (array_grow(&ts, &capts, m, sizeof(*ts)) < 0 ||
			    array_grow(&fresh, &capfresh, m, sizeof(*fresh)) < 0)
				goto out; /* no witness from this look */
			if (query_tracked(e, t, &fresh[m]) == 0) {
				uint64_t a = answered_at(e, t, &fresh[m]);

				if (a && a <= begun && a > at)
					at = a;
				ts[m++] = t;
			}
		}
	seen_at(n, at);
	now = round_clock(e); /* no earlier than any count read */
	for (size_t i = 0; i < m; i++)
		if (fresh[i].segs_in == ts[i]->armed_segs_in)
			verdict_heard(ts[i], pol(e, ts[i]->policy), at, &fresh[i], now);
out:
	free(ts);
	free(fresh);
}

/* The looks due, and one for each verdict due without a witness yet (its look
 * came before any round trip did: a verdict that then finds its probe not yet
 * counted moves on by one, rather than be held). */
void witness_looks(struct engine *e)
{
	const struct verdict_table *vt = &e->verdicts;

	for (size_t b = 0; b < vt->nbuckets; b++)
		for (struct tracked *t = vt->buckets[b]; t; t = t->next) {
			uint64_t due = e->now + pol(e, t->policy)->interval_ms / 4;
			bool look_due = t->look_at && t->look_at <= e->now;
			struct netns *n;

			if (t->state != TS_PROBING)
				continue;
			if (look_due)
				t->look_at = 0;
			if (t->witnessed || !(look_due || t->deadline <= due))
				continue;
			n = netns_find(&e->netns, t->rec.netns);
			if (n && n->looked_gen != e->work_gen)
				look(e, n);
		}
}

/* A look at each namespace where sockets are held for want of a witness and
 * none has been seen since: the listings' walks see only the policies' ports
 * with some backends, and no look is taken while nothing is probed. */
void witness_held_looks(struct engine *e)
{
	const struct verdict_table *vt = &e->verdicts;

	for (size_t b = 0; b < vt->nbuckets; b++)
		for (struct tracked *t = vt->buckets[b]; t; t = t->next) {
			struct netns *n;

			if (t->state != TS_SUSPECT || !t->held_at || witness_heard_since(e, t))
				continue;
			n = netns_find(&e->netns, t->rec.netns);
			if (n && n->looked_gen != e->work_gen)
				look(e, n);
		}
}

/* Due also when a look is not needed (already witnessed): one timer sequence. */
uint64_t witness_next(const struct tracked *t)
{
	return t->state == TS_PROBING && t->look_at ? t->look_at : UINT64_MAX;
}

bool witness_heard_since(const struct engine *e, const struct tracked *t)
{
	const struct netns *n = netns_find(&e->netns, t->rec.netns);

	return n && n->heard_at > t->held_at;
}
