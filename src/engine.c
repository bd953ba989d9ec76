/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "service.h"

/* One matched socket in the --once table; compact, there may be 100 000 of them. */
enum row_verdict {
	V_ACTIVE, V_IGNORED, V_SUSPECT, V_PROBING, V_LEFT_ALONE, V_ALIVE, V_INCONCLUSIVE,
	V_GONE, V_HELD, V_WOULD_REAP, V_RATE_LIMITED, V_REAPED, V_ERROR,
};

static const char *const verdict_names[] = {
	[V_ACTIVE] = "active",
	[V_IGNORED] = "ignored",
	[V_SUSPECT] = "suspect",
	[V_PROBING] = "probing",
	[V_LEFT_ALONE] = "left alone",
	[V_ALIVE] = "alive",
	[V_INCONCLUSIVE] = "suspect, no probe went out",
	[V_GONE] = "gone",
	[V_HELD] = "dead, held by breaker",
	[V_WOULD_REAP] = "would reap",
	[V_RATE_LIMITED] = "dead, rate-limited",
	[V_REAPED] = "reaped",
	[V_ERROR] = "destroy failed",
};

struct table_row {
	uint8_t local[16], peer[16];
	uint8_t family, state;
	uint8_t verdict;          /* enum row_verdict */
	uint8_t why;              /* enum reason; REASON_NONE: nothing to add */
	uint16_t lport, rport;
	uint16_t policy;
	uint16_t ns;              /* index into engine.ns when the row was made */
	uint32_t inode;
	uint32_t idle_s;
	pid_t pid;
};

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void engine_compile(struct engine *e)
{
	free(e->reaped_by);
	e->reaped_by = calloc(e->cfg->n_policies * (REASON_NO_OWNER + 1), sizeof(*e->reaped_by));
	e->states = 0;
	for (size_t i = 0; i < e->cfg->n_policies; i++)
		e->states |= e->cfg->policies[i].states;
	e->min_idle_ms = config_min_idle_ms(e->cfg);
	e->bclen = diag_compile_ports(e->cfg, e->bc, sizeof(e->bc));
	if (e->bclen < 0) {
		log_msg(LOG_NOTICE, NULL, "too many port selectors for a kernel filter; "
			"filtering in user space only");
		e->bclen = 0;
	} else if (e->bclen > 0) {
		log_msg(LOG_DEBUG, NULL, "kernel filter: %d bytes of bytecode", e->bclen);
	} else {
		log_msg(LOG_DEBUG, NULL, "no kernel filter: a policy selects no port");
	}
}

static uint64_t ns_ino(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static struct netns *ns_find(const struct engine *e, uint64_t ino)
{
	for (size_t i = 0; i < e->nns; i++)
		if (e->ns[i]->ino == ino)
			return e->ns[i];
	return NULL;
}

static void ns_free(struct netns *n)
{
	sockdiag_close(&n->diag);
	sockdiag_close(&n->destroy);
	free(n);
}

/* Netlink sockets belong to the namespace they are created in: enter it, open
 * both, come back. Our own needs no setns (nor CAP_SYS_ADMIN). */
static int ns_open(struct engine *e, const char *path, uint64_t ino, const char *name)
{
	struct netns *n, **nv;
	int fd = -1, r;

	n = calloc(1, sizeof(*n));
	nv = realloc(e->ns, (e->nns + 1) * sizeof(*nv));
	if (!n || !nv) {
		free(n);
		return -ENOMEM;
	}
	e->ns = nv;
	n->ino = ino;
	snprintf(n->name, sizeof(n->name), "%s", name);
	if (ino != e->self_ino) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
			r = -errno;
			if (fd >= 0)
				close(fd);
			free(n);
			return r;
		}
	}
	r = sockdiag_open(&n->diag);
	if (r == 0)
		r = sockdiag_open(&n->destroy);
	if (fd >= 0) {
		if (setns(e->self_fd, CLONE_NEWNET) < 0) {
			/* stuck in another namespace: nothing after this would be right */
			log_msg(LOG_CRIT, NULL, "cannot return to our own network namespace: %m");
			abort();
		}
		close(fd);
	}
	if (r < 0) {
		ns_free(n);
		return r;
	}
	n->seen = true;
	e->ns[e->nns++] = n;
	log_msg(LOG_DEBUG, NULL, "watching network namespace %s (%s)", n->name, path);
	return 0;
}

/* Marks a namespace already watched as still there; false for a new one. */
static bool ns_known(struct engine *e, uint64_t ino)
{
	struct netns *n = ns_find(e, ino);

	if (n)
		n->seen = true;
	return n != NULL;
}

static void ns_add(struct engine *e, const char *path, uint64_t ino, const char *name)
{
	int r = ns_open(e, path, ino, name);

	if (r < 0)
		log_msg(r == -EPERM ? LOG_WARNING : LOG_DEBUG, NULL,
			"cannot watch network namespace %s (%s): %s%s", name, path, strerror(-r),
			r == -EPERM ? " (setns needs CAP_SYS_ADMIN)" : "");
}

