/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "policy.h"
#include "sockrec.h"
#include "tap.h"

/* Sockets never candidates, idle time, and the kernel's own evidence. */
static void candidates_and_evidence(const struct config *c)
{
	struct sock_rec s;

	/* Never candidates, whatever the policy. */
	s = mkrec("192.0.2.1", 6379, "198.51.100.7", 40000, 1);
	s.state = 10;
	ok(!sock_is_candidate(&s) && policy_match(c, &s, "self", NULL) == MATCH_NONE, "LISTEN never");
	s.state = 6;
	ok(!sock_is_candidate(&s), "TIME_WAIT never");
	s.state = 3;
	ok(!sock_is_candidate(&s), "SYN_RECV (request sock) never");
	s.state = 1;
	s.inode = 0;
	ok(!sock_is_candidate(&s) && policy_match(c, &s, "self", NULL) == MATCH_NONE, "orphan never");

	/* Idle and kernel evidence. */
	s = mkrec("192.0.2.1", 6379, "198.51.100.7", 40000, 1);
	s.last_data_recv_ms = 900000;
	s.last_ack_recv_ms = 300000;
	is_u64(sock_idle_ms(&s), 300000, "idle is the younger of data and ack");
	is_u64(config_min_idle_ms(c), 7200000, "smallest idle of acting policies");
	{
		const struct policy *p = &c->policies[1]; /* probes = 9 */

		s.timer = 2;
		s.probes = 8;
		ok(policy_kernel_evidence(p, &s) == EVIDENCE_NONE, "8 of 9 keepalives: not yet");
		s.probes = 9;
		ok(policy_kernel_evidence(p, &s) == EVIDENCE_KEEPALIVE, "9 keepalives unanswered");
		s.timer = 0;
		ok(policy_kernel_evidence(p, &s) == EVIDENCE_NONE,
		   "9 unanswered, keepalive switched off (our options put back): not the owner's");
		s.timer = 1;
		s.probes = 0;
		s.unacked = 2;
		s.retransmits = 9;
		ok(policy_kernel_evidence(p, &s) == EVIDENCE_NONE,
		   "data retransmitted unanswered: no evidence (backed-off retransmits are a second "
		   "of loss; the kernel ends it itself after tcp_retries2)");
		s.timer = 4; /* zero-window probing: answered probes reset the count */
		s.unacked = 0;
		s.probes = 2;
		ok(policy_kernel_evidence(p, &s) == EVIDENCE_NONE, "a few zero-window probes: none");
	}
}

