/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "diagmsg.h"

size_t diag_build_dump(void *buf, size_t len, uint8_t family, uint32_t states, const void *bc,
		       size_t bclen, uint32_t seq)
{
	struct inet_diag_req_v2 *req;
	struct nlmsghdr *nlh;

	if (len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*req)) + MNL_ATTR_HDRLEN + MNL_ALIGN(bclen))
		return 0;
	memset(buf, 0, MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*req)));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = family;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = states;
	req->idiag_ext = 1 << (INET_DIAG_INFO - 1);
	if (bc && bclen)
		mnl_attr_put(nlh, INET_DIAG_REQ_BYTECODE, bclen, bc);
	return nlh->nlmsg_len;
}

size_t diag_build_exact(void *buf, size_t len, uint16_t type, const struct sock_rec *s,
			uint32_t seq)
{
	struct inet_diag_req_v2 *req;
	struct nlmsghdr *nlh;

	if (len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*req)))
		return 0;
	memset(buf, 0, MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*req)));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | (type == SOCK_DESTROY ? NLM_F_ACK : 0);
	nlh->nlmsg_seq = seq;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = s->family;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = ~0u;
	req->idiag_ext = 1 << (INET_DIAG_INFO - 1);
	req->id = s->id;
	return nlh->nlmsg_len;
}

/* ---- bytecode ---------------------------------------------------------------------- */

enum { L_ACCEPT = -1, L_REJECT = -2 };
#define BC_MAX_OPS 1024
#define BC_MAX_LABELS 1024

struct bc_asm {
	struct {
		uint8_t code;
		uint16_t port;
		int target;
		size_t pos;
	} op[BC_MAX_OPS];
	size_t n, pos;
	long label[BC_MAX_LABELS];
	int nlabels;
	bool overflow;
};

static int bc_label(struct bc_asm *a)
{
	if (a->nlabels == BC_MAX_LABELS) {
		a->overflow = true;
		return L_REJECT;
	}
	a->label[a->nlabels] = -1;
	return a->nlabels++;
}

static void bc_place(struct bc_asm *a, int l)
{
	if (l >= 0)
		a->label[l] = (long)a->pos;
}

static void bc_emit(struct bc_asm *a, uint8_t code, uint16_t port, int target)
{
	if (a->n == BC_MAX_OPS) {
		a->overflow = true;
		return;
	}
	a->op[a->n].code = code;
	a->op[a->n].port = port;
	a->op[a->n].target = target;
	a->op[a->n].pos = a->pos;
	a->n++;
	a->pos += code == INET_DIAG_BC_JMP ? sizeof(struct inet_diag_bc_op)
					   : 2 * sizeof(struct inet_diag_bc_op);
}

/* One set of ranges: falls through when the port is in a range, jumps to fail if not.
 * Every op's "yes" is the next op, as the kernel's audit requires (jumps by "no"). */
static void bc_port_set(struct bc_asm *a, const struct port_set *ps, bool local, int fail)
{
	uint8_t ge = local ? INET_DIAG_BC_S_GE : INET_DIAG_BC_D_GE;
	uint8_t le = local ? INET_DIAG_BC_S_LE : INET_DIAG_BC_D_LE;
	int ok = bc_label(a);

	for (size_t i = 0; i < ps->n; i++) {
		bool last = i + 1 == ps->n;
		int next = last ? fail : bc_label(a);

		bc_emit(a, ge, ps->r[i].lo, next);
		bc_emit(a, le, ps->r[i].hi, next);
		if (!last)
			bc_emit(a, INET_DIAG_BC_JMP, 0, ok);
		bc_place(a, next);
	}
	bc_place(a, ok);
}

int diag_compile_ports(const struct config *c, void *buf, size_t len)
{
	static struct bc_asm a;     /* large; compiled once per (re)load */
	struct inet_diag_bc_op *out = buf;
	size_t n_pol = 0, done = 0;

	memset(&a, 0, sizeof(a));
	/* ignore policies too: their sockets are listed (as ignored) by --once */
	for (size_t i = 0; i < c->n_policies; i++) {
		const struct policy *p = &c->policies[i];

		if (!p->local_port.n && !p->remote_port.n)
			return 0;
		n_pol++;
	}
	if (!n_pol)
		return 0;
	for (size_t i = 0; i < c->n_policies; i++) {
		const struct policy *p = &c->policies[i];
		int next;

		done++;
		next = done == n_pol ? L_REJECT : bc_label(&a);
		if (p->local_port.n)
			bc_port_set(&a, &p->local_port, true, next);
		if (p->remote_port.n)
			bc_port_set(&a, &p->remote_port, false, next);
		if (done < n_pol)
			bc_emit(&a, INET_DIAG_BC_JMP, 0, L_ACCEPT);
		bc_place(&a, next);
	}
	if (a.overflow || a.pos > len || a.pos > 4096)
		return -ENOSPC;
	for (size_t i = 0; i < a.n; i++) {
		struct inet_diag_bc_op *op = &out[a.op[i].pos / sizeof(*op)];
		long target;

		if (a.op[i].target == L_ACCEPT)
			target = (long)a.pos;
		else if (a.op[i].target == L_REJECT)
			target = (long)a.pos + 4;
		else
			target = a.label[a.op[i].target];
		op->code = a.op[i].code;
		op->no = (uint16_t)(target - (long)a.op[i].pos);
		if (a.op[i].code == INET_DIAG_BC_JMP) {
			op->yes = sizeof(*op);
		} else {
			op->yes = 2 * sizeof(*op);
			op[1].code = 0;
			op[1].yes = 0;
			op[1].no = a.op[i].port;
		}
	}
	return (int)a.pos;
}

