// SPDX-License-Identifier: GPL-2.0-or-later
/* kareaper's BPF programs, CO-RE, loaded by backend-bpf.c:
 *
 * - kr_tcp (iter/tcp), in two modes. KR_BPF_SCAN: for each TCP socket of the
 *   network namespace the iterator was created in, check the policies' states,
 *   ports, addresses and idle times, and write a kr_bpf_sock for the candidates and
 *   for the sockets user space tracks (the keep map). KR_BPF_ACT: for each socket
 *   the ops map names by cookie, set its keepalive options with bpf_setsockopt or
 *   destroy it with bpf_sock_destroy, and write the result back into the map. The
 *   iterator holds the socket's lock while the program runs: what it reads and
 *   what it sets cannot interleave with the owner's own setsockopt.
 * - kr_owners (iter/task_file): the process and descriptor of every socket inode
 *   the want map asks for, each once (the first holder in pid order); over every
 *   process, or over one when its link names it.
 * - kr_procs (iter/task): the processes in the cgroups user space names, the
 *   cgroups the wanted sockets were made in: where their owners most likely are.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf-shared.h"

#define AF_INET  2
#define AF_INET6 10
#define SOL_SOCKET 1
#define SO_KEEPALIVE 9
#define SOL_TCP 6
#define TCP_KEEPIDLE 4
#define TCP_KEEPINTVL 5
#define TCP_KEEPCNT 6
#define TCP_USER_TIMEOUT 18
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EAGAIN 11
#define EALREADY 114
#define EOPNOTSUPP 95
#define PF_KTHREAD 0x00200000

/* inet_connection_sock.icsk_pending */
#define ICSK_TIME_RETRANS 1
#define ICSK_TIME_PROBE0 3
#define ICSK_TIME_LOSS_PROBE 5
#define ICSK_TIME_REO_TIMEOUT 6

/* The kernel's HZ, from user space (the tick that clock_getres reports for the
 * coarse clocks): jiffies to seconds and milliseconds without the kernel's
 * configuration file. Set before loading, so the verifier sees a constant. */
const volatile __u32 hz = 0;
/* KAREAPER_BPF_EMPTY_WALK=1: the scan walk turns every socket away unread (what
 * the kernel's iteration costs by itself, for bench/run.sh). */
const volatile __u32 empty_walk = 0;
/* The kfuncs, each in the objects built for kernels that have it (Makefile.am:
 * one object per set of kfuncs; backend-bpf.c loads the one whose kfuncs the
 * running kernel's BTF has). Not weak: a weak kfunc the kernel lacks sends libbpf
 * (1.1) to the modules' BTF, which needs CAP_SYS_ADMIN, and kernels before 5.18
 * refuse an unresolved call, before 6.4 the test of its address. Debian 12's
 * bpftool writes no kfunc declarations into vmlinux.h. */
#ifdef KR_KFUNC_SOCK_DESTROY
extern int bpf_sock_destroy(struct sock_common *sk) __ksym; /* Linux >= 6.5 */
#endif
#ifdef KR_KFUNC_RDONLY_CAST
/* Linux >= 6.2: a read-only view of an object as another BTF type */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#endif

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before each run, and counted by each: one variable
 * (bpf-shared.h), laid out alike in every object (the compiler orders separate
 * globals as it likes, and each object's code differs). */
struct kr_bpf_vars vars;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KR_BPF_MAX_KEEP);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u8);
} keep SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KR_BPF_MAX_OPS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct kr_bpf_op);
} ops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KR_BPF_MAX_WANT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, __u8);
} want SEC(".maps");

static __always_inline __u32 jiffies_to_ms(__u32 j)
{
	__u64 ms = (__u64)j * 1000 / hz;

	return ms > 0xffffffffULL ? 0xffffffffU : (__u32)ms; /* saturated, never wrapped */
}

/* Until a timer fires, as inet_diag reports it (jiffies_delta_to_msecs): one the
 * wheel has not run yet although due reads 0, not 49 days. */
static __always_inline __u32 expires_ms(__u32 expires, __u32 now)
{
	return (__s32)(expires - now) > 0 ? jiffies_to_ms(expires - now) : 0;
}

