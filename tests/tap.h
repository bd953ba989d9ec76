/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Minimal TAP producer for the unit tests (run by automake's tap-driver.sh). */
#pragma once

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...)                                                                  \
	do {                                                                           \
		bool ok_ = (cond);                                                     \
		tap_n++;                                                               \
		if (!ok_)                                                              \
			tap_failed++;                                                  \
		printf("%sok %d - ", ok_ ? "" : "not ", tap_n);                        \
		printf(__VA_ARGS__);                                                   \
		printf("\n");                                                          \
		if (!ok_)                                                              \
			printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
	} while (0)

#define is_u64(got, want, ...)                                                         \
	do {                                                                           \
		unsigned long long g_ = (got), w_ = (want);                            \
		ok(g_ == w_, __VA_ARGS__);                                             \
		if (g_ != w_)                                                          \
			printf("#   got %llu, want %llu\n", g_, w_);                     \
	} while (0)

#define is_str(got, want, ...)                                                         \
	do {                                                                           \
		const char *g_ = (got), *w_ = (want);                                  \
		ok(g_ && strcmp(g_, w_) == 0, __VA_ARGS__);                            \
		if (!g_ || strcmp(g_, w_) != 0)                                        \
			printf("#   got '%s', want '%s'\n", g_ ? g_ : "(null)", w_);   \
	} while (0)

static inline int done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
