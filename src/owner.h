/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Which process holds a socket: a map from socket inode to owner, filled by the
 * backend's owner service for the inodes asked for. Pure: no I/O. Compact: a table
 * of 100 000 rows asks for 100 000 owners, most of them of a few processes. */
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

#define OWNER_MAP_CGROUPS 8

struct owner_map {
	uint32_t *inode;          /* open addressing; 0: empty slot */
	struct owner_slot {
		pid_t pid;
		int fd;
		uint32_t comm;    /* index into comms */
	} *slot;
	char (*comms)[16];        /* process names, one per run of the same name */
	size_t ncomms;
	size_t cap, n, found;
	/* Where to look first: the cgroups the sockets asked for were made in. With
	 * any_cgroup, some socket's is unknown or they are in too many to list. */
	uint64_t cgroups[OWNER_MAP_CGROUPS];
	size_t ncgroups;
	bool any_cgroup;
	/* processes whose descriptors the lookup was not allowed to read: with any,
	 * an owner not found may be one of them */
	size_t unreadable;
};

/* Ask for the owner of inode, a socket made in cgroup (its cgroup v2 id, 0 when
 * unknown: a hint, for where to look first). 0 or -ENOMEM / -EINVAL (inode 0). */
int owner_map_want(struct owner_map *m, uint32_t inode, uint64_t cgroup);
/* Whether inode is asked for and not found yet: what a lookup fills in. */
bool owner_map_wants(const struct owner_map *m, uint32_t inode);
/* Record the owner of an inode asked for; false when it was not (or is found). */
bool owner_map_set(struct owner_map *m, uint32_t inode, pid_t pid, int fd, const char *comm);
/* The owner found for inode into out; false when none was. */
bool owner_map_get(const struct owner_map *m, uint32_t inode, struct owner *out);
bool owner_map_complete(const struct owner_map *m);
void owner_map_free(struct owner_map *m);