bool diag_bc_run(const void *bc, size_t len, uint16_t sport, uint16_t dport)
{
	long left = (long)len;
	const uint8_t *p = bc;

	while (left > 0) {
		const struct inet_diag_bc_op *op = (const void *)p;
		bool yes = true;

		switch (op->code) {
		case INET_DIAG_BC_S_GE:
			yes = sport >= op[1].no;
			break;
		case INET_DIAG_BC_S_LE:
			yes = sport <= op[1].no;
			break;
		case INET_DIAG_BC_D_GE:
			yes = dport >= op[1].no;
			break;
		case INET_DIAG_BC_D_LE:
			yes = dport <= op[1].no;
			break;
		case INET_DIAG_BC_JMP:
			yes = false;
			break;
		default:
			return false;
		}
		if (yes) {
			left -= op->yes;
			p += op->yes;
		} else {
			left -= op->no;
			p += op->no;
		}
	}
	return left == 0;
}

/* ---- replies ----------------------------------------------------------------------- */

struct diag_attrs {
	const struct nlattr *tb[INET_DIAG_MAX + 1];
	const char *end;          /* just past the last attribute parsed */
};

static int diag_attr_cb(const struct nlattr *attr, void *data)
{
	struct diag_attrs *a = data;
	uint16_t type = mnl_attr_get_type(attr);

	a->end = (const char *)attr + MNL_ALIGN(attr->nla_len);
	if (mnl_attr_type_valid(attr, INET_DIAG_MAX) < 0)
		return MNL_CB_OK; /* newer than us: skip */
	switch (type) {
	case INET_DIAG_INFO:
		/* older kernels send a shorter tcp_info; what they lack stays 0 */
		if (mnl_attr_validate(attr, MNL_TYPE_BINARY) < 0 ||
		    mnl_attr_get_payload_len(attr) < offsetof(struct tcp_info, tcpi_rcv_rtt)) {
			errno = EBADMSG;
			return MNL_CB_ERROR;
		}
		break;
	case INET_DIAG_CGROUP_ID:
		if (mnl_attr_validate(attr, MNL_TYPE_U64) < 0) {
			errno = EBADMSG;
			return MNL_CB_ERROR;
		}
		break;
	}
	a->tb[type] = attr;
	return MNL_CB_OK;
}

void sock_rec_set_id(struct sock_rec *s, uint8_t family, const struct inet_diag_sockid *id)
{
	s->family = family;
	s->id = *id;
	s->cookie = (uint64_t)id->idiag_cookie[0] | ((uint64_t)id->idiag_cookie[1] << 32);
	s->lport = ntohs(id->idiag_sport);
	s->rport = ntohs(id->idiag_dport);
	s->local.family = s->peer.family = family;
	memcpy(s->local.a, id->idiag_src, family == AF_INET ? 4 : 16);
	memcpy(s->peer.a, id->idiag_dst, family == AF_INET ? 4 : 16);
	kaddr_normalize(&s->local);
	kaddr_normalize(&s->peer);
}

