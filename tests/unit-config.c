/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "conf.h"
#include "tap.h"

static char dir[] = "/tmp/kareaper-unit-config.XXXXXX";
static const struct keepalive_defaults def = { 7200000, 75000, 9 };

static const char *write_file(const char *name, const char *text, size_t len)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fwrite(text, 1, len, f);
	fclose(f);
	return path;
}

/* Loading text must fail at line with a message containing want. */
static void bad(const char *text, unsigned line, const char *want)
{
	const char *path = write_file("bad.conf", text, strlen(text));
	struct config *c = NULL;
	char err[512], prefix[300];
	int r;

	r = config_load(path, &def, &c, err, sizeof(err));
	if (line)
		snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", path);
	ok(r < 0 && strncmp(err, prefix, strlen(prefix)) == 0 && strstr(err, want),
	   "rejected at line %u with '%s'", line, want);
	if (!(r < 0 && strncmp(err, prefix, strlen(prefix)) == 0 && strstr(err, want)))
		printf("#   r=%d err='%s'\n", r, err);
	config_free(c);
}

/* s without its "# from FILE:LINE" lines, which name where each policy was read */
static void drop_origins(char *s)
{
	char *l;

	while ((l = strstr(s, "\n# from "))) {
		char *end = strchr(l + 1, '\n');

		memmove(l, end ? end : l + strlen(l), strlen(end ? end : l + strlen(l)) + 1);
	}
}

/* The longest idle the kernel's 32-bit milliseconds can tell. */
static void idle_49d(void)
{
	const char *text = "[policy a]\nidle = 49d\n";
	const char *path = write_file("idle.conf", text, strlen(text));
	struct config *c = NULL;
	char err[512];

	ok(config_load(path, &def, &c, err, sizeof(err)) == 0 && c &&
	   c->policies[0].idle_ms == 49 * 86400000ull, "idle = 49d accepted");
	config_free(c);
}

