/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Files replaced whole and never written through a link: with the temporary
 * name made predictable (getrandom() below stands in for the kernel's), a link
 * or a file planted at it is never opened, and the victim it names is never
 * written. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "tap.h"

/* The executable's definition wins over libc's: every "random" name is the same. */
ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
	(void)flags;
	memset(buf, 0, len);
	((unsigned char *)buf)[0] = 0x2a;
	return (ssize_t)len;
}

static char dir[] = "/tmp/kareaper-unit-fileio.XXXXXX";

static char *slurp(const char *name)
{
	static char buf[256];
	char path[300];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void put(const char *name, const char *text)
{
	char path[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

int main(void)
{
	char path[300], victim[300], tmp[300];
	struct stat st;
	int dfd;

	ok(mkdtemp(dir) != NULL, "a directory");
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	/* the name atomic_replace() will try: ".BASE." and the 64-bit number in hex */
	snprintf(tmp, sizeof(tmp), "%s/.probes.%016x", dir, 0x2a);
	snprintf(path, sizeof(path), "%s/probes", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);

	ok(atomic_replace(dfd, "probes", "one\n", 4, 0640) == 0, "replaced");
	ok(slurp("probes") && !strcmp(slurp("probes"), "one\n"), "with the new text");
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0640, "its mode set, whatever the umask");
	ok(access(tmp, F_OK) < 0, "no temporary file left");

	put("victim", "precious\n");
	ok(symlink(victim, tmp) == 0, "a link planted at the temporary name");
	is_u64((unsigned long long)-atomic_replace(dfd, "probes", "two\n", 4, 0600), EEXIST,
	       "refused: EEXIST");
	ok(!strcmp(slurp("victim"), "precious\n"), "the file the link names is not written");
	ok(!strcmp(slurp("probes"), "one\n"), "the file to replace is as it was");
	unlink(tmp);

	ok(symlink("/nonexistent/kareaper-created", tmp) == 0, "a dangling link planted");
	ok(atomic_replace(dfd, "probes", "two\n", 4, 0600) < 0 &&
	   access("/nonexistent/kareaper-created", F_OK) < 0, "refused, nothing created through it");
	unlink(tmp);

	put(".probes.000000000000002a", "planted\n");
	ok(atomic_replace(dfd, "probes", "two\n", 4, 0600) == -EEXIST &&
	   !strcmp(slurp(".probes.000000000000002a"), "planted\n"),
	   "a file planted at the name: refused, not written");
	unlink(tmp);

	ok(atomic_replace_path(path, "three\n", 6, 0600) == 0 && !strcmp(slurp("probes"), "three\n"),
	   "by path, once the name is free");
	{
		char *buf = (char *)1;
		size_t len = 1;

		ok(read_whole(path, 4, &buf, &len) == 0 && len == 6 && !memcmp(buf, "three\n", 6),
		   "read whole, past its first buffer's 4 bytes");
		free(buf);
		snprintf(tmp, sizeof(tmp), "%s/absent", dir);
		ok(read_whole(tmp, 4, &buf, &len) == -ENOENT && !buf && !len,
		   "no such file: -ENOENT, nothing");
	}
	unlink(path);
	unlink(victim);
	close(dfd);
	rmdir(dir);
	return done_testing();
}
