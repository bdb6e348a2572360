// SPDX-License-Identifier: MIT
/* Parsing the whole kernel BTF (megabytes) is most of what loading a CO-RE
 * program costs. The build cuts a minimal one holding only the types ward's
 * programs use (bpftool gen min_core_btf); it is valid only on the kernel it
 * was cut from, recognised by its release and the size of its BTF. */
#include "enforcer/btf.h"

#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "btf_fingerprint.h"

const char *ward_btf_custom_path(void)
{
	struct utsname u;
	struct stat st;

	if (!WARD_MIN_BTF_PATH[0] || uname(&u) < 0 || strcmp(u.release, WARD_MIN_BTF_RELEASE) ||
	    stat("/sys/kernel/btf/vmlinux", &st) < 0 ||
	    (long long)st.st_size != WARD_MIN_BTF_VMLINUX_SIZE || stat(WARD_MIN_BTF_PATH, &st) < 0)
		return NULL;
	return WARD_MIN_BTF_PATH;
}

static int print_nothing(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

libbpf_print_fn_t ward_libbpf_mute(void)
{
	return libbpf_set_print(print_nothing);
}
