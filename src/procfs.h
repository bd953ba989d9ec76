/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What /proc says about processes: their name, and which of them hold a socket. */
#pragma once

#include <sys/types.h>

#include "owner.h"

/* /proc/PID (pid as /proc names it) as a directory descriptor, or -errno. What is
 * read through it is that process's, or nothing once it has exited: never that
 * of a process that got its pid since. */
int proc_pid_open(const char *proc, const char *pid);
/* The name of the process whose /proc/PID is piddir; "?" when it cannot be read. */
void proc_comm(int piddir, char comm[16]);
/* One walk of every /proc/PID/fd for the inodes m asks for, stopping when all are
 * found; about 5 us a descriptor. 0 or -errno when proc cannot be read. */
int proc_find_owners(struct owner_map *m, const char *proc);