static void bad_configs(void)
{
	bad("[global]\nscan_interval = 5s\n[polcy x]\n", 3, "unknown section [polcy x]");
	bad("[policy]\nidle = 5m\n", 1, "needs a name");
	bad("[policy a b]\n", 1, "bad policy name");
	bad("[policy a]\nidle = 5m\nidel = 6m\n", 3, "unknown key 'idel'");
	bad("[policy a]\nidle = 5m\nidle = 6m\n", 3, "duplicate key 'idle'");
	bad("[policy a]\nidle = 5m\n\n[policy a]\n", 4, "duplicate policy name 'a' (first at /tmp/");
	bad("[global]\n[global]\n[policy a]\n", 2, "duplicate section [global]");
	bad("[policy a]\n[global]\n", 2, "must come before");
	bad("idle = 5m\n[policy a]\n", 1, "outside any section");
	bad("[policy a]\nidle = 5 minutes\n", 2, "bad duration");
	bad("[policy a]\nidle = 1500ms\n", 2, "whole seconds");
	bad("[policy a]\nidle = 0s\n", 2, "must be between 1s and 49d");
	bad("[policy a]\ninterval = 40000s\n", 2, "must be between 1s and 9h6m7s");
	bad("[policy a]\nidle = 50d\n", 2, "49d (the kernel counts idle time in 32-bit");
	idle_49d();
	bad("[policy a]\nprobes = 0\n", 2, "between 1 and 100");
	bad("[policy a]\nprobes = 99999999999999999999999\n", 2, "out of range");
	bad("[policy a]\nlocal_port = 7010-7000\n", 2, "reversed port range");
	bad("[policy a]\nlocal_port = 70000\n", 2, "bad port");
	bad("[policy a]\nremote_addr = 10.0.0.300/8\n", 2, "bad address");
	bad("[policy a]\nremote_addr = 10.0.0.0/40\n", 2, "bad prefix length");
	bad("[policy a]\nlocal_addr = 2001:db8::1/32\n", 2, "bits set beyond");
	bad("[policy a]\nstates = listen\n", 2, "never reaped");
	bad("[policy a]\nstates = establised\n", 2, "unknown TCP state");
	bad("[policy a]\naction = kill\n", 2, "unknown action");
	bad("[policy a]\nidle =\n", 2, "empty value");
	bad("[policy a]\nprocess = a-very-long-process-name\n", 2, "at most 15");
	bad("[global]\ndry_run = perhaps\n[policy a]\n", 2, "not a boolean");
	bad("[global]\nbreaker_share = 150%\n[policy a]\n", 2, "above 100%");
	bad("[global]\nmax_reaps_per_scan = 0\n[policy a]\n", 2,
	    "between 1 and 1000000 (use dry_run = yes to reap nothing)");
	bad("[global]\nmax_probes_per_scan = 0\n[policy a]\n", 2, "between 1 and 1000000");
	bad("[global]\nbreaker_share = 0%\n[policy a]\n", 2, "between 1% and 100%");
	bad("[global]\nbackend = ebpf\n[policy a]\n", 2, "unknown backend (auto, bpf, netlink)");
	bad("[global]\nprobe_journal = probes\n[policy a]\n", 2, "absolute path");
	bad("[global]\nlog_level = loud\n[policy a]\n", 2, "unknown log level");
	bad("[global]\nscan_interval = 10ms\n[policy a]\n", 2, "between 100ms and 1d");
	bad("[policy a]\nthis line has no equals sign\n", 2, "syntax error");
	bad("[policy a\nidle = 5m\n", 1, "without closing");
	bad("[policy a] junk\n", 1, "text after section header");
	bad("[global]\nscan_interval = 5s\n", 0, "no [policy NAME] section");
	bad("[global]\nnamespaces = run/netns/a\n[policy a]\n", 2, "absolute paths");
	bad("[global]\nnamespaces = all, /run/netns/a\n[policy a]\n", 2, "absolute paths");
	bad("[global]\nmetrics_file = kareaper.prom\n[policy a]\n", 2, "absolute path");
	bad("[policy a]\nnetns =\n", 2, "empty value");

	/* Too long for inih's 200-byte buffer: must not be split into two lines. */
	{
		char text[400];

		snprintf(text, sizeof(text), "[policy a]\n# %0250d\nidle = 5m\n", 0);
		bad(text, 2, "line too long");
	}
	/* UTF-16 without a byte-order mark reads as garbage: say so. */
	{
		static const char u16[] = "[\0p\0o\0l\0i\0c\0y\0 \0a\0]\0\n\0";
		const char *path = write_file("u16.conf", u16, sizeof(u16) - 1);
		struct config *c = NULL;
		char err[512];

		ok(config_load(path, &def, &c, err, sizeof(err)) < 0 && strstr(err, ":1: "),
		   "UTF-16 file rejected at line 1 (%s)", err);
	}
	{
		const char *path = write_file("latin1.conf", "[policy caf\xe9]\n", 14);
		struct config *c = NULL;
		char err[512];

		ok(config_load(path, &def, &c, err, sizeof(err)) < 0 && strstr(err, "UTF-8"),
		   "Latin-1 text rejected as not UTF-8");
	}
	{
		struct config *c = NULL;
		char err[512];

		ok(config_load(dir, &def, &c, err, sizeof(err)) < 0 && strstr(err, "is a directory"),
		   "a directory is not a config file");
		ok(config_load("/nonexistent/kareaper.conf", &def, &c, err, sizeof(err)) == -ENOENT &&
		   strstr(err, "cannot open"), "missing file: cannot open");
	}
}

/* The effective config must itself be a valid config that loads the same. */
static void round_trip(struct config *c)
{
	char err[512];

	{
		char out[300];
		struct config *c2 = NULL;
		FILE *f;

		snprintf(out, sizeof(out), "%s/effective.conf", dir);
		f = fopen(out, "w");
		config_print(c, f);
		fclose(f);
		ok(config_load(out, &def, &c2, err, sizeof(err)) == 0, "printed config reloads (%s)",
		   err);
		if (c2) {
			is_u64(c2->n_policies, 3, "same policies");
			is_u64(c2->policies[0].remote_addr.n, 3, "same addresses");
			is_u64(c2->policies[1].remote_port.r[0].lo, 5432, "same ports");
			ok(c2->namespaces == NS_LIST && c2->metrics_file && c2->policies[1].netns,
			   "same namespaces, metrics file and netns selector");
		}
		/* every key of the table, printed and read back: the same text */
		if (c2) {
			char *t1 = NULL, *t2 = NULL;
			size_t l1, l2;

			f = open_memstream(&t1, &l1);
			config_print(c, f);
			fclose(f);
			f = open_memstream(&t2, &l2);
			config_print(c2, f);
			fclose(f);
			/* from the first "[global]": the headers name the files */
			bool same;

			drop_origins(t1);
			drop_origins(t2);
			same = strstr(t1, "[global]") && strstr(t2, "[global]") &&
				    strcmp(strstr(t1, "[global]"), strstr(t2, "[global]")) == 0;

			ok(same, "printed, reloaded and printed again: the same keys and values");
			if (!same)
				printf("# --- first\n%s\n# --- reloaded\n%s\n", t1, t2);
			ok(c2->backend == BACKEND_NETLINK && c2->log_level == LOG_DEBUG &&
			   !strcmp(config_probe_journal(c2), "/run/kr/probes"),
			   "choices and paths survive the round trip");
			free(t1);
			free(t2);
		}
		config_free(c2);
	}
}

