/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The capabilities kareaper may use, and dropping those the running kernel and
 * the chosen backend do not need, right after start (as chrony and ntpd drop
 * privileges): the unit grants what the oldest supported kernel needs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/capability.h>

#define CAPS_BIT(c) (UINT64_C(1) << (c))

/* The ones kareaper asks for (kareaper(8), THE UNIT); it drops none but these. */
uint64_t caps_managed(void);
/* Those of caps_managed() in the effective set (0 when they cannot be read). */
uint64_t caps_effective(void);
/* Drop every capability of caps_managed() not in keep from the effective,
 * permitted, inheritable and ambient sets: 0 or -errno. */
int caps_drop_but(uint64_t keep);
/* "cap_bpf cap_perfmon", or "none", of the capabilities in mask. */
void caps_names(uint64_t mask, char *buf, size_t len);