static void ns_see(struct engine *e, const char *path, const char *name)
{
	uint64_t ino = ns_ino(path);

	/* ino 0: gone between readdir and stat, which is fine */
	if (ino && !ns_known(e, ino))
		ns_add(e, path, ino, name);
}

/* Which namespaces to watch, found again before every scan: new containers are
 * picked up, vanished ones dropped with everything tracked in them. */
static void ns_discover(struct engine *e)
{
	char path[PATH_MAX], name[64];
	struct dirent *de;
	DIR *d;

	for (size_t i = 0; i < e->nns; i++)
		e->ns[i]->seen = false;
	switch (e->cfg->namespaces) {
	case NS_SELF:
		ns_see(e, "/proc/self/ns/net", "self");
		break;
	case NS_LIST:
		for (char **p = e->cfg->ns_paths; *p; p++) {
			const char *base = strrchr(*p, '/');

			snprintf(name, sizeof(name), "%s", strncmp(*p, "/run/netns/", 11) == 0 ?
				 base + 1 : *p);
			ns_see(e, *p, name);
		}
		break;
	case NS_ALL:
		/* named ones first, so a namespace both named and used gets its name */
		d = opendir("/run/netns");
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
			ns_see(e, path, de->d_name);
		}
		if (d)
			closedir(d);
		ns_see(e, "/proc/self/ns/net", "self");
		d = opendir(e->proc);
		while (d && (de = readdir(d))) {
			uint64_t ino;
			pid_t pid;

			if (de->d_name[0] < '1' || de->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "%s/%s/ns/net", e->proc, de->d_name);
			ino = ns_ino(path);
			if (!ino || ns_known(e, ino))
				continue; /* comm is read only for a namespace new to us */
			pid = (pid_t)atoi(de->d_name);
			proc_comm(e->proc, pid, name);
			ns_add(e, path, ino, name);
		}
		if (d)
			closedir(d);
		break;
	}
	for (size_t i = 0; i < e->nns;) {
		struct netns *n = e->ns[i];
		struct reaper *tb = &e->table;

		if (n->seen) {
			i++;
			continue;
		}
		log_msg(LOG_DEBUG, NULL, "network namespace %s is gone", n->name);
		for (size_t b = 0; b < tb->nbuckets; b++) {
			struct tracked *t = tb->buckets[b], *next;

			for (; t; t = next) {
				next = t->next;
				if (t->rec.netns == n->ino)
					reaper_forget(tb, t);
			}
		}
		ns_free(n);
		e->ns[i] = e->ns[--e->nns];
	}
}

int engine_init(struct engine *e, struct config *cfg, bool force_dry_run, bool keep_rows)
{
	int r;

	memset(e, 0, sizeof(*e));
	e->cfg = cfg;
	e->force_dry_run = force_dry_run;
	e->keep_rows = keep_rows;
	e->proc = "/proc";
	e->self_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (e->self_fd < 0)
		return -errno;
	e->self_ino = ns_ino("/proc/self/ns/net");
	r = reaper_init(&e->table);
	if (r < 0)
		return r;
	engine_compile(e);
	ns_discover(e);
	if (cfg->namespaces == NS_SELF && e->nns == 0)
		return -EIO;
	return 0;
}

void engine_free(struct engine *e)
{
	for (size_t i = 0; i < e->nns; i++)
		ns_free(e->ns[i]);
	free(e->ns);
	free(e->reaped_by);
	if (e->self_fd > 0)
		close(e->self_fd);
	reaper_free(&e->table);
	free(e->rows);
	free(e->work);
	free(e->deferred);
	memset(e, 0, sizeof(*e));
}

static const struct policy *pol(const struct engine *e, int idx)
{
	return &e->cfg->policies[idx];
}

static bool dry(const struct engine *e, const struct policy *p)
{
	return e->force_dry_run || e->cfg->dry_run || p->dry_run;
}

static struct sock_event event_of(const struct engine *e, const struct tracked *t,
				  const char *reason)
{
	struct sock_event ev = {
		.policy = pol(e, t->policy)->name,
		.s = &t->rec,
		.pid = t->pid,
		.comm = t->pid ? t->comm : NULL,
		.idle_ms = tracked_idle_ms(t, e->now),
		.probes = (int)t->probes_at_verdict,
		.reason = reason,
	};
	const struct netns *n = ns_find(e, t->rec.netns);

	ev.netns = n && e->cfg->namespaces != NS_SELF ? n->name : NULL;
	return ev;
}

/* ---- rows of the --once table ---- */

static struct table_row *row_add(struct engine *e, int policy, const struct sock_rec *s,
				 uint64_t idle)
{
	struct table_row *r;

	if (!e->keep_rows)
		return NULL;
	if (e->nrows == e->caprows) {
		size_t cap = e->caprows ? e->caprows * 2 : 256;
		struct table_row *n = realloc(e->rows, cap * sizeof(*n));

		if (!n)
			return NULL;
		e->rows = n;
		e->caprows = cap;
	}
	r = &e->rows[e->nrows++];
	memset(r, 0, sizeof(*r));
	memcpy(r->local, s->local.a, sizeof(r->local));
	memcpy(r->peer, s->peer.a, sizeof(r->peer));
	r->family = (uint8_t)s->local.family;
	r->lport = s->lport;
	r->rport = s->rport;
	r->state = s->state;
	r->policy = (uint16_t)policy;
	for (size_t i = 0; i < e->nns; i++)
		if (e->ns[i] == e->cur)
			r->ns = (uint16_t)i;
	r->inode = s->inode;
	r->idle_s = (uint32_t)(idle / 1000);
	r->verdict = V_ACTIVE;
	return r;
}

