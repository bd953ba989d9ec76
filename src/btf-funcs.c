/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <linux/btf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "btf-funcs.h"
#include "fileio.h"

/* Bytes that follow a type record of kind k with vlen entries; -1: unknown. */
static long trailer(unsigned k, unsigned vlen)
{
	switch (k) {
	case BTF_KIND_PTR: case BTF_KIND_FWD: case BTF_KIND_TYPEDEF:
	case BTF_KIND_VOLATILE: case BTF_KIND_CONST: case BTF_KIND_RESTRICT:
	case BTF_KIND_FUNC: case BTF_KIND_FLOAT: case BTF_KIND_TYPE_TAG:
		return 0;
	case BTF_KIND_INT: case BTF_KIND_VAR: case BTF_KIND_DECL_TAG:
		return 4;
	case BTF_KIND_ARRAY:
		return (long)sizeof(struct btf_array);
	case BTF_KIND_STRUCT: case BTF_KIND_UNION:
		return (long)vlen * (long)sizeof(struct btf_member);
	case BTF_KIND_ENUM:
		return (long)vlen * (long)sizeof(struct btf_enum);
	case BTF_KIND_FUNC_PROTO:
		return (long)vlen * (long)sizeof(struct btf_param);
	case BTF_KIND_DATASEC:
		return (long)vlen * (long)sizeof(struct btf_var_secinfo);
	case BTF_KIND_ENUM64:
		return (long)vlen * (long)sizeof(struct btf_enum64);
	}
	return -1;
}

int btf_funcs_find(const void *raw, size_t len, const char *const *names, size_t n,
		   bool *found)
{
	const unsigned char *b = raw;
	const struct btf_header *h = raw;
	const unsigned char *types, *strs;
	size_t at = 0;

	memset(found, 0, n * sizeof(*found));
	if (len < sizeof(*h) || h->magic != BTF_MAGIC || h->hdr_len < sizeof(*h) ||
	    h->hdr_len > len || (uint64_t)h->type_off + h->type_len > len - h->hdr_len ||
	    (uint64_t)h->str_off + h->str_len > len - h->hdr_len || !h->str_len ||
	    b[h->hdr_len + h->str_off + h->str_len - 1] != '\0')
		return -EINVAL;
	types = b + h->hdr_len + h->type_off;
	strs = b + h->hdr_len + h->str_off;
	while (at + sizeof(struct btf_type) <= h->type_len) {
		struct btf_type t;
		long more;

		memcpy(&t, types + at, sizeof(t));
		more = trailer(BTF_INFO_KIND(t.info), BTF_INFO_VLEN(t.info));
		if (more < 0)
			return -EINVAL;
		if (BTF_INFO_KIND(t.info) == BTF_KIND_FUNC && t.name_off < h->str_len)
			for (size_t i = 0; i < n; i++)
				if (!strcmp((const char *)strs + t.name_off, names[i]))
					found[i] = true;
		at += sizeof(t) + (size_t)more;
	}
	return at == h->type_len ? 0 : -EINVAL;
}

int btf_funcs_vmlinux(const char *const *names, size_t n, bool *found)
{
	char *raw;
	size_t len;
	int r = read_whole("/sys/kernel/btf/vmlinux", 8u << 20, &raw, &len);

	if (!r)
		r = btf_funcs_find(raw, len, names, n, found);
	free(raw);
	return r;
}