static __always_inline bool port_in(const struct kr_bpf_range *r, __u8 n, __u16 port)
{
	for (int i = 0; i < KR_BPF_MAX_RANGES; i++) {
		if (i >= n)
			break;
		if (port >= r[i].lo && port <= r[i].hi)
			return true;
	}
	return false;
}

static __always_inline bool cidr_hit(const struct kr_bpf_cidr *c, __u8 family, const __u32 *a)
{
	__u32 words, bits = c->plen;

	if (c->family != family)
		return false;
	words = family == AF_INET ? 1 : 4;
	for (__u32 w = 0; w < 4; w++) {
		__u32 mask;

		if (w >= words || bits == 0)
			break;
		mask = bits >= 32 ? 0xffffffff : bpf_htonl(~((1u << (32 - bits)) - 1));
		if ((a[w] & mask) != (c->addr[w] & mask))
			return false;
		bits = bits >= 32 ? bits - 32 : 0;
	}
	return true;
}

/* As cidr_set_match: any positive network, and none of the negated ones (a set of
 * negations only: any address but those). */
static __always_inline bool addr_in(const struct kr_bpf_cidr *c, __u8 n, __u8 family,
				    const __u32 *a)
{
	bool any_pos = false, pos = false;

	for (int i = 0; i < KR_BPF_MAX_CIDRS; i++) {
		if (i >= n)
			break;
		if (c[i].negate) {
			if (cidr_hit(&c[i], family, a))
				return false;
		} else {
			any_pos = true;
			pos = pos || cidr_hit(&c[i], family, a);
		}
	}
	return !any_pos || pos;
}

struct facts {
	__u8 lfam, rfam, state;
	__u16 lport, rport;
	__u32 la[4], ra[4];       /* v4-mapped v6 as v4 in [0] */
	__u32 idle_j;             /* jiffies since the peer was last heard */
};

/* A global function: the verifier checks it once, not once per policy and path.
 * With addrs 0, on what the quick way out reads before any helper: the state, the
 * ports, and data idle in f->idle_j (the addresses are not read yet). */
__noinline int policy_may_match(const struct kr_bpf_policy *p, const struct facts *f, int addrs)
{
	if (!p || !f)
		return false;
	if (f->state >= 32 || !(p->states & (1u << f->state)))
		return false;
	if (!p->lport_any && !port_in(p->lport, p->nlport, f->lport))
		return false;
	if (!p->rport_any && !port_in(p->rport, p->nrport, f->rport))
		return false;
	if (addrs && !p->laddr_any && !addr_in(p->laddr, p->nladdr, f->lfam, f->la))
		return false;
	if (addrs && !p->raddr_any && !addr_in(p->raddr, p->nraddr, f->rfam, f->ra))
		return false;
	return vars.ignore_idle || f->idle_j >= p->idle_j;
}

static __always_inline void unmap(__u8 *fam, __u32 *a)
{
	/* ::ffff:a.b.c.d is matched as the v4 address it is (kaddr_normalize) */
	if (*fam == AF_INET6 && a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff)) {
		*fam = AF_INET;
		a[0] = a[3];
	}
}

static __always_inline void read_addrs(struct sock_common *skc, struct facts *f,
				       struct kr_bpf_sock *r)
{
	if (r->family == AF_INET) {
		r->laddr[0] = skc->skc_rcv_saddr;
		r->raddr[0] = skc->skc_daddr;
	} else {
		for (int i = 0; i < 4; i++) {
			r->laddr[i] = skc->skc_v6_rcv_saddr.in6_u.u6_addr32[i];
			r->raddr[i] = skc->skc_v6_daddr.in6_u.u6_addr32[i];
		}
	}
	__builtin_memcpy(f->la, r->laddr, sizeof(f->la));
	__builtin_memcpy(f->ra, r->raddr, sizeof(f->ra));
	f->lfam = f->rfam = r->family;
	unmap(&f->lfam, f->la);
	unmap(&f->rfam, f->ra);
}

/* Whether the peer is this host: loopback (v4, v4-mapped, ::1) or the
 * socket's own address (a connection to one of the host's addresses). */
