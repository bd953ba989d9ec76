/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A small TCP echo server for the end-to-end tests.
 *
 *   echo-server -p PORT [-k IDLE,INTVL,CNT] [-u USER_TIMEOUT_MS] [-W] [-H]
 *
 * Listens dual-stack on [::]:PORT (v4 clients appear v4-mapped, as on many real
 * servers). -k sets the server's own keepalive options on every accepted socket, -u
 * its TCP_USER_TIMEOUT;
 * -W writes to every client every 200 ms (unacked data to a dead peer); -H keeps a
 * connection the client shut down open (CLOSE_WAIT), printing "eof PEER". Prints
 * "listening", then "closed PEER REASON" when a connection ends; on SIGUSR1 prints
 * "opts PEER keepalive=K idle=I intvl=V cnt=C ut=U" per client and "end"; on
 * SIGUSR2 writes a line to every client and prints "said N". */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXC 8192

static struct client {
	int fd;
	char peer[64];
	bool eof;                 /* -H: the client shut down; kept in CLOSE_WAIT */
} clients[MAXC];
static int nclients;

static void peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_in6 a;
	socklen_t l = sizeof(a);
	char ip[INET6_ADDRSTRLEN];

	getpeername(fd, (void *)&a, &l);
	inet_ntop(AF_INET6, &a.sin6_addr, ip, sizeof(ip));
	if (strncmp(ip, "::ffff:", 7) == 0 && strchr(ip, '.'))
		snprintf(buf, len, "%s:%u", ip + 7, ntohs(a.sin6_port));
	else
		snprintf(buf, len, "[%s]:%u", ip, ntohs(a.sin6_port));
}

static void drop(int i, const char *why)
{
	printf("closed %s %s\n", clients[i].peer, why);
	fflush(stdout);
	close(clients[i].fd);
	clients[i] = clients[--nclients];
}

static void report(void)
{
	for (int i = 0; i < nclients; i++) {
		int k = -1, idle = -1, intvl = -1, cnt = -1, ut = -1;
		socklen_t l = sizeof(int);

		getsockopt(clients[i].fd, SOL_SOCKET, SO_KEEPALIVE, &k, &l);
		getsockopt(clients[i].fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, &l);
		getsockopt(clients[i].fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, &l);
		getsockopt(clients[i].fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, &l);
		getsockopt(clients[i].fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, &l);
		printf("opts %s keepalive=%d idle=%d intvl=%d cnt=%d ut=%d\n", clients[i].peer, k,
		       idle, intvl, cnt, ut);
	}
	printf("end\n");
	fflush(stdout);
}

static void say(void)
{
	static const char line[] = "the owner writes\n";
	int n = 0;

	for (int i = 0; i < nclients; i++)
		if (send(clients[i].fd, line, sizeof(line) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
			n++;
	printf("said %d\n", n);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	int port = 0, ka[3] = { 0 }, o, lfd, sfd, one = 1, zero = 0, user_timeout = 0;
	bool keepalive = false, writer = false, hold = false;
	sigset_t mask;

	while ((o = getopt(argc, argv, "p:k:u:WH")) != -1) {
		switch (o) {
		case 'p':
			port = atoi(optarg);
			break;
		case 'k':
			if (sscanf(optarg, "%d,%d,%d", &ka[0], &ka[1], &ka[2]) != 3)
				return 2;
			keepalive = true;
			break;
		case 'u':
			user_timeout = atoi(optarg);
			break;
		case 'W':
			writer = true;
			break;
		case 'H':
			hold = true;
			break;
		default:
			return 2;
		}
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	a.sin6_port = htons((uint16_t)port);
	lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(lfd, (void *)&a, sizeof(a)) < 0 || listen(lfd, SOMAXCONN) < 0) {
		perror("echo-server");
		return 1;
	}
	printf("listening %d\n", port);
	fflush(stdout);
	for (;;) {
		struct pollfd p[MAXC + 2];
		int n;

		p[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		for (int i = 0; i < nclients; i++)
			p[i + 2] = (struct pollfd){ .fd = clients[i].eof ? -1 : clients[i].fd,
						    .events = POLLIN };
		n = poll(p, (nfds_t)nclients + 2, writer ? 200 : -1);
		if (n < 0 && errno != EINTR)
			return 1;
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGTERM)
					return 0;
				if (si.ssi_signo == SIGUSR2)
					say();
				else
					report();
			}
		}
		for (int i = nclients - 1; i >= 0; i--) {
			char buf[4096];
			ssize_t r;

			if (!(p[i + 2].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			r = recv(clients[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r > 0)
				send(clients[i].fd, buf, (size_t)r, MSG_DONTWAIT | MSG_NOSIGNAL);
			else if (r == 0 && hold) {
				clients[i].eof = true;
				printf("eof %s\n", clients[i].peer);
				fflush(stdout);
			} else if (r == 0)
				drop(i, "eof");
			else if (errno != EAGAIN)
				drop(i, strerrorname_np(errno));
		}
		if (writer) {
			static const char junk[64] = "unacknowledged data for a peer that is gone\n";

			for (int i = 0; i < nclients; i++)
				send(clients[i].fd, junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL);
		}
		if ((p[0].revents & POLLIN) && nclients < MAXC) {
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0) {
				if (keepalive) {
					setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
					setsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE, &ka[0], sizeof(int));
					setsockopt(c, IPPROTO_TCP, TCP_KEEPINTVL, &ka[1], sizeof(int));
					setsockopt(c, IPPROTO_TCP, TCP_KEEPCNT, &ka[2], sizeof(int));
				}
				if (user_timeout)
					setsockopt(c, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout,
						   sizeof(int));
				clients[nclients].fd = c;
				clients[nclients].eof = false;
				peer_name(c, clients[nclients].peer, sizeof(clients[nclients].peer));
				nclients++;
			}
		}
	}
}