/* Handing back: what still is kareaper's goes back, what the owner set stays. */
static void handback(void)
{
	const struct ka_opts own = { 0, 7200, 75, 9, 0 }, armed = { 1, 5, 5, KR_MAX_KEEPCNT, 0 };
	const struct ka_opts sysctl = { 0, 86400, 75, 9, 0 };
	struct ka_opts cur, o;

	cur = armed;
	ok(policy_handback(&cur, &armed, &own, &o) == 0 && !memcmp(&o, &own, sizeof(o)),
	   "exactly as armed: every option back to the owner's");
	cur = own;
	ok(policy_handback(&cur, &armed, &own, &o) == 0 && !memcmp(&o, &own, sizeof(o)),
	   "never armed (journaled, then killed): nothing to write, nothing the owner's");
	cur = armed;
	cur.user_timeout_ms = 30000;
	ok(policy_handback(&cur, &armed, &own, &o) == KA_USER_TIMEOUT && o.keepalive == 0 &&
	   o.user_timeout_ms == 30000 && o.idle_s == 7200 && o.cnt == 9,
	   "the owner set TCP_USER_TIMEOUT while armed: it stays, keepalive goes back off");
	cur = armed;
	cur.keepalive = 0;
	ok(policy_handback(&cur, &armed, &own, &o) == 0 && o.keepalive == 0 && o.cnt == 9 &&
	   o.intvl_s == 75, "the owner switched keepalive off (its own value): the rest back");
	cur = armed;
	cur.idle_s = 60;
	cur.cnt = 4;
	ok(policy_handback(&cur, &armed, &own, &o) == (KA_IDLE | KA_CNT) && o.idle_s == 60 &&
	   o.cnt == 4 && o.keepalive == 0 && o.intvl_s == 75,
	   "TCP_KEEPIDLE and TCP_KEEPCNT set by the owner: both stay, kareaper's others go");
	cur = armed;
	ok(policy_handback(&cur, &armed, &sysctl, &o) == 0 && o.idle_s == KR_MAX_KEEPIDLE_S,
	   "an owner's sysctl value setsockopt() refuses: put back as the nearest it takes");
	cur = sysctl;
	ok(policy_handback(&cur, &armed, &sysctl, &o) == 0 && o.idle_s == 86400,
	   "never armed, a sysctl value: left exactly as read");
	ok(ka_opts_diff(&own, &armed) == (KA_KEEPALIVE | KA_IDLE | KA_INTVL | KA_CNT),
	   "ka_opts_diff names the options that differ");
	{
		/* an older kareaper's journal: what it wrote is not known, only what it
		 * may have written (armed, or "held": the owner's timing, a raised count) */
		const struct ka_opts any = { 1, KA_ANY, KA_ANY, KA_ANY, 0 };
		const struct ka_opts pg = { 1, 25, 5, 3, 0 }, held = { 1, 25, 5, 7, 0 };

		cur = held;
		ok(policy_handback(&cur, &any, &pg, &o) == 0 && !memcmp(&o, &pg, sizeof(o)),
		   "an older journal's held socket: the owner's count back");
		cur = armed;
		ok(policy_handback(&cur, &any, &own, &o) == 0 && !memcmp(&o, &own, sizeof(o)),
		   "an older journal's armed socket: every option back");
		cur = armed;
		cur.user_timeout_ms = 3000;
		ok(policy_handback(&cur, &any, &own, &o) == KA_USER_TIMEOUT && o.user_timeout_ms == 3000,
		   "a user timeout the owner set since stays");
	}
}

/* When the owner's own keepalive ends a silent peer's connection. */
static void owner_schedule(void)
{
	const struct ka_opts pg = { 1, 7200, 75, 9, 0 }, ut = { 1, 10, 5, 9, 20000 },
			     ut_short = { 1, 30, 5, 9, 20000 };

	is_u64(policy_owner_schedule_ms(&pg), (7200 + 9 * 75) * 1000ull,
	       "7200s/75s/9: idle, then 9 probes");
	/* fires at 10 s (probe), 15 s (probe), 20 s: at the user timeout with one out */
	is_u64(policy_owner_schedule_ms(&ut), 20000, "a user timeout: the first probe time past it");
	is_u64(policy_owner_schedule_ms(&ut_short), 35000,
	       "a user timeout below the idle: one probe, one interval");
}

