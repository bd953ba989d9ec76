/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/nsfs.h>

#include "array.h"
#include "cleanup.h"
#include "hash.h"
#include "netns.h"
#include "parse.h"
#include "policy.h"
#include "procfs.h"
#include "service.h"

#define PROC "/proc"

/* Where kareaper keeps its locks: its runtime directory, which only root and
 * the service's user may write (the unit's RuntimeDirectory=). */
#define RUNTIME_DIR "/run/kareaper"

/* The namespace file at path (relative to dir), opened, and what it is: open
 * first, then ask the descriptor, so that a process gone and its pid reused in
 * between cannot swap namespaces under us. -errno when it cannot be opened. */
static int ns_open_file(int dir, const char *path, struct stat *st)
{
	int fd = openat(dir, path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static void lock_path(char *buf, size_t len, uint64_t dev, uint64_t ino)
{
	snprintf(buf, len, RUNTIME_DIR "/netns-%llu-%llu.lock", (unsigned long long)dev,
		 (unsigned long long)ino);
}

/* One kareaper per namespace: an exclusive lock on a file named after the
 * namespace (its device and inode) in kareaper's runtime directory, where no
 * other user can create or open one. (A lock on the namespace's own file, which
 * any user can open and lock, let any user keep kareaper from starting.) The
 * file is removed by its holder; a lock taken on a file removed meanwhile is
 * taken again. -EBUSY: another kareaper holds it. */
static int ns_lock(uint64_t dev, uint64_t ino)
{
	char path[128];

	lock_path(path, sizeof(path), dev, ino);
	if (mkdir(RUNTIME_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	for (;;) {
		struct stat a, b;
		int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int r = errno == EWOULDBLOCK ? -EBUSY : -errno;

			close(fd);
			return r;
		}
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino && S_ISREG(a.st_mode))
			return fd;
		close(fd); /* removed by the holder before we locked it: again */
	}
}

static void ns_unlock(int fd, uint64_t dev, uint64_t ino)
{
	char path[128];

	if (fd < 0)
		return;
	lock_path(path, sizeof(path), dev, ino);
	unlink(path); /* while it is held: see ns_lock */
	close(fd);
}

/* Namespaces are watched while the number of the file just opened for one is
 * below this (other user namespaces' below half of it): each holds four
 * descriptors (its file, its lock, its backend's two), and an eighth of the
 * limit (64 at least) stays for everything else a round opens (owners'
 * sockets, the journal, walks, the self-test). */
static int fd_budget(void)
{
	struct rlimit r;
	rlim_t cur, keep;

	if (getrlimit(RLIMIT_NOFILE, &r) < 0)
		return 1024 - 128;
	cur = r.rlim_cur > INT_MAX ? INT_MAX : r.rlim_cur;
	keep = cur / 8 > 64 ? cur / 8 : 64;
	return cur > keep ? (int)(cur - keep) : 0;
}

/* Whether the namespace of file fd (inode ino) belongs to kareaper's own user
 * namespace (the host's, as root made it, or a pod's on it), not to one any
 * unprivileged user can make: 1 ours, 0 another's (EPERM: one outside ours),
 * -errno when it cannot be told now. Kareaper's own namespace is its own. */
static int ns_ours(const struct netns_set *set, int fd, uint64_t ino)
{
	struct stat st;
	int u, r;

	if (ino == set->self_ino)
		return 1;
	u = ioctl(fd, NS_GET_USERNS);
	if (u < 0)
		return errno == EPERM ? 0 : -errno;
	r = fstat(u, &st) < 0 ? -errno : (uint64_t)st.st_ino == set->self_userns;
	close(u);
	return r;
}

int netns_init(struct netns_set *set, const struct backend_ops *ops)
{
	struct stat st;

	memset(set, 0, sizeof(*set));
	set->ops = ops;
	set->self_fd = ns_open_file(AT_FDCWD, "/proc/self/ns/net", &st);
	if (set->self_fd < 0)
		return set->self_fd;
	set->self_ino = (uint64_t)st.st_ino;
	if (stat("/proc/self/ns/user", &st) < 0)
		return -errno;
	set->self_userns = (uint64_t)st.st_ino;
	set->fd_budget = fd_budget();
	return 0;
}

static void ns_free(const struct netns_set *set, struct netns *n)
{
	set->ops->close(n->be);
	if (n->fd >= 0)
		close(n->fd);
	ns_unlock(n->lock_fd, n->dev, n->ino); /* and it is free for another kareaper */
	free(n);
}

/* n is no longer watched: its file is kept (netns_keep_only), the rest goes. */
static void ns_drop(struct netns_set *set, struct netns *n)
{
	if (n->ino != set->self_ino &&
	    array_grow(&set->kept, &set->capkept, set->nkept, sizeof(*set->kept)) == 0) {
		set->kept[set->nkept++] = (struct netns_kept){ n->ino, n->dev, n->fd };
		n->fd = -1;
	}
	ns_free(set, n);
}

void netns_keep_only(struct netns_set *set, const uint64_t *inos, size_t n)
{
	for (size_t i = 0; i < set->nkept;) {
		bool used = false;

		for (size_t k = 0; k < n && !used; k++)
			used = inos[k] == set->kept[i].ino;
		if (used) {
			i++;
			continue;
		}
		close(set->kept[i].fd);
		set->kept[i] = set->kept[--set->nkept];
	}
}

void netns_finalise(struct netns_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		ns_free(set, set->ns[i]);
	netns_keep_only(set, NULL, 0);
	free(set->ns);
	free(set->kept);
	free(set->passed);
	free(set->passed_at);
	if (set->self_fd >= 0)
		close(set->self_fd);
	memset(set, 0, sizeof(*set));
	set->self_fd = -1;
}

struct netns *netns_find(const struct netns_set *set, uint64_t ino)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->ns[i]->ino == ino)
			return set->ns[i];
	return NULL;
}