int diag_parse(const struct nlmsghdr *nlh, struct sock_rec *s)
{
	struct diag_attrs a = { .end = NULL };
	const struct inet_diag_msg *m;

	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(*m))
		return -EBADMSG;
	m = mnl_nlmsg_get_payload(nlh);
	if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
		return -EBADMSG;
	if (m->idiag_state >= 32) /* TCP_* states are bits of a u32 mask everywhere */
		return -EBADMSG;

	memset(s, 0, sizeof(*s));
	sock_rec_set_id(s, m->idiag_family, &m->id);
	s->state = m->idiag_state;
	s->timer = m->idiag_timer;
	s->retrans = m->idiag_retrans;
	s->uid = m->idiag_uid;
	s->inode = m->idiag_inode;
	s->expires_ms = m->idiag_expires;

	a.end = (const char *)mnl_nlmsg_get_payload_offset(nlh, sizeof(*m));
	if (mnl_attr_parse(nlh, sizeof(*m), diag_attr_cb, &a) < 0)
		return -EBADMSG;
	/* mnl_attr_parse stops quietly at a malformed attribute: all must be used up */
	if (a.end < (const char *)nlh + nlh->nlmsg_len ||
	    a.end > (const char *)nlh + MNL_ALIGN(nlh->nlmsg_len))
		return -EBADMSG;
	if (a.tb[INET_DIAG_INFO]) {
		const struct nlattr *attr = a.tb[INET_DIAG_INFO];
		size_t have = mnl_attr_get_payload_len(attr);
		struct tcp_info ti; /* payloads are only 4-byte aligned: copy out */

		memset(&ti, 0, sizeof(ti));
		memcpy(&ti, mnl_attr_get_payload(attr), have < sizeof(ti) ? have : sizeof(ti));
		s->have_info = true;
		s->probes = ti.tcpi_probes;
		s->retransmits = ti.tcpi_retransmits;
		s->unacked = ti.tcpi_unacked;
		s->notsent = ti.tcpi_notsent_bytes; /* read with unacked, under the lock */
		s->last_data_recv_ms = ti.tcpi_last_data_recv;
		s->last_ack_recv_ms = ti.tcpi_last_ack_recv;
		s->last_data_sent_ms = ti.tcpi_last_data_sent;
		s->bytes_acked = ti.tcpi_bytes_acked;
		s->rtt_us = ti.tcpi_rtt;
		s->segs_in = ti.tcpi_segs_in;
		s->bytes_received = ti.tcpi_bytes_received;
	}
	if (a.tb[INET_DIAG_CGROUP_ID]) /* Linux >= 5.9 */
		s->cgroup = mnl_attr_get_u64(a.tb[INET_DIAG_CGROUP_ID]);
	return 0;
}

static int diag_data_cb(const struct nlmsghdr *nlh, void *data)
{
	struct diag_walk *w = data;
	struct sock_rec s;
	int r;

	if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	r = diag_parse(nlh, &s);
	if (r == 0 && w->cb)
		r = w->cb(&s, w->data);
	if (r < 0) {
		errno = -r;
		return MNL_CB_ERROR;
	}
	/* An exact query answers with one message and no NLMSG_DONE. */
	return nlh->nlmsg_flags & NLM_F_MULTI ? MNL_CB_OK : MNL_CB_STOP;
}

static int diag_noop_cb(const struct nlmsghdr *nlh, void *data)
{
	return MNL_CB_OK;
}

/* The kernel's error, as a positive errno; anything else is not a kernel reply. */
static int errno_of(int err)
{
	if (err < 0 && err > -4096)
		return -err;
	if (err > 0 && err < 4096) /* some subsystems send it positive */
		return err;
	return EPROTO;
}

static int diag_error_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (e->error == 0)
		return MNL_CB_STOP; /* an ACK */
	errno = errno_of(e->error);
	return MNL_CB_ERROR;
}

/* A dump that failed in the kernel ends with NLMSG_DONE carrying the error, as
 * iproute2's rtnl_dump_done reads it. */
static int diag_done_cb(const struct nlmsghdr *nlh, void *data)
{
	int err;

	if (nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(err))) {
		memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof(err));
		if (err < 0) {
			errno = errno_of(err);
			return MNL_CB_ERROR;
		}
	}
	return MNL_CB_STOP;
}

int diag_walk_buffer(struct diag_walk *w, const void *buf, size_t len)
{
	static mnl_cb_t ctl[NLMSG_MIN_TYPE] = { /* libmnl 1.0.4 takes it non-const */
		[NLMSG_NOOP] = diag_noop_cb,
		[NLMSG_ERROR] = diag_error_cb,
		[NLMSG_DONE] = diag_done_cb,
		[NLMSG_OVERRUN] = diag_noop_cb,
	};
	const char *p = buf;
	size_t whole = 0;
	int r;

	/* A receive buffer holds whole messages: one cut short is a broken reply. The
	 * whole ones before it are still delivered. Lengths are checked here, unsigned:
	 * mnl_nlmsg_ok compares them as int, and takes 2 GiB and more for negative. */
	while (len - whole >= sizeof(struct nlmsghdr)) {
		const struct nlmsghdr *nlh = (const void *)(p + whole);

		if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len - whole)
			break;
		whole += NLMSG_ALIGN(nlh->nlmsg_len) < len - whole ? NLMSG_ALIGN(nlh->nlmsg_len)
								   : len - whole;
	}
	r = mnl_cb_run2(buf, whole, w->seq, w->portid, diag_data_cb, w, ctl, NLMSG_MIN_TYPE);
	if (r < 0)
		return -errno;
	if (r == MNL_CB_OK && whole != len)
		return -EBADMSG;
	return r;
}
