/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kareaper: reap TCP connections whose peer is gone. Options, start-up order, event loop:
 * the table of contents. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "backend.h"
#include "caps.h"
#include "cleanup.h"
#include "conf.h"
#include "engine.h"
#include "http.h"
#include "metrics.h"
#include "report.h"
#include "selftest.h"
#include "service.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef DOCDIR
#define DOCDIR "/usr/share/doc/kareaper"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/kareaper.conf"
/* sysexits' EX_CONFIG: the unit's RestartPreventExitStatus= stops a restart loop */
#define EXIT_CONFIG 78
/* sysexits' EX_UNAVAILABLE: kareaper cannot work here (no backend can, or the
 * self-test fails); no restart either: the next start would fail the same way */
#define EXIT_UNAVAILABLE 69
/* --once: dead connections were found (reaped, would be, or held back) */
#define EXIT_FOUND_DEAD 3

struct context {
	const char *config_path;
	const char *backend;      /* --backend, over the config's */
	bool once, dry_run, check_config, verbose, quiet, json;
	struct keepalive_defaults defaults;
	struct config *cfg;
	struct engine *engine;
	struct metrics_http *http; /* metrics_listen */
	sd_event *event;
	sd_event_source *scan_timer, *deadline_timer;
	int exit_code;
};

static void help(void)
{
	printf("Usage: kareaper [OPTIONS]\n"
	       "\n"
	       "Find TCP connections whose peer has silently gone away, prove it with\n"
	       "keepalive probes, and destroy them.\n"
	       "\n"
	       "  -c, --config FILE   configuration file (default " DEFAULT_CONFIG ")\n"
	       "      --once          one scan, wait for the verdicts of its probes, reap,\n"
	       "                      print a table of every matched socket, exit\n"
	       "  -j, --json          with --once: one JSON object per socket, then a summary\n"
	       "  -q, --quiet         with --once: print no table (verdicts are still logged);\n"
	       "                      with --check-config: print nothing when valid\n"
	       "  -n, --dry-run       reap nothing; report what would be reaped\n"
	       "  -b, --backend NAME  auto, bpf or netlink (over the config's backend =)\n"
	       "      --check-config  validate the configuration, print it with defaults\n"
	       "                      filled in, exit 0 if valid or 1 if not\n"
	       "  -f, --foreground    run in the foreground (always the case; for systemd)\n"
	       "  -v, --verbose       log at debug level\n"
	       "      --log-format F  text or json: how to log on stderr when it is not\n"
	       "                      the journal (json: one object a line, with the\n"
	       "                      journal entry's fields; default text)\n"
	       "  -V, --version       print the version and exit\n"
	       "  -h, --help          print this help and exit\n"
	       "\n"
	       "Exit status: 0 success; with --once, 0 when no connection was found dead and\n"
	       "3 when some were (reaped, or would be in a dry run, or held back by the\n"
	       "rails); 1 failure; 2 bad command line; 69 cannot work here (no backend,\n"
	       "self-test failed); 78 bad configuration.\n"
	       "\n"
	       "Signals: SIGHUP reloads the configuration, SIGTERM and SIGINT stop.\n"
	       "See kareaper(8) and kareaper.conf(5).\n");
}

enum { OPT_ONCE = 256, OPT_CHECK_CONFIG, OPT_LOG_FORMAT };

static int backend_parse(const char *s, enum backend_choice *ret)
{
	if (strcmp(s, "auto") == 0)
		*ret = BACKEND_AUTO;
	else if (strcmp(s, "bpf") == 0)
		*ret = BACKEND_BPF;
	else if (strcmp(s, "netlink") == 0)
		*ret = BACKEND_NETLINK;
	else
		return -EINVAL;
	return 0;
}

/* What reaching other users' processes needs (their /proc/PID/fd and ns files,
 * pidfd_getfd), and what the netlink backend needs: that, and SOCK_DESTROY. */
#define OTHERS_CAPS (CAPS_BIT(CAP_SYS_PTRACE) | CAPS_BIT(CAP_DAC_READ_SEARCH))
#define NETLINK_CAPS (CAPS_BIT(CAP_NET_ADMIN) | OTHERS_CAPS)

