/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the BPF programs (kareaper.bpf.c) and the BPF backend (backend-bpf.c) share:
 * the kernel-side filter, the records the iterators write, and the operations they
 * carry out on sockets found by cookie. Included by both, so fixed-width types only. */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define KR_BPF_MAX_POLICIES 16
#define KR_BPF_MAX_RANGES   8  /* port ranges per selector */
#define KR_BPF_MAX_CIDRS    4  /* networks per selector */
/* Map sizes: a hash map's buckets are allocated and zeroed at creation (16 bytes
 * each), at every start, so not millions. More ops than these take more passes;
 * more tracked sockets than KR_BPF_MAX_KEEP list every socket in the policies'
 * selectors, idle or not (what the netlink backend lists); from KR_BPF_MAX_WANT
 * owners asked for, the owner pass writes every socket's owner. */
#define KR_BPF_MAX_OPS      65536
#define KR_BPF_MAX_KEEP     65536
#define KR_BPF_MAX_WANT     4096
/* The owner pass looks first in the processes of the wanted sockets' cgroups, when
 * they are in at most this many cgroups holding at most KR_BPF_MAX_PROCS processes;
 * else, and for those it did not find there, in every process. */
#define KR_BPF_MAX_CGROUPS  8
#define KR_BPF_MAX_PROCS    64

/* A set of cookies as bits (2^20, 128 KiB) beside the hash map that holds them,
 * for the keep map and for the ops map: a socket whose bit is clear is not in the
 * map, and the walk asks the map only about the others. Once sockets have cookies
 * (any sock_diag dump with cookies gives every socket one), every socket a walk
 * turns away would otherwise cost a lookup. User space sets a cookie's bit with
 * its entry, and clears whole words when it empties the map. */
#define KR_BPF_SET_WORDS    16384
static inline __u32 kr_set_word(__u64 cookie)
{
	return (__u32)((cookie * 0x9e3779b97f4a7c15ull) >> 50); /* the top 14 bits */
}

static inline __u64 kr_set_mask(__u64 cookie)
{
	return 1ull << (((cookie * 0x9e3779b97f4a7c15ull) >> 44) & 63); /* the next 6 */
}

struct kr_bpf_range {
	__u16 lo, hi;
};

struct kr_bpf_cidr {
	__u32 addr[4];            /* v4 in addr[0]; v4-mapped v6 is matched as v4 */
	__u8 family, plen, negate, pad;
};

/* One policy as the kernel can check it: a superset of what the policy selects
 * (a selector too big for these arrays is left out: "any"). */
struct kr_bpf_policy {
	__u32 states;
	__u32 idle_j;             /* in jiffies, rounded down; 0: idle or not */
	__u8 nlport, nrport, nladdr, nraddr;
	__u8 lport_any, rport_any, laddr_any, raddr_any;
	struct kr_bpf_range lport[KR_BPF_MAX_RANGES], rport[KR_BPF_MAX_RANGES];
	struct kr_bpf_cidr laddr[KR_BPF_MAX_CIDRS], raddr[KR_BPF_MAX_CIDRS];
};

/* The options kareaper changes, as getsockopt reads them (effective values). */
struct kr_bpf_opts {
	__s32 keepalive, idle_s, intvl_s, cnt;
	__u32 user_timeout_ms;
};

/* One socket the scan lets through. */
struct kr_bpf_sock {
	__u64 cookie;
	__u64 bytes_received;
	__u32 laddr[4], raddr[4]; /* network order, as the socket holds them */
	__u16 lport, rport;       /* host order */
	__u8 family, state, timer, retrans;
	__u8 probes, retransmits;
	__u8 set_idle, set_intvl; /* the owner set TCP_KEEPIDLE / TCP_KEEPINTVL / */
	__u8 set_cnt, pad[3];     /* TCP_KEEPCNT (0: the namespace's sysctl applies) */
	__u32 bound_if;
	__u32 uid, inode, expires_ms;
	__u32 unacked, last_data_recv_ms, last_ack_recv_ms, rtt_us, segs_in;
	struct kr_bpf_opts opts;
	__u64 cgroup;             /* cgroup v2 id of its maker; 0: unknown */
};

