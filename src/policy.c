/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <fnmatch.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <string.h>

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
	/* Retransmitting the same data this many times with no ACK at all. */
	if (s->timer == 1 && s->unacked > 0 && s->retransmits >= p->probes)
		return EVIDENCE_RETRANSMIT;
	return EVIDENCE_NONE;
}

const char *evidence_name(enum evidence e)
{
	switch (e) {
	case EVIDENCE_KEEPALIVE:
		return "keepalive-unanswered";
	case EVIDENCE_RETRANSMIT:
		return "retransmit-unanswered";
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

unsigned policy_owner_probes(const struct ka_opts *own)
{
	uint64_t idle_ms = (uint64_t)(own->idle_s > 0 ? own->idle_s : 1) * 1000;
	uint64_t intvl_ms = (uint64_t)(own->intvl_s > 0 ? own->intvl_s : 1) * 1000;
	uint64_t j;

	if (!own->user_timeout_ms)
		return own->cnt > 0 ? (unsigned)own->cnt : 1;
	/* tcp_keepalive_timer(): at idle, idle + intvl, ... it ends the connection
	 * at the first time at or past the user timeout with a probe out, else
	 * sends one */
	if (own->user_timeout_ms <= idle_ms)
		return 1;
	j = (own->user_timeout_ms - idle_ms + intvl_ms - 1) / intvl_ms;
	return j < KR_MAX_KEEPCNT ? (unsigned)j : KR_MAX_KEEPCNT;
}

bool policy_handback_opts(const struct ka_opts *own, unsigned probes, struct ka_opts *out)
{
	unsigned cnt;

	*out = *own;
	if (!own->keepalive || !probes)
		return false;
	cnt = probes + policy_owner_probes(own);
	out->cnt = cnt < KR_MAX_KEEPCNT ? (int)cnt : KR_MAX_KEEPCNT;
	out->user_timeout_ms = 0;
	return true;
}

bool policy_opts_held(const struct ka_opts *cur, const struct ka_opts *own)
{
	return cur->keepalive && own->keepalive && cur->idle_s == own->idle_s &&
	       cur->intvl_s == own->intvl_s && cur->user_timeout_ms == 0 &&
	       (cur->cnt != own->cnt || own->user_timeout_ms != 0);
}

bool policy_opts_ours(const struct ka_opts *cur, const struct ka_opts *own)
{
	return memcmp(cur, own, sizeof(*cur)) == 0 || policy_opts_held(cur, own) ||
	       (cur->keepalive && cur->cnt == KR_MAX_KEEPCNT && cur->user_timeout_ms == 0);
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