static struct table_row *row_of(struct engine *e, const struct tracked *t)
{
	return t->row && t->row <= e->nrows ? &e->rows[t->row - 1] : NULL;
}

static void row_verdict(struct engine *e, const struct tracked *t, enum row_verdict verdict,
			enum reason why)
{
	struct table_row *r = row_of(e, t);

	if (r) {
		r->verdict = (uint8_t)verdict;
		r->why = (uint8_t)why;
		r->idle_s = (uint32_t)(tracked_idle_ms(t, e->now) / 1000);
		if (t->pid)
			r->pid = t->pid;
	}
}

/* ---- work list: entries needing action this round ---- */

static void work_add(struct engine *e, struct tracked *t, enum step step)
{
	if (t->work_gen == e->work_gen)
		return; /* a retried dump may report a socket twice */
	if (e->nwork == e->capwork) {
		size_t cap = e->capwork ? e->capwork * 2 : 64;
		struct work_item *n = realloc(e->work, cap * sizeof(*n));

		if (!n)
			return;
		e->work = n;
		e->capwork = cap;
	}
	t->work_gen = e->work_gen;
	e->work[e->nwork].t = t;
	e->work[e->nwork].step = step;
	e->nwork++;
}

/* pid 0: owner not looked up (yet) */
static void handle_matched(struct engine *e, int idx, const struct sock_rec *s, pid_t pid, int fd,
			   const char *comm)
{
	const struct policy *p = pol(e, idx);
	struct table_row *row;
	struct tracked *t;
	enum step step;

	e->stats.matched++;
	row = row_add(e, idx, s, sock_idle_ms(s));
	if (row)
		row->pid = pid;
	if (p->action == ACTION_IGNORE) {
		if (row)
			row->verdict = V_IGNORED;
		return;
	}
	step = reaper_observe(&e->table, idx, p, s, e->now, &t);
	if (t && !t->pid && pid > 0) {
		t->pid = pid;
		t->fd = fd;
		snprintf(t->comm, sizeof(t->comm), "%s", comm);
	}
	if (row && t) {
		row->idle_s = (uint32_t)(tracked_idle_ms(t, e->now) / 1000);
		t->row = (uint32_t)(row - e->rows) + 1;
	}
	switch (step) {
	case STEP_ACTIVE:
		break;
	case STEP_WAIT:
		if (row)
			row->verdict = V_PROBING;
		break;
	case STEP_LEFT_ALONE:
		if (row) {
			row->verdict = V_LEFT_ALONE;
			row->why = REASON_NO_OWNER;
		}
		break;
	case STEP_ARM:
	case STEP_ALIVE:
	case STEP_INCONCLUSIVE:
	case STEP_DEAD:
		if (row)
			row->verdict = V_SUSPECT;
		work_add(e, t, step);
		break;
	}
}

static int scan_cb(const struct sock_rec *s, void *data)
{
	struct engine *e = data;
	struct sock_rec rec = *s;
	int idx;

	rec.netns = e->cur->ino;
	s = &rec;
	e->stats.scanned++;
	idx = policy_match(e->cfg, s, e->cur->name, NULL);
	if (idx == MATCH_NONE)
		return 0;
	if (idx == MATCH_NEED_OWNER) {
		/* Only worth an owner lookup if some policy could call it idle. */
		if (!e->keep_rows && sock_idle_ms(s) < e->min_idle_ms &&
		    !reaper_find(&e->table, s->cookie))
			return 0;
		if (e->ndeferred == e->capdeferred) {
			size_t cap = e->capdeferred ? e->capdeferred * 2 : 64;
			struct sock_rec *n = realloc(e->deferred, cap * sizeof(*n));

			if (!n)
				return 0;
			e->deferred = n;
			e->capdeferred = cap;
		}
		e->deferred[e->ndeferred++] = *s;
		return 0;
	}
	handle_matched(e, idx, s, 0, -1, NULL);
	return 0;
}

/* ---- owners ---- */

