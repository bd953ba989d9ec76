/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "parse.h"

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Strict decimal: digits only, no sign, no overflow past max. */
static int parse_digits(const char **sp, uint64_t max, uint64_t *ret)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = *s - '0';

		if (v > (max - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*sp = s;
	*ret = v;
	return 0;
}

int parse_uint(const char *s, uint64_t max, uint64_t *ret, const char **why)
{
	uint64_t v;
	int r;

	if (!*s) {
		*why = "empty value";
		return -EINVAL;
	}
	r = parse_digits(&s, max, &v);
	if (r == -ERANGE) {
		*why = "number out of range";
		return r;
	}
	if (r < 0 || *s) {
		*why = "not a non-negative integer";
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int parse_duration_ms(const char *s, uint64_t *ret, const char **why)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = {
		/* longest first, so "ms" is not read as "m" */
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
	};
	uint64_t total = 0;

	if (!*s) {
		*why = "empty value";
		return -EINVAL;
	}
	while (*s) {
		uint64_t n, mult = 0;
		size_t i;
		int r;

		r = parse_digits(&s, UINT64_MAX, &n);
		if (r < 0) {
			*why = r == -ERANGE ? "duration out of range"
					    : "bad duration (use e.g. 250ms, 15s, 10m, 2h, 1d, 1h30m)";
			return r;
		}
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t l = strlen(units[i].suffix);

			if (strncmp(s, units[i].suffix, l) == 0) {
				mult = units[i].ms;
				s += l;
				break;
			}
		}
		if (!mult) {
			if (*s || total) {
				*why = "bad duration (use e.g. 250ms, 15s, 10m, 2h, 1d, 1h30m)";
				return -EINVAL;
			}
			mult = 1000;    /* a bare number is seconds */
		}
		if (n > (UINT64_MAX / 4 - total) / mult) {
			*why = "duration out of range";
			return -ERANGE;
		}
		total += n * mult;
	}
	*ret = total;
	return 0;
}

int parse_bool(const char *s, bool *ret, const char **why)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	*why = *s ? "not a boolean (yes or no)" : "empty value";
	return -EINVAL;
}

int parse_percent(const char *s, unsigned *ret, const char **why)
{
	uint64_t v;
	int r;

	if (!*s) {
		*why = "empty value";
		return -EINVAL;
	}
	r = parse_digits(&s, 1000, &v);
	if (r < 0 || (*s && strcmp(s, "%") != 0)) {
		*why = "not a percentage (e.g. 50%)";
		return -EINVAL;
	}
	if (v > 100) {
		*why = "percentage above 100%";
		return -ERANGE;
	}
	*ret = (unsigned)v;
	return 0;
}

/* Split a comma/space separated list; calls fn on each item. */
static int for_each_item(const char *s, int (*fn)(const char *item, void *ud), void *ud,
			 const char **why)
{
	char item[128];

	s = skip_ws(s);
	if (!*s) {
		*why = "empty value";
		return -EINVAL;
	}
	while (*s) {
		size_t l = strcspn(s, ", \t");
		int r;

		if (l == 0) {
			*why = "empty list item";
			return -EINVAL;
		}
		if (l >= sizeof(item)) {
			*why = "list item too long";
			return -EINVAL;
		}
		memcpy(item, s, l);
		item[l] = '\0';
		r = fn(item, ud);
		if (r < 0)
			return r;
		s = skip_ws(s + l);
		if (*s == ',') {
			s = skip_ws(s + 1);
			if (!*s) {
				*why = "empty list item";
				return -EINVAL;
			}
		}
	}
	return 0;
}

struct port_ctx {
	struct port_set *ps;
	const char **why;
};

