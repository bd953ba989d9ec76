/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Arrays that grow by doubling. */
#pragma once

#include <errno.h>
#include <stdlib.h>

/* Room for one more element in *items (n used of *cap, each size bytes): 0, or
 * -ENOMEM with the array as it was. */
static inline int array_grow(void *items, size_t *cap, size_t n, size_t size)
{
	void **p = items, *np;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	np = realloc(*p, ncap * size);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}