static void fill_owners(struct engine *e)
{
	struct owner_map m = { 0 };
	size_t i;

	for (i = 0; i < e->ndeferred; i++)
		owner_map_want(&m, e->deferred[i].inode);
	for (i = 0; i < e->nwork; i++)
		if (!e->work[i].t->pid)
			owner_map_want(&m, e->work[i].t->rec.inode);
	for (i = 0; i < e->nrows; i++)
		owner_map_want(&m, e->rows[i].inode);
	if (m.n == 0)
		return;
	if (owner_map_scan(&m, e->proc) < 0)
		log_msg(LOG_WARNING, NULL, "cannot read %s: %m", e->proc);

	for (i = 0; i < e->nrows; i++) {
		int fd;

		owner_map_get(&m, e->rows[i].inode, &e->rows[i].pid, &fd);
	}
	for (i = 0; i < e->nwork; i++) {
		struct tracked *t = e->work[i].t;

		if (!t->pid && owner_map_get(&m, t->rec.inode, &t->pid, &t->fd))
			proc_comm(e->proc, t->pid, t->comm);
	}
	/* Sockets whose policy depends on the owning process: decide now. */
	for (i = 0; i < e->ndeferred; i++) {
		const struct sock_rec *s = &e->deferred[i];
		char comm[16] = "";
		pid_t pid = 0;
		int fd = -1, idx;

		if (owner_map_get(&m, s->inode, &pid, &fd))
			proc_comm(e->proc, pid, comm);
		e->cur = ns_find(e, s->netns);
		if (!e->cur)
			continue;
		idx = policy_match(e->cfg, s, e->cur->name, comm);
		if (idx >= 0)
			handle_matched(e, idx, s, pid, fd, comm);
	}
	e->ndeferred = 0;
	owner_map_free(&m);
}

/* The owner's duplicate of this very socket; looks the owner up again when the
 * descriptor we knew has moved (fd reused, process exited, socket passed on). */
static int reach(struct engine *e, struct tracked *t, int *sfd)
{
	struct owner_map m = { 0 };
	pid_t pid;
	int fd, r = -ESRCH;

	if (t->pid > 0)
		r = prober_get_socket(t->pid, t->fd, t->cookie, sfd);
	if (r == 0 || r == -EPERM)
		return r;
	if (owner_map_want(&m, t->rec.inode) == 0 && owner_map_scan(&m, e->proc) == 0 &&
	    owner_map_get(&m, t->rec.inode, &pid, &fd)) {
		t->pid = pid;
		t->fd = fd;
		proc_comm(e->proc, pid, t->comm);
		r = prober_get_socket(pid, fd, t->cookie, sfd);
	}
	owner_map_free(&m);
	return r;
}

static void forget(struct engine *e, struct work_item *w)
{
	reaper_forget(&e->table, w->t);
	w->t = NULL;
}

static void disarm(struct engine *e, struct tracked *t)
{
	int sfd, r;

	if (!t->armed)
		return;
	r = reach(e, t, &sfd);
	if (r == 0) {
		r = prober_restore(sfd, &t->saved);
		close(sfd);
	}
	if (r < 0)
		log_msg(LOG_DEBUG, NULL, "cookie %llu: cannot restore keepalive options: %s",
			(unsigned long long)t->cookie, strerror(-r));
	t->armed = false;
}

static void left_alone(struct engine *e, struct tracked *t, int err)
{
	struct sock_event ev = event_of(e, t, reason_name(REASON_NO_OWNER));
	char why[96];

	t->state = TS_UNPROBEABLE;
	t->reason = REASON_NO_OWNER;
	e->stats.unprobeable++;
	snprintf(why, sizeof(why), "%s", err ? strerror(-err) : "no process holds it");
	log_sock(LOG_NOTICE, MSGID_UNPROBEABLE, &ev, "cannot probe (%s), leaving it alone", why);
	row_verdict(e, t, V_LEFT_ALONE, REASON_NO_OWNER);
}

static void arm(struct engine *e, struct tracked *t)
{
	const struct policy *p = pol(e, t->policy);
	struct sock_event ev;
	int sfd, r;

	if (!t->pid) {
		left_alone(e, t, 0);
		return;
	}
	r = reach(e, t, &sfd);
	if (r < 0) {
		left_alone(e, t, r);
		return;
	}
	r = prober_arm(sfd, p, tracked_idle_ms(t, e->now), t->rec.probes, &t->saved);
	close(sfd);
	if (r < 0) {
		left_alone(e, t, r);
		return;
	}
	/* the deadline counts from now, not from the start of the scan: finding owners
	 * and arming a thousand sockets can take longer than an interval */
	reaper_armed(t, p, now_ms());
	e->stats.probes_armed++;
	ev = event_of(e, t, NULL);
	ev.probes = -1;
	log_sock(LOG_INFO, MSGID_PROBING, &ev, "idle, probing with %u keepalives every %llus", p->probes,
		 (unsigned long long)(p->interval_ms / 1000));
	row_verdict(e, t, V_PROBING, REASON_NONE);
}

/* A socket that left the established table while we probed it. Before the kernel's
 * own keepalive could have given up, only an RST takes a socket out of the hash
 * without a trace: the peer answered a probe with one (it rebooted and lost the
 * connection) or sent one anyway. A socket still found in another state (TIME_WAIT,
 * FIN_WAIT, CLOSE_WAIT...) was closed normally by one side. */
static void gone_while_probing(struct engine *e, struct tracked *t)
{
	const struct policy *p = pol(e, t->policy);
	uint64_t kernel_gives_up = t->armed_at +
		(uint64_t)(p->probes + KR_KEEPCNT_MARGIN) * p->interval_ms;
	enum reason why = REASON_CLOSED_WHILE_PROBING;
	struct sock_event ev;
	struct sock_rec fresh;

	struct netns *n = ns_find(e, t->rec.netns);

	if (n && sockdiag_query(&n->diag, &t->rec, &fresh) == -ENOENT &&
	    e->now < kernel_gives_up)
		why = REASON_RESET_ON_PROBE;
	t->armed = false; /* nothing left to restore */
	t->reason = why;
	e->stats.gone++;
	ev = event_of(e, t, reason_name(why));
	log_sock(LOG_NOTICE, MSGID_GONE, &ev, "connection ended while probing");
	row_verdict(e, t, V_GONE, why);
}

