// SPDX-License-Identifier: MIT
/* ward daemon: its life (lock, crash cleanup, socket, run.json) and the one
 * poll loop that serves connections, sessions and idle timeouts. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "policy/secrets.h"
#include "runtime/daemon_internal.h"
#include "runtime/host.h"

const char *ward_daemon_socket_path(const char *opt)
{
	const char *env;

	if (opt && *opt)
		return opt;
	env = secure_getenv("WARD_SOCKET");
	return env && *env ? env : WARD_DAEMON_DEFAULT_SOCKET;
}

void daemon_note(struct ward_daemon *d, bool warning, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!d->cfg.note)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->cfg.note(d->cfg.note_data, warning, msg);
}

void daemon_row(struct ward_daemon *d, const struct dconn *c, const char *action, const char *verb,
		const char *sandbox, const char *detail, const char *rev)
{
	daemon_row_session(d, c, action, verb, sandbox, detail, rev, NULL);
}

void daemon_row_session(struct ward_daemon *d, const struct dconn *c, const char *action,
			const char *verb, const char *sandbox, const char *detail, const char *rev,
			const char *session)
{
	char reason[1024];
	struct ward_decision row = {
		.sandbox = sandbox,
		.layer = "control",
		.action = action,
		.rule = verb,
		.reason = reason,
		.policy_rev = rev && *rev ? rev : NULL,
		.session = session,
	};

	if (c)
		snprintf(reason, sizeof(reason), "uid=%u pid=%d%s%s", (unsigned)c->uid, (int)c->pid,
			 detail ? "; " : "", detail ? detail : "");
	else
		snprintf(reason, sizeof(reason), "daemon pid=%d%s%s", (int)getpid(),
			 detail ? "; " : "", detail ? detail : "");
	if (d->audit)
		ward_audit_submit(d->audit, &row);
}

int daemon_write_run(struct ward_daemon *d)
{
	_cleanup_free_ char *text = NULL;
	json_t *o = json_object(), *ids = json_array();
	struct ward_error err = { 0 };
	int r;

	if (!o || !ids) {
		json_decref(o);
		json_decref(ids);
		return -ENOMEM;
	}
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set_new(o, "socket", json_string(d->socket_path));
	for (struct dsandbox *sb = d->sandboxes; sb; sb = sb->next)
		if (sb->rt && sb->id[0])
			json_array_append_new(ids, json_string(sb->id));
	json_object_set_new(o, "sandboxes", ids);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!text)
		return -ENOMEM;
	r = write_atomic(d->state_fd, "run.json", text, strlen(text), 0600, &err);
	if (r < 0)
		daemon_note(d, true, "run.json: %s", err.msg);
	return r;
}

static gid_t group_id(const char *name)
{
	struct group gr, *res = NULL;
	char buf[4096];

	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return (gid_t)-1;
	return res->gr_gid;
}

static int mkdir_parents(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Another daemon answering on path: refuse rather than steal its socket. */
static bool socket_live(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		return false;
	strcpy(sa.sun_path, path);
	return connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
}

static int listen_on(struct ward_daemon *d, struct ward_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_free_ char *dir = strdup(d->socket_path);
	char *slash;
	int fd, r;

	if (!dir)
		return ward_err(err, -ENOMEM, "socket");
	if (strlen(d->socket_path) >= sizeof(sa.sun_path))
		return ward_errx(err, -ENAMETOOLONG, "socket path %s is too long", d->socket_path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		r = mkdir_parents(dir, 0755);
		if (r < 0)
			return ward_err(err, r, "mkdir '%s'", dir);
	}
	if (socket_live(d->socket_path))
		return ward_errx(err, -EADDRINUSE,
				 "another ward daemon answers on %s: not starting a second one",
				 d->socket_path);
	strcpy(sa.sun_path, d->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return ward_err(err, -errno, "socket");
	/* a dead daemon's socket file: nobody answers on it; anything else that
	 * is there is not ours to remove */
	struct stat st;

	if (lstat(d->socket_path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		close(fd);
		return ward_errx(err, -EEXIST, "%s exists and is not a socket", d->socket_path);
	}
	if (unlink(d->socket_path) < 0 && errno != ENOENT) {
		r = ward_err(err, -errno, "unlink '%s'", d->socket_path);
		close(fd);
		return r;
	}
	/* created 0600, opened once it has its owner */
	mode_t old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 64) < 0) {
		r = ward_err(err, -errno, "bind/listen on %s", d->socket_path);
		close(fd);
		return r;
	}
	if (d->gid_manage != (gid_t)-1 && chown(d->socket_path, 0, d->gid_manage) < 0) {
		r = ward_err(err, -errno, "chown '%s'", d->socket_path);
		close(fd);
		return r;
	}
	/* Everyone may connect; SO_PEERCRED decides (conn_accept): ward-audit
	 * members outside group ward must reach it too, and a refusal is then
	 * an answer and a row instead of a silent EACCES (docs/daemon.md). */
	if (chmod(d->socket_path, 0666) < 0) {
		r = ward_err(err, -errno, "chmod '%s'", d->socket_path);
		close(fd);
		return r;
	}
	d->listen_fd = fd;
	return 0;
}