/* Below this many TCP sockets on the host a one-shot run in its own namespace
 * lists them on netlink before the BPF programs would have loaded (measured:
 * 4000 sockets 45 ms and 6.6 MiB against 100 ms and 19.6 MiB; 40 000, 297 ms
 * against 134 ms). */
#define ONCE_NETLINK_BELOW 10000

/* The TCP sockets a dump walks, from /proc/net/sockstat: all the host's
 * (alloc: every namespace shares the established hash by default) and this
 * namespace's time-wait ones; -1 if it cannot be read. */
static long tcp_sockets(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/net/sockstat", "re");
	char line[256];
	long alloc, tw;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "TCP: inuse %*d orphan %*d tw %ld alloc %ld", &tw, &alloc) == 2)
			return alloc + tw;
	return -1;
}

/* The backend asked for, or auto's pick, and why in how; NULL with a message in
 * err when none can work here. auto never picks a backend that cannot reap. A
 * one-shot run over a small table takes netlink where BPF may run too: it
 * answers before the programs would have loaded. */
static const struct backend_ops *backend_choose(enum backend_choice want, const struct config *cfg,
						bool once, char *how, size_t hlen, char *err, size_t len)
{
	uint64_t have = caps_effective(), missing = NETLINK_CAPS & ~have;
	uint64_t bpf_caps = CAPS_BIT(CAP_BPF) | CAPS_BIT(CAP_PERFMON);
	char names[128];
	const char *why;
	long n;

	caps_names(missing, names, sizeof(names));
	if (want == BACKEND_AUTO && once && cfg->namespaces == NS_SELF && !missing &&
	    (have & bpf_caps) == bpf_caps && (n = tcp_sockets()) >= 0 && n < ONCE_NETLINK_BELOW) {
		snprintf(how, hlen, "auto: a one-shot run over %ld TCP sockets, fewer than %d: "
			 "netlink lists them before the BPF programs would have loaded",
			 n, ONCE_NETLINK_BELOW);
		return &backend_netlink;
	}
	if (want == BACKEND_NETLINK) {
		if (missing)
			log_msg(LOG_WARNING, NULL, "backend netlink without %s: it cannot %s", names,
				missing & CAPS_BIT(CAP_NET_ADMIN) ? "destroy sockets" :
				"probe the sockets of other users' processes");
		snprintf(how, hlen, "as configured");
		return &backend_netlink;
	}
#ifdef HAVE_BPF
	why = backend_bpf_unavailable();
	if (!why) {
		snprintf(how, hlen, "%s; the kernel's kfuncs it uses: %s",
			 want == BACKEND_BPF ? "as configured" : "auto: the kernel runs its programs",
			 backend_bpf_kfuncs());
		return &backend_bpf;
	}
#else
	why = "kareaper was built without BPF (configure found no clang, bpftool or libbpf)";
#endif
	if (want == BACKEND_BPF) {
		snprintf(err, len, "backend bpf: %s", why);
		return NULL;
	}
	if (missing) {
		snprintf(err, len, "no backend can work here. bpf: %s. netlink: it lacks %s to "
			 "find and probe the sockets' owners: give it those rights with the unit's "
			 "netlink drop-in (mkdir -p /etc/systemd/system/kareaper.service.d && cp "
			 DOCDIR "/netlink.conf /etc/systemd/system/kareaper.service.d/ && "
			 "systemctl daemon-reload && systemctl restart kareaper; kareaper(8) THE "
			 "UNIT), or run it on a kernel the BPF backend runs on", why, names);
		return NULL;
	}
	snprintf(how, hlen, "auto: %s", why);
	return &backend_netlink;
}

/* The capabilities the backend needs on the running kernel. */
static uint64_t caps_needed(const struct backend_ops *b, const struct config *cfg)
{
	uint64_t need = NETLINK_CAPS;

#ifdef HAVE_BPF
	if (b == &backend_bpf)
		need = CAPS_BIT(CAP_BPF) | CAPS_BIT(CAP_PERFMON) |
		       (backend_bpf_destroys() ? 0 : CAPS_BIT(CAP_NET_ADMIN));
#endif
	/* other namespaces: their files in other users' /proc/PID/ns */
	if (cfg->namespaces != NS_SELF)
		need |= OTHERS_CAPS;
	return need;
}

