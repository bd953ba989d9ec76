/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The metrics served over HTTP (metrics_listen) with libmicrohttpd: its own
 * thread answers GET /metrics with the latest text the event loop handed it,
 * so a scrape never waits for a scan nor touches the engine; and GET /healthz
 * with 200 while the loop keeps handing it rounds, 503 when it stops. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "parse.h"

struct metrics_http;

/* Listening on l; the calling thread must have blocked the signals the event
 * loop takes (the server's thread inherits its mask). /healthz fails once no
 * round has ended for stale_usec. 0 or -errno. */
int metrics_http_start(const struct listen_addr *l, uint64_t stale_usec,
		       struct metrics_http **ret);
/* A round ended: what GET /metrics answers from now on (text is taken over,
 * freed here), and /healthz's limit from now on. */
void metrics_http_update(struct metrics_http *h, char *text, size_t len, uint64_t stale_usec);
void metrics_http_stop(struct metrics_http *h);
