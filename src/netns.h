/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The network namespaces being watched, found again before every scan, each with
 * its own backend instance opened from inside it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "conf.h"

struct netns {
	uint64_t ino;             /* identity: inode of its nsfs file */
	char name[64];            /* /run/netns name, owning process comm, or "self" */
	struct backend *be;
	bool seen;                /* found by the latest discovery */
	bool dumped;              /* its latest listing completed */
};

struct netns_set {
	const struct backend_ops *ops;
	struct netns **ns;
	size_t n;
	int self_fd;              /* our own network namespace, to return to */
	uint64_t self_ino;
};

int netns_init(struct netns_set *set, const struct backend_ops *ops);
void netns_finalise(struct netns_set *set);
/* Which namespaces the config asks for: new ones opened, vanished ones closed (what
 * was tracked in them is the caller's to forget: netns_find no longer finds them).
 * Returns the number watched, or -errno when the only one asked for cannot be. */
int netns_discover(struct netns_set *set, const struct config *c);
struct netns *netns_find(const struct netns_set *set, uint64_t ino);
