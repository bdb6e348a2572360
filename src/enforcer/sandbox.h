/* SPDX-License-Identifier: MIT */
/* The sandbox: launch a command in fresh mount, pid, ipc, uts and net
 * namespaces, inside its own cgroup v2 leaf, on a root assembled from the
 * policy's paths, under Landlock and seccomp, as an unprivileged user.
 *
 * Processes:
 *   ward (parent)  -- clone3(CLONE_INTO_CGROUP | CLONE_NEW*) -->
 *   init (pid 1)   mounts, hostname, loopback; waits for "go"; forks the
 *                  command, then execs ward-init (init/ward_init.c): pid 1
 *                  then holds nothing of ward's arguments, environment,
 *                  memory or descriptors;
 *   command (pid 2) waits for that exec; Landlock ruleset, drop privileges,
 *                  seccomp, execve with the environment of sandbox_env.h.
 * ward-init reaps zombies, forwards signals sent to it and exits with the
 * command's status. PR_SET_PDEATHSIG(SIGKILL) on init: if ward dies, the
 * sandbox dies (fail closed). The cgroup's resource limits (cgroup.h) are
 * set before the clone.
 *
 * Later layers plug in through hooks: they run in the parent after the
 * cgroup leaf and the sandbox's network namespace exist (init is waiting)
 * and before the command execs — e.g. attach BPF programs to sb->cgroup.fd,
 * or move a veth into /proc/<sb->init_pid>/ns/net. A failing hook aborts the
 * run (exit 125). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "audit/audit.h"
#include "common/error.h"
#include "enforcer/cgroup.h"
#include "enforcer/mounts.h"
#include "policy/model.h"

#define WARD_SANDBOX_ID_LEN 12

/* Exit statuses of `ward run` (DESIGN.md). */
#define WARD_EXIT_SETUP 125
#define WARD_EXIT_NOEXEC 126
#define WARD_EXIT_NOTFOUND 127

struct ward_sandbox;

struct ward_sandbox_hook {
	const char *name; /* for error messages and the start row's layer list */
	int (*fn)(struct ward_sandbox *sb, void *data, struct ward_error *err);
	void *data;
};

struct ward_sandbox_opts {
	const struct ward_policy *policy; /* required */
	const char *workdir;		  /* absolute; NULL: the current directory */
	char *const *argv;		  /* the command; argv[0] searched in $PATH inside */
	struct ward_audit *audit;	  /* lifecycle rows go here; NULL: none */
	/* TCP ports the command may connect() to (Landlock ABI 4+). NULL: Landlock
	 * does not govern TCP (the address-aware egress layers do); non-NULL and
	 * empty: none, not even on loopback. */
	const uint16_t *tcp_connect_ports;
	size_t n_tcp_connect_ports;
	const struct ward_sandbox_hook *hooks;
	size_t n_hooks;
	ward_diag_fn diag; /* warnings and exec failures; NULL: silent */
	void *diag_data;
	/* Host files shown read-only inside at a fixed path (the DNS stub's
	 * resolv.conf, the proxy's CA bundle): known before the sandbox starts.
	 * See struct ward_mount_file for where a target may be. */
	const struct ward_mount_file *files;
	size_t n_files;
	/* init installs the connect() filter of the unix-socket broker
	 * (unix_broker.h) before READY; sb->unix_listener names its fd */
	bool unix_broker;
	/* the unix-socket layer is unavailable: /tmp, /run, /var/tmp and
	 * /dev/shm are private even when the policy maps them (mounts.h) */
	bool private_sockdirs;
	/* When set: receives the sandbox's id (WARD_SANDBOX_ID_LEN + 1 bytes) as
	 * soon as it is chosen, so the caller can find the run's rows. */
	char *id_out;
	/* The sandbox's id (WARD_SANDBOX_ID_LEN lower-case hex); NULL: random. */
	const char *id;
	/* Host directory bind-mounted read-write over WARD_SANDBOX_HOME inside
	 * (HOME then points there); NULL: none. */
	const char *home;
	/* Learn mode (docs/learn.md): the mount plan is widened to the host's
	 * root (ward_mount_plan_learn) and Landlock restricts no file access;
	 * the filesystem layer logs what the policy would have refused. */
	bool learn;
	/* Reserved for the proxy (validated by the CLI, not used yet). */
	const char *hosts_file;
	const char *upstream_ca;
};

/* State visible to hooks. Valid only during ward_sandbox_run(). */
struct ward_sandbox {
	char id[WARD_SANDBOX_ID_LEN + 1]; /* random hex; hostname is "ward-<id>" */
	const struct ward_sandbox_opts *opts;
	struct ward_cgroup cgroup; /* the leaf: path and O_DIRECTORY fd */
	pid_t init_pid;		   /* host pid of the sandbox's init (pid 1 inside) */
	uid_t uid;		   /* the command's credentials */
	gid_t gid;
	int landlock_abi;		    /* 0: Landlock unavailable (best_effort) */
	const struct ward_mount_plan *plan; /* what the sandbox's root shows */
	char **env;	   /* "NAME=VALUE" set by hooks for the command (ward_sandbox_setenv) */
	int unix_listener; /* the connect() listener's fd number in init, -1: none */
	size_t n_env;
	struct ward_cgroup_limits limits; /* what applies: the policy's resources or defaults */
	char **warnings;		  /* for the start row (e.g. a controller missing) */
	size_t n_warnings;
};

