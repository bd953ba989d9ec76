/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer: the --once table and JSON writers, fed a process name and a
 * namespace name as any process or namespace may choose them. The table must
 * hold no control character but its newlines and be valid UTF-8; the JSON must
 * be valid UTF-8 with no raw control character: what a strict decoder and a
 * terminal need. A breach aborts. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "parse.h"
#include "report.h"
#include "stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Valid UTF-8 throughout, and no C0 (but newline), DEL or C1 character. */
static void check(const char *out, size_t len, const char *what)
{
	const unsigned char *u = (const unsigned char *)out;

	for (size_t i = 0; i < len;) {
		size_t n;

		if (u[i] < 0x80) {
			if ((u[i] < 0x20 && u[i] != '\n') || u[i] == 0x7f) {
				fprintf(stderr, "%s: control character 0x%02x at %zu\n", what, u[i], i);
				abort();
			}
			i++;
			continue;
		}
		n = utf8_seq_len(u + i); /* the buffer ends in a NUL: no read past it */
		if (!n || utf8_is_c1(u + i)) {
			fprintf(stderr, "%s: not UTF-8, or a C1 control, at %zu\n", what, i);
			abort();
		}
		i += n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char comm[16] = "", ns[64] = "", *buf = NULL;
	struct policy pol = { .name = "p" };
	struct config c = { .namespaces = NS_ALL, .policies = &pol, .n_policies = 1 };
	struct stats st = { 0 };
	struct sock_rec s = { 0 };
	struct report r;
	size_t len = 0, k = size < sizeof(comm) - 1 ? size : sizeof(comm) - 1;
	uint32_t row;
	FILE *f;

	memcpy(comm, data, k);
	if (size > k)
		memcpy(ns, data + k, size - k < sizeof(ns) - 1 ? size - k : sizeof(ns) - 1);
	report_init(&r);
	row = report_add(&r, 0, &s, ns, 0);
	report_set_owner(&r, row, 4242, comm);
	for (int json = 0; json < 2; json++) {
		f = open_memstream(&buf, &len);
		if (!f)
			break;
		if (json)
			report_print_json(&r, &c, &st, f);
		else
			report_print(&r, &c, &st, f);
		fclose(f);
		/* the buffer is NUL-terminated, and what the writers wrote has no NUL */
		check(buf, len, json ? "json" : "table");
		free(buf);
		buf = NULL;
	}
	report_finalise(&r);
	return 0;
}
