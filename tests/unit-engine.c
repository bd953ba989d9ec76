/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The engine against a scripted backend behind the seam: no sockets, no privileges,
 * a synthetic clock. What a kernel cannot be made to do on demand: an interrupted
 * listing, a failing exact query, a journal that cannot be written, a crash between
 * arming and restoring. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "service.h"
#include "sockrec.h"
#include "tap.h"

#define S 1000ull
#define N 3

struct backend {
	int unused;
};

static struct {
	struct sock_rec socks[N];
	struct ka_opts opts[N];   /* as the owner's getsockopt would see them */
	bool gone[N];
	bool unreachable[N];      /* listed, but no process to reach it through */
	int eintr_once;           /* enumerate: every socket, then -EINTR, once */
	int query_err;
	int handback_err;         /* a hand-back that cannot reach the socket */
	bool not_walked;          /* apply leaves every op not done (a walk skipped it) */
	unsigned gets, arms, restores, arms_unjournaled, destroys;
	unsigned applies;         /* passes of the batched backend */
	unsigned carried;         /* ops carried by listings */
	int owner_races;          /* get_opts: this socket's owner changes its options
				   * right after they are read (index + 1; 0: none) */
	uint32_t heard_ms;        /* enumerate: a peer elsewhere heard from so long ago
				   * (UINT32_MAX: none; reset: 0, just now) */
	bool listed_deaf;         /* only looks see it (the netlink listings walk only
				   * the policies' ports) */
	unsigned looks;           /* listings of the tracked only (witness.c) */
	const char *journal;
	struct owner_map asked;   /* the cgroup hints of the latest owner lookup */
	const char *comm;         /* the owners' name (NULL: echo-server) */
} F;

static const struct ka_opts OWNER = { 0, 7200, 75, 9, 0 };

static int idx(uint64_t cookie)
{
	for (int i = 0; i < N; i++)
		if (F.socks[i].cookie == cookie && !F.gone[i])
			return i;
	return -1;
}

static int f_open(struct backend **ret)
{
	*ret = calloc(1, sizeof(**ret));
	return *ret ? 0 : -ENOMEM;
}

static void f_close(struct backend *b)
{
	free(b);
}

static void f_op(struct backend *b, struct sock_op *op, bool search);

/* Ops first, each as the BPF program does under the socket's lock, then records. */
static int f_enumerate(struct backend *b, const struct scan_filter *f, sock_cb cb, void *data)
{
	int n = 0;

	for (size_t i = 0; i < f->nops; i++) {
		struct sock_op *op = &f->ops[i];
		int k = idx(op->s->cookie);

		F.carried++;
		if (k < 0)
			op->result = -ENOENT; /* a whole walk did not find it */
		else
			f_op(b, op, true);
	}

	for (int i = 0; i < N; i++)
		if (!F.gone[i]) {
			cb(&F.socks[i], data);
			n++;
		}
	if (F.eintr_once) {
		F.eintr_once = 0;
		return -EINTR;
	}
	if (f->heard_ms)
		*f->heard_ms = F.listed_deaf && !f->look ? UINT32_MAX : F.heard_ms;
	F.looks += f->look;
	return n;
}

static int f_query(struct backend *b, const struct sock_rec *s, struct sock_rec *out)
{
	int i = idx(s->cookie);

	if (F.query_err)
		return F.query_err;
	if (i < 0)
		return -ENOENT;
	*out = F.socks[i];
	return 0;
}

/* Whether the journal file names this cookie right now. */
static bool journaled(uint64_t cookie)
{
	char line[256], want[32];
	bool found = false;
	FILE *f = fopen(F.journal, "r");

	snprintf(want, sizeof(want), " %llu ", (unsigned long long)cookie);
	while (f && fgets(line, sizeof(line), f))
		found |= strstr(line, want) != NULL;
	if (f)
		fclose(f);
	return found;
}

static int f_get_opts(struct backend *b, const struct sock_rec *s, struct owner *o,
		      struct ka_opts *cur)
{
	int i = idx(s->cookie);

	if (i < 0)
		return -ESRCH;
	F.gets++;
	*cur = F.opts[i];
	if (F.owner_races == i + 1)
		F.opts[i].keepalive = 1;
	return 0;
}

/* One op, as the BPF program carries it out under the socket's lock (or the
 * netlink backend, through the owner: a socket it cannot find is -ESRCH). */
static void f_op(struct backend *b, struct sock_op *op, bool search)
{
	int k = idx(op->s->cookie);
	struct ka_opts back;

	op->owners = 0;
	if (k < 0) {
		op->result = op->set ? -ESRCH : -ENOENT;
		return;
	}
	op->result = 0;
	if (F.unreachable[k] && (op->set || op->expect)) {
		op->result = -ESRCH; /* the netlink backend: no process holds it */
	} else if (op->quiet && F.socks[k].segs_in != op->s->segs_in) {
		op->result = -EALREADY;
	} else if (op->handback && F.handback_err) {
		op->result = F.handback_err;
	} else if (op->handback) {
		F.restores++;
		op->owners = policy_handback(&F.opts[k], op->expect, op->set, &back);
		F.opts[k] = back;
	} else if (op->expect && memcmp(&F.opts[k], op->expect, sizeof(F.opts[k]))) {
		op->result = -EAGAIN;
	} else if (!op->set) {
		F.gone[k] = true;
		F.destroys++;
	} else {
		F.arms++;
		F.arms_unjournaled += !journaled(op->s->cookie);
		F.opts[k] = *op->set;
	}
}