/* From a hook: set NAME=VALUE in the command's environment, replacing what
 * ward's own environment has under NAME. Values computed after the sandbox
 * exists (e.g. the proxy's address) reach the command this way. */
int ward_sandbox_setenv(struct ward_sandbox *sb, const char *name, const char *value,
			struct ward_error *err);

/* Run opts->argv in a sandbox and wait for it. On return 0, *ret_status is
 * the exit status `ward run` must report: the command's status, 128+N when
 * it died of signal N, 126 not executable, 127 not found, 125 when a setup
 * step failed in the sandbox (err then says which). A negative return means
 * ward failed before anything ran (exit 125; err says why). Everything the
 * run created (cgroup leaf, namespaces, mounts) is gone when this returns. */
int ward_sandbox_run(const struct ward_sandbox_opts *opts, int *ret_status, struct ward_error *err);

/* --- a sandbox that hosts sessions (docs/sandbox.md, "Sessions")
 *
 * ward_sandbox_start: the same setup as ward_sandbox_run (opts->argv unused),
 * hooks included, but init runs no command: it becomes ward-init in serve
 * mode (reaps orphans, never exits on its own, PR_SET_PDEATHSIG kept) and
 * the sandbox waits for sessions. *ret is the running sandbox; its hooks'
 * view (struct ward_sandbox) stays valid until ward_sandbox_stop. opts is
 * borrowed until then. PR_SET_PDEATHSIG follows the calling thread. */
int ward_sandbox_start(const struct ward_sandbox_opts *opts, struct ward_sandbox **ret,
		       struct ward_error *err);
/* Kill init (its pid namespace, hence every session, goes with it), remove
 * every cgroup of the sandbox, free it. NULL ok. */
void ward_sandbox_stop(struct ward_sandbox *sb);

/* One command started in a running sandbox. */
struct ward_sandbox_session_opts {
	const struct ward_policy *policy; /* the generation in force: Landlock, user, env */
	char *const *argv;
	char *const *env; /* the caller's environment, filtered by policy */
	const char *cwd;  /* inside; NULL: the workdir */
	int stdio[3];
	const char *id; /* WARD_SESSION_ID_MAX - 1 chars at most, [A-Za-z0-9_-] */
	const uint16_t *tcp_connect_ports; /* as in ward_sandbox_opts */
	size_t n_tcp_connect_ports;
	/* The command installs the unix broker's connect() filter (as init does
	 * for ward run) and waits until on_listener (the command's host pid, the
	 * listener's fd number in its table, its credentials) returned; < 0 kills
	 * the session (exit 125). */
	bool unix_broker;
	int (*on_listener)(void *data, pid_t pid, int fd, uid_t uid, gid_t gid,
			   struct ward_error *err);
	void *listener_data;
};

#define WARD_SESSION_ID_MAX 32

struct ward_sandbox_session {
	char id[WARD_SESSION_ID_MAX];
	pid_t pid;     /* host pid of the intermediate (ward's child) */
	int pidfd;     /* its pidfd: readable once the session ended */
	pid_t cmd_pid; /* host pid of the command, 0 when it never started */
	int cmd_pidfd; /* the command's pidfd (signals), -1: none */
	int sock;      /* messages of the session (EXEC_FAIL after exec returned) */
	uint64_t cgroup_id;
	char cgroup_path[PATH_MAX]; /* <leaf>/s-<id> */
	char binary[PATH_MAX];	    /* what was executed, for the rows */
	int setup_status;	    /* 125/126/127 when known before the exec returned */
	const char *policy_rev;	    /* the generation's (borrowed from the caller) */
	bool reaped;
	int status;
};

/* Start a session: fork, join the sandbox's namespaces, clone3 into
 * <leaf>/s-<id>, and there Landlock, drop privileges, seccomp, execve. Returns
 * once the command is about to execve (start row written) or failed (then
 * reaping gives 125/126/127). Any thread; nothing in the child allocates. */
int ward_sandbox_exec(struct ward_sandbox *sb, const struct ward_sandbox_session_opts *o,
		      struct ward_sandbox_session *ret, struct ward_error *err);
/* 0 and *ret_status (ward run's contract) once ended, -EAGAIN while it runs.
 * The first successful reap kills what is left in the session's cgroup,
 * removes it and writes the exit row. */
int ward_sandbox_session_reap(struct ward_sandbox *sb, struct ward_sandbox_session *s, bool wait,
			      int *ret_status);
/* Kill what is left, reap, close. */
void ward_sandbox_session_release(struct ward_sandbox *sb, struct ward_sandbox_session *s);

/* Random lower-case hex id of WARD_SANDBOX_ID_LEN characters. */
int ward_sandbox_new_id(char out[WARD_SANDBOX_ID_LEN + 1]);
