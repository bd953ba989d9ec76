/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Socket facts in, policy and evidence out. Pure: no I/O, no clock. */
#pragma once

#include "conf.h"
#include "diagmsg.h"

#define MATCH_NONE       (-1)
#define MATCH_NEED_OWNER (-2) /* a process selector decides: look up the owner first */

/* Never LISTEN, TIME_WAIT, request or orphan sockets, whatever a policy says. */
bool sock_is_candidate(const struct sock_rec *s);

/* First policy whose selectors match wins; netns is the socket's namespace name,
 * comm NULL when the owner is not known. */
int policy_match(const struct config *c, const struct sock_rec *s, const char *netns,
		 const char *comm);

/* Whether any policy could select a socket in the namespace of that name. */
bool policy_selects_netns(const struct config *c, const char *netns);

/* Time since the peer last sent anything, as the kernel reports it (u32 ms: wraps). */
uint64_t sock_idle_ms(const struct sock_rec *s);

/* The smallest idle of any acting policy: below it, no socket can be a suspect. */
uint64_t config_min_idle_ms(const struct config *c);

/* The options kareaper changes on a socket, as getsockopt reads them. */
struct ka_opts {
	int keepalive, idle_s, intvl_s, cnt;
	unsigned user_timeout_ms; /* TCP_USER_TIMEOUT */
};

/* What to arm on a socket idle for idle_ms so that probes leave at once, every
 * interval. TCP_KEEPCNT goes to the kernel's maximum and TCP_USER_TIMEOUT to 0, so
 * the kernel never ends a connection before kareaper's verdict, however late that
 * comes (frozen, crashed): kareaper counts the probes and kills through its rails. */
void policy_arm_opts(const struct policy *p, uint64_t idle_ms, struct ka_opts *o);
/* Bring options read from a socket into what setsockopt() takes: an owner that
 * never set TCP_KEEPIDLE reads the sysctl, which may be more (86400 s) than the
 * 32767 s setsockopt() accepts. True when something changed. */
bool policy_opts_settable(struct ka_opts *o);

/* Handing a socket back. The kernel's count of unanswered keepalive probes
 * (icsk_probes_out, tcpi_probes) survives any setsockopt(); only an ACK from the
 * peer resets it. An owner without keepalive runs no timer that reads it. An
 * owner with keepalive would have its own timer find the count kareaper left,
 * and end the connection at its next probe or before it, on kareaper's probes
 * rather than its own. So until the peer answers, such a socket is held: its
 * owner's options, with TCP_KEEPCNT raised by the count already spent and
 * TCP_USER_TIMEOUT replaced by the probes it stands for, which ends the
 * connection after as many unanswered probes of its owner's timing as its
 * owner's options would, never sooner.
 *
 * How many unanswered probes of its own the owner's options allow before the
 * kernel's keepalive timer ends the connection: TCP_KEEPCNT, or, with a user
 * timeout, those sent before the first probe time at or past it (at least 1). */
unsigned policy_owner_probes(const struct ka_opts *own);
/* What to set on a socket kareaper hands back to own whose kernel counts probes
 * unanswered probes: own itself when that is safe (no keepalive, or no count),
 * else the held options above. True when held. */
bool policy_handback_opts(const struct ka_opts *own, unsigned probes, struct ka_opts *out);
/* Whether cur is a held form of own (own's timing, a raised count, no user
 * timeout): a hand-back made earlier, whose count must not be raised again. */
bool policy_opts_held(const struct ka_opts *cur, const struct ka_opts *own);
/* Whether cur can be what kareaper left on a socket whose owner had own: own
 * itself, own held, or armed (keepalive, TCP_KEEPCNT at the kernel's maximum, no
 * user timeout). Anything else the owner set since, and a restore leaves it. */
bool policy_opts_ours(const struct ka_opts *cur, const struct ka_opts *own);

enum evidence {
	EVIDENCE_NONE,
	EVIDENCE_KEEPALIVE,       /* the owner's own keepalive probes go unanswered */
	EVIDENCE_RETRANSMIT,      /* data outstanding, retransmitted, never acknowledged */
};

/* What the kernel already knows: enough to call the peer dead without probing. */
enum evidence policy_kernel_evidence(const struct policy *p, const struct sock_rec *s);
const char *evidence_name(enum evidence e);
