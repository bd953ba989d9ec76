/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "service.h"

static int log_level = LOG_INFO;
static bool journal;
static enum log_format format = LOG_FORMAT_TEXT;

/* systemd sets JOURNAL_STREAM to the device:inode of the stream it connected to
 * stderr; only when stderr still is that stream do we speak to the journal. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

void log_setup(int level)
{
	log_level = level;
	journal = stderr_is_journal();
}

void log_set_level(int level)
{
	log_level = level;
}

int log_set_format(const char *name)
{
	if (strcmp(name, "text") == 0)
		format = LOG_FORMAT_TEXT;
	else if (strcmp(name, "json") == 0)
		format = LOG_FORMAT_JSON;
	else
		return -EINVAL;
	return 0;
}

bool log_to_journal(void)
{
	return journal;
}

/* Off the journal: one JSON object a line, with the journal entry's fields
 * under the journal's names (those of journalctl -o json, every value a
 * string), and __REALTIME_TIMESTAMP as journald stamps it. */
static void emit_json(struct iovec *iov, int n)
{
	struct timespec ts;
	char *line = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&line, &len);

	if (!f)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(f, "{\"__REALTIME_TIMESTAMP\":\"%llu\"",
		(unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
	for (int i = 0; i < n; i++) {
		const char *kv = iov[i].iov_base, *eq = strchr(kv, '=');

		fprintf(f, ",\"%.*s\":", (int)(eq - kv), kv);
		json_str(f, eq + 1);
	}
	fputs("}\n", f);
	if (fclose(f) == 0)
		fwrite(line, 1, len, stderr); /* one write a line: lines never interleave */
	free(line);
}

static void emit(int prio, const char *msgid, const struct sock_event *ev, const char *msg)
{
	char f[14][160];
	struct iovec iov[16];
	int n = 0;

	if (prio > log_level)
		return;
	if (!journal && format == LOG_FORMAT_TEXT) {
		static const char *const tag[] = { "emerg", "alert", "crit", "error",
						   "warning", "notice", "info", "debug" };

		fprintf(stderr, "kareaper[%s]: %s\n", tag[prio & 7], msg);
		return;
	}
#define FIELD(...)                                                                   \
	do {                                                                         \
		snprintf(f[n], sizeof(f[n]), __VA_ARGS__);                           \
		iov[n].iov_base = f[n];                                              \
		iov[n].iov_len = strlen(f[n]);                                       \
		n++;                                                                 \
	} while (0)
	FIELD("PRIORITY=%d", prio);
	FIELD("SYSLOG_IDENTIFIER=kareaper");
	if (msgid)
		FIELD("MESSAGE_ID=%s", msgid);
	if (ev) {
		char a[KADDR_STRLEN];

		if (ev->policy)
			FIELD("KAREAPER_POLICY=%s", ev->policy);
		if (ev->s) {
			FIELD("KAREAPER_LOCAL=%s", kaddr_format(&ev->s->local, ev->s->lport, a, sizeof(a)));
			FIELD("KAREAPER_PEER=%s", kaddr_format(&ev->s->peer, ev->s->rport, a, sizeof(a)));
			FIELD("KAREAPER_COOKIE=%llu", (unsigned long long)ev->s->cookie);
		}
		if (ev->pid > 0)
			FIELD("KAREAPER_PID=%d", (int)ev->pid);
		if (ev->comm)
			FIELD("KAREAPER_COMM=%s", ev->comm);
		FIELD("KAREAPER_IDLE_MS=%llu", (unsigned long long)ev->idle_ms);
		if (ev->probes >= 0)
			FIELD("KAREAPER_PROBES=%d", ev->probes);
		if (ev->reason)
			FIELD("KAREAPER_REASON=%s", ev->reason);
		FIELD("KAREAPER_NETNS=%s", ev->netns ? ev->netns : "self");
	}
#undef FIELD
	/* MESSAGE last: it may be longer than the fixed fields */
	{
		size_t l = strlen(msg) + sizeof("MESSAGE=");
		char *m = malloc(l);

		if (!m)
			return;
		snprintf(m, l, "MESSAGE=%s", msg);
		iov[n].iov_base = m;
		iov[n].iov_len = strlen(m);
		n++;
		if (journal)
			sd_journal_sendv(iov, n);
		else
			emit_json(iov, n);
		free(m);
	}
}

void log_msg(int prio, const char *msgid, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (prio > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(prio, msgid, NULL, msg);
}

void log_sock(int prio, const char *msgid, const struct sock_event *ev, const char *fmt, ...)
{
	char msg[768], full[1024], l[KADDR_STRLEN], p[KADDR_STRLEN], idle[DURATION_STRLEN];
	char comm[STR_ESCAPED_MAX(16)], ns[STR_ESCAPED_MAX(64)];
	va_list ap;

	if (prio > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "%s: %s -> %s%s%s policy=%s pid=%d comm=%s idle=%s%s%s", msg,
		 kaddr_format(&ev->s->local, ev->s->lport, l, sizeof(l)),
		 kaddr_format(&ev->s->peer, ev->s->rport, p, sizeof(p)),
		 /* MESSAGE escaped (a terminal may show it); KAREAPER_COMM exact */
		 ev->netns ? " netns=" : "", ev->netns ? str_escape(ev->netns, ns, sizeof(ns)) : "",
		 ev->policy ? ev->policy : "-", (int)ev->pid,
		 ev->comm ? str_escape(ev->comm, comm, sizeof(comm)) : "-",
		 format_duration(ev->idle_ms, idle, sizeof(idle)), ev->reason ? " reason=" : "",
		 ev->reason ? ev->reason : "");
	emit(prio, msgid, ev, full);
}

void notify_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void notify_status(const char *status)
{
	sd_notifyf(0, "STATUS=%s", status);
}

uint64_t monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void notify_reloading(void)
{
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)monotonic_usec());
}

void notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}
