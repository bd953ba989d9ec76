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

enum evidence {
	EVIDENCE_NONE,
	EVIDENCE_KEEPALIVE,       /* the owner's own keepalive probes go unanswered */
	EVIDENCE_RETRANSMIT,      /* data outstanding, retransmitted, never acknowledged */
};

/* What the kernel already knows: enough to call the peer dead without probing. */
enum evidence policy_kernel_evidence(const struct policy *p, const struct sock_rec *s);
const char *evidence_name(enum evidence e);
