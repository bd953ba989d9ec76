/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The BPF backend: the kernel walks its own socket table (iter/tcp), filters by the
 * policies and writes only the candidates; keepalive options are read through BTF
 * and set with bpf_setsockopt on the socket itself, under its lock, and sockets die
 * by bpf_sock_destroy. No process is touched: no /proc walk, no pidfd_getfd, no
 * ptrace right. Owners, when a row or a log line asks, come from one iter/task_file
 * pass. Exact queries stay sock_diag (unprivileged, by cookie); a kernel without
 * bpf_sock_destroy (< 6.5) destroys with SOCK_DESTROY, which needs CAP_NET_ADMIN.
 *
 * The programs come in one object per set of kfuncs (Makefile.am): the one loaded
 * names only kfuncs the running kernel's BTF has, so the load needs no right but
 * CAP_BPF and CAP_PERFMON on any kernel from 5.15 (bpf_setsockopt from iter/tcp).
 *
 * One loaded object serves every namespace: an iterator belongs to the network
 * namespace its reader was created in, so each run is created from inside the
 * instance's namespace. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "array.h"
#include "backend.h"
#include "bpf-shared.h"
#include "btf-funcs.h"
#include "caps.h"
#include "cleanup.h"
#include "kareaper.skel.h"
/* the other objects' bytes (their skeletons' other functions go unused) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "kareaper-base.skel.h"
#include "kareaper-cast.skel.h"
#pragma GCC diagnostic pop
#include "service.h"
#include "sockdiag.h"

/* Loaded once, on the first open or availability test, and kept for the life of
 * the process: the instances share it, and nothing is verified twice. */
static struct {
	struct kareaper_bpf *skel;
	struct bpf_link *tcp, *owners, *procs;
	int error;                /* of the one load: 0, or -errno */
	const struct bpf_variant *variant; /* the object loaded (or tried) */
	char why[768];            /* what went wrong, for the operator */
	char libbpf_said[160];    /* libbpf's last warning */
	char verifier_said[200];  /* the verifier's last line of its latest refusal */
	bool no_task_links;       /* task iterators over one process refused (Linux < 6.1) */
	bool refuse_task_links;   /* KAREAPER_BPF_NO_TASK_LINKS: refuse them as it does */
} obj;

struct opts_entry {
	uint64_t cookie;
	struct ka_opts o;
	bool unset;               /* the owner never set TCP_KEEPIDLE/INTVL/CNT, some */
};

struct backend {
	int nsfd;                 /* the namespace it was opened in */
	struct sockdiag diag;     /* exact queries; SOCK_DESTROY without bpf_sock_destroy */
	struct opts_entry *opts;  /* the owners' options as the latest scan read them */
	size_t nopts, capopts;
	uint64_t *kept;           /* cookies put into the keep map by the latest scan */
	size_t nkept, capkept;
};

/* libbpf's messages (the verifier's log among them) at debug level: -v shows them.
 * Its warnings say what failed (a kfunc, a relocation): the last is kept for the
 * reason a load failed, and of a program the verifier refused, the verifier's own
 * last line (why it refused). libbpf puts its own "libbpf: " first: not twice. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	static const char begin[] = "-- BEGIN PROG LOAD LOG --\n", end[] = "-- END PROG LOAD LOG --";
	char *buf = NULL;
	const char *m, *from, *to;
	size_t n;

	if (vasprintf(&buf, fmt, ap) < 0)
		return 0;
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	m = strncmp(buf, "libbpf: ", 8) == 0 ? buf + 8 : buf;
	from = strstr(m, begin);
	to = from ? strstr(from, end) : NULL;
	if (level == LIBBPF_WARN && from && to) {
		/* the log's last line that is not its statistics ("processed N
		 * insns ...", "verification time ..."): what it refused */
		const char *start = from + sizeof(begin) - 1, *e = to, *b;

		for (;;) {
			while (e > start && e[-1] == '\n')
				e--;
			for (b = e; b > start && b[-1] != '\n'; b--)
				;
			if (b == start || (strncmp(b, "processed ", 10) &&
					   strncmp(b, "verification time", 17)))
				break;
			e = b;
		}
		n = (size_t)(e - b) < sizeof(obj.verifier_said) - 1 ? (size_t)(e - b) :
		    sizeof(obj.verifier_said) - 1;
		memcpy(obj.verifier_said, b, n);
		obj.verifier_said[n] = '\0';
	} else if (level == LIBBPF_WARN && *m) {
		n = strnlen(m, sizeof(obj.libbpf_said) - 1);
		memcpy(obj.libbpf_said, m, n);
		obj.libbpf_said[n] = '\0';
	}
	log_msg(LOG_DEBUG, NULL, "libbpf: %.1000s", m);
	free(buf);
	return 0;
}

/* The objects, best first: each names the kfuncs it calls. */
static const struct bpf_variant {
	const char *kfuncs;       /* for the log */
	bool sock_destroy, rdonly_cast;
	const void *(*bytes)(size_t *sz);
} variants[] = {
	{ "bpf_sock_destroy, bpf_rdonly_cast", true, true, kareaper_bpf__elf_bytes },
	{ "bpf_rdonly_cast", false, true, kareaper_bpf_cast__elf_bytes },
	{ "none", false, false, kareaper_bpf_base__elf_bytes },
};