/* Keep of kareaper's capabilities only those needed, and say so with the backend
 * and why it was chosen: one line. */
static void caps_settle(const struct backend_ops *b, const struct config *cfg, const char *how)
{
	uint64_t had = caps_effective(), keep = caps_needed(b, cfg) & had;
	char kept[128];
	int r = caps_drop_but(keep);

	caps_names(r < 0 ? had : keep, kept, sizeof(kept));
	if (r < 0)
		log_msg(LOG_WARNING, NULL, "cannot drop the capabilities it does not need: %s",
			strerror(-r));
	log_msg(LOG_INFO, NULL, "backend: %s (%s); capabilities kept: %s", b->name, how, kept);
}

static int parse_args(struct context *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "backend", required_argument, NULL, 'b' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int o;

	while ((o = getopt_long(argc, argv, "c:nb:qjfvVh", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			c->config_path = optarg;
			break;
		case OPT_ONCE:
			c->once = true;
			break;
		case 'n':
			c->dry_run = true;
			break;
		case 'b': {
			enum backend_choice b;

			if (backend_parse(optarg, &b) < 0) {
				fprintf(stderr, "kareaper: --backend: expected auto, bpf or netlink\n"
					"Try 'kareaper --help' for more information.\n");
				return -EINVAL;
			}
			c->backend = optarg;
			break;
		}
		case 'q':
			c->quiet = true;
			break;
		case 'j':
			c->json = true;
			break;
		case OPT_CHECK_CONFIG:
			c->check_config = true;
			break;
		case 'f':
			break;
		case 'v':
			c->verbose = true;
			break;
		case OPT_LOG_FORMAT:
			if (log_set_format(optarg) < 0) {
				fprintf(stderr, "kareaper: --log-format: expected text or json\n"
					"Try 'kareaper --help' for more information.\n");
				return -EINVAL;
			}
			break;
		case 'V':
			printf("kareaper %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			help();
			return 0;
		default:
			fprintf(stderr, "Try 'kareaper --help' for more information.\n");
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kareaper: unexpected argument '%s'\n"
			"Try 'kareaper --help' for more information.\n", argv[optind]);
		return -EINVAL;
	}
	if (c->json && (!c->once || c->quiet)) {
		fprintf(stderr, "kareaper: --json goes with --once, and not with --quiet\n"
			"Try 'kareaper --help' for more information.\n");
		return -EINVAL;
	}
	return 1;
}

/* /healthz fails after two scan intervals and a minute with no round ended:
 * a round is a scan, or a batch of verdicts between scans. */
static uint64_t health_limit(const struct config *cfg)
{
	return (2 * cfg->scan_interval_ms + 60000) * 1000;
}

static void write_metrics(struct context *c)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	if (!c->cfg->metrics_file && !c->http)
		return;
	r = metrics_render(engine_stats(c->engine), c->cfg, &text, &len);
	if (r < 0) {
		log_msg(LOG_WARNING, NULL, "cannot render the metrics: %s", strerror(-r));
		return;
	}
	if (c->cfg->metrics_file) {
		r = metrics_write(c->cfg->metrics_file, text, len);
		if (r < 0)
			log_msg(LOG_WARNING, NULL, "cannot write %s: %s", c->cfg->metrics_file,
				strerror(-r));
	}
	if (c->http) {
		metrics_http_update(c->http, text, len, health_limit(c->cfg));
		text = NULL;
	}
	free(text);
}

/* metrics_listen as the configuration says: started, moved or stopped. 0, or
 * -errno (logged) when it cannot listen there. */
static int serve_metrics(struct context *c, const struct listen_addr *before)
{
	const struct listen_addr *l = &c->cfg->metrics_listen;
	int r;

	if (c->http && before && l->set && !strcmp(before->text, l->text))
		return 0; /* the same address */
	metrics_http_stop(c->http);
	c->http = NULL;
	if (!l->set)
		return 0;
	r = metrics_http_start(l, health_limit(c->cfg), &c->http);
	if (r < 0) {
		log_msg(LOG_ERR, NULL, "metrics_listen = %s: cannot listen there: %s%s", l->text,
			strerror(-r), r == -EADDRNOTAVAIL || r == -EACCES || r == -EPERM ?
			" (under systemd, an address other than localhost needs IPAddressAllow= "
			"in a drop-in)" : "");
		return r;
	}
	log_msg(LOG_INFO, NULL, "metrics served at http://%s/metrics", l->text);
	return 0;
}

static void status_line(struct context *c, char *buf, size_t len)
{
	report_status(engine_stats(c->engine), buf, len);
}

/* After every round: a scan or a batch of verdicts. */
static void update_status(struct context *c)
{
	char st[256];

	status_line(c, st, sizeof(st));
	notify_status(st);
	write_metrics(c);
}

/* One timer for the earliest verdict due; re-armed after every scan and verdict. */
static void schedule_deadline(struct context *c)
{
	uint64_t next = engine_next_deadline(c->engine);

	if (next == UINT64_MAX) {
		sd_event_source_set_enabled(c->deadline_timer, SD_EVENT_OFF);
		if (c->once)
			sd_event_exit(c->event, 0);
		return;
	}
	/* engine time is CLOCK_MONOTONIC in ms, like sd-event's in us */
	sd_event_source_set_time(c->deadline_timer, next * 1000);
	sd_event_source_set_enabled(c->deadline_timer, SD_EVENT_ONESHOT);
}

/* The loop's time when it woke, not the time the timer was set for: after a
 * stall (SIGSTOP, a busy host) deadlines computed from the latter lie in the past. */
static uint64_t woke_ms(struct context *c, uint64_t usec)
{
	sd_event_now(c->event, CLOCK_MONOTONIC, &usec);
	return usec / 1000;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct context *c = userdata;

	engine_check_deadlines(c->engine, woke_ms(c, usec));
	schedule_deadline(c);
	update_status(c);
	return 0;
}

static int on_scan(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct context *c = userdata;

	engine_scan(c->engine, woke_ms(c, usec));
	if (!c->once)
		sd_event_source_set_time_relative(s, c->cfg->scan_interval_ms * 1000);
	schedule_deadline(c);
	update_status(c);
	return 0;
}

static int on_stop(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct context *c = userdata;

	log_msg(LOG_INFO, MSGID_STOPPED, "stopping on signal %s, restoring probed sockets",
		strsignal((int)si->ssi_signo));
	notify_stopping();
	c->exit_code = 0;
	sd_event_exit(c->event, 0);
	return 0;
}

static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct context *c = userdata;
	struct config *nc;
	char err[512], st[256];
	int r;

	notify_reloading();
	keepalive_defaults_read(NULL, &c->defaults);
	r = config_load(c->config_path, &c->defaults, &nc, err, sizeof(err));
	if (r < 0) {
		log_msg(LOG_ERR, MSGID_CONFIG_ERROR, "reload failed, keeping the running "
			"configuration: %s", err);
	} else {
		if (nc->backend != c->cfg->backend && !c->backend)
			log_msg(LOG_NOTICE, NULL, "backend = %s takes effect at the next start",
				config_backend_name(nc->backend));
		/* the rights other namespaces need were dropped at start */
		if (c->cfg->namespaces == NS_SELF && nc->namespaces != NS_SELF &&
		    (caps_effective() & OTHERS_CAPS) != OTHERS_CAPS)
			log_msg(LOG_WARNING, NULL, "namespaces other than self need CAP_SYS_PTRACE "
				"and CAP_DAC_READ_SEARCH to reach other processes' namespaces, "
				"dropped at start: restart kareaper for them");
		struct listen_addr before = c->cfg->metrics_listen;

		engine_set_config(c->engine, nc);
		config_free(c->cfg);
		c->cfg = nc;
		serve_metrics(c, &before); /* logged; the rest of the reload stands */
		log_set_level(c->verbose ? LOG_DEBUG : nc->log_level);
		log_msg(LOG_INFO, MSGID_RELOADED, "configuration reloaded from %s (%zu policies)",
			c->config_path, nc->n_policies);
		sd_event_source_set_time_relative(c->scan_timer, 1000);
		sd_event_source_set_enabled(c->scan_timer, SD_EVENT_ON);
	}
	status_line(c, st, sizeof(st));
	notify_ready(st);
	return 0;
}

