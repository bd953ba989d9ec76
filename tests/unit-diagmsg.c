/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Netlink reply parsing on recorded dump bytes (tests/data, made with record-dump in a
 * namespace holding: 127.0.0.1:5000 with two clients, dual-stack [::]:5001 with one
 * client from 127.0.0.1 and one from ::1), plus damaged copies of them. */
#include "config.h"

#include <errno.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "diagmsg.h"
#include "policy.h"
#include "sockrec.h"
#include "tap.h"

struct tally {
	int n, listen, estab, lport5000, lport5001, mapped_as_v4, v6, info, inode0, segs, cgroup;
};

static int count_cb(const struct sock_rec *s, void *data)
{
	struct tally *t = data;

	t->n++;
	t->listen += s->state == 10;
	t->estab += s->state == 1;
	t->lport5000 += s->lport == 5000 && s->state == 1;
	t->lport5001 += s->lport == 5001 && s->state == 1;
	t->mapped_as_v4 += s->family == AF_INET6 && s->local.family == AF_INET;
	t->v6 += s->local.family == AF_INET6;
	t->info += s->have_info;
	t->inode0 += s->inode == 0;
	t->segs += s->segs_in > 0;
	t->cgroup += s->cgroup != 0;
	return 0;
}

static void *slurp(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	void *buf;

	snprintf(path, sizeof(path), "%s/%s", TEST_DATA, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	buf = malloc(1 << 20);
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

/* The recorded seq of the first message, so the walker takes the replies as ours. */
static uint32_t seq_of(const void *buf)
{
	return ((const struct nlmsghdr *)buf)->nlmsg_seq;
}

static int walk(const void *buf, size_t len, struct tally *t)
{
	struct diag_walk w = { .seq = seq_of(buf), .cb = count_cb, .data = t };

	return diag_walk_buffer(&w, buf, len);
}

static void recorded(void)
{
	struct tally t = { 0 };
	size_t len4, len6;
	uint8_t *b4 = slurp("dump-inet.bin", &len4), *b6 = slurp("dump-inet6.bin", &len6);

	ok(b4 && b6, "recorded dumps present");
	if (!b4 || !b6)
		return;
	is_u64(walk(b4, len4, &t), 0, "v4 dump parses to NLMSG_DONE");
	is_u64(t.n, 6, "v4: 6 sockets (listener, 2+2 ends on 5000, 1 client of 5001)");
	is_u64(t.listen, 1, "v4: one listener");
	is_u64(t.lport5000, 2, "v4: two server ends on 5000");
	is_u64(t.info, 6, "v4: tcp_info everywhere");
	is_u64(t.inode0, 0, "v4: every socket owned");
	ok(t.segs >= 5, "v4: segs_in parsed");
	is_u64(t.cgroup, 6, "v4: the cgroup each was made in (INET_DIAG_CGROUP_ID)");

	memset(&t, 0, sizeof(t));
	is_u64(walk(b6, len6, &t), 0, "v6 dump parses to NLMSG_DONE");
	is_u64(t.n, 4, "v6: 4 sockets (listener, mapped server end, ::1 both ends)");
	is_u64(t.lport5001, 2, "v6: two server ends on 5001");
	is_u64(t.mapped_as_v4, 1, "v6: the v4-mapped end reads as v4");
	is_u64(t.v6, 3, "v6: three real v6 sockets (listener included)");

	/* every prefix that cuts a message must be an error, never a crash or a success */
	{
		const struct nlmsghdr *first = (const void *)b4;
		size_t cut = first->nlmsg_len + 20;

		memset(&t, 0, sizeof(t));
		is_u64((unsigned long long)-walk(b4, cut, &t), EBADMSG,
		       "truncated inside the 2nd message: EBADMSG");
		is_u64(t.n, 1, "after delivering only the whole first");
	}
	{
		bool all = true;

		for (size_t cut = 1; cut < len4; cut++) {
			int r;

			memset(&t, 0, sizeof(t));
			r = walk(b4, cut, &t);
			if (r != -EBADMSG && r != 1)
				all = false;
		}
		ok(all, "every truncation of the v4 dump: EBADMSG or more-to-come");
	}
	/* damage an attribute length inside the first message */
	{
		uint8_t *copy = malloc(len4);
		struct nlattr *attr;

		memcpy(copy, b4, len4);
		attr = (void *)(copy + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct inet_diag_msg)));
		attr->nla_len = 0xfff0;
		is_u64((unsigned long long)-walk(copy, len4, &t), EBADMSG,
		       "attribute longer than its message: EBADMSG");
		attr->nla_len = 2;
		is_u64((unsigned long long)-walk(copy, len4, &t), EBADMSG,
		       "attribute shorter than its header: EBADMSG");
		memcpy(copy, b4, len4);
		((struct nlmsghdr *)copy)->nlmsg_len = NLMSG_HDRLEN + 8;
		is_u64((unsigned long long)-walk(copy, len4, &t), EBADMSG,
		       "message shorter than inet_diag_msg: EBADMSG");
		memcpy(copy, b4, len4);
		((struct nlmsghdr *)copy)->nlmsg_type = 0x77;
		is_u64((unsigned long long)-walk(copy, len4, &t), EBADMSG,
		       "unknown message type: EBADMSG");
		memcpy(copy, b4, len4);
		((struct nlmsghdr *)copy)->nlmsg_flags |= NLM_F_DUMP_INTR;
		is_u64((unsigned long long)-walk(copy, len4, &t), EINTR,
		       "NLM_F_DUMP_INTR: EINTR, the caller starts over");
		memcpy(copy, b4, len4);
		((struct nlmsghdr *)copy)->nlmsg_seq += 1000;
		memset(&t, 0, sizeof(t));
		ok(walk(b4, len4, &t) == 0, "baseline");
		{
			struct diag_walk w = { .seq = seq_of(b4), .cb = count_cb, .data = &t };

			memset(&t, 0, sizeof(t));
			is_u64((unsigned long long)-diag_walk_buffer(&w, copy, len4), EPROTO,
			       "a message of another request: EPROTO (mnl_cb_run's seq check)");
			w.portid = 4242;
			ok(diag_walk_buffer(&w, b4, len4) == -ESRCH,
			   "a message for another port id: ESRCH");
		}
		free(copy);
	}
	free(b4);
	free(b6);
}