static __always_inline bool peer_local(struct sock_common *skc)
{
	__u32 d[4];

	if (skc->skc_family == AF_INET) {
		d[0] = skc->skc_daddr;
		return (bpf_ntohl(d[0]) >> 24) == 127 || d[0] == skc->skc_rcv_saddr;
	}
	for (int i = 0; i < 4; i++)
		d[i] = skc->skc_v6_daddr.in6_u.u6_addr32[i];
	if (d[0] == 0 && d[1] == 0 && d[2] == bpf_htonl(0xffff) && (bpf_ntohl(d[3]) >> 24) == 127)
		return true;
	if (d[0] == 0 && d[1] == 0 && d[2] == 0 && d[3] == bpf_htonl(1))
		return true;
	for (int i = 0; i < 4; i++)
		if (d[i] != skc->skc_v6_rcv_saddr.in6_u.u6_addr32[i])
			return false;
	return true;
}

/* The witness: a round trip from this host seen completed. The least time since
 * a socket whose peer is elsewhere sent the data it has since had acknowledged,
 * all of it (everything written: a send a local firewall drops stays unacked),
 * until one within heard_enough_j is found (after which no socket costs the extra
 * reads). A segment merely received proves nothing of the way out. lsndtime is
 * u32 jiffies and wraps (49.7 days at HZ 1000): its last delivery or flight, in
 * us on the clock bpf_ktime_get_ns reads, must be recent too. */
#define KR_HEARD_MAX_US (20ULL * 86400 * 1000000)
static __always_inline void note_heard(struct sock_common *skc, __u8 state,
				       const struct tcp_sock *tp, __u32 now)
{
	__u32 sent_j = now - tp->lsndtime;

	if (tp->write_seq == tp->snd_una && sent_j < vars.heard_j &&
	    (KR_BPF_HEARD_STATES & (1u << state)) && !peer_local(skc) &&
	    (__s64)(bpf_ktime_get_ns() / 1000 - tp->delivered_mstamp) < (__s64)KR_HEARD_MAX_US)
		vars.heard_j = sent_j;
}

/* What getsockopt(SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT,
 * TCP_USER_TIMEOUT) would answer, and which of the three the owner never set. */
static __always_inline void read_opts(struct tcp_sock *tp, struct kr_bpf_opts *o, __u8 *set)
{
	struct sock *sk = (struct sock *)tp;
	struct net *net = sk->__sk_common.skc_net.net;
	__u32 t = tp->keepalive_time, i = tp->keepalive_intvl, c = tp->keepalive_probes;
	int keepopen = bpf_core_enum_value(enum sock_flags, SOCK_KEEPOPEN);

	if (set) {
		set[0] = t != 0;
		set[1] = i != 0;
		set[2] = c != 0;
	}
	if (!t)
		t = net->ipv4.sysctl_tcp_keepalive_time;
	if (!i)
		i = net->ipv4.sysctl_tcp_keepalive_intvl;
	if (!c)
		c = net->ipv4.sysctl_tcp_keepalive_probes;
	o->keepalive = (sk->__sk_common.skc_flags >> keepopen) & 1;
	o->idle_s = t / hz;
	o->intvl_s = i / hz;
	o->cnt = c;
	o->user_timeout_ms = tp->inet_conn.icsk_user_timeout;
}

static __always_inline int setint(struct tcp_sock *tp, int level, int opt, int v)
{
	return bpf_setsockopt(tp, level, opt, &v, sizeof(v));
}

/* The order of backend-netlink.c's set_changed (which says why): probes off,
 * the switch first; probes on, no user timeout before probes can go out. Under
 * the socket's lock here, the timer cannot fire in between, but one order is
 * easier to check than two. Only the options that differ from cur are written. */