static int loop_setup(struct context *c)
{
	sigset_t mask;
	int r;

	r = sd_event_default(&c->event);
	if (r < 0)
		return r;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if ((r = sd_event_add_signal(c->event, NULL, SIGTERM, on_stop, c)) < 0 ||
	    (r = sd_event_add_signal(c->event, NULL, SIGINT, on_stop, c)) < 0 ||
	    /* a hangup ends a one-shot run in the foreground (options put back) */
	    (r = sd_event_add_signal(c->event, NULL, SIGHUP, c->once ? on_stop : on_reload, c)) < 0)
		return r;
	r = sd_event_add_time(c->event, &c->deadline_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000,
			      on_deadline, c);
	if (r < 0)
		return r;
	sd_event_source_set_enabled(c->deadline_timer, SD_EVENT_OFF);
	/* pings WATCHDOG=1 at half of WATCHDOG_USEC, from this loop */
	return sd_event_set_watchdog(c->event, true);
}

static int run(struct context *c)
{
	uint64_t usec;
	char st[256];
	int r;

	r = loop_setup(c);
	if (r < 0)
		return r;
	/* after loop_setup: the server's thread inherits the blocked signals */
	if (!c->once && serve_metrics(c, NULL) < 0) {
		c->exit_code = 1; /* said why */
		return 0;
	}
	/* The first scan runs before READY=1, so "started" means "working". */
	sd_event_now(c->event, CLOCK_MONOTONIC, &usec);
	engine_scan(c->engine, usec / 1000);
	if (!c->once) {
		r = sd_event_add_time_relative(c->event, &c->scan_timer, CLOCK_MONOTONIC,
					       c->cfg->scan_interval_ms * 1000, 1000, on_scan, c);
		if (r < 0)
			return r;
		sd_event_source_set_enabled(c->scan_timer, SD_EVENT_ON); /* not oneshot */
	}
	status_line(c, st, sizeof(st));
	notify_ready(st);
	write_metrics(c);
	schedule_deadline(c);
	r = sd_event_loop(c->event);
	metrics_http_stop(c->http);
	c->http = NULL;
	engine_restore_all(c->engine);
	return r;
}