static int port_item(const char *item, void *ud)
{
	struct port_ctx *c = ud;
	struct port_range pr, *n;
	const char *s = item;
	uint64_t lo, hi;

	if (parse_digits(&s, 65535, &lo) < 0)
		goto bad;
	hi = lo;
	if (*s == '-') {
		s++;
		if (parse_digits(&s, 65535, &hi) < 0)
			goto bad;
	}
	if (*s)
		goto bad;
	if (lo == 0) {
		*c->why = "port 0 is not a port";
		return -EINVAL;
	}
	if (hi < lo) {
		*c->why = "reversed port range";
		return -EINVAL;
	}
	pr.lo = (uint16_t)lo;
	pr.hi = (uint16_t)hi;
	n = realloc(c->ps->r, (c->ps->n + 1) * sizeof(*n));
	if (!n) {
		*c->why = "out of memory";
		return -ENOMEM;
	}
	c->ps->r = n;
	c->ps->r[c->ps->n++] = pr;
	return 0;
bad:
	*c->why = "bad port or port range (use e.g. 6379, 7000-7010)";
	return -EINVAL;
}

int parse_port_set(const char *s, struct port_set *ret, const char **why)
{
	struct port_set ps = { 0 };
	struct port_ctx c = { &ps, why };
	int r;

	r = for_each_item(s, port_item, &c, why);
	if (r < 0) {
		port_set_free(&ps);
		return r;
	}
	*ret = ps;
	return 0;
}

int parse_cidr(const char *s, struct cidr *ret, const char **why)
{
	char buf[INET6_ADDRSTRLEN + 8];
	struct cidr c = { 0 };
	char *slash;
	int maxlen;

	if (*s == '!') {
		c.negate = true;
		s++;
	}
	if (strlen(s) >= sizeof(buf)) {
		*why = "bad address";
		return -EINVAL;
	}
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, c.net.a) == 1) {
		c.net.family = AF_INET;
		maxlen = 32;
	} else if (inet_pton(AF_INET6, buf, c.net.a) == 1) {
		c.net.family = AF_INET6;
		maxlen = 128;
		kaddr_normalize(&c.net);
		if (c.net.family == AF_INET && !slash)
			maxlen = 32;
	} else {
		*why = "bad address (use e.g. 10.0.0.0/8, 2001:db8::/32, !192.168.1.5)";
		return -EINVAL;
	}
	if (slash) {
		const char *p = slash;
		uint64_t l;

		if (parse_digits(&p, 255, &l) < 0 || *p || l > (uint64_t)maxlen) {
			*why = "bad prefix length";
			return -EINVAL;
		}
		/* ::ffff:0:0/96 and longer collapse onto v4 */
		if (maxlen == 128 && c.net.family == AF_INET) {
			if (l < 96) {
				*why = "a v4-mapped prefix must be at least /96";
				return -EINVAL;
			}
			l -= 96;
		}
		c.plen = (uint8_t)l;
	} else {
		c.plen = c.net.family == AF_INET ? 32 : 128;
	}
	/* Host bits set is almost always a typo for a different network. */
	for (unsigned bit = c.plen; bit < (c.net.family == AF_INET ? 32u : 128u); bit++) {
		if (c.net.a[bit / 8] & (0x80 >> (bit % 8))) {
			*why = "address has bits set beyond its prefix length";
			return -EINVAL;
		}
	}
	*ret = c;
	return 0;
}

struct cidr_ctx {
	struct cidr_set *cs;
	const char **why;
};

static int cidr_item(const char *item, void *ud)
{
	struct cidr_ctx *c = ud;
	struct cidr v, *n;
	int r;

	r = parse_cidr(item, &v, c->why);
	if (r < 0)
		return r;
	n = realloc(c->cs->c, (c->cs->n + 1) * sizeof(*n));
	if (!n) {
		*c->why = "out of memory";
		return -ENOMEM;
	}
	c->cs->c = n;
	c->cs->c[c->cs->n++] = v;
	return 0;
}

int parse_cidr_set(const char *s, struct cidr_set *ret, const char **why)
{
	struct cidr_set cs = { 0 };
	struct cidr_ctx c = { &cs, why };
	int r;

	r = for_each_item(s, cidr_item, &c, why);
	if (r < 0) {
		cidr_set_free(&cs);
		return r;
	}
	*ret = cs;
	return 0;
}

