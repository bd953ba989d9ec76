/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <fnmatch.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "policy.h"

bool sock_is_candidate(const struct sock_rec *s)
{
	if (s->inode == 0)  /* orphan: no process holds it any more */
		return false;
	return (KR_SELECTABLE_STATES & (1u << s->state)) != 0;
}

static bool process_match(char *const *list, const char *comm)
{
	for (; *list; list++)
		if (strcmp(*list, comm) == 0)
			return true;
	return false;
}

static bool netns_match(char *const *globs, const char *name)
{
	for (; *globs; globs++)
		if (fnmatch(*globs, name, 0) == 0)
			return true;
	return false;
}

bool policy_selects_netns(const struct config *c, const char *netns)
{
	for (size_t i = 0; i < c->n_policies; i++)
		if (!c->policies[i].netns || netns_match(c->policies[i].netns, netns))
			return true;
	return false;
}

int policy_match(const struct config *c, const struct sock_rec *s, const char *netns,
		 const char *comm)
{
	if (!sock_is_candidate(s))
		return MATCH_NONE;
	for (size_t i = 0; i < c->n_policies; i++) {
		const struct policy *p = &c->policies[i];

		if (!(p->states & (1u << s->state)))
			continue;
		if (!port_set_match(&p->local_port, s->lport) ||
		    !port_set_match(&p->remote_port, s->rport))
			continue;
		if (!cidr_set_match(&p->local_addr, &s->local) ||
		    !cidr_set_match(&p->remote_addr, &s->peer))
			continue;
		if (p->netns && !netns_match(p->netns, netns ? netns : "self"))
			continue;
		if (p->process) {
			if (!comm)
				return MATCH_NEED_OWNER;
			if (!process_match(p->process, comm))
				continue;
		}
		return (int)i;
	}
	return MATCH_NONE;
}

uint64_t sock_idle_ms(const struct sock_rec *s)
{
	return s->last_data_recv_ms < s->last_ack_recv_ms ? s->last_data_recv_ms
							  : s->last_ack_recv_ms;
}

bool sock_peer_local(const struct sock_rec *s)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };

	if (s->peer.family == AF_INET && s->peer.a[0] == 127)
		return true; /* v4-mapped too: shown as v4 */
	if (s->peer.family == AF_INET6 && !memcmp(s->peer.a, v6_loopback, 16))
		return true;
	return s->peer.family == s->local.family &&
	       !memcmp(s->peer.a, s->local.a, s->peer.family == AF_INET ? 4 : 16);
}

uint32_t sock_heard_ms(const struct sock_rec *s)
{
	if (!s->have_info || s->state >= 32 || !(KR_HEARD_STATES & (1u << s->state)) ||
	    s->unacked || s->notsent || sock_peer_local(s))
		return UINT32_MAX;
	return s->last_data_sent_ms;
}