static void process_work(struct engine *e, unsigned *alive)
{
	for (size_t i = 0; i < e->nwork; i++) {
		struct work_item *w = &e->work[i];
		struct tracked *t = w->t;
		struct sock_event ev;

		if (!t)
			continue;
		switch (w->step) {
		case STEP_ARM:
			arm(e, t);
			break;
		case STEP_ALIVE:
			disarm(e, t);
			(*alive)++;
			e->stats.alive++;
			ev = event_of(e, t, reason_name(REASON_ANSWERED));
			ev.probes = -1;
			log_sock(LOG_INFO, MSGID_ALIVE, &ev, "peer answered, options restored");
			row_verdict(e, t, V_ALIVE, REASON_ANSWERED);
			forget(e, w);
			break;
		case STEP_INCONCLUSIVE:
			/* No probe left (data queued: the retransmit timer runs instead). */
			disarm(e, t);
			t->state = TS_SUSPECT;
			row_verdict(e, t, V_INCONCLUSIVE, REASON_NONE);
			break;
		default:
			break;
		}
	}
}

static void reap_dead(struct engine *e, unsigned probed_alive)
{
	unsigned evidence_dead = 0, used = 0, limited = 0;
	bool trip;

	for (size_t i = 0; i < e->nwork; i++) {
		struct tracked *t = e->work[i].t;

		if (t && t->state == TS_DEAD && !t->reported && t->reason != REASON_IDLE)
			evidence_dead++;
	}
	trip = reaper_breaker_trips(e->cfg, evidence_dead, probed_alive);
	if (trip) {
		e->stats.breaker_trips++;
		log_msg(LOG_WARNING, MSGID_BREAKER,
			"circuit breaker: %u of %u connections checked this round look dead at "
			"once; reaping none of them (is this host's own network down?)",
			evidence_dead, evidence_dead + probed_alive);
	}
	for (size_t i = 0; i < e->nwork; i++) {
		struct work_item *w = &e->work[i];
		struct tracked *t = w->t;
		const struct policy *p;
		struct sock_event ev;
		struct netns *n;
		int r;

		if (!t || t->state != TS_DEAD)
			continue;
		p = pol(e, t->policy);
		disarm(e, t);
		ev = event_of(e, t, reason_name(t->reason));
		if (trip && t->reason != REASON_IDLE) {
			row_verdict(e, t, V_HELD, t->reason);
			forget(e, w);
			continue;
		}
		if (dry(e, p)) {
			if (!t->reported) {
				e->stats.would_reap++;
				log_sock(LOG_NOTICE, MSGID_WOULD_REAP, &ev, "dry run: would reap");
			}
			t->reported = true;
			row_verdict(e, t, V_WOULD_REAP, t->reason);
			continue;
		}
		if (reaper_take_budget(&e->table, e->cfg, 1, used, e->now) == 0) {
			limited++;
			row_verdict(e, t, V_RATE_LIMITED, t->reason);
			continue;
		}
		used++;
		n = ns_find(e, t->rec.netns);
		r = n ? sockdiag_destroy(&n->destroy, &t->rec) : -ENOENT; /* namespace gone: so is it */
		if (r == 0) {
			e->stats.reaped++;
			e->reaped_by[t->policy * (REASON_NO_OWNER + 1) + t->reason]++;
			log_sock(LOG_NOTICE, MSGID_REAPED, &ev, "reaped");
			row_verdict(e, t, V_REAPED, t->reason);
		} else if (r == -ENOENT) {
			/* gone already, or the tuple is now another connection's: the
			 * kernel compared the cookie and left it alone */
			log_sock(LOG_DEBUG, MSGID_GONE, &ev, "already gone");
			row_verdict(e, t, V_GONE, t->reason);
		} else {
			e->stats.errors++;
			log_sock(LOG_ERR, NULL, &ev, "SOCK_DESTROY failed: %s", strerror(-r));
			row_verdict(e, t, V_ERROR, t->reason);
		}
		forget(e, w);
	}
	if (limited) {
		e->stats.rate_limited += limited;
		log_msg(LOG_NOTICE, MSGID_RATE_LIMITED,
			"%u dead connections wait for a later round (max_reaps_per_scan = %u, "
			"max_reaps_per_minute = %u)", limited, e->cfg->max_reaps_per_scan,
			e->cfg->max_reaps_per_minute);
	}
}

/* Entries whose socket was not in this complete scan are gone. */
static void sweep(struct engine *e)
{
	struct reaper *r = &e->table;
	struct netns *n;

	for (size_t b = 0; b < r->nbuckets; b++) {
		struct tracked *t = r->buckets[b], *next;

		for (; t; t = next) {
			next = t->next;
			if (t->seen_scan == r->scan_gen)
				continue;
			n = ns_find(e, t->rec.netns);
			if (n && !n->dumped)
				continue; /* its namespace could not be listed this time */
			if (t->state == TS_PROBING)
				gone_while_probing(e, t);
			reaper_forget(r, t);
		}
	}
}