/* A backend that acts on many sockets in one pass (as the BPF one does). */
static void f_apply(struct backend *b, struct sock_op *ops, size_t n)
{
	F.applies++;
	if (F.not_walked)
		return; /* every op left KR_OP_NOT_DONE */
	for (size_t i = 0; i < n; i++) {
		if (idx(ops[i].s->cookie) < 0)
			ops[i].result = -ENOENT; /* a whole walk did not find it */
		else
			f_op(b, &ops[i], true);
	}
}

static int f_find_owners(struct owner_map *m)
{
	memcpy(F.asked.cgroups, m->cgroups, sizeof(m->cgroups));
	F.asked.ncgroups = m->ncgroups;
	F.asked.any_cgroup = m->any_cgroup;
	for (int i = 0; i < N; i++)
		owner_map_set(m, F.socks[i].inode, getpid(), 3 + i, F.comm ? F.comm : "echo-server");
	return 0;
}

static const struct backend_ops fake = {
	.name = "fake",
	.open = f_open,
	.close = f_close,
	.enumerate = f_enumerate,
	.query = f_query,
	.get_opts = f_get_opts,
	.op = f_op,
	.find_owners = f_find_owners,
};

static const struct backend_ops fake_batch = {
	.name = "fake-batch",
	.open = f_open,
	.close = f_close,
	.enumerate = f_enumerate,
	.query = f_query,
	.get_opts = f_get_opts,
	.op = f_op,
	.apply = f_apply,
	.find_owners = f_find_owners,
};
/* ... and carries ops on its listings, as the BPF one does. */
static const struct backend_ops fake_carry = {
	.name = "fake-carry",
	.open = f_open,
	.close = f_close,
	.enumerate = f_enumerate,
	.query = f_query,
	.get_opts = f_get_opts,
	.op = f_op,
	.apply = f_apply,
	.find_owners = f_find_owners,
	.carries_ops = true,
};
static const struct backend_ops *under_test = &fake;
static bool once_run;

/* Three sockets on :6379, silent for idle_s, owners with keepalive off. */
static void reset(uint32_t idle_s)
{
	memset(&F.socks, 0, sizeof(F.socks));
	for (int i = 0; i < N; i++) {
		F.socks[i] = mkrec("192.0.2.1", 6379, "198.51.100.7", (uint16_t)(40000 + i),
				   (uint64_t)(100 + i));
		F.socks[i].last_data_recv_ms = F.socks[i].last_ack_recv_ms = idle_s * 1000;
		F.socks[i].segs_in = 10;
		F.socks[i].cgroup = 7 + (uint64_t)(i % 2); /* two services' cgroups */
		F.opts[i] = OWNER;
		F.gone[i] = false;
		F.unreachable[i] = false;
	}
	F.gets = F.arms = F.restores = F.arms_unjournaled = F.destroys = F.applies = 0;
	F.carried = 0;
	F.query_err = 0;
	F.eintr_once = 0;
	F.heard_ms = 0;
	F.looks = 0;
}

/* Every socket with the kernel's keepalive timer on and n probes out, none
 * answered (as ss -o shows timer:(keepalive,...,n)). */
static void unanswered(uint8_t n)
{
	for (int i = 0; i < N; i++) {
		F.socks[i].timer = 2;
		F.socks[i].probes = n;
	}
}

/* The engine's timer up to the verdicts: the look for a witness halfway (it sees
 * n - 1 of the probes out), then the deadline (n out, none answered), whose time
 * it returns. */
static uint64_t to_verdicts(struct engine *e, uint8_t n)
{
	uint64_t at;

	unanswered(n ? n - 1 : 0);
	engine_check_deadlines(e, engine_next_deadline(e));
	unanswered(n);
	at = engine_next_deadline(e);
	engine_check_deadlines(e, at);
	return at;
}

static struct engine *start(struct config *c, bool dry)
{
	struct engine_options o = { .backend = under_test, .force_dry_run = dry, .once = once_run };
	struct engine *e = NULL;
	char err[512];

	if (engine_new(c, &o, &e, err, sizeof(err)) < 0)
		printf("# engine_new: %s\n", err);
	return e;
}

static bool all_owner(void)
{
	for (int i = 0; i < N; i++)
		if (memcmp(&F.opts[i], &OWNER, sizeof(OWNER)) != 0)
			return false;
	return true;
}

static struct config *cfg_text(const char *dir, const char *policy_extra)
{
	char text[1024];

	snprintf(text, sizeof(text), "[global]\nprobe_journal = %s/probes\n"
		 "[policy p]\nlocal_port = 6379\nidle = 2s\ninterval = 1s\nprobes = 3\n%s",
		 dir, policy_extra);
	return config_from(text);
}

static char dir[] = "/tmp/kareaper-unit-engine.XXXXXX", path[256];
static const uint64_t now = 1000 * S;
static struct config *c, *cp, *cbad, *ccarry, *ccap, *cbrk;

