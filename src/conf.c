/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "conf.h"

/* inih splits lines at INI_MAX_LINE (200) bytes including "\r\n\0"; reject anything
 * that would be split rather than let the rest be read as a line of its own. */
#define KR_MAX_LINE 197

enum section { SEC_NONE, SEC_GLOBAL, SEC_POLICY };

struct parse_ctx {
	FILE *f;
	const char *path;         /* the file being read */
	unsigned line;
	struct config *c;
	enum section sec;
	uint64_t seen;            /* keys already set in this section */
	bool global_seen;         /* in this file */
	size_t file_policies;     /* policies before this file */
	const struct keepalive_defaults *def;
	char *err;
	size_t errlen;
	bool failed;
};

static void fail(struct parse_ctx *p, const char *fmt, ...)
{
	size_t off;
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	off = (size_t)snprintf(p->err, p->errlen, "%s:%u: ", p->path, p->line);
	if (off >= p->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err + off, p->errlen - off, fmt, ap);
	va_end(ap);
}

static const char *const state_names[] = {
	[1] = "established", [2] = "syn-sent", [3] = "syn-recv", [4] = "fin-wait-1",
	[5] = "fin-wait-2", [6] = "time-wait", [7] = "close", [8] = "close-wait",
	[9] = "last-ack", [10] = "listen", [11] = "closing",
};

const char *tcp_state_name(unsigned state)
{
	if (state < sizeof(state_names) / sizeof(state_names[0]) && state_names[state])
		return state_names[state];
	return "unknown";
}

