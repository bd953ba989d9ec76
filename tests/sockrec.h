/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Building socket records and configs by hand for the unit tests. */
#pragma once

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf.h"
#include "diagmsg.h"

static inline struct sock_rec mkrec(const char *local, uint16_t lport, const char *peer,
				    uint16_t rport, uint64_t cookie)
{
	struct sock_rec s = { 0 };
	int fam = strchr(local, ':') ? AF_INET6 : AF_INET;

	s.family = (uint8_t)fam;
	s.state = 1;
	s.inode = 1000 + (uint32_t)cookie;
	s.cookie = cookie;
	s.lport = lport;
	s.rport = rport;
	s.local.family = s.peer.family = fam;
	inet_pton(fam, local, s.local.a);
	inet_pton(fam, peer, s.peer.a);
	kaddr_normalize(&s.local);
	kaddr_normalize(&s.peer);
	/* the dump's id, as sock_rec_set_id() reads it */
	s.id.idiag_sport = htons(lport);
	s.id.idiag_dport = htons(rport);
	inet_pton(fam, local, s.id.idiag_src);
	inet_pton(fam, peer, s.id.idiag_dst);
	s.id.idiag_cookie[0] = (uint32_t)cookie;
	s.id.idiag_cookie[1] = (uint32_t)(cookie >> 32);
	s.have_info = true;
	return s;
}

/* Load a config from text (asserting nothing; callers check the result). */
static inline struct config *config_from(const char *text)
{
	static const struct keepalive_defaults def = { 7200000, 75000, 9 };
	char path[] = "/tmp/kareaper-unit.XXXXXX", err[512];
	struct config *c = NULL;
	int fd = mkstemp(path);

	if (fd < 0)
		return NULL;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		unlink(path);
		return NULL;
	}
	close(fd);
	if (config_load(path, &def, &c, err, sizeof(err)) < 0)
		printf("# config_from: %s\n", err);
	unlink(path);
	return c;
}