/* Listings, the journal, a crash, owner lookups. */
static void listing_and_journal(void)
{
	struct engine *e;

	/* an interrupted listing counts each socket once */
	reset(1);
	e = start(c, true);
	F.eintr_once = 1;
	engine_scan(e, now);
	is_u64(engine_stats(e)->scanned, N, "a listing interrupted and done again: scanned once");
	is_u64(engine_stats(e)->matched, N, "matched once");
	engine_free(e);

	/* arming: the journal first, always */
	reset(100);
	e = start(c, true);
	engine_scan(e, now);
	is_u64(F.arms, N, "three suspects armed");
	is_u64(F.arms_unjournaled, 0, "each already in the journal when armed");
	ok(F.asked.ncgroups == 2 && F.asked.cgroups[0] == 7 && F.asked.cgroups[1] == 8 &&
	   !F.asked.any_cgroup, "their owners looked for first in their 2 cgroups");

	/* the exact query fails at the deadline: no verdict without the count, and
	 * no waiting while the kernel counts on: handed back, probed again later */
	engine_check_deadlines(e, engine_next_deadline(e)); /* the look for a witness */
	F.query_err = -EIO;
	{
		uint64_t due = engine_next_deadline(e);

		engine_check_deadlines(e, due);
		ok(engine_next_deadline(e) > due && engine_stats(e)->probing_now == 0 &&
		   all_owner() && F.destroys == 0,
		   "a failed query: every owner's options back, none probing, none reaped");
		is_u64(engine_stats(e)->errors_by[ERR_QUERY], N, "counted as query errors");
		F.query_err = 0;
		engine_scan(e, due + 1000);
		is_u64(F.arms, 2 * N, "probed again by the next scan");
	}

	/* kill -9: nothing restored; the next start puts the owners' options back */
	engine_free(e); /* what a crash leaves: armed sockets, a journal */
	ok(!all_owner() && access(path, F_OK) == 0, "after the crash: armed, journaled");
	F.gets = F.restores = 0;
	F.query_err = 0;
	e = start(c, true);
	is_u64(F.restores, N, "the restart restores every journaled socket");
	ok(all_owner(), "to the owners' options exactly");
	is_u64(F.gets, 0, "before reading (saving) anything");
	ok(access(path, F_OK) < 0, "the journal is empty, and removed");
	engine_restore_all(e);
	engine_free(e);

	/* process = : armed once across scans, not forgotten before the owner lookup.
	 * On a synthetic clock behind the machine's monotonic one and ahead of it:
	 * deadlines must count on the caller's clock only (a deadline counted from
	 * CLOCK_MONOTONIC fell due at once where the machine had been up for less
	 * time than the synthetic clock said, as in a fresh build VM). */
	for (int k = 0; k < 2; k++) {
		struct timespec ts;
		uint64_t base;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		base = k == 0 ? now : (uint64_t)ts.tv_sec * 1000 + 10000000;
		reset(100);
		e = start(cp, true);
		for (int i = 0; i < 4; i++)
			engine_scan(e, base + (uint64_t)i * 100);
		is_u64(F.gets, N, k == 0 ? "process= policy: options read once per socket over "
		       "four scans" : "the same, the clock ahead of the machine's monotonic one");
		is_u64(F.arms, N, "armed once");
		engine_restore_all(e);
		ok(all_owner(), "restored on stop");
		engine_free(e);
	}

	/* the journal cannot be written: nothing is armed, and it is counted */
	reset(100);
	e = start(cbad, true);
	engine_scan(e, now);
	is_u64(F.arms, 0, "no journal, no probes");
	ok(engine_stats(e)->errors_by[ERR_JOURNAL] >= 1, "a journal error is counted");
	ok(all_owner(), "the owners' options untouched");
	engine_free(e);

}

/* Gone only on proof: a socket the backend cannot reach but a query finds keeps
 * its journal entry (and is tried again); one a query does not find leaves. */
static void gone_on_proof(void)
{
	struct engine *e;

	under_test = &fake;
	reset(100);
	e = start(c, true);
	engine_scan(e, now);
	is_u64(F.arms, N, "three armed");
	engine_free(e); /* kill -9 */
	F.unreachable[0] = true; /* still listed, its owner out of reach */
	F.gone[1] = true;        /* closed: no such socket */
	e = start(c, true);
	ok(journaled(F.socks[0].cookie), "listed but unreachable: kept in the journal");
	ok(!journaled(F.socks[1].cookie), "a query finds no such socket: out of the journal");
	ok(!journaled(F.socks[2].cookie) && !memcmp(&F.opts[2], &OWNER, sizeof(OWNER)),
	   "the reachable one handed back");
	ok(F.opts[0].cnt == KR_MAX_KEEPCNT, "the unreachable one still carries kareaper's");
	F.unreachable[0] = false;
	engine_scan(e, now + 1 * S);
	ok(!journaled(F.socks[0].cookie) && !memcmp(&F.opts[0], &OWNER, sizeof(OWNER)),
	   "reachable again: handed back at the end of the next round, the entry gone");
	engine_restore_all(e);
	engine_free(e);
}

/* A socket whose hand-back failed still carries kareaper's keepalive, and its
 * count is kareaper's: no verdict reads it as its owner's evidence (all three
 * were destroyed as keepalive-unanswered before), and a destroy would go only
 * over exactly kareaper's options. An arming a walk did not carry out is no
 * probing, and costs no extra walk. */
