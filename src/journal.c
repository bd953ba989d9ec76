/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array.h"
#include "cleanup.h"
#include "fileio.h"
#include "journal.h"

#define MAGIC "# kareaper probe journal 2"
#define MAGIC_V1 "# kareaper probe journal 1"
#define MAX_ENTRIES (1u << 22)

static int open_dir(const char *path, char *dir, size_t len, const char **base);

int journal_init(struct journal *j, const char *path)
{
	_cleanup_close_ int dfd = -1;
	char dir[PATH_MAX], lock[NAME_MAX + 1];
	const char *base;

	memset(j, 0, sizeof(*j));
	j->lock_fd = -1;
	j->path = strdup(path);
	if (!j->path)
		return -ENOMEM;
	dfd = open_dir(path, dir, sizeof(dir), &base);
	if (dfd < 0)
		return dfd;
	if (snprintf(lock, sizeof(lock), "%s.lock", base) >= (int)sizeof(lock))
		return -ENAMETOOLONG;
	/* read-only: a lock taken before the file system turned read-only stays ours */
	j->lock_fd = openat(dfd, lock, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (j->lock_fd < 0)
		return -errno;
	if (flock(j->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int r = errno == EWOULDBLOCK ? -EBUSY : -errno;

		close(j->lock_fd);
		j->lock_fd = -1;
		return r;
	}
	return 0;
}

void journal_finalise(struct journal *j)
{
	if (j->path && j->lock_fd >= 0)
		close(j->lock_fd);
	free(j->path);
	free(j->e);
	free(j->slot);
	memset(j, 0, sizeof(*j));
	j->lock_fd = -1;
}

/* Lookups by cookie are a hash's: a round may ask about tens of thousands of
 * suspects while thousands of sockets are journaled. */
static size_t home(const struct journal *j, uint64_t cookie)
{
	cookie *= 0x9e3779b97f4a7c15ull;
	return (size_t)(cookie ^ cookie >> 32) & (j->nslots - 1);
}

/* The slot that holds cookie, or the free one where it would go (nslots > 0) */
static size_t probe(const struct journal *j, uint64_t cookie)
{
	size_t s = home(j, cookie);

	while (j->slot[s] && j->e[j->slot[s] - 1].cookie != cookie)
		s = (s + 1) & (j->nslots - 1);
	return s;
}

static int rehash(struct journal *j, size_t nslots)
{
	uint32_t *slot = calloc(nslots, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	free(j->slot);
	j->slot = slot;
	j->nslots = nslots;
	for (size_t i = 0; i < j->n; i++)
		j->slot[probe(j, j->e[i].cookie)] = (uint32_t)i + 1;
	return 0;
}

/* Slot s empty again, and those after it that probed past it moved back. */
static void unslot(struct journal *j, size_t s)
{
	size_t mask = j->nslots - 1;

	for (size_t i = (s + 1) & mask; j->slot[i]; i = (i + 1) & mask) {
		size_t h = home(j, j->e[j->slot[i] - 1].cookie);

		/* stays where it is if its home lies in (s, i], cyclically */
		if (s < i ? s < h && h <= i : s < h || h <= i)
			continue;
		j->slot[s] = j->slot[i];
		s = i;
	}
	j->slot[s] = 0;
}

static void clear(struct journal *j)
{
	j->n = 0;
	if (j->slot)
		memset(j->slot, 0, j->nslots * sizeof(*j->slot));
}

int journal_add(struct journal *j, const struct journal_entry *e)
{
	if (journal_find(j, e->cookie))
		return -EEXIST;
	if (j->n >= MAX_ENTRIES || array_grow(&j->e, &j->cap, j->n, sizeof(*j->e)) < 0 ||
	    ((j->n + 1) * 2 > j->nslots && rehash(j, j->nslots ? j->nslots * 2 : 128) < 0))
		return -ENOMEM;
	j->slot[probe(j, e->cookie)] = (uint32_t)j->n + 1;
	j->e[j->n] = *e;
	/* the id carries the entry's cookie, whatever gave it: what an exact query
	 * and a walk by cookie go by */
	j->e[j->n].id.idiag_cookie[0] = (uint32_t)e->cookie;
	j->e[j->n].id.idiag_cookie[1] = (uint32_t)(e->cookie >> 32);
	j->n++;
	j->dirty = true;
	return 0;
}

const struct journal_entry *journal_find(const struct journal *j, uint64_t cookie)
{
	size_t s;

	if (!j->nslots)
		return NULL;
	s = probe(j, cookie);
	return j->slot[s] ? &j->e[j->slot[s] - 1] : NULL;
}

/* The last entry takes the place of the one removed. */
bool journal_remove(struct journal *j, uint64_t cookie)
{
	size_t s, i, last = j->n - 1;

	if (!j->nslots || !j->slot[s = probe(j, cookie)])
		return false;
	i = j->slot[s] - 1;
	unslot(j, s);
	if (i != last) {
		j->slot[probe(j, j->e[last].cookie)] = (uint32_t)i + 1;
		j->e[i] = j->e[last];
	}
	j->n--;
	j->dirty = true;
	return true;
}

/* Five options, as written: keepalive idle intvl cnt user_timeout. */
static int parse_opts(const char *l, struct ka_opts *o, bool *clamped, int *end)
{
	long long ut;
	int ka;

	if (sscanf(l, " %d %d %d %d %lld%n", &ka, &o->idle_s, &o->intvl_s, &o->cnt, &ut,
		   end) != 5 || (ka != 0 && ka != 1))
		return -EBADMSG;
	o->keepalive = ka;
	o->user_timeout_ms = (unsigned)(ut < 0 ? 0 : ut > UINT_MAX ? UINT_MAX : ut);
	*clamped = ut < 0 || ut > UINT_MAX;
	return 0;
}

/* A line of an older kareaper's journal (1): netns cookie inode, the owner's five
 * options. It recorded neither the socket's id nor what it wrote: the options
 * armed are what it may have written, armed or "held" (keepalive on, any
 * TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT, no user timeout). */
static int parse_line_v1(const char *l, struct journal_entry *e, bool *clamped)
{
	uint64_t netns, cookie;
	unsigned inode;
	int end = 0;

	memset(e, 0, sizeof(*e));
	if (sscanf(l, "%" SCNu64 " %" SCNu64 " %u%n", &netns, &cookie, &inode, &end) != 3 ||
	    !cookie || !inode || parse_opts(l + end, &e->saved, clamped, &end) < 0)
		return -EBADMSG;
	e->netns = netns;
	e->cookie = cookie;
	e->inode = inode;
	e->armed = (struct ka_opts){ 1, KA_ANY, KA_ANY, KA_ANY, 0 };
	*clamped |= policy_opts_settable(&e->saved);
	return 0;
}

/* One line: netns cookie inode family local lport peer dport if, then the owner's
 * options and the options armed, five each (parse_opts); family 0 and "-" for the
 * addresses where the socket's id is not known (an older journal's entry). An
 * owner's value that setsockopt() would refuse (a sysctl's TCP_KEEPIDLE of
 * 86400 s, read as the owner's) is brought to the nearest it takes: *clamped
 * says so. */
static int parse_line(const char *l, struct journal_entry *e, bool *clamped)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	unsigned inode, family, sport, dport, ifindex;
	uint64_t netns, cookie;
	int end = 0, n = 0;
	bool c1, c2;

	memset(e, 0, sizeof(*e));
	if (sscanf(l, "%" SCNu64 " %" SCNu64 " %u %u %45s %u %45s %u %u%n", &netns, &cookie,
		   &inode, &family, src, &sport, dst, &dport, &ifindex, &end) != 9)
		return -EBADMSG;
	if (!cookie || !inode || sport > 65535 || dport > 65535)
		return -EBADMSG;
	if (family == 0 ? strcmp(src, "-") || strcmp(dst, "-") :
	    (family != AF_INET && family != AF_INET6) ||
	    inet_pton((int)family, src, e->id.idiag_src) != 1 ||
	    inet_pton((int)family, dst, e->id.idiag_dst) != 1)
		return -EBADMSG;
	if (parse_opts(l + end, &e->saved, &c1, &n) < 0)
		return -EBADMSG;
	end += n;
	if (parse_opts(l + end, &e->armed, &c2, &n) < 0 || l[end + n] != '\0')
		return -EBADMSG;
	e->netns = netns;
	e->cookie = cookie;
	e->inode = inode;
	e->family = (uint8_t)family;
	e->id.idiag_sport = htons((uint16_t)sport);
	e->id.idiag_dport = htons((uint16_t)dport);
	e->id.idiag_if = ifindex;
	*clamped = c1 || c2 || policy_opts_settable(&e->saved);
	return 0;
}

/* The first problem of a journal read line by line, for the log. */
static void problem(struct journal *j, char *err, size_t errlen, size_t lineno, const char *what)
{
	if (!j->bad_lines++)
		snprintf(err, errlen, "%zu: %s", lineno, what);
}

int journal_parse(struct journal *j, const char *text, size_t len, char *err, size_t errlen)
{
	size_t pos = 0, lineno = 0, got = 0;
	bool ended = false, v1 = false;
	char line[512];

	clear(j);
	j->bad_lines = j->clamped = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		struct journal_entry e;
		bool clamped;
		size_t l;

		lineno++;
		if (!nl) {
			problem(j, err, errlen, lineno, "cut short (no newline): that line ignored");
			break;
		}
		l = (size_t)(nl - (text + pos));
		if (l >= sizeof(line) || memchr(text + pos, '\0', l)) {
			if (lineno == 1)
				goto not_a_journal;
			pos += l + 1;
			problem(j, err, errlen, lineno, "not a journal line: ignored");
			continue;
		}
		memcpy(line, text + pos, l);
		line[l] = '\0';
		pos += l + 1;
		if (lineno == 1) {
			if (strcmp(line, MAGIC) == 0)
				v1 = false;
			else if (strcmp(line, MAGIC_V1) == 0)
				v1 = true; /* rewritten as 2 (dirty) */
			else
				goto not_a_journal;
			continue;
		}
		if (strncmp(line, "# end ", 6) == 0 && !ended) {
			char *end;
			unsigned long long n = strtoull(line + 6, &end, 10);

			ended = true;
			if (*end || n != got)
				problem(j, err, errlen, lineno, "the end line's count differs from the "
					"entries read: each entry read is put back");
			continue;
		}
		if (ended)
			problem(j, err, errlen, lineno, "after the end line: read all the same");
		/* one bad line costs that line only: the others are put back */
		if (got >= MAX_ENTRIES ||
		    (v1 ? parse_line_v1(line, &e, &clamped) : parse_line(line, &e, &clamped)) < 0 ||
		    journal_find(j, e.cookie)) {
			problem(j, err, errlen, lineno, "not a valid entry: ignored");
			continue;
		}
		if (journal_add(j, &e) < 0)
			return -ENOMEM;
		if (clamped && !j->clamped++ && !j->bad_lines)
			snprintf(err, errlen, "%zu: a value setsockopt() refuses, put back as the "
				 "nearest it takes (%d s, %d s, %d probes, %u ms)", lineno,
				 e.saved.idle_s, e.saved.intvl_s, e.saved.cnt, e.saved.user_timeout_ms);
		got++;
	}
	if (lineno > 1 && !ended)
		problem(j, err, errlen, lineno, "cut short: no end line; each entry read is put back");
	/* the file is not what memory says: rewrite it */
	j->dirty = j->bad_lines || j->clamped || v1;
	return 0;
not_a_journal:
	snprintf(err, errlen, "1: not a kareaper probe journal");
	clear(j);
	j->dirty = true;
	return -EBADMSG;
}

int journal_load(struct journal *j, char *err, size_t len)
{
	_cleanup_free_ char *text = NULL;
	size_t n = 0;
	char why[160];
	int r;

	clear(j);
	j->dirty = false;
	r = read_whole(j->path, 65536, &text, &n);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		snprintf(err, len, "%s: %s", j->path, r == -ENOMEM ? "out of memory" : strerror(-r));
		return r;
	}
	why[0] = '\0';
	r = journal_parse(j, text, n, why, sizeof(why));
	if (r < 0 || j->bad_lines || j->clamped)
		snprintf(err, len, "%s:%s", j->path, why);
	if (r < 0 || j->bad_lines) {
		/* kept for the operator: what could not be read is not deleted */
		snprintf(why, sizeof(why), "%s.damaged", j->path);
		unlink(why);
		if (link(j->path, why) < 0)
			snprintf(err + strlen(err), len - strlen(err), " (cannot keep a copy: %s)",
				 strerror(errno));
	}
	return r;
}

