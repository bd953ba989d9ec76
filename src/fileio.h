/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Files read whole; files replaced whole, never seen half-written and never
 * written through a link. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* The whole of path into *buf (malloc'd, *len bytes; first hint bytes, doubled as
 * needed): 0, or -errno (-ENOENT: no such file) with *buf NULL. */
int read_whole(const char *path, size_t hint, char **buf, size_t *len);
/* Replace base in the directory dfd with buf: a new file under a random name there
 * (O_CREAT|O_EXCL|O_NOFOLLOW: whatever was planted under any name is never opened),
 * mode set whatever the umask, fsync, rename over base, fsync of the directory.
 * 0 or -errno; on failure base is as it was. */
int atomic_replace(int dfd, const char *base, const void *buf, size_t len, mode_t mode);
/* The same for a path: its directory opened first. */
int atomic_replace_path(const char *path, const void *buf, size_t len, mode_t mode);
