// SPDX-License-Identifier: MIT
/* Inside the sandbox: init (pid 1) and the command before its execve. ward
 * may be multi-threaded (the audit writer) and the child comes from a raw
 * clone3, so nothing here allocates or takes libc locks: the plan, the
 * Landlock rules and the seccomp program were all prepared by the parent. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <net/if.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "enforcer/sandbox_internal.h"
#include "enforcer/unix_broker.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* The command's environment (sandbox_env.h): what hooks set (WARD_MSG_ENV)
 * over what passes from ward's, under the policy's environment.set. Static:
 * init must not allocate. */
static char env_extra[WARD_ENV_EXTRA_MAX][WARD_ENV_ENTRY_MAX];
static char *env_extra_ptr[WARD_ENV_EXTRA_MAX];
static size_t n_env_extra;
static char *command_env[2 * WARD_ENV_MAX + WARD_ENV_EXTRA_MAX + 1];

static char **build_env(const struct ward_child_ctx *c)
{
	for (size_t i = 0; i < n_env_extra; i++)
		env_extra_ptr[i] = env_extra[i];
	ward_sandbox_env_build(c->env, env_extra_ptr, n_env_extra, command_env,
			       ARRAY_SIZE(command_env));
	return command_env;
}

/* The command's PATH, for resolve(): not ward's own. */
static const char *command_path(void)
{
	for (char **e = command_env; *e; e++)
		if (!strncmp(*e, "PATH=", 5))
			return *e + 5;
	return NULL;
}

/* Every TCP connection the sandbox makes goes to one address and port, the
 * proxy's (explicit, or redirected by connect4 before a source port is
 * picked), so all of them share one ephemeral port range, and a client
 * closing first leaves TIME_WAIT behind: past ~28,000 in a minute connect()
 * fails (docs/proxy.md, "Limits"). Reusing TIME_WAIT ports for new outgoing
 * connections (timestamps keep it safe) lifts that; the sysctl is per netns,
 * this netns is the sandbox's own. Best effort: a /proc/sys mounted
 * read-only (ward in a container) leaves the kernel's default, no less safe. */
static void tcp_tw_reuse(void)
{
	_cleanup_close_ int fd = open("/proc/sys/net/ipv4/tcp_tw_reuse", O_WRONLY | O_CLOEXEC);

	if (fd >= 0)
		(void)!write(fd, "1", 1);
}

_Noreturn static void fail(const struct ward_child_ctx *c, const struct ward_error *err)
{
	ward_msg_send(c->sock, WARD_MSG_FAIL, err->code, err->msg);
	_exit(WARD_EXIT_SETUP);
}

static int loopback_up(struct ward_error *err)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return ward_err(err, -errno, "loopback: socket");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return ward_err(err, -errno, "loopback: get flags");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return ward_err(err, -errno, "loopback: up");
	return 0;
}

static int drop_privileges(uid_t uid, gid_t gid, struct ward_error *err)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { { 0 } };
	const struct rlimit no_core = { 0, 0 };
	struct rlimit nofile;

	/* The bounding set needs CAP_SETPCAP: drop it while still root. */
	for (int cap = 0; cap < 64; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return ward_err(err, -errno, "drop capability %d from the bounding set",
					cap);
	/* Raw syscalls: glibc's wrappers would signal and wait for the threads
	 * ward had (the audit writer) and that do not exist in this process. */
	if (syscall(SYS_setgroups, 1, &gid) < 0)
		return ward_err(err, -errno, "setgroups(%u)", (unsigned)gid);
	if (syscall(SYS_setresgid, gid, gid, gid) < 0)
		return ward_err(err, -errno, "setgid(%u)", (unsigned)gid);
	if (syscall(SYS_setresuid, uid, uid, uid) < 0)
		return ward_err(err, -errno, "setuid(%u)", (unsigned)uid);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return ward_err(err, -errno, "clear ambient capabilities");
	/* setuid cleared effective and permitted; inheritable survives it. */
	if (syscall(SYS_capset, &hdr, data) < 0)
		return ward_err(err, -errno, "capset");
	/* Soft and hard: the command cannot raise it again. */
	if (setrlimit(RLIMIT_CORE, &no_core) < 0)
		return ward_err(err, -errno, "RLIMIT_CORE");
	/* Enough fds for an agent's connections (one each), not the host's
	 * whole hard limit: some programs close every possible fd at start. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
		nofile.rlim_cur = nofile.rlim_max < 65536 ? nofile.rlim_max : 65536;
		if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
			return ward_err(err, -errno, "RLIMIT_NOFILE");
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return ward_err(err, -errno, "PR_SET_NO_NEW_PRIVS");
	return 0;
}

/* execvp's search, done here so the start row can name the file. 0 and the
 * path, or 127 when nothing matches. */
static int resolve(const char *name, const char *path, char *out, size_t len)
{
	const char *p, *end;
	bool found = false;
	struct stat st;

	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		return 0;
	}
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;; p = end + 1) {
		char cand[PATH_MAX];

		end = strchrnul(p, ':');
		if ((size_t)snprintf(cand, sizeof(cand), "%.*s/%s", (int)(end - p),
				     end == p ? "." : p, name) < sizeof(cand) &&
		    stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
			/* The first executable match wins; a non-executable one is kept
			 * so that execve reports EACCES (126), as execvp would. */
			if (access(cand, X_OK) == 0) {
				snprintf(out, len, "%s", cand);
				return 0;
			}
			if (!found) {
				snprintf(out, len, "%s", cand);
				found = true;
			}
		}
		if (!*end)
			break;
	}
	return found ? 0 : WARD_EXIT_NOTFOUND;
}