/* Which sockets can witness that the network works (witness.c). */
static void heard(void)
{
	struct sock_rec s = mkrec("192.0.2.1", 6379, "198.51.100.7", 40000, 1);

	s.last_data_recv_ms = 5000;
	s.last_ack_recv_ms = 700;
	s.last_data_sent_ms = 900;
	is_u64(sock_heard_ms(&s), 900, "a peer elsewhere: data sent 900 ms ago, acknowledged");
	s.unacked = 1;
	is_u64(sock_heard_ms(&s), UINT32_MAX, "not while some is in flight (segments in prove "
	       "nothing of the way out)");
	s.unacked = 0;
	s.notsent = 100;
	is_u64(sock_heard_ms(&s), UINT32_MAX, "nor while some it wrote is not sent yet (a "
	       "local firewall dropped it on its way out)");
	s.notsent = 0;
	s.state = 5;
	is_u64(sock_heard_ms(&s), UINT32_MAX, "nor in FIN_WAIT2 (all acknowledged may be the "
	       "FIN alone, which moves no send time)");
	s.state = 1;
	s.state = 10; /* listen */
	is_u64(sock_heard_ms(&s), UINT32_MAX, "a listener is no witness");
	s.state = 1;
	s.have_info = false;
	is_u64(sock_heard_ms(&s), UINT32_MAX, "nor a socket without tcp_info");
	s = mkrec("127.0.0.1", 6379, "127.0.0.5", 40000, 1);
	is_u64(sock_heard_ms(&s), UINT32_MAX, "nor loopback");
	s = mkrec("::ffff:127.0.0.1", 6379, "::ffff:127.0.0.1", 40000, 1);
	ok(sock_peer_local(&s), "v4-mapped loopback is this host");
	s = mkrec("::1", 6379, "::1", 40000, 1);
	ok(sock_peer_local(&s), "::1 is this host");
	s = mkrec("192.0.2.1", 6379, "192.0.2.1", 40000, 1);
	ok(sock_peer_local(&s), "so is the host's own address (a connection to itself)");
	s = mkrec("2001:db8::1", 6379, "2001:db8::2", 40000, 1);
	ok(!sock_peer_local(&s), "a v6 peer elsewhere is not");
}

/* The netlink backend's wrap check: a socket witnesses only if it had something
 * acknowledged since the previous look's record. */
static void sent_since(void)
{
	struct sent_record r = { 0 };
	struct sock_rec w = mkrec("192.0.2.1", 6379, "198.51.100.7", 40000, 1);
	struct sock_rec o = mkrec("192.0.2.1", 6379, "198.51.100.8", 40001, 2);

	w.last_data_sent_ms = o.last_data_sent_ms = 500;
	w.bytes_acked = 1000;
	o.bytes_acked = 77;
	sent_record_begin(&r);
	ok(sent_record_heard(&r, &w, true) == UINT32_MAX, "no record yet: no witness");
	sent_record_heard(&r, &o, true);
	sent_record_end(&r, true);
	w.last_data_sent_ms = 100; /* 49.7 days later, its u32 wraps: "100 ms ago" */
	sent_record_begin(&r);
	ok(sent_record_heard(&r, &w, true) == UINT32_MAX,
	   "nothing acknowledged since the record: the time is the wrap, no witness");
	o.bytes_acked = 177;
	o.last_data_sent_ms = 300;
	ok(sent_record_heard(&r, &o, true) == 300, "100 bytes acknowledged since: a witness");
	{
		struct sock_rec n = mkrec("192.0.2.1", 6379, "198.51.100.9", 40002, 3);

		n.last_data_sent_ms = 20;
		ok(sent_record_heard(&r, &n, true) == 20, "a connection new since: a witness");
	}
	sent_record_end(&r, false);
	ok(sent_record_heard(&r, &o, false) == 300, "a walk cut short keeps the old record");
	sent_record_begin(&r);
	sent_record_heard(&r, &o, true);
	sent_record_end(&r, true);
	ok(sent_record_heard(&r, &o, false) == UINT32_MAX, "a whole walk's replaces it");
	sent_record_free(&r);
}

