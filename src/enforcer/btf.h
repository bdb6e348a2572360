/* SPDX-License-Identifier: MIT */
/* Which BTF ward's BPF objects relocate against (CO-RE), and libbpf's
 * messages around loads that are expected to fail on some kernels. */
#pragma once

#include <bpf/libbpf.h>

/* The minimal BTF cut at build time from this very kernel, or NULL (another
 * kernel, or none was cut): then libbpf loads /sys/kernel/btf/vmlinux. For
 * bpf_object_open_opts.btf_custom_path. */
const char *ward_btf_custom_path(void);

/* Silence libbpf (it prints verifier logs to stderr) for a load the caller
 * expects to fail on some kernels and reports itself; returns the printer to
 * give back with libbpf_set_print(). libbpf's printer is process-wide. */
libbpf_print_fn_t ward_libbpf_mute(void);