static const char *const level_names[] = {
	[LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

const char *log_level_name(int level)
{
	if (level >= LOG_ERR && level <= LOG_DEBUG && level_names[level])
		return level_names[level];
	return "?";
}

const char *policy_action_name(enum policy_action a)
{
	switch (a) {
	case ACTION_PROBE:
		return "probe";
	case ACTION_KILL_IDLE:
		return "kill-idle";
	case ACTION_IGNORE:
		return "ignore";
	}
	return "?";
}

static bool valid_utf8(const unsigned char *s)
{
	while (*s) {
		unsigned n;
		uint32_t cp;

		if (*s < 0x80) {
			s++;
			continue;
		} else if ((*s & 0xe0) == 0xc0) {
			n = 1;
			cp = *s & 0x1f;
		} else if ((*s & 0xf0) == 0xe0) {
			n = 2;
			cp = *s & 0x0f;
		} else if ((*s & 0xf8) == 0xf0) {
			n = 3;
			cp = *s & 0x07;
		} else {
			return false;
		}
		s++;
		for (unsigned i = 0; i < n; i++, s++) {
			if ((*s & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (*s & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
	}
	return true;
}

static bool valid_name(const char *s)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

static void strv_free(char **v)
{
	if (v)
		for (char **s = v; *s; s++)
			free(*s);
	free(v);
}

static void policy_init(struct policy *p, const struct keepalive_defaults *def)
{
	memset(p, 0, sizeof(*p));
	p->states = 1u << 1; /* established */
	p->idle_ms = def->idle_ms;
	p->interval_ms = def->interval_ms;
	p->probes = def->probes;
	p->action = ACTION_PROBE;
}

static void policy_free(struct policy *p)
{
	free(p->name);
	port_set_free(&p->local_port);
	port_set_free(&p->remote_port);
	cidr_set_free(&p->local_addr);
	cidr_set_free(&p->remote_addr);
	strv_free(p->process);
	strv_free(p->netns);
}

static void begin_section(struct parse_ctx *p, char *hdr)
{
	char *end = strchr(hdr, ']'), *name, *rest;
	struct config *c = p->c;

	if (!end) {
		fail(p, "section header without closing ']'");
		return;
	}
	*end = '\0';
	for (rest = end + 1; *rest == ' ' || *rest == '\t'; rest++)
		;
	if (*rest && *rest != ';' && *rest != '#') {
		fail(p, "text after section header");
		return;
	}
	name = hdr + 1;
	while (*name == ' ' || *name == '\t')
		name++;
	for (char *t = end - 1; t >= name && (*t == ' ' || *t == '\t'); t--)
		*t = '\0';

	p->seen = 0;
	if (strcmp(name, "global") == 0) {
		if (p->global_seen) {
			fail(p, "duplicate section [global]");
			return;
		}
		if (c->n_policies > p->file_policies) {
			fail(p, "[global] must come before the first [policy]");
			return;
		}
		p->global_seen = true;
		p->sec = SEC_GLOBAL;
		return;
	}
	if (strncmp(name, "policy", 6) == 0 && (name[6] == ' ' || name[6] == '\t')) {
		struct policy *np;

		name += 7;
		while (*name == ' ' || *name == '\t')
			name++;
		if (!valid_name(name)) {
			fail(p, "bad policy name '%s' (letters, digits, '-', '_', '.'; at most 64)",
			     name);
			return;
		}
		for (size_t i = 0; i < c->n_policies; i++)
			if (strcmp(c->policies[i].name, name) == 0) {
				fail(p, "duplicate policy name '%s' (first at %s:%u)", name,
				     c->policies[i].file, c->policies[i].line);
				return;
			}
		np = realloc(c->policies, (c->n_policies + 1) * sizeof(*np));
		if (!np) {
			fail(p, "out of memory");
			return;
		}
		c->policies = np;
		policy_init(&np[c->n_policies], p->def);
		np[c->n_policies].name = strdup(name);
		np[c->n_policies].file = p->path;
		np[c->n_policies].line = p->line;
		if (!np[c->n_policies].name) {
			fail(p, "out of memory");
			return;
		}
		c->n_policies++;
		p->sec = SEC_POLICY;
		return;
	}
	if (strcmp(name, "policy") == 0)
		fail(p, "[policy] needs a name: [policy NAME]");
	else
		fail(p, "unknown section [%s] (expected [global] or [policy NAME])", name);
}

/* Our own line reader: counts lines (Debian's inih has no INI_HANDLER_LINENO), checks
 * encoding and length, handles section headers, and turns off inih's continuation lines
 * by stripping leading blanks. Returning NULL ends the parse. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse_ctx *p = stream;
	char buf[4096];
	size_t len;
	char *s;

	if (p->failed)
		return NULL;
	if (!fgets(buf, sizeof(buf), p->f)) {
		if (ferror(p->f)) {
			p->line++;
			fail(p, "read error: %s", strerror(errno));
		}
		return NULL;
	}
	p->line++;
	len = strlen(buf);
	if (len + 1 == sizeof(buf) && buf[len - 1] != '\n') {
		fail(p, "line too long (at most %d characters)", KR_MAX_LINE);
		return NULL;
	}
	if (len && !feof(p->f) && buf[len - 1] != '\n') {
		/* fgets stopped early: only an embedded NUL does that */
		fail(p, "NUL byte in line");
		return NULL;
	}
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	s = buf;
	if (p->line == 1 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	if (!valid_utf8((unsigned char *)s)) {
		fail(p, "not valid UTF-8 text");
		return NULL;
	}
	if (strlen(s) > KR_MAX_LINE || strlen(s) + 2 > (size_t)num) {
		fail(p, "line too long (at most %d characters)", KR_MAX_LINE);
		return NULL;
	}
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '[') {
		char hdr[KR_MAX_LINE + 1];

		strcpy(hdr, s);
		begin_section(p, hdr);
		if (p->failed)
			return NULL;
	}
	snprintf(str, (size_t)num, "%s\n", s);
	return str;
}

enum key {
	K_SCAN_INTERVAL, K_DRY_RUN, K_MAX_REAPS_PER_SCAN, K_MAX_REAPS_PER_MINUTE,
	K_MAX_PROBES_PER_SCAN, K_BREAKER_SHARE,
	K_BREAKER_MIN_PROBES, K_LOG_LEVEL, K_NAMESPACES, K_METRICS_FILE,
	K_PROBE_JOURNAL, K_BACKEND,
	K_LOCAL_PORT, K_REMOTE_PORT, K_LOCAL_ADDR, K_REMOTE_ADDR, K_STATES, K_PROCESS, K_IDLE,
	K_INTERVAL, K_PROBES, K_ACTION, K_POLICY_DRY_RUN, K_NETNS,
};

static const struct {
	const char *name;
	enum section sec;
	enum key key;
} keys[] = {
	{ "scan_interval", SEC_GLOBAL, K_SCAN_INTERVAL },
	{ "dry_run", SEC_GLOBAL, K_DRY_RUN },
	{ "max_reaps_per_scan", SEC_GLOBAL, K_MAX_REAPS_PER_SCAN },
	{ "max_reaps_per_minute", SEC_GLOBAL, K_MAX_REAPS_PER_MINUTE },
	{ "max_probes_per_scan", SEC_GLOBAL, K_MAX_PROBES_PER_SCAN },
	{ "breaker_share", SEC_GLOBAL, K_BREAKER_SHARE },
	{ "breaker_min_probes", SEC_GLOBAL, K_BREAKER_MIN_PROBES },
	{ "log_level", SEC_GLOBAL, K_LOG_LEVEL },
	{ "namespaces", SEC_GLOBAL, K_NAMESPACES },
	{ "metrics_file", SEC_GLOBAL, K_METRICS_FILE },
	{ "probe_journal", SEC_GLOBAL, K_PROBE_JOURNAL },
	{ "backend", SEC_GLOBAL, K_BACKEND },
	{ "local_port", SEC_POLICY, K_LOCAL_PORT },
	{ "remote_port", SEC_POLICY, K_REMOTE_PORT },
	{ "local_addr", SEC_POLICY, K_LOCAL_ADDR },
	{ "remote_addr", SEC_POLICY, K_REMOTE_ADDR },
	{ "states", SEC_POLICY, K_STATES },
	{ "process", SEC_POLICY, K_PROCESS },
	{ "netns", SEC_POLICY, K_NETNS },
	{ "idle", SEC_POLICY, K_IDLE },
	{ "interval", SEC_POLICY, K_INTERVAL },
	{ "probes", SEC_POLICY, K_PROBES },
	{ "action", SEC_POLICY, K_ACTION },
	{ "dry_run", SEC_POLICY, K_POLICY_DRY_RUN },
};

static int set_states(const char *v, uint32_t *ret, const char **why)
{
	uint32_t mask = 0;
	char buf[KR_MAX_LINE + 1], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		unsigned st;

		for (st = 1; st < sizeof(state_names) / sizeof(state_names[0]); st++)
			if (strcmp(tok, state_names[st]) == 0)
				break;
		if (st == sizeof(state_names) / sizeof(state_names[0])) {
			*why = "unknown TCP state (established, fin-wait-1, fin-wait-2, close-wait, "
			       "last-ack, closing)";
			return -EINVAL;
		}
		if (!(KR_SELECTABLE_STATES & (1u << st))) {
			*why = "listening, connecting, time-wait and closed sockets are never reaped";
			return -EINVAL;
		}
		mask |= 1u << st;
	}
	if (!mask) {
		*why = "empty value";
		return -EINVAL;
	}
	*ret = mask;
	return 0;
}

enum word_kind { WORD_COMM, WORD_GLOB, WORD_PATH };

/* A list of words: process names, namespace name globs, or absolute paths. */
static int set_words(const char *v, enum word_kind kind, char ***ret, const char **why)
{
	char buf[KR_MAX_LINE + 1], *tok, *save = NULL;
	char **list = NULL;
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		char **nl;

		if (kind == WORD_COMM && strlen(tok) > 15) {
			*why = "process names are at most 15 characters (the kernel's comm)";
			goto err;
		}
		if (kind == WORD_PATH && tok[0] != '/') {
			*why = "self, all, or absolute paths (/run/netns/NAME, /proc/PID/ns/net)";
			goto err;
		}
		nl = realloc(list, (n + 2) * sizeof(*nl));
		if (!nl)
			goto oom;
		list = nl;
		list[n] = strdup(tok);
		if (!list[n])
			goto oom;
		list[++n] = NULL;
	}
	if (!n) {
		*why = "empty value";
		return -EINVAL;
	}
	*ret = list;
	return 0;
oom:
	*why = "out of memory";
err:
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
	return -EINVAL;
}

static int set_seconds(const char *v, uint64_t min_ms, uint64_t max_ms, uint64_t *ret,
		       const char **why)
{
	uint64_t ms;
	int r = parse_duration_ms(v, &ms, why);

	if (r < 0)
		return r;
	if (ms % 1000) {
		*why = "must be whole seconds (the kernel's keepalive timers count seconds)";
		return -EINVAL;
	}
	if (ms < min_ms || ms > max_ms) {
		*why = ms < min_ms ? "too short" : "too long";
		return -ERANGE;
	}
	*ret = ms;
	return 0;
}

/* A count from 1 to max; zero_why (or "must be at least 1") says why 0 is refused. */
#define REAP_COUNT_WHY "must be at least 1 (use dry_run = yes to reap nothing)"
static int parse_count(const char *value, uint64_t max, const char *zero_why, unsigned *ret,
		       const char **why)
{
	uint64_t u;
	int r = parse_uint(value, max, &u, why);

	if (r == 0 && u == 0) {
		*why = zero_why ? zero_why : "must be at least 1";
		return -ERANGE;
	}
	if (r == 0)
		*ret = (unsigned)u;
	return r;
}

static int handle_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *p = user;
	struct config *c = p->c;
	struct policy *pol = c->n_policies ? &c->policies[c->n_policies - 1] : NULL;
	const char *why = NULL;
	uint64_t u;
	size_t i;
	int r = 0;

	(void)section;
	if (p->failed)
		return 0;
	if (p->sec == SEC_NONE) {
		fail(p, "'%s' outside any section (start with [global] or [policy NAME])", name);
		return 0;
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].sec == p->sec && strcmp(keys[i].name, name) == 0)
			break;
	if (i == sizeof(keys) / sizeof(keys[0])) {
		fail(p, "unknown key '%s' in [%s]", name, p->sec == SEC_GLOBAL ? "global" : "policy");
		return 0;
	}
	if (p->seen & (1ull << keys[i].key)) {
		fail(p, "duplicate key '%s'", name);
		return 0;
	}
	p->seen |= 1ull << keys[i].key;
	if (!*value) {
		fail(p, "%s: empty value", name);
		return 0;
	}

	switch (keys[i].key) {
	case K_SCAN_INTERVAL:
		r = parse_duration_ms(value, &u, &why);
		if (r == 0 && (u < 100 || u > 86400000ull)) {
			why = "must be between 100ms and 1d";
			r = -ERANGE;
		}
		if (r == 0)
			c->scan_interval_ms = u;
		break;
	case K_DRY_RUN:
		r = parse_bool(value, &c->dry_run, &why);
		break;
	case K_MAX_REAPS_PER_SCAN:
		r = parse_count(value, 1000000, REAP_COUNT_WHY, &c->max_reaps_per_scan, &why);
		break;
	case K_MAX_REAPS_PER_MINUTE:
		r = parse_count(value, 10000000, REAP_COUNT_WHY, &c->max_reaps_per_minute, &why);
		break;
	case K_MAX_PROBES_PER_SCAN:
		r = parse_count(value, 1000000, NULL, &c->max_probes_per_scan, &why);
		break;
	case K_BREAKER_SHARE:
		r = parse_percent(value, &c->breaker_share, &why);
		if (r == 0 && c->breaker_share == 0) {
			why = "must be above 0%";
			r = -ERANGE;
		}
		break;
	case K_BREAKER_MIN_PROBES:
		r = parse_count(value, 1000000, NULL, &c->breaker_min, &why);
		break;
	case K_LOG_LEVEL:
		r = -EINVAL;
		why = "unknown log level (error, warning, notice, info, debug)";
		for (int l = LOG_ERR; l <= LOG_DEBUG; l++)
			if (strcmp(value, level_names[l]) == 0) {
				c->log_level = l;
				r = 0;
			}
		break;
	case K_LOCAL_PORT:
		r = parse_port_set(value, &pol->local_port, &why);
		break;
	case K_REMOTE_PORT:
		r = parse_port_set(value, &pol->remote_port, &why);
		break;
	case K_LOCAL_ADDR:
		r = parse_cidr_set(value, &pol->local_addr, &why);
		break;
	case K_REMOTE_ADDR:
		r = parse_cidr_set(value, &pol->remote_addr, &why);
		break;
	case K_STATES:
		r = set_states(value, &pol->states, &why);
		break;
	case K_PROCESS:
		r = set_words(value, WORD_COMM, &pol->process, &why);
		break;
	case K_NETNS:
		r = set_words(value, WORD_GLOB, &pol->netns, &why);
		break;
	case K_BACKEND:
		if (strcmp(value, "auto") == 0) {
			c->backend = BACKEND_AUTO;
		} else if (strcmp(value, "bpf") == 0) {
			c->backend = BACKEND_BPF;
		} else if (strcmp(value, "netlink") == 0) {
			c->backend = BACKEND_NETLINK;
		} else {
			why = "expected auto, bpf or netlink";
			r = -EINVAL;
		}
		break;
	case K_NAMESPACES:
		if (strcmp(value, "self") == 0) {
			c->namespaces = NS_SELF;
		} else if (strcmp(value, "all") == 0) {
			c->namespaces = NS_ALL;
		} else {
			strv_free(c->ns_paths); /* a drop-in's overrides */
			c->ns_paths = NULL;
			r = set_words(value, WORD_PATH, &c->ns_paths, &why);
			c->namespaces = NS_LIST;
		}
		break;
	case K_METRICS_FILE:
	case K_PROBE_JOURNAL: {
		char **path = keys[i].key == K_METRICS_FILE ? &c->metrics_file : &c->probe_journal;

		free(*path); /* a drop-in's overrides */
		*path = NULL;
		if (value[0] != '/') {
			why = "must be an absolute path";
			r = -EINVAL;
		} else if (!(*path = strdup(value))) {
			why = "out of memory";
			r = -ENOMEM;
		}
		break;
	}
	case K_IDLE:
		r = set_seconds(value, 1000, KR_MAX_IDLE_S * 1000ull, &pol->idle_ms, &why);
		if (r == -ERANGE && strcmp(why, "too long") == 0)
			why = "too long: at most 49d (the kernel counts idle time in 32-bit "
			      "milliseconds, which wrap after 49.7 days)";
		break;
	case K_INTERVAL:
		r = set_seconds(value, 1000, KR_MAX_KEEPINTVL_S * 1000ull, &pol->interval_ms, &why);
		break;
	case K_PROBES:
		r = parse_uint(value, 1000000, &u, &why);
		if (r == 0 && (u < 1 || u > KR_MAX_PROBES)) {
			why = "must be between 1 and 100";
			r = -ERANGE;
		}
		if (r == 0)
			pol->probes = (unsigned)u;
		break;
	case K_ACTION:
		if (strcmp(value, "probe") == 0)
			pol->action = ACTION_PROBE;
		else if (strcmp(value, "kill-idle") == 0)
			pol->action = ACTION_KILL_IDLE;
		else if (strcmp(value, "ignore") == 0)
			pol->action = ACTION_IGNORE;
		else {
			why = "unknown action (probe, kill-idle, ignore)";
			r = -EINVAL;
		}
		break;
	case K_POLICY_DRY_RUN:
		r = parse_bool(value, &pol->dry_run, &why);
		break;
	}
	if (r < 0)
		fail(p, "%s = %s: %s", name, value, why ? why : strerror(-r));
	return !p->failed; /* inih: 0 is an error */
}

