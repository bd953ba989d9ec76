/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A 64-bit key spread over all its bits (MurmurHash3's finaliser, halved): for
 * tables indexed by its low bits (socket cookies, namespace inodes). */
#pragma once

#include <stdint.h>

static inline uint64_t hash_u64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return k;
}