static __always_inline int set_changed(struct tcp_sock *tp, const struct kr_bpf_opts *cur,
				       const struct kr_bpf_opts *o)
{
	int r = 0, q;

	if (!o->keepalive && cur->keepalive && (q = setint(tp, SOL_SOCKET, SO_KEEPALIVE, 0)) < 0)
		r = q;
	if (o->keepalive && o->user_timeout_ms != cur->user_timeout_ms &&
	    (q = setint(tp, SOL_TCP, TCP_USER_TIMEOUT, o->user_timeout_ms)) < 0)
		r = q;
	if (o->intvl_s != cur->intvl_s && (q = setint(tp, SOL_TCP, TCP_KEEPINTVL, o->intvl_s)) < 0)
		r = q;
	if (o->cnt != cur->cnt && (q = setint(tp, SOL_TCP, TCP_KEEPCNT, o->cnt)) < 0)
		r = q;
	if (!o->keepalive && o->idle_s != cur->idle_s &&
	    (q = setint(tp, SOL_TCP, TCP_KEEPIDLE, o->idle_s)) < 0)
		r = q;
	if (o->keepalive && !cur->keepalive && r < 0)
		return r; /* probes on only with all that makes them kareaper's */
	if (o->keepalive && !cur->keepalive && (q = setint(tp, SOL_SOCKET, SO_KEEPALIVE, 1)) < 0)
		r = q;
	if (o->keepalive && o->idle_s != cur->idle_s &&
	    (q = setint(tp, SOL_TCP, TCP_KEEPIDLE, o->idle_s)) < 0)
		r = q;
	if (!o->keepalive && o->user_timeout_ms != cur->user_timeout_ms &&
	    (q = setint(tp, SOL_TCP, TCP_USER_TIMEOUT, o->user_timeout_ms)) < 0)
		r = q;
	return r;
}

static __always_inline bool same_opts(const struct kr_bpf_opts *a, const struct kr_bpf_opts *b)
{
	return a->keepalive == b->keepalive && a->idle_s == b->idle_s &&
	       a->intvl_s == b->intvl_s && a->cnt == b->cnt &&
	       a->user_timeout_ms == b->user_timeout_ms;
}

/* policy.c's policy_handback(), under the socket's lock: each option that still
 * is what kareaper wrote (expect; KR_BPF_ANY: any value, an older journal's) goes
 * back to the owner's (set); any other stays as it is, and is named in
 * op->owners when it is not the owner's first value either (set: user space
 * brought it into what setsockopt() takes). */
static __always_inline int hand_back(struct tcp_sock *tp, const struct kr_bpf_opts *cur,
				     struct kr_bpf_op *op)
{
	struct kr_bpf_opts out = op->set;
	__u32 owners = 0;

	if (cur->keepalive != op->expect.keepalive) {
		owners |= cur->keepalive != op->set.keepalive ? 1 : 0;
		out.keepalive = cur->keepalive;
	}
	if (op->expect.idle_s != KR_BPF_ANY && cur->idle_s != op->expect.idle_s) {
		owners |= cur->idle_s != op->set.idle_s ? 2 : 0;
		out.idle_s = cur->idle_s;
	}
	if (op->expect.intvl_s != KR_BPF_ANY && cur->intvl_s != op->expect.intvl_s) {
		owners |= cur->intvl_s != op->set.intvl_s ? 4 : 0;
		out.intvl_s = cur->intvl_s;
	}
	if (op->expect.cnt != KR_BPF_ANY && cur->cnt != op->expect.cnt) {
		owners |= cur->cnt != op->set.cnt ? 8 : 0;
		out.cnt = cur->cnt;
	}
	if (cur->user_timeout_ms != op->expect.user_timeout_ms) {
		owners |= cur->user_timeout_ms != op->set.user_timeout_ms ? 16 : 0;
		out.user_timeout_ms = cur->user_timeout_ms;
	}
	op->owners = owners;
	return set_changed(tp, cur, &out);
}

static __always_inline void act(struct sock_common *skc, struct tcp_sock *tp,
				struct kr_bpf_op *op)
{
	struct kr_bpf_opts cur;

	vars.acted++;
	if (op->quiet && tp->segs_in != op->segs_in) {
		op->result = -EALREADY; /* the peer was heard from since it was decided */
		return;
	}
	read_opts(tp, &cur, NULL);
	if (op->handback) {
		op->result = hand_back(tp, &cur, op);
		return;
	}
	if (op->check && !same_opts(&cur, &op->expect)) {
		op->result = -EAGAIN; /* not what kareaper read, or wrote */
		return;
	}
	if (op->kind == KR_OP_DESTROY) {
#ifdef KR_KFUNC_SOCK_DESTROY
		op->result = bpf_sock_destroy(skc); /* the iterator's pointer: trusted */
#else
		op->result = -EOPNOTSUPP; /* user space destroys it with SOCK_DESTROY */
#endif
		return;
	}
	op->result = set_changed(tp, &cur, &op->set);
}

