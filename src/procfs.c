/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "procfs.h"

int proc_pid_open(const char *proc, const char *pid)
{
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", proc, pid) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

void proc_comm(int piddir, char comm[16])
{
	_cleanup_close_ int fd = -1;
	ssize_t l;

	strcpy(comm, "?");
	fd = openat(piddir, "comm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	l = read(fd, comm, 15);
	if (l <= 0) {
		strcpy(comm, "?");
		return;
	}
	comm[l] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
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

/* The sockets of one process that m asks for. Its descriptors and its name are
 * read through one descriptor of /proc/PID: both are that process's, never those
 * of another that got its pid after it exited. */
static void scan_fds(struct owner_map *m, const char *proc, const char *pidname, pid_t pid)
{
	_cleanup_closedir_ DIR *fdd = NULL;
	_cleanup_close_ int piddir = -1;
	char link[64], comm[16] = "";
	struct dirent *fe;
	int dfd;

	piddir = proc_pid_open(proc, pidname);
	if (piddir < 0) {
		if (piddir != -ENOENT && piddir != -ESRCH)
			m->unreadable++; /* not gone: not read */
		return;
	}
	dfd = openat(piddir, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		if (errno != ENOENT && errno != ESRCH)
			m->unreadable++; /* another user's (CAP_DAC_READ_SEARCH), or
					  * descriptors short: not read, not gone */
		return;
	}
	fdd = fdopendir(dfd);
	if (!fdd) {
		m->unreadable++;
		close(dfd);
		return;
	}
	while (!owner_map_complete(m) && (fe = readdir(fdd))) {
		unsigned long ino;
		ssize_t l;

		if (fe->d_name[0] == '.')
			continue;
		l = readlinkat(dfd, fe->d_name, link, sizeof(link) - 1);
		if (l < 9)
			continue;
		link[l] = '\0';
		if (strncmp(link, "socket:[", 8) != 0)
			continue;
		ino = strtoul(link + 8, NULL, 10);
		if (!ino || ino > UINT32_MAX || !owner_map_wants(m, (uint32_t)ino))
			continue;
		if (!comm[0])
			proc_comm(piddir, comm); /* once per process */
		owner_map_set(m, (uint32_t)ino, pid, atoi(fe->d_name), comm);
	}
}

int proc_find_owners(struct owner_map *m, const char *proc)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	pid_t pid;

	if (owner_map_complete(m))
		return 0;
	d = opendir(proc);
	if (!d)
		return -errno;
	while (!owner_map_complete(m) && (de = readdir(d)))
		if (parse_pid(de->d_name, &pid))
			scan_fds(m, proc, de->d_name, pid);
	return 0;
}