static uint64_t sent_key(const struct sock_rec *s)
{
	uint64_t x = s->cookie ^ (s->bytes_acked * 0x9e3779b97f4a7c15ULL);

	/* splitmix64's finalizer: a collision only ever hides a witness */
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void sent_record_begin(struct sent_record *r)
{
	r->nnext = 0;
	r->oom = false;
}

uint32_t sent_record_heard(struct sent_record *r, const struct sock_rec *s, bool record)
{
	uint32_t heard = sock_heard_ms(s);
	uint64_t k;

	if (heard == UINT32_MAX)
		return heard;
	k = sent_key(s);
	if (record) {
		if (array_grow(&r->next, &r->capnext, r->nnext, sizeof(k)) < 0)
			r->oom = true;
		else
			r->next[r->nnext++] = k;
	}
	if (!r->have || (r->n && bsearch(&k, r->keys, r->n, sizeof(k), cmp_u64)))
		return UINT32_MAX;
	return heard;
}

void sent_record_end(struct sent_record *r, bool keep)
{
	uint64_t *t = r->keys;
	size_t cap = r->cap;

	if (!keep || r->oom)
		return;
	if (r->nnext) /* (never NULL to qsort, even for none) */
		qsort(r->next, r->nnext, sizeof(*r->next), cmp_u64);
	r->keys = r->next;
	r->n = r->nnext;
	r->cap = r->capnext;
	r->next = t;
	r->capnext = cap;
	r->nnext = 0;
	r->have = true;
}

void sent_record_free(struct sent_record *r)
{
	free(r->keys);
	free(r->next);
	*r = (struct sent_record){ 0 };
}

uint64_t config_min_idle_ms(const struct config *c)
{
	uint64_t min = UINT64_MAX;

	for (size_t i = 0; i < c->n_policies; i++)
		if (c->policies[i].action != ACTION_IGNORE && c->policies[i].idle_ms < min)
			min = c->policies[i].idle_ms;
	return min;
}

enum evidence policy_kernel_evidence(const struct policy *p, const struct sock_rec *s)
{
	/* icsk_probes_out counts keepalive (or zero-window) probes since the last ACK:
	 * every incoming ACK resets it. This many unanswered in a row while the keepalive
	 * timer runs is the owner's own keepalive going unanswered. Probes left counted
	 * by an earlier round of ours (whose options were put back, so no timer runs)
	 * are not the owner's: such a socket is probed again and judged on new probes. */
	if (s->timer == 2 && s->probes >= p->probes)
		return EVIDENCE_KEEPALIVE;
	/* Data outstanding is no evidence here: retransmission timeouts back off, so
	 * a few retransmits are a second of loss, and the kernel itself ends such a
	 * connection after tcp_retries2 (about 15 minutes). */
	return EVIDENCE_NONE;
}

const char *evidence_name(enum evidence e)
{
	switch (e) {
	case EVIDENCE_KEEPALIVE:
		return "keepalive-unanswered";
	case EVIDENCE_NONE:
		break;
	}
	return "none";
}

void policy_arm_opts(const struct policy *p, uint64_t idle_ms, struct ka_opts *o)
{
	uint64_t idle_s = idle_ms / 1000;

	o->keepalive = 1;
	o->intvl_s = (int)(p->interval_ms / 1000);
	/* The kernel ends the connection when its running count of unanswered probes
	 * (not reset by arming) reaches this: at most, so that only kareaper kills. */
	o->cnt = KR_MAX_KEEPCNT;
	/* A non-zero user timeout makes the keepalive timer end the connection as soon
	 * as one probe is outstanding past it. */
	o->user_timeout_ms = 0;
	/* Once keepalive is on, TCP_KEEPIDLE below the time already idle fires the first
	 * probe at once; after an answer the next waits one interval. */
	o->idle_s = o->intvl_s;
	if (idle_s < (uint64_t)o->idle_s)
		o->idle_s = idle_s > 0 ? (int)idle_s : 1;
}

unsigned ka_opts_diff(const struct ka_opts *a, const struct ka_opts *b)
{
	return (a->keepalive != b->keepalive ? KA_KEEPALIVE : 0) |
	       (a->idle_s != b->idle_s ? KA_IDLE : 0) |
	       (a->intvl_s != b->intvl_s ? KA_INTVL : 0) |
	       (a->cnt != b->cnt ? KA_CNT : 0) |
	       (a->user_timeout_ms != b->user_timeout_ms ? KA_USER_TIMEOUT : 0);
}

/* Whether a value on the socket is the one kareaper wrote (KA_ANY: any). */
static bool ours(int cur, int armed)
{
	return armed == KA_ANY || cur == armed;
}

unsigned policy_handback(const struct ka_opts *cur, const struct ka_opts *armed,
			 const struct ka_opts *own, struct ka_opts *out)
{
	struct ka_opts o = *own;
	unsigned owners;

	/* the owner's: neither what kareaper wrote nor what the owner had */
	owners = ka_opts_diff(cur, armed) & ka_opts_diff(cur, own) &
		 ~((armed->idle_s == KA_ANY ? KA_IDLE : 0u) |
		   (armed->intvl_s == KA_ANY ? KA_INTVL : 0u) | (armed->cnt == KA_ANY ? KA_CNT : 0u));
	/* an owner that never set TCP_KEEPIDLE read the sysctl, which may be more
	 * than setsockopt() takes: the nearest it takes */
	policy_opts_settable(&o);
	own = &o;
	/* what is not kareaper's stays as it is */
	out->keepalive = cur->keepalive != armed->keepalive ? cur->keepalive : own->keepalive;
	out->idle_s = ours(cur->idle_s, armed->idle_s) ? own->idle_s : cur->idle_s;
	out->intvl_s = ours(cur->intvl_s, armed->intvl_s) ? own->intvl_s : cur->intvl_s;
	out->cnt = ours(cur->cnt, armed->cnt) ? own->cnt : cur->cnt;
	out->user_timeout_ms = cur->user_timeout_ms != armed->user_timeout_ms ?
			       cur->user_timeout_ms : own->user_timeout_ms;
	return owners;
}

uint64_t policy_owner_schedule_ms(const struct ka_opts *own)
{
	uint64_t idle = (uint64_t)(own->idle_s > 0 ? own->idle_s : 1) * 1000;
	uint64_t intvl = (uint64_t)(own->intvl_s > 0 ? own->intvl_s : 1) * 1000;
	uint64_t cnt = own->cnt > 0 ? (uint64_t)own->cnt : 1;
	uint64_t k;

	if (!own->user_timeout_ms)
		return idle + cnt * intvl;
	/* tcp_keepalive_timer(): with a user timeout, the first probe time at or past
	 * it with a probe out ends the connection */
	if (own->user_timeout_ms <= idle)
		return idle + intvl;
	/* (TCP_KEEPCNT plays no part then) */
	k = (own->user_timeout_ms - idle + intvl - 1) / intvl;
	return idle + k * intvl;
}

static int clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

bool policy_opts_settable(struct ka_opts *o)
{
	struct ka_opts c = *o;

	c.idle_s = clamp(o->idle_s, 1, KR_MAX_KEEPIDLE_S);
	c.intvl_s = clamp(o->intvl_s, 1, KR_MAX_KEEPINTVL_S);
	c.cnt = clamp(o->cnt, 1, KR_MAX_KEEPCNT);
	if (c.user_timeout_ms > INT_MAX)
		c.user_timeout_ms = INT_MAX;
	if (memcmp(&c, o, sizeof(c)) == 0)
		return false;
	*o = c;
	return true;
}