static void pending_handbacks(void)
{
	struct engine *e;

	under_test = &fake;
	reset(100);
	e = start(c, false);
	engine_scan(e, now);
	is_u64(F.arms, N, "three armed");
	F.handback_err = -ESTALE;       /* the owner cannot be reached for now */
	to_verdicts(e, 1);              /* inconclusive at the deadline */
	ok(journaled(F.socks[0].cookie), "its hand-back failed: still journaled");
	unanswered(3);                  /* kareaper's own probes go on */
	F.opts[0].cnt = 5;              /* and an owner sets its own TCP_KEEPCNT */
	engine_scan(e, now + 20 * S);
	ok(F.destroys == 0 && engine_stats(e)->reaped == 0,
	   "kareaper's own count is not its owner's evidence: none reaped");
	F.handback_err = 0;
	engine_scan(e, now + 21 * S);
	ok(!journaled(F.socks[1].cookie) && !memcmp(&F.opts[1], &OWNER, sizeof(OWNER)) &&
	   F.opts[0].cnt == 5 && F.opts[0].keepalive == 0,
	   "handed back once reachable: the owner's TCP_KEEPCNT stays, kareaper's keepalive goes");
	engine_restore_all(e);
	engine_free(e);

	under_test = &fake_batch;
	reset(100);
	e = start(c, true);
	F.not_walked = true;
	F.applies = 0;
	engine_scan(e, now);
	ok(engine_stats(e)->probing_now == 0 && F.arms == 0,
	   "an arming a walk did not carry out: not probing");
	ok(F.applies == 1, "and no walk of its own per op not done (%u walks)", F.applies);
	ok(access(path, F_OK) < 0, "nothing set, nothing journaled");
	F.not_walked = false;
	engine_restore_all(e);
	engine_free(e);
	under_test = &fake;
}

/* A reload that moves probe_journal: what the old journal still holds (hand-backs
 * that could not be made) moves to the new one, and the old file goes. */
static void journal_moved(void)
{
	char text[512], path2[300];
	struct config *c2;
	struct engine *e;

	snprintf(text, sizeof(text), "[global]\nprobe_journal = %s/moved\n"
		 "[policy p]\nlocal_port = 6379\nidle = 2s\ninterval = 1s\nprobes = 3\n", dir);
	snprintf(path2, sizeof(path2), "%s/moved", dir);
	c2 = config_from(text);
	under_test = &fake;
	reset(100);
	e = start(c, true);
	engine_scan(e, now);
	F.handback_err = -ESTALE; /* the reload cannot hand them back */
	engine_set_config(e, c2);
	ok(access(path, F_OK) < 0, "a reload that moves the journal: the old file goes");
	F.journal = path2;
	ok(journaled(F.socks[0].cookie) && journaled(F.socks[2].cookie),
	   "what it still held is in the new one");
	F.handback_err = 0;
	engine_restore_all(e);
	ok(access(path2, F_OK) < 0 && all_owner(), "and is put back from there");
	F.journal = path;
	engine_set_config(e, c); /* back, for the tests after */
	engine_free(e);
	config_free(c2);
}

/* A backend that acts in passes; an owner racing the arming. */
static void batched(void)
{
	struct engine *e;

	/* a backend that acts in passes: one per round for arming, restoring, reaping */
	under_test = &fake_batch;
	reset(100);
	e = start(c, false);
	engine_scan(e, now);
	is_u64(F.arms, N, "batched: three suspects armed");
	is_u64(F.applies, 1, "in one pass");
	is_u64(F.arms_unjournaled, 0, "each already in the journal");
	F.applies = 0;
	to_verdicts(e, 3);
	is_u64(F.destroys, N, "the dead destroyed");
	is_u64(F.restores, 0, "without putting their options back first");
	is_u64(F.applies, 1, "in one pass");
	is_u64(engine_stats(e)->reaped, N, "three reaped");
	engine_free(e);
	reset(100);
	e = start(c, true);
	engine_scan(e, now);
	F.applies = 0;
	to_verdicts(e, 3);
	is_u64(engine_stats(e)->would_reap, N, "dry run: three would be reaped");
	ok(F.destroys == 0 && all_owner(), "none destroyed, every owner's options back");
	is_u64(F.applies, 1, "in one pass");
	{
		unsigned arms = F.arms;

		F.heard_ms = UINT32_MAX; /* nothing heard since */
		engine_scan(e, now + 60 * S);
		ok(engine_stats(e)->held == 0 && engine_stats(e)->breaker_trips == 0 &&
		   F.arms == arms && engine_stats(e)->would_reap == N && F.destroys == 0,
		   "the next scan: still would reap, as reported (its witness was the verdict's), "
		   "not held, not probed again, not reported twice");
	}
	engine_free(e);
	reset(100);
	e = start(c, true);
	engine_scan(e, now);
	engine_free(e); /* a crash, armed */
	F.applies = F.restores = 0;
	e = start(c, true);
	is_u64(F.restores, N, "batched: the restart restores every journaled socket");
	is_u64(F.applies, 1, "in one pass");
	ok(all_owner(), "exactly");
	engine_free(e);

	/* an owner changes its options between their reading and the arming */
	reset(100);
	F.owner_races = 2;
	e = start(c, true);
	engine_scan(e, now);
	is_u64(F.arms, N - 1, "owner race: the other two armed");
	ok(F.opts[1].keepalive == 1 && F.opts[1].cnt == OWNER.cnt, "its socket keeps the owner's new options");
	ok(!journaled(F.socks[1].cookie), "and leaves the journal");
	F.owner_races = 0;
	F.gets = 0;
	engine_scan(e, now + 100);
	ok(F.arms == N - 1 && F.gets == 1, "read again the next round: its owner runs keepalive "
	   "now, so it is left to it, never armed");
	engine_restore_all(e);
	ok(F.opts[1].keepalive == 1 && F.opts[1].cnt == OWNER.cnt && F.opts[0].keepalive == 0,
	   "and each gets its owner's own back");
	engine_free(e);

}

