// SPDX-License-Identifier: MIT
/* ward's side of a sandbox run: prepare everything that allocates (user,
 * mount plan, Landlock plan, seccomp program, cgroup leaf), clone init into
 * the leaf and the new namespaces, run the hooks, then relay messages, log
 * lifecycle rows and forward signals until init is gone. */
#include "enforcer/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/strv.h"
#include "enforcer/init_image.h"
#include "enforcer/sandbox_internal.h"
#include "enforcer/user.h"

const int ward_forwarded_signals[7] = { WARD_FORWARDED_SIGNALS };

/* CLONE_NEWCGROUP: /proc/self/cgroup inside shows the leaf as "/", not where
 * ward's cgroups are on the host (with CLONE_INTO_CGROUP the namespace's
 * root is the leaf) */
#define NS_FLAGS                                                                                   \
	(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWCGROUP)

extern char **environ;

static volatile pid_t forward_to;

int ward_sandbox_new_id(char out[WARD_SANDBOX_ID_LEN + 1])
{
	unsigned char b[WARD_SANDBOX_ID_LEN / 2];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -errno;
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

int ward_msg_send(int fd, uint32_t kind, int32_t value, const char *text)
{
	struct ward_msg m = { .kind = kind, .value = value };
	size_t len = offsetof(struct ward_msg, text);

	if (text) {
		size_t n = strnlen(text, sizeof(m.text) - 1);

		memcpy(m.text, text, n);
		m.text[n] = '\0';
		len += n + 1;
	}
	while (send(fd, &m, len, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* One message, and the sender's pid (in ward's namespace) when attached.
 * 0 on EOF, 1 on a message. */
int ward_msg_recv(int fd, struct ward_msg *m, pid_t *ret_pid, int flags)
{
	char cbuf[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) - 1 };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	ssize_t n;

	memset(m, 0, sizeof(*m));
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	if (n < (ssize_t)offsetof(struct ward_msg, text))
		return -EBADMSG;
	*ret_pid = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred uc;

			memcpy(&uc, CMSG_DATA(c), sizeof(uc));
			*ret_pid = uc.pid;
		}
	return 1;
}

static int msg_recv(int fd, struct ward_msg *m, pid_t *ret_pid)
{
	return ward_msg_recv(fd, m, ret_pid, 0);
}

int ward_exit_code(int s)
{
	if (WIFEXITED(s))
		return WEXITSTATUS(s);
	if (WIFSIGNALED(s))
		return 128 + WTERMSIG(s);
	return WARD_EXIT_SETUP;
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;

	/* Only what someone sent: terminal signals reach the command directly. */
	if (forward_to > 0 && si->si_code <= 0)
		kill(forward_to, sig);
	errno = saved;
}

void ward_sandbox_lifecycle(const struct ward_sandbox *sb, const char *session, const char *rev,
			    const char *action, const char *rule, const char *binary, pid_t pid,
			    const char *reason)
{
	const struct ward_sandbox_opts *o = sb->opts;
	struct ward_decision d = {
		.sandbox = sb->id,
		.layer = "lifecycle",
		.action = action,
		.binary = binary,
		.pid = pid,
		.rule = rule,
		.reason = reason,
		.policy_rev = rev ? rev : o->policy->rev,
		.session = session,
	};

	if (o->audit)
		ward_audit_submit(o->audit, &d);
}

static void lifecycle(const struct ward_sandbox *sb, const char *action, const char *rule,
		      const char *binary, pid_t pid, const char *reason)
{
	ward_sandbox_lifecycle(sb, NULL, NULL, action, rule, binary, pid, reason);
}

static pid_t clone_init(struct ward_sandbox *sb, int *ret_procs_fd)
{
	struct clone_args args = {
		.flags = NS_FLAGS | CLONE_INTO_CGROUP,
		.exit_signal = SIGCHLD,
		.cgroup = (uint64_t)sb->cgroup.fd,
	};
	pid_t pid;

	*ret_procs_fd = -1;
	pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (pid >= 0 || (errno != ENOSYS && errno != E2BIG && errno != EINVAL))
		return pid;
	/* Before 5.7: plain clone, and init joins the leaf before doing anything. */
	*ret_procs_fd = openat(sb->cgroup.fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
	if (*ret_procs_fd < 0)
		return -1;
	return (pid_t)syscall(SYS_clone, NS_FLAGS | SIGCHLD, NULL, NULL, NULL, 0);
}

/* Whom a limit's row names: the command, once it is known. */
struct limit_rows {
	const struct ward_sandbox *sb;
	char binary[PATH_MAX];
	pid_t pid;
};

struct run_state {
	const struct ward_sandbox_env *env;
	struct limit_rows limits;
	struct ward_cgroup_watch *watch;
	bool failed;
	bool exited;
	int exec_fail; /* 126/127, 0 when none */
	int wstatus;
	char binary[PATH_MAX];
	pid_t pid;
};

/* "limits=memory=N,pids=N,cpu=M" as applied ("-" for a controller that is
 * missing, "max" for no limit). */
static void limits_describe(const struct ward_sandbox *sb, char *buf, size_t len)
{
	const struct ward_cgroup *cg = &sb->cgroup;
	const struct ward_cgroup_limits *l = &sb->limits;
	char mem[24] = "max", pids[24] = "max", cpu[24] = "max";

	if (l->memory)
		snprintf(mem, sizeof(mem), "%" PRIu64, l->memory);
	if (l->pids)
		snprintf(pids, sizeof(pids), "%" PRIu64, l->pids);
	if (l->cpu_milli)
		snprintf(cpu, sizeof(cpu), "%u.%03u", l->cpu_milli / 1000, l->cpu_milli % 1000);
	snprintf(buf, len, "limits=memory=%s,pids=%s,cpu=%s",
		 cg->ctl[WARD_CGROUP_MEMORY].where || !l->memory ? mem : "-",
		 cg->ctl[WARD_CGROUP_PIDS].where || !l->pids ? pids : "-",
		 cg->ctl[WARD_CGROUP_CPU].where || !l->cpu_milli ? cpu : "-");
}

/* A limit bit (cgroup_watch.c, or the counters read at the end): which and
 * how often so far. */
static void limit_row(void *data, enum ward_cgroup_ctl ctl, const struct ward_cgroup_events *ev)
{
	const struct limit_rows *l = data;
	const char *binary = l->binary[0] ? l->binary : NULL;
	char reason[128];
	int n;

	switch (ctl) {
	case WARD_CGROUP_MEMORY:
		n = snprintf(reason, sizeof(reason), "oom_kill=%" PRIu64, ev->oom_kill);
		if (ev->memory_max)
			snprintf(reason + n, sizeof(reason) - n,
				 " memory.max reached %" PRIu64 " times", ev->memory_max);
		lifecycle(l->sb, "deny", "memory", binary, l->pid, reason);
		break;
	case WARD_CGROUP_PIDS:
		snprintf(reason, sizeof(reason), "pids.max reached %" PRIu64 " times",
			 ev->pids_max);
		lifecycle(l->sb, "deny", "pids", binary, l->pid, reason);
		break;
	case WARD_CGROUP_CPU:
		snprintf(reason, sizeof(reason), "cpu.max throttled %" PRIu64 " times",
			 ev->cpu_throttled);
		lifecycle(l->sb, "deny", "cpu", binary, l->pid, reason);
		break;
	case WARD_CGROUP_N_CTL:
		break;
	}
}

/* Without a watch (the command never started): the counters, once. */
static void limit_rows_final(struct limit_rows *l)
{
	struct ward_cgroup_events ev;

	ward_cgroup_events_read(&l->sb->cgroup, &ev);
	if (ev.oom_kill || ev.memory_max)
		limit_row(l, WARD_CGROUP_MEMORY, &ev);
	if (ev.pids_max)
		limit_row(l, WARD_CGROUP_PIDS, &ev);
	if (ev.cpu_throttled)
		limit_row(l, WARD_CGROUP_CPU, &ev);
}

/* The start row's reason: the layers, then the names (never the values) of
 * the command's environment, as init builds it. */
static void start_reason(const struct ward_sandbox *sb, const struct ward_sandbox_env *env,
			 char *buf, size_t len)
{
	_cleanup_free_ char **all = NULL;
	size_t max = env->n_pass + sb->n_env + env->n_set + 1;
	char ll[64], names[1024] = "", limits[160];
	size_t n;

	all = calloc(max, sizeof(*all));
	if (all) {
		ward_sandbox_env_build(env, sb->env, sb->n_env, all, max);
		ward_sandbox_env_names(all, names, sizeof(names));
	}
	limits_describe(sb, limits, sizeof(limits));
	ward_landlock_describe(sb->landlock_abi, ll, sizeof(ll));
	/* without the unix-socket layer: which directories were made private */
	n = snprintf(buf, len, "layers=namespaces,cgroup,%s,seccomp%s", ll,
		     sb->opts->private_sockdirs
			     ? ",unix(unavailable:private /tmp,/run,/var/tmp,/dev/shm)"
			     : "");
	for (size_t i = 0; i < sb->opts->n_hooks && n < len; i++)
		n += snprintf(buf + n, len - n, ",%s", sb->opts->hooks[i].name);
	if (n < len)
		n += snprintf(buf + n, len - n, " %s", limits);
	for (size_t i = 0; i < sb->n_warnings && n < len; i++)
		n += snprintf(buf + n, len - n, "%s%s", i ? "; " : " warnings=", sb->warnings[i]);
	if (n < len)
		snprintf(buf + n, len - n, " env=%s", all ? names : "?");
}

static void handle(struct ward_sandbox *sb, struct run_state *st, const struct ward_msg *m,
		   pid_t pid, const char *workdir, struct ward_error *err)
{
	const struct ward_sandbox_opts *o = sb->opts;
	char reason[1536];

	switch ((enum ward_msg_kind)m->kind) {
	case WARD_MSG_FAIL:
		if (!st->failed)
			ward_errx(err, m->value < 0 ? m->value : -EIO, "sandbox setup: %s",
				  m->text);
		st->failed = true;
		lifecycle(sb, "deny", "setup", NULL, pid, m->text);
		break;
	case WARD_MSG_RESOLVED:
		if ((m->text[0] == '/' || !workdir
			     ? snprintf(st->binary, sizeof(st->binary), "%s", m->text)
			     : snprintf(st->binary, sizeof(st->binary), "%s/%s", workdir,
					m->text)) >= (int)sizeof(st->binary))
			st->binary[0] = '\0';
		st->pid = pid;
		start_reason(sb, st->env, reason, sizeof(reason));
		lifecycle(sb, "allow", "start", st->binary, pid, reason);
		/* rows when a limit bites, while it runs; none is fine: then at the end */
		if (!st->watch) {
			snprintf(st->limits.binary, sizeof(st->limits.binary), "%s", st->binary);
			st->limits.pid = pid;
			ward_cgroup_watch_start(&sb->cgroup, limit_row, &st->limits, &st->watch);
		}
		break;
	case WARD_MSG_EXEC_FAIL:
		st->exec_fail = m->value;
		if (o->diag)
			o->diag(o->diag_data, false, m->text);
		break;
	case WARD_MSG_EXIT:
		st->exited = true;
		st->wstatus = m->value;
		break;
	case WARD_MSG_READY:
	case WARD_MSG_GO:
	case WARD_MSG_ENV:
	case WARD_MSG_SERVING:
	case WARD_MSG_SESSION:
		break;
	}
}

int ward_sandbox_setenv(struct ward_sandbox *sb, const char *name, const char *value,
			struct ward_error *err)
{
	char *kv, **v;

	if (!*name || strchr(name, '=') || strlen(name) + strlen(value) + 2 > WARD_ENV_ENTRY_MAX)
		return ward_errx(err, -EINVAL, "environment variable '%s' is malformed or too long",
				 name);
	if (sb->n_env >= WARD_ENV_EXTRA_MAX)
		return ward_errx(err, -E2BIG, "more than %d environment variables set by ward",
				 WARD_ENV_EXTRA_MAX);
	if (asprintf(&kv, "%s=%s", name, value) < 0)
		return ward_err(err, -ENOMEM, "setenv");
	v = realloc(sb->env, (sb->n_env + 1) * sizeof(*v));
	if (!v) {
		free(kv);
		return ward_err(err, -ENOMEM, "setenv");
	}
	sb->env = v;
	sb->env[sb->n_env++] = kv;
	return 0;
}

static void free_env(struct ward_sandbox *sb)
{
	for (size_t i = 0; i < sb->n_env; i++)
		free(sb->env[i]);
	free(sb->env);
	sb->env = NULL;
	sb->n_env = 0;
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strcmp(dir, "/") || (!strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/'));
}

/* Is path inside the sandbox's filesystem (a policy path or the workdir)? */
static bool visible_inside(const struct ward_policy *p, const char *workdir, const char *path)
{
	if (workdir && under(path, workdir))
		return true;
	for (size_t i = 0; i < p->n_read_write; i++)
		if (under(path, p->read_write[i].path))
			return true;
	for (size_t i = 0; i < p->n_read_only; i++)
		if (under(path, p->read_only[i].path))
			return true;
	return false;
}

/* WARD_SANDBOX, and HOME/USER/LOGNAME of the user the command runs as (not
 * those of whoever started ward: /root is not inside). A home the policy does
 * not map becomes the private /tmp, so dotfiles have somewhere to go. */
static int set_identity_env(struct ward_sandbox *sb, const char *workdir, struct ward_error *err)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int r = ward_sandbox_setenv(sb, "WARD_SANDBOX", sb->id, err);

	if (r < 0)
		return r;
	if (getpwuid_r(sb->uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return ward_sandbox_setenv(sb, "HOME", sb->opts->home ? WARD_SANDBOX_HOME : "/tmp",
					   err);
	if (sb->opts->home)
		pw.pw_dir = (char *)WARD_SANDBOX_HOME;
	else if (!visible_inside(sb->opts->policy, workdir, pw.pw_dir))
		pw.pw_dir = (char *)"/tmp";
	if ((r = ward_sandbox_setenv(sb, "HOME", pw.pw_dir, err)) < 0 ||
	    (r = ward_sandbox_setenv(sb, "USER", pw.pw_name, err)) < 0 ||
	    (r = ward_sandbox_setenv(sb, "LOGNAME", pw.pw_name, err)) < 0)
		return r;
	return 0;
}

static int run_hooks(struct ward_sandbox *sb, struct ward_error *err)
{
	for (size_t i = 0; i < sb->opts->n_hooks; i++) {
		const struct ward_sandbox_hook *h = &sb->opts->hooks[i];
		int r = h->fn(sb, h->data, err);

		if (r < 0)
			return ward_err_prefix(err, "%s", h->name ? h->name : "hook");
	}
	return 0;
}

static bool private_tmp(const struct ward_mount_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++)
		if (plan->v[i].kind == WARD_MNT_TMPFS)
			return true;
	return false;
}

static int final_status(const struct run_state *st, int init_status)
{
	int s = st->exited ? st->wstatus : init_status;

	if (st->failed)
		return WARD_EXIT_SETUP;
	if (st->exec_fail)
		return st->exec_fail;
	if (WIFEXITED(s))
		return WEXITSTATUS(s);
	if (WIFSIGNALED(s))
		return 128 + WTERMSIG(s);
	return WARD_EXIT_SETUP;
}

/* After clone: READY, the identity variables, hooks, ENV, GO. false: init
 * never got ready or a step failed (st->failed, init killed). */
static bool begin(struct ward_sandbox *sb, struct run_state *st, const char *workdir, int sock,
		  struct ward_error *err)
{
	struct ward_msg m;
	bool ready = false;
	pid_t pid;
	int r;

	while (!ready && (r = msg_recv(sock, &m, &pid)) > 0) {
		if (m.kind == WARD_MSG_READY) {
			ready = true;
			sb->unix_listener = m.value > 0 ? m.value : -1;
		} else {
			handle(sb, st, &m, pid, workdir, err);
		}
	}
	/* The command can tell it is sandboxed, and which sandbox's rows are its own. */
	if (ready && set_identity_env(sb, workdir, err) < 0) {
		st->failed = true;
		kill(sb->init_pid, SIGKILL);
		return ready;
	} else if (ready && run_hooks(sb, err) < 0) {
		st->failed = true;
		lifecycle(sb, "deny", "setup", NULL, sb->init_pid, err->msg);
		kill(sb->init_pid, SIGKILL);
		return ready;
	} else if (ready) {
		/* init copies these into its own memory before it forks the command */
		for (size_t i = 0; i < sb->n_env; i++)
			ward_msg_send(sock, WARD_MSG_ENV, 0, sb->env[i]);
		ward_msg_send(sock, WARD_MSG_GO, 0, NULL);
	}
	return ready;
}

/* Everything after clone: READY, hooks, GO, messages until EOF, reap. */
static int supervise(struct ward_sandbox *sb, const struct ward_child_ctx *ctx, int sock,
		     int *ret_status, struct ward_error *err)
{
	struct run_state st = { .env = ctx->env, .limits = { .sb = sb, .pid = sb->init_pid } };
	const char *workdir = ctx->workdir;
	struct ward_msg m;
	char reason[128];
	bool ready;
	int status = 0, r;
	pid_t pid;

	ready = begin(sb, &st, workdir, sock, err);
	while ((r = msg_recv(sock, &m, &pid)) > 0)
		handle(sb, &st, &m, pid, workdir, err);
	while (waitpid(sb->init_pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!ready && !st.failed) {
		st.failed = true;
		ward_errx(err, -EIO, "sandbox init ended before it was ready");
		lifecycle(sb, "deny", "setup", NULL, sb->init_pid, err->msg);
	}
	*ret_status = final_status(&st, status);
	if (st.exited || st.exec_fail) {
		int s = st.exited ? st.wstatus : 0;

		if (st.exec_fail)
			snprintf(reason, sizeof(reason), "status=%d", st.exec_fail);
		else if (WIFSIGNALED(s))
			snprintf(reason, sizeof(reason), "signal=SIG%s", sigabbrev_np(WTERMSIG(s)));
		else
			snprintf(reason, sizeof(reason), "status=%d", *ret_status);
		lifecycle(sb, "allow", "exit", st.binary[0] ? st.binary : NULL, st.pid, reason);
	}
	if (st.watch)
		ward_cgroup_watch_stop(st.watch);
	else if (ready)
		limit_rows_final(&st.limits);
	return 0;
}

static void host_cleanup(struct ward_sandbox_host *h)
{
	struct ward_sandbox *sb = &h->sb;

	if (h->sock >= 0)
		close(h->sock);
	if (h->procs_fd >= 0)
		close(h->procs_fd);
	if (h->init_fd >= 0)
		close(h->init_fd);
	if (h->init_pidfd >= 0)
		close(h->init_pidfd);
	h->sock = h->procs_fd = h->init_fd = h->init_pidfd = -1;
	ward_cgroup_destroy(&sb->cgroup);
	ward_strv_free(&sb->warnings, &sb->n_warnings);
	free_env(sb);
	ward_mount_plan_free(&h->plan);
	ward_seccomp_prog_free(&h->prog);
	ward_sandbox_env_free(&h->env);
}

static bool valid_id(const char *id)
{
	size_t n = strspn(id, "0123456789abcdef");

	return n == WARD_SANDBOX_ID_LEN && !id[n];
}

/* Everything that allocates, then the clone of init into the leaf and the
 * namespaces, and init into the v1 leaves. On success the forwarded signals
 * and SIGCHLD are blocked (h->ctx.saved_mask: before); the caller cleans up
 * (host_cleanup) either way. */
static int launch(struct ward_sandbox_host *h, const struct ward_sandbox_opts *opts, bool serve,
		  struct ward_error *err)
{
	struct ward_sandbox *sb = &h->sb;
	int sv[2] = { -1, -1 }, one = 1, r;
	pid_t pid;

	*sb = (struct ward_sandbox){ .opts = opts, .cgroup = { .fd = -1 }, .unix_listener = -1 };
	h->sock = h->procs_fd = h->init_fd = h->init_pidfd = -1;
	h->ctx = (struct ward_child_ctx){
		.sb = sb,
		.plan = &h->plan,
		.ll = &h->ll,
		.seccomp = &h->prog,
		.env = &h->env,
		.serve = serve,
		.cgroup_procs_fd = -1,
	};
	if (!opts->policy || (!serve && (!opts->argv || !opts->argv[0])))
		return ward_errx(err, -EINVAL, "no policy or no command");
	h->ctx.workdir = opts->workdir;
	if (!h->ctx.workdir) {
		if (!getcwd(h->cwd, sizeof(h->cwd)))
			return ward_err(err, -errno, "getcwd");
		h->ctx.workdir = h->cwd;
	}
	if (opts->id) {
		if (!valid_id(opts->id))
			return ward_errx(err, -EINVAL, "sandbox id '%s': %d lower-case hex digits",
					 opts->id, WARD_SANDBOX_ID_LEN);
		memcpy(sb->id, opts->id, sizeof(sb->id));
	} else {
		r = ward_sandbox_new_id(sb->id);
		if (r < 0)
			return ward_err(err, r, "getrandom");
	}
	if (opts->id_out)
		memcpy(opts->id_out, sb->id, sizeof(sb->id));
	r = ward_user_resolve(opts->policy, h->ctx.workdir, &sb->uid, &sb->gid, err);
	if (r < 0)
		return r;
	r = ward_landlock_prepare(opts->policy->landlock_compat, &h->ll, err);
	if (r < 0)
		return r;
	if (!opts->tcp_connect_ports)
		h->ll.handled_net = 0;
	if (opts->learn)
		ward_landlock_learn(&h->ll);
	sb->landlock_abi = h->ll.abi;
	r = ward_mount_plan_build(opts->policy, h->ctx.workdir, opts->files, opts->n_files,
				  opts->private_sockdirs, opts->diag, opts->diag_data, &h->plan,
				  err);
	if (r >= 0 && opts->learn)
		r = ward_mount_plan_learn(&h->plan, err);
	if (r < 0)
		return r;
	if (opts->home &&
	    (r = ward_mount_plan_add_dir(&h->plan, opts->home, WARD_SANDBOX_HOME, err)) < 0)
		return r;
	sb->plan = &h->plan;
	r = ward_seccomp_build(&h->prog, opts->unix_broker, err);
	if (r < 0)
		return r;
	r = ward_sandbox_env_prepare(opts->policy, environ, &h->env, err);
	if (r < 0)
		return r;
	r = ward_init_image_open(&h->init_fd, err);
	if (r < 0)
		return r;
	h->ctx.init_fd = h->init_fd;

	ward_cgroup_reap_stale(NULL);
	r = ward_cgroup_create(sb->id, &sb->cgroup, err);
	if (r < 0)
		return r;
	/* before the clone: init and everything it forks is born limited */
	ward_cgroup_limits_resolve(&opts->policy->resources, &sb->limits);
	r = ward_cgroup_set_limits(&sb->cgroup, sb->id, &sb->limits, &sb->warnings, &sb->n_warnings,
				   err);
	if (r < 0)
		return r;
	if (opts->policy->resources.tmp_size && !private_tmp(&h->plan))
		ward_strv_appendf(&sb->warnings, &sb->n_warnings,
				  "tmp_size ignored: the policy maps /tmp");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
	    setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		r = ward_err(err, -errno, "socketpair");
		if (sv[0] >= 0) {
			close(sv[0]);
			close(sv[1]);
		}
		return r;
	}
	h->sock = sv[0];

	/* Blocked across clone: init inherits the mask and sigwaitinfo()s them. */
	sigemptyset(&h->ctx.wait_mask);
	for (size_t i = 0; i < ARRAY_SIZE(ward_forwarded_signals); i++)
		sigaddset(&h->ctx.wait_mask, ward_forwarded_signals[i]);
	sigaddset(&h->ctx.wait_mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &h->ctx.wait_mask, &h->ctx.saved_mask);

	pid = clone_init(sb, &h->procs_fd);
	if (pid == 0) {
		close(sv[0]);
		h->ctx.sock = sv[1];
		h->ctx.cgroup_procs_fd = h->procs_fd;
		ward_sandbox_child(&h->ctx);
	}
	close(sv[1]);
	if (pid < 0) {
		r = ward_err(err, -errno, "clone the sandbox");
		sigprocmask(SIG_SETMASK, &h->ctx.saved_mask, NULL);
		return r;
	}
	sb->init_pid = pid;
	/* init waits for GO: it forks nothing before it is in the v1 leaves */
	if (ward_cgroup_attach_v1(&sb->cgroup, pid, err) < 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		sigprocmask(SIG_SETMASK, &h->ctx.saved_mask, NULL);
		return -EIO;
	}
	return 0;
}

int ward_sandbox_run(const struct ward_sandbox_opts *opts, int *ret_status, struct ward_error *err)
{
	_cleanup_free_ struct ward_sandbox_host *h = calloc(1, sizeof(*h));
	struct sigaction sa = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO | SA_RESTART };
	struct sigaction old_sa[ARRAY_SIZE(ward_forwarded_signals)];
	int r;

	if (!h)
		return ward_err(err, -ENOMEM, "sandbox");
	r = launch(h, opts, false, err);
	if (r < 0)
		goto out;
	forward_to = h->sb.init_pid;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(ward_forwarded_signals); i++)
		sigaction(ward_forwarded_signals[i], &sa, &old_sa[i]);
	sigprocmask(SIG_SETMASK, &h->ctx.saved_mask, NULL);

	r = supervise(&h->sb, &h->ctx, h->sock, ret_status, err);

	forward_to = 0;
	for (size_t i = 0; i < ARRAY_SIZE(ward_forwarded_signals); i++)
		sigaction(ward_forwarded_signals[i], &old_sa[i], NULL);
out:
	host_cleanup(h);
	return r;
}

/* --- a sandbox that hosts sessions */

static void reap_init(struct ward_sandbox *sb)
{
	kill(sb->init_pid, SIGKILL);
	while (waitpid(sb->init_pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int ward_sandbox_start(const struct ward_sandbox_opts *opts, struct ward_sandbox **ret,
		       struct ward_error *err)
{
	struct ward_sandbox_host *h = calloc(1, sizeof(*h));
	struct limit_rows *lim = calloc(1, sizeof(*lim));
	struct run_state st = { 0 };
	struct ward_sandbox *sb;
	char reason[1536];
	struct ward_msg m;
	bool serving = false;
	pid_t pid;
	int r;

	if (!h || !lim) {
		free(h);
		free(lim);
		return ward_err(err, -ENOMEM, "sandbox");
	}
	sb = &h->sb;
	r = launch(h, opts, true, err);
	if (r < 0)
		goto fail;
	/* no signal forwarding here: init has no command to forward them to */
	sigprocmask(SIG_SETMASK, &h->ctx.saved_mask, NULL);
	st.env = &h->env;
	if (!begin(sb, &st, h->ctx.workdir, h->sock, err) || st.failed) {
		if (!st.failed)
			ward_errx(err, -EIO, "sandbox init ended before it was ready");
		r = err->code < 0 ? err->code : -EIO;
		reap_init(sb);
		goto fail;
	}
	while (!serving && (r = msg_recv(h->sock, &m, &pid)) > 0) {
		if (m.kind == WARD_MSG_SERVING)
			serving = true;
		else
			handle(sb, &st, &m, pid, h->ctx.workdir, err);
	}
	if (!serving) {
		if (!st.failed)
			ward_errx(err, -EIO, "sandbox init ended before it served sessions");
		r = err->code < 0 ? err->code : -EIO;
		lifecycle(sb, "deny", "setup", NULL, sb->init_pid, err->msg);
		reap_init(sb);
		goto fail;
	}
	h->init_pidfd = (int)syscall(SYS_pidfd_open, sb->init_pid, 0);
	if (h->init_pidfd < 0) {
		r = ward_err(err, -errno, "pidfd_open");
		reap_init(sb);
		goto fail;
	}
	start_reason(sb, &h->env, reason, sizeof(reason));
	lifecycle(sb, "allow", "start", NULL, sb->init_pid, reason);
	*lim = (struct limit_rows){ .sb = sb, .pid = sb->init_pid };
	h->limits = lim;
	ward_cgroup_watch_start(&sb->cgroup, limit_row, lim, &h->watch);
	*ret = sb;
	return 0;

fail:
	host_cleanup(h);
	free(h);
	free(lim);
	return r < 0 ? r : -EIO;
}

void ward_sandbox_stop(struct ward_sandbox *sb)
{
	struct ward_sandbox_host *h = (struct ward_sandbox_host *)sb;

	if (!sb)
		return;
	reap_init(sb);
	if (h->watch)
		ward_cgroup_watch_stop(h->watch);
	lifecycle(sb, "allow", "exit", NULL, sb->init_pid, "stopped");
	host_cleanup(h);
	free(h->limits);
	free(h);
}