bool port_set_match(const struct port_set *ps, uint16_t port)
{
	if (ps->n == 0)
		return true;
	for (size_t i = 0; i < ps->n; i++)
		if (port >= ps->r[i].lo && port <= ps->r[i].hi)
			return true;
	return false;
}

bool cidr_match(const struct cidr *c, const struct kaddr *a)
{
	unsigned full = c->plen / 8, rest = c->plen % 8;

	if (c->net.family != a->family)
		return false;
	if (memcmp(c->net.a, a->a, full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff00 >> rest);

		if ((c->net.a[full] & mask) != (a->a[full] & mask))
			return false;
	}
	return true;
}

/* Any positive entry must match (if there are any), and no negated one may. */
bool cidr_set_match(const struct cidr_set *cs, const struct kaddr *a)
{
	bool have_pos = false, pos = false;

	for (size_t i = 0; i < cs->n; i++) {
		const struct cidr *c = &cs->c[i];

		if (c->negate) {
			if (cidr_match(c, a))
				return false;
		} else {
			have_pos = true;
			if (cidr_match(c, a))
				pos = true;
		}
	}
	return !have_pos || pos;
}

void kaddr_normalize(struct kaddr *a)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (a->family == AF_INET6 && memcmp(a->a, prefix, 12) == 0) {
		memmove(a->a, a->a + 12, 4);
		memset(a->a + 4, 0, 12);
		a->family = AF_INET;
	}
}

char *put_uint(char *p, unsigned long long v)
{
	char t[20];
	int n = 0;

	do
		t[n++] = (char)('0' + v % 10);
	while (v /= 10);
	while (n)
		*p++ = t[--n];
	return p;
}

char *kaddr_format(const struct kaddr *a, uint16_t port, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN], *p = buf;

	if (len < KADDR_STRLEN) {
		if (len)
			buf[0] = '\0';
		return buf;
	}
	if (a->family == AF_INET) {
		for (int i = 0; i < 4; i++) {
			p = put_uint(p, a->a[i]);
			*p++ = i < 3 ? '.' : ':';
		}
	} else if (a->family == AF_INET6 && inet_ntop(AF_INET6, a->a, ip, sizeof(ip))) {
		*p++ = '[';
		p = stpcpy(p, ip);
		p = stpcpy(p, "]:");
	} else {
		p = stpcpy(p, "?:");
	}
	*put_uint(p, port) = '\0';
	return buf;
}

char *format_duration(uint64_t ms, char *buf, size_t len)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = { { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 } };
	char *p = buf;

	if (len < DURATION_STRLEN) {
		if (len)
			buf[0] = '\0';
		return buf;
	}
	if (ms == 0) {
		strcpy(buf, "0s");
		return buf;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms >= units[i].ms) {
			p = put_uint(p, ms / units[i].ms);
			p = stpcpy(p, units[i].unit);
			ms %= units[i].ms;
		}
	}
	*p = '\0';
	return buf;
}

void port_set_free(struct port_set *ps)
{
	free(ps->r);
	ps->r = NULL;
	ps->n = 0;
}

void cidr_set_free(struct cidr_set *cs)
{
	free(cs->c);
	cs->c = NULL;
	cs->n = 0;
}

char *port_set_format(const struct port_set *ps, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if (ps->n == 0) {
		snprintf(buf, len, "any");
		return buf;
	}
	for (size_t i = 0; i < ps->n && off < len; i++) {
		int n;

		if (ps->r[i].lo == ps->r[i].hi)
			n = snprintf(buf + off, len - off, "%s%u", i ? ", " : "", ps->r[i].lo);
		else
			n = snprintf(buf + off, len - off, "%s%u-%u", i ? ", " : "", ps->r[i].lo,
				     ps->r[i].hi);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	return buf;
}

char *cidr_set_format(const struct cidr_set *cs, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if (cs->n == 0) {
		snprintf(buf, len, "any");
		return buf;
	}
	for (size_t i = 0; i < cs->n && off < len; i++) {
		char ip[INET6_ADDRSTRLEN];
		int n;

		inet_ntop(cs->c[i].net.family, cs->c[i].net.a, ip, sizeof(ip));
		n = snprintf(buf + off, len - off, "%s%s%s/%u", i ? ", " : "",
			     cs->c[i].negate ? "!" : "", ip, cs->c[i].plen);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	return buf;
}

size_t utf8_seq_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;
	unsigned lo = 0x80, hi = 0xbf; /* the second byte's range */

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0; /* ASCII, a continuation byte, C0/C1 (overlong) or F5..FF */
	if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t k = 2; k < n; k++)
		if ((s[k] & 0xc0) != 0x80)
			return 0;
	return n;
}

