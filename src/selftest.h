/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Start-up check: make a loopback TCP pair and destroy it through the backend. */
#pragma once

#include <stddef.h>

#include "backend.h"

/* Proves the kernel and our privileges allow what reaping needs. 0, or -errno with a
 * message in err. */
int selftest_run(const struct backend_ops *ops, char *err, size_t len);
