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
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "netns.h"
#include "procfs.h"
#include "service.h"

#define PROC "/proc"

static uint64_t ns_ino(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

int netns_init(struct netns_set *set, const struct backend_ops *ops)
{
	memset(set, 0, sizeof(*set));
	set->ops = ops;
	set->self_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (set->self_fd < 0)
		return -errno;
	set->self_ino = ns_ino("/proc/self/ns/net");
	return 0;
}

static void ns_free(const struct netns_set *set, struct netns *n)
{
	set->ops->close(n->be);
	free(n);
}

void netns_finalise(struct netns_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		ns_free(set, set->ns[i]);
	free(set->ns);
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

/* A backend instance belongs to the namespace it is opened in: enter it, open,
 * come back. Our own needs no setns (nor CAP_SYS_ADMIN). */
static int ns_open(struct netns_set *set, const char *path, uint64_t ino, const char *name)
{
	_cleanup_free_ struct netns *n = NULL;
	_cleanup_close_ int fd = -1;
	struct netns **nv;
	int r;

	nv = realloc(set->ns, (set->n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	set->ns = nv;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->ino = ino;
	snprintf(n->name, sizeof(n->name), "%s", name);
	if (ino != set->self_ino) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
			return -errno;
	}
	r = set->ops->open(&n->be);
	if (fd >= 0 && setns(set->self_fd, CLONE_NEWNET) < 0) {
		/* stuck in another namespace: nothing after this would be right */
		log_msg(LOG_CRIT, NULL, "cannot return to our own network namespace: %m");
		abort();
	}
	if (r < 0)
		return r;
	n->seen = true;
	set->ns[set->n++] = TAKE_PTR(n);
	log_msg(LOG_DEBUG, NULL, "watching network namespace %s (%s)", name, path);
	return 0;
}

/* Marks a namespace already watched as still there; false for a new one. */
static bool ns_known(struct netns_set *set, uint64_t ino)
{
	struct netns *n = netns_find(set, ino);

	if (n)
		n->seen = true;
	return n != NULL;
}

static int ns_add(struct netns_set *set, const char *path, uint64_t ino, const char *name)
{
	int r = ns_open(set, path, ino, name);

	if (r < 0)
		log_msg(r == -EPERM ? LOG_WARNING : LOG_DEBUG, NULL,
			"cannot watch network namespace %s (%s): %s%s", name, path, strerror(-r),
			r == -EPERM ? " (setns needs CAP_SYS_ADMIN)" : "");
	return r;
}

static int ns_see(struct netns_set *set, const char *path, const char *name)
{
	uint64_t ino = ns_ino(path);

	/* ino 0: gone between readdir and stat, which is fine */
	if (ino && !ns_known(set, ino))
		return ns_add(set, path, ino, name);
	return ino ? 0 : -errno;
}

static void see_all(struct netns_set *set)
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
			ns_see(set, path, de->d_name);
		}
	}
	ns_see(set, "/proc/self/ns/net", "self");
	{
		_cleanup_closedir_ DIR *d = opendir(PROC);

		while (d && (de = readdir(d))) {
			uint64_t ino;

			if (de->d_name[0] < '1' || de->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "%s/%s/ns/net", PROC, de->d_name);
			ino = ns_ino(path);
			if (!ino || ns_known(set, ino))
				continue; /* comm is read only for a namespace new to us */
			proc_comm(PROC, (pid_t)atoi(de->d_name), name);
			ns_add(set, path, ino, name);
		}
	}
}

int netns_discover(struct netns_set *set, const struct config *c)
{
	char name[64];
	int r = 0;

	for (size_t i = 0; i < set->n; i++)
		set->ns[i]->seen = false;
	switch (c->namespaces) {
	case NS_SELF:
		r = ns_see(set, "/proc/self/ns/net", "self");
		break;
	case NS_LIST:
		for (char **p = c->ns_paths; *p; p++) {
			const char *base = strrchr(*p, '/');

			snprintf(name, sizeof(name), "%s",
				 strncmp(*p, "/run/netns/", 11) == 0 ? base + 1 : *p);
			ns_see(set, *p, name);
		}
		break;
	case NS_ALL:
		see_all(set);
		break;
	}
	for (size_t i = 0; i < set->n;) {
		struct netns *n = set->ns[i];

		if (n->seen) {
			i++;
			continue;
		}
		log_msg(LOG_DEBUG, NULL, "network namespace %s is gone", n->name);
		ns_free(set, n);
		set->ns[i] = set->ns[--set->n];
	}
	if (c->namespaces == NS_SELF && set->n == 0)
		return r < 0 ? r : -EIO;
	return (int)set->n;
}