/* A single run builds everything at once and exits: libbpf its copy of the
 * kernel's BTF (twice 5 MiB, freed after the load), then the scan's records,
 * the owners and the table. On a virtual machine with shadow page tables a page
 * fault costs about 25 us, and a table of 100 000 rows took 4 500 of them: a
 * quarter of the run. So the heap keeps what is freed for reuse, and sits in a
 * range advised for huge pages (where the kernel grants them on advice), one
 * fault per 2 MiB. The daemon keeps glibc's defaults: it allocates once and
 * then reuses, and gives memory back. */
static void once_memory(void)
{
	const size_t reserve = 128 << 20, huge = 2 << 20;
	uintptr_t a, b;
	void *p;

	mallopt(M_MMAP_THRESHOLD, 2 * reserve);
	mallopt(M_TRIM_THRESHOLD, 2 * reserve);
	p = malloc(reserve); /* address space only, until touched */
	if (!p)
		return;
	a = ((uintptr_t)p + huge - 1) & ~(uintptr_t)(huge - 1);
	b = ((uintptr_t)p + reserve) & ~(uintptr_t)(huge - 1);
	if (b > a)
		madvise((void *)a, b - a, MADV_HUGEPAGE);
	free(p); /* the top of the heap, where the next allocations come from */
}

/* Each namespace watched holds four descriptors: the soft limit a shell or
 * systemd gives (1024) is raised to the hard one. The unit sets both
 * (LimitNOFILE=). */
