/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "owner.h"

static size_t slot(const struct owner_map *m, uint32_t inode)
{
	size_t i = (inode * 2654435761u) & (m->cap - 1);

	while (m->inode[i] && m->inode[i] != inode)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int grow(struct owner_map *m)
{
	struct owner_map nm = { .cap = m->cap ? m->cap * 2 : 64, .found = m->found };

	nm.inode = calloc(nm.cap, sizeof(*nm.inode));
	nm.owner = calloc(nm.cap, sizeof(*nm.owner));
	if (!nm.inode || !nm.owner) {
		owner_map_free(&nm);
		return -ENOMEM;
	}
	for (size_t j = 0; j < m->cap; j++)
		if (m->inode[j]) {
			size_t k = slot(&nm, m->inode[j]);

			nm.inode[k] = m->inode[j];
			nm.owner[k] = m->owner[j];
			nm.n++;
		}
	owner_map_free(m);
	*m = nm;
	return 0;
}

int owner_map_want(struct owner_map *m, uint32_t inode)
{
	size_t i;

	if (!inode)
		return -EINVAL;
	if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
		return -ENOMEM;
	i = slot(m, inode);
	if (!m->inode[i]) {
		m->inode[i] = inode;
		m->owner[i] = (struct owner){ .fd = -1 };
		m->n++;
	}
	return 0;
}

struct owner *owner_map_slot(struct owner_map *m, uint32_t inode)
{
	size_t i;

	if (!m->cap || !inode)
		return NULL;
	i = slot(m, inode);
	return m->inode[i] == inode && m->owner[i].pid == 0 ? &m->owner[i] : NULL;
}

const struct owner *owner_map_get(const struct owner_map *m, uint32_t inode)
{
	size_t i;

	if (!m->cap || !inode)
		return NULL;
	i = slot(m, inode);
	return m->inode[i] == inode && m->owner[i].pid ? &m->owner[i] : NULL;
}

bool owner_map_complete(const struct owner_map *m)
{
	return m->found >= m->n;
}

void owner_map_free(struct owner_map *m)
{
	free(m->inode);
	free(m->owner);
	memset(m, 0, sizeof(*m));
}