/* One owner found by the task_file pass. */
struct kr_bpf_owner {
	__u32 inode;
	__s32 pid, fd;
	char comm[16];
};

enum {
	KR_BPF_SCAN = 0,          /* write a kr_bpf_sock per candidate, after its op if any */
	KR_BPF_ACT = 1,           /* carry out the ops map on the sockets it names */
};

enum {
	KR_OP_SET = 1,            /* set opts (arming when opts.keepalive, else restoring) */
	KR_OP_DESTROY = 2,
};

#define KR_OP_PENDING 1           /* result until the socket is found */

/* Carried out by an act walk, or by a scan walk (before the socket's record is
 * written, so that the record shows the result). backend.h's sock_op says what
 * each field means. */
struct kr_bpf_op {
	__u32 kind;
	__s32 result;             /* KR_OP_PENDING, 0, or -errno */
	__u32 check;              /* only if the options still are `expect` (-EAGAIN) */
	__u32 quiet;              /* only if segs_in still is `segs_in` (-EALREADY) */
	__u32 segs_in;
	/* KR_OP_SET: `set` is the owner's, `expect` what kareaper wrote: each field
	 * still kareaper's goes back, the others stay (policy.h's policy_handback) */
	__u32 handback;
	__u32 owners;             /* handback, out: the fields the owner changed */
	__u32 pad;
	struct kr_bpf_opts set, expect;
};

/* In a hand-back's expect: any value is kareaper's (policy.h's KA_ANY) */
#define KR_BPF_ANY (-1)

/* The states in which a socket can witness that the network works (conf.h's
 * KR_HEARD_STATES, kareaper(8)). */
#define KR_BPF_HEARD_STATES ((1u << 1) | (1u << 4) | (1u << 8) | (1u << 9) | (1u << 11))

/* The kernel's limit on TCP_KEEPCNT (conf.h's KR_MAX_KEEPCNT) */
#define KR_BPF_MAX_KEEPCNT 127

/* The programs' variables, in one struct so that every object (one per set of
 * kfuncs) lays them out alike and one skeleton's types serve them all. */
struct kr_bpf_vars {
	/* set by user space before each run */
	__u32 mode;
	__u32 npolicies;
	__u32 states;             /* the union of the policies' (bits 1 << TCP_*) */
	__u32 nkeep;              /* entries in the keep map */
	__u32 ignore_idle;        /* --once: every matching socket, idle or not */
	__u32 min_idle_j;         /* the least idle any policy asks for (0 with ignore_idle) */
	__u32 need_addrs;         /* some policy selects addresses */
	__u32 want_all;           /* kr_owners: every socket, not those of the want map */
	__u32 want_lo, want_hi;   /* kr_owners: the want map's least and greatest inode */
	__u32 nops;               /* KR_BPF_SCAN: entries in the ops map, to carry out */
	__u32 heard_enough_j;     /* KR_BPF_SCAN: stop looking for heard_j below this */
	__u32 ncgroups;           /* kr_procs: the cgroups whose processes it writes */
	__u64 cgroups[KR_BPF_MAX_CGROUPS];
	struct kr_bpf_policy policies[KR_BPF_MAX_POLICIES];
	__u64 keep_bits[KR_BPF_SET_WORDS]; /* the keep map's cookies, kr_set_word/mask */
	__u64 ops_bits[KR_BPF_SET_WORDS];  /* the ops map's */
	/* counted by each run */
	__u64 visited, emitted, acted;
	__u32 heard_j;            /* KR_BPF_SCAN: the least time since a peer elsewhere
				   * was heard from, over the sockets walked (KR_BPF_HEARD_STATES;
				   * set to ~0 before the run) */
	/* the reader's pid namespace, found at the first process written: its
	 * level + 1 (0: not yet), and the namespace */
	__u32 pidns_level1;
	__u64 pidns;
};
