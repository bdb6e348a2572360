// SPDX-License-Identifier: MIT
/* Sessions: a command started in a running sandbox (ward_sandbox_start). ward
 * prepares everything that allocates (user, Landlock rules of the generation
 * in force, seccomp program, environment, the session's cgroup), then forks
 * the intermediate (sandbox_child.c: ward_session_child), which joins the
 * sandbox's namespaces and clone3()s the command into <leaf>/s-<id>. */
#include "enforcer/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/owner.h"
#include "enforcer/sandbox_internal.h"
#include "enforcer/user.h"

static bool valid_session_id(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n < WARD_SESSION_ID_MAX &&
	       strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static const char *env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (; env && *env; env++)
		if (!strncmp(*env, name, n) && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

/* "layers=... env=NAMES" as the sandbox's start row has it, for the session. */
static void session_reason(const struct ward_sandbox *sb, char *const *envp, char *buf, size_t len)
{
	char names[1024] = "", ll[64];

	ward_sandbox_env_names(envp, names, sizeof(names));
	ward_landlock_describe(sb->landlock_abi, ll, sizeof(ll));
	snprintf(buf, len, "layers=namespaces,cgroup,%s,seccomp env=%s", ll, names);
}

static bool cg_populated(int dirfd)
{
	char buf[256];
	_cleanup_close_ int fd = openat(dirfd, "cgroup.events", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) < 0)
		return false;
	buf[n] = '\0';
	return !strstr(buf, "populated 0");
}

/* Kill what is in the session's cgroup, wait (bounded, ~2 s) for it to
 * empty, remove it. */
static void session_cgroup_remove(struct ward_sandbox_session *s)
{
	_cleanup_close_ int fd = open(s->cgroup_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int kfd = -1;

	if (fd < 0)
		return;
	kfd = openat(fd, "cgroup.kill", O_WRONLY | O_CLOEXEC);
	if (kfd >= 0 && cg_populated(fd))
		(void)!write(kfd, "1", 1);
	for (int i = 0; i < 2000 && cg_populated(fd); i++)
		poll(NULL, 0, 1);
	rmdir(s->cgroup_path);
}

static void session_msg(struct ward_sandbox_session *s, const struct ward_msg *m, pid_t pid,
			bool *resolved, char *fail, size_t fail_len)
{
	switch ((enum ward_msg_kind)m->kind) {
	case WARD_MSG_SESSION:
		if (!s->cmd_pid)
			s->cmd_pid = m->value;
		break;
	case WARD_MSG_RESOLVED:
		snprintf(s->binary, sizeof(s->binary), "%.*s", (int)sizeof(s->binary) - 1, m->text);
		if (pid > 0)
			s->cmd_pid = pid;
		*resolved = true;
		break;
	case WARD_MSG_FAIL:
		if (!s->setup_status) {
			s->setup_status = WARD_EXIT_SETUP;
			snprintf(fail, fail_len, "%s", m->text);
		}
		if (pid > 0 && !s->cmd_pid)
			s->cmd_pid = pid;
		break;
	case WARD_MSG_EXEC_FAIL:
		s->setup_status = m->value;
		snprintf(fail, fail_len, "%s", m->text);
		break;
	case WARD_MSG_READY:
	case WARD_MSG_GO:
	case WARD_MSG_EXIT:
	case WARD_MSG_ENV:
	case WARD_MSG_SERVING:
		break;
	}
}

static void close_v1_tasks(int **fds)
{
	for (int i = 0; i < WARD_CGROUP_N_CTL; i++)
		if ((*fds)[i] >= 0)
			close((*fds)[i]);
}

struct exec_prep {
	struct ward_mount_plan plan; /* a later generation's mounts and rules */
	struct ward_mount_delta delta; /* what the session's namespace changes */
	struct ward_seccomp_prog prog;
	struct ward_sandbox_env env;
	char **extra, **envp;
	char session_var[WARD_SESSION_ID_MAX + 16];
};

static void prep_free(struct exec_prep *p)
{
	ward_mount_plan_free(&p->plan);
	ward_mount_delta_free(&p->delta);
	ward_seccomp_prog_free(&p->prog);
	ward_sandbox_env_free(&p->env);
	free(p->extra);
	free(p->envp);
}

int ward_sandbox_exec(struct ward_sandbox *sb, const struct ward_sandbox_session_opts *o,
		      struct ward_sandbox_session *ret, struct ward_error *err)
{
	struct ward_sandbox_host *h = (struct ward_sandbox_host *)sb;
	const struct ward_sandbox_opts *so = sb->opts;
	_cleanup_(prep_free) struct exec_prep p = { 0 };
	struct ward_landlock_plan ll;
	struct ward_session_ctx c = { .init_pidfd = h->init_pidfd, .cgroup_fd = -1, .kill_fd = -1,
				      .v1_tasks = { -1, -1, -1 } };
	_cleanup_(close_v1_tasks) int *v1 = c.v1_tasks;
	_Static_assert(WARD_CGROUP_N_CTL == 3, "v1_tasks initialiser");
	struct clone_args args = { .flags = CLONE_PIDFD, .exit_signal = SIGCHLD };
	struct ward_sandbox_session *s = ret;
	char fail[WARD_ENV_ENTRY_MAX] = "", reason[1536];
	int sv[2] = { -1, -1 }, one = 1, pidfd = -1, r;
	size_t max;
	bool resolved = false;
	struct stat st;
	struct ward_msg m;
	pid_t pid, from;

	*s = (struct ward_sandbox_session){ .pidfd = -1, .sock = -1 };
	if (!o->policy || !o->argv || !o->argv[0])
		return ward_errx(err, -EINVAL, "session: no policy or no command");
	if (o->id) {
		if (!valid_session_id(o->id))
			return ward_errx(err, -EINVAL, "session id '%s': 1 to %d of [A-Za-z0-9_-]",
					 o->id, WARD_SESSION_ID_MAX - 1);
		snprintf(s->id, sizeof(s->id), "%s", o->id);
	} else if ((r = ward_sandbox_new_id(s->id)) < 0) {
		return ward_err(err, r, "getrandom");
	}
	s->policy_rev = o->policy->rev;
	/* the generation in force: user (the sandbox's own generation's was
	 * resolved at start), Landlock, environment */
	if (o->policy == so->policy) {
		c.uid = sb->uid;
		c.gid = sb->gid;
	} else {
		r = ward_user_resolve(o->policy, h->ctx.workdir, &c.uid, &c.gid, err);
		if (r < 0)
			return r;
	}
	r = ward_landlock_prepare(o->policy->landlock_compat, &ll, err);
	if (r < 0)
		return r;
	if (!o->tcp_connect_ports)
		ll.handled_net = 0;
	if (so->learn)
		ward_landlock_learn(&ll);
	if (o->policy == so->policy) {
		/* the child compacts the array: a copy of its own in its memory */
		c.rules = h->plan.rules;
		c.n_rules = h->plan.n_rules;
	} else {
		r = ward_mount_plan_build(o->policy, h->ctx.workdir, so->files, so->n_files,
					  so->private_sockdirs, NULL, NULL, &p.plan, err);
		if (r >= 0 && so->home)
			r = ward_mount_plan_add_dir(&p.plan, so->home, WARD_SANDBOX_HOME, err);
		/* its mounts: the session's own namespace, the sandbox's with
		 * what differs (learn mode maps the host's root anyway) */
		if (r >= 0 && !so->learn)
			r = ward_mount_delta_build(&h->plan, &p.plan, &p.delta, err);
		if (r < 0)
			return r;
		c.rules = p.plan.rules;
		c.n_rules = p.plan.n_rules;
		if (p.delta.n_detach || p.delta.n_add)
			c.mounts = &p.delta;
	}
	c.ll = &ll;
	c.ports = o->tcp_connect_ports;
	c.n_ports = o->n_tcp_connect_ports;
	/* with the broker, the syscalls it refuses with a row are left to its
	 * filter; without, refused here (EPERM). The program depends on that
	 * alone, not on the policy: the sandbox's, built at start, serves
	 * every generation */
	c.unix_broker = o->unix_broker;
	if (o->unix_broker == so->unix_broker) {
		c.seccomp = &h->prog;
	} else {
		r = ward_seccomp_build(&p.prog, o->unix_broker, err);
		if (r < 0)
			return r;
		c.seccomp = &p.prog;
	}
	r = ward_sandbox_env_prepare(o->policy, o->env, &p.env, err);
	if (r < 0)
		return r;
	p.extra = calloc(sb->n_env + 1, sizeof(*p.extra));
	max = p.env.n_pass + sb->n_env + 1 + p.env.n_set + 1;
	p.envp = calloc(max, sizeof(*p.envp));
	if (!p.extra || !p.envp)
		return ward_err(err, -ENOMEM, "session environment");
	memcpy(p.extra, sb->env, sb->n_env * sizeof(*p.extra));
	snprintf(p.session_var, sizeof(p.session_var), "WARD_SESSION=%s", s->id);
	p.extra[sb->n_env] = p.session_var;
	ward_sandbox_env_build(&p.env, p.extra, sb->n_env + 1, p.envp, max);
	c.envp = p.envp;
	c.path_env = env_get(p.envp, "PATH");
	c.argv = o->argv;
	c.cwd = o->cwd ? o->cwd : h->ctx.workdir;
	memcpy(c.stdio, o->stdio, sizeof(c.stdio));

	/* its cgroup, below the sandbox's: the leaf's limits and programs hold */
	if ((size_t)snprintf(s->cgroup_path, sizeof(s->cgroup_path), "%s/s-%s", sb->cgroup.path,
			     s->id) >= sizeof(s->cgroup_path))
		return ward_errx(err, -ENAMETOOLONG, "session cgroup path");
	if (mkdir(s->cgroup_path, 0755) < 0)
		return ward_err(err, -errno, errno == EEXIST ? "session %s exists" : "mkdir '%s'",
				errno == EEXIST ? s->id : s->cgroup_path);
	c.cgroup_fd = open(s->cgroup_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c.cgroup_fd >= 0)
		c.kill_fd = openat(c.cgroup_fd, "cgroup.kill", O_WRONLY | O_CLOEXEC);
	if (c.cgroup_fd < 0 || c.kill_fd < 0 || fstat(c.cgroup_fd, &st) < 0) {
		r = ward_err(err, -errno, "open '%s'", s->cgroup_path);
		goto fail;
	}
	s->cgroup_id = st.st_ino;
	{
		/* cached for the rows read after the session's cgroup is gone */
		char cg[PATH_MAX];

		(void)ward_cgroup_path(s->cgroup_id, 0, cg, sizeof(cg));
	}
	r = ward_cgroup_open_v1_tasks(&sb->cgroup, c.v1_tasks, err);
	if (r < 0)
		goto fail;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
	    setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		r = ward_err(err, -errno, "socketpair");
		goto fail;
	}
	c.sock = sv[1];
	args.pidfd = (uint64_t)(uintptr_t)&pidfd;
	/* A raw clone: the caller may be multi-threaded; the child allocates
	 * nothing and takes no lock. */
	pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0)
		ward_session_child(&c);
	if (pid < 0) {
		r = ward_err(err, -errno, "fork the session");
		goto fail;
	}
	close(TAKE_FD(sv[1]));
	s->pid = pid;
	s->pidfd = pidfd;
	s->sock = TAKE_FD(sv[0]);
	close(TAKE_FD(c.cgroup_fd));
	close(TAKE_FD(c.kill_fd));
	ward_msg_send(s->sock, WARD_MSG_GO, 0, NULL);
	/* until the command is about to execve, or failed */
	while (!resolved && !s->setup_status && (r = ward_msg_recv(s->sock, &m, &from, 0)) > 0) {
		if (m.kind != WARD_MSG_READY) {
			session_msg(s, &m, from, &resolved, fail, sizeof(fail));
			continue;
		}
		/* the command's connect() listener */
		if (from > 0)
			s->cmd_pid = from;
		r = o->on_listener && from > 0
			    ? o->on_listener(o->listener_data, from, m.value, c.uid, c.gid, err)
			    : ward_errx(err, -EINVAL, "no taker for the session's listener");
		if (r < 0) {
			s->setup_status = WARD_EXIT_SETUP;
			snprintf(fail, sizeof(fail), "unix broker: %s", err->msg);
			syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
			kill(from, SIGKILL);
			break;
		}
		ward_msg_send(s->sock, WARD_MSG_GO, 0, NULL);
	}
	if (resolved) {
		s->cmd_pidfd = s->cmd_pid > 0 ? (int)syscall(SYS_pidfd_open, s->cmd_pid, 0) : -1;
		session_reason(sb, p.envp, reason, sizeof(reason));
		ward_sandbox_lifecycle(sb, s->id, s->policy_rev, "allow", "start", s->binary,
				       s->cmd_pid, reason);
	} else {
		s->cmd_pidfd = -1;
		if (!s->setup_status) {
			s->setup_status = WARD_EXIT_SETUP;
			snprintf(fail, sizeof(fail),
				 "the session ended before its command started");
		}
		if (s->setup_status == WARD_EXIT_SETUP)
			ward_sandbox_lifecycle(sb, s->id, s->policy_rev, "deny", "setup", NULL,
					       s->cmd_pid ? s->cmd_pid : s->pid, fail);
		else if (so->diag)
			so->diag(so->diag_data, false, fail);
	}
	return 0;

fail:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (c.kill_fd >= 0)
		close(c.kill_fd);
	if (c.cgroup_fd >= 0)
		close(c.cgroup_fd);
	session_cgroup_remove(s);
	return r;
}

