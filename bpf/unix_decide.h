/* SPDX-License-Identifier: MIT */
/* The unix-socket backstop's verdict, as pure functions over ABI types.
 * Compiled into bpf/unix.bpf.c and, unchanged, into the host unit tests
 * (tests/unit/test_unix_decide.c).
 *
 * The program sees the address as the caller wrote it, before the kernel
 * resolves it: it cannot tell a host socket from one the sandbox bound, nor
 * follow a relative path or a symlink. So it only ever allows ward's own
 * broker (which decided by inode: src/enforcer/unix_broker.c), abstract and
 * unnamed addresses (Landlock scopes those), and a path equal, byte for byte,
 * to a `unix:` endpoint named for the caller's executable. */
#pragma once

#include "ward/abi.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define WARD_SUN_PATH_OFF 2 /* offsetof(struct sockaddr_un, sun_path) */

enum ward_unix_addr {
	WARD_UNIX_ADDR_PATH = 1, /* a pathname socket */
	WARD_UNIX_ADDR_ABSTRACT, /* sun_path[0] == '\0' with a name after it */
	WARD_UNIX_ADDR_UNNAMED,	 /* no sun_path at all (autobind, AF_UNSPEC) */
};

/* rodata of bpf/unix.bpf.c */
struct ward_unix_cfg {
	__u32 broker_tgid; /* ward's process id (initial pid namespace) */
	__u32 pad;
};

/* Bytes of sun_path the caller gave: addrlen less the family, at most 108. */
static __always_inline __u32 ward_unix_path_len(__u32 addrlen)
{
	__u32 len = addrlen > WARD_SUN_PATH_OFF ? addrlen - WARD_SUN_PATH_OFF : 0;

	return len > WARD_UNIX_PATH_MAX ? WARD_UNIX_PATH_MAX : len;
}

/* The program reads the address in three steps the host tests replay
 * (ward_unix_path_from below): raw = the 110 bytes of the kernel's copy;
 * raw[2 + len] = 0 when len < 108 (the kernel ends the path at addrlen);
 * path = bpf_probe_read_kernel_str(raw + 2) into a zeroed key, so equal
 * strings are equal keys. Then this says what the address is. */
static __always_inline int ward_unix_kind(const char *raw, __u32 len, long copied, __u8 *ret_flags)
{
	*ret_flags = 0;
	if (len == 0)
		return WARD_UNIX_ADDR_UNNAMED;
	if (raw[WARD_SUN_PATH_OFF] == 0)
		return WARD_UNIX_ADDR_ABSTRACT;
	if (raw[WARD_SUN_PATH_OFF] != '/')
		*ret_flags |= WARD_UNIX_EV_RELATIVE;
	/* 108 bytes without a NUL (the copy took 107 and its NUL, and the last
	 * byte is not NUL either): the kernel uses all of them, the copy lost
	 * one, so the string must never count as a named path */
	if (len == WARD_UNIX_PATH_MAX && copied == WARD_UNIX_PATH_MAX &&
	    raw[WARD_SUN_PATH_OFF + WARD_UNIX_PATH_MAX - 1] != 0)
		*ret_flags |= WARD_UNIX_EV_LONG;
	return WARD_UNIX_ADDR_PATH;
}

#ifndef __bpf__
/* The program's three steps on the host (raw: WARD_SUN_PATH_OFF + 109
 * bytes, modified as the program modifies its copy). */
static inline int ward_unix_path_from(char dst[WARD_UNIX_PATH_MAX], char *raw, __u32 addrlen,
				      __u8 *ret_flags)
{
	__u32 len = ward_unix_path_len(addrlen), i = 0;

	if (len < WARD_UNIX_PATH_MAX)
		raw[WARD_SUN_PATH_OFF + len] = 0;
	for (__u32 j = 0; j < WARD_UNIX_PATH_MAX; j++)
		dst[j] = 0;
	/* bpf_probe_read_kernel_str(dst, 108, raw + 2): at most 107 bytes and a
	 * NUL; returns the bytes written, NUL included */
	if (len)
		for (; i < WARD_UNIX_PATH_MAX - 1 && raw[WARD_SUN_PATH_OFF + i]; i++)
			dst[i] = raw[WARD_SUN_PATH_OFF + i];
	return ward_unix_kind(raw, len, len ? (long)i + 1 : 0, ret_flags);
}
#endif

/* A rules-map value found for (identity at depth, path): does it decide? An
 * ancestor's identity only when its binary entry says `ancestors`. */
static __always_inline int ward_unix_match(const struct ward_unix_val *v, __u32 depth)
{
	return v && (depth == 0 || (v->flags & WARD_IDENT_ANCESTORS));
}

/* Returns the verdict (WARD_VERDICT_ALLOW or _DENY) and the reason.
 * flags: from ward_unix_path_from(); named: ward_unix_match() held for the
 * caller or an ancestor. */
static __always_inline int ward_unix_decide(const volatile struct ward_unix_cfg *cfg, __u32 tgid,
					    int kind, __u8 flags, int named, __u8 *ret_reason)
{
	if (cfg->broker_tgid && tgid == cfg->broker_tgid) {
		*ret_reason = WARD_UNIX_REASON_BROKER;
		return WARD_VERDICT_ALLOW;
	}
	if (kind != WARD_UNIX_ADDR_PATH) {
		*ret_reason = WARD_UNIX_REASON_ABSTRACT;
		return WARD_VERDICT_ALLOW;
	}
	if (named && !(flags & WARD_UNIX_EV_LONG)) {
		*ret_reason = WARD_UNIX_REASON_NAMED;
		return WARD_VERDICT_ALLOW;
	}
	*ret_reason = WARD_UNIX_REASON_NOT_NAMED;
	return WARD_VERDICT_DENY;
}

/* Does this verdict become a decision row? The broker writes its own rows;
 * abstract sockets are Landlock's. */
static __always_inline int ward_unix_reported(__u8 reason)
{
	return reason == WARD_UNIX_REASON_NAMED || reason == WARD_UNIX_REASON_NOT_NAMED;
}

#ifndef __bpf__
static inline const char *ward_unix_reason_str(unsigned reason)
{
	static const char *const text[WARD_UNIX_REASON_MAX] = {
		[WARD_UNIX_REASON_BROKER] = "connected by ward's broker",
		[WARD_UNIX_REASON_ABSTRACT] = "abstract unix socket",
		[WARD_UNIX_REASON_NAMED] = "unix socket named by the policy",
		[WARD_UNIX_REASON_NOT_NAMED] = "unix socket path not named by the policy",
	};

	return reason < WARD_UNIX_REASON_MAX && text[reason] ? text[reason] : "unknown";
}
#endif