/* max_probes_per_scan. */
static void rationed(void)
{
	struct engine *e;

	/* at most max_probes_per_scan armed in a round, the longest idle first: the
	 * rest wait for the next */
	under_test = &fake;
	reset(100);
	F.socks[1].last_data_recv_ms = F.socks[1].last_ack_recv_ms = 300 * 1000;
	F.socks[2].last_data_recv_ms = F.socks[2].last_ack_recv_ms = 200 * 1000;
	e = start(ccap, true);
	engine_scan(e, now);
	is_u64(F.arms, 2, "max_probes_per_scan = 2: two of three suspects armed");
	ok(journaled(F.socks[1].cookie) && journaled(F.socks[2].cookie),
	   "the two idle longest (300 s, 200 s)");
	ok(!journaled(F.socks[0].cookie), "the third (100 s) not even journaled");
	engine_restore_all(e);
	engine_free(e);
	/* idle within one scan interval of each other (30 s): in the listing's order,
	 * where a walk that acts on them can stop soonest */
	reset(100);
	F.socks[1].last_data_recv_ms = F.socks[1].last_ack_recv_ms = 110 * 1000;
	F.socks[2].last_data_recv_ms = F.socks[2].last_ack_recv_ms = 115 * 1000;
	e = start(ccap, true);
	engine_scan(e, now);
	ok(journaled(F.socks[0].cookie) && journaled(F.socks[1].cookie) &&
	   !journaled(F.socks[2].cookie), "idle 100, 110, 115 s: the first two listed");
	engine_scan(e, now + 100);
	is_u64(F.arms, N, "the next round arms it");
	engine_restore_all(e);
	ok(all_owner(), "every owner's options back");
	engine_free(e);

}

/* Ops carried by listings, and --once. */
static void carried(void)
{
	struct engine *e;

	/* a backend whose ops ride on listings: the next scan arms what this one found */
	under_test = &fake_carry;
	reset(100);
	e = start(ccarry, true);
	engine_scan(e, now);
	ok(F.arms == 0 && F.applies == 0, "carried: the scan that finds suspects arms none itself");
	ok(journaled(F.socks[0].cookie) && journaled(F.socks[2].cookie), "but journals them");
	is_u64(engine_stats(e)->suspect_now, N, "three suspects wait for the next listing");
	engine_scan(e, now + 1 * S);
	is_u64(F.arms, N, "the next listing arms them");
	ok(F.applies == 0 && F.carried == N, "on its way, with no pass of their own");
	is_u64(F.arms_unjournaled, 0, "each already in the journal when armed");
	is_u64(engine_stats(e)->probing_now, N, "three probing");
	to_verdicts(e, 3);
	is_u64(engine_stats(e)->would_reap, N, "their verdicts as ever: three would be reaped");
	ok(all_owner(), "and their options back");
	engine_free(e);

	reset(100);
	e = start(ccarry, true);
	engine_scan(e, now);
	F.socks[0].segs_in++;   /* its peer talks before the listing that would arm it */
	F.gone[1] = true;       /* this one ends */
	engine_scan(e, now + 1 * S);
	is_u64(F.arms, 1, "carried: only the one still quiet and there is armed");
	ok(!journaled(F.socks[0].cookie) && !journaled(F.socks[1].cookie),
	   "the others leave the journal");
	ok(memcmp(&F.opts[0], &OWNER, sizeof(OWNER)) == 0, "untouched");
	engine_restore_all(e);
	engine_free(e);

	reset(100);
	e = start(ccarry, true);
	engine_scan(e, now);
	F.restores = 0;
	engine_restore_all(e); /* a stop before the listing that would arm them */
	ok(F.arms == 0 && F.restores == 0, "carried, stopped first: nothing armed, nothing set");
	ok(access(path, F_OK) < 0, "and nothing left in the journal");
	ok(all_owner(), "every owner's options as they were");
	engine_free(e);

	once_run = true; /* --once: no later listing to wait for */
	reset(100);
	e = start(ccarry, true);
	engine_scan(e, now);
	ok(F.arms == N && F.applies == 1, "--once: armed at once, in a pass of their own");
	engine_restore_all(e);
	engine_free(e);
	once_run = false;

}

