/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The probe journal: what kareaper is about to change on a socket, written to disk
 * before it changes it, so that after a crash, an OOM kill or a watchdog abort the
 * next start puts every owner's options back, and never takes kareaper's own armed
 * values for the owner's. It lives under /run (sockets do not outlive a reboot, nor
 * should it) and is replaced atomically. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/inet_diag.h>

#include "policy.h"

#define JOURNAL_DEFAULT_PATH "/run/kareaper/probes"

struct journal_entry {
	uint64_t netns;           /* inode of the socket's network namespace */
	uint64_t cookie;
	uint32_t inode;           /* to find the owner again */
	uint8_t family;           /* with id: what an exact query by cookie needs, */
	struct inet_diag_sockid id; /* the only proof that the socket is gone */
	struct ka_opts saved;     /* the owner's options, as read from the socket */
	struct ka_opts armed;     /* what kareaper writes: "ours" means exactly these */
	bool lookup;              /* not written: its owner is to be found again */
};

struct journal {
	char *path;
	int lock_fd;              /* flock on path.lock: one kareaper per journal */
	struct journal_entry *e;
	size_t n, cap;
	uint32_t *slot;           /* cookie -> entry index + 1 (0: free), linear probing */
	size_t nslots;            /* a power of two, over twice n */
	bool dirty;               /* memory differs from the file */
	size_t bad_lines;         /* of the file read: lines ignored */
	size_t clamped;           /* of the file read: entries brought into range */
};

/* Take the journal's lock. -EBUSY: another kareaper holds it (two would take each
 * other's armed options for the owners'). Other errors leave it unlocked and usable
 * in memory; writing will then fail, and nothing is armed. */
int journal_init(struct journal *j, const char *path);
void journal_finalise(struct journal *j);
/* Read the file, entry by entry. 0 (also when there is none), or -errno with a
 * message in err. A line that cannot be read costs that line only (bad_lines, the
 * first one's FILE:LINE in err, and the file kept as PATH.damaged); an owner's
 * value the kernel would refuse is put back as the nearest it takes (clamped,
 * likewise). A file that is no journal of this version: -EBADMSG, nothing read
 * (an older kareaper's recorded no values armed, without which nothing can be
 * told to be kareaper's). */
int journal_load(struct journal *j, char *err, size_t len);
/* Pure: entries from the file's text, as journal_load says; err gets "LINE: why". */
int journal_parse(struct journal *j, const char *text, size_t len, char *err, size_t errlen);
/* Write the entries if they changed: a new file in the same directory (random
 * name, O_EXCL|O_NOFOLLOW, so a planted link is never followed), fsync, rename.
 * No entries: the file is removed. 0 or -errno. */
int journal_sync(struct journal *j);

int journal_add(struct journal *j, const struct journal_entry *e);
const struct journal_entry *journal_find(const struct journal *j, uint64_t cookie);
bool journal_remove(struct journal *j, uint64_t cookie);
