/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Pure value parsers shared by the config reader and the tests. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* An address in the form sock_diag hands out, v4 in the first four bytes. */
struct kaddr {
	int family;               /* AF_INET or AF_INET6 */
	uint8_t a[16];
};

struct port_range {
	uint16_t lo, hi;
};

struct port_set {
	struct port_range *r;
	size_t n;                 /* 0: any port */
};

struct cidr {
	struct kaddr net;
	uint8_t plen;
	bool negate;
};

struct cidr_set {
	struct cidr *c;
	size_t n;                 /* 0: any address */
};

/* All parsers return 0 or a negative errno; *why gets a static message. */
int parse_duration_ms(const char *s, uint64_t *ret, const char **why);
int parse_uint(const char *s, uint64_t max, uint64_t *ret, const char **why);
int parse_bool(const char *s, bool *ret, const char **why);
int parse_percent(const char *s, unsigned *ret, const char **why);
int parse_port_set(const char *s, struct port_set *ret, const char **why);
int parse_cidr_set(const char *s, struct cidr_set *ret, const char **why);
int parse_cidr(const char *s, struct cidr *ret, const char **why);

/* An address to listen on: "127.0.0.1:9101", "[::1]:9101", or ":9101" (every
 * address, v6 and v4). text keeps it as written, for the log and --check-config. */
struct listen_addr {
	bool set;
	int family;               /* AF_INET, AF_INET6 */
	uint8_t addr[16];         /* network order; all zeros with :PORT */
	uint16_t port;
	char text[64];
};
int parse_listen(const char *s, struct listen_addr *ret, const char **why);

bool port_set_match(const struct port_set *ps, uint16_t port);
bool cidr_match(const struct cidr *c, const struct kaddr *a);
bool cidr_set_match(const struct cidr_set *cs, const struct kaddr *a);

/* v4-mapped v6 (::ffff:a.b.c.d) becomes plain v4. */
void kaddr_normalize(struct kaddr *a);
/* The decimal digits of v at p, unterminated; returns their end. (The table
 * formats every row twice: snprintf and inet_ntop cost more than the rest.) */
char *put_uint(char *p, unsigned long long v);
/* The length (2 to 4) of the well-formed UTF-8 sequence of a code point above
 * U+007F at s, or 0: overlong forms, surrogates and code points above U+10FFFF
 * are not well formed. */
size_t utf8_seq_len(const unsigned char *s);
/* Whether the well-formed sequence at s is a C1 control character (U+0080 to
 * U+009F, which terminals obey like escapes: U+009B is CSI). */
static inline bool utf8_is_c1(const unsigned char *s)
{
	return s[0] == 0xc2 && s[1] < 0xa0;
}
/* s as a terminal may show it: control characters (C0, DEL, C1) and bytes that
 * are not UTF-8 as \xNN, a backslash as \\, the rest as is (what ss and
 * systemd do with process names). Truncated to len; returns buf. */
#define STR_ESCAPED_MAX(n) (4 * (n) + 1)
char *str_escape(const char *s, char *buf, size_t len);
/* s as a JSON string, always valid UTF-8: quotes, backslashes and control
 * characters (C0, DEL, C1) as \uXXXX, each byte that is not part of
 * well-formed UTF-8 as U+FFFD. */
void json_str(FILE *f, const char *s);
/* "1.2.3.4:80" or "[::1]:80"; buf of at least KADDR_STRLEN. */
#define KADDR_STRLEN 56
char *kaddr_format(const struct kaddr *a, uint16_t port, char *buf, size_t len);

/* "1d2h", "15s", "250ms", "0s"; buf of at least DURATION_STRLEN. */
#define DURATION_STRLEN 48
char *format_duration(uint64_t ms, char *buf, size_t len);

void port_set_free(struct port_set *ps);
void cidr_set_free(struct cidr_set *cs);
char *port_set_format(const struct port_set *ps, char *buf, size_t len);
char *cidr_set_format(const struct cidr_set *cs, char *buf, size_t len);
