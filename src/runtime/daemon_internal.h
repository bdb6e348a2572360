/* SPDX-License-Identifier: MIT */
/* What the daemon's files share (daemon.c: lifecycle and the loop;
 * daemon_conn.c: the socket protocol; daemon_state.c: the state directory;
 * daemon_sandbox.c: sandboxes; daemon_exec.c: sessions; daemon_verbs.c: the
 * policy, secret and read verbs). Everything runs on the daemon's one thread. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "audit/audit.h"
#include "enforcer/sandbox.h"
#include "runtime/daemon.h"
#include "runtime/runtime.h"

#define DAEMON_NAME_MAX 63
#define DAEMON_MAX_CONNS 256
#define DAEMON_HISTORY 256 /* ended sessions kept in memory for the sessions verb */

enum dperm { DPERM_NONE = 0, DPERM_READ, DPERM_MANAGE };

enum dstate { DSTATE_STOPPED = 0, DSTATE_RUNNING, DSTATE_FAILED };

struct dsession;
struct ward_secrets;
struct ward_host;

struct dconn {
	int fd;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	enum dperm perm;
	gid_t groups[64]; /* supplementary groups at connect (SO_PEERGROUPS) */
	size_t n_groups;
	char *buf; /* unparsed input, at most WARD_DAEMON_MAX_LINE bytes */
	size_t len;
	int fds[3]; /* received with SCM_RIGHTS, for the next exec */
	size_t n_fds;
	bool fd_overflow;	  /* more than 3 fds arrived: the exec is refused */
	struct dsession *session; /* the exec this connection waits for */
	bool dead;		  /* close at the end of this loop turn */
	struct dconn *next;
};

struct dsandbox {
	char name[DAEMON_NAME_MAX + 1];
	char id[WARD_SANDBOX_ID_LEN + 1];
	char *policy_path; /* where the text came from (diagnostics, config.json) */
	char *workdir;
	char *hosts;
	char *upstream_ca;
	char *home; /* <state>/sandboxes/NAME/home while it runs (the runtime borrows it) */
	uint64_t idle_timeout_ms;
	bool learn; /* --learn (docs/learn.md): refusals allowed, rows "audit"; persisted */
	uint64_t created_ns;
	bool want_running; /* the desired state, persisted */

	enum dstate state;
	char *failure;	/* why it is failed */
	char *warnings; /* the rule packs' warnings at the last start, one per line */
	struct ward_runtime *rt;
	char rev[65];	       /* the revision in force (or of the stored text) */
	uint64_t gen_seq;      /* of the generation in force */
	uint64_t started_mono; /* ward_mono_ns at start */
	uint64_t idle_mono;    /* since when it has no session */
	unsigned n_sessions;   /* running */
	struct dsandbox *next;
};

struct dsession {
	char id[32];
	char sandbox[DAEMON_NAME_MAX + 1];
	char *command;
	uint64_t start_ns, end_ns;
	int status;
	bool ended;
	struct ward_session *s; /* NULL once reaped and freed */
	struct dsandbox *sb;	/* NULL once ended */
	struct dconn *conn;	/* NULL when the client went away */
	int tty_fd;		/* the client's terminal (winsize), -1: none */
	uint64_t kill_mono;	/* SIGKILL at this time (client gone), 0: none */
	struct dsession *next;
};

struct ward_daemon {
	struct ward_daemon_config cfg;
	char *socket_path;
	char *state_dir;
	char *log_path;
	int state_fd; /* O_DIRECTORY of the state dir */
	int lock_fd;  /* daemon.lock, flocked */
	int listen_fd;
	int signal_fd;
	struct ward_audit *audit;
	json_t *crashed;  /* the sandbox ids of a dead daemon's run.json (until the log is open) */
	long crashed_pid; /* and its pid */
	struct dconn *conns;
	unsigned n_conns;
	struct dsandbox *sandboxes;
	struct dsession *sessions;    /* running first, then ended ones (newest first) */
	struct ward_secrets *secrets; /* <state>/secrets, opened at the first secret verb */
	gid_t gid_manage, gid_read;   /* groups ward, ward-audit; (gid_t)-1: none */
	struct ward_host *host;	      /* host mode (daemon_host.c); NULL: not enforced */
	char *pin_dir;		      /* host mode's bpffs directory */
	json_t *host_cfg;	      /* host/host.json: how it was enforced (scope, audit, ...) */
	bool stop;
};