/* Whether a cookie may be in the ops map (ops), or the keep map: clear bit, it
 * is not. A global function: the verifier checks it once, and the cookie's index
 * into the bits is bounded here, not tracked back through kr_tcp's stack (where
 * the verifier of Linux 6.18 trips over the copies of the cookie it links: "stack
 * slot 28, total slots 28"). */
__noinline int may_hold(int ops, __u64 cookie)
{
	const __u64 *bits = ops ? vars.ops_bits : vars.keep_bits;

	return (bits[kr_set_word(cookie) & (KR_BPF_SET_WORDS - 1)] & kr_set_mask(cookie)) != 0;
}

/* Whether user space tracks the socket with this cookie. */
static __always_inline bool is_kept(__u64 cookie)
{
	return may_hold(0, cookie) && bpf_map_lookup_elem(&keep, &cookie);
}

/* The op user space asks for on the socket with this cookie, if any. */
static __always_inline struct kr_bpf_op *op_of(__u64 cookie)
{
	return cookie && may_hold(1, cookie) ? bpf_map_lookup_elem(&ops, &cookie) : NULL;
}

/* KR_BPF_ACT: carry out the op user space asks for on this socket, if any. */
static __always_inline int act_walk(struct bpf_iter__tcp *ctx, struct sock_common *skc)
{
	/* the socket's cookie as it holds it, before any helper: none, and it was
	 * never listed */
	__u64 cookie = skc->skc_cookie.counter;
	struct kr_bpf_op *op = op_of(cookie);
	struct tcp_sock *tp;

	if (!op || op->result != KR_OP_PENDING)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	act(skc, tp, op);
	/* one record per op done: user space stops the walk after the last */
	bpf_seq_write(ctx->meta->seq, &cookie, sizeof(cookie));
	return 0;
}

/* KR_BPF_SCAN, before any helper: whether the socket is of no interest. Its
 * state first. Then the way out of most sockets: one that received data within
 * every policy's idle that selects it by its ports matches none (data idle
 * bounds the idle the policies count, which the last ack also ends). A
 * read-only view is enough to tell. Unless it is one user space tracks: a
 * cookie it was given is in the socket already, and a socket without one was
 * never listed. (Time-wait and request sockets are no tcp_socks: whatever this
 * reads of them, the helper turns them away.) Without the kfunc (Linux < 6.2),
 * the helper first. */
static __always_inline bool passed_over(struct sock_common *skc, struct facts *f)
{
	f->state = skc->skc_state;
	if (f->state >= 32 || !(vars.states & (1u << f->state)))
		return true;
	vars.visited++;
#ifdef KR_KFUNC_RDONLY_CAST
	{
		struct tcp_sock *ro = bpf_rdonly_cast(skc, bpf_core_type_id_kernel(struct tcp_sock));
		bool may = false;

		__u32 now = (__u32)bpf_jiffies64();

		f->idle_j = now - ro->inet_conn.icsk_ack.lrcvtime;
		/* time-wait and request sockets are no tcp_socks: not read so */
		if (vars.heard_j > vars.heard_enough_j && (KR_BPF_HEARD_STATES & (1u << f->state)))
			note_heard(skc, f->state, ro, now);
		f->lport = skc->skc_num;
		f->rport = bpf_ntohs(skc->skc_dport);
		for (int i = 0; f->idle_j >= vars.min_idle_j && !may && i < KR_BPF_MAX_POLICIES; i++) {
			if (i >= vars.npolicies)
				break;
			may = policy_may_match(&vars.policies[i], f, 0);
		}
		if (!may) {
			__u64 c = skc->skc_cookie.counter;

			if (!vars.nkeep || !c || !is_kept(c))
				return true;
		}
	}
#endif
	return false;
}

/* The rest of a listed socket's record: who holds it, its timer as inet_diag
 * reports it, its counters and keepalive options. */
static __always_inline void fill_record(struct kr_bpf_sock *r, struct sock_common *skc,
					struct tcp_sock *tp, __u32 now)
{
	struct sock *sk = (struct sock *)tp;
	__u32 pending;

