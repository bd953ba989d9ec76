/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Holds N idle TCP connections for the end-to-end tests.
 *
 *   tcp-client -n N [-s SPORT] [-t MS] HOST PORT
 *
 * -s binds the connections to source ports SPORT, SPORT+1, ...
 * -t talks: sends "PING\r\n" on each connection every MS milliseconds and reads
 *    the answer, until killed (stdin is not read): a peer that is heard from.
 * Prints "connected N", then reads commands on stdin:
 *   ping   send "PING\r\n" on each connection, print "answered A of N"
 *          (A = connections that got any reply within 3 s)
 *   abort  close every connection with SO_LINGER {1,0} (an RST), print "aborted"
 *   close  shut every connection down for writing (a FIN), print "shut"
 * and exits at end of input. */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	char line[64];
	int n = 1, sport = 0, talk = 0, o, *fds;

	while ((o = getopt(argc, argv, "n:s:t:")) != -1) {
		if (o == 'n')
			n = atoi(optarg);
		else if (o == 's')
			sport = atoi(optarg);
		else if (o == 't')
			talk = atoi(optarg);
	}
	if (optind + 2 != argc || n < 1) {
		fprintf(stderr, "usage: tcp-client -n N HOST PORT\n");
		return 2;
	}
	if (getaddrinfo(argv[optind], argv[optind + 1], &hints, &ai) != 0) {
		fprintf(stderr, "tcp-client: bad address\n");
		return 2;
	}
	fds = calloc((size_t)n, sizeof(*fds));
	for (int i = 0; i < n; i++) {
		struct sockaddr_storage src = { .ss_family = (sa_family_t)ai->ai_family };

		/* the port sits at the same offset in sockaddr_in and sockaddr_in6 */
		((struct sockaddr_in *)&src)->sin_port = htons((uint16_t)(sport + i));
		fds[i] = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 ||
		    (sport && bind(fds[i], (void *)&src, ai->ai_family == AF_INET6 ?
				   sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) < 0) ||
		    connect(fds[i], ai->ai_addr, ai->ai_addrlen) < 0) {
			perror("tcp-client: connect");
			return 1;
		}
	}
	printf("connected %d\n", n);
	fflush(stdout);
	while (talk > 0) {
		struct timespec ts = { talk / 1000, (talk % 1000) * 1000000L };

		for (int i = 0; i < n; i++) {
			struct pollfd p = { .fd = fds[i], .events = POLLIN };
			char buf[256];

			send(fds[i], "PING\r\n", 6, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (poll(&p, 1, 1000) == 1 && recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT) == 0)
				return 0; /* closed */
		}
		nanosleep(&ts, NULL);
	}
	while (fgets(line, sizeof(line), stdin)) {
		if (strncmp(line, "ping", 4) == 0) {
			int answered = 0;

			for (int i = 0; i < n; i++) {
				struct pollfd p = { .fd = fds[i], .events = POLLIN };
				long long end = ms() + 3000;
				char buf[256];

				if (fds[i] < 0 || send(fds[i], "PING\r\n", 6, MSG_NOSIGNAL) != 6)
					continue;
				while (ms() < end && poll(&p, 1, (int)(end - ms())) == 1) {
					if (recv(fds[i], buf, sizeof(buf), 0) > 0)
						answered++;
					break;
				}
			}
			printf("answered %d of %d\n", answered, n);
		} else if (strncmp(line, "abort", 5) == 0) {
			struct linger lg = { 1, 0 };

			for (int i = 0; i < n; i++) {
				setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
				close(fds[i]);
				fds[i] = -1;
			}
			printf("aborted\n");
		} else if (strncmp(line, "close", 5) == 0) {
			for (int i = 0; i < n; i++)
				if (fds[i] >= 0)
					shutdown(fds[i], SHUT_WR);
			printf("shut\n");
		}
		fflush(stdout);
	}
	return 0;
}