static void good_config(void)
{
	static const char text[] =
		"\xef\xbb\xbf; kareaper test config\n"
		"[global]\n"
		"  scan_interval = 10s   ; indented keys are fine\n"
		"dry_run = yes\n"
		"max_reaps_per_scan = 50\n"
		"max_reaps_per_minute = 100\n"
		"max_probes_per_scan = 20\n"
		"breaker_share = 80%\n"
		"breaker_min_probes = 3\n"
		"log_level = debug\n"
		"namespaces = /run/netns/a, /proc/1/ns/net\n"
		"user_namespaces = yes\n"
		"metrics_file = /run/kareaper.prom\n"
		"backend = netlink\n"
		"probe_journal = /run/kr/probes\n"
		"\n"
		"[policy redis]\n"
		"local_port = 6379, 7000-7010\n"
		"remote_addr = !10.0.0.5, 10.0.0.0/8, 2001:db8::/32\n"
		"states = established, close-wait\n"
		"process = redis-server\n"
		"idle = 10m\n"
		"interval = 15s\n"
		"probes = 4\n"
		"action = probe\n"
		"\n"
		"[ policy pool ]\n"
		"remote_port = 5432\n"
		"netns = web-*, db\n"
		"action = kill-idle\n"
		"dry_run = yes\n"
		"[policy empty]\n";
	const char *path = write_file("good.conf", text, sizeof(text) - 1);
	struct config *c = NULL;
	char err[512];
	int r;

	r = config_load(path, &def, &c, err, sizeof(err));
	ok(r == 0, "good config loads (%s)", err);
	if (r < 0)
		return;
	is_u64(c->scan_interval_ms, 10000, "scan_interval");
	ok(c->dry_run, "global dry_run");
	is_u64(c->max_reaps_per_scan, 50, "max_reaps_per_scan");
	is_u64(c->max_reaps_per_minute, 100, "max_reaps_per_minute");
	is_u64(c->max_probes_per_scan, 20, "max_probes_per_scan");
	is_u64(c->breaker_share, 80, "breaker_share");
	is_u64(c->breaker_min, 3, "breaker_min_probes");
	is_u64(c->log_level, LOG_DEBUG, "log_level");
	ok(c->namespaces == NS_LIST && c->ns_paths && !strcmp(c->ns_paths[1], "/proc/1/ns/net") &&
	   !c->ns_paths[2], "namespaces: a list of paths");
	ok(c->user_namespaces, "user_namespaces");
	is_str(c->metrics_file, "/run/kareaper.prom", "metrics_file");
	ok(c->policies[1].netns && !strcmp(c->policies[1].netns[0], "web-*") &&
	   !strcmp(c->policies[1].netns[1], "db"), "netns globs");
	is_u64(c->n_policies, 3, "three policies, the empty one included");
	is_str(c->policies[0].name, "redis", "first policy name");
	is_u64(c->policies[0].local_port.n, 2, "redis ports");
	is_u64(c->policies[0].remote_addr.n, 3, "redis remote addresses");
	is_u64(c->policies[0].states, (1u << 1) | (1u << 8), "states");
	is_str(c->policies[0].process[0], "redis-server", "process");
	ok(c->policies[0].process[1] == NULL, "one process");
	is_u64(c->policies[0].idle_ms, 600000, "idle");
	is_u64(c->policies[0].interval_ms, 15000, "interval");
	is_u64(c->policies[0].probes, 4, "probes");
	is_str(c->policies[1].name, "pool", "blanks inside the header are trimmed");
	ok(c->policies[1].action == ACTION_KILL_IDLE, "kill-idle");
	ok(c->policies[1].dry_run, "per-policy dry_run");
	is_u64(c->policies[1].idle_ms, 7200000, "idle defaults to tcp_keepalive_time");
	is_u64(c->policies[2].interval_ms, 75000, "interval defaults to tcp_keepalive_intvl");
	is_u64(c->policies[2].probes, 9, "probes default to tcp_keepalive_probes");
	is_u64(c->policies[2].states, 1u << 1, "states default to established");
	ok(c->policies[2].action == ACTION_PROBE, "action defaults to probe");

	round_trip(c);
	config_free(c);
}