/* The directory of path, created (0700) when missing: /run/kareaper when run by hand
 * (systemd's RuntimeDirectory= makes it for the service). */
static int open_dir(const char *path, char *dir, size_t len, const char **base)
{
	const char *slash = strrchr(path, '/');

	if (!slash || (size_t)(slash - path) >= len)
		return -EINVAL;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash == path ? 1 : slash - path] = '\0';
	*base = slash + 1;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int journal_sync(struct journal *j)
{
	_cleanup_close_ int dfd = -1;
	_cleanup_free_ char *buf = NULL;
	char dir[PATH_MAX];
	const char *base;
	size_t len = 0, cap;
	int r;

	if (!j->dirty)
		return 0;
	if (j->lock_fd < 0)
		return -ENOLCK; /* not ours to write: journal_init could not lock it */
	dfd = open_dir(j->path, dir, sizeof(dir), &base);
	if (dfd < 0)
		return dfd;
	if (j->n == 0) {
		if (unlinkat(dfd, base, 0) < 0 && errno != ENOENT)
			return -errno;
		j->dirty = false;
		return 0;
	}
	cap = 64 + j->n * 320; /* a line is at most about 240 bytes */
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	len += (size_t)snprintf(buf + len, cap - len, MAGIC "\n");
	for (size_t i = 0; i < j->n; i++) {
		const struct journal_entry *e = &j->e[i];

		char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];

		if (!e->family || !inet_ntop(e->family, e->id.idiag_src, src, sizeof(src)) ||
		    !inet_ntop(e->family, e->id.idiag_dst, dst, sizeof(dst))) {
			strcpy(src, "-");
			strcpy(dst, "-");
		}
		len += (size_t)snprintf(buf + len, cap - len,
					"%" PRIu64 " %" PRIu64 " %u %u %s %u %s %u %u "
					"%d %d %d %d %u %d %d %d %d %u\n", e->netns, e->cookie,
					e->inode, e->family, src, ntohs(e->id.idiag_sport), dst,
					ntohs(e->id.idiag_dport), e->id.idiag_if,
					e->saved.keepalive, e->saved.idle_s, e->saved.intvl_s,
					e->saved.cnt, e->saved.user_timeout_ms, e->armed.keepalive,
					e->armed.idle_s, e->armed.intvl_s, e->armed.cnt,
					e->armed.user_timeout_ms);
	}
	len += (size_t)snprintf(buf + len, cap - len, "# end %zu\n", j->n);
	r = atomic_replace(dfd, base, buf, len, 0600);
	if (r < 0)
		return r;
	j->dirty = false;
	return 0;
}