static int read_u64_file(const char *path, uint64_t *ret)
{
	FILE *f = fopen(path, "re");
	unsigned long long v;
	int ok;

	if (!f)
		return -errno;
	ok = fscanf(f, "%llu", &v) == 1;
	fclose(f);
	if (!ok)
		return -EINVAL;
	*ret = v;
	return 0;
}

int keepalive_defaults_read(const char *dir, struct keepalive_defaults *ret)
{
	char path[512];
	uint64_t t = 7200, i = 75, n = 9;
	int r = 0, q;

	if (!dir)
		dir = "/proc/sys/net/ipv4";
	snprintf(path, sizeof(path), "%s/tcp_keepalive_time", dir);
	if ((q = read_u64_file(path, &t)) < 0)
		r = q;
	snprintf(path, sizeof(path), "%s/tcp_keepalive_intvl", dir);
	if ((q = read_u64_file(path, &i)) < 0)
		r = q;
	snprintf(path, sizeof(path), "%s/tcp_keepalive_probes", dir);
	if ((q = read_u64_file(path, &n)) < 0)
		r = q;
	/* Clamp into what a policy may hold, as the kernel would. */
	if (t < 1)
		t = 1;
	if (i < 1)
		i = 1;
	if (i > KR_MAX_KEEPINTVL_S)
		i = KR_MAX_KEEPINTVL_S;
	if (n < 1)
		n = 1;
	if (n > KR_MAX_PROBES)
		n = KR_MAX_PROBES;
	ret->idle_ms = t * 1000;
	ret->interval_ms = i * 1000;
	ret->probes = (unsigned)n;
	return r;
}