static void synthetic(void)
{
	uint8_t buf[1024] __attribute__((aligned(8))) = { 0 };
	struct nlmsghdr *nlh = (void *)buf;
	struct inet_diag_msg *m = (void *)(buf + NLMSG_HDRLEN);
	struct nlattr *attr = (void *)(buf + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*m)));
	struct tcp_info ti = { 0 }; /* netlink payloads are only 4-byte aligned: copy in */
	struct sock_rec s;

	m->idiag_family = AF_INET;
	m->idiag_state = 1;
	m->idiag_inode = 77;
	m->id.idiag_sport = htons(6379);
	m->id.idiag_dport = htons(50000);
	m->id.idiag_cookie[0] = 0x11223344;
	m->id.idiag_cookie[1] = 0x55;
	ti.tcpi_last_data_recv = 4000000000u;
	ti.tcpi_last_ack_recv = 3000;
	ti.tcpi_probes = 3;
	memcpy((uint8_t *)attr + NLA_HDRLEN, &ti, sizeof(ti));
	/* an old kernel's tcp_info ends before tcpi_segs_in */
	attr->nla_type = INET_DIAG_INFO;
	attr->nla_len = NLA_HDRLEN + offsetof(struct tcp_info, tcpi_segs_in);
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_len = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*m)) + NLA_ALIGN(attr->nla_len);
	ok(diag_parse(nlh, &s) == 0, "short tcp_info of an older kernel parses");
	is_u64(s.cookie, 0x5511223344ull, "cookie assembled from both halves");
	is_u64(s.lport, 6379, "ports in host order");
	is_u64(s.last_data_recv_ms, 4000000000u, "u32 idle kept whole");
	is_u64(sock_idle_ms(&s), 3000, "idle from the younger ack");
	is_u64(s.probes, 3, "probes");
	is_u64(s.segs_in, 0, "fields the kernel did not send stay 0");
	is_u64(s.cgroup, 0, "no INET_DIAG_CGROUP_ID (Linux < 5.9): cgroup unknown");
	{
		/* after tcp_info: a cgroup id, 4-byte aligned as netlink lays it out */
		struct nlattr *cg = (void *)((uint8_t *)attr + NLA_ALIGN(attr->nla_len));
		uint64_t id = 0x100000abcull;

		cg->nla_type = INET_DIAG_CGROUP_ID;
		cg->nla_len = NLA_HDRLEN + sizeof(id);
		memcpy((uint8_t *)cg + NLA_HDRLEN, &id, sizeof(id));
		nlh->nlmsg_len += cg->nla_len;
		ok(diag_parse(nlh, &s) == 0, "with INET_DIAG_CGROUP_ID");
		is_u64(s.cgroup, id, "the cgroup id");
		cg->nla_len = NLA_HDRLEN + 4;
		nlh->nlmsg_len -= 4;
		is_u64((unsigned long long)-diag_parse(nlh, &s), EBADMSG, "a short cgroup id: EBADMSG");
		nlh->nlmsg_len -= cg->nla_len;
	}
	attr->nla_len = NLA_HDRLEN + 8;
	nlh->nlmsg_len = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*m)) + NLA_ALIGN(attr->nla_len);
	is_u64((unsigned long long)-diag_parse(nlh, &s), EBADMSG, "truncated tcp_info: EBADMSG");
	m->idiag_family = 99;
	is_u64((unsigned long long)-diag_parse(nlh, &s), EBADMSG, "unknown family: EBADMSG");

	/* an error reply */
	{
		struct nlmsgerr *e = (void *)(buf + NLMSG_HDRLEN);
		struct diag_walk w = { .seq = 9 };

		memset(buf, 0, sizeof(buf));
		nlh->nlmsg_type = NLMSG_ERROR;
		nlh->nlmsg_seq = 9;
		nlh->nlmsg_len = NLMSG_HDRLEN + sizeof(*e);
		e->error = -EPERM;
		is_u64((unsigned long long)-diag_walk_buffer(&w, buf, nlh->nlmsg_len), EPERM,
		       "NLMSG_ERROR carries the kernel's errno");
		e->error = 0;
		is_u64(diag_walk_buffer(&w, buf, nlh->nlmsg_len), 0, "an ACK is success");
		/* found by fuzz-diag */
		e->error = -2147483647 - 1;
		is_u64((unsigned long long)-diag_walk_buffer(&w, buf, nlh->nlmsg_len), EPROTO,
		       "an error no kernel sends (INT_MIN): EPROTO, not UB");
		nlh->nlmsg_len = 0x80000010u;
		is_u64((unsigned long long)-diag_walk_buffer(&w, buf, 64), EBADMSG,
		       "a length of 2 GiB and more (negative as int to libmnl): EBADMSG");
	}
	{
		memset(buf, 0, sizeof(buf));
		m->idiag_family = AF_INET;
		m->idiag_state = 42;
		nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
		nlh->nlmsg_len = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*m));
		is_u64((unsigned long long)-diag_parse(nlh, &s), EBADMSG,
		       "a TCP state past 31 (found by fuzz-diag): EBADMSG");
	}
}

