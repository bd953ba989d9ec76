/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "prober.h"

static size_t slot(const struct owner_map *m, uint32_t inode)
{
	size_t i = (inode * 2654435761u) & (m->cap - 1);

	while (m->inode[i] && m->inode[i] != inode)
		i = (i + 1) & (m->cap - 1);
	return i;
}

int owner_map_want(struct owner_map *m, uint32_t inode)
{
	size_t i;

	if (!inode)
		return -EINVAL;
	if ((m->n + 1) * 2 > m->cap) {
		struct owner_map nm = { .cap = m->cap ? m->cap * 2 : 64 };

		nm.inode = calloc(nm.cap, sizeof(*nm.inode));
		nm.pid = calloc(nm.cap, sizeof(*nm.pid));
		nm.fd = calloc(nm.cap, sizeof(*nm.fd));
		if (!nm.inode || !nm.pid || !nm.fd) {
			owner_map_free(&nm);
			return -ENOMEM;
		}
		for (size_t j = 0; j < m->cap; j++)
			if (m->inode[j]) {
				size_t k = slot(&nm, m->inode[j]);

				nm.inode[k] = m->inode[j];
				nm.pid[k] = m->pid[j];
				nm.fd[k] = m->fd[j];
				nm.n++;
			}
		nm.found = m->found;
		owner_map_free(m);
		*m = nm;
	}
	i = slot(m, inode);
	if (!m->inode[i]) {
		m->inode[i] = inode;
		m->pid[i] = 0;
		m->fd[i] = -1;
		m->n++;
	}
	return 0;
}

bool owner_map_get(const struct owner_map *m, uint32_t inode, pid_t *pid, int *fd)
{
	size_t i;

	if (!m->cap)
		return false;
	i = slot(m, inode);
	if (m->inode[i] != inode || m->pid[i] == 0)
		return false;
	*pid = m->pid[i];
	*fd = m->fd[i];
	return true;
}

void owner_map_free(struct owner_map *m)
{
	free(m->inode);
	free(m->pid);
	free(m->fd);
	memset(m, 0, sizeof(*m));
}

static bool parse_pid(const char *s, pid_t *pid)
{
	long v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 4194304)
			return false;
		v = v * 10 + (*s - '0');
	}
	*pid = (pid_t)v;
	return v > 0;
}

int owner_map_scan(struct owner_map *m, const char *proc)
{
	struct dirent *de;
	DIR *d;

	if (m->n == 0)
		return 0;
	d = opendir(proc);
	if (!d)
		return -errno;
	while (m->found < m->n && (de = readdir(d))) {
		char path[64], link[64];
		struct dirent *fe;
		DIR *fdd;
		pid_t pid;
		int dfd;

		if (!parse_pid(de->d_name, &pid))
			continue;
		snprintf(path, sizeof(path), "%s/%d/fd", proc, (int)pid);
		dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			continue; /* gone, or not ours to see */
		fdd = fdopendir(dfd);
		if (!fdd) {
			close(dfd);
			continue;
		}
		while (m->found < m->n && (fe = readdir(fdd))) {
			unsigned long ino;
			ssize_t l;
			size_t i;
			int fdnum;

			if (fe->d_name[0] == '.')
				continue;
			l = readlinkat(dfd, fe->d_name, link, sizeof(link) - 1);
			if (l < 9)
				continue;
			link[l] = '\0';
			if (strncmp(link, "socket:[", 8) != 0)
				continue;
			ino = strtoul(link + 8, NULL, 10);
			if (!ino || ino > UINT32_MAX)
				continue;
			i = slot(m, (uint32_t)ino);
			if (m->inode[i] != ino || m->pid[i])
				continue;
			fdnum = atoi(fe->d_name);
			m->pid[i] = pid;
			m->fd[i] = fdnum;
			m->found++;
		}
		closedir(fdd);
	}
	closedir(d);
	return 0;
}

void proc_comm(const char *proc, pid_t pid, char comm[16])
{
	char path[64];
	ssize_t l;
	int fd;

	snprintf(path, sizeof(path), "%s/%d/comm", proc, (int)pid);
	strcpy(comm, "?");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	l = read(fd, comm, 15);
	close(fd);
	if (l <= 0) {
		strcpy(comm, "?");
		return;
	}
	comm[l] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
}