/* One file into c; 0 or -errno with the message in p->err. */
static int parse_file(struct parse_ctx *p, const char *path)
{
	struct stat st;
	int r;

	p->path = path;
	p->line = 0;
	p->sec = SEC_NONE;
	p->seen = 0;
	p->global_seen = false;
	p->file_policies = p->c->n_policies;
	p->f = fopen(path, "re");
	if (!p->f) {
		r = -errno;
		snprintf(p->err, p->errlen, "%s: cannot open: %s", path, strerror(errno));
		return r;
	}
	/* inih reads a directory as an empty file; pipes (-c <(...)) are fine */
	if (fstat(fileno(p->f), &st) < 0 || S_ISDIR(st.st_mode)) {
		snprintf(p->err, p->errlen, "%s: is a directory, not a config file", path);
		r = -EISDIR;
		goto out;
	}
	r = ini_parse_stream(read_line, p, handle_key, p);
	if (p->failed) {
		r = -EINVAL;
	} else if (r != 0) {
		p->line = (unsigned)r;
		fail(p, "syntax error (expected 'key = value', '[global]' or '[policy NAME]')");
		r = -EINVAL;
	}
out:
	fclose(p->f);
	p->f = NULL;
	return r;
}

static int dropin_filter(const struct dirent *d)
{
	size_t l = strlen(d->d_name);

	return d->d_name[0] != '.' && l > 5 && strcmp(d->d_name + l - 5, ".conf") == 0;
}