/* --- daemon.c */
/* "a\nb\n" -> ["a","b"] (the rule packs' warnings in replies) */
json_t *warnings_json(const char *lines);
void daemon_note(struct ward_daemon *d, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A `control` row: reason "uid=U pid=P" [+ "; " + detail]. */
void daemon_row(struct ward_daemon *d, const struct dconn *c, const char *action, const char *verb,
		const char *sandbox, const char *detail, const char *rev);
void daemon_row_session(struct ward_daemon *d, const struct dconn *c, const char *action,
			const char *verb, const char *sandbox, const char *detail, const char *rev,
			const char *session);
/* run.json: the daemon's pid and the ids of the sandboxes it runs. */
int daemon_write_run(struct ward_daemon *d);

/* --- daemon_conn.c */
void conn_accept(struct ward_daemon *d);
void conn_readable(struct ward_daemon *d, struct dconn *c);
void conn_free(struct ward_daemon *d, struct dconn *c);
/* Send one JSON object and a newline (takes the reference of o). -EPIPE/-EAGAIN: c is dead. */
int conn_send(struct dconn *c, json_t *o);
/* {"id", "ok":true} + fields of res (taken; NULL: none) */
void reply_ok(struct dconn *c, json_t *req, json_t *res);
void reply_err(struct dconn *c, json_t *req, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The same, and a deny row for the verb. */
void refuse(struct ward_daemon *d, struct dconn *c, json_t *req, const char *verb,
	    const char *sandbox, int code, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
const char *errno_name(int e);

/* --- daemon_state.c */
bool daemon_name_valid(const char *name);
int state_init(struct ward_daemon *d, struct ward_error *err);
int state_save(struct ward_daemon *d, const struct dsandbox *sb, struct ward_error *err);
int state_save_policy(struct ward_daemon *d, const char *name, const char *text, size_t len,
		      struct ward_error *err);
/* A new policy for a sandbox: policy.yaml and config.json (with that
 * policy path and rev) written and fsync'd beside the files in force, then
 * renamed into place, the directory fsync'd once. */
int state_store_policy(struct ward_daemon *d, const struct dsandbox *sb, const char *policy_path,
		       const char *rev, const char *text, size_t len, struct ward_error *err);
/* The policy text in force (NUL-terminated). */
int state_read_policy(struct ward_daemon *d, const char *name, char **ret, size_t *ret_len,
		      struct ward_error *err);
/* sandboxes/NAME and sandboxes/NAME/home, created 0700 */
int state_create(struct ward_daemon *d, const char *name, struct ward_error *err);
int state_home(struct ward_daemon *d, const char *name, char *buf, size_t len);
int state_remove(struct ward_daemon *d, const char *name, struct ward_error *err);
/* Every sandboxes/NAME/config.json as a dsandbox record (stopped). */
int state_load_all(struct ward_daemon *d, struct ward_error *err);
/* After a crash: kill and remove what the previous daemon's run.json names. */
void state_cleanup_crash(struct ward_daemon *d);
/* Once the log is open: an exit row for every session of those sandboxes
 * that has none (it died with the daemon). */
void state_end_crashed_sessions(struct ward_daemon *d);
int write_atomic(int dirfd, const char *name, const void *buf, size_t len, mode_t mode,
		 struct ward_error *err);

/* --- daemon_sandbox.c */
struct dsandbox *sandbox_find(struct ward_daemon *d, const char *name);
int sandbox_start(struct ward_daemon *d, struct dsandbox *sb, struct ward_error *err);
void sandbox_stop(struct ward_daemon *d, struct dsandbox *sb);
void sandbox_free(struct dsandbox *sb);
json_t *sandbox_json(const struct dsandbox *sb);
/* Compile a policy file: 0 + the text and the policy; -EINVAL: err->msg holds
 * the FILE:LINE:COL lines (joined by "\n"). */
struct ward_policy;
int policy_compile_text(const char *name, const char *text, size_t len,
			struct ward_policy **ret_policy, struct ward_error *err);
int policy_compile_file(const struct dconn *peer, const char *path, char **ret_text,
			size_t *ret_len, struct ward_policy **ret_policy, struct ward_error *err);
/* Files the daemon reads for a peer must be readable by that peer (their
 * mode bits; the daemon is root): -EACCES otherwise. */
int peer_may_read(const struct dconn *peer, const char *path, struct ward_error *err);
/* idle timeouts: stop what is due; returns ms until the next one (-1: none) */
int sandbox_idle_tick(struct ward_daemon *d);
void verb_sandbox_create(struct ward_daemon *d, struct dconn *c, json_t *req);
void verb_sandbox_list(struct ward_daemon *d, struct dconn *c, json_t *req);
void verb_sandbox_stop(struct ward_daemon *d, struct dconn *c, json_t *req);
void verb_sandbox_start(struct ward_daemon *d, struct dconn *c, json_t *req);
void verb_sandbox_rm(struct ward_daemon *d, struct dconn *c, json_t *req);

/* --- daemon_exec.c */
void verb_exec(struct ward_daemon *d, struct dconn *c, json_t *req);
void verb_sessions(struct ward_daemon *d, struct dconn *c, json_t *req);
/* signal / winsize from the exec's client */
void session_control(struct ward_daemon *d, struct dconn *c, json_t *req, const char *verb);
/* the client of a running session went away */
void session_orphan(struct ward_daemon *d, struct dsession *s);
/* a session's fd is readable: reap it, tell its client */
void session_ended(struct ward_daemon *d, struct dsession *s);
/* stop: wait (bounded) for the sessions of sb to end after its runtime stopped */
void sessions_reap_sandbox(struct ward_daemon *d, struct dsandbox *sb);
/* SIGKILL deadlines: returns ms until the next one (-1: none) */
int sessions_tick(struct ward_daemon *d);
/* keep the ended sessions' history bounded (between loop turns only) */
void sessions_trim(struct ward_daemon *d);

/* --- daemon_host.c: host mode (docs/host.md) */
/* At start: the stored host policy (host/host.json + host/policy.yaml), else
 * the --host-policy file when it exists, is enforced, taking over pins. */
void host_restore(struct ward_daemon *d);
void verb_host_enforce(struct ward_daemon *d, struct dconn *c, json_t *req);
void verb_host_status(struct ward_daemon *d, struct dconn *c, json_t *req);
void verb_host_stop(struct ward_daemon *d, struct dconn *c, json_t *req);
/* SIGTERM: the listeners stop, the pinned programs stay (fail closed). */
void host_release(struct ward_daemon *d);

/* --- daemon_verbs.c */
void verb_policy_apply(struct ward_daemon *d, struct dconn *c, json_t *req);
void verb_secret(struct ward_daemon *d, struct dconn *c, json_t *req, const char *verb);
