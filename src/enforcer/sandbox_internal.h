/* SPDX-License-Identifier: MIT */
/* Between ward and its sandbox's init: messages over a SOCK_SEQPACKET pair
 * (one message per record; SO_PASSCRED gives the sender's pid in ward's pid
 * namespace), and the read-only context the child works from. */
#pragma once

#include <limits.h>
#include <signal.h>
#include <stdint.h>

#include "enforcer/landlock.h"
#include "enforcer/mounts.h"
#include "enforcer/sandbox.h"
#include "enforcer/sandbox_env.h"
#include "enforcer/seccomp.h"

enum ward_msg_kind {
	WARD_MSG_READY = 1, /* init: namespaces and root are ready; waiting for GO */
	WARD_MSG_GO,	    /* ward: hooks done, start the command */
	WARD_MSG_FAIL,	    /* init or command: a setup step failed (text); exit 125 */
	WARD_MSG_RESOLVED, /* command: all layers applied, about to exec text (value: landlock ABI) */
	WARD_MSG_EXEC_FAIL, /* command: execve failed (value: 126 or 127, text: why) */
	WARD_MSG_EXIT,	    /* init: the command ended (value: its wait status) */
	WARD_MSG_ENV,	    /* ward, before GO: "NAME=VALUE" for the command's environment */
};

/* Environment entries hooks add (ward_sandbox_setenv): init keeps them in
 * static storage, so they are bounded in number and in size. */
#define WARD_ENV_EXTRA_MAX 64
#define WARD_ENV_ENTRY_MAX (PATH_MAX + 512)

struct ward_msg {
	uint32_t kind;
	int32_t value;
	char text[WARD_ENV_ENTRY_MAX];
};

struct ward_child_ctx {
	const struct ward_sandbox *sb;
	const struct ward_mount_plan *plan;
	const struct ward_landlock_plan *ll;
	const struct ward_seccomp_prog *seccomp;
	const struct ward_sandbox_env *env; /* what passes from ward's, environment.set */
	const char *workdir;
	int sock;	     /* the child's end of the pair */
	int init_fd;	     /* ward-init's image (init_image.h), executed by init */
	int cgroup_procs_fd; /* only when CLONE_INTO_CGROUP was unavailable, else -1 */
	sigset_t saved_mask; /* ward's mask before it blocked the forwarded signals */
	sigset_t wait_mask;  /* the forwarded signals and SIGCHLD */
};

/* Signals ward and init forward to the command when someone sends them
 * (also listed by ward-init, src/enforcer/init/ward_init.c). */
#define WARD_FORWARDED_SIGNALS SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH
extern const int ward_forwarded_signals[7];

int ward_msg_send(int fd, uint32_t kind, int32_t value, const char *text);

/* The sandbox's init: never returns. */
_Noreturn void ward_sandbox_child(const struct ward_child_ctx *c);
