/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The metrics served over HTTP (metrics_listen) with libmicrohttpd: its own
 * thread answers GET /metrics with the latest text the event loop handed it,
 * so a scrape never waits for a scan nor touches the engine. */
#pragma once

#include <stddef.h>

#include "parse.h"

struct metrics_http;

/* Listening on l; the calling thread must have blocked the signals the event
 * loop takes (the server's thread inherits its mask). 0 or -errno. */
int metrics_http_start(const struct listen_addr *l, struct metrics_http **ret);
/* What GET /metrics answers from now on; text is taken over (freed here). */
void metrics_http_update(struct metrics_http *h, char *text, size_t len);
void metrics_http_stop(struct metrics_http *h);
