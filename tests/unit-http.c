/* SPDX-License-Identifier: GPL-2.0-or-later */
/* metrics_listen's server on loopback: /metrics answers the text of the last
 * round (503 before one), /healthz 200 while rounds end within its limit and
 * 503 once none has, other methods 405, other paths 404; and its limits hold
 * against clients that hold connections open. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "parse.h"
#include "tap.h"

static unsigned short port;

/* A port free on loopback, as the kernel picks one. */
static unsigned short free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		perror("free port");
		exit(1);
	}
	close(fd);
	return ntohs(a.sin_port);
}

/* One HTTP/1.0 request; the whole response, NUL-terminated, in buf. */
static const char *request(const char *method, const char *path, char *buf, size_t size)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	size_t n = 0;
	ssize_t r;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	buf[0] = '\0';
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    dprintf(fd, "%s %s HTTP/1.0\r\nHost: localhost\r\n\r\n", method, path) < 0) {
		if (fd >= 0)
			close(fd);
		return buf;
	}
	while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
	return buf;
}

static bool status_is(const char *resp, const char *status)
{
	return !strncmp(resp, "HTTP/1.", 7) && !strncmp(resp + 9, status, strlen(status));
}

static const char *body(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");

	return b ? b + 4 : "";
}

/* A connection from 127.0.0.a (any address of 127/8 is this host's). */
static int connect_from(unsigned a)
{
	struct sockaddr_in from = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000000u | a) };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd >= 0 && (bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0 ||
			connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Whether the server ended fd (EOF or reset) within the seconds given. */
static bool ended(int fd, unsigned seconds)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c[256];

	while (poll(&p, 1, (int)seconds * 1000) > 0) {
		ssize_t r = read(fd, c, sizeof(c));

		if (r <= 0)
			return true;
	}
	return false;
}

#define SLOW 200

/* 200 clients from 50 addresses that trickle their request a byte a second (the
 * inactivity timeout never runs out), then one that asks at once. */
static void slow_clients(void)
{
	static int fds[SLOW];
	char buf[4096];
	int cut = 0, open = 0;
	bool answered = false;

	for (int i = 0; i < SLOW; i++) {
		fds[i] = connect_from(10u + (unsigned)i / 4);
		if (fds[i] >= 0 && write(fds[i], "GET /metrics HTTP/1.1\r\nX: ", 27) == 27)
			open++;
	}
	is_u64(open, SLOW, "200 slow clients from 50 addresses connected");
	for (int t = 0; t < 6; t++) {
		struct timespec second = { 1, 0 };

		if (t == 1)
			answered = status_is(request("GET", "/healthz", buf, sizeof(buf)), "200");
		nanosleep(&second, NULL);
		for (int i = 0; i < SLOW; i++)
			if (fds[i] >= 0 && send(fds[i], "x", 1, MSG_NOSIGNAL) != 1) {
				close(fds[i]);
				fds[i] = -1;
				cut++;
			}
	}
	ok(answered, "while they trickle, a client that asks at once is answered");
	for (int i = 0; i < SLOW; i++)
		if (fds[i] >= 0) {
			cut += ended(fds[i], 2);
			close(fds[i]);
		}
	is_u64(cut, SLOW, "each slow client cut off at its request's deadline, bytes "
	       "trickled or not");
}

/* No more than 4 connections from one address; no request head over its size. */
static void limits(void)
{
	int fds[5];
	char buf[4096];
	static char big[20000];
	int fd;

	for (int i = 0; i < 5; i++)
		fds[i] = connect_from(99);
	ok(fds[4] >= 0 && ended(fds[4], 2) && !ended(fds[0], 0),
	   "a fifth connection from one address: closed at once, the first four kept");
	for (int i = 0; i < 5; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	fd = connect_from(98);
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /metrics HTTP/1.0\r\nX: ", 27);
	memcpy(big + sizeof(big) - 4, "\r\n\r\n", 4);
	buf[0] = '\0';
	if (fd >= 0) {
		size_t n = 0;
		ssize_t r;

		(void)!write(fd, big, sizeof(big));
		while (n + 1 < sizeof(buf) && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
			n += (size_t)r;
		buf[n] = '\0';
		close(fd);
	}
	ok(!status_is(buf, "200"), "a request head of 20000 bytes: refused (%.12s)", buf);
}

int main(void)
{
	struct listen_addr l;
	struct metrics_http *h = NULL;
	const char *why;
	char addr[32], buf[4096];
	const char *text = "# HELP kareaper_scans_total x\n# TYPE kareaper_scans_total counter\n"
			   "kareaper_scans_total 1\n";
	struct timespec pause = { 0, 20 * 1000 * 1000 };

	port = free_port();
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	if (parse_listen(addr, &l, &why) < 0) {
		printf("Bail out! %s: %s\n", addr, why);
		return 1;
	}
	ok(metrics_http_start(&l, 60 * 1000000ULL, &h) == 0, "listening on %s", addr);
	if (!h)
		return done_testing();

	ok(status_is(request("GET", "/metrics", buf, sizeof(buf)), "503"),
	   "/metrics before the first round: 503");
	ok(status_is(request("GET", "/healthz", buf, sizeof(buf)), "200") &&
	   !strcmp(body(buf), "ok\n"), "/healthz right after the start: 200 ok");

	metrics_http_update(h, strdup(text), strlen(text), 60 * 1000000ULL);
	ok(status_is(request("GET", "/metrics", buf, sizeof(buf)), "200") &&
	   !strcmp(body(buf), text), "/metrics: 200, the round's text exactly");
	ok(strstr(buf, "Content-Type: text/plain; version=0.0.4") != NULL,
	   "in the Prometheus text format 0.0.4");
	ok(status_is(request("HEAD", "/metrics", buf, sizeof(buf)), "200") && !*body(buf),
	   "HEAD /metrics: 200, no body");
	ok(status_is(request("POST", "/metrics", buf, sizeof(buf)), "405") &&
	   strstr(buf, "Allow: GET, HEAD"), "POST: 405 with Allow: GET, HEAD");
	ok(status_is(request("GET", "/", buf, sizeof(buf)), "404"), "another path: 404");

	/* a limit of 0: the round just handed over is already too old */
	metrics_http_update(h, strdup(text), strlen(text), 0);
	nanosleep(&pause, NULL);
	ok(status_is(request("GET", "/healthz", buf, sizeof(buf)), "503") &&
	   !strncmp(body(buf), "stale: no round ended for ", 26),
	   "/healthz once no round ended within its limit: 503 stale");
	ok(status_is(request("GET", "/metrics", buf, sizeof(buf)), "200"),
	   "while /metrics still answers the last round");
	/* the next round, a second and more after the last: its own time counts,
	 * with a limit the time since the last round (or the start) is past */
	{
		struct timespec past = { 1, 200 * 1000 * 1000 };

		nanosleep(&past, NULL);
	}
	metrics_http_update(h, strdup(text), strlen(text), 1000000ULL);
	ok(status_is(request("GET", "/healthz", buf, sizeof(buf)), "200"),
	   "the next round: 200 again, its clock set by that round");
	metrics_http_update(h, strdup(text), strlen(text), 60 * 1000000ULL);

	limits();
	slow_clients();

	metrics_http_stop(h);
	ok(!*request("GET", "/healthz", buf, sizeof(buf)), "stopped: nothing listens");
	return done_testing();
}
