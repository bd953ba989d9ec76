/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileio.h"

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

int atomic_replace(int dfd, const char *base, const void *buf, size_t len, mode_t mode)
{
	_cleanup_close_ int fd = -1;
	char tmp[NAME_MAX + 1];
	uint64_t rnd;
	int r;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -errno;
	if (snprintf(tmp, sizeof(tmp), ".%.200s.%016" PRIx64, base, rnd) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, buf, len);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(dfd, tmp, dfd, base) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dfd, tmp, 0);
		return r;
	}
	fsync(dfd);
	return 0;
}

int atomic_replace_path(const char *path, const void *buf, size_t len, mode_t mode)
{
	_cleanup_close_ int dfd = -1;
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];

	if (!slash || (size_t)(slash - path) >= sizeof(dir) || !slash[1])
		return -EINVAL;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash == path ? 1 : slash - path] = '\0';
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	return atomic_replace(dfd, slash + 1, buf, len, mode);
}

int read_whole(const char *path, size_t hint, char **buf, size_t *len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *b = NULL;
	size_t n = 0, cap = 0;
	ssize_t got;

	*buf = NULL;
	*len = 0;
	if (fd < 0)
		return -errno;
	for (;;) {
		if (n == cap) {
			char *more = realloc(b, cap = cap ? cap * 2 : hint);

			if (!more)
				return -ENOMEM;
			b = more;
		}
		got = read(fd, b + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			break;
		n += (size_t)got;
	}
	*buf = TAKE_PTR(b);
	*len = n;
	return 0;
}
