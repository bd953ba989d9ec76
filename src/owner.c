/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owner.h"

static size_t slot_of(const struct owner_map *m, uint32_t inode)
{
	size_t i = (inode * 2654435761u) & (m->cap - 1);

	while (m->inode[i] && m->inode[i] != inode)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int grow(struct owner_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	uint32_t *inode = calloc(cap, sizeof(*inode));
	struct owner_slot *slot = calloc(cap, sizeof(*slot));
	struct owner_map old = *m;

	if (!inode || !slot) {
		free(inode);
		free(slot);
		return -ENOMEM;
	}
	m->inode = inode;
	m->slot = slot;
	m->cap = cap;
	for (size_t j = 0; j < old.cap; j++)
		if (old.inode[j]) {
			size_t k = slot_of(m, old.inode[j]);

			m->inode[k] = old.inode[j];
			m->slot[k] = old.slot[j];
		}
	free(old.inode);
	free(old.slot);
	return 0;
}

static void want_cgroup(struct owner_map *m, uint64_t cgroup)
{
	size_t i;

	if (m->any_cgroup)
		return;
	for (i = 0; i < m->ncgroups && m->cgroups[i] != cgroup; i++)
		;
	if (i < m->ncgroups)
		return;
	if (!cgroup || m->ncgroups == OWNER_MAP_CGROUPS)
		m->any_cgroup = true;
	else
		m->cgroups[m->ncgroups++] = cgroup;
}

int owner_map_want(struct owner_map *m, uint32_t inode, uint64_t cgroup)
{
	size_t i;

	if (!inode)
		return -EINVAL;
	want_cgroup(m, cgroup);
	if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
		return -ENOMEM;
	i = slot_of(m, inode);
	if (!m->inode[i]) {
		m->inode[i] = inode;
		m->slot[i] = (struct owner_slot){ .fd = -1 };
		m->n++;
	}
	return 0;
}

static struct owner_slot *find(const struct owner_map *m, uint32_t inode)
{
	size_t i;

	if (!m->cap || !inode)
		return NULL;
	i = slot_of(m, inode);
	return m->inode[i] == inode ? &m->slot[i] : NULL;
}

bool owner_map_wants(const struct owner_map *m, uint32_t inode)
{
	const struct owner_slot *s = find(m, inode);

	return s && s->pid == 0;
}

bool owner_map_set(struct owner_map *m, uint32_t inode, pid_t pid, int fd, const char *comm)
{
	struct owner_slot *s = find(m, inode);

	if (!s || s->pid)
		return false;
	if (!m->ncomms || strncmp(m->comms[m->ncomms - 1], comm, sizeof(*m->comms)) != 0) {
		char (*c)[16] = realloc(m->comms, (m->ncomms + 1) * sizeof(*c));

		if (c) {
			m->comms = c;
			snprintf(m->comms[m->ncomms++], sizeof(*c), "%s", comm);
		}
	}
	s->pid = pid;
	s->fd = fd;
	s->comm = m->ncomms ? (uint32_t)(m->ncomms - 1) : UINT32_MAX;
	m->found++;
	return true;
}

bool owner_map_get(const struct owner_map *m, uint32_t inode, struct owner *out)
{
	const struct owner_slot *s = find(m, inode);

	if (!s || !s->pid)
		return false;
	out->pid = s->pid;
	out->fd = s->fd;
	snprintf(out->comm, sizeof(out->comm), "%s", s->comm < m->ncomms ? m->comms[s->comm] : "?");
	return true;
}

bool owner_map_complete(const struct owner_map *m)
{
	return m->found >= m->n;
}

void owner_map_free(struct owner_map *m)
{
	free(m->inode);
	free(m->slot);
	free(m->comms);
	memset(m, 0, sizeof(*m));
}