static bool getenv_bool(const char *name)
{
	const char *v = getenv(name);

	return v && strcmp(v, "1") == 0;
}

/* found[i]: whether the running kernel has kfunc names[i], i.e. its BTF names
 * the function. One pass over the raw BTF, so that libbpf's parse at the load is
 * the only one; libbpf's when that pass meets a kind it does not know. */
static int kfuncs_find(const char *const *names, size_t n, bool *found)
{
	struct btf *vmlinux;
	int r = btf_funcs_vmlinux(names, n, found);

	if (r != -EINVAL)
		return r;
	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux)
		return -ENOENT;
	for (size_t i = 0; i < n; i++)
		found[i] = btf__find_by_name_kind(vmlinux, names[i], BTF_KIND_FUNC) > 0;
	btf__free(vmlinux);
	return 0;
}

/* The best object whose kfuncs the running kernel has, from its BTF; none when
 * it has no BTF. KAREAPER_BPF_NO_SOCK_DESTROY and KAREAPER_BPF_NO_RDONLY_CAST
 * choose as a kernel without them would (kareaper(8), ENVIRONMENT). */
static const struct bpf_variant *variant_pick(void)
{
	static const char *const names[] = { "bpf_sock_destroy", "bpf_rdonly_cast" };
	bool found[2], destroy, cast;

	if (kfuncs_find(names, 2, found) < 0) {
		snprintf(obj.why, sizeof(obj.why), "the kernel has no BTF "
			 "(/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)");
		return NULL;
	}
	destroy = found[0] && !getenv_bool("KAREAPER_BPF_NO_SOCK_DESTROY");
	cast = found[1] && !getenv_bool("KAREAPER_BPF_NO_RDONLY_CAST");
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
		if ((!variants[i].sock_destroy || destroy) && (!variants[i].rdonly_cast || cast))
			return &variants[i];
	return NULL; /* (the last needs nothing) */
}

/* The skeleton's open, with the bytes of the object chosen: one skeleton's types
 * serve every object, whose maps, programs and variables the build checks are
 * laid out alike (Makefile.am, src/kareaper-layout.stamp). */
static struct kareaper_bpf *variant_open(const struct bpf_variant *v)
{
	struct kareaper_bpf *skel = calloc(1, sizeof(*skel));
	int err;

	if (!skel)
		return NULL;
	err = kareaper_bpf__create_skeleton(skel);
	if (!err) {
		skel->skeleton->data = (void *)v->bytes(&skel->skeleton->data_sz);
		err = bpf_object__open_skeleton(skel->skeleton, NULL);
	}
	if (err) {
		kareaper_bpf__destroy(skel);
		errno = -err;
		return NULL;
	}
	return skel;
}

/* What a failed load means, in terms the operator can act on: the kernel's
 * limit or the missing rights, told apart by what the kernel answered and what
 * kareaper holds. */
static void explain(int err, const char *step)
{
	const char *said = obj.verifier_said[0] ? obj.verifier_said :
			   obj.libbpf_said[0] ? obj.libbpf_said : strerror(-err);
	uint64_t rights = CAPS_BIT(CAP_BPF) | CAPS_BIT(CAP_PERFMON);
	struct utsname u;
	struct rlimit ml;

	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "?");
	if ((err == -EPERM || err == -EACCES) && (caps_effective() & rights) != rights)
		snprintf(obj.why, sizeof(obj.why), "%s BPF programs is not permitted: it needs "
			 "CAP_BPF and CAP_PERFMON (and the bpf() system call)", step);
	else if ((err == -EPERM || err == -EACCES) && getrlimit(RLIMIT_MEMLOCK, &ml) == 0 &&
		 ml.rlim_cur != RLIM_INFINITY)
		snprintf(obj.why, sizeof(obj.why), "Linux %s refuses %s BPF programs although "
			 "kareaper holds CAP_BPF and CAP_PERFMON (%s): kernels before 5.11 count "
			 "BPF maps against the locked-memory limit (%llu KiB here: the unit's "
			 "LimitMEMLOCK=), and the BPF backend needs Linux 5.15 or later with BTF",
			 u.release, step, said, (unsigned long long)(ml.rlim_cur / 1024));
	else if (err == -EPERM || err == -EACCES || err == -E2BIG || err == -EINVAL ||
		 err == -ENOENT || err == -ESRCH || err == -EOPNOTSUPP || err == -ENOTSUP)
		snprintf(obj.why, sizeof(obj.why), "Linux %s refuses kareaper's BPF programs "
			 "(%s BPF programs: %s; the BPF backend needs Linux 5.15 or later with BTF)",
			 u.release, step, said);
	else
		snprintf(obj.why, sizeof(obj.why), "%s BPF programs failed: %s", step, said);
}