int engine_scan(struct engine *e, uint64_t now)
{
	static const uint8_t families[] = { AF_INET, AF_INET6 };
	uint64_t t_dump, t_owners;
	uint64_t scanned_before = e->stats.scanned;
	unsigned alive = 0;
	int r = 0;

	e->now = now;
	e->stats.scans++;
	e->nwork = 0;
	e->work_gen++;
	e->table.scan_gen++;
	e->ndeferred = 0;
	e->nrows = 0;
	ns_discover(e);
	for (size_t i = 0; i < e->nns; i++) {
		struct netns *n = e->ns[i];

		e->cur = n;
		for (int attempt = 0;; attempt++) {
			size_t rows_mark = e->nrows, deferred_mark = e->ndeferred;

			for (size_t f = 0; f < sizeof(families); f++) {
				r = sockdiag_dump(&n->diag, families[f], e->states,
						  e->bclen ? e->bc : NULL, (size_t)e->bclen, scan_cb, e);
				if (r < 0)
					break;
			}
			if (r != -EINTR || attempt == 3)
				break;
			e->nrows = rows_mark;
			e->ndeferred = deferred_mark;
			log_msg(LOG_DEBUG, NULL, "socket dump interrupted, starting over");
		}
		n->dumped = r == 0;
		if (r < 0) {
			e->stats.errors++;
			log_msg(LOG_ERR, NULL, "socket dump of network namespace %s failed: %s",
				n->name, strerror(-r));
		}
	}
	t_dump = now_ms();
	e->stats.last_scanned = e->stats.scanned - scanned_before;
	sweep(e);
	fill_owners(e);
	t_owners = now_ms();
	process_work(e, &alive);
	reap_dead(e, alive);
	e->stats.last_scan_ms = now_ms() - now;
	log_msg(LOG_DEBUG, NULL, "scan: %llu sockets in %zu namespaces, dump %llu ms, owners %llu ms, "
		"probes and reaps %llu ms", (unsigned long long)e->stats.last_scanned, e->nns,
		(unsigned long long)(t_dump - now), (unsigned long long)(t_owners - t_dump),
		(unsigned long long)(now_ms() - t_owners));
	return 0;
}

int engine_check_deadlines(struct engine *e, uint64_t now)
{
	struct reaper *tb = &e->table;
	unsigned alive = 0, due = 0;

	e->now = now;
	e->nwork = 0;
	e->work_gen++;
	for (size_t b = 0; b < tb->nbuckets; b++) {
		struct tracked *t = tb->buckets[b], *next, *same;
		struct netns *n;

		for (; t; t = next) {
			struct sock_rec fresh;
			enum step step;
			int r;

			next = t->next;
			/* Sockets armed in one round get their verdicts together (the breaker
			 * judges a round): take those due within a quarter interval too. The
			 * last probe still has over an interval to be answered. */
			if (t->state != TS_PROBING ||
			    t->deadline > now + pol(e, t->policy)->interval_ms / 4)
				continue;
			due++;
			n = ns_find(e, t->rec.netns);
			r = n ? sockdiag_query(&n->diag, &t->rec, &fresh) : -ENOENT;
			fresh.netns = t->rec.netns;
			if (r == -ENOENT || (r == 0 && (!sock_is_candidate(&fresh) ||
							!(pol(e, t->policy)->states & (1u << fresh.state))))) {
				gone_while_probing(e, t);
				reaper_forget(tb, t);
				continue;
			}
			if (r < 0) {
				log_msg(LOG_WARNING, NULL, "query of a probed socket failed: %s",
					strerror(-r));
				continue;
			}
			/* taken early (the batch window): judge it as at its deadline, or the
			 * state machine says wait and the timer spins until then */
			step = reaper_observe(tb, t->policy, pol(e, t->policy), &fresh,
					      t->deadline > now ? t->deadline : now, &same);
			work_add(e, t, step);
		}
	}
	process_work(e, &alive);
	reap_dead(e, alive);
	log_msg(LOG_DEBUG, NULL, "verdicts: %u sockets due, %llu ms", due,
		(unsigned long long)(now_ms() - now));
	return 0;
}

uint64_t engine_next_deadline(const struct engine *e)
{
	uint64_t min = UINT64_MAX;

	for (size_t b = 0; b < e->table.nbuckets; b++)
		for (struct tracked *t = e->table.buckets[b]; t; t = t->next)
			if (t->state == TS_PROBING && t->deadline < min)
				min = t->deadline;
	return min;
}

size_t engine_count(const struct engine *e, enum track_state st)
{
	size_t n = 0;

	for (size_t b = 0; b < e->table.nbuckets; b++)
		for (struct tracked *t = e->table.buckets[b]; t; t = t->next)
			n += t->state == st;
	return n;
}

/* On stop and reload: at most one walk of /proc for all the sockets whose descriptor
 * moved, not one per socket (thousands may be armed). */
