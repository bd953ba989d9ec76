/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "service.h"

struct metrics_http {
	struct MHD_Daemon *d;
	pthread_mutex_t lock;
	char *text;               /* the latest metrics; NULL before the first scan */
	size_t len;
	uint64_t last_usec;       /* CLOCK_MONOTONIC of the last round (or of the start) */
	uint64_t stale_usec;      /* /healthz fails when no round ended for this long */
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

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_msg(LOG_WARNING, NULL, "metrics_listen: %s", msg);
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
				MHD_OPTION_CONNECTION_LIMIT, 16u,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, 4u,
				MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
				MHD_OPTION_END);
	if (!h->d) {
		int r = errno ? -errno : -EADDRNOTAVAIL;

		pthread_mutex_destroy(&h->lock);
		free(h);
		return r;
	}
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
	MHD_stop_daemon(h->d);
	pthread_mutex_destroy(&h->lock);
	free(h->text);
	free(h);
}
