/* SPDX-License-Identifier: MIT */
/* Between ward and its sandbox's init: messages over a SOCK_SEQPACKET pair
 * (one message per record; SO_PASSCRED gives the sender's pid in ward's pid
 * namespace), and the read-only context the child works from. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>

#include "enforcer/cgroup.h"
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
	WARD_MSG_SERVING,   /* ward-init in serve mode: the sandbox can host sessions */
	WARD_MSG_SESSION,   /* a session's intermediate: the command's host pid (value) */
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
	bool serve;	     /* no command: ward-init serves sessions (ward_sandbox_start) */
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

/* A sandbox started by ward_sandbox_start: what ward_sandbox_run keeps on its
 * stack, for as long as the sandbox lives. */
struct ward_sandbox_host {
	struct ward_sandbox sb; /* first: hooks get &sb */
	struct ward_mount_plan plan;
	struct ward_seccomp_prog prog;
	struct ward_sandbox_env env;
	struct ward_landlock_plan ll;
	struct ward_child_ctx ctx;
	char cwd[PATH_MAX];
	int procs_fd, init_fd;
	int sock;	/* ward's end of the pair with init */
	int init_pidfd; /* sessions setns() through it */
	struct ward_cgroup_watch *watch;
	void *limits; /* struct limit_rows (sandbox.c) */
};

/* A session's child (ward_sandbox_exec), prepared by ward: the intermediate
 * joins the sandbox and clone3()s the command into the session's cgroup. */
struct ward_session_ctx {
	int init_pidfd;
	int sock;      /* the child's end of the pair */
	int cgroup_fd; /* <leaf>/s-<id> */
	int kill_fd;   /* its cgroup.kill */
	int v1_tasks[WARD_CGROUP_N_CTL]; /* the v1 leaves' tasks, -1: none */
	int stdio[3];
	const char *cwd;
	uid_t uid;
	gid_t gid;
	const struct ward_landlock_plan *ll;
	struct ward_landlock_rule *rules; /* compacted in the child: paths absent inside go */
	size_t n_rules;
	const uint16_t *ports;
	size_t n_ports;
	const struct ward_seccomp_prog *seccomp;
	char *const *argv;
	char **envp;
	const char *path_env; /* PATH of envp, NULL: none */
	bool unix_broker;     /* install the connect() filter, hand ward the listener */
	const struct ward_mount_delta *mounts; /* a later generation's plan; NULL: the sandbox's */
};

_Noreturn void ward_session_child(const struct ward_session_ctx *c);

/* clone3(a) with CLONE_VM | CLONE_VFORK (clone_vm.c): the child runs fn(arg)
 * on a stack of its own, in the caller's memory, until it execs or _exits
 * (fn never returns); the caller waits until then. A copy (plain clone3)
 * where that cannot be done (other architectures, ASan). -1 + errno. */
struct clone_args;
pid_t ward_clone_vm(struct clone_args *a, void (*fn)(void *), void *arg);

/* The exit contract from a wait status. */
int ward_exit_code(int wstatus);
int ward_msg_recv(int fd, struct ward_msg *m, pid_t *ret_pid, int flags);
void ward_sandbox_lifecycle(const struct ward_sandbox *sb, const char *session, const char *rev,
			    const char *action, const char *rule, const char *binary, pid_t pid,
			    const char *reason);