static void bytecode(void)
{
	struct config *c = config_from("[policy a]\nlocal_port = 6379, 7000-7010\n"
				       "[policy b]\nremote_port = 5432\nlocal_port = 1-1024\n"
				       "[policy c]\nlocal_port = 9000\naction = ignore\n");
	struct config *open_c = config_from("[policy a]\nlocal_port = 6379\n[policy any]\n");
	uint8_t bc[4096];
	int len, mismatches = 0;
	static const uint16_t ports[] = { 1, 22, 80, 1024, 1025, 5432, 6378, 6379, 6380, 6999,
					  7000, 7005, 7010, 7011, 8999, 9000, 9001, 65535 };

	ok(c && open_c, "configs load");
	if (!c || !open_c)
		return;
	len = diag_compile_ports(c, bc, sizeof(bc));
	ok(len > 0 && len % 4 == 0, "bytecode compiled (%d bytes)", len);
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		for (size_t j = 0; j < sizeof(ports) / sizeof(ports[0]); j++) {
			struct sock_rec s = mkrec("192.0.2.1", ports[i], "192.0.2.2", ports[j], 1);
			bool want = false;

			for (size_t k = 0; k < c->n_policies; k++)
				if (port_set_match(&c->policies[k].local_port, s.lport) &&
				    port_set_match(&c->policies[k].remote_port, s.rport))
					want = true;
			if (diag_bc_run(bc, (size_t)len, s.lport, s.rport) != want) {
				printf("# sport %u dport %u: want %d\n", s.lport, s.rport, want);
				mismatches++;
			}
		}
	is_u64(mismatches, 0, "bytecode agrees with the policies on %zu port pairs",
	       sizeof(ports) * sizeof(ports) / 4);
	is_u64(diag_compile_ports(open_c, bc, sizeof(bc)), 0,
	       "a policy without ports: no kernel filter");
	config_free(c);
	config_free(open_c);
}

int main(void)
{
	recorded();
	synthetic();
	bytecode();
	return done_testing();
}