/* plain byte order, whatever the locale: what "lexical" means to an admin naming
 * files 10-, 20- */
static int dropin_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* PATH.d/NAME.conf (PATH without .conf), sorted; a missing directory: none. */
static int list_dropins(const char *path, char ***ret, char *err, size_t errlen)
{
	size_t l = strlen(path);
	struct dirent **names = NULL;
	char dir[PATH_MAX], **list;
	int n;

	if (l > 5 && strcmp(path + l - 5, ".conf") == 0)
		l -= 5;
	if (snprintf(dir, sizeof(dir), "%.*s.d", (int)l, path) >= (int)sizeof(dir)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	n = scandir(dir, &names, dropin_filter, dropin_cmp);
	if (n < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		snprintf(err, errlen, "%s: cannot read: %s", dir, strerror(errno));
		return -errno;
	}
	list = calloc((size_t)n + 1, sizeof(*list));
	for (int i = 0; i < n; i++) {
		if (list && asprintf(&list[i], "%s/%s", dir, names[i]->d_name) < 0) {
			list[i] = NULL;
			strv_free(list);
			list = NULL;
		}
		free(names[i]);
	}
	free(names);
	if (!list) {
		snprintf(err, errlen, "%s: out of memory", dir);
		return -ENOMEM;
	}
	*ret = list;
	return 0;
}

int config_load(const char *path, const struct keepalive_defaults *def, struct config **ret,
		char *err, size_t errlen)
{
	struct parse_ctx p = { .def = def, .err = err, .errlen = errlen };
	struct config *c;
	int r;

	err[0] = '\0';
	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		free(c);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	c->scan_interval_ms = 30000;
	c->max_reaps_per_scan = 1000;
	c->max_reaps_per_minute = 6000;
	c->max_probes_per_scan = 1000;
	c->breaker_share = 50;
	c->breaker_min = 10;
	c->log_level = LOG_INFO;
	p.c = c;

	r = parse_file(&p, c->path);
	if (r == 0)
		r = list_dropins(c->path, &c->dropins, err, errlen);
	for (char **d = c->dropins; r == 0 && d && *d; d++)
		r = parse_file(&p, *d);
	if (r == 0 && c->n_policies == 0) {
		snprintf(err, errlen, "%s: no [policy NAME] section: nothing to do", path);
		r = -EINVAL;
	}
	if (r < 0) {
		config_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_policies; i++)
		policy_free(&c->policies[i]);
	free(c->policies);
	strv_free(c->ns_paths);
	strv_free(c->dropins);
	free(c->metrics_file);
	free(c->probe_journal);
	free(c->path);
	free(c);
}

/* "key = a, b" or, unset, "# key = any" (commented: any is not a value) */
static void print_words(FILE *f, const char *key, char *const *v)
{
	fprintf(f, "%s%s = ", v ? "" : "# ", key);
	if (!v)
		fprintf(f, "any");
	for (char *const *s = v; s && *s; s++)
		fprintf(f, "%s%s", s == v ? "" : ", ", *s);
	fprintf(f, "\n");
}

const char *config_backend_name(enum backend_choice b)
{
	return b == BACKEND_BPF ? "bpf" : b == BACKEND_NETLINK ? "netlink" : "auto";
}

void config_print(const struct config *c, FILE *f)
{
	char b1[DURATION_STRLEN], b2[512];

	fprintf(f, "# effective configuration of %s (defaults filled in)\n", c->path);
	for (char **d = c->dropins; d && *d; d++)
		fprintf(f, "# and of the drop-in %s\n", *d);
	fprintf(f, "[global]\n");
	fprintf(f, "scan_interval = %s\n", format_duration(c->scan_interval_ms, b1, sizeof(b1)));
	fprintf(f, "dry_run = %s\n", c->dry_run ? "yes" : "no");
	fprintf(f, "max_reaps_per_scan = %u\n", c->max_reaps_per_scan);
	fprintf(f, "max_reaps_per_minute = %u\n", c->max_reaps_per_minute);
	fprintf(f, "max_probes_per_scan = %u\n", c->max_probes_per_scan);
	fprintf(f, "breaker_share = %u%%\n", c->breaker_share);
	fprintf(f, "breaker_min_probes = %u\n", c->breaker_min);
	fprintf(f, "log_level = %s\n", log_level_name(c->log_level));
	fprintf(f, "backend = %s\n", config_backend_name(c->backend));
	if (c->namespaces == NS_LIST)
		print_words(f, "namespaces", c->ns_paths);
	else
		fprintf(f, "namespaces = %s\n", c->namespaces == NS_ALL ? "all" : "self");
	fprintf(f, "%smetrics_file = %s\n", c->metrics_file ? "" : "# ",
		c->metrics_file ? c->metrics_file : "(none)");
	fprintf(f, "probe_journal = %s\n", config_probe_journal(c));
	for (size_t i = 0; i < c->n_policies; i++) {
		const struct policy *p = &c->policies[i];
		size_t off = 0;

		fprintf(f, "\n# from %s:%u\n[policy %s]\n", p->file, p->line, p->name);
		/* unset selectors match anything; shown commented so the output parses */
		fprintf(f, "%slocal_port = %s\n", p->local_port.n ? "" : "# ",
			port_set_format(&p->local_port, b2, sizeof(b2)));
		fprintf(f, "%sremote_port = %s\n", p->remote_port.n ? "" : "# ",
			port_set_format(&p->remote_port, b2, sizeof(b2)));
		fprintf(f, "%slocal_addr = %s\n", p->local_addr.n ? "" : "# ",
			cidr_set_format(&p->local_addr, b2, sizeof(b2)));
		fprintf(f, "%sremote_addr = %s\n", p->remote_addr.n ? "" : "# ",
			cidr_set_format(&p->remote_addr, b2, sizeof(b2)));
		b2[0] = '\0';
		for (unsigned st = 1; st < 12; st++)
			if (p->states & (1u << st))
				off += (size_t)snprintf(b2 + off, sizeof(b2) - off, "%s%s",
							off ? ", " : "", tcp_state_name(st));
		fprintf(f, "states = %s\n", b2);
		print_words(f, "process", p->process);
		print_words(f, "netns", p->netns);
		fprintf(f, "idle = %s\n", format_duration(p->idle_ms, b1, sizeof(b1)));
		fprintf(f, "interval = %s\n", format_duration(p->interval_ms, b1, sizeof(b1)));
		fprintf(f, "probes = %u\n", p->probes);
		fprintf(f, "action = %s\n", policy_action_name(p->action));
		fprintf(f, "dry_run = %s\n", p->dry_run ? "yes" : "no");
	}
}

const char *config_probe_journal(const struct config *c)
{
	return c->probe_journal ? c->probe_journal : KR_DEFAULT_PROBE_JOURNAL;
}