	r->bound_if = skc->skc_bound_dev_if;
	r->uid = sk->sk_uid.val;
	/* BTF pointers: plain loads (a NULL on the way reads as 0), no probe reads */
	if (sk->sk_socket && sk->sk_socket->file && sk->sk_socket->file->f_inode)
		r->inode = sk->sk_socket->file->f_inode->i_ino;
	/* the cgroup v2 of the process that made it (an accepted socket: the listener) */
	if (bpf_core_field_exists(sk->sk_cgrp_data.cgroup) && sk->sk_cgrp_data.cgroup &&
	    sk->sk_cgrp_data.cgroup->kn)
		r->cgroup = sk->sk_cgrp_data.cgroup->kn->id;
	pending = tp->inet_conn.icsk_pending;
	if (pending == ICSK_TIME_RETRANS || pending == ICSK_TIME_REO_TIMEOUT ||
	    pending == ICSK_TIME_LOSS_PROBE) {
		r->timer = 1;
		r->retrans = tp->inet_conn.icsk_retransmits;
		r->expires_ms = expires_ms(tp->inet_conn.icsk_retransmit_timer.expires, now);
	} else if (pending == ICSK_TIME_PROBE0) {
		r->timer = 4;
		r->retrans = tp->inet_conn.icsk_probes_out;
		r->expires_ms = expires_ms(tp->inet_conn.icsk_retransmit_timer.expires, now);
	} else if (sk->sk_timer.entry.pprev) {
		r->timer = 2;
		r->retrans = tp->inet_conn.icsk_probes_out;
		r->expires_ms = expires_ms(sk->sk_timer.expires, now);
	}
	r->probes = tp->inet_conn.icsk_probes_out;
	r->retransmits = tp->inet_conn.icsk_retransmits;
	r->unacked = tp->packets_out;
	r->rtt_us = tp->srtt_us >> 3;
	r->segs_in = tp->segs_in;
	r->bytes_received = tp->bytes_received;
	read_opts(tp, &r->opts, &r->set_idle);
}

/* KR_BPF_SCAN: a record for each socket a policy may select, or that user space
 * tracks, after the op it asks for on it, if any. */
static __always_inline int scan_walk(struct bpf_iter__tcp *ctx, struct sock_common *skc)
{
	struct kr_bpf_sock r = {};
	struct facts f = {};
	struct tcp_sock *tp;
	__u32 now, data_j, ack_j;
	__u64 cookie;
	bool hit = false, kept = false;

	if (passed_over(skc, &f))
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0; /* time-wait and request sockets: never candidates */

	now = (__u32)bpf_jiffies64();
	data_j = now - tp->inet_conn.icsk_ack.lrcvtime;
	if (vars.heard_j > vars.heard_enough_j)
		note_heard(skc, f.state, tp, now);
	/* Data came in more recently than any policy's idle: no policy matches, and
	 * the steady state of a busy host ends here, after one read of the socket
	 * (the last ack, the addresses, the ports are in other cache lines). */
	if (data_j < vars.min_idle_j) {
		if (!vars.nkeep)
			return 0;
		/* a socket's cookie is made on first use: only for what is looked up */
		cookie = bpf_get_socket_cookie((struct sock *)tp);
		if (!is_kept(cookie))
			return 0;
		kept = true;
	}
	r.family = skc->skc_family;
	f.lport = skc->skc_num;
	f.rport = bpf_ntohs(skc->skc_dport);
	ack_j = now - tp->rcv_tstamp;
	f.idle_j = data_j < ack_j ? data_j : ack_j;
	if (vars.need_addrs)
		read_addrs(skc, &f, &r);

	for (int i = 0; !kept && i < KR_BPF_MAX_POLICIES; i++) {
		if (i >= vars.npolicies)
			break;
		if (policy_may_match(&vars.policies[i], &f, 1)) {
			hit = true;
			break;
		}
	}
	if (!kept) {
		if (!hit && !vars.nkeep)
			return 0;
		cookie = bpf_get_socket_cookie((struct sock *)tp);
		if (!hit && !is_kept(cookie))
			return 0;
	}

	if (vars.nops) {
		struct kr_bpf_op *op = op_of(cookie);

		if (op && op->result == KR_OP_PENDING) {
			act(skc, tp, op);
			if (op->kind == KR_OP_DESTROY && op->result == 0)
				return 0; /* no longer a connection */
		}
	}
	r.cookie = cookie;
	if (!vars.need_addrs)
		read_addrs(skc, &f, &r);
	r.last_data_recv_ms = jiffies_to_ms(data_j);
	r.last_ack_recv_ms = jiffies_to_ms(ack_j);
	r.state = f.state;
	r.lport = f.lport;
	r.rport = f.rport;
	fill_record(&r, skc, tp, now);
	vars.emitted++;
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}

