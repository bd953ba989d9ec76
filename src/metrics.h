/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The counters in Prometheus text format: for node_exporter's textfile collector
 * (metrics_file), and served over HTTP (metrics_listen). */
#pragma once

#include "conf.h"
#include "stats.h"

/* The text, in *ret (malloc'd, the caller frees it). 0 or -ENOMEM. */
int metrics_render(const struct stats *st, const struct config *c, char **ret, size_t *len);
/* That text to path, replaced atomically, mode 0644, never written through a
 * planted link. 0 or -errno. */
int metrics_write(const char *path, const char *text, size_t len);