_Noreturn static void run_command(const struct ward_child_ctx *c)
{
	const struct ward_sandbox_opts *o = c->sb->opts;
	struct ward_error err = { 0 };
	char path[PATH_MAX], msg[PATH_MAX + 64];
	int llfd = -1, r;

	if (sigprocmask(SIG_SETMASK, &c->saved_mask, NULL) < 0) {
		ward_err(&err, -errno, "sigprocmask");
		fail(c, &err);
	}
	if (chdir(c->workdir) < 0) {
		ward_err(&err, -errno, "chdir '%s'", c->workdir);
		fail(c, &err);
	}
	/* Rule paths are opened as root, before the credentials change. */
	r = ward_landlock_build(c->ll, c->plan->rules, c->plan->n_rules, o->tcp_connect_ports,
				o->n_tcp_connect_ports, &llfd, &err);
	if (r >= 0)
		r = drop_privileges(c->sb->uid, c->sb->gid, &err);
	if (r >= 0)
		r = ward_landlock_restrict(c->ll, llfd, &err);
	if (r < 0)
		fail(c, &err);
	if (llfd >= 0)
		close(llfd);

	build_env(c);
	r = resolve(o->argv[0], command_path(), path, sizeof(path));
	if (r) {
		snprintf(msg, sizeof(msg), "%s: command not found", o->argv[0]);
		ward_msg_send(c->sock, WARD_MSG_EXEC_FAIL, r, msg);
		_exit(r);
	}
	/* Last, just before exec: from here on the mount family etc. is EPERM. */
	if (ward_seccomp_apply(c->seccomp, &err) < 0)
		fail(c, &err);
	ward_msg_send(c->sock, WARD_MSG_RESOLVED, c->ll->abi, path);
	/* Nothing of ward's but stdin, stdout and stderr reaches the command. */
	syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
	execve(path, o->argv, command_env);
	r = errno == ENOENT ? WARD_EXIT_NOTFOUND : WARD_EXIT_NOEXEC;
	snprintf(msg, sizeof(msg), "%s: %s", path, strerror(errno));
	ward_msg_send(c->sock, WARD_MSG_EXEC_FAIL, r, msg);
	_exit(r);
}

/* init's end of a pipe the command reads before anything else: it is
 * O_CLOEXEC, so EOF means init has become ward-init and pid 1 no longer
 * holds ward's memory, arguments or environment (or the sandbox is gone). */
static int init_exec_sync[2] = { -1, -1 };

static void wait_init_exec(void)
{
	char b;

	close(init_exec_sync[1]);
	while (read(init_exec_sync[0], &b, 1) < 0 && errno == EINTR)
		;
	close(init_exec_sync[0]);
}

/* Above 9 while moving: dup2 onto 3 or 4 closes whatever was there. */
static int park(int fd)
{
	return fcntl(fd, F_DUPFD_CLOEXEC, 10);
}