/* User timeouts, a policy's dry run, hand-backs, held verdicts. */
static void handing_back(void)
{
	struct engine *e;

	/* the owner's user timeout: none while armed (one unanswered probe past it
	 * would end the connection), its own again after */
	under_test = &fake;
	reset(100);
	for (int i = 0; i < N; i++)
		F.opts[i].user_timeout_ms = 20000;
	e = start(c, true);
	engine_scan(e, now);
	ok(F.opts[0].user_timeout_ms == 0 && F.opts[0].cnt == KR_MAX_KEEPCNT && F.opts[0].keepalive,
	   "an owner's TCP_USER_TIMEOUT is 0 while armed, TCP_KEEPCNT the kernel's limit");
	engine_restore_all(e);
	ok(F.opts[0].user_timeout_ms == 20000 && F.opts[0].keepalive == 0 && F.opts[0].cnt == 9,
	   "and its own again after");
	engine_free(e);

	/* a policy's dry run, the global one off */
	{
		struct config *cdry = cfg_text(dir, "dry_run = yes\n");

		reset(100);
		e = start(cdry, false);
		engine_scan(e, now);
		to_verdicts(e, 3);
		ok(F.destroys == 0 && engine_stats(e)->would_reap == N,
		   "a policy's dry_run: none destroyed, three would be reaped");
		ok(all_owner(), "and every owner's options back");
		engine_free(e);
		config_free(cdry);
	}

	/* an owner with keepalive of its own is never armed: judged on its probes */
	{
		const struct ka_opts own = { 1, 25, 5, 3, 0 };

		reset(100);
		for (int i = 0; i < N; i++) {
			F.opts[i] = own;
			F.socks[i].timer = 2; /* its keepalive timer runs */
		}
		e = start(c, true);
		engine_scan(e, now);
		ok(F.arms == 0 && access(path, F_OK) < 0 && F.gets == N,
		   "owner keepalive 25s/5s/3: options read, never armed, nothing journaled");
		ok(engine_stats(e)->suspect_now == N && engine_stats(e)->probing_now == 0,
		   "left to its owner");
		F.gets = 0;
		engine_scan(e, now + 10 * S);
		ok(F.gets == 0 && F.arms == 0, "nor read again while its owner's timer runs");
		unanswered(2);
		engine_scan(e, now + 20 * S);
		is_u64(engine_stats(e)->would_reap, 0, "2 of its owner's probes unanswered: not yet");
		unanswered(3);
		engine_scan(e, now + 25 * S);
		is_u64(engine_stats(e)->would_reap, 0, "3 of its owner's probes unanswered: its "
		       "next awaited");
		to_verdicts(e, 4);
		is_u64(engine_stats(e)->would_reap, N, "and that one unanswered after a round trip "
		       "was seen: would reap (dry run)");
		engine_restore_all(e);
		ok(!memcmp(&F.opts[0], &own, sizeof(own)) && F.restores == 0 &&
		   access(path, F_OK) < 0, "a stop: nothing to hand back, its options its own");
		engine_free(e);
	}

	/* a dead verdict the rate limit holds is proven again, not carried out later */
	{
		char text[512];
		struct config *crate;
		unsigned arms;

		snprintf(text, sizeof(text), "[global]\nprobe_journal = %s/probes\nmax_reaps_per_scan = 1\n"
			 "[policy p]\nlocal_port = 6379\nidle = 2s\ninterval = 1s\nprobes = 3\n", dir);
		crate = config_from(text);
		reset(100);
		e = start(crate, false);
		engine_scan(e, now);
		to_verdicts(e, 3);
		is_u64(F.destroys, 1, "max_reaps_per_scan = 1: one reaped");
		for (int i = 0; i < N; i++)
			F.socks[i].timer = 0; /* keepalive off again: no timer, the count stays */
		arms = F.arms;
		engine_scan(e, now + 60 * S);
		ok(F.destroys == 1 && F.arms == arms + 1,
		   "of the two held back, one is probed again (as many as the limits could "
		   "then reap), not reaped on the old evidence (%u, %u)",
		   F.destroys, F.arms - arms);
		to_verdicts(e, 6);
		is_u64(F.destroys, 2, "and reaped on its own");
		engine_scan(e, now + 120 * S);
		is_u64(F.arms, arms + 2, "the other waited, no probes spent, and is probed now");
		engine_restore_all(e);
		engine_free(e);

		/* an owner's keepalive: a verdict held by the limits keeps no witness */
		reset(100);
		for (int i = 0; i < N; i++) {
			F.opts[i] = (struct ka_opts){ 1, 25, 5, 5, 0 };
			F.socks[i].timer = 2;
		}
		e = start(crate, false);
		unanswered(3);
		engine_scan(e, now);
		to_verdicts(e, 4);
		is_u64(F.destroys, 1, "owner keepalive, witnessed: one reaped, two held back "
		       "by the limit");
		F.heard_ms = UINT32_MAX; /* then the host's network goes down */
		unanswered(5);
		engine_scan(e, now + 90 * S);
		to_verdicts(e, 6);
		ok(F.destroys == 1, "its owner's next probes unanswered in the outage: not "
		   "reaped on the witness of the verdict the limit held (%u)", F.destroys);
		engine_free(e);
		config_free(crate);
	}
}

/* Three suspects armed by a first scan, a peer elsewhere heard heard_ms before
 * each listing (UINT32_MAX: none). */
static struct engine *armed_with(uint32_t heard_ms)
{
	struct engine *e;

	reset(100);
	F.heard_ms = heard_ms;
	e = start(c, false);
	engine_scan(e, now);
	return e;
}

/* A breaker held round after round, peers heard from all along: each hold
 * pauses the next proof longer (idle, then twice that), so that such an outage
 * spends the probe budget slowly; and when no full round fits, a shorter one. */