static void obj_unload(void)
{
	bpf_link__destroy(obj.tcp);
	bpf_link__destroy(obj.owners);
	bpf_link__destroy(obj.procs);
	kareaper_bpf__destroy(obj.skel);
	obj.tcp = obj.owners = obj.procs = NULL;
	obj.skel = NULL;
}

/* The kernel's HZ: the coarse clocks tick once a jiffy, and clock_getres says
 * how long that is (TICK_NSEC, 1e9 / HZ rounded). 0 if it cannot be told. */
static unsigned kernel_hz(void)
{
	struct timespec res;

	if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) < 0 || res.tv_sec || res.tv_nsec <= 0)
		return 0;
	return (unsigned)((1000000000L + res.tv_nsec / 2) / res.tv_nsec);
}

static int obj_load(void)
{
	static bool tried;
	unsigned hz;

	if (tried)
		return obj.error;
	tried = true;
	hz = kernel_hz();
	libbpf_set_print(libbpf_log);
	obj.variant = variant_pick();
	if (!obj.variant) {
		obj.error = -ENOTSUP;
		return obj.error;
	}
	log_msg(LOG_DEBUG, NULL, "bpf: the kernel's kfuncs that kareaper uses: %s",
		obj.variant->kfuncs);
	if (hz < 24 || hz > 10000) {
		snprintf(obj.why, sizeof(obj.why), "cannot tell the kernel's HZ "
			 "(clock_getres of the coarse clock)");
		obj.error = -ENOTSUP;
		return obj.error;
	}
	obj.skel = variant_open(obj.variant);
	if (!obj.skel) {
		obj.error = errno ? -errno : -EINVAL;
		explain(obj.error, "opening the");
		goto out;
	}
	log_msg(LOG_DEBUG, NULL, "bpf: the kernel's HZ is %u (the coarse clock's tick)", hz);
	obj.skel->rodata->hz = hz;
	/* the bench's floor, and older kernels' paths, on demand (kareaper(8),
	 * ENVIRONMENT) */
	obj.skel->rodata->empty_walk = getenv_bool("KAREAPER_BPF_EMPTY_WALK");
	obj.refuse_task_links = getenv_bool("KAREAPER_BPF_NO_TASK_LINKS");
	if (obj.skel->rodata->empty_walk)
		log_msg(LOG_WARNING, NULL, "KAREAPER_BPF_EMPTY_WALK is set: every scan "
			"walks the socket table and lists none of it (a benchmark's floor)");
	if (kareaper_bpf__load(obj.skel) < 0) {
		obj.error = errno ? -errno : -EINVAL;
		explain(obj.error, "loading the");
		goto out;
	}
	obj.tcp = bpf_program__attach_iter(obj.skel->progs.kr_tcp, NULL);
	obj.owners = obj.tcp ? bpf_program__attach_iter(obj.skel->progs.kr_owners, NULL) : NULL;
	obj.procs = obj.owners ? bpf_program__attach_iter(obj.skel->progs.kr_procs, NULL) : NULL;
	if (!obj.tcp || !obj.owners || !obj.procs) {
		obj.error = errno ? -errno : -EINVAL;
		explain(obj.error, "attaching the");
	}
out:
	if (obj.error)
		obj_unload();
	return obj.error;
}

const char *backend_bpf_unavailable(void)
{
	return obj_load() == 0 ? NULL : obj.why;
}

bool backend_bpf_destroys(void)
{
	return obj_load() == 0 && obj.variant->sock_destroy;
}

const char *backend_bpf_kfuncs(void)
{
	return obj.variant ? obj.variant->kfuncs : "none";
}

static void bpf_close(struct backend *b)
{
	if (!b)
		return;
	sockdiag_close(&b->diag);
	if (b->nsfd >= 0)
		close(b->nsfd);
	free(b->opts);
	free(b->kept);
	free(b);
}

static int bpf_open(struct backend **ret)
{
	struct backend *b;
	int r = obj_load();

	if (r < 0)
		return r;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->nsfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	r = b->nsfd < 0 ? -errno : sockdiag_open(&b->diag);
	if (r < 0) {
		bpf_close(b);
		return r;
	}
	*ret = b;
	return 0;
}

