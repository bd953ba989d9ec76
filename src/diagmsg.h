/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sock_diag messages, pure: build requests and filters, parse replies. No I/O. */
#pragma once

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "parse.h"

/* What kareaper keeps of one dumped socket. */
struct sock_rec {
	uint8_t family;           /* family of the dump that produced it */
	uint8_t state;            /* TCP_* */
	uint8_t timer;            /* 0 none, 1 retransmit, 2 keepalive, 3 time-wait, 4 zero window */
	uint8_t retrans;          /* idiag_retrans: retransmits or probes out, by timer */
	struct inet_diag_sockid id; /* as dumped, cookie included: what SOCK_DESTROY needs */
	uint64_t cookie;
	uint32_t uid, inode, expires_ms;
	struct kaddr local, peer; /* v4-mapped shown as v4 */
	uint16_t lport, rport;
	bool have_info;           /* tcp_info fields below are valid */
	uint8_t probes;           /* keepalive or zero-window probes out */
	uint8_t retransmits;      /* consecutive retransmits of the head */
	uint32_t unacked;
	uint32_t last_data_recv_ms, last_ack_recv_ms;
	uint32_t last_data_sent_ms;
	uint32_t notsent;         /* written, not yet sent (with unacked 0: all acknowledged) */
	uint64_t bytes_acked;
	uint32_t rtt_us;
	uint32_t segs_in;
	uint64_t bytes_received;
	uint64_t cgroup;          /* cgroup v2 id of the process that made it; 0: unknown */
	uint64_t netns;           /* set by the engine: inode of the network namespace */
};

/* A socket's dump id (family AF_INET or AF_INET6) and what follows from it: the
 * cookie, the ports and the addresses (v4-mapped as v4). */
void sock_rec_set_id(struct sock_rec *s, uint8_t family, const struct inet_diag_sockid *id);
/* Build a dump request for one family; bc may be NULL. Returns bytes used or 0. */
size_t diag_build_dump(void *buf, size_t len, uint8_t family, uint32_t states, const void *bc,
		       size_t bclen, uint32_t seq);
/* Exact query or destroy of one socket by its dumped id (cookie included). */
size_t diag_build_exact(void *buf, size_t len, uint16_t type, const struct sock_rec *s,
			uint32_t seq);

/* Compile the port selectors of every policy into INET_DIAG_REQ_BYTECODE, so the
 * kernel skips sockets no policy can match. Returns the length, 0 when no filter
 * can narrow the dump (a policy with no port selector), -ENOSPC when it won't fit. */
int diag_compile_ports(const struct config *c, void *buf, size_t len);
/* Run bytecode the way the kernel does (tests check the compiler with it). */
bool diag_bc_run(const void *bc, size_t len, uint16_t sport, uint16_t dport);

/* Parse one SOCK_DIAG_BY_FAMILY message. 0 or -EBADMSG. */
int diag_parse(const struct nlmsghdr *nlh, struct sock_rec *out);

/* Walk one receive buffer of a dump or exact reply with mnl_cb_run, which checks the
 * sequence number (-EPROTO) and port id (-ESRCH; 0 takes any) and maps
 * NLM_F_DUMP_INTR to -EINTR. For each socket cb is called; a negative return from cb
 * stops the walk and is returned. Returns 1 when more messages are to come, 0 when
 * the reply is complete, -EBADMSG for a truncated or malformed message, or the
 * kernel's -errno (from NLMSG_ERROR or the payload of NLMSG_DONE). */
struct diag_walk {
	uint32_t seq, portid;
	int (*cb)(const struct sock_rec *s, void *data);
	void *data;
};
int diag_walk_buffer(struct diag_walk *w, const void *buf, size_t len);
