/* SPDX-License-Identifier: MIT */
/* The connect() broker for pathname unix sockets (docs/sandbox.md, "Unix
 * sockets"). The sandbox's init installs a seccomp filter that sends every
 * connect() to a listener; ward takes that listener and a thread of its own
 * answers each call:
 *  - not AF_UNIX, or abstract: the kernel continues (the BPF backstop and
 *    Landlock decide);
 *  - a path: resolved as the process would (its root, its working directory,
 *    symlinks followed, as the sandbox user) to an O_PATH descriptor; a
 *    socket bound inside the sandbox's network namespace (sock_diag, by
 *    inode) is the sandbox's own and allowed; any other is a host socket,
 *    allowed only when a `unix:` endpoint names it for the binary;
 *  - allowed: ward connects the process's own socket (pidfd_getfd) to
 *    /proc/self/fd/N of the descriptor it checked, as the sandbox user, so
 *    nothing can be swapped after the check and the server sees that user's
 *    credentials; the process gets connect()'s result. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "enforcer/unix.h"

struct ward_unix_broker;

/* In the sandbox's init, before the command is forked (no allocation):
 * install the filter; returns the listener fd, or -errno. */
int ward_unix_filter_install(void);

/* Is seccomp user notification available? 0 yes, -errno no. */
int ward_unix_notify_probe(void);

struct ward_unix_broker_config {
	struct ward_unix *u; /* borrowed: identities, rows */
	pid_t init_pid;	     /* the sandbox's init (host pid): its network namespace */
	int init_listener;   /* the listener's fd number in init's table */
	uid_t uid;	     /* the sandbox user */
	gid_t gid;
};

int ward_unix_broker_start(const struct ward_unix_broker_config *cfg, struct ward_unix_broker **ret,
			   struct ward_error *err);
/* Stop and join the thread, close the listener (calls still pending then
 * fail with ENOSYS: closed, not open). NULL is fine. */
void ward_unix_broker_stop(struct ward_unix_broker *b);

struct ward_unix_broker_stats {
	uint64_t brokered; /* connects ward performed */
	uint64_t denied;
	uint64_t continued; /* not AF_UNIX, abstract: left to the kernel */
};
void ward_unix_broker_stats(const struct ward_unix_broker *b, struct ward_unix_broker_stats *ret);
