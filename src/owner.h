/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Which process holds a socket: a map from socket inode to owner, filled by the
 * backend's owner service for the inodes asked for. Pure: no I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct owner {
	pid_t pid;                /* 0: unknown */
	int fd;                   /* its descriptor in that process; -1: unknown */
	char comm[16];
};

struct owner_map {
	uint32_t *inode;          /* open addressing; 0: empty slot */
	struct owner *owner;
	size_t cap, n, found;
};

/* Ask for the owner of inode. 0 or -ENOMEM / -EINVAL (inode 0). */
int owner_map_want(struct owner_map *m, uint32_t inode);
/* The slot of a wanted inode whose owner is still unknown, else NULL: what a lookup
 * fills in (then counts it in found). */
struct owner *owner_map_slot(struct owner_map *m, uint32_t inode);
/* The owner found for inode, or NULL. */
const struct owner *owner_map_get(const struct owner_map *m, uint32_t inode);
bool owner_map_complete(const struct owner_map *m);
void owner_map_free(struct owner_map *m);