static void breaker_paced(void)
{
	struct engine *e;
	uint64_t held;

	under_test = &fake;
	reset(100);
	F.heard_ms = 0; /* a round trip completes on every walk */
	e = start(cbrk, false);
	engine_scan(e, now);
	is_u64(F.arms, N, "three suspects armed");
	held = to_verdicts(e, 3);
	ok(F.destroys == 0 && engine_stats(e)->held == N && engine_stats(e)->breaker_trips == 1,
	   "all three dead at once: the breaker holds them");
	engine_scan(e, held + 1500);
	is_u64(F.arms, N, "not probed again within idle (2 s) of the hold");
	engine_scan(e, held + 2500);
	is_u64(F.arms, 2 * N, "probed again after it");
	held = to_verdicts(e, 6);
	ok(engine_stats(e)->held == 2 * N && engine_stats(e)->breaker_trips == 2,
	   "held again, by the breaker");
	engine_scan(e, held + 3500);
	is_u64(F.arms, 2 * N, "the second hold pauses twice as long: not probed 3.5 s after it");
	for (int i = 0; i < N; i++) { /* as many rounds held as fit, handed back */
		F.socks[i].probes = 115;
		F.socks[i].timer = 0;
	}
	engine_scan(e, held + 4500);
	is_u64(F.arms, 3 * N, "probed 4.5 s after it");
	held = to_verdicts(e, 117);
	ok(F.destroys == 0 && engine_stats(e)->held == 3 * N && engine_stats(e)->breaker_trips == 3,
	   "115 counted: a round of 1 (2 fit), unanswered after a witness, held again by the "
	   "breaker (its third trip)");
	engine_free(e);
	e = start(c, false); /* the breaker as by default: 10 at least */
	for (int i = 0; i < N; i++)
		F.socks[i].timer = 0;
	engine_scan(e, held + 100 * S);
	ok(F.arms == 3 * N && F.destroys == 0, "117 counted: no round fits, not probed");
	for (int i = 0; i < N; i++) {
		F.socks[i].probes = 115;
		F.socks[i].timer = 0;
	}
	engine_scan(e, held + 101 * S);
	is_u64(F.arms, 4 * N, "115: a round of 1");
	to_verdicts(e, 117);
	ok(F.destroys == N && engine_stats(e)->reaped == N,
	   "unanswered after a witness: reaped, not left alone");
	engine_free(e);
}

/* A round is judged under the policy it was armed under: the kernel probes at
 * that one's interval, whichever policy the socket matches meanwhile (here the
 * owner exec'd: a process= policy no longer matches, a slow one does). The
 * verdict comes a few of the armed intervals later, not the slow one's. */
static struct config *cslow;
static void armed_policy_kept(void)
{
	struct engine *e;
	uint64_t at;

	under_test = &fake;
	reset(100);
	F.comm = NULL;
	e = start(cslow, true);
	engine_scan(e, now);
	is_u64(F.arms, N, "armed under the process= policy (1 s)");
	F.comm = "nginx";
	engine_scan(e, now + 100);
	is_u64(F.arms, N, "the next scan, the owner no longer echo-server: not armed again");
	at = to_verdicts(e, 3);
	ok(at < now + 10 * S, "the verdict within 10 s of arming, on the 1 s interval (at +%llu ms)",
	   (unsigned long long)(at - now));
	is_u64(engine_stats(e)->would_reap, N, "the three would be reaped, as the round's policy says");
	engine_restore_all(e);
	ok(all_owner(), "restored on stop");
	engine_free(e);
	F.comm = NULL;
}

/* The witness: a dead verdict needs a probe that went out, unanswered, after a
 * peer elsewhere was heard from; an outage, with nothing heard, reaps nothing
 * and spends no probes. */
static void witnessed(void)
{
	struct engine *e;
	unsigned arms;

	under_test = &fake;
	e = armed_with(UINT32_MAX); /* the host's own network is down: nothing heard */
	is_u64(F.arms, N, "an outage: three suspects armed");
	to_verdicts(e, 3);
	ok(F.destroys == 0 && engine_stats(e)->held == N,
	   "no peer heard while their probes went unanswered: none reaped, three held");
	ok(all_owner() && access(path, F_OK) < 0, "and every owner's options back");
	arms = F.arms;
	F.looks = 0;
	engine_scan(e, now + 10 * S);
	ok(F.arms == arms && F.looks == 1 && F.destroys == 0 && engine_stats(e)->held == N,
	   "nothing heard since: not probed again (the outage spends no probes), one look "
	   "taken for a witness");
	F.heard_ms = 0; /* the network is back; the three stay silent */
	F.listed_deaf = true; /* seen only on ports the listing does not walk */
	engine_scan(e, now + 20 * S);
	is_u64(F.arms, arms + N, "heard from again, on another port than the policies': found "
	       "by a look, probed again");
	F.listed_deaf = false;
	to_verdicts(e, 6); /* three more */
	is_u64(F.destroys, N, "and reaped on a witness");
	engine_free(e);

	/* heard, but before the probes began: no witness */
	e = armed_with(50 * 1000);
	to_verdicts(e, 3);
	ok(F.destroys == 0 && engine_stats(e)->held == N && F.looks == 2,
	   "a peer heard 50 s before the probes began is no witness (looks taken in the "
	   "window and at the deadline)");
	engine_free(e);

	/* heard while probing, but no probe went out after it */
	e = armed_with(0);
	unanswered(3);
	engine_check_deadlines(e, engine_next_deadline(e)); /* the look: all 3 already out */
	engine_check_deadlines(e, engine_next_deadline(e));
	ok(F.destroys == 0 && engine_stats(e)->held == 0 && engine_stats(e)->probing_now == N,
	   "a round trip seen, but no probe counted after it: the deadline moves on");
	unanswered(4);
	engine_check_deadlines(e, engine_next_deadline(e));
	is_u64(F.destroys, N, "one more unanswered: reaped");
	engine_free(e);

	e = armed_with(0);
	unanswered(3);
	for (int k = 0; k < 4; k++)
		engine_check_deadlines(e, engine_next_deadline(e));
	ok(F.destroys == 0 && engine_stats(e)->held == N && all_owner(),
	   "and none, twice over (no probe goes out): held, handed back");
	engine_free(e);

	/* a probe answered is a round trip, unless the peer is this host */
	for (int local = 0; local < 2; local++) {
		reset(100);
		if (local)
			F.socks[0] = mkrec("192.0.2.1", 6379, "127.0.0.1", 40000, 100);
		F.socks[0].last_data_recv_ms = F.socks[0].last_ack_recv_ms = 100 * 1000;
		F.socks[0].segs_in = 10;
		F.heard_ms = UINT32_MAX; /* no walk sees a round trip */
		e = start(c, false);
		engine_scan(e, now);
		unanswered(2);
		F.socks[0].segs_in++; /* its peer's ack to a probe, no data */
		F.socks[0].last_ack_recv_ms = 0;
		engine_check_deadlines(e, engine_next_deadline(e)); /* the look */
		unanswered(3);
		engine_check_deadlines(e, engine_next_deadline(e));
		if (local)
			ok(F.destroys == 0 && engine_stats(e)->held == N - 1,
			   "a loopback peer's answer is no witness: the others held");
		else
			ok(F.destroys == N - 1, "a peer elsewhere answered a probe: a witness, the "
			   "two silent reaped");
		engine_free(e);
	}

	/* an owner's own keepalive: its probes after a peer was heard, none before */
	{
		const struct ka_opts own = { 1, 25, 5, 5, 0 };

		reset(100);
		for (int i = 0; i < N; i++) {
			F.opts[i] = own;
			F.socks[i].timer = 2;
		}
		F.heard_ms = UINT32_MAX;
		e = start(c, false);
		engine_scan(e, now);
		unanswered(1);
		engine_scan(e, now + 5 * S);
		unanswered(3);
		engine_scan(e, now + 15 * S);
		is_u64(engine_stats(e)->probing_now, N, "owner keepalive, 3 probes unanswered: "
		       "its next one awaited");
		to_verdicts(e, 4);
		ok(F.destroys == 0 && engine_stats(e)->held == N,
		   "4 unanswered while nothing was heard: held");
		F.heard_ms = 0;
		engine_scan(e, now + 16 * S);
		is_u64(F.destroys, 0, "heard from: not on the probes before it");
		to_verdicts(e, 5);
		is_u64(F.destroys, N, "one more of its owner's probes unanswered after: reaped");
		engine_free(e);
	}
}