void engine_restore_all(struct engine *e)
{
	struct owner_map m = { 0 };
	struct reaper *tb = &e->table;
	int sfd;

	for (int pass = 0; pass < 2; pass++) {
		for (size_t b = 0; b < tb->nbuckets; b++) {
			for (struct tracked *t = tb->buckets[b]; t; t = t->next) {
				if (!t->armed)
					continue;
				if (pass == 1 && !owner_map_get(&m, t->rec.inode, &t->pid, &t->fd)) {
					t->armed = false; /* no process holds it any more */
					continue;
				}
				if (prober_get_socket(t->pid, t->fd, t->cookie, &sfd) == 0) {
					prober_restore(sfd, &t->saved);
					close(sfd);
					t->armed = false;
				} else if (pass == 0) {
					owner_map_want(&m, t->rec.inode);
				} else {
					t->armed = false;
				}
			}
		}
		if (m.n == 0 || owner_map_scan(&m, e->proc) < 0)
			break;
	}
	owner_map_free(&m);
}

void engine_set_config(struct engine *e, struct config *cfg)
{
	struct reaper *r = &e->table;

	engine_restore_all(e);
	/* Policy indexes and verdicts belong to the old config: start over. */
	for (size_t b = 0; b < r->nbuckets; b++) {
		struct tracked *t = r->buckets[b], *next;

		for (; t; t = next) {
			next = t->next;
			reaper_forget(r, t);
		}
	}
	e->cfg = cfg;
	engine_compile(e);
}

void engine_print_table(struct engine *e, FILE *f)
{
	char l[KADDR_STRLEN], p[KADDR_STRLEN], idle[DURATION_STRLEN], owner[40], comm[16];
	size_t active = 0;
	pid_t comm_pid = 0;

	bool show_ns = e->cfg->namespaces != NS_SELF;

	if (show_ns)
		fprintf(f, "%-16s ", "NETNS");
	fprintf(f, "%-12s %-26s %-26s %-11s %-10s %-22s %s\n", "POLICY", "LOCAL", "PEER",
		"STATE", "IDLE", "OWNER", "VERDICT");
	for (size_t i = 0; i < e->nrows; i++) {
		const struct table_row *r = &e->rows[i];
		struct kaddr la = { .family = r->family }, pa = { .family = r->family };
		const char *why = r->why != REASON_NONE ? reason_name(r->why) : NULL;

		memcpy(la.a, r->local, sizeof(la.a));
		memcpy(pa.a, r->peer, sizeof(pa.a));
		if (r->pid) {
			/* rows of one owner come in runs: read its comm once per run */
			if (r->pid != comm_pid) {
				proc_comm(e->proc, r->pid, comm);
				comm_pid = r->pid;
			}
			snprintf(owner, sizeof(owner), "%d/%s", (int)r->pid, comm);
		} else {
			snprintf(owner, sizeof(owner), "-");
		}
		active += r->verdict == V_ACTIVE;
		if (show_ns)
			fprintf(f, "%-16s ", r->ns < e->nns ? e->ns[r->ns]->name : "?");
		fprintf(f, "%-12s %-26s %-26s %-11s %-10s %-22s %s%s%s%s\n",
			e->cfg->policies[r->policy].name,
			kaddr_format(&la, r->lport, l, sizeof(l)), kaddr_format(&pa, r->rport, p, sizeof(p)),
			tcp_state_name(r->state),
			format_duration((uint64_t)r->idle_s * 1000, idle, sizeof(idle)), owner,
			verdict_names[r->verdict], why ? " (" : "", why ? why : "", why ? ")" : "");
	}
	fprintf(f, "# %llu sockets scanned, %zu matched, %zu active, %llu probed, %llu alive, "
		"%llu reaped, %llu would be reaped, %llu gone, %llu left alone\n",
		(unsigned long long)e->stats.scanned, e->nrows, active,
		(unsigned long long)e->stats.probes_armed, (unsigned long long)e->stats.alive,
		(unsigned long long)e->stats.reaped, (unsigned long long)e->stats.would_reap,
		(unsigned long long)e->stats.gone, (unsigned long long)e->stats.unprobeable);
}

void engine_status(const struct engine *e, char *buf, size_t len)
{
	snprintf(buf, len, "%llu scans, %llu sockets in the last; %zu suspect, %zu probing; "
		 "%llu alive, %llu reaped, %llu would reap so far",
		 (unsigned long long)e->stats.scans, (unsigned long long)e->stats.last_scanned,
		 engine_count(e, TS_SUSPECT) + engine_count(e, TS_UNPROBEABLE),
		 engine_count(e, TS_PROBING), (unsigned long long)e->stats.alive,
		 (unsigned long long)e->stats.reaped, (unsigned long long)e->stats.would_reap);
}