/* init, once the command is forked: become ward-init (init/ward_init.c) with
 * the socket at fd 3 and the command's pid in a pipe at fd 4; nothing else of
 * ward's stays open. Failing is a setup failure: the command is killed.
 * cmd 0: no command, ward-init serves sessions (argv[1] "serve", no fd 4). */
_Noreturn static void exec_init(const struct ward_child_ctx *c, pid_t cmd)
{
	static char *const run_argv[] = { (char *)"ward-init", NULL };
	static char *const serve_argv[] = { (char *)"ward-init", (char *)"serve", NULL };
	char *const *argv = cmd ? run_argv : serve_argv;
	static char *const envp[] = { NULL };
	struct ward_error err = { 0 };
	int32_t v = (int32_t)cmd;
	int pp[2], sock, rd = -1, sync_w = -1, img = -1;

	sock = park(c->sock);
	if (sock < 0)
		sock = c->sock;
	if (!cmd) {
		img = park(c->init_fd);
		if (img < 0 || dup2(sock, 3) < 0) {
			ward_err(&err, -errno, "ward-init: descriptors");
			goto fail;
		}
		syscall(SYS_close_range, 4, ~0U, CLOSE_RANGE_CLOEXEC);
		syscall(SYS_execveat, img, "", argv, envp, AT_EMPTY_PATH);
		ward_err(&err, -errno, "execute ward-init");
		goto fail;
	}
	if (pipe2(pp, O_CLOEXEC) < 0 || write(pp[1], &v, sizeof(v)) != (ssize_t)sizeof(v)) {
		ward_err(&err, -errno, "ward-init: pipe");
		goto fail;
	}
	rd = park(pp[0]);
	sync_w = park(init_exec_sync[1]);
	img = park(c->init_fd);
	if (rd < 0 || sync_w < 0 || img < 0 || dup2(sock, 3) < 0 || dup2(rd, 4) < 0) {
		ward_err(&err, -errno, "ward-init: descriptors");
		goto fail;
	}
	syscall(SYS_close_range, 5, ~0U, CLOSE_RANGE_CLOEXEC);
	syscall(SYS_execveat, img, "", argv, envp, AT_EMPTY_PATH);
	ward_err(&err, -errno, "execute ward-init");
fail:
	if (cmd)
		kill(cmd, SIGKILL);
	ward_msg_send(sock, WARD_MSG_FAIL, err.code, err.msg);
	_exit(WARD_EXIT_SETUP);
}

_Noreturn void ward_sandbox_child(const struct ward_child_ctx *c)
{
	struct ward_error err = { 0 };
	char host[64];
	struct ward_msg m;
	int listener = -1;
	ssize_t n;
	pid_t cmd;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
		ward_err(&err, -errno, "PR_SET_PDEATHSIG");
		fail(c, &err);
	}
	if (c->cgroup_procs_fd >= 0 && write(c->cgroup_procs_fd, "0", 1) < 0) {
		ward_err(&err, -errno, "join the sandbox cgroup");
		fail(c, &err);
	}
	snprintf(host, sizeof(host), "ward-%s", c->sb->id);
	if (sethostname(host, strlen(host)) < 0) {
		ward_err(&err, -errno, "sethostname");
		fail(c, &err);
	}
	if (loopback_up(&err) < 0)
		fail(c, &err);
	tcp_tw_reuse(); /* before the mount plan hides the host's /proc */
	if (ward_mount_apply(c->plan, &err) < 0)
		fail(c, &err);
	/* Here, so the command and all it forks inherit it; ward takes the
	 * listener (pidfd_getfd) in its unix hook, and init drops its own copy
	 * before the command exists. */
	if (c->sb->opts->unix_broker) {
		listener = ward_unix_filter_install();
		if (listener < 0) {
			ward_err(&err, listener, "seccomp filter for connect()");
			fail(c, &err);
		}
	}
	ward_msg_send(c->sock, WARD_MSG_READY, listener, NULL);

	/* ENV entries, then GO. EOF instead: ward died before PDEATHSIG was
	 * armed, or gave up. */
	for (;;) {
		do
			n = recv(c->sock, &m, sizeof(m), 0);
		while (n < 0 && errno == EINTR);
		if (n < (ssize_t)sizeof(uint32_t) * 2)
			_exit(WARD_EXIT_SETUP);
		if (m.kind == WARD_MSG_GO)
			break;
		if (m.kind != WARD_MSG_ENV || n_env_extra >= WARD_ENV_EXTRA_MAX)
			_exit(WARD_EXIT_SETUP);
		m.text[sizeof(m.text) - 1] = '\0';
		memcpy(env_extra[n_env_extra++], m.text, strlen(m.text) + 1);
	}
	if (listener >= 0)
		close(listener);
	if (c->serve)
		exec_init(c, 0);

	if (pipe2(init_exec_sync, O_CLOEXEC) < 0) {
		ward_err(&err, -errno, "pipe");
		fail(c, &err);
	}
	/* A raw clone: glibc's fork() would run atfork handlers on locks this
	 * process may have inherited held. */
	cmd = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, 0);
	if (cmd < 0) {
		ward_err(&err, -errno, "fork the command");
		fail(c, &err);
	}
	if (cmd == 0) {
		wait_init_exec();
		run_command(c);
	}
	close(init_exec_sync[0]);
	exec_init(c, cmd);
}