static int open_lock(struct ward_daemon *d, struct ward_error *err)
{
	int fd =
		openat(d->state_fd, "daemon.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return ward_err(err, -errno, "open %s/daemon.lock", d->state_dir);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		_cleanup_free_ char *run = NULL;
		char path[PATH_MAX];
		long pid = 0;

		close(fd);
		if (e != EWOULDBLOCK)
			return ward_err(err, -e, "lock %s/daemon.lock", d->state_dir);
		snprintf(path, sizeof(path), "%s/run.json", d->state_dir);
		if (ward_read_file(path, 4096, &run, NULL) >= 0) {
			json_t *o = json_loads(run, 0, NULL);

			pid = (long)json_integer_value(json_object_get(o, "pid"));
			json_decref(o);
		}
		if (pid > 0)
			return ward_errx(err, -EBUSY,
					 "another ward daemon (pid %ld) uses the state directory %s",
					 pid, d->state_dir);
		return ward_errx(err, -EBUSY, "another ward daemon uses the state directory %s",
				 d->state_dir);
	}
	d->lock_fd = fd;
	return 0;
}

int ward_daemon_new(const struct ward_daemon_config *cfg, struct ward_daemon **ret,
		    struct ward_error *err)
{
	struct ward_daemon *d = calloc(1, sizeof(*d));
	const char *log;
	int r;

	if (!d)
		return ward_err(err, -ENOMEM, "daemon");
	d->cfg = *cfg;
	d->state_fd = d->lock_fd = d->listen_fd = d->signal_fd = -1;
	log = cfg->log_path ? cfg->log_path : ward_audit_default_path();
	d->socket_path = strdup(ward_daemon_socket_path(cfg->socket_path));
	d->state_dir = strdup(cfg->state_dir ? cfg->state_dir : WARD_DAEMON_DEFAULT_STATE);
	d->log_path = strdup(log);
	d->pin_dir = strdup(ward_host_pin_dir(cfg->pin_dir));
	if (!d->socket_path || !d->state_dir || !d->log_path || !d->pin_dir) {
		r = ward_err(err, -ENOMEM, "daemon");
		goto fail;
	}
	/* before any thread exists (the log's writer, the layers'): they inherit
	 * the mask, so SIGTERM reaches only the signalfd */
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0) {
		r = ward_errx(err, -EINVAL, "block SIGTERM");
		goto fail;
	}
	d->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->signal_fd < 0) {
		r = ward_err(err, -errno, "signalfd");
		goto fail;
	}
	d->gid_manage = group_id("ward");
	d->gid_read = group_id("ward-audit");

	r = mkdir_parents(d->state_dir, 0700);
	if (r < 0) {
		r = ward_err(err, r, "state directory %s", d->state_dir);
		goto fail;
	}
	{
		char *real = realpath(d->state_dir, NULL);

		if (!real) {
			r = ward_err(err, -errno, "state directory %s", d->state_dir);
			goto fail;
		}
		free(d->state_dir);
		d->state_dir = real;
	}
	/* the layers' own secret stores (credentials with secret: NAME) open
	 * $WARD_STATE/secrets: the daemon's; set before any thread exists */
	if (setenv("WARD_STATE", d->state_dir, 1) < 0) {
		r = ward_err(err, -errno, "setenv WARD_STATE");
		goto fail;
	}
	d->state_fd = open(d->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->state_fd < 0) {
		r = ward_err(err, -errno, "state directory %s", d->state_dir);
		goto fail;
	}
	r = state_init(d, err);
	if (r < 0)
		goto fail;
	r = open_lock(d, err);
	if (r < 0)
		goto fail;
	/* we hold the lock: a run.json left is a daemon that died (kill -9) */
	state_cleanup_crash(d);

	r = ward_audit_open(d->log_path, &d->audit, err);
	if (r < 0) {
		ward_err_prefix(err, "decision log %s", d->log_path);
		goto fail;
	}
	state_end_crashed_sessions(d);
	r = listen_on(d, err);
	if (r < 0)
		goto fail;
	r = state_load_all(d, err);
	if (r < 0)
		goto fail;
	r = bundle_init(d, err);
	if (r < 0)
		goto fail;
	r = daemon_write_run(d);
	if (r < 0) {
		r = ward_err(err, r, "write %s/run.json", d->state_dir);
		goto fail;
	}
	*ret = d;
	return 0;
fail:
	ward_daemon_free(d);
	return r;
}

