/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one pass over the kernel's BTF that tells which kfuncs it has: on BTF
 * made here with every kind the walk knows, on damaged BTF, and on the running
 * kernel's, against its symbol table. */
#include "config.h"

#include <errno.h>
#include <linux/btf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "btf-funcs.h"
#include "tap.h"

/* (the kernel's tools/include/uapi/linux/btf.h has it; the installed header not) */
#define INFO(kind, vlen) ((uint32_t)(kind) << 24 | (uint32_t)(vlen))

static unsigned char buf[4096];
static size_t types_len;
static char strs[256];
static size_t strs_len;

static uint32_t str(const char *s)
{
	uint32_t off = (uint32_t)strs_len;

	memcpy(strs + strs_len, s, strlen(s) + 1);
	strs_len += strlen(s) + 1;
	return off;
}

static void type(uint32_t name, unsigned kind, unsigned vlen, size_t trailer)
{
	struct btf_type t = { .name_off = name, .info = INFO(kind, vlen), .size = 4 };
	unsigned char *at = buf + sizeof(struct btf_header) + types_len;

	memcpy(at, &t, sizeof(t));
	memset(at + sizeof(t), 0, trailer);
	types_len += sizeof(t) + trailer;
}

/* Header, the types made with type(), the strings. */
static size_t finish(void)
{
	struct btf_header h = {
		.magic = BTF_MAGIC, .version = BTF_VERSION, .hdr_len = sizeof(h),
		.type_off = 0, .type_len = (uint32_t)types_len,
		.str_off = (uint32_t)types_len, .str_len = (uint32_t)strs_len,
	};

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h) + types_len, strs, strs_len);
	return sizeof(h) + types_len + strs_len;
}

/* One type of every kind, with its trailer; the names asked for among them. */
static size_t every_kind(void)
{
	types_len = strs_len = 0;
	str("");
	type(str("int"), BTF_KIND_INT, 0, 4);
	type(0, BTF_KIND_PTR, 0, 0);
	type(0, BTF_KIND_ARRAY, 0, sizeof(struct btf_array));
	/* a struct whose member is named like the function: not a function */
	type(str("sock"), BTF_KIND_STRUCT, 2, 2 * sizeof(struct btf_member));
	type(str("u"), BTF_KIND_UNION, 1, sizeof(struct btf_member));
	type(str("e"), BTF_KIND_ENUM, 3, 3 * sizeof(struct btf_enum));
	type(str("f"), BTF_KIND_FWD, 0, 0);
	type(str("t"), BTF_KIND_TYPEDEF, 0, 0);
	type(0, BTF_KIND_VOLATILE, 0, 0);
	type(0, BTF_KIND_CONST, 0, 0);
	type(0, BTF_KIND_RESTRICT, 0, 0);
	type(0, BTF_KIND_FUNC_PROTO, 2, 2 * sizeof(struct btf_param));
	type(str("bpf_sock_destroy"), BTF_KIND_FUNC, 0, 0);
	type(str("bpf_rdonly_cast"), BTF_KIND_VAR, 0, 4); /* a variable: not a function */
	type(str(".data"), BTF_KIND_DATASEC, 2, 2 * sizeof(struct btf_var_secinfo));
	type(str("float"), BTF_KIND_FLOAT, 0, 0);
	type(str("tag"), BTF_KIND_DECL_TAG, 0, 4);
	type(str("user"), BTF_KIND_TYPE_TAG, 0, 0);
	type(str("e64"), BTF_KIND_ENUM64, 2, 2 * sizeof(struct btf_enum64));
	type(str("tcp_sendmsg"), BTF_KIND_FUNC, 0, 0);
	return finish();
}

/* What /proc/kallsyms says of name: a text symbol of that name. -1: unreadable. */
static int in_kallsyms(const char *name)
{
	char line[512], sym[256], kind;
	int found = 0;
	FILE *f = fopen("/proc/kallsyms", "re");

	if (!f)
		return -1;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %c %255s", &kind, sym) == 2 && (kind == 'T' || kind == 't') &&
		    !strcmp(sym, name))
			found = 1;
	fclose(f);
	return found;
}

int main(void)
{
	static const char *const names[] = { "bpf_sock_destroy", "bpf_rdonly_cast", "tcp_sendmsg",
					     "sock", "kareaper_no_such_function" };
	static const bool want[] = { true, false, true, false, false };
	const size_t n = sizeof(names) / sizeof(names[0]);
	bool found[5];
	size_t len = every_kind();
	int r;

	r = btf_funcs_find(buf, len, names, n, found);
	is_u64((uint64_t)-r, 0, "BTF with one type of every kind walked");
	ok(!memcmp(found, want, sizeof(want)), "exactly the functions found: not a variable or "
	   "a struct of the same name");

	/* the first type's kind: one the walk does not know */
	((struct btf_type *)(buf + sizeof(struct btf_header)))->info = INFO(31, 0);
	ok(btf_funcs_find(buf, len, names, n, found) == -EINVAL, "an unknown kind: -EINVAL "
	   "(the caller asks libbpf)");
	len = every_kind();
	ok(btf_funcs_find(buf, len - 1, names, n, found) == -EINVAL, "truncated: -EINVAL");
	((struct btf_header *)buf)->type_len -= 4; /* the last type's record cut short */
	ok(btf_funcs_find(buf, len, names, n, found) == -EINVAL, "a record cut short: -EINVAL");
	len = every_kind();
	((struct btf_header *)buf)->magic = 0;
	ok(btf_funcs_find(buf, len, names, n, found) == -EINVAL, "no magic: -EINVAL");

	/* the running kernel's, against its symbol table */
	r = btf_funcs_vmlinux(names, n, found);
	if (r == -ENOENT) {
		printf("# this kernel has no BTF (/sys/kernel/btf/vmlinux)\n");
		return done_testing();
	}
	is_u64((uint64_t)-r, 0, "the running kernel's BTF walked");
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], "sock")) /* a struct, not a symbol */
			ok(found[i] == (in_kallsyms(names[i]) == 1), "%s: %s, as /proc/kallsyms says",
			   names[i], found[i] ? "a function" : "none");
	return done_testing();
}
