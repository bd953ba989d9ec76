/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

static const char *const action_names[] = {
	[ACTION_PROBE] = "probe", [ACTION_KILL_IDLE] = "kill-idle", [ACTION_IGNORE] = "ignore",
};

static const char *const backend_names[] = {
	[BACKEND_AUTO] = "auto", [BACKEND_BPF] = "bpf", [BACKEND_NETLINK] = "netlink",
};

const char *policy_action_name(enum policy_action a)
{
	return (size_t)a < sizeof(action_names) / sizeof(action_names[0]) ? action_names[a] : "?";
}

/* Well-formed UTF-8 (parse.c's utf8_seq_len(): no overlong form, surrogate or
 * code point above U+10FFFF). */
static bool valid_utf8(const unsigned char *s)
{
	while (*s) {
		size_t n = *s < 0x80 ? 1 : utf8_seq_len(s);

		if (!n)
			return false;
		s += n;
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

/* What a key's value is, and so how it is parsed and printed. */
enum key_type {
	T_DURATION,   /* uint64_t ms, min..max; KEY_SECONDS: whole seconds only */
	T_BOOL,       /* bool */
	T_COUNT,      /* unsigned, min..max */
	T_PERCENT,    /* unsigned, min..max percent */
	T_CHOICE,     /* an enum (int-sized): the index of the value in words */
	T_PORTS,      /* struct port_set; unset: any */
	T_CIDRS,      /* struct cidr_set; unset: any */
	T_STATES,     /* uint32_t, bit (1 << TCP_*) */
	T_COMMS,      /* char **, process names; NULL: any */
	T_GLOBS,      /* char **, namespace name globs; NULL: any */
	T_PATH,       /* char *, absolute; NULL: dflt, or none */
	T_NAMESPACES, /* self, all, or paths: namespaces and ns_paths */
	T_LISTEN,     /* struct listen_addr; unset: none */
};

#define KEY_SECONDS 1u  /* T_DURATION: the kernel's keepalive timers count seconds */

/* Every key of kareaper.conf, in the order --check-config prints them. A key is one
 * line here; kareaper.conf(5) and the shipped kareaper.conf are checked against what
 * --check-config prints (tests/docs.sh). */
static const struct conf_key {
	const char *name;
	enum section sec;
	enum key_type type;
	size_t off;               /* in struct config (SEC_GLOBAL) or struct policy */
	uint64_t min, max;        /* T_DURATION (ms), T_COUNT, T_PERCENT */
	unsigned flags;
	const char *const *words; /* T_CHOICE: the names, indexed by value; NULL: unused */
	size_t n_words;
	const char *what;         /* T_CHOICE: what the value names, for errors */
	const char *dflt;         /* T_PATH: what an unset path means */
	const char *note;         /* why the range is what it is */
} conf_keys[] = {
#define G(key, field, t) \
	.name = #key, .sec = SEC_GLOBAL, .type = t, .off = offsetof(struct config, field)
#define P(key, field, t) \
	.name = #key, .sec = SEC_POLICY, .type = t, .off = offsetof(struct policy, field)
#define WORDS(w) .words = w, .n_words = sizeof(w) / sizeof(w[0])
	{ G(scan_interval, scan_interval_ms, T_DURATION), .min = 100, .max = 86400000 },
	{ G(dry_run, dry_run, T_BOOL) },
	{ G(max_reaps_per_scan, max_reaps_per_scan, T_COUNT), .min = 1, .max = 1000000,
	  .note = "use dry_run = yes to reap nothing" },
	{ G(max_reaps_per_minute, max_reaps_per_minute, T_COUNT), .min = 1, .max = 10000000,
	  .note = "use dry_run = yes to reap nothing" },
	{ G(max_probes_per_scan, max_probes_per_scan, T_COUNT), .min = 1, .max = 1000000 },
	{ G(breaker_share, breaker_share, T_PERCENT), .min = 1, .max = 100 },
	{ G(breaker_min_probes, breaker_min, T_COUNT), .min = 1, .max = 1000000 },
	{ G(log_level, log_level, T_CHOICE), WORDS(level_names), .what = "log level" },
	{ G(backend, backend, T_CHOICE), WORDS(backend_names), .what = "backend" },
	{ G(namespaces, namespaces, T_NAMESPACES) },
	{ G(user_namespaces, user_namespaces, T_BOOL) },
	{ G(metrics_file, metrics_file, T_PATH) },
	{ G(metrics_listen, metrics_listen, T_LISTEN) },
	{ G(probe_journal, probe_journal, T_PATH), .dflt = KR_DEFAULT_PROBE_JOURNAL },
	{ P(local_port, local_port, T_PORTS) },
	{ P(remote_port, remote_port, T_PORTS) },
	{ P(local_addr, local_addr, T_CIDRS) },
	{ P(remote_addr, remote_addr, T_CIDRS) },
	{ P(states, states, T_STATES) },
	{ P(process, process, T_COMMS) },
	{ P(netns, netns, T_GLOBS) },
	{ P(idle, idle_ms, T_DURATION), .min = 1000, .max = KR_MAX_IDLE_S * 1000ull,
	  .flags = KEY_SECONDS,
	  .note = "the kernel counts idle time in 32-bit milliseconds, which wrap after 49.7 days" },
	{ P(interval, interval_ms, T_DURATION), .min = 1000, .max = KR_MAX_KEEPINTVL_S * 1000ull,
	  .flags = KEY_SECONDS, .note = "the kernel's TCP_KEEPINTVL" },
	{ P(probes, probes, T_COUNT), .min = 1, .max = KR_MAX_PROBES,
	  .note = "the kernel's own limit, 127, must stay out of reach" },
	{ P(action, action, T_CHOICE), WORDS(action_names), .what = "action" },
	{ P(dry_run, dry_run, T_BOOL) },
#undef G
#undef P
#undef WORDS
};
#define N_KEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))
_Static_assert(N_KEYS <= 64, "parse_ctx.seen is a 64-bit mask");
_Static_assert(sizeof(enum backend_choice) == sizeof(int) &&
	       sizeof(enum policy_action) == sizeof(int), "T_CHOICE stores an int");

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

/* "must be between 1s and 49d (note)" */
static const char *range_why(const struct conf_key *k, char *buf, size_t len)
{
	char lo[DURATION_STRLEN], hi[DURATION_STRLEN];
	const char *pct = k->type == T_PERCENT ? "%" : "";

	if (k->type == T_DURATION) {
		format_duration(k->min, lo, sizeof(lo));
		format_duration(k->max, hi, sizeof(hi));
	} else {
		snprintf(lo, sizeof(lo), "%llu%s", (unsigned long long)k->min, pct);
		snprintf(hi, sizeof(hi), "%llu%s", (unsigned long long)k->max, pct);
	}
	snprintf(buf, len, "must be between %s and %s%s%s%s", lo, hi, k->note ? " (" : "",
		 k->note ? k->note : "", k->note ? ")" : "");
	return buf;
}

/* "unknown action (probe, kill-idle, ignore)" */
static const char *choice_why(const struct conf_key *k, char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "unknown %s (", k->what);

	for (size_t w = 0; w < k->n_words && off < len; w++)
		if (k->words[w])
			off += (size_t)snprintf(buf + off, len - off, "%s%s",
						buf[off - 1] == '(' ? "" : ", ", k->words[w]);
	if (off < len)
		snprintf(buf + off, len - off, ")");
	return buf;
}

/* Parses value into the field of key k at base. 0, or -errno with why set. */
static int set_value(const struct conf_key *k, void *base, const char *value, const char **why,
		     char *whybuf, size_t whylen)
{
	void *field = (char *)base + k->off;
	uint64_t u = 0;
	unsigned pct;
	int r;

	switch (k->type) {
	case T_DURATION:
		r = parse_duration_ms(value, &u, why);
		if (r == 0 && (k->flags & KEY_SECONDS) && u % 1000) {
			*why = "must be whole seconds (the kernel's keepalive timers count seconds)";
			return -EINVAL;
		}
		break;
	case T_COUNT:
		r = parse_uint(value, UINT32_MAX, &u, why);
		break;
	case T_PERCENT:
		r = parse_percent(value, &pct, why);
		u = pct;
		break;
	case T_BOOL:
		return parse_bool(value, field, why);
	case T_CHOICE:
		for (size_t w = 0; w < k->n_words; w++)
			if (k->words[w] && strcmp(value, k->words[w]) == 0) {
				*(int *)field = (int)w;
				return 0;
			}
		*why = choice_why(k, whybuf, whylen);
		return -EINVAL;
	case T_LISTEN:
		return parse_listen(value, field, why);
	case T_PORTS:
		return parse_port_set(value, field, why);
	case T_CIDRS:
		return parse_cidr_set(value, field, why);
	case T_STATES:
		return set_states(value, field, why);
	case T_COMMS:
		return set_words(value, WORD_COMM, field, why);
	case T_GLOBS:
		return set_words(value, WORD_GLOB, field, why);
	case T_NAMESPACES: {
		struct config *c = base;

		strv_free(c->ns_paths); /* a drop-in's overrides */
		c->ns_paths = NULL;
		if (strcmp(value, "self") == 0) {
			c->namespaces = NS_SELF;
			return 0;
		}
		if (strcmp(value, "all") == 0) {
			c->namespaces = NS_ALL;
			return 0;
		}
		c->namespaces = NS_LIST;
		return set_words(value, WORD_PATH, &c->ns_paths, why);
	}
	case T_PATH: {
		char **path = field;

		free(*path); /* a drop-in's overrides */
		*path = NULL;
		if (value[0] != '/') {
			*why = "must be an absolute path";
			return -EINVAL;
		}
		if (!(*path = strdup(value))) {
			*why = "out of memory";
			return -ENOMEM;
		}
		return 0;
	}
	default:
		*why = "unhandled key type";
		return -EINVAL;
	}
	if (r < 0)
		return r;
	if (u < k->min || u > k->max) {
		*why = range_why(k, whybuf, whylen);
		return -ERANGE;
	}
	if (k->type == T_DURATION)
		*(uint64_t *)field = u;
	else
		*(unsigned *)field = (unsigned)u;
	return 0;
}

static int handle_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *p = user;
	struct config *c = p->c;
	const char *why = NULL;
	char whybuf[256];
	size_t i;
	int r;

	(void)section;
	if (p->failed)
		return 0;
	if (p->sec == SEC_NONE) {
		fail(p, "'%s' outside any section (start with [global] or [policy NAME])", name);
		return 0;
	}
	for (i = 0; i < N_KEYS; i++)
		if (conf_keys[i].sec == p->sec && strcmp(conf_keys[i].name, name) == 0)
			break;
	if (i == N_KEYS) {
		fail(p, "unknown key '%s' in [%s]", name, p->sec == SEC_GLOBAL ? "global" : "policy");
		return 0;
	}
	if (p->seen & (1ull << i)) {
		fail(p, "duplicate key '%s'", name);
		return 0;
	}
	p->seen |= 1ull << i;
	if (!*value) {
		fail(p, "%s: empty value", name);
		return 0;
	}
	r = set_value(&conf_keys[i], p->sec == SEC_GLOBAL ? (void *)c :
		      (void *)&c->policies[c->n_policies - 1], value, &why, whybuf, sizeof(whybuf));
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

/* One key as the parser would read it back; unset selectors are printed commented
 * ("# local_port = any") so that the output parses. */
static void print_key(FILE *f, const struct conf_key *k, const void *base)
{
	const void *field = (const char *)base + k->off;
	char buf[512];

	switch (k->type) {
	case T_DURATION:
		fprintf(f, "%s = %s\n", k->name,
			format_duration(*(const uint64_t *)field, buf, sizeof(buf)));
		break;
	case T_BOOL:
		fprintf(f, "%s = %s\n", k->name, *(const bool *)field ? "yes" : "no");
		break;
	case T_COUNT:
	case T_PERCENT:
		fprintf(f, "%s = %u%s\n", k->name, *(const unsigned *)field,
			k->type == T_PERCENT ? "%" : "");
		break;
	case T_CHOICE: {
		int v = *(const int *)field;

		fprintf(f, "%s = %s\n", k->name,
			v >= 0 && (size_t)v < k->n_words && k->words[v] ? k->words[v] : "?");
		break;
	}
	case T_PORTS: {
		const struct port_set *s = field;

		fprintf(f, "%s%s = %s\n", s->n ? "" : "# ", k->name,
			port_set_format(s, buf, sizeof(buf)));
		break;
	}
	case T_CIDRS: {
		const struct cidr_set *s = field;

		fprintf(f, "%s%s = %s\n", s->n ? "" : "# ", k->name,
			cidr_set_format(s, buf, sizeof(buf)));
		break;
	}
	case T_STATES: {
		uint32_t states = *(const uint32_t *)field;
		size_t off = 0;

		buf[0] = '\0';
		for (unsigned st = 1; st < 12; st++)
			if (states & (1u << st))
				off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s",
							off ? ", " : "", tcp_state_name(st));
		fprintf(f, "%s = %s\n", k->name, buf);
		break;
	}
	case T_COMMS:
	case T_GLOBS:
		print_words(f, k->name, *(char *const *const *)field);
		break;
	case T_NAMESPACES: {
		const struct config *c = base;

		if (c->namespaces == NS_LIST)
			print_words(f, k->name, c->ns_paths);
		else
			fprintf(f, "%s = %s\n", k->name, c->namespaces == NS_ALL ? "all" : "self");
		break;
	}
	case T_LISTEN: {
		const struct listen_addr *l = field;

		fprintf(f, "%s%s = %s\n", l->set ? "" : "# ", k->name, l->set ? l->text : "(none)");
		break;
	}
	case T_PATH: {
		const char *path = *(char *const *)field;

		if (!path && !k->dflt)
			fprintf(f, "# %s = (none)\n", k->name);
		else
			fprintf(f, "%s = %s\n", k->name, path ? path : k->dflt);
		break;
	}
	}
}

const char *config_backend_name(enum backend_choice b)
{
	return (size_t)b < sizeof(backend_names) / sizeof(backend_names[0]) ? backend_names[b] : "?";
}

void config_print(const struct config *c, FILE *f)
{
	fprintf(f, "# effective configuration of %s (defaults filled in)\n", c->path);
	for (char **d = c->dropins; d && *d; d++)
		fprintf(f, "# and of the drop-in %s\n", *d);
	fprintf(f, "[global]\n");
	for (size_t k = 0; k < N_KEYS; k++)
		if (conf_keys[k].sec == SEC_GLOBAL)
			print_key(f, &conf_keys[k], c);
	for (size_t i = 0; i < c->n_policies; i++) {
		const struct policy *p = &c->policies[i];

		fprintf(f, "\n# from %s:%u\n[policy %s]\n", p->file, p->line, p->name);
		for (size_t k = 0; k < N_KEYS; k++)
			if (conf_keys[k].sec == SEC_POLICY)
				print_key(f, &conf_keys[k], p);
	}
}

const char *config_probe_journal(const struct config *c)
{
	return c->probe_journal ? c->probe_journal : KR_DEFAULT_PROBE_JOURNAL;
}