SEC("iter/tcp")
int kr_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;

	if (!skc)
		return 0;
	if (vars.mode == KR_BPF_ACT)
		return act_walk(ctx, skc);
	if (empty_walk)
		return 0;
	return scan_walk(ctx, skc);
}

/* &p->numbers[lvl], whose index the verifier would refuse on a BTF pointer. */
static __always_inline struct upid *upid_at(struct pid *p, __u32 lvl)
{
	return (struct upid *)((unsigned long)p + bpf_core_field_offset(struct pid, numbers) +
			       (unsigned long)lvl * bpf_core_type_size(struct upid));
}

/* The process (thread group) of task as the reader's pid namespace numbers it,
 * which is what the reader's logs and a link's pid filter mean: task->tgid is
 * the host's number. 0 when that namespace has none for it. */
static __always_inline __s32 pid_here(struct task_struct *task)
{
	struct pid *theirs;
	__u32 lvl;

	if (!vars.pidns_level1) {
		struct pid *mine = BPF_CORE_READ(bpf_get_current_task_btf(), thread_pid);

		lvl = BPF_CORE_READ(mine, level);
		vars.pidns = (__u64)(unsigned long)BPF_CORE_READ(upid_at(mine, lvl), ns);
		vars.pidns_level1 = lvl + 1;
	}
	if (vars.pidns_level1 == 1)
		return task->tgid; /* the initial namespace: the host's numbers */
	lvl = vars.pidns_level1 - 1;
	theirs = BPF_CORE_READ(task, group_leader, thread_pid);
	if (!theirs || BPF_CORE_READ(theirs, level) < lvl ||
	    (__u64)(unsigned long)BPF_CORE_READ(upid_at(theirs, lvl), ns) != vars.pidns)
		return 0;
	return BPF_CORE_READ(upid_at(theirs, lvl), nr);
}

SEC("iter/task_file")
int kr_owners(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct kr_bpf_owner o = {};
	struct inode *ino;

	if (!task || !file)
		return 0;
	ino = file->f_inode;
	if (!ino || (ino->i_mode & S_IFMT) != S_IFSOCK)
		return 0;
	o.inode = ino->i_ino;
	if (!vars.want_all) {
		if (o.inode < vars.want_lo || o.inode > vars.want_hi || !bpf_map_lookup_elem(&want, &o.inode))
			return 0;
		/* once each: user space stops the walk when the last one is found */
		bpf_map_delete_elem(&want, &o.inode);
	}
	o.pid = pid_here(task);
	o.fd = ctx->fd;
	__builtin_memcpy(o.comm, task->comm, sizeof(o.comm));
	bpf_seq_write(ctx->meta->seq, &o, sizeof(o));
	return 0;
}

SEC("iter/task")
int kr_procs(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct css_set *cset;
	__u64 id;

	/* processes (not each thread), and no kernel thread: they hold no files */
	if (!task || task->pid != task->tgid || (task->flags & PF_KTHREAD))
		return 0;
	cset = task->cgroups;
	if (!cset || !cset->dfl_cgrp || !cset->dfl_cgrp->kn)
		return 0;
	id = cset->dfl_cgrp->kn->id;
	for (int i = 0; i < KR_BPF_MAX_CGROUPS; i++) {
		if (i >= vars.ncgroups)
			break;
		if (vars.cgroups[i] == id) {
			__s32 pid = pid_here(task);

			if (pid > 0)
				bpf_seq_write(ctx->meta->seq, &pid, sizeof(pid));
			break;
		}
	}
	return 0;
}