static void nofile_raise(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) < 0 || r.rlim_cur >= r.rlim_max)
		return;
	r.rlim_cur = r.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &r) < 0)
		log_msg(LOG_DEBUG, NULL, "cannot raise the descriptor limit: %m");
}

int main(int argc, char **argv)
{
	struct context c = { .config_path = DEFAULT_CONFIG, .exit_code = 1 };
	struct engine_options eo = { 0 };
	enum backend_choice want;
	char err[1536], how[1024];
	int r;

	r = parse_args(&c, argc, argv);
	if (r <= 0)
		return r == 0 ? 0 : 2;
	if (c.once)
		once_memory();
	log_setup(c.verbose ? LOG_DEBUG : LOG_INFO);
	nofile_raise();

	r = keepalive_defaults_read(NULL, &c.defaults);
	if (r < 0)
		log_msg(LOG_WARNING, NULL, "cannot read the tcp_keepalive sysctls (%s); "
			"defaults are 7200s, 75s, 9", strerror(-r));
	r = config_load(c.config_path, &c.defaults, &c.cfg, err, sizeof(err));
	if (r < 0) {
		if (c.check_config) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		log_msg(LOG_ERR, MSGID_CONFIG_ERROR, "%s", err);
		return EXIT_CONFIG;
	}
	if (c.check_config) {
		if (!c.quiet)
			config_print(c.cfg, stdout);
		config_free(c.cfg);
		return 0;
	}
	log_set_level(c.verbose ? LOG_DEBUG : c.cfg->log_level);

	want = c.cfg->backend;
	if (c.backend)
		backend_parse(c.backend, &want);
	eo.backend = backend_choose(want, c.cfg, c.once, how, sizeof(how), err, sizeof(err));
	if (!eo.backend) {
		log_msg(LOG_ERR, NULL, "%s", err);
		c.exit_code = EXIT_UNAVAILABLE;
		goto out;
	}
	/* the table's rows (and their owners) are kept only when it will be printed */
	eo.force_dry_run = c.dry_run;
	eo.keep_rows = c.once && !c.quiet;
	eo.once = c.once;
	r = engine_new(c.cfg, &eo, &c.engine, err, sizeof(err));
	if (r < 0) {
		log_msg(LOG_ERR, NULL, "%s", err);
		goto out;
	}
	if (engine_stats(c.engine)->namespaces == 0)
		log_msg(LOG_WARNING, NULL, "no network namespace to watch yet");
	/* before the self-test: it shows that what is kept is enough */
	caps_settle(eo.backend, c.cfg, how);
	r = selftest_run(eo.backend, err, sizeof(err));
	if (r < 0) {
		log_msg(LOG_ERR, NULL, "%s", err);
		c.exit_code = EXIT_UNAVAILABLE;
		goto out;
	}
	log_msg(LOG_INFO, MSGID_STARTED, "kareaper %s started: %zu policies, scan every %llums%s",
		PACKAGE_VERSION, c.cfg->n_policies, (unsigned long long)c.cfg->scan_interval_ms,
		c.dry_run || c.cfg->dry_run ? ", dry run" : "");
	c.exit_code = 0;
	r = run(&c);
	if (r < 0) {
		log_msg(LOG_ERR, NULL, "event loop failed: %s", strerror(-r));
		c.exit_code = 1;
	}
	if (c.once) {
		const struct stats *st = engine_stats(c.engine);

		if (c.json)
			report_print_json(engine_report(c.engine), c.cfg, st, stdout);
		else if (!c.quiet)
			report_print(engine_report(c.engine), c.cfg, st, stdout);
		if (c.exit_code == 0 && st->reaped + st->would_reap + st->held + st->rate_limited)
			c.exit_code = EXIT_FOUND_DEAD;
	}
out:
	engine_free(c.engine);
	sd_event_source_unref(c.scan_timer);
	sd_event_source_unref(c.deadline_timer);
	sd_event_unref(c.event);
	config_free(c.cfg);
	return c.exit_code;
}