char *str_escape(const char *s, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t o = 0;

	if (!len)
		return buf;
	while (*u) {
		char tmp[4];
		size_t n = 1, w;
		const char *out = tmp;

		if (*u == '\\') {
			out = "\\\\";
			w = 2;
		} else if (*u >= 0x20 && *u < 0x7f) {
			out = (const char *)u;
			w = 1;
		} else if ((n = utf8_seq_len(u)) > 0 && !utf8_is_c1(u)) {
			out = (const char *)u;
			w = n;
		} else {
			n = 1;
			tmp[0] = '\\';
			tmp[1] = 'x';
			tmp[2] = hex[*u >> 4];
			tmp[3] = hex[*u & 15];
			w = 4;
		}
		if (o + w >= len)
			break;
		memcpy(buf + o, out, w);
		o += w;
		u += n;
	}
	buf[o] = '\0';
	return buf;
}

/* A JSON string, always valid UTF-8: quotes, backslashes and control characters
 * (C0, DEL, C1) escaped as \uXXXX; each byte that is not part of well-formed
 * UTF-8 (a process may name itself anything) as U+FFFD, as kareaper(8) says. */
void json_str(FILE *f, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	fputc('"', f);
	while (*u) {
		size_t n;

		if (*u == '"' || *u == '\\') {
			fprintf(f, "\\%c", *u);
			u++;
		} else if (*u < 0x20 || *u == 0x7f) {
			fprintf(f, "\\u%04x", *u);
			u++;
		} else if (*u < 0x80) {
			fputc(*u++, f);
		} else if ((n = utf8_seq_len(u)) == 0) {
			fputs("\\ufffd", f);
			u++;
		} else if (utf8_is_c1(u)) {
			fprintf(f, "\\u%04x", u[1]); /* U+0080..U+009F */
			u += 2;
		} else {
			fwrite(u, 1, n, f);
			u += n;
		}
	}
	fputc('"', f);
}

int parse_listen(const char *s, struct listen_addr *ret, const char **why)
{
	struct listen_addr l = { .set = true };
	const char *colon = strrchr(s, ':');
	char host[INET6_ADDRSTRLEN + 2];
	uint64_t port;
	size_t hl;

	if (!colon || strlen(s) >= sizeof(l.text)) {
		*why = "expected ADDRESS:PORT, [ADDRESS]:PORT or :PORT";
		return -EINVAL;
	}
	if (parse_uint(colon + 1, 65535, &port, why) < 0 || port == 0) {
		*why = "bad port (1 to 65535)";
		return -EINVAL;
	}
	hl = (size_t)(colon - s);
	if (hl >= sizeof(host)) {
		*why = "bad address";
		return -EINVAL;
	}
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (hl == 0) {
		l.family = AF_INET6; /* every address: [::], which takes v4 too */
	} else if (host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		l.family = AF_INET6;
		if (inet_pton(AF_INET6, host + 1, l.addr) != 1) {
			*why = "bad IPv6 address";
			return -EINVAL;
		}
	} else if (inet_pton(AF_INET, host, l.addr) == 1) {
		l.family = AF_INET;
	} else {
		*why = strchr(host, ':') ? "an IPv6 address goes in brackets: [::1]:9101"
					 : "bad address (an IP address, not a name)";
		return -EINVAL;
	}
	l.port = (uint16_t)port;
	snprintf(l.text, sizeof(l.text), "%s", s);
	*ret = l;
	return 0;
}
