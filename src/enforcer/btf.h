/* SPDX-License-Identifier: MIT */
/* Which BTF ward's BPF objects relocate against (CO-RE). */
#pragma once

/* The minimal BTF cut at build time from this very kernel, or NULL (another
 * kernel, or none was cut): then libbpf loads /sys/kernel/btf/vmlinux. For
 * bpf_object_open_opts.btf_custom_path. */
const char *ward_btf_custom_path(void);
