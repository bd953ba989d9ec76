/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The probe journal: its text, what a damaged one does, atomic rewrite, the lock.
 * And the metrics file, written by the same atomic writer, with planted links. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "metrics.h"
#include "sockrec.h"
#include "tap.h"

#define HDR "# kareaper probe journal 2\n"
/* an entry's socket (family, addresses, ports, interface) and its options armed */
#define T " 2 192.0.2.1 6379 198.51.100.7 40000 0 "
#define A " 1 5 5 127 0"

static int parse(const char *text, size_t *n, char *why)
{
	struct journal j = { .lock_fd = -1 };
	int r = journal_parse(&j, text, strlen(text), why, 160);

	*n = j.n;
	journal_finalise(&j);
	return r;
}

static void text(void)
{
	char why[160];
	size_t n;

	ok(parse("", &n, why) == 0 && n == 0, "an empty file: nothing journaled");
	ok(parse(HDR "4026531840 77 1234" T "0 7200 75 9 0" A "\n"
		     "4026531840 78 1235" T "1 600 30 5 3000" A "\n# end 2\n", &n, why) == 0 && n == 2,
	   "two entries");
	{
		struct journal j = { .lock_fd = -1 };
		const char *t = HDR "1 77 1234" T "0 86400 75 9 0" A "\n1 78 1235" T "1 600 40000 300 4294967295" A "\n# end 2\n";

		ok(journal_parse(&j, t, strlen(t), why, sizeof(why)) == 0 && j.n == 2 && j.clamped == 2 &&
		   j.e[0].saved.idle_s == KR_MAX_KEEPIDLE_S && j.e[1].saved.intvl_s == KR_MAX_KEEPINTVL_S &&
		   j.e[1].saved.cnt == KR_MAX_KEEPCNT && j.e[1].saved.user_timeout_ms == INT_MAX &&
		   strstr(why, "2: a value setsockopt() refuses") && j.dirty,
		   "values setsockopt() refuses (a sysctl's 86400 s): kept, as the nearest it takes (%s)", why);
		journal_finalise(&j);
	}
	/* one bad line costs that line only */
	static const struct {
		const char *text, *why;
		size_t n;
	} bad[] = {
		{ HDR "4026531840 77 1234" T "0 7200 75 9 0" A "\n", "cut short: no end line", 1 },
		{ HDR "4026531840 77 1234" T "0 7200 75 9 0" A "\n# end 2\n", "the end line's count", 1 },
		{ HDR "4026531840 77 1234" T "0 7200 75 9 0" A "\n# end 1", "no newline", 1 },
		{ HDR "4026531840 77 1234" T "0 7200 75 9 0" A "\n4026531840 78 1234" T "0 7200 75 9 0" A "\n"
		      "4026531840 79 1234 0 7200 75", "4: cut short (no newline)", 2 },
		{ HDR "4026531840 77 1234" T "2 7200 75 9 0" A "\n# end 1\n", "2: not a valid entry", 0 },
		{ HDR "4026531840 0 1234" T "0 7200 75 9 0" A "\n# end 1\n", "not a valid entry", 0 },
		{ HDR "4026531840 77 1234" T "0 7200 75 9" A "\n# end 1\n", "not a valid entry", 0 },
		{ HDR "4026531840 77 1234" T "0 7200 75 9 0" A " x\n# end 1\n", "not a valid entry", 0 },
		{ HDR "1 77 1234" T "0 7200 75 9 0" A "\n1 77 1234" T "0 7200 75 9 0" A "\n# end 2\n",
		  "3: not a valid entry", 1 },
		{ HDR "1 76 1234" T "0 7200 75 9 0" A "\nnonsense\n1 77 1234" T "0 7200 75 9 0" A "\n# end 3\n",
		  "3: not a valid entry", 2 },
		{ HDR "# end 0\n1 77 1234" T "0 7200 75 9 0" A "\n", "3: after the end line", 1 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = parse(bad[i].text, &n, why);

		ok(r == 0 && n == bad[i].n && strstr(why, bad[i].why),
		   "damaged journal %zu: %zu entries kept, the bad line reported (%s)", i, bad[i].n, why);
	}
	{
		/* an older kareaper's (1): no id, no options armed; what it may have
		 * written (armed or held) is taken as its, and the file rewritten as 2 */
		const char *t = "# kareaper probe journal 1\n4026531840 77 1234 0 7200 75 9 0\n"
				"4026531840 78 1235 1 25 5 3 0\n# end 2\n";
		struct journal j = { .lock_fd = -1 };
		const struct ka_opts any = { 1, KA_ANY, KA_ANY, KA_ANY, 0 };

		ok(journal_parse(&j, t, strlen(t), why, sizeof(why)) == 0 && j.n == 2 && j.dirty &&
		   j.e[0].family == 0 && !memcmp(&j.e[0].armed, &any, sizeof(any)) &&
		   j.e[1].saved.cnt == 3 && j.e[1].saved.keepalive == 1,
		   "an older kareaper's journal: read, what it may have written taken as its");
		journal_finalise(&j);
	}
	ok(parse("garbage\n", &n, why) == -EBADMSG && n == 0 &&
	   strstr(why, "not a kareaper probe journal"), "no journal at all: refused, nothing read");
	{
		char nul[] = HDR "1 77 1234" T "0 7200 75 9 0" A "\n# end 1\n";
		struct journal j = { .lock_fd = -1 };

		nul[sizeof(HDR) + 3] = '\0';
		ok(journal_parse(&j, nul, sizeof(nul) - 1, why, sizeof(why)) == 0 && j.n == 0 &&
		   strstr(why, "2: not a journal line"), "a NUL inside a line: that line refused");
		journal_finalise(&j);
	}
}

static void file(void)
{
	char dir[] = "/tmp/kareaper-journal.XXXXXX", path[256], err[256], tmp[300];
	struct journal j, k;
	struct journal_entry e = { .netns = 4026531840u, .cookie = 99, .inode = 4242,
				   .family = AF_INET6, .saved = { 1, 600, 30, 5, 3000 },
				   .armed = { 1, 5, 5, 127, 0 } };
	struct stat st;

	e.id.idiag_dport = htons(40000);
	inet_pton(AF_INET6, "2001:db8::7", e.id.idiag_dst);
	ok(mkdtemp(dir) != NULL, "a directory");
	snprintf(path, sizeof(path), "%s/run/probes", dir);
	ok(journal_init(&j, path) == 0, "journal_init creates its directory and takes the lock");
	ok(journal_init(&k, path) == -EBUSY, "a second holder is refused: EBUSY");
	journal_finalise(&k);
	ok(journal_load(&j, err, sizeof(err)) == 0 && j.n == 0, "no file yet: empty");
	ok(journal_add(&j, &e) == 0 && journal_add(&j, &e) == -EEXIST, "one entry per cookie");
	ok(journal_sync(&j) == 0 && stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
	   "written, mode 0600");
	j.n = 0;
	ok(journal_load(&j, err, sizeof(err)) == 0 && j.n == 1 &&
	   memcmp(&j.e[0].saved, &e.saved, sizeof(e.saved)) == 0 &&
	   memcmp(&j.e[0].armed, &e.armed, sizeof(e.armed)) == 0 && j.e[0].inode == 4242 &&
	   j.e[0].family == AF_INET6 && j.e[0].id.idiag_cookie[0] == 99 &&
	   !memcmp(j.e[0].id.idiag_dst, e.id.idiag_dst, 16) && ntohs(j.e[0].id.idiag_dport) == 40000,
	   "read back as written: the socket's id (an exact query's), the options read and armed");
	{
		struct journal_entry old = { .netns = 1, .cookie = 7, .inode = 8,
					     .saved = { 0, 7200, 75, 9, 0 },
					     .armed = { 1, KA_ANY, KA_ANY, KA_ANY, 0 } };

		journal_add(&j, &old);
		ok(journal_sync(&j) == 0 && journal_load(&j, err, sizeof(err)) == 0 && j.n == 2 &&
		   journal_find(&j, 7) && journal_find(&j, 7)->family == 0 &&
		   journal_find(&j, 7)->armed.cnt == KA_ANY,
		   "an older journal's entry, without an id, written and read back as such");
		journal_remove(&j, 7);
	}
	ok(journal_remove(&j, 99) && journal_sync(&j) == 0 && stat(path, &st) < 0,
	   "the last entry removed: the file is gone");
	journal_add(&j, &e);
	journal_finalise(&j);
	ok(journal_init(&k, path) == 0, "the lock is free once finalised");
	/* a planted link where the file goes is replaced, never written through */
	snprintf(tmp, sizeof(tmp), "%s/victim", dir);
	fclose(fopen(tmp, "w"));
	ok(symlink(tmp, path) == 0, "a symlink planted at the journal's path");
	ok(journal_add(&k, &e) == 0 && journal_sync(&k) == 0, "written");
	ok(lstat(path, &st) == 0 && S_ISREG(st.st_mode), "the link replaced by the file");
	ok(stat(tmp, &st) == 0 && st.st_size == 0, "the link's target untouched");
	journal_remove(&k, 99);
	journal_sync(&k);
	journal_finalise(&k);
	snprintf(tmp, sizeof(tmp), "rm -rf '%s'", dir);
	ok(system(tmp) == 0, "cleaned up");
}

static void metrics(void)
{
	char dir[] = "/tmp/kareaper-metrics.XXXXXX", path[256], link[300], victim[300], cmd[300];
	struct config *c = config_from("[policy p]\nlocal_port = 1\n");
	struct stats st = { .scans = 7 };
	struct stat sb;
	FILE *f;
	char line[128];
	bool seen = false;

	ok(c && mkdtemp(dir) != NULL, "a config and a directory");
	if (!c)
		return;
	snprintf(path, sizeof(path), "%s/kareaper.prom", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	fclose(fopen(victim, "w"));
	/* the names an attacker could guess: the file itself and the old path.tmp */
	snprintf(link, sizeof(link), "%s.tmp", path);
	ok(symlink(victim, link) == 0 && symlink(victim, path) == 0, "links planted");
	umask(077);
	{
		char *text = NULL;
		size_t len = 0;

		ok(metrics_render(&st, c, &text, &len) == 0 && metrics_write(path, text, len) == 0,
		   "metrics written under umask 077");
		free(text);
	}
	ok(lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 0777) == 0644,
	   "a regular file, mode 0644, where the link was");
	ok(stat(victim, &sb) == 0 && sb.st_size == 0, "the links' target untouched");
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		seen |= strcmp(line, "kareaper_scans_total 7\n") == 0;
	if (f)
		fclose(f);
	ok(seen, "with the counters");
	umask(022);
	config_free(c);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ok(system(cmd) == 0, "cleaned up");
}

/* Lookups by cookie against a plain list, through adds and removes that move
 * entries, with random cookies (so some share a home slot and probe on) and a
 * table that grows on the way. */
static void lookups(void)
{
	enum { N = 3000 };
	static uint64_t cookie[N];
	static bool in[N];
	struct journal j = { .lock_fd = -1 };
	size_t n = 0, bad = 0;
	uint64_t x = 88172645463325252ull;

	for (size_t i = 0; i < N; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		cookie[i] = x;
	}
	for (int round = 0; round < 20000; round++) {
		size_t i;
		bool was;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		i = x % N;
		was = in[i];
		if (x >> 60 < 9) {
			struct journal_entry e = { .cookie = cookie[i], .inode = (uint32_t)i };

			bad += journal_add(&j, &e) != (was ? -EEXIST : 0);
			n += !was;
			in[i] = true;
		} else {
			bad += journal_remove(&j, cookie[i]) != was;
			n -= was;
			in[i] = false;
		}
		if (round % 1000 == 0)
			for (size_t k = 0; k < N; k++) {
				const struct journal_entry *f = journal_find(&j, cookie[k]);

				bad += in[k] ? !f || f->cookie != cookie[k] || f->inode != k : f != NULL;
			}
	}
	is_u64(bad, 0, "20000 random adds and removes: every lookup as a list says");
	is_u64(j.n, n, "as many entries as the list holds");
	for (size_t k = 0; k < N; k++)
		if (in[k])
			journal_remove(&j, cookie[k]);
	ok(j.n == 0 && !journal_find(&j, cookie[0]) && !journal_find(&j, cookie[1]),
	   "all removed: none found");
	journal_finalise(&j);
}

int main(void)
{
	lookups();
	text();
	file();
	metrics();
	return done_testing();
}
