/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Owners of sockets, and their keepalive options, reached through pidfd_getfd. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "diagmsg.h"
#include "reaper.h"

/* inode -> (pid, fd), filled by one walk of /proc/PID/fd for the inodes asked for. */
struct owner_map {
	uint32_t *inode;
	pid_t *pid;
	int *fd;
	size_t cap, n, found;
};

int owner_map_want(struct owner_map *m, uint32_t inode);
int owner_map_scan(struct owner_map *m, const char *proc);
bool owner_map_get(const struct owner_map *m, uint32_t inode, pid_t *pid, int *fd);
void owner_map_free(struct owner_map *m);
void proc_comm(const char *proc, pid_t pid, char comm[16]);

/* A duplicate of the owner's descriptor, checked to be the very socket (by cookie). */
int prober_get_socket(pid_t pid, int fd, uint64_t cookie, int *ret);
/* Save the owner's options and arm probes that start now. */
/* probes_out: unanswered probes the kernel already counts (they add to TCP_KEEPCNT). */
int prober_arm(int sfd, const struct policy *p, uint64_t idle_ms, unsigned probes_out,
	       struct ka_opts *saved);
int prober_restore(int sfd, const struct ka_opts *saved);
/* The socket's TCP state from its owner's side (TCP_CLOSE after a reset). */
int prober_tcp_state(int sfd);
