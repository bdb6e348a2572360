/* SPDX-License-Identifier: MIT */
/* Who is at the other end of a connection, as the kernel identified it: the
 * neutral form the proxy decides with (DESIGN.md: common <- policy <-
 * enforcer, proxy). The egress maps produce it (the runtime hands the proxy
 * that lookup as its callback); tests make their own. Plain data. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "common/owner.h"

struct ward_peer_ident {
	char binary[PATH_MAX]; /* the executable that acted; "" when nothing names it */
	char via[PATH_MAX]; /* the ancestor whose identity decided (ancestors: true); "": binary */
	char keys[256];	    /* network policy keys it belongs to, comma-separated; "": none */
	pid_t pid;	    /* initial pid namespace */
	uint64_t dev, ino;  /* the acting file (kernel dev encoding): what TOFU hashes */
	char exe_sha[65];   /* content it was admitted for at exec in a writable place; "": none */
	bool allowed_ip;    /* the kernel admitted the destination by address (allowed_ips) */
	struct sockaddr_storage orig; /* original destination (transparent connections) */
	uint64_t cgid;		      /* cgroup v2 id of the connecting task; 0: unknown */
	char session[32];	      /* the session that cgroup belongs to (ward exec); "": none */
	bool has_uid;		      /* uid is known */
	uint32_t uid;		      /* its real uid, read when the lookup found it */
};

/* The uid and cgroup columns of a row about who (NULL: nobody known). */
static inline void ward_peer_owner(const struct ward_peer_ident *who, struct ward_owner *o)
{
	o->has_uid = who && who->has_uid;
	o->uid = o->has_uid ? who->uid : 0;
	o->cgroup = who ? ward_cgroup_path(who->cgid, who->pid, o->buf, sizeof(o->buf)) : NULL;
}

/* cgroup id -> session id, for the rows of processes in a session (ward
 * exec): the runtime installs ward_runtime_session_of_cgroup() here, so
 * that the enforcer and the proxy need not include the runtime. fn writes
 * the id ("" when the cgroup is no session's) and returns 0, or -errno. */
struct ward_session_hook {
	int (*fn)(void *data, uint64_t cgid, char out[32]);
	void *data;
};

/* The session of cgid through h, or NULL when none (no hook, no session). */
static inline const char *ward_session_of(const struct ward_session_hook *h, uint64_t cgid,
					  char out[32])
{
	out[0] = '\0';
	if (!h || !h->fn || !cgid || h->fn(h->data, cgid, out) < 0 || !out[0]) {
		out[0] = '\0';
		return NULL;
	}
	out[31] = '\0';
	return out;
}
