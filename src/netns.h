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
	uint64_t dev;             /* the nsfs file's device, with ino in its lock's name */
	int fd;                   /* its file, held open while it is watched */
	int lock_fd;              /* one kareaper per namespace; -errno: not locked */
	bool seen;                /* found by the latest discovery */
	bool user;                /* owned by another user namespace (user_namespaces) */
	bool dumped;              /* its latest listing completed */
	uint64_t heard_at;        /* the latest round trip seen completed with a peer
				   * elsewhere (engine's clock; witness.c) */
	uint64_t looked_gen;      /* witness.c: looked at in this batch of verdicts */
};

/* A namespace found but not watched: no policy selects it (namespaces = all),
 * another user's (namespaces = all without user_namespaces), or another kareaper
 * watches it. */
struct netns_passed {
	uint64_t ino;
	bool busy;                /* another kareaper's: tried again at every discovery */
	bool user;                /* owned by a user namespace not kareaper's own */
	bool shortage;            /* descriptors short: tried again at the next discovery */
	bool seen;                /* judged at this discovery: its inode number is its
				   * own only while something holds it, and kareaper
				   * does not */
};

/* A namespace no longer watched, its file kept open while the caller has sockets
 * in it (netns_keep_only): a namespace lives as long as one of its sockets does,
 * with no name and no process in it, and only its file lets kareaper in. */
struct netns_kept {
	uint64_t ino, dev;
	int fd;
};

struct netns_set {
	const struct backend_ops *ops;
	struct netns **ns;
	size_t n;
	struct netns_kept *kept;
	size_t nkept, capkept;
	struct netns_passed *passed;
	size_t npassed, cappassed;
	uint32_t *passed_at;      /* passed's index by inode: open addressing, i + 1
				   * (0: free); NULL: searched in turn */
	size_t passed_slots;
	const struct config *cfg; /* the one that chose them */
	int self_fd;              /* our own network namespace, to return to */
	bool warned_lock;         /* that a namespace could not be locked */
	bool warned_user;         /* that other users' namespaces are not watched */
	uint64_t self_ino;
	uint64_t self_userns;     /* the inode of our own user namespace */
	int fd_budget;            /* namespaces are watched while their files' numbers are below */
	size_t n_user;            /* other users' namespaces found, not watched */
	size_t n_short;           /* namespaces not watched for want of descriptors */
	size_t n_short_warned;    /* what the last warning said */
};

int netns_init(struct netns_set *set, const struct backend_ops *ops);
void netns_finalise(struct netns_set *set);
/* Which namespaces the config asks for: new ones opened, vanished ones closed (what
 * was tracked in them is the caller's to forget: netns_find no longer finds them).
 * A namespace is watched by one kareaper at a time (two would each take the other's
 * armed probes for the owner's options): one that another holds is passed over,
 * with a warning, until it is free. With namespaces = all, so is one no policy
 * selects by name. Returns the number watched, or -errno when the only one asked
 * for cannot be (-EBUSY: another kareaper watches it). */
int netns_discover(struct netns_set *set, const struct config *c);
/* New policies: every namespace passed over is considered again. */
void netns_reconsider(struct netns_set *set);
struct netns *netns_find(const struct netns_set *set, uint64_t ino);
/* A namespace entered for the moment: netns_reach() opens a backend there,
 * netns_leave() closes it. */
struct netns_visit {
	struct backend *be;
	uint64_t ino, dev;
	int lock_fd;
};
/* A backend instance, for a moment, in the namespace of inode ino, which is not
 * watched (a probed socket's, after `ip netns del`, a reload, or an earlier run's):
 * entered through the file kept when it stopped being watched, else its
 * /run/netns name or a process of it; under the namespace's lock, as a watched
 * one. -ENOENT: a complete search found no way in (which proves nothing of its
 * sockets); -EBUSY: another kareaper watches it; another -errno: the search
 * failed. */
int netns_reach(struct netns_set *set, uint64_t ino, struct netns_visit *v);
void netns_leave(struct netns_set *set, struct netns_visit *v);
/* Close the files kept of namespaces no longer watched but those in inos. */
void netns_keep_only(struct netns_set *set, const uint64_t *inos, size_t n);
