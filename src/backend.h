/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The seam between kareaper's verdicts and the kernel. Everything that touches one
 * socket goes through these operations: enumerate the candidates, save the owner's
 * keepalive options and arm probes, put them back, query one socket, destroy one by
 * cookie, and (only when a row or a log line asks) find owners. Verdicts, rails,
 * reporting and the probe journal never know which implementation runs.
 *
 * An instance is opened per network namespace, from inside it (the netlink socket or
 * the iterator belongs to the namespace it is created in). Every call returns 0 or a
 * negative errno. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diagmsg.h"
#include "owner.h"
#include "policy.h"

/* A backend may stop looking for heard_ms (below) once one is within this. */
#define KR_HEARD_ENOUGH_MS 100

/* Which sockets to list. A backend may list more than these: the caller matches
 * every socket it is given again.
 * - states: the union of the policies' states;
 * - bc: a port filter for INET_DIAG_REQ_BYTECODE (NULL: none);
 * - cfg: the policies, for a backend that filters by them in the kernel (ports,
 *   addresses, states, idle time); all: idle or not (the --once table);
 * - keep: cookies the caller tracks, to be listed whatever the filter says (a
 *   probed socket whose peer answered is no longer idle, and must not look gone). */
/* One change to one socket: set options (set) or destroy it (set NULL).
 * - expect: act only if the socket's options are exactly these, else -EAGAIN
 *   and nothing changed (arming: the owner's, as read and journaled; destroying
 *   an armed socket: kareaper's, as written);
 * - handback: set is the owner's options and expect what kareaper wrote: each
 *   option that still is kareaper's goes back to the owner's, each the owner
 *   changed since stays as it is (policy_handback), and owners names those;
 * - quiet: only if nothing came in since s was listed (s->segs_in), else
 *   -EALREADY and nothing changed.
 * Only options that differ from the socket's are written. The BPF backend
 * checks and acts under the socket's lock; the netlink backend reads, compares
 * and acts through the owner's descriptor, so a change the owner makes between
 * its read and its write is not seen (kareaper(8)).
 *
 * What an op ends as, in result:
 *   0           done;
 *   -ENOENT     gone: the kernel's exact lookup by id and cookie found no such
 *               socket in its namespace (SOCK_DESTROY's);
 *   -EAGAIN     refused: the options are not what expect says; -EALREADY:
 *               refused, the peer was heard from;
 *   -ENXIO      not attempted: its namespace is not open here;
 *   1           not attempted: a walk or a listing did not get to it;
 *   -errno      failed (-ESRCH, -ESTALE: not reached: the netlink backend found
 *               no process to reach it through, a BPF walk did not meet it;
 *               which does not make it gone: the caller asks an exact query).
 * Only "gone" means the socket no longer needs kareaper. */
#define KR_OP_NOT_DONE 1
struct sock_op {
	const struct sock_rec *s;
	struct owner *owner;
	const struct ka_opts *set, *expect;
	bool quiet, handback;
	int result;
	unsigned owners;          /* handback, out: KA_* bits the owner had changed */
};

struct config;
struct scan_filter {
	uint32_t states;
	const void *bc;
	size_t bclen;
	const struct config *cfg;
	bool all;
	const uint64_t *keep;
	size_t nkeep;
	/* look: list only the sockets of keep, whatever the rest of the filter says
	 * (a backend may list more); heard_ms, out (when set): over every socket in
	 * the filter's states the backend looked at (the netlink one: those bc lets
	 * through), the least time since one whose peer is elsewhere
	 * (sock_peer_local) sent data its peer has since acknowledged, all of it
	 * (sock_heard_ms: a round trip from this host completed); UINT32_MAX: none. */
	bool look;
	uint32_t *heard_ms;
	/* For a backend that carries_ops: ops to carry out on the way, each socket's
	 * before its record is made (the record shows the result). An op's result stays
	 * 1 when the listing did not get to it (try again). Their sockets are in keep. */
	struct sock_op *ops;
	size_t nops;
};

typedef int (*sock_cb)(const struct sock_rec *s, void *data);

struct backend;

struct backend_ops {
	const char *name;
	/* A new instance for the network namespace the calling thread is in. */
	int (*open)(struct backend **ret);
	void (*close)(struct backend *b);
	/* Every TCP socket the filter lets through, v4 and v6. Returns how many sockets
	 * were looked at (the kernel may have looked at more than it listed). -EINTR:
	 * the listing was inconsistent (the socket table changed under it); start over. */
	int (*enumerate)(struct backend *b, const struct scan_filter *f, sock_cb cb, void *data);
	/* Fresh facts about one socket, by id and cookie. -ENOENT: it is gone. */
	int (*query)(struct backend *b, const struct sock_rec *s, struct sock_rec *out);
	/* The socket's options as they are: what arming would change. owner is a hint
	 * the backend may use and update (the netlink backend reaches the socket through
	 * its owner's descriptor). */
	int (*get_opts)(struct backend *b, const struct sock_rec *s, struct owner *owner,
			struct ka_opts *cur);
	/* Carry out one op (set: op->set; destroy: SOCK_DESTROY semantics, by id
	 * and cookie), its result in op->result. Options are set in an order that
	 * never lets the kernel act on a mix of old and new: arming (keepalive)
	 * switches probes on last, restoring switches them off before it puts back
	 * a user timeout. With search false, a backend that needs the owner tries
	 * only the hint and answers -ESTALE when it has moved, so that a caller
	 * restoring many sockets can find all their owners in one pass. b NULL: the
	 * socket's namespace is not open (-ENXIO, or through its owner). */
	void (*op)(struct backend *b, struct sock_op *op, bool search);
	/* Optional: many ops (with search) in one pass. Without it the caller makes
	 * them one at a time. */
	void (*apply)(struct backend *b, struct sock_op *ops, size_t n);
	/* Owners of the inodes m asks for, in every namespace at once. */
	int (*find_owners)(struct owner_map *m);
	/* Every op costs a walk of the socket table, which a listing makes anyway:
	 * enumerate carries filter->ops, and a daemon hands it the next round's. */
	bool carries_ops;
};

/* sock_diag dumps, owners through /proc, pidfd_getfd + setsockopt, SOCK_DESTROY.
 * Arming needs the owner: the caller finds owners of the sockets to arm first
 * (find_owners, one pass), and -ESRCH then means no process holds the socket. */
extern const struct backend_ops backend_netlink;

#ifdef HAVE_BPF
/* iter/tcp, bpf_setsockopt, bpf_sock_destroy; owners by iter/task_file. */
extern const struct backend_ops backend_bpf;
/* NULL when the BPF backend can run here, else why not (for the log). */
const char *backend_bpf_unavailable(void);
/* Whether the loaded programs destroy sockets themselves (bpf_sock_destroy, Linux
 * >= 6.5); without, SOCK_DESTROY does, and needs CAP_NET_ADMIN. */
bool backend_bpf_destroys(void);
/* The kfuncs of the object loaded, for the log: "none" on Linux < 6.2. */
const char *backend_bpf_kfuncs(void);
#endif
