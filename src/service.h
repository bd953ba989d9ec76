/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging (journal with structured fields, or plain stderr) and sd_notify. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <syslog.h>

#include "diagmsg.h"

/* One MESSAGE_ID per kind of event; kareaper(8) lists them. */
#define MSGID_REAPED        "dd869b3a1a1d4e009442063adba930f3"
#define MSGID_WOULD_REAP    "97577a4f337842c3a543a3619573787d"
#define MSGID_ALIVE         "921af57307684b2d9710a64d329a9318"
#define MSGID_PROBING       "b06bf58fc39a4caf810efbe6affd96a3"
#define MSGID_UNPROBEABLE   "715286b6b17848a3bcf3121d1916b943"
#define MSGID_GONE          "c289beb1da054d18993ea771fd69b3cd"
#define MSGID_BREAKER       "eef2deadcf284b39a241a8aac21bd5e9"
#define MSGID_RATE_LIMITED  "4e4c03476b3e498eaf8675d56b4d7a93"
#define MSGID_STARTED       "420f47c7a5f242bb872bc2ce84fdcf59"
#define MSGID_RELOADED      "2ca2bd0d9e154b34adda40239b94db13"
#define MSGID_CONFIG_ERROR  "c35c12e388144a51b0d19317abf85b4b"
#define MSGID_STOPPED       "95b7aab7eeff47b0ad411355853e5834"

void log_setup(int level);
void log_set_level(int level);
/* Where stderr is not the journal: "text" (kareaper[LEVEL]: MESSAGE) or "json"
 * (one object a line, with the journal entry's fields). -EINVAL: neither. */
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };
int log_set_format(const char *name);
bool log_to_journal(void);
void log_msg(int prio, const char *msgid, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One socket's event, with the KAREAPER_* fields. */
struct sock_event {
	const char *policy;
	const struct sock_rec *s;
	pid_t pid;                /* 0: unknown */
	const char *comm;
	uint64_t idle_ms;
	int probes;               /* probes sent, -1: not applicable */
	const char *reason;
	const char *netns;        /* NULL: kareaper's own, not named */
};
void log_sock(int prio, const char *msgid, const struct sock_event *ev, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* sd_notify wrappers; no-ops outside systemd. */
void notify_ready(const char *status);
void notify_status(const char *status);
/* CLOCK_MONOTONIC in microseconds: what sd-event and systemd count in. */
uint64_t monotonic_usec(void);
void notify_reloading(void);
void notify_stopping(void);