int main(void)
{
	heard();
	sent_since();
	handback();
	owner_schedule();
	struct config *c = config_from(
		"[policy internal]\n"
		"remote_addr = 10.0.0.0/8, !10.9.9.9\n"
		"local_port = 6379\n"
		"action = ignore\n"
		"[policy redis]\n"
		"local_port = 6379\n"
		"states = established, close-wait\n"
		"[policy v6net]\n"
		"remote_addr = 2001:db8::/32\n"
		"[policy byproc]\n"
		"remote_port = 5432\n"
		"process = pgbouncer, psql\n"
		"[policy web]\n"
		"local_port = 8000-8999\n"
		"local_addr = 192.0.2.0/24\n"
		"[policy containers]\n"
		"local_port = 9000\n"
		"netns = app-*, db\n");
	struct sock_rec s;

	ok(c != NULL, "config loads");
	if (!c)
		return done_testing();

	s = mkrec("192.0.2.1", 6379, "10.1.2.3", 40000, 1);
	is_u64(policy_match(c, &s, "self", NULL), 0, "first match wins: internal before redis");
	s = mkrec("192.0.2.1", 6379, "10.9.9.9", 40000, 1);
	is_u64(policy_match(c, &s, "self", NULL), 1, "negated address falls through to redis");
	s = mkrec("192.0.2.1", 6379, "198.51.100.7", 40000, 1);
	is_u64(policy_match(c, &s, "self", NULL), 1, "outside 10/8: redis");
	s = mkrec("::ffff:192.0.2.1", 6379, "::ffff:10.1.2.3", 40000, 1);
	is_u64(policy_match(c, &s, "self", NULL), 0, "v4-mapped peer matches v4 CIDR");
	s = mkrec("2001:db8::1", 443, "2001:db8:5::9", 40000, 1);
	is_u64(policy_match(c, &s, "self", NULL), 2, "v6 peer in v6 CIDR");
	s = mkrec("2001:db8::1", 443, "2001:db9::9", 40000, 1);
	is_u64(policy_match(c, &s, "self", NULL), (unsigned long long)MATCH_NONE, "v6 peer outside: no match");
	s = mkrec("192.0.2.1", 6379, "198.51.100.7", 40000, 1);
	s.state = 8; /* close-wait */
	is_u64(policy_match(c, &s, "self", NULL), 1, "close-wait selected by redis");
	s = mkrec("192.0.2.1", 8080, "198.51.100.7", 40000, 1);
	s.state = 8;
	is_u64(policy_match(c, &s, "self", NULL), (unsigned long long)MATCH_NONE,
	       "close-wait not selected by web (established only)");

	s = mkrec("192.0.2.1", 33000, "198.51.100.7", 5432, 1);
	is_u64(policy_match(c, &s, "self", NULL), (unsigned long long)MATCH_NEED_OWNER,
	       "process selector asks for the owner");
	is_u64(policy_match(c, &s, "self", "psql"), 3, "owner psql matches");
	is_u64(policy_match(c, &s, "self", "python3"), (unsigned long long)MATCH_NONE,
	       "other owner: no match");

	s = mkrec("192.0.2.1", 8500, "198.51.100.7", 40000, 1);
	is_u64(policy_match(c, &s, "self", NULL), 4, "port range and local CIDR");
	s = mkrec("192.0.3.1", 8500, "198.51.100.7", 40000, 1);
	is_u64(policy_match(c, &s, "self", NULL), (unsigned long long)MATCH_NONE, "local CIDR mismatch");

	s = mkrec("192.0.2.1", 9000, "198.51.100.7", 40000, 1);
	is_u64(policy_match(c, &s, "app-7", NULL), 5, "netns glob matches app-7");
	is_u64(policy_match(c, &s, "db", NULL), 5, "netns db matches");
	is_u64(policy_match(c, &s, "dbx", NULL), (unsigned long long)MATCH_NONE,
	       "netns dbx does not");
	is_u64(policy_match(c, &s, "self", NULL), (unsigned long long)MATCH_NONE,
	       "our own namespace is 'self'");

	candidates_and_evidence(c);
	ok(policy_selects_netns(c, "anything"), "a policy without netns = selects every namespace");
	config_free(c);

	/* namespaces = all watches only the namespaces some policy selects by name */
	c = config_from("[policy a]\nnetns = app-*\n[policy b]\nnetns = db\naction = ignore\n");
	ok(c != NULL, "config with netns = on every policy loads");
	if (c) {
		ok(policy_selects_netns(c, "app-1") && policy_selects_netns(c, "db"),
		   "the namespaces the policies name are selected (ignore policies too)");
		ok(!policy_selects_netns(c, "self") && !policy_selects_netns(c, "dbx"),
		   "the others are not");
		config_free(c);
	}
	return done_testing();
}
