/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What any local user can do on Debian: make network namespaces, many of them,
 * each in a user namespace of its own, each with a connected socket in it.
 *
 *   ns-flood [-u UID] N
 *
 * Run as an unprivileged user, or as root with -u, which becomes that user
 * (its group too) before anything else, as dumpable as a user's own process:
 * the binary need not be where that user can reach it. Forks N children; each makes a user and a
 * network namespace, brings its loopback up, connects a socket to a listening
 * one of its own, and waits. Prints "ready N" when all are there (or "failed
 * AT: ERROR" at the first that could not), then holds them until its stdin
 * ends, and kills them (they die with it too). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int child(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(7) };
	struct ifreq ifr = { .ifr_name = "lo" };
	socklen_t l = sizeof(a);
	int s, lfd, c;

	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
		return errno;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return errno;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return errno;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (void *)&a, l) < 0 || listen(lfd, 1) < 0)
		return errno;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (void *)&a, l) < 0 || accept4(lfd, NULL, NULL, SOCK_CLOEXEC) < 0)
		return errno;
	return 0;
}

int main(int argc, char **argv)
{
	int n, uid = -1;
	pid_t *pids;
	char c;

	if (argc == 4 && !strcmp(argv[1], "-u")) {
		uid = atoi(argv[2]);
		argv += 2;
		argc -= 2;
	}
	n = argc == 2 ? atoi(argv[1]) : 0;
	if (n <= 0) {
		fprintf(stderr, "usage: ns-flood [-u UID] N\n");
		return 2;
	}
	if (uid >= 0 && (setgroups(0, NULL) < 0 || setgid((gid_t)uid) < 0 || setuid((uid_t)uid) < 0 ||
			 prctl(PR_SET_DUMPABLE, 1) < 0)) {
		printf("failed -1: %s\n", strerror(errno));
		return 1;
	}
	pids = calloc((size_t)n, sizeof(*pids));
	if (!pids)
		return 1;
	for (int i = 0; i < n; i++) {
		int p[2], err = 0;

		if (pipe(p) < 0) {
			printf("failed %d: %s\n", i, strerror(errno));
			return 1;
		}
		pids[i] = fork();
		if (pids[i] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(p[0]);
			err = getppid() == 1 ? ESRCH : child();
			if (write(p[1], &err, sizeof(err)) != sizeof(err) || err)
				_exit(1);
			close(p[1]);
			for (;;)
				pause();
		}
		close(p[1]);
		if (pids[i] < 0 || read(p[0], &err, sizeof(err)) != sizeof(err) || err) {
			printf("failed %d: %s\n", i, strerror(pids[i] < 0 ? errno : err ? err : EPIPE));
			fflush(stdout);
			n = pids[i] > 0 ? i + 1 : i;
			goto out;
		}
		close(p[0]);
	}
	printf("ready %d\n", n);
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
out:
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	for (int i = 0; i < n; i++)
		waitpid(pids[i], NULL, 0);
	return 0;
}
