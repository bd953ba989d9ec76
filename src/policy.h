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
/* Whether the peer is this host: loopback, or the socket's own address. */
bool sock_peer_local(const struct sock_rec *s);
/* A round trip from this host seen completed on it: the time since it sent the
 * data its peer has since acknowledged, all it wrote (nothing in flight, nothing
 * not yet sent: a send a local firewall drops stays unsent), if its peer is
 * elsewhere and its state one of KR_HEARD_STATES; else UINT32_MAX. A segment merely received proves nothing
 * of the way out. The time is u32 ms and wraps: the netlink backend checks that
 * the socket sent something since its previous look. */
uint32_t sock_heard_ms(const struct sock_rec *s);

/* sock_heard_ms's time is u32 ms and wraps every 49.7 days: a fully acknowledged
 * socket that last sent that long ago reads as having sent just now. A record of
 * each such socket's (cookie, bytes_acked) at a walk tells: a socket witnesses
 * only if its pair is not in the previous record (it had something acknowledged
 * since, or is new). Without a previous record, nothing witnesses. */
struct sent_record {
	uint64_t *keys, *next;    /* sorted; the one being made */
	size_t n, cap, nnext, capnext;
	bool have, oom;
};
/* Start a walk, recording (record) or only comparing. */
void sent_record_begin(struct sent_record *r);
/* sock_heard_ms(s) if s sent since the previous record, else UINT32_MAX. */
uint32_t sent_record_heard(struct sent_record *r, const struct sock_rec *s, bool record);
/* End a recording walk: its record replaces the previous one if the walk was
 * whole (keep) and nothing was lost to memory. */
void sent_record_end(struct sent_record *r, bool keep);
void sent_record_free(struct sent_record *r);

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

/* Handing a socket back: what to set on a socket that carries cur, whose owner
 * had own when kareaper armed it with armed (both as read back from the socket).
 * Field by field, what still is exactly kareaper's goes back to the owner's; what
 * the owner set since (a value other than kareaper's) stays. Returns the fields
 * the owner changed, as KA_* bits: neither kareaper's value nor the owner's first
 * one (0: nothing of the owner's was in the way). */
enum { KA_KEEPALIVE = 1, KA_IDLE = 2, KA_INTVL = 4, KA_CNT = 8, KA_USER_TIMEOUT = 16 };
/* In armed: a value kareaper may have written but did not record (an older
 * journal's TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT): any value is taken as its. */
#define KA_ANY (-1)
unsigned policy_handback(const struct ka_opts *cur, const struct ka_opts *armed,
			 const struct ka_opts *own, struct ka_opts *out);
/* The fields in which a and b differ, as KA_* bits. */
unsigned ka_opts_diff(const struct ka_opts *a, const struct ka_opts *b);
/* When the owner's own keepalive ends a silent peer's connection, counted from the
 * peer's last word: TCP_KEEPIDLE, then TCP_KEEPCNT probes TCP_KEEPINTVL apart (or
 * sooner, at the first probe time past a user timeout). In ms. */
uint64_t policy_owner_schedule_ms(const struct ka_opts *own);

enum evidence {
	EVIDENCE_NONE,
	EVIDENCE_KEEPALIVE,       /* the owner's own keepalive probes go unanswered */
};

/* What the kernel already knows: enough to call the peer dead without probing. */
enum evidence policy_kernel_evidence(const struct policy *p, const struct sock_rec *s);
const char *evidence_name(enum evidence e);