int ward_sandbox_session_reap(struct ward_sandbox *sb, struct ward_sandbox_session *s, bool wait,
			      int *ret_status)
{
	char fail[WARD_ENV_ENTRY_MAX] = "", reason[128];
	bool resolved = false;
	struct ward_msg m;
	siginfo_t si = { 0 };
	pid_t from;
	int code;

	if (s->reaped) {
		*ret_status = s->status;
		return 0;
	}
	if (waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED | (wait ? 0 : WNOHANG)) < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	if (si.si_pid == 0)
		return -EAGAIN;
	code = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
	/* what came after exec returned (an execve that failed) */
	while (ward_msg_recv(s->sock, &m, &from, MSG_DONTWAIT) > 0)
		session_msg(s, &m, from, &resolved, fail, sizeof(fail));
	if (s->setup_status && s->binary[0] && s->setup_status != WARD_EXIT_SETUP && fail[0] &&
	    sb->opts->diag)
		sb->opts->diag(sb->opts->diag_data, false, fail);
	s->status = s->setup_status ? s->setup_status : code;
	s->reaped = true;
	session_cgroup_remove(s);
	if (s->binary[0] || s->setup_status != WARD_EXIT_SETUP) {
		if (si.si_code != CLD_EXITED)
			snprintf(reason, sizeof(reason), "signal=SIG%s",
				 sigabbrev_np(si.si_status));
		else if (!s->setup_status && code > 128 && code < 128 + NSIG)
			snprintf(reason, sizeof(reason), "signal=SIG%s", sigabbrev_np(code - 128));
		else
			snprintf(reason, sizeof(reason), "status=%d", s->status);
		ward_sandbox_lifecycle(sb, s->id, s->policy_rev, "allow", "exit",
				       s->binary[0] ? s->binary : NULL, s->cmd_pid, reason);
	}
	*ret_status = s->status;
	return 0;
}

void ward_sandbox_session_release(struct ward_sandbox *sb, struct ward_sandbox_session *s)
{
	int status;

	if (s->pidfd >= 0 && !s->reaped) {
		syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
		if (s->cmd_pidfd >= 0)
			syscall(SYS_pidfd_send_signal, s->cmd_pidfd, SIGKILL, NULL, 0);
		while (ward_sandbox_session_reap(sb, s, true, &status) == -EAGAIN)
			;
	}
	if (s->pidfd >= 0)
		close(s->pidfd);
	if (s->cmd_pidfd >= 0)
		close(s->cmd_pidfd);
	if (s->sock >= 0)
		close(s->sock);
	s->pidfd = s->cmd_pidfd = s->sock = -1;
}