static int same_file(int a, int b)
{
	struct stat sa, sb;

	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return -errno;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* A reader of link's iterator, created from inside b's namespace (b NULL: here).
 * Entering another namespace and coming back needs CAP_SYS_ADMIN, as for netlink. */
static int iter_in(const struct backend *b, struct bpf_link *link)
{
	_cleanup_close_ int here = -1;
	bool away;
	int fd, r;

	if (b) {
		here = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (here < 0)
			return -errno;
		r = same_file(here, b->nsfd);
		if (r < 0)
			return r;
		away = r == 0;
	} else {
		away = false;
	}
	if (away && setns(b->nsfd, CLONE_NEWNET) < 0)
		return -errno;
	fd = bpf_iter_create(bpf_link__fd(link));
	r = fd < 0 ? -errno : fd;
	if (away && setns(here, CLONE_NEWNET) < 0) {
		/* cannot happen with the rights that got us in; never stay elsewhere */
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	return r;
}

/* Read whole records of size rsz from an iterator; cb each. At most max records:
 * bpf_seq_read() stops walking once it holds as many bytes as read() asked for,
 * so asking for no more than is still owed ends the walk at the last record owed,
 * not at the end of the table. */
static int iter_read_max(int fd, size_t rsz, size_t max, int (*cb)(const void *rec, void *data),
			 void *data)
{
	char buf[64 * 1024];
	size_t have = 0;

	while (max > 0) {
		size_t room = sizeof(buf) / rsz * rsz - have, owed = max * rsz - have;
		ssize_t n = read(fd, buf + have, owed < room ? owed : room);
		size_t off = 0;

		if (n < 0) {
			/* EAGAIN: the kernel visited a million objects without writing
			 * one, and stopped; the next read goes on from there */
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return have ? -EBADMSG : 0;
		have += (size_t)n;
		for (; have - off >= rsz; off += rsz, max--) {
			int r = cb(buf + off, data);

			if (r < 0)
				return r;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	return 0;
}

static int iter_read(int fd, size_t rsz, int (*cb)(const void *rec, void *data), void *data)
{
	return iter_read_max(fd, rsz, SIZE_MAX / rsz, cb, data);
}

static void range_copy(struct kr_bpf_range *dst, __u8 *n, __u8 *any, const struct port_set *ps)
{
	*any = ps->n == 0 || ps->n > KR_BPF_MAX_RANGES;
	*n = *any ? 0 : (__u8)ps->n;
	for (size_t i = 0; i < *n; i++)
		dst[i] = (struct kr_bpf_range){ ps->r[i].lo, ps->r[i].hi };
}

static void cidr_copy(struct kr_bpf_cidr *dst, __u8 *n, __u8 *any, const struct cidr_set *cs)
{
	*any = cs->n == 0 || cs->n > KR_BPF_MAX_CIDRS;
	*n = *any ? 0 : (__u8)cs->n;
	for (size_t i = 0; i < *n; i++) {
		const struct cidr *c = &cs->c[i];

		memset(&dst[i], 0, sizeof(dst[i]));
		memcpy(dst[i].addr, c->net.a, c->net.family == AF_INET ? 4 : 16);
		dst[i].family = (__u8)c->net.family;
		dst[i].plen = c->plen;
		dst[i].negate = c->negate;
	}
}

/* The policies as the kernel checks them: a superset of what they select. Too many
 * policies: every socket in the states is written and user space decides. */
static void set_filter(const struct scan_filter *f)
{
	struct kr_bpf_vars *bss = &obj.skel->bss->vars;
	const struct config *c = f->cfg;

	bss->mode = KR_BPF_SCAN;
	bss->states = f->states;
	bss->ignore_idle = f->all;
	bss->need_addrs = 0;
	bss->npolicies = 0;
	bss->min_idle_j = 0;
	if (!c || c->n_policies > KR_BPF_MAX_POLICIES) {
		memset(&bss->policies[0], 0, sizeof(bss->policies[0]));
		bss->policies[0].states = f->states;
		bss->policies[0].lport_any = bss->policies[0].rport_any = 1;
		bss->policies[0].laddr_any = bss->policies[0].raddr_any = 1;
		bss->npolicies = 1;
		return;
	}
	for (size_t i = 0; i < c->n_policies; i++) {
		const struct policy *p = &c->policies[i];
		struct kr_bpf_policy *k = &bss->policies[bss->npolicies];

		/* an ignore policy only hides sockets from later ones: leaving it out
		 * keeps the superset */
		if (p->action == ACTION_IGNORE && !f->all)
			continue;
		memset(k, 0, sizeof(*k));
		k->states = p->states;
		/* rounded down: the kernel lets through all that user space calls idle */
		k->idle_j = p->action == ACTION_IGNORE ? 0 :
			    (__u32)(p->idle_ms * obj.skel->rodata->hz / 1000);
		range_copy(k->lport, &k->nlport, &k->lport_any, &p->local_port);
		range_copy(k->rport, &k->nrport, &k->rport_any, &p->remote_port);
		cidr_copy(k->laddr, &k->nladdr, &k->laddr_any, &p->local_addr);
		cidr_copy(k->raddr, &k->nraddr, &k->raddr_any, &p->remote_addr);
		bss->need_addrs |= !k->laddr_any || !k->raddr_any;
		if (bss->npolicies == 0 || k->idle_j < bss->min_idle_j)
			bss->min_idle_j = k->idle_j;
		bss->npolicies++;
	}
	if (f->all)
		bss->min_idle_j = 0;
	if (f->look) {
		/* only the kept: no socket is idle enough for a policy */
		bss->ignore_idle = 0;
		bss->min_idle_j = UINT32_MAX;
	}
}

/* The sockets the caller tracks are written whatever their idle time. */
/* The keep map emptied of what b's listing put there. The map is one for every
 * namespace: each listing empties it after its walk, so that it never holds more
 * than one namespace's cookies. */
static void keep_clear(struct backend *b)
{
	__u32 n = (__u32)b->nkept;

	obj.skel->bss->vars.nkeep = 0;
	if (!b->nkept)
		return;
	bpf_map_delete_batch(bpf_map__fd(obj.skel->maps.keep), b->kept, &n, NULL);
	for (size_t i = 0; i < b->nkept; i++) /* (every word one of them set) */
		obj.skel->bss->vars.keep_bits[kr_set_word(b->kept[i])] = 0;
	b->nkept = 0;
}

/* Too many cookies to name: every candidate, idle or not (the caller matches
 * again), which is what the netlink backend lists. */
static void keep_all(void)
{
	obj.skel->bss->vars.ignore_idle = 1;
	obj.skel->bss->vars.min_idle_j = 0;
}

static int set_keep(struct backend *b, const struct scan_filter *f)
{
	int fd = bpf_map__fd(obj.skel->maps.keep);
	__u32 n;

	keep_clear(b);
	if (f->nkeep > KR_BPF_MAX_KEEP) {
		keep_all();
		return 0;
	}
	for (size_t i = 0; i < f->nkeep; i++) {
		if (array_grow(&b->kept, &b->capkept, b->nkept, sizeof(*b->kept)) < 0)
			return -ENOMEM;
		b->kept[b->nkept++] = f->keep[i];
		obj.skel->bss->vars.keep_bits[kr_set_word(f->keep[i])] |= kr_set_mask(f->keep[i]);
	}
	if (b->nkept) {
		__u8 *one = calloc(b->nkept, 1);
		int r;

		if (!one)
			return -ENOMEM;
		n = (__u32)b->nkept;
		r = bpf_map_update_batch(fd, b->kept, one, &n, NULL);
		free(one);
		if (r < 0) {
			/* (the map full, or no memory): what went in comes out, and
			 * the walk lists everything instead of failing */
			log_msg(LOG_DEBUG, NULL, "bpf: %zu tracked sockets not named to the "
				"walk (%s): listing every candidate", b->nkept, strerror(-r));
			for (size_t i = 0; i < b->nkept; i++)
				obj.skel->bss->vars.keep_bits[kr_set_word(b->kept[i])] = 0;
			b->nkept = n; /* the first n went in */
			keep_clear(b);
			keep_all();
			return 0;
		}
		obj.skel->bss->vars.nkeep = (__u32)b->nkept;
	}
	return 0;
}

static void to_rec(const struct kr_bpf_sock *k, struct sock_rec *s)
{
	struct inet_diag_sockid id = {
		.idiag_sport = htons(k->lport),
		.idiag_dport = htons(k->rport),
		.idiag_if = k->bound_if,
		.idiag_cookie = { (uint32_t)k->cookie, (uint32_t)(k->cookie >> 32) },
	};

	memcpy(id.idiag_src, k->laddr, sizeof(id.idiag_src));
	memcpy(id.idiag_dst, k->raddr, sizeof(id.idiag_dst));
	memset(s, 0, sizeof(*s));
	sock_rec_set_id(s, k->family, &id);
	s->state = k->state;
	s->timer = k->timer;
	s->retrans = k->retrans;
	s->uid = k->uid;
	s->inode = k->inode;
	s->expires_ms = k->expires_ms;
	s->have_info = true;
	s->probes = k->probes;
	s->retransmits = k->retransmits;
	s->unacked = k->unacked;
	s->last_data_recv_ms = k->last_data_recv_ms;
	s->last_ack_recv_ms = k->last_ack_recv_ms;
	s->rtt_us = k->rtt_us;
	s->segs_in = k->segs_in;
	s->bytes_received = k->bytes_received;
	s->cgroup = k->cgroup;
}

struct scan_ctx {
	struct backend *b;
	sock_cb cb;
	void *data;
	bool look;                /* the owners' options stay the listing's */
};

static int scan_rec(const void *rec, void *data)
{
	const struct kr_bpf_sock *k = rec;
	struct scan_ctx *sc = data;
	struct backend *b = sc->b;
	struct sock_rec s;

	if (sc->look)
		goto out;
	if (array_grow(&b->opts, &b->capopts, b->nopts, sizeof(*b->opts)) < 0)
		return -ENOMEM;
	b->opts[b->nopts++] = (struct opts_entry){
		.cookie = k->cookie,
		.o = { k->opts.keepalive, k->opts.idle_s, k->opts.intvl_s, k->opts.cnt,
		       k->opts.user_timeout_ms },
		.unset = !k->set_idle || !k->set_intvl || !k->set_cnt,
	};
out:
	to_rec(k, &s);
	return sc->cb(&s, sc->data);
}

static int cmp_cookie(const void *a, const void *b)
{
	uint64_t x = ((const struct opts_entry *)a)->cookie, y = ((const struct opts_entry *)b)->cookie;

	return x < y ? -1 : x > y;
}

static struct kr_bpf_opts to_bpf_opts(const struct ka_opts *o)
{
	return (struct kr_bpf_opts){ o->keepalive, o->idle_s, o->intvl_s, o->cnt,
				     o->user_timeout_ms };
}

/* Ops into the ops map, at most KR_BPF_MAX_OPS: each result KR_OP_PENDING, or why
 * it could not go in. Returns how many went in. */
static size_t ops_queue(struct sock_op *o, size_t n)
{
	int mfd = bpf_map__fd(obj.skel->maps.ops);
	size_t queued = 0;

	for (size_t i = 0; i < n; i++) {
		struct kr_bpf_op op = { .result = KR_OP_PENDING };

		if (o[i].set) {
			struct ka_opts set = *o[i].set;

			policy_opts_settable(&set); /* a hand-back of a sysctl's 86400 s */
			op.kind = KR_OP_SET;
			op.set = to_bpf_opts(&set);
		} else {
			op.kind = KR_OP_DESTROY;
		}
		if (o[i].expect) {
			op.check = 1;
			op.expect = to_bpf_opts(o[i].expect);
		}
		op.quiet = o[i].quiet;
		op.handback = o[i].set && o[i].handback;
		o[i].owners = 0;
		op.segs_in = o[i].s->segs_in;
		o[i].result = bpf_map_update_elem(mfd, &o[i].s->cookie, &op, BPF_ANY);
		if (o[i].result == 0) {
			o[i].result = KR_OP_PENDING;
			obj.skel->bss->vars.ops_bits[kr_set_word(o[i].s->cookie)] |=
				kr_set_mask(o[i].s->cookie);
			queued++;
		}
	}
	return queued;
}

/* Each queued op's result out of the map, which is left empty. One the walk did
 * not carry out: after a whole walk (walked), -ESTALE: not reached, which proves
 * nothing (a walk that resumes after a stop may skip a socket; a time-wait one
 * is no tcp_sock), and the caller asks an exact query; else what the caller says
 * (not_done). */
static void ops_collect(struct backend *b, struct sock_op *o, size_t n, bool walked,
			int not_done)
{
	int mfd = bpf_map__fd(obj.skel->maps.ops);

	for (size_t i = 0; i < n; i++) {
		struct kr_bpf_op res;

		if (o[i].result != KR_OP_PENDING)
			continue; /* never went into the map */
		o[i].result = bpf_map_lookup_elem(mfd, &o[i].s->cookie, &res);
		bpf_map_delete_elem(mfd, &o[i].s->cookie);
		obj.skel->bss->vars.ops_bits[kr_set_word(o[i].s->cookie)] = 0; /* the map empties */
		if (o[i].result < 0)
			continue;
		o[i].result = res.result != KR_OP_PENDING ? res.result :
			      walked ? -ESTALE : not_done;
		if (res.handback && res.result != KR_OP_PENDING)
			o[i].owners = res.owners;
		if (!o[i].set && o[i].result == -EOPNOTSUPP)
			o[i].result = sockdiag_destroy(&b->diag, o[i].s);
	}
}

/* The filter's ops ride on the walk: the program carries out a socket's before it
 * writes its record. Beyond what the map holds, or after a failed walk, those not
 * carried out wait (result 1). */
static int bpf_enumerate(struct backend *b, const struct scan_filter *f, sock_cb cb, void *data)
{
	struct scan_ctx sc = { b, cb, data, f->look };
	size_t nops = f->nops < KR_BPF_MAX_OPS ? f->nops : KR_BPF_MAX_OPS;
	_cleanup_close_ int fd = -1;
	int r;

	/* the owners' options, read by a listing for the arming after it: a look
	 * (witness.c) in between leaves them */
	if (!f->look)
		b->nopts = 0;
	set_filter(f);
	r = set_keep(b, f);
	if (r < 0) {
		keep_clear(b);
		return r;
	}
	obj.skel->bss->vars.visited = 0;
	obj.skel->bss->vars.heard_j = UINT32_MAX;
	obj.skel->bss->vars.heard_enough_j = f->heard_ms ?
		(__u32)(KR_HEARD_ENOUGH_MS * obj.skel->rodata->hz / 1000) : UINT32_MAX;
	obj.skel->bss->vars.nops = nops ? (__u32)ops_queue(f->ops, nops) : 0;
	fd = iter_in(b, obj.tcp);
	r = fd < 0 ? fd : iter_read(fd, sizeof(struct kr_bpf_sock), scan_rec, &sc);
	if (f->heard_ms) {
		__u32 j = obj.skel->bss->vars.heard_j;

		uint64_t ms = (uint64_t)j * 1000 / obj.skel->rodata->hz;

		*f->heard_ms = j == UINT32_MAX || ms >= UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
	}
	if (nops) {
		ops_collect(b, f->ops, nops, r >= 0, KR_OP_NOT_DONE);
		obj.skel->bss->vars.nops = 0;
	}
	keep_clear(b);
	if (b->nopts > 1)
		qsort(b->opts, b->nopts, sizeof(*b->opts), cmp_cookie);
	return r < 0 ? r : (int)obj.skel->bss->vars.visited;
}

static int bpf_query(struct backend *b, const struct sock_rec *s, struct sock_rec *out)
{
	return sockdiag_query(&b->diag, s, out);
}

static int bpf_get_opts(struct backend *b, const struct sock_rec *s, struct owner *owner,
			struct ka_opts *cur)
{
	struct opts_entry key = { .cookie = s->cookie };
	const struct opts_entry *e = b->nopts ? bsearch(&key, b->opts, b->nopts, sizeof(*b->opts),
							cmp_cookie) : NULL;

	if (!e)
		return -ENOENT; /* not in the latest scan */
	*cur = e->o;
	if (e->unset)
		log_msg(LOG_DEBUG, NULL, "socket cookie %llu: its owner never set some of "
			"TCP_KEEPIDLE/KEEPINTVL/KEEPCNT; they will be put back as the sysctls' "
			"values now (%d s, %d s, %d)", (unsigned long long)s->cookie, cur->idle_s,
			cur->intvl_s, cur->cnt);
	return 0;
}

/* One walk of b's namespace that carries out the n ops in the ops map. The
 * program writes a cookie for each op it carries out, and bpf_seq_read() stops
 * walking once it has as many bytes as read() asked for: asking for exactly what
 * is still owed ends the walk at the last socket acted on, not at the end of the
 * table. Ops whose socket is gone keep it walking to the end. */
static int run_act(struct backend *b, size_t n)
{
	_cleanup_close_ int fd = -1;
	__u64 sink[512];
	ssize_t r;
	int err = 0;

	obj.skel->bss->vars.mode = KR_BPF_ACT;
	fd = iter_in(b, obj.tcp);
	while (fd >= 0 && n > 0) {
		size_t want = n < sizeof(sink) / sizeof(sink[0]) ? n : sizeof(sink) / sizeof(sink[0]);

		r = read(fd, sink, want * sizeof(sink[0]));
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue; /* EAGAIN: a million sockets and no op yet; on from there */
		if (r < 0)
			err = -errno; /* not walked to the end: what was not done is not gone */
		if (r <= 0)
			break;
		n -= (size_t)r / sizeof(sink[0]);
	}
	obj.skel->bss->vars.mode = KR_BPF_SCAN;
	return fd < 0 ? fd : err;
}

/* Every op in one walk of the socket table (as many walks as the map needs). */
static void bpf_apply(struct backend *b, struct sock_op *ops, size_t n)
{
	for (size_t done = 0; done < n;) {
		size_t chunk = n - done < KR_BPF_MAX_OPS ? n - done : KR_BPF_MAX_OPS;

		int r = run_act(b, ops_queue(ops + done, chunk));

		ops_collect(b, ops + done, chunk, r >= 0, r);
		done += chunk;
	}
}

static void bpf_op(struct backend *b, struct sock_op *op, bool search)
{
	(void)search;
	if (!b) {
		op->owners = 0;
		op->result = -ENXIO;
		return;
	}
	bpf_apply(b, op, 1);
}

static int owner_rec(const void *rec, void *data)
{
	const struct kr_bpf_owner *o = rec;
	char comm[sizeof(o->comm) + 1];

	memcpy(comm, o->comm, sizeof(o->comm));
	comm[sizeof(o->comm)] = '\0';
	owner_map_set(data, o->inode, o->pid, o->fd, comm);
	return 0;
}

/* The owners of the want map's sockets among the descriptors of process pid (0:
 * of every process, in pid order), at most owed of them. A link that names a
 * process needs Linux >= 6.1. */
static int owners_pass(struct owner_map *m, pid_t pid, size_t owed)
{
	LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	union bpf_iter_link_info li = { .task.pid = (__u32)pid };
	struct bpf_link *link = obj.owners;
	int fd, r;

	if (pid > 0) {
		opts.link_info = &li;
		opts.link_info_len = sizeof(li);
		errno = E2BIG; /* as Linux before 6.1 answers (KAREAPER_BPF_NO_TASK_LINKS) */
		link = obj.refuse_task_links ? NULL :
		       bpf_program__attach_iter(obj.skel->progs.kr_owners, &opts);
		if (!link) {
			r = -errno;
			/* a kernel before 6.1 knows no task fields in the link's info (E2BIG:
			 * they are past the end of its union): asked once, not every round */
			if (r == -E2BIG || r == -EINVAL) {
				obj.no_task_links = true;
				log_msg(LOG_DEBUG, NULL, "bpf: this kernel walks no single process's "
					"descriptors (%s): owners are looked for in every process",
					strerror(-r));
			}
			return r;
		}
	}
	fd = iter_in(NULL, link);
	r = fd < 0 ? fd : iter_read_max(fd, sizeof(struct kr_bpf_owner), owed, owner_rec, m);
	if (fd >= 0)
		close(fd);
	if (pid > 0)
		bpf_link__destroy(link);
	return r;
}

_Static_assert(KR_BPF_MAX_KEEPCNT == KR_MAX_KEEPCNT, "one limit for the program and the rest");
_Static_assert(KR_BPF_HEARD_STATES == KR_HEARD_STATES, "one set of states heard from");
_Static_assert(OWNER_MAP_CGROUPS <= KR_BPF_MAX_CGROUPS, "the program holds every cgroup listed");

struct procs {
	pid_t pid[KR_BPF_MAX_PROCS + 1];
	size_t n;
};

static int proc_rec(const void *rec, void *data)
{
	struct procs *p = data;

	memcpy(&p->pid[p->n++], rec, sizeof(p->pid[0]));
	return 0;
}

/* The processes in the cgroups m's sockets were made in: 0, or -E2BIG when
 * there are too many to look through one by one. */
static int cgroup_procs(const struct owner_map *m, struct procs *p)
{
	_cleanup_close_ int fd = -1;
	int r;

	p->n = 0;
	if (m->any_cgroup || obj.no_task_links)
		return -E2BIG;
	for (size_t i = 0; i < m->ncgroups; i++)
		obj.skel->bss->vars.cgroups[i] = m->cgroups[i];
	obj.skel->bss->vars.ncgroups = (__u32)m->ncgroups;
	fd = iter_in(NULL, obj.procs);
	if (fd < 0)
		return fd;
	/* one more than is looked through: read no further than that */
	r = iter_read_max(fd, sizeof(p->pid[0]), KR_BPF_MAX_PROCS + 1, proc_rec, p);
	return r < 0 ? r : p->n > KR_BPF_MAX_PROCS ? -E2BIG : 0;
}

/* The owners m still misses: first in the processes of the cgroups their sockets
 * were made in (a service's descriptors, not the whole host's), then, for those
 * not found there, in every process. With the want map a pass reads no more
 * records than owners are missing (each is written once, then taken out of the
 * map), so it ends at the last one; with want_all it writes every socket of the
 * processes it walks. */
static int owners_missing(struct owner_map *m)
{
	size_t all = SIZE_MAX / sizeof(struct kr_bpf_owner), asked = m->n - m->found, there;
	bool want_all = obj.skel->bss->vars.want_all;
	struct procs p;
	int r = cgroup_procs(m, &p);

	for (size_t i = 0; r == 0 && i < p.n && !owner_map_complete(m); i++)
		if (owners_pass(m, p.pid[i], want_all ? all : m->n - m->found) < 0 &&
		    obj.no_task_links)
			r = -ENOTSUP; /* gone: the rest look; refused: every process does */
	there = asked - (m->n - m->found);
	if (r == 0)
		log_msg(LOG_DEBUG, NULL, "bpf: owners: %zu of %zu found in the processes of "
			"the sockets' cgroups (%zu cgroups, %zu processes)", there, asked,
			m->ncgroups, p.n);
	if (owner_map_complete(m))
		return 0;
	r = owners_pass(m, 0, want_all ? all : m->n - m->found);
	log_msg(LOG_DEBUG, NULL, "bpf: owners: %zu of %zu found in every process",
		asked - there - (m->n - m->found), asked - there);
	return r;
}

/* The owners of the sockets m asks for, from passes over the processes'
 * descriptors in the kernel. Asked for KR_BPF_MAX_WANT owners or more, the
 * kernel writes every socket's (fewer bytes to move than hash map inserts cost)
 * and owner_map_set keeps those asked. */
static int bpf_find_owners(struct owner_map *m)
{
	_cleanup_free_ uint32_t *keys = NULL;
	_cleanup_free_ uint8_t *one = NULL;
	int mfd, r;
	__u32 n = 0, cnt;

	if (!obj.skel)
		return -EBADF;
	if (owner_map_complete(m))
		return 0;
	if (m->n >= KR_BPF_MAX_WANT) {
		obj.skel->bss->vars.want_all = 1;
		r = owners_missing(m);
		obj.skel->bss->vars.want_all = 0;
		return r;
	}
	mfd = bpf_map__fd(obj.skel->maps.want);
	keys = calloc(KR_BPF_MAX_WANT, sizeof(*keys));
	one = calloc(KR_BPF_MAX_WANT, 1);
	if (!keys || !one)
		return -ENOMEM;
	obj.skel->bss->vars.want_lo = UINT32_MAX;
	obj.skel->bss->vars.want_hi = 0;
	for (size_t i = 0; i < m->cap && n < KR_BPF_MAX_WANT; i++)
		if (m->inode[i] && owner_map_wants(m, m->inode[i])) {
			keys[n++] = m->inode[i];
			/* a range first: the map is asked only inside it */
			if (m->inode[i] < obj.skel->bss->vars.want_lo)
				obj.skel->bss->vars.want_lo = m->inode[i];
			if (m->inode[i] > obj.skel->bss->vars.want_hi)
				obj.skel->bss->vars.want_hi = m->inode[i];
		}
	cnt = n;
	r = bpf_map_update_batch(mfd, keys, one, &cnt, NULL);
	if (r == 0)
		r = owners_missing(m);
	/* those no process holds are still there (a batch delete would stop at the
	 * first found and taken out) */
	for (__u32 i = 0; i < n; i++)
		bpf_map_delete_elem(mfd, &keys[i]);
	return r;
}

const struct backend_ops backend_bpf = {
	.name = "bpf",
	.open = bpf_open,
	.close = bpf_close,
	.enumerate = bpf_enumerate,
	.query = bpf_query,
	.get_opts = bpf_get_opts,
	.op = bpf_op,
	.apply = bpf_apply,
	.find_owners = bpf_find_owners,
	.carries_ops = true,
};