int main(void)
{
	char cmd[300];

	log_setup(getenv("DBG") ? LOG_DEBUG : LOG_ERR);
	ok(mkdtemp(dir) != NULL, "a directory for the journal");
	snprintf(path, sizeof(path), "%s/probes", dir);
	F.journal = path;
	c = cfg_text(dir, "");
	cp = cfg_text(dir, "process = echo-server\n");
	{
		char text[512];

		/* the next scan comes within the idle time: arming waits for it */
		snprintf(text, sizeof(text), "[global]\nprobe_journal = %s/probes\nscan_interval = 1s\n"
			 "[policy p]\nlocal_port = 6379\nidle = 2s\ninterval = 1s\nprobes = 3\n", dir);
		ccarry = config_from(text);
		snprintf(text, sizeof(text), "[global]\nprobe_journal = %s/probes\nmax_probes_per_scan = 2\n"
			 "[policy p]\nlocal_port = 6379\nidle = 2s\ninterval = 1s\nprobes = 3\n", dir);
		ccap = config_from(text);
		snprintf(text, sizeof(text), "[global]\nprobe_journal = %s/probes\nbreaker_share = 1%%\n"
			 "breaker_min_probes = 1\n[policy p]\nlocal_port = 6379\nidle = 2s\n"
			 "interval = 1s\nprobes = 3\n", dir);
		cbrk = config_from(text);
		snprintf(text, sizeof(text), "[global]\nprobe_journal = %s/probes\n"
			 "[policy p]\nlocal_port = 6379\nprocess = echo-server\nidle = 2s\n"
			 "interval = 1s\nprobes = 3\n[policy slow]\nlocal_port = 6379\nidle = 2s\n"
			 "interval = 1h\nprobes = 3\n", dir);
		cslow = config_from(text);
	}
	{
		char text[512];

		/* the journal's directory would be a regular file: it cannot be written */
		snprintf(text, sizeof(text), "[global]\nprobe_journal = %s/probes/x\n"
			 "[policy p]\nlocal_port = 6379\nidle = 2s\ninterval = 1s\nprobes = 3\n",
			 path);
		cbad = config_from(text);
	}
	ok(c && cp && cbad && ccarry && ccap && cbrk && cslow, "configs load");
	if (!c || !cp || !cbad || !ccarry || !ccap || !cbrk || !cslow)
		return done_testing();

	/* where owners are looked for first: the sockets' cgroups, while few and known */
	{
		struct owner_map m = { 0 }, u = { 0 };

		for (uint32_t i = 1; i <= OWNER_MAP_CGROUPS; i++)
			owner_map_want(&m, i, 100 + i);
		owner_map_want(&m, 50, 101);
		ok(m.ncgroups == OWNER_MAP_CGROUPS && !m.any_cgroup && m.cgroups[0] == 101,
		   "each cgroup listed once");
		owner_map_want(&m, 51, 999);
		ok(m.any_cgroup, "one cgroup too many: any process");
		owner_map_want(&u, 1, 0);
		ok(u.any_cgroup && u.ncgroups == 0, "a socket's cgroup unknown: any process");
		owner_map_free(&m);
		owner_map_free(&u);
	}

	listing_and_journal();
	armed_policy_kept();
	gone_on_proof();
	pending_handbacks();
	journal_moved();
	batched();
	rationed();
	carried();
	handing_back();
	witnessed();
	breaker_paced();


	config_free(c);
	config_free(cp);
	config_free(cbad);
	config_free(ccarry);
	config_free(ccap);
	config_free(cbrk);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ok(system(cmd) == 0, "cleaned up");
	return done_testing();
}
