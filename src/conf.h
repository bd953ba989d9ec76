/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kareaper.conf: reading, validating, printing. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "parse.h"

enum policy_action {
	ACTION_PROBE,             /* prove the peer dead with keepalive probes */
	ACTION_KILL_IDLE,         /* idle alone is enough */
	ACTION_IGNORE,            /* matched sockets are never touched */
};

/* Limits the kernel puts on the keepalive knobs (include/net/tcp.h). */
#define KR_MAX_KEEPIDLE_S  32767
#define KR_MAX_KEEPINTVL_S 32767
#define KR_MAX_KEEPCNT     127
/* TCP_KEEPCNT is armed at KR_MAX_KEEPCNT: the kernel gives up on its own only that
 * many unanswered probes in a row after the last ACK. A policy's probes stay well
 * below, so kareaper's verdict comes first even when it is many intervals late. */
#define KR_MAX_PROBES      100
/* The kernel reports idle time (tcpi_last_data_recv, _ack_recv) in 32-bit
 * milliseconds, which wrap after 49.7 days: a longer idle could never match. */
#define KR_MAX_IDLE_S      (49 * 86400)

/* Under systemd, RuntimeDirectory=kareaper with RuntimeDirectoryPreserve=yes. */
#define KR_DEFAULT_PROBE_JOURNAL "/run/kareaper/probes"

enum backend_choice {
	BACKEND_AUTO,             /* bpf when it can run here, else netlink */
	BACKEND_BPF,
	BACKEND_NETLINK,
};

enum ns_mode {
	NS_SELF,                  /* kareaper's own network namespace */
	NS_ALL,                   /* every one on the host: /run/netns and /proc/PID/ns/net */
	NS_LIST,                  /* the paths in ns_paths */
};

struct policy {
	char *name;
	const char *file;         /* where it was read: config.path or one of dropins */
	unsigned line;            /* of its [policy NAME] header */
	struct port_set local_port, remote_port;
	struct cidr_set local_addr, remote_addr;
	uint32_t states;          /* bit (1 << TCP_*) */
	char **process;           /* comm names; NULL-terminated, NULL: any */
	char **netns;             /* namespace name globs; NULL-terminated, NULL: any */
	uint64_t idle_ms, interval_ms;
	unsigned probes;
	enum policy_action action;
	bool dry_run;
};

struct config {
	char *path;
	char **dropins;           /* PATH.d/NAME.conf read after it, in order; NULL-terminated */
	uint64_t scan_interval_ms;
	bool dry_run;
	unsigned max_reaps_per_scan;
	unsigned max_reaps_per_minute;
	unsigned max_probes_per_scan;
	unsigned breaker_share;   /* percent */
	unsigned breaker_min;
	int log_level;            /* LOG_ERR .. LOG_DEBUG */
	enum backend_choice backend;
	enum ns_mode namespaces;
	bool user_namespaces;     /* NS_ALL: also those other user namespaces own */
	char **ns_paths;          /* NS_LIST: NULL-terminated */
	char *metrics_file;       /* NULL: none */
	struct listen_addr metrics_listen; /* set: serve the metrics over HTTP */
	char *probe_journal;      /* NULL: KR_DEFAULT_PROBE_JOURNAL */
	struct policy *policies;
	size_t n_policies;
};

/* Where the idle/interval/probes defaults come from. */
struct keepalive_defaults {
	uint64_t idle_ms, interval_ms;
	unsigned probes;
};

int keepalive_defaults_read(const char *sysctl_dir, struct keepalive_defaults *ret);

/* Reads path, then the drop-ins PATH.d/NAME.conf (PATH without its .conf) in lexical
 * order: their policies follow, their [global] keys override. Returns 0, or -errno
 * with "FILE:LINE: message" (or "FILE: message") in err. */
int config_load(const char *path, const struct keepalive_defaults *def, struct config **ret,
		char *err, size_t errlen);
void config_free(struct config *c);
const char *config_backend_name(enum backend_choice b);
void config_print(const struct config *c, FILE *f);
const char *config_probe_journal(const struct config *c);

const char *policy_action_name(enum policy_action a);
const char *tcp_state_name(unsigned state);
const char *log_level_name(int level);
/* TCP states a policy may select: established and the closing ones. */
#define KR_SELECTABLE_STATES \
	((1u << 1) | (1u << 4) | (1u << 5) | (1u << 8) | (1u << 9) | (1u << 11))
/* Those in which "all it wrote acknowledged" is a round trip of data (the
 * witness): not FIN_WAIT2, where it can be the FIN's alone (which moves no
 * send time: the data's may be 49.7 days old, and its u32 wrapped). */
#define KR_HEARD_STATES (KR_SELECTABLE_STATES & ~(1u << 5))