/* A backend instance belongs to the namespace it is opened in: enter the one of
 * file fd (inode ino), open, come back. Our own needs no setns (nor
 * CAP_SYS_ADMIN). */
static int ns_backend(struct netns_set *set, int fd, uint64_t ino, struct backend **be)
{
	int r;

	if (ino != set->self_ino && setns(fd, CLONE_NEWNET) < 0)
		return -errno;
	r = set->ops->open(be);
	if (ino != set->self_ino && setns(set->self_fd, CLONE_NEWNET) < 0) {
		/* stuck in another namespace: nothing after this would be right */
		log_msg(LOG_CRIT, NULL, "cannot return to our own network namespace: %m");
		abort();
	}
	return r;
}

/* Watch a namespace: its lock, its backend. Takes fd, the namespace's file, which
 * stays open while it is watched, as its lock does. */
static int ns_open(struct netns_set *set, int fd, const struct stat *st, const char *name,
		   const char *path)
{
	_cleanup_free_ struct netns *n = NULL;
	_cleanup_close_ int nsfd = fd;
	struct netns **nv;
	int r;

	nv = realloc(set->ns, (set->n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	set->ns = nv;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->ino = (uint64_t)st->st_ino;
	n->dev = (uint64_t)st->st_dev;
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->lock_fd = ns_lock(n->dev, n->ino);
	if (n->lock_fd == -EBUSY || n->lock_fd == -EMFILE || n->lock_fd == -ENFILE)
		return n->lock_fd;
	if (n->lock_fd < 0 && !set->warned_lock) {
		set->warned_lock = true;
		log_msg(LOG_WARNING, NULL, "cannot lock network namespace %s in " RUNTIME_DIR
			" (%s): a second kareaper watching it would not be kept out", name,
			strerror(-n->lock_fd));
	}
	r = ns_backend(set, nsfd, n->ino, &n->be);
	if (r < 0) {
		ns_unlock(n->lock_fd, n->dev, n->ino);
		return r;
	}
	n->fd = TAKE_FD(nsfd);
	n->seen = true;
	set->ns[set->n++] = TAKE_PTR(n);
	log_msg(LOG_DEBUG, NULL, "watching network namespace %s (%s)", name, path);
	return 0;
}

/* Namespaces passed over may be thousands (a user's flood), each looked up for
 * every process at every discovery: found through an index by inode. */
static size_t slot_of(const struct netns_set *set, uint64_t ino)
{
	return (size_t)hash_u64(ino) & (set->passed_slots - 1);
}

static void passed_index_add(struct netns_set *set, size_t i)
{
	size_t h = slot_of(set, set->passed[i].ino);

	while (set->passed_at[h])
		h = (h + 1) & (set->passed_slots - 1);
	set->passed_at[h] = (uint32_t)(i + 1);
}

/* Built anew after passed changed other than by an append; none (searched in
 * turn) if memory is short. */
static void passed_reindex(struct netns_set *set)
{
	size_t slots = 64;

	while (slots < 2 * set->npassed + 2)
		slots *= 2;
	if (slots != set->passed_slots) {
		free(set->passed_at);
		set->passed_at = calloc(slots, sizeof(*set->passed_at));
		set->passed_slots = set->passed_at ? slots : 0;
	} else {
		memset(set->passed_at, 0, slots * sizeof(*set->passed_at));
	}
	for (size_t i = 0; set->passed_at && i < set->npassed; i++)
		passed_index_add(set, i);
}

static struct netns_passed *passed_find(struct netns_set *set, uint64_t ino)
{
	if (!set->passed_at) {
		for (size_t i = 0; i < set->npassed; i++)
			if (set->passed[i].ino == ino)
				return &set->passed[i];
		return NULL;
	}
	for (size_t h = slot_of(set, ino); set->passed_at[h]; h = (h + 1) & (set->passed_slots - 1))
		if (set->passed[set->passed_at[h] - 1].ino == ino)
			return &set->passed[set->passed_at[h] - 1];
	return NULL;
}

/* Remembers a namespace not watched, judged at this discovery; false if it was
 * not already passed over for the same reason. */
static bool pass(struct netns_set *set, uint64_t ino, bool busy, bool user, bool shortage)
{
	struct netns_passed *p = passed_find(set, ino);

	if (p) {
		bool same = p->busy == busy && p->user == user && p->shortage == shortage;

		*p = (struct netns_passed){ ino, busy, user, shortage, true };
		return same;
	}
	if (array_grow(&set->passed, &set->cappassed, set->npassed, sizeof(*set->passed)) < 0)
		return false;
	set->passed[set->npassed++] = (struct netns_passed){ ino, busy, user, shortage, true };
	if (2 * set->npassed + 2 > set->passed_slots)
		passed_reindex(set);
	else
		passed_index_add(set, set->npassed - 1);
	return false;
}

/* Marks a namespace already watched as still there; true too for one passed
 * over earlier in this discovery (another of its processes); false for one to
 * open. A namespace passed over at an earlier discovery is judged afresh: kareaper
 * holds nothing of it, and once it is gone the kernel gives its inode number to
 * the next namespace made (the lowest free one), which may well be one of ours.
 * Only the watched ones, held open, keep theirs. */
static bool ns_known(struct netns_set *set, uint64_t ino)
{
	struct netns *n = netns_find(set, ino);
	const struct netns_passed *p;

	/* one the policies no longer select, or another user namespace's once
	 * user_namespaces is off, is closed (not seen), then passed over */
	if (n && (set->cfg->namespaces != NS_ALL ||
		  (policy_selects_netns(set->cfg, n->name) &&
		   (!n->user || set->cfg->user_namespaces)))) {
		n->seen = true;
		return true;
	}
	p = passed_find(set, ino);
	return p && !p->busy && p->seen;
}

/* Takes fd, the namespace's file opened from path. name (a /run/netns name, or a
 * process's own) is kept, logged, shown and matched as a terminal may show it
 * (str_escape): any user can name a process, and so an unnamed namespace. With
 * namespaces = all, those of other user namespaces are passed over, or with
 * user_namespaces opened only on the second walk (users), after every one of
 * ours: however many an unprivileged user makes, ours come first. */
static int ns_add(struct netns_set *set, int fd, const struct stat *st, const char *path,
		  const char *raw, bool users)
{
	uint64_t ino = (uint64_t)st->st_ino;
	char name[sizeof(((struct netns *)0)->name)];
	bool user;
	int r, ours;

	str_escape(raw, name, sizeof(name));

	if (set->cfg->namespaces == NS_ALL && !policy_selects_netns(set->cfg, name)) {
		close(fd);
		pass(set, ino, false, false, false);
		return 0;
	}
	ours = ns_ours(set, fd, ino);
	if (ours < 0) { /* not to be told now: again at the next discovery */
		close(fd);
		if (ours == -EMFILE || ours == -ENFILE)
			pass(set, ino, false, false, true);
		return ours;
	}
	user = !ours;
	if (set->cfg->namespaces == NS_ALL && user && !users) {
		close(fd);
		if (!set->cfg->user_namespaces)
			pass(set, ino, false, true, false);
		return 0;
	}
	/* theirs only within half the descriptors for namespaces: however many
	 * they are, ours find room */
	if (fd >= (set->cfg->namespaces == NS_ALL && user ? set->fd_budget / 2 : set->fd_budget)) {
		close(fd);
		pass(set, ino, false, user, true);
		return -EMFILE;
	}
	r = ns_open(set, fd, st, name, path);
	if (r == 0)
		set->ns[set->n - 1]->user = user;
	if (r == -EBUSY) {
		if (!pass(set, ino, true, false, false) && set->cfg->namespaces != NS_SELF) /* self: fatal */
			log_msg(LOG_WARNING, NULL, "network namespace %s (%s) is watched by another "
				"kareaper: leaving it to that one", name, path);
	} else if (r == -EMFILE || r == -ENFILE) {
		pass(set, ino, false, user, true);
	} else if (r < 0) {
		log_msg(r == -EPERM ? LOG_WARNING : LOG_DEBUG, NULL,
			"cannot watch network namespace %s (%s): %s%s", name, path, strerror(-r),
			r == -EPERM ? " (setns needs CAP_SYS_ADMIN)" : "");
	} else if (passed_find(set, ino)) {
		log_msg(LOG_NOTICE, NULL, "network namespace %s is no longer watched by another "
			"kareaper: watching it", name);
	}
	return r;
}

static int ns_see(struct netns_set *set, const char *path, const char *name, bool users)
{
	struct stat st;
	int fd = ns_open_file(AT_FDCWD, path, &st);

	/* gone between readdir and open, which is fine */
	if (fd < 0)
		return fd;
	if (ns_known(set, (uint64_t)st.st_ino)) {
		close(fd);
		return 0;
	}
	return ns_add(set, fd, &st, path, name, users);
}

static void see_all(struct netns_set *set, bool users)
{
	char path[PATH_MAX], name[64];
	struct dirent *de;

	/* named ones first, so a namespace both named and used gets its name */
	{
		_cleanup_closedir_ DIR *d = opendir("/run/netns");

		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
			ns_see(set, path, de->d_name, users);
		}
	}
	ns_see(set, "/proc/self/ns/net", "self", users);
	{
		_cleanup_closedir_ DIR *d = opendir(PROC);

		while (d && (de = readdir(d))) {
			_cleanup_close_ int piddir = -1;
			struct stat st;
			int fd;

			if (de->d_name[0] < '1' || de->d_name[0] > '9')
				continue;
			/* most are known: told by a stat, with nothing opened */
			snprintf(path, sizeof(path), "%s/ns/net", de->d_name);
			if (fstatat(dirfd(d), path, &st, 0) == 0 &&
			    ns_known(set, (uint64_t)st.st_ino))
				continue;
			/* the namespace and the name through one /proc/PID: the same
			 * process's, whatever exits meanwhile */
			piddir = proc_pid_open(PROC, de->d_name);
			if (piddir < 0)
				continue;
			fd = ns_open_file(piddir, "ns/net", &st);
			if (fd < 0)
				continue;
			if (ns_known(set, (uint64_t)st.st_ino)) {
				close(fd);
				continue; /* comm is read only for a namespace new to us */
			}
			proc_comm(piddir, name);
			snprintf(path, sizeof(path), "%s/%s/ns/net", PROC, de->d_name);
			ns_add(set, fd, &st, path, name, users);
		}
	}
}

void netns_reconsider(struct netns_set *set)
{
	set->npassed = 0;
	passed_reindex(set);
}

int netns_discover(struct netns_set *set, const struct config *c)
{
	char name[64];
	int r = 0;

	set->cfg = c;
	for (size_t i = 0; i < set->n; i++)
		set->ns[i]->seen = false;
	for (size_t i = 0; i < set->npassed;) {
		if (set->passed[i].shortage) { /* tried again */
			set->passed[i] = set->passed[--set->npassed];
			continue;
		}
		set->passed[i++].seen = false;
	}
	passed_reindex(set);
	switch (c->namespaces) {
	case NS_SELF:
		r = ns_see(set, "/proc/self/ns/net", "self", false);
		break;
	case NS_LIST:
		for (char **p = c->ns_paths; *p; p++) {
			const char *base = strrchr(*p, '/');

			snprintf(name, sizeof(name), "%s",
				 strncmp(*p, "/run/netns/", 11) == 0 ? base + 1 : *p);
			ns_see(set, *p, name, false);
		}
		break;
	case NS_ALL:
		see_all(set, false);
		if (c->user_namespaces)
			see_all(set, true);
		break;
	}
	for (size_t i = 0; i < set->n;) {
		struct netns *n = set->ns[i];

		if (n->seen) {
			i++;
			continue;
		}
		log_msg(LOG_DEBUG, NULL, "network namespace %s is no longer watched", n->name);
		ns_drop(set, n);
		set->ns[i] = set->ns[--set->n];
	}
	set->n_user = set->n_short = 0;
	for (size_t i = 0; i < set->npassed;) {
		if (set->passed[i].seen) {
			const struct netns_passed *p = &set->passed[i];

			set->n_user += p->user && !p->shortage;
			set->n_short += p->shortage;
			i++;
		} else {
			set->passed[i] = set->passed[--set->npassed];
		}
	}
	passed_reindex(set);
	if (set->n_user && !set->warned_user) {
		set->warned_user = true;
		log_msg(LOG_NOTICE, NULL, "not watching %zu network namespaces that other user "
			"namespaces own (made by unprivileged users, rootless containers): "
			"user_namespaces = yes watches them", set->n_user);
	}
	if (set->n_short && !set->n_short_warned) {
		struct rlimit rl = { 0 };

		getrlimit(RLIMIT_NOFILE, &rl);
		log_msg(LOG_WARNING, NULL, "%zu network namespaces not watched: too few file "
			"descriptors (limit %llu; each namespace takes a few; the unit's "
			"LimitNOFILE= raises it)", set->n_short, (unsigned long long)rl.rlim_cur);
	} else if (!set->n_short && set->n_short_warned) {
		log_msg(LOG_NOTICE, NULL, "every network namespace found is watched again");
	}
	set->n_short_warned = set->n_short;
	if (c->namespaces == NS_SELF && set->n == 0)
		return r < 0 ? r : -EIO;
	return (int)set->n;
}

/* dir/name opened if it is the namespace file of inode ino (a /run/netns name,
 * or a process's ns/net); -ENOENT if it is another's or went meanwhile (a name
 * removed, a process exited), another -errno if it could not be told. */
static int ns_file_of(int dir, const char *name, uint64_t ino)
{
	struct stat st;
	int fd = ns_open_file(dir, name, &st);

	if (fd == -ENOENT || fd == -ESRCH)
		return -ENOENT;
	if (fd >= 0 && (uint64_t)st.st_ino != ino) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

/* A file of the namespace of inode ino, opened: one kept, a /run/netns name, or
 * some process's. -ENOENT when a complete search found none; another -errno
 * when some file could not be looked at (another user's /proc/PID/ns/net without
 * CAP_SYS_PTRACE, descriptors short): then it may be there. */
static int ns_find(const struct netns_set *set, uint64_t ino)
{
	_cleanup_closedir_ DIR *run = NULL, *proc = NULL;
	char path[NAME_MAX + 16];
	struct dirent *d;
	int fd = -ENOENT, err = 0;

	if (ino == set->self_ino)
		fd = set->self_fd;
	for (size_t i = 0; i < set->nkept && fd < 0; i++)
		if (set->kept[i].ino == ino)
			fd = set->kept[i].fd;
	if (fd >= 0) {
		fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		return fd < 0 ? -errno : fd;
	}
	run = opendir("/run/netns");
	if (!run && errno != ENOENT)
		err = -errno;
	while (run && fd < 0 && (d = readdir(run)))
		if (d->d_name[0] != '.' && (fd = ns_file_of(dirfd(run), d->d_name, ino)) < 0 &&
		    fd != -ENOENT)
			err = fd;
	if (fd >= 0)
		return fd;
	proc = opendir(PROC);
	if (!proc)
		return -errno;
	while (fd < 0 && (d = readdir(proc))) {
		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "%s/ns/net", d->d_name);
		if ((fd = ns_file_of(dirfd(proc), path, ino)) < 0 && fd != -ENOENT)
			err = fd;
	}
	return fd >= 0 ? fd : err ? err : -ENOENT;
}

int netns_reach(struct netns_set *set, uint64_t ino, struct netns_visit *v)
{
	struct netns_passed *p = passed_find(set, ino);
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	*v = (struct netns_visit){ .lock_fd = -1, .ino = ino };
	if (p && p->busy)
		return -EBUSY; /* another kareaper's to act in */
	fd = ns_find(set, ino);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return -errno;
	v->dev = (uint64_t)st.st_dev;
	/* one kareaper at a time in a namespace, as for one watched: another
	 * would take kareaper's options for its owners' */
	v->lock_fd = ns_lock(v->dev, ino);
	if (v->lock_fd == -EBUSY)
		return -EBUSY;
	r = ns_backend(set, fd, ino, &v->be);
	if (r < 0)
		netns_leave(set, v);
	return r;
}

void netns_leave(struct netns_set *set, struct netns_visit *v)
{
	if (v->be)
		set->ops->close(v->be);
	if (v->lock_fd >= 0)
		ns_unlock(v->lock_fd, v->dev, v->ino);
	*v = (struct netns_visit){ .lock_fd = -1 };
}