int engine_self_test(struct engine *e, char *err, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in ca;
	socklen_t al = sizeof(a), cl = sizeof(ca), kl;
	struct sock_rec s = { 0 };
	int lfd = -1, cfd = -1, sfd = -1, r;
	uint64_t cookie;
	char c;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || cfd < 0 || bind(lfd, (void *)&a, sizeof(a)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (void *)&a, &al) < 0 || connect(cfd, (void *)&a, sizeof(a)) < 0 ||
	    getsockname(cfd, (void *)&ca, &cl) < 0 ||
	    (sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0) {
		r = -errno;
		snprintf(err, len, "self-test: cannot make a loopback TCP connection: %s "
			 "(is the loopback interface up?)", strerror(errno));
		goto out;
	}
	kl = sizeof(cookie);
	if (getsockopt(sfd, SOL_SOCKET, SO_COOKIE, &cookie, &kl) < 0) {
		r = -errno;
		snprintf(err, len, "self-test: SO_COOKIE: %s", strerror(errno));
		goto out;
	}
	s.family = AF_INET;
	s.id.idiag_sport = a.sin_port;
	s.id.idiag_dport = ca.sin_port;
	s.id.idiag_src[0] = a.sin_addr.s_addr;
	s.id.idiag_dst[0] = ca.sin_addr.s_addr;
	s.id.idiag_cookie[0] = (uint32_t)cookie;
	s.id.idiag_cookie[1] = (uint32_t)(cookie >> 32);
	{
		static struct sockdiag own; /* 32 KiB buffer: not on the stack */

		r = sockdiag_open(&own);
		if (r == 0) {
			r = sockdiag_destroy(&own, &s);
			sockdiag_close(&own);
		}
	}
	if (r == -EPERM || r == -EACCES) {
		snprintf(err, len, "self-test: SOCK_DESTROY not permitted: kareaper needs "
			 "CAP_NET_ADMIN (run it as root or give it the capability)");
		goto out;
	}
	if (r == -EOPNOTSUPP) {
		snprintf(err, len, "self-test: this kernel cannot destroy sockets "
			 "(built without CONFIG_INET_DIAG_DESTROY)");
		goto out;
	}
	if (r < 0) {
		snprintf(err, len, "self-test: SOCK_DESTROY failed: %s", strerror(-r));
		goto out;
	}
	if (recv(sfd, &c, 1, 0) >= 0 || errno != ECONNABORTED) {
		r = -EIO;
		snprintf(err, len, "self-test: SOCK_DESTROY returned success but the socket "
			 "was not aborted");
		goto out;
	}
	r = 0;
out:
	if (sfd >= 0)
		close(sfd);
	if (cfd >= 0)
		close(cfd);
	if (lfd >= 0)
		close(lfd);
	return r;
}

static void metric(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
		(unsigned long long)v);
}

/* Label values are policy names ([A-Za-z0-9_.-]) and fixed reason words: no
 * escaping needed. */
int engine_write_metrics(const struct engine *e, const char *path)
{
	char tmp[PATH_MAX];
	FILE *f;
	int r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	metric(f, "kareaper_scans_total", "counter", "Full scans of the socket tables.",
	       e->stats.scans);
	metric(f, "kareaper_sockets_scanned", "gauge", "Sockets listed by the last scan.",
	       e->stats.last_scanned);
	metric(f, "kareaper_scan_duration_milliseconds", "gauge",
	       "Time the last scan took, probes and reaps included.", e->stats.last_scan_ms);
	metric(f, "kareaper_namespaces", "gauge", "Network namespaces watched.", e->nns);
	metric(f, "kareaper_suspects", "gauge",
	       "Connections idle beyond their policy, not yet probed or left alone.",
	       engine_count(e, TS_SUSPECT) + engine_count(e, TS_UNPROBEABLE));
	metric(f, "kareaper_probing", "gauge", "Connections with keepalive probes armed.",
	       engine_count(e, TS_PROBING));
	metric(f, "kareaper_probes_armed_total", "counter", "Connections probed.",
	       e->stats.probes_armed);
	metric(f, "kareaper_alive_total", "counter", "Probed peers that answered.", e->stats.alive);
	metric(f, "kareaper_would_reap_total", "counter", "Dead connections left alone by dry run.",
	       e->stats.would_reap);
	metric(f, "kareaper_gone_total", "counter",
	       "Connections that ended while probed (reset by the peer, or closed).", e->stats.gone);
	metric(f, "kareaper_rate_limited_total", "counter",
	       "Dead connections made to wait by the rate limits.", e->stats.rate_limited);
	metric(f, "kareaper_breaker_trips_total", "counter", "Rounds held by the circuit breaker.",
	       e->stats.breaker_trips);
	metric(f, "kareaper_unprobeable_total", "counter",
	       "Connections left alone for want of a reachable owner.", e->stats.unprobeable);
	fprintf(f, "# HELP kareaper_reaped_total Connections destroyed, by policy and reason.\n"
		   "# TYPE kareaper_reaped_total counter\n");
	for (size_t p = 0; p < e->cfg->n_policies; p++)
		for (int why = 0; why <= REASON_NO_OWNER; why++) {
			uint64_t v = e->reaped_by ? e->reaped_by[p * (REASON_NO_OWNER + 1) + why] : 0;

			if (v)
				fprintf(f, "kareaper_reaped_total{policy=\"%s\",reason=\"%s\"} %llu\n",
					e->cfg->policies[p].name, reason_name((enum reason)why),
					(unsigned long long)v);
		}
	if (fflush(f) != 0 || ferror(f))
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}
