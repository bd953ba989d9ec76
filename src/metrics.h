/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The counters in Prometheus text format, for node_exporter's textfile collector. */
#pragma once

#include "conf.h"
#include "stats.h"

/* path replaced atomically, mode 0644, never written through a planted link.
 * 0 or -errno. */
int metrics_write(const struct stats *st, const struct config *c, const char *path);
