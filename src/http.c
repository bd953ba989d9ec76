/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "http.h"
#include "service.h"

/* The limits that keep a scraper answered while others hold connections open
 * (kareaper.conf(5) metrics_listen): connections in all and from one address;
 * the bytes a request's head may take; the time each request has from the
 * connection (or the request before it) to its answer, bytes trickled or not:
 * past it, the connection is shut down. */
#define HTTP_CONNECTIONS 256u
#define HTTP_PER_ADDRESS 4u
#define HTTP_HEAD_BYTES ((size_t)16384)
#define HTTP_REQUEST_SEC 3u

/* A connection, from its start to its close. */
struct conn {
	struct conn *next, **prev;
	int fd;
	uint64_t deadline_usec;
	bool cut;
};

struct metrics_http {
	struct MHD_Daemon *d;
	pthread_mutex_t lock;
	char *text;               /* the latest metrics; NULL before the first scan */
	size_t len;
	uint64_t last_usec;       /* CLOCK_MONOTONIC of the last round (or of the start) */
	uint64_t stale_usec;      /* /healthz fails when no round ended for this long */

	/* the deadlines, kept by a thread of their own */
	pthread_mutex_t conns_lock;
	pthread_cond_t wake;
	struct conn *conns;
	bool stopping;
	pthread_t cutter;
	bool have_cutter;
};

/* GET /healthz: 200 while rounds keep ending, 503 once the loop has not ended
 * one for stale_usec (it hangs, or a scan never finishes): what a liveness
 * probe restarts on, as the systemd watchdog does under the unit. */
static unsigned health(struct metrics_http *h, char *buf, size_t len)
{
	uint64_t now = monotonic_usec(), since;
	unsigned status;

	pthread_mutex_lock(&h->lock);
	since = now - h->last_usec;
	status = since <= h->stale_usec ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
	if (status == MHD_HTTP_OK)
		snprintf(buf, len, "ok\n");
	else
		snprintf(buf, len, "stale: no round ended for %llus (limit %llus)\n",
			 (unsigned long long)(since / 1000000),
			 (unsigned long long)(h->stale_usec / 1000000));
	pthread_mutex_unlock(&h->lock);
	return status;
}

/* libmicrohttpd's messages: a line for each connection a client ends or the
 * limits refuse, so hundreds a second from a client that wants them. One
 * every 10 s at most, with how many were left out. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static uint64_t last_usec;
	static unsigned quiet;
	uint64_t now = monotonic_usec();
	char msg[256];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	pthread_mutex_lock(&lock);
	if (last_usec && now - last_usec < 10 * 1000000ULL) {
		quiet++;
		pthread_mutex_unlock(&lock);
		return;
	}
	last_usec = now;
	if (quiet)
		log_msg(LOG_WARNING, NULL, "metrics_listen: %s (and %u more messages in the "
			"last 10 s)", msg, quiet);
	else
		log_msg(LOG_WARNING, NULL, "metrics_listen: %s", msg);
	quiet = 0;
	pthread_mutex_unlock(&lock);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, char *body,
			     size_t len, const char *type)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, body,
								    MHD_RESPMEM_MUST_FREE);
	enum MHD_Result r;

	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result text_reply(struct MHD_Connection *conn, unsigned status, const char *text)
{
	return reply(conn, status, strdup(text), strlen(text), "text/plain; charset=utf-8");
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	struct metrics_http *h = cls;
	char *body;
	size_t len;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)state;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return text_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or HEAD\n");
	if (!strcmp(url, "/healthz")) {
		char buf[128];
		unsigned status = health(h, buf, sizeof(buf));

		return text_reply(conn, status, buf);
	}
	if (strcmp(url, "/metrics") != 0)
		return text_reply(conn, MHD_HTTP_NOT_FOUND, "kareaper: try /metrics or /healthz\n");
	pthread_mutex_lock(&h->lock);
	len = h->len;
	body = h->text ? malloc(len ? len : 1) : NULL;
	if (body)
		memcpy(body, h->text, len);
	pthread_mutex_unlock(&h->lock);
	if (!body)
		return text_reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "no scan yet\n");
	/* the Prometheus text exposition format, version 0.0.4 */
	return reply(conn, MHD_HTTP_OK, body, len, "text/plain; version=0.0.4; charset=utf-8");
}

/* Each connection's deadline: from its start, then from each request's end. The
 * entry goes before libmicrohttpd closes the descriptor (CLOSED is told first),
 * and the cutter shuts a descriptor down only under the same lock: never
 * another connection's. */
static void conn_notify(void *cls, struct MHD_Connection *mc, void **ctx,
			enum MHD_ConnectionNotificationCode code)
{
	struct metrics_http *h = cls;
	struct conn *c = *ctx;