/* Sandboxes that were running when the daemon last stopped come back. */
static void restore(struct ward_daemon *d)
{
	for (struct dsandbox *sb = d->sandboxes; sb; sb = sb->next) {
		struct ward_error err = { 0 };

		if (!sb->want_running)
			continue;
		if (sandbox_start(d, sb, &err) < 0) {
			daemon_note(d, true, "sandbox %s did not come back: %s", sb->name, err.msg);
			daemon_row(d, NULL, "deny", "sandbox.start", sb->name, err.msg, sb->rev);
		} else {
			daemon_note(d, false, "sandbox %s is back (id %s)", sb->name, sb->id);
			daemon_row(d, NULL, "allow", "sandbox.start", sb->name,
				   "restored at daemon start", sb->rev);
		}
	}
	daemon_write_run(d);
}

static int min_timeout(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

int ward_daemon_run(struct ward_daemon *d, struct ward_error *err)
{
	signal(SIGPIPE, SIG_IGN);
	host_restore(d); /* before the sandboxes: their ceiling is the host policy */
	restore(d);
	bundle_scan(d); /* after both: a bundle applies through them */
	daemon_note(d, false, "listening on %s (state %s, log %s)", d->socket_path, d->state_dir,
		    d->log_path);

	while (!d->stop) {
		size_t cap = 3 + d->n_conns, n = 0;
		struct dsession *s;

		for (s = d->sessions; s; s = s->next)
			cap += s->s ? 1 : 0;

		struct pollfd pfd[cap];
		void *obj[cap];
		int kind[cap]; /* 0 signal, 1 listen, 2 conn, 3 session, 4 bundles */
		int timeout;

		pfd[n] = (struct pollfd){ .fd = d->signal_fd, .events = POLLIN };
		kind[n] = 0;
		obj[n++] = NULL;
		if (d->n_conns < DAEMON_MAX_CONNS) {
			pfd[n] = (struct pollfd){ .fd = d->listen_fd, .events = POLLIN };
			kind[n] = 1;
			obj[n++] = NULL;
		}
		if (bundle_fd(d) >= 0) {
			pfd[n] = (struct pollfd){ .fd = bundle_fd(d), .events = POLLIN };
			kind[n] = 4;
			obj[n++] = NULL;
		}
		for (struct dconn *c = d->conns; c; c = c->next) {
			pfd[n] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
			kind[n] = 2;
			obj[n++] = c;
		}
		for (s = d->sessions; s; s = s->next) {
			if (!s->s)
				continue;
			pfd[n] = (struct pollfd){ .fd = ward_session_fd(s->s), .events = POLLIN };
			kind[n] = 3;
			obj[n++] = s;
		}
		timeout = min_timeout(sessions_tick(d), sandbox_idle_tick(d));
		if (poll(pfd, n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			return ward_err(err, -errno, "poll");
		}
		for (size_t i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			switch (kind[i]) {
			case 0: {
				struct signalfd_siginfo si;

				while (read(d->signal_fd, &si, sizeof(si)) == sizeof(si)) {
					daemon_note(d, false, "signal %u: stopping", si.ssi_signo);
					d->stop = true;
				}
				break;
			}
			case 1:
				conn_accept(d);
				break;
			case 2:
				conn_readable(d, obj[i]);
				break;
			case 3:
				session_ended(d, obj[i]);
				break;
			case 4:
				bundle_readable(d);
				break;
			default:
				break;
			}
		}
		/* free what this turn closed (nothing above keeps a pointer across turns) */
		for (struct dconn **pc = &d->conns; *pc;) {
			struct dconn *c = *pc;

			if (!c->dead) {
				pc = &c->next;
				continue;
			}
			*pc = c->next;
			d->n_conns--;
			conn_free(d, c);
		}
		sessions_trim(d);
	}
	return 0;
}

void ward_daemon_free(struct ward_daemon *d)
{
	if (!d)
		return;
	/* sandboxes first: their sessions end (137) and each client gets its
	 * exit event; a connection freed first would hang its session up */
	for (struct dsandbox *sb = d->sandboxes; sb; sb = sb->next)
		if (sb->rt)
			sandbox_stop(d, sb);
	while (d->conns) {
		struct dconn *c = d->conns;

		d->conns = c->next;
		conn_free(d, c);
	}
	while (d->sandboxes) {
		struct dsandbox *sb = d->sandboxes;

		d->sandboxes = sb->next;
		sandbox_free(sb);
	}
	host_release(d); /* the pinned programs stay: fail closed until the next start */
	bundle_free(d);
	while (d->sessions) {
		struct dsession *s = d->sessions;

		d->sessions = s->next;
		free(s->command);
		free(s);
	}
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		unlink(d->socket_path);
	}
	/* a clean stop: nothing for the next start to clean */
	if (d->lock_fd >= 0 && d->state_fd >= 0)
		unlinkat(d->state_fd, "run.json", 0);
	ward_audit_close(d->audit);
	json_decref(d->crashed);
	ward_secrets_unref(d->secrets);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	if (d->state_fd >= 0)
		close(d->state_fd);
	free(d->socket_path);
	free(d->state_dir);
	free(d->log_path);
	free(d->pin_dir);
	free(d);
}
