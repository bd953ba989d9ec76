/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <stdbool.h>

#include "policy.h"
#include "sockrec.h"
#include "tap.h"

int main(void)
{
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
		ok(policy_kernel_evidence(p, &s) == EVIDENCE_RETRANSMIT, "retransmits unanswered");
		s.unacked = 0;
		ok(policy_kernel_evidence(p, &s) == EVIDENCE_NONE, "no data outstanding: no evidence");
		s.timer = 4; /* zero-window probing: answered probes reset the count */
		s.unacked = 0;
		s.probes = 2;
		ok(policy_kernel_evidence(p, &s) == EVIDENCE_NONE, "a few zero-window probes: none");
	}
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