/* --- a session (ward_sandbox_exec) */

_Noreturn static void session_fail(const struct ward_session_ctx *c, const struct ward_error *err)
{
	ward_msg_send(c->sock, WARD_MSG_FAIL, err->code, err->msg);
	_exit(WARD_EXIT_SETUP);
}

/* The command, pid N of the sandbox's namespace, in the session's cgroup. */
_Noreturn static void session_command(const struct ward_session_ctx *c)
{
	struct ward_error err = { 0 };
	char path[PATH_MAX], msg[PATH_MAX + 64];
	int llfd = -1, fds[3], r;
	size_t n = 0;
	sigset_t none;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
		ward_err(&err, -errno, "PR_SET_PDEATHSIG");
		session_fail(c, &err);
	}
	/* nothing of the caller's dispositions or mask (a daemon ignores SIGPIPE) */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int i = 0; i < 3; i++) {
		fds[i] = park(c->stdio[i]);
		if (fds[i] < 0) {
			ward_err(&err, -errno, "stdio %d", i);
			session_fail(c, &err);
		}
	}
	for (int i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0) {
			ward_err(&err, -errno, "stdio %d", i);
			session_fail(c, &err);
		}
	/* a session of its own, not ward's: no signal of ward's terminal reaches
	 * it; a terminal on stdin becomes its controlling terminal (best effort:
	 * it may be another session's already) */
	if (setsid() < 0) {
		ward_err(&err, -errno, "setsid");
		session_fail(c, &err);
	}
	if (isatty(0))
		(void)ioctl(0, TIOCSCTTY, 0);
	if (chdir(c->cwd) < 0) {
		ward_err(&err, -errno, "chdir '%s'", c->cwd);
		session_fail(c, &err);
	}
	/* the unix broker's filter, as root (as init does for ward run); ward
	 * takes the listener (pidfd_getfd) before GO, this copy then goes */
	if (c->unix_broker) {
		struct ward_msg m;
		ssize_t got;
		int listener = ward_unix_filter_install();

		if (listener < 0) {
			ward_err(&err, listener, "seccomp filter for connect()");
			session_fail(c, &err);
		}
		ward_msg_send(c->sock, WARD_MSG_READY, listener, NULL);
		do
			got = recv(c->sock, &m, sizeof(m), 0);
		while (got < 0 && errno == EINTR);
		if (got < (ssize_t)sizeof(uint32_t) * 2 || m.kind != WARD_MSG_GO)
			_exit(WARD_EXIT_SETUP);
		close(listener);
	}
	/* A later generation may name paths this sandbox's root does not show:
	 * nothing to grant there (the array is the intermediate's copy, not ward's). */
	for (size_t i = 0; i < c->n_rules; i++)
		if (access(c->rules[i].path, F_OK) == 0)
			c->rules[n++] = c->rules[i];
	r = ward_landlock_build(c->ll, c->rules, n, c->ports, c->n_ports, &llfd, &err);
	if (r >= 0)
		r = drop_privileges(c->uid, c->gid, &err);
	if (r >= 0)
		r = ward_landlock_restrict(c->ll, llfd, &err);
	if (r < 0)
		session_fail(c, &err);
	if (llfd >= 0)
		close(llfd);
	r = resolve(c->argv[0], c->path_env, path, sizeof(path));
	if (r) {
		snprintf(msg, sizeof(msg), "%s: command not found", c->argv[0]);
		ward_msg_send(c->sock, WARD_MSG_EXEC_FAIL, r, msg);
		_exit(r);
	}
	if (ward_seccomp_apply(c->seccomp, &err) < 0)
		session_fail(c, &err);
	ward_msg_send(c->sock, WARD_MSG_RESOLVED, c->ll->abi, path);
	syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
	execve(path, c->argv, c->envp);
	r = errno == ENOENT ? WARD_EXIT_NOTFOUND : WARD_EXIT_NOEXEC;
	snprintf(msg, sizeof(msg), "%s: %s", path, strerror(errno));
	ward_msg_send(c->sock, WARD_MSG_EXEC_FAIL, r, msg);
	_exit(r);
}