	pthread_mutex_lock(&h->conns_lock);
	if (code == MHD_CONNECTION_NOTIFY_STARTED && !c) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);

		c = ci ? calloc(1, sizeof(*c)) : NULL;
		if (c) {
			c->fd = ci->connect_fd;
			c->deadline_usec = monotonic_usec() + HTTP_REQUEST_SEC * 1000000ULL;
			c->next = h->conns;
			c->prev = &h->conns;
			if (h->conns)
				h->conns->prev = &c->next;
			h->conns = c;
			*ctx = c;
		}
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && c) {
		*c->prev = c->next;
		if (c->next)
			c->next->prev = c->prev;
		free(c);
		*ctx = NULL;
	}
	pthread_mutex_unlock(&h->conns_lock);
}

static void request_done(void *cls, struct MHD_Connection *mc, void **state,
			 enum MHD_RequestTerminationCode code)
{
	struct metrics_http *h = cls;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	(void)state;
	(void)code;
	pthread_mutex_lock(&h->conns_lock);
	if (ci && ci->socket_context) {
		struct conn *c = ci->socket_context;

		c->deadline_usec = monotonic_usec() + HTTP_REQUEST_SEC * 1000000ULL;
	}
	pthread_mutex_unlock(&h->conns_lock);
}

static void *cutter(void *arg)
{
	struct metrics_http *h = arg;

	pthread_mutex_lock(&h->conns_lock);
	while (!h->stopping) {
		uint64_t now = monotonic_usec();
		struct timespec ts;

		for (struct conn *c = h->conns; c; c = c->next)
			if (!c->cut && now > c->deadline_usec) {
				shutdown(c->fd, SHUT_RDWR); /* libmicrohttpd sees it end, and closes */
				c->cut = true;
			}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 250 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&h->wake, &h->conns_lock, &ts);
	}
	pthread_mutex_unlock(&h->conns_lock);
	return NULL;
}

static void cutter_stop(struct metrics_http *h)
{
	if (!h->have_cutter)
		return;
	pthread_mutex_lock(&h->conns_lock);
	h->stopping = true;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->conns_lock);
	pthread_join(h->cutter, NULL);
	h->have_cutter = false;
}

static void http_free(struct metrics_http *h)
{
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->conns_lock);
	pthread_cond_destroy(&h->wake);
	free(h->text);
	free(h);
}

int metrics_http_start(const struct listen_addr *l, uint64_t stale_usec,
		       struct metrics_http **ret)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(l->port) };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(l->port) };
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	struct metrics_http *h = calloc(1, sizeof(*h));
	const struct sockaddr *sa;

	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->conns_lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&h->wake, &ca);
		pthread_condattr_destroy(&ca);
	}
	h->last_usec = monotonic_usec();
	h->stale_usec = stale_usec;
	if (l->family == AF_INET6) {
		memcpy(&s6.sin6_addr, l->addr, sizeof(s6.sin6_addr));
		sa = (const struct sockaddr *)&s6;
		/* :PORT is [::]: v4 as well */
		flags |= IN6_IS_ADDR_UNSPECIFIED(&s6.sin6_addr) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
	} else {
		memcpy(&s4.sin_addr, l->addr, sizeof(s4.sin_addr));
		sa = (const struct sockaddr *)&s4;
	}
	errno = 0;
	h->d = MHD_start_daemon(flags, l->port, NULL, NULL, answer, h,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* first: all its messages */
				MHD_OPTION_SOCK_ADDR, sa,
				MHD_OPTION_CONNECTION_LIMIT, HTTP_CONNECTIONS,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, HTTP_PER_ADDRESS,
				MHD_OPTION_CONNECTION_TIMEOUT, HTTP_REQUEST_SEC,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_HEAD_BYTES,
				MHD_OPTION_NOTIFY_CONNECTION, conn_notify, h,
				MHD_OPTION_NOTIFY_COMPLETED, request_done, h,
				MHD_OPTION_END);
	if (!h->d) {
		int r = errno ? -errno : -EADDRNOTAVAIL;

		http_free(h);
		return r;
	}
	if (pthread_create(&h->cutter, NULL, cutter, h) != 0) {
		MHD_stop_daemon(h->d);
		http_free(h);
		return -EAGAIN;
	}
	h->have_cutter = true;
	*ret = h;
	return 0;
}

void metrics_http_update(struct metrics_http *h, char *text, size_t len, uint64_t stale_usec)
{
	char *old;

	pthread_mutex_lock(&h->lock);
	old = h->text;
	h->text = text;
	h->len = len;
	h->last_usec = monotonic_usec();
	h->stale_usec = stale_usec;
	pthread_mutex_unlock(&h->lock);
	free(old);
}

void metrics_http_stop(struct metrics_http *h)
{
	if (!h)
		return;
	cutter_stop(h);
	MHD_stop_daemon(h->d);
	http_free(h);
}
