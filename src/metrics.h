/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The counters in Prometheus text format, for node_exporter's textfile collector. */
#pragma once

#include "conf.h"
#include "stats.h"

/* Written to path.tmp and renamed over path. 0 or -errno. */
int metrics_write(const struct stats *st, const struct config *c, const char *path);