static void sysctl_defaults(void)
{
	struct keepalive_defaults d;
	char path[300];

	write_file("tcp_keepalive_time", "600\n", 4);
	write_file("tcp_keepalive_intvl", "30\n", 3);
	write_file("tcp_keepalive_probes", "4\n", 2);
	ok(keepalive_defaults_read(dir, &d) == 0, "sysctl files read");
	is_u64(d.idle_ms, 600000, "idle from tcp_keepalive_time");
	is_u64(d.interval_ms, 30000, "interval from tcp_keepalive_intvl");
	is_u64(d.probes, 4, "probes from tcp_keepalive_probes");
	write_file("tcp_keepalive_probes", "500\n", 4);
	keepalive_defaults_read(dir, &d);
	is_u64(d.probes, KR_MAX_PROBES, "absurd sysctl probes clamped");
	snprintf(path, sizeof(path), "%s/tcp_keepalive_intvl", dir);
	unlink(path);
	ok(keepalive_defaults_read(dir, &d) == -ENOENT && d.interval_ms == 75000,
	   "missing sysctl: error and the kernel's default");
}

/* kareaper.d/NAME.conf after the main file: policies appended in lexical order,
 * [global] keys overriding, errors naming the drop-in, a duplicate across files. */
static void dropins(void)
{
	char main_path[300], d[300], path[400], err[512], out[4096];
	struct config *c = NULL;
	FILE *f;
	size_t n;

	snprintf(main_path, sizeof(main_path), "%s/kr.conf", dir);
	snprintf(d, sizeof(d), "%s/kr.d", dir);
	ok(mkdir(d, 0755) == 0, "a drop-in directory beside the file");
#define PUT(name, text) write_file(name, text, strlen(text))
	PUT("kr.conf", "[global]\nscan_interval = 10s\ndry_run = yes\n[policy main]\nlocal_port = 1\n");
	PUT("kr.d/20-b.conf", "[global]\ndry_run = no\n[policy b]\nlocal_port = 3\n");
	PUT("kr.d/10-a.conf", "[global]\nscan_interval = 5s\n[policy a]\nlocal_port = 2\n");
	PUT("kr.d/30-ignored.conf.bak", "garbage\n");
	ok(config_load(main_path, &def, &c, err, sizeof(err)) == 0, "loads with drop-ins (%s)", err);
	if (!c)
		return;
	ok(c->n_policies == 3 && strcmp(c->policies[0].name, "main") == 0 &&
	   strcmp(c->policies[1].name, "a") == 0 && strcmp(c->policies[2].name, "b") == 0,
	   "policies: the file's, then 10-a, then 20-b; *.bak ignored");
	ok(c->scan_interval_ms == 5000 && !c->dry_run, "[global] keys of drop-ins override");
	f = fmemopen(out, sizeof(out), "w");
	config_print(c, f);
	fclose(f);
	snprintf(path, sizeof(path), "# from %s/10-a.conf:3\n[policy a]", d);
	ok(strstr(out, path) != NULL, "--check-config says where each policy came from");
	config_free(c);

	snprintf(path, sizeof(path), "%s", PUT("kr.d/15-bad.conf", "[policy c]\nidle = soon\n"));
	ok(config_load(main_path, &def, &c, err, sizeof(err)) < 0, "a broken drop-in fails the load");
	n = strlen(path);
	ok(strncmp(err, path, n) == 0 && strncmp(err + n, ":2: ", 4) == 0,
	   "with the drop-in's FILE:LINE (%s)", err);
	PUT("kr.d/15-bad.conf", "[policy main]\n");
#undef PUT
	ok(config_load(main_path, &def, &c, err, sizeof(err)) < 0 &&
	   strstr(err, "duplicate policy name 'main' (first at ") && strstr(err, "kr.conf:4)"),
	   "a policy name taken in another file: refused, naming both (%s)", err);
	unlink(path);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 99;
	}
	bad_configs();
	good_config();
	sysctl_defaults();
	dropins();
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	return done_testing();
}
