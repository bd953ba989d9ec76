/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What /proc says about processes: their name, and which of them hold a socket. */
#pragma once

#include <sys/types.h>

#include "owner.h"

/* The process's name, "?" when it cannot be read. */
void proc_comm(const char *proc, pid_t pid, char comm[16]);
/* One walk of every /proc/PID/fd for the inodes m asks for, stopping when all are
 * found; about 5 us a descriptor. 0 or -errno when proc cannot be read. */
int proc_find_owners(struct owner_map *m, const char *proc);