int prober_get_socket(pid_t pid, int fd, uint64_t cookie, int *ret)
{
	uint64_t c = 0;
	socklen_t l = sizeof(c);
	int pidfd, sfd;

	pidfd = pidfd_open(pid, 0);
	if (pidfd < 0)
		return -errno;
	sfd = pidfd_getfd(pidfd, fd, 0);
	if (sfd < 0) {
		int e = -errno;

		close(pidfd);
		return e;
	}
	close(pidfd);
	/* The descriptor number may have been reused for another socket since /proc
	 * was read: only the cookie proves it is the one we mean. */
	if (getsockopt(sfd, SOL_SOCKET, SO_COOKIE, &c, &l) < 0 || c != cookie) {
		close(sfd);
		return -ESTALE;
	}
	*ret = sfd;
	return 0;
}

static int getint(int sfd, int level, int opt, int *v)
{
	socklen_t l = sizeof(*v);

	return getsockopt(sfd, level, opt, v, &l) < 0 ? -errno : 0;
}

static int setint(int sfd, int level, int opt, int v)
{
	return setsockopt(sfd, level, opt, &v, sizeof(v)) < 0 ? -errno : 0;
}

int prober_arm(int sfd, const struct policy *p, uint64_t idle_ms, unsigned probes_out,
	       struct ka_opts *saved)
{
	int intvl = (int)(p->interval_ms / 1000), idle, r;
	unsigned cnt = probes_out + p->probes + KR_KEEPCNT_MARGIN;
	uint64_t idle_s = idle_ms / 1000;

	if ((r = getint(sfd, SOL_SOCKET, SO_KEEPALIVE, &saved->keepalive)) < 0 ||
	    (r = getint(sfd, IPPROTO_TCP, TCP_KEEPIDLE, &saved->idle_s)) < 0 ||
	    (r = getint(sfd, IPPROTO_TCP, TCP_KEEPINTVL, &saved->intvl_s)) < 0 ||
	    (r = getint(sfd, IPPROTO_TCP, TCP_KEEPCNT, &saved->cnt)) < 0)
		return r;
	/* Once keepalive is on, setting TCP_KEEPIDLE below the time already idle fires
	 * the first probe at once; after an answer the next waits one interval. */
	idle = intvl;
	if (idle_s < (uint64_t)idle)
		idle = idle_s > 0 ? (int)idle_s : 1;
	if ((r = setint(sfd, IPPROTO_TCP, TCP_KEEPINTVL, intvl)) < 0 ||
	    /* the kernel compares its running count (not reset by arming) with this */
	    (r = setint(sfd, IPPROTO_TCP, TCP_KEEPCNT,
			(int)(cnt > KR_MAX_KEEPCNT ? KR_MAX_KEEPCNT : cnt))) < 0 ||
	    (r = setint(sfd, SOL_SOCKET, SO_KEEPALIVE, 1)) < 0 ||
	    (r = setint(sfd, IPPROTO_TCP, TCP_KEEPIDLE, idle)) < 0) {
		prober_restore(sfd, saved);
		return r;
	}
	return 0;
}

int prober_restore(int sfd, const struct ka_opts *saved)
{
	int r = 0, q;

	/* Timing first, then the switch: turning keepalive off last stops our timer. */
	if ((q = setint(sfd, IPPROTO_TCP, TCP_KEEPINTVL, saved->intvl_s)) < 0)
		r = q;
	if ((q = setint(sfd, IPPROTO_TCP, TCP_KEEPCNT, saved->cnt)) < 0)
		r = q;
	if ((q = setint(sfd, IPPROTO_TCP, TCP_KEEPIDLE, saved->idle_s)) < 0)
		r = q;
	if ((q = setint(sfd, SOL_SOCKET, SO_KEEPALIVE, saved->keepalive)) < 0)
		r = q;
	return r;
}

int prober_tcp_state(int sfd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	if (getsockopt(sfd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
		return -errno;
	return ti.tcpi_state;
}
