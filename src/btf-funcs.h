/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Which functions the kernel's BTF names, without parsing it into types: one
 * pass over its type records, so that libbpf's parse, which loading the
 * programs needs anyway, is the process's only one. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* found[i]: whether raw BTF (len bytes, the host's byte order) has a function
 * (BTF_KIND_FUNC) named names[i]. 0, or -EINVAL when the bytes are not BTF
 * this code can walk (a kind it does not know: the caller asks libbpf). */
int btf_funcs_find(const void *raw, size_t len, const char *const *names, size_t n,
		   bool *found);

/* The same on the running kernel's BTF (/sys/kernel/btf/vmlinux): -ENOENT when
 * it has none. */
int btf_funcs_vmlinux(const char *const *names, size_t n, bool *found);
