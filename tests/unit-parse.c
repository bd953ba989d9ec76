/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "parse.h"
#include "tap.h"

static void durations(void)
{
	static const struct {
		const char *in;
		uint64_t ms;
	} good[] = {
		{ "0", 0 }, { "15", 15000 }, { "15s", 15000 }, { "250ms", 250 }, { "10m", 600000 },
		{ "2h", 7200000 }, { "1d", 86400000 }, { "1h30m", 5400000 }, { "1m1s1ms", 61001 },
		{ "49d17h", 4294800000ull },
	};
	static const char *bad[] = { "", "s", "10x", "-5s", "1.5s", "10 s", "1m30", "ms", " 5s", "5s " };
	const char *why;
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ok(parse_duration_ms(good[i].in, &v, &why) == 0, "duration '%s' parses", good[i].in);
		is_u64(v, good[i].ms, "duration '%s' is %llu ms", good[i].in,
		       (unsigned long long)good[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(parse_duration_ms(bad[i], &v, &why) == -EINVAL, "duration '%s' rejected", bad[i]);
	ok(parse_duration_ms("99999999999999999999s", &v, &why) == -ERANGE, "duration overflow");
	ok(parse_duration_ms("18446744073709551s", &v, &why) == -ERANGE,
	   "duration overflow in multiplication");

	char buf[DURATION_STRLEN];
	is_str(format_duration(0, buf, sizeof(buf)), "0s", "format 0");
	is_str(format_duration(5400000, buf, sizeof(buf)), "1h30m", "format 1h30m");
	is_str(format_duration(86400000 + 1, buf, sizeof(buf)), "1d1ms", "format 1d1ms");
}

static void numbers(void)
{
	const char *why;
	uint64_t v;
	unsigned pc;
	bool b;

	ok(parse_uint("1000", 1000, &v, &why) == 0 && v == 1000, "uint at max");
	ok(parse_uint("1001", 1000, &v, &why) == -ERANGE, "uint above max");
	ok(parse_uint("18446744073709551616", UINT64_MAX, &v, &why) == -ERANGE, "uint overflow");
	ok(parse_uint("12a", 1000, &v, &why) == -EINVAL, "uint trailing junk");
	ok(parse_uint("-1", 1000, &v, &why) == -EINVAL, "uint negative");
	ok(parse_uint("", 1000, &v, &why) == -EINVAL, "uint empty");
	ok(parse_percent("50%", &pc, &why) == 0 && pc == 50, "percent 50%%");
	ok(parse_percent("7", &pc, &why) == 0 && pc == 7, "percent without sign");
	ok(parse_percent("101%", &pc, &why) == -ERANGE, "percent above 100");
	ok(parse_percent("5%%", &pc, &why) == -EINVAL, "percent junk");
	ok(parse_bool("Yes", &b, &why) == 0 && b, "bool Yes");
	ok(parse_bool("off", &b, &why) == 0 && !b, "bool off");
	ok(parse_bool("maybe", &b, &why) == -EINVAL, "bool maybe");
}

static void ports(void)
{
	struct port_set ps;
	const char *why;
	char buf[128];

	ok(parse_port_set("6379, 7000-7010 8080", &ps, &why) == 0, "port list parses");
	ok(ps.n == 3, "three ranges");
	ok(port_set_match(&ps, 6379) && port_set_match(&ps, 7000) && port_set_match(&ps, 7010) &&
	   port_set_match(&ps, 8080), "ports in ranges match");
	ok(!port_set_match(&ps, 6380) && !port_set_match(&ps, 6999) && !port_set_match(&ps, 7011),
	   "ports outside do not");
	is_str(port_set_format(&ps, buf, sizeof(buf)), "6379, 7000-7010, 8080", "port list prints");
	port_set_free(&ps);
	ok(parse_port_set("7010-7000", &ps, &why) == -EINVAL && strstr(why, "reversed"),
	   "reversed range rejected");
	ok(parse_port_set("65536", &ps, &why) == -EINVAL, "port 65536 rejected");
	ok(parse_port_set("0", &ps, &why) == -EINVAL, "port 0 rejected");
	ok(parse_port_set("80,", &ps, &why) == -EINVAL, "trailing comma rejected");
	ok(parse_port_set("80,,81", &ps, &why) == -EINVAL, "empty item rejected");
	ok(parse_port_set("http", &ps, &why) == -EINVAL, "names rejected");
	ok(parse_port_set("1-65535", &ps, &why) == 0 && port_set_match(&ps, 1) &&
	   port_set_match(&ps, 65535), "full range");
	port_set_free(&ps);
	ps.n = 0;
	ok(port_set_match(&ps, 1234), "empty set matches any port");
}

static struct kaddr addr(const char *s)
{
	struct kaddr a = { 0 };

	if (inet_pton(AF_INET, s, a.a) == 1) {
		a.family = AF_INET;
	} else {
		inet_pton(AF_INET6, s, a.a);
		a.family = AF_INET6;
	}
	return a;
}

static void cidrs(void)
{
	struct cidr_set cs;
	struct cidr c;
	const char *why;
	struct kaddr a;
	char buf[KADDR_STRLEN];

	ok(parse_cidr("10.0.0.0/8", &c, &why) == 0 && c.plen == 8 && !c.negate, "v4 cidr");
	a = addr("10.200.3.4");
	ok(cidr_match(&c, &a), "10.200.3.4 in 10/8");
	a = addr("11.0.0.1");
	ok(!cidr_match(&c, &a), "11.0.0.1 not in 10/8");
	ok(parse_cidr("192.168.1.77", &c, &why) == 0 && c.plen == 32, "host address is /32");
	ok(parse_cidr("10.0.0.1/8", &c, &why) == -EINVAL, "host bits set rejected");
	ok(parse_cidr("10.0.0.0/33", &c, &why) == -EINVAL, "prefix too long");
	ok(parse_cidr("10.0.0/8", &c, &why) == -EINVAL, "short address rejected");
	ok(parse_cidr("2001:db8::/32", &c, &why) == 0 && c.net.family == AF_INET6, "v6 cidr");
	a = addr("2001:db8:1::5");
	ok(cidr_match(&c, &a), "v6 inside");
	a = addr("2001:db9::5");
	ok(!cidr_match(&c, &a), "v6 outside");
	ok(parse_cidr("2001:db8::/129", &c, &why) == -EINVAL, "v6 prefix too long");
	ok(parse_cidr("10.1.3.0/23", &c, &why) == -EINVAL, "misaligned /23 rejected");
	ok(parse_cidr("10.1.2.0/24", &c, &why) == 0, "/24");
	a = addr("10.1.2.255");
	ok(cidr_match(&c, &a), "last address of /24");
	ok(parse_cidr("::ffff:10.0.0.0/104", &c, &why) == 0 && c.net.family == AF_INET &&
	   c.plen == 8, "v4-mapped prefix becomes v4");
	ok(parse_cidr("0.0.0.0/0", &c, &why) == 0, "/0");
	a = addr("1.2.3.4");
	ok(cidr_match(&c, &a), "/0 matches any v4");
	a = addr("::1");
	ok(!cidr_match(&c, &a), "v4 /0 does not match v6");

	ok(parse_cidr_set("!10.0.0.5, 10.0.0.0/8, 2001:db8::/32", &cs, &why) == 0 && cs.n == 3,
	   "cidr set with negation");
	a = addr("10.0.0.5");
	ok(!cidr_set_match(&cs, &a), "negated address excluded");
	a = addr("10.0.0.6");
	ok(cidr_set_match(&cs, &a), "neighbour included");
	a = addr("172.16.0.1");
	ok(!cidr_set_match(&cs, &a), "outside every positive");
	cidr_set_free(&cs);
	ok(parse_cidr_set("!127.0.0.0/8", &cs, &why) == 0, "negation only");
	a = addr("8.8.8.8");
	ok(cidr_set_match(&cs, &a), "negation only matches the rest");
	a = addr("127.0.0.1");
	ok(!cidr_set_match(&cs, &a), "negation only excludes");
	cidr_set_free(&cs);
	ok(parse_cidr_set("10.0.0.0/8,", &cs, &why) == -EINVAL, "trailing comma");

	a = addr("::ffff:192.0.2.7");
	kaddr_normalize(&a);
	ok(a.family == AF_INET, "v4-mapped normalized to v4");
	is_str(kaddr_format(&a, 80, buf, sizeof(buf)), "192.0.2.7:80", "v4 format");
	a = addr("2001:db8::1");
	kaddr_normalize(&a);
	is_str(kaddr_format(&a, 443, buf, sizeof(buf)), "[2001:db8::1]:443", "v6 format");
}

static void listens(void)
{
	struct listen_addr l;
	const char *why = NULL;

	ok(parse_listen("127.0.0.1:9101", &l, &why) == 0 && l.family == AF_INET && l.port == 9101 &&
	   l.addr[0] == 127 && l.addr[3] == 1 && !strcmp(l.text, "127.0.0.1:9101"), "v4 address:port");
	ok(parse_listen("[::1]:9101", &l, &why) == 0 && l.family == AF_INET6 && l.addr[15] == 1,
	   "[v6]:port");
	ok(parse_listen(":9101", &l, &why) == 0 && l.family == AF_INET6 && l.addr[0] == 0 &&
	   l.port == 9101, ":port: every address");
	ok(parse_listen("::1:9101", &l, &why) == -EINVAL && strstr(why, "brackets"),
	   "v6 without brackets: refused, saying why");
	ok(parse_listen("localhost:9101", &l, &why) == -EINVAL && strstr(why, "not a name"),
	   "a name: refused");
	ok(parse_listen("127.0.0.1:0", &l, &why) == -EINVAL && parse_listen("127.0.0.1:65536", &l, &why) ==
	   -EINVAL && parse_listen("127.0.0.1", &l, &why) == -EINVAL, "bad or missing ports refused");
}

static void escaping(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "redis-server", "redis-server" },
		{ "\033[2J\033[31mX\300\257", "\\x1b[2J\\x1b[31mX\\xc0\\xaf" },
		{ "a\\b", "a\\\\b" },
		{ "tab\there\x7f", "tab\\x09here\\x7f" },
		{ "caf\303\251", "caf\303\251" },               /* U+00E9: kept */
		{ "\302\233x", "\\xc2\\x9bx" },                 /* U+009B (CSI): escaped */
		{ "\355\240\200", "\\xed\\xa0\\x80" },          /* a surrogate */
		{ "\360\237\230\200", "\360\237\230\200" },  /* U+1F600: kept */
		{ "\364\220\200\200", "\\xf4\\x90\\x80\\x80" }, /* above U+10FFFF */
		{ "\340\200\257", "\\xe0\\x80\\xaf" },          /* overlong */
		{ "\303", "\\xc3" },                             /* cut short */
	};
	char buf[STR_ESCAPED_MAX(16)];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		str_escape(cases[i].in, buf, sizeof(buf));
		ok(strcmp(buf, cases[i].want) == 0, "escaped as a terminal may show it: %s", cases[i].want);
	}
	str_escape("\033\033\033\033\033\033\033\033\033\033\033\033\033\033\033", buf, sizeof(buf));
	ok(strlen(buf) == 60, "15 control bytes: 60 characters, in STR_ESCAPED_MAX(16)");
	str_escape("abc\033", buf, 6);
	ok(strcmp(buf, "abc") == 0, "cut at the buffer's end, never inside an escape");
}

/* JSON strings: valid UTF-8, and no byte a terminal acts on, even where JSON
 * would allow it raw (DEL, C1 controls). */
static void json_strings(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "redis", "\"redis\"" },
		{ "q\"b\\", "\"q\\\"b\\\\\"" },
		{ "\033[2J\n", "\"\\u001b[2J\\u000a\"" },
		{ "del\x7f", "\"del\\u007f\"" },
		{ "\302\233x", "\"\\u009bx\"" },         /* U+009B (CSI) */
		{ "X\300\257", "\"X\\ufffd\\ufffd\"" }, /* not UTF-8 */
		{ "caf\303\251", "\"caf\303\251\"" },     /* U+00E9: kept */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&out, &len);

		if (!f)
			continue;
		json_str(f, cases[i].in);
		fclose(f);
		ok(out && strcmp(out, cases[i].want) == 0, "json_str: %s", cases[i].want);
		free(out);
	}
}

int main(void)
{
	durations();
	numbers();
	ports();
	cidrs();
	escaping();
	json_strings();
	listens();
	return done_testing();
}