static void session_command_fn(void *c)
{
	session_command(c);
}

/* Close every descriptor but a and b. */
static void close_all_but(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;

	if (lo > 0)
		syscall(SYS_close_range, 0, lo - 1, 0);
	if (hi > lo + 1)
		syscall(SYS_close_range, lo + 1, hi - 1, 0);
	syscall(SYS_close_range, hi + 1, ~0U, 0);
}

_Noreturn void ward_session_child(const struct ward_session_ctx *c)
{
	struct clone_args args = {
		.flags = CLONE_INTO_CGROUP,
		.exit_signal = SIGCHLD,
		.cgroup = (uint64_t)c->cgroup_fd,
	};
	struct ward_error err = { 0 };
	struct ward_msg m;
	int status;
	ssize_t n;
	pid_t cmd;

	/* No PR_SET_PDEATHSIG here: it would follow the calling thread of ward,
	 * which may end before the session. Fail closed all the same: if ward
	 * dies, init dies (its PDEATHSIG follows the thread that started the
	 * sandbox), the kernel kills the pid namespace, the command with it, and
	 * this process, waiting for the command, ends then. */
	/* the v1 leaves first (the command inherits them): this process moves
	 * itself, single-threaded, which takes no global lock */
	for (int i = 0; i < WARD_CGROUP_N_CTL; i++)
		if (c->v1_tasks[i] >= 0 && write(c->v1_tasks[i], "0", 1) != 1) {
			ward_err(&err, -errno, "join the sandbox's v1 cgroup leaf");
			session_fail(c, &err);
		}
	/* One call, all or nothing (kernel >= 5.8): the pid namespace applies
	 * to the children, the others to this process now (root, cwd: the
	 * sandbox's). */
	if (setns(c->init_pidfd, CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
					 CLONE_NEWPID | CLONE_NEWCGROUP) < 0) {
		ward_err(&err, -errno, "join the sandbox (setns)");
		session_fail(c, &err);
	}
	if (c->mounts && ward_mount_delta_apply(c->mounts, &err) < 0)
		session_fail(c, &err);
	/* GO: ward has the pid and pidfd */
	do
		n = recv(c->sock, &m, sizeof(m), 0);
	while (n < 0 && errno == EINTR);
	if (n < (ssize_t)sizeof(uint32_t) * 2 || m.kind != WARD_MSG_GO)
		_exit(WARD_EXIT_SETUP);
	/* in this process's memory until it execs: nothing copied, and this
	 * process waits until then (ward does not need SESSION before it) */
	cmd = ward_clone_vm(&args, session_command_fn, (void *)c);
	if (cmd < 0) {
		ward_err(&err, -errno, "clone3 into the session's cgroup");
		session_fail(c, &err);
	}
	ward_msg_send(c->sock, WARD_MSG_SESSION, (int32_t)cmd, NULL);
	/* nothing of ward's (listening sockets, ...) stays open in here */
	close_all_but(c->sock, c->kill_fd);
	while (waitpid(cmd, &status, 0) < 0 && errno == EINTR)
		;
	/* what the command left behind (background children) goes with it */
	(void)!write(c->kill_fd, "1", 1);
	if (WIFEXITED(status))
		_exit(WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		_exit(128 + WTERMSIG(status));
	_exit(WARD_EXIT_SETUP);
}
