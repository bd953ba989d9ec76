/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Makes N idle loopback TCP connections for the benchmarks, despite the open-file
 * limit: W worker processes each hold both ends of N/W connections. Worker w listens
 * on 127.0.0.1:(PORT+w); its clients bind 127.(A+w).0.1 with ports from 1024 up.
 * Every socket has SO_LINGER {1,0}: teardown leaves no TIME_WAIT.
 *
 *   mkconns -n N -w W -p PORT [-a A]     (A: default 1)
 *
 * Prints "ready N" once all are connected. On a "warm" line on stdin every client
 * sends one byte and every server end reads it, so the live connections are not
 * idle ("warmed" when done); end of input ends them all. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t warm_requested;

static void on_usr1(int sig)
{
	(void)sig;
	warm_requested = 1;
}

static int *cfds, *sfds;

static void warm(int n)
{
	char c;

	for (int i = 0; i < n; i++)
		send(cfds[i], "w", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	for (int i = 0; i < n; i++)
		recv(sfds[i], &c, 1, MSG_DONTWAIT);
}

static int worker(int w, int n, int port, int a)
{
	struct sockaddr_in srv = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(port + w)) };
	struct linger lg = { 1, 0 };
	int lfd, one = 1;

	srv.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cfds = calloc((size_t)n, sizeof(int));
	sfds = calloc((size_t)n, sizeof(int));
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (void *)&srv, sizeof(srv)) < 0 || listen(lfd, 4096) < 0) {
		perror("mkconns: listen");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		struct sockaddr_in cli = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(1024 + i)) };
		int c = socket(AF_INET, SOCK_STREAM, 0), s;

		cli.sin_addr.s_addr = htonl((127u << 24) | ((uint32_t)(a + w) << 16) | 1);
		setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (bind(c, (void *)&cli, sizeof(cli)) < 0 || connect(c, (void *)&srv, sizeof(srv)) < 0) {
			fprintf(stderr, "mkconns: worker %d connection %d: %s\n", w, i, strerror(errno));
			return 1;
		}
		s = accept(lfd, NULL, NULL);
		if (s < 0) {
			perror("mkconns: accept");
			return 1;
		}
		setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		cfds[i] = c;
		sfds[i] = s;
	}
	close(lfd);
	return 0;
}

int main(int argc, char **argv)
{
	int n = 1000, w = 1, port = 20000, a = 1, o, ready[2];
	char line[64], c;
	pid_t *pids;

	while ((o = getopt(argc, argv, "n:w:p:a:")) != -1) {
		if (o == 'n')
			n = atoi(optarg);
		else if (o == 'w')
			w = atoi(optarg);
		else if (o == 'p')
			port = atoi(optarg);
		else if (o == 'a')
			a = atoi(optarg);
	}
	if (a < 1 || a + w > 255 || n / w > 9900) {
		fprintf(stderr, "mkconns: at most 9900 connections per worker (open-file limit)\n");
		return 2;
	}
	pids = calloc((size_t)w, sizeof(*pids));
	if (pipe(ready) < 0)
		return 1;
	for (int i = 0; i < w; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			int mine = n / w + (i < n % w), r;
			sigset_t none, usr1;

			prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the parent */
			sigemptyset(&usr1);
			sigaddset(&usr1, SIGUSR1);
			sigprocmask(SIG_BLOCK, &usr1, NULL);
			signal(SIGUSR1, on_usr1);
			r = worker(i, mine, port, a);
			close(ready[0]);
			if (write(ready[1], r ? "x" : "r", 1) != 1 || r)
				_exit(1);
			sigemptyset(&none);
			for (;;) {
				sigsuspend(&none);
				if (warm_requested) {
					warm_requested = 0;
					warm(mine);
					if (write(ready[1], "w", 1) != 1)
						_exit(1);
				}
			}
		}
	}
	for (int i = 0; i < w; i++) {
		if (read(ready[0], &c, 1) != 1 || c != 'r') {
			fprintf(stderr, "mkconns: a worker failed\n");
			for (int j = 0; j < w; j++)
				kill(pids[j], SIGKILL);
			return 1;
		}
	}
	printf("ready %d\n", n);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		if (strncmp(line, "warm", 4) != 0)
			continue;
		for (int i = 0; i < w; i++)
			kill(pids[i], SIGUSR1);
		for (int i = 0; i < w; i++)
			if (read(ready[0], &c, 1) != 1)
				return 1;
		printf("warmed\n");
		fflush(stdout);
	}
	for (int i = 0; i < w; i++)
		kill(pids[i], SIGKILL);
	for (int i = 0; i < w; i++)
		waitpid(pids[i], NULL, 0);
	return 0;
}
