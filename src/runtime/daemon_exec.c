// SPDX-License-Identifier: MIT
/* Sessions: `exec` runs a command in a running sandbox with the client's
 * three fds; the exit event ends the connection. A client that goes away
 * first costs the session a SIGHUP, then a SIGKILL after 2 s. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "audit/sessions.h"
#include "common/util.h"
#include "runtime/daemon_internal.h"

static void drop_fds(struct dconn *c)
{
	for (size_t i = 0; i < c->n_fds; i++)
		close(c->fds[i]);
	c->n_fds = 0;
	c->fd_overflow = false;
}

static char *join_argv(char **argv)
{
	size_t len = 1;
	char *s, *p;

	for (size_t i = 0; argv[i]; i++)
		len += strlen(argv[i]) + 1;
	s = p = malloc(len);
	if (!s)
		return NULL;
	*p = '\0';
	for (size_t i = 0; argv[i]; i++)
		p += sprintf(p, "%s%s", i ? " " : "", argv[i]);
	return s;
}

/* a NULL-terminated copy of a JSON array of strings; NULL + *bad on a non-string */
static char **strv_of(json_t *a, bool *bad)
{
	size_t n = json_array_size(a), i;
	char **v = calloc(n + 1, sizeof(*v));
	json_t *e;

	if (!v)
		return NULL;
	json_array_foreach(a, i, e)
	{
		if (!json_is_string(e)) {
			*bad = true;
			free(v);
			return NULL;
		}
		v[i] = (char *)json_string_value(e); /* borrowed from the request */
	}
	return v;
}

void sessions_trim(struct ward_daemon *d)
{
	unsigned kept = 0;

	for (struct dsession **p = &d->sessions; *p;) {
		struct dsession *s = *p;

		if (!s->ended || ++kept <= DAEMON_HISTORY) {
			p = &s->next;
			continue;
		}
		*p = s->next;
		free(s->command);
		free(s);
	}
}

static void finish(struct ward_daemon *d, struct dsession *s, int status)
{
	s->status = status;
	s->ended = true;
	s->end_ns = ward_now_ns();
	/* the client first: freeing the session joins its broker thread, and
	 * nothing the client may ask next (one thread) sees the session as
	 * running; its exit row was written at reap */
	if (s->conn) {
		struct dconn *c = s->conn;

		conn_send(c, json_pack("{s:s,s:s,s:i}", "event", "exit", "session", s->id, "status",
				       status));
		c->session = NULL;
		c->dead = true;
		s->conn = NULL;
	}
	ward_session_free(s->s);
	s->s = NULL;
	if (s->tty_fd >= 0)
		close(s->tty_fd);
	s->tty_fd = -1;
	if (s->sb) {
		if (s->sb->n_sessions)
			s->sb->n_sessions--;
		s->sb->idle_mono = ward_mono_ns();
		s->sb = NULL;
	}
}

void session_ended(struct ward_daemon *d, struct dsession *s)
{
	int status = 0, r;

	if (!s->s)
		return;
	r = ward_session_reap(s->s, &status);
	if (r == -EAGAIN)
		return;
	if (r < 0) {
		daemon_note(d, true, "session %s: reap: %s", s->id, strerror(-r));
		status = WARD_EXIT_SETUP;
	}
	finish(d, s, status);
}

void sessions_reap_sandbox(struct ward_daemon *d, struct dsandbox *sb)
{
	for (struct dsession *s = d->sessions; s; s = s->next) {
		struct pollfd p;
		int status = 128 + SIGKILL;

		if (s->sb != sb || !s->s)
			continue;
		/* the runtime killed it: its fd turns readable shortly (bounded) */
		p = (struct pollfd){ .fd = ward_session_fd(s->s), .events = POLLIN };
		poll(&p, 1, 3000);
		if (ward_session_reap(s->s, &status) < 0)
			status = 128 + SIGKILL;
		finish(d, s, status);
	}
}

void session_orphan(struct ward_daemon *d, struct dsession *s)
{
	s->conn = NULL;
	if (!s->s)
		return;
	ward_session_signal(s->s, SIGHUP);
	s->kill_mono = ward_mono_ns() + (uint64_t)WARD_DAEMON_KILL_GRACE_MS * 1000000;
}

int sessions_tick(struct ward_daemon *d)
{
	uint64_t now = ward_mono_ns();
	int next = -1;

	for (struct dsession *s = d->sessions; s; s = s->next) {
		if (!s->s || !s->kill_mono)
			continue;
		if (now >= s->kill_mono) {
			ward_session_signal(s->s, SIGKILL);
			s->kill_mono = 0;
			continue;
		}
		int left = (int)((s->kill_mono - now + 999999) / 1000000);

		next = next < 0 || left < next ? left : next;
	}
	return next;
}

void session_control(struct ward_daemon *d, struct dconn *c, json_t *req, const char *verb)
{
	struct dsession *s = c->session;

	/* no reply either way (protocol): a late message after the exit is moot */
	if (!s || !s->s)
		return;
	if (!strcmp(verb, "signal")) {
		json_int_t sig = json_integer_value(json_object_get(req, "signo"));

		if (sig > 0 && sig < _NSIG)
			ward_session_signal(s->s, (int)sig);
		return;
	}
	json_int_t rows = json_integer_value(json_object_get(req, "rows"));
	json_int_t cols = json_integer_value(json_object_get(req, "cols"));

	if (s->tty_fd < 0 || rows <= 0 || cols <= 0 || rows > 65535 || cols > 65535)
		return;
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };

	ioctl(s->tty_fd, TIOCSWINSZ, &ws);
	/* the terminal's foreground group is the client's: tell the command itself */
	ward_session_signal(s->s, SIGWINCH);
}

void verb_exec(struct ward_daemon *d, struct dconn *c, json_t *req)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	struct dsandbox *sb = sandbox_find(d, name);
	json_t *jargv = json_object_get(req, "argv"), *jenv = json_object_get(req, "env");
	const char *cwd = json_string_value(json_object_get(req, "cwd"));
	bool tty = json_is_true(json_object_get(req, "tty")), bad = false;
	_cleanup_free_ char **argv = NULL, **env = NULL;
	struct ward_error err = { 0 };
	struct ward_session *ws = NULL;
	struct dsession *s;
	char detail[512];
	int r;

	if (!sb) {
		drop_fds(c);
		refuse(d, c, req, "exec", name, name ? ENOENT : EINVAL,
		       name ? "sandbox '%s' does not exist" : "\"name\" is required",
		       name ? name : "");
		return;
	}
	if (c->session) {
		drop_fds(c);
		refuse(d, c, req, "exec", name, EBUSY, "this connection already runs a session");
		return;
	}
	if (!json_is_array(jargv) || !json_array_size(jargv) || !(argv = strv_of(jargv, &bad)) ||
	    (jenv && !json_is_array(jenv)) || (jenv && !(env = strv_of(jenv, &bad))) ||
	    (cwd && cwd[0] != '/')) {
		drop_fds(c);
		refuse(d, c, req, "exec", name, EINVAL,
		       "exec needs \"argv\" (a non-empty array of strings), \"env\" an array of "
		       "strings, \"cwd\" an absolute path");
		return;
	}
	if (c->n_fds != 3 || c->fd_overflow) {
		drop_fds(c);
		refuse(d, c, req, "exec", name, EBADF,
		       "exec needs exactly 3 fds (stdin, stdout, stderr) sent with SCM_RIGHTS on "
		       "the request");
		return;
	}
	if (!sb->rt) {
		/* a stopped sandbox (idle timeout, stop) starts for the session */
		sb->want_running = true;
		state_save(d, sb, &err);
		if (sandbox_start(d, sb, &err) < 0) {
			drop_fds(c);
			refuse(d, c, req, "exec", name, -err.code ?: EIO, "start sandbox '%s': %s",
			       name, err.msg);
			return;
		}
		daemon_row(d, c, "allow", "sandbox.start", name, "for exec", sb->rev);
	}

	struct ward_session_spec spec = {
		.argv = argv,
		.env = env,
		.cwd = cwd,
		.stdio = { c->fds[0], c->fds[1], c->fds[2] },
	};

	r = ward_runtime_exec(sb->rt, &spec, &ws, &err);
	if (r < 0) {
		drop_fds(c);
		refuse(d, c, req, "exec", name, -r, "%s", err.msg);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		ward_session_free(ws);
		drop_fds(c);
		reply_err(c, req, ENOMEM, "out of memory");
		return;
	}
	snprintf(s->id, sizeof(s->id), "%s", ward_session_id(ws));
	snprintf(s->sandbox, sizeof(s->sandbox), "%s", sb->name);
	s->command = join_argv(argv);
	s->start_ns = ward_now_ns();
	s->s = ws;
	s->sb = sb;
	s->conn = c;
	s->tty_fd = -1;
	if (tty && isatty(c->fds[0]))
		s->tty_fd = TAKE_FD(c->fds[0]);
	drop_fds(c);
	sb->n_sessions++;
	c->session = s;
	s->next = d->sessions;
	d->sessions = s;
	snprintf(detail, sizeof(detail), "session %s: %.400s", s->id, s->command ? s->command : "");
	daemon_row_session(d, c, "allow", "exec", sb->name, detail, sb->rev, s->id);
	reply_ok(c, req,
		 json_pack("{s:s,s:I}", "session", s->id, "pid", (json_int_t)ward_session_pid(ws)));
}

static json_t *session_json(const struct dsession *s)
{
	uint64_t end = s->ended ? s->end_ns : ward_now_ns();
	json_t *o =
		json_pack("{s:s,s:s,s:s,s:I,s:I}", "id", s->id, "sandbox", s->sandbox, "command",
			  s->command ? s->command : "", "start_ns", (json_int_t)s->start_ns,
			  "duration_ms", (json_int_t)((end - s->start_ns) / 1000000));

	if (!o)
		return NULL;
	json_object_set_new(o, "end_ns",
			    s->ended ? json_integer((json_int_t)s->end_ns) : json_null());
	json_object_set_new(o, "status", s->ended ? json_integer(s->status) : json_null());
	/* not in the log yet: its rows are unknown, not 0 */
	json_object_set_new(o, "rows", json_null());
	json_object_set_new(o, "tokens_in", json_null());
	json_object_set_new(o, "tokens_out", json_null());
	json_object_set_new(o, "cost_usd", json_null());
	return o;
}

static struct dsession *known_session(struct ward_daemon *d, const char *id)
{
	for (struct dsession *s = d->sessions; s; s = s->next)
		if (id && !strcmp(s->id, id))
			return s;
	return NULL;
}

/* The log's summaries of sandbox (NULL: all) as a JSON array (sessions.h's
 * JSON); a missing log has none. */
static int log_sessions(struct ward_daemon *d, const char *sandbox, json_t **ret,
			struct ward_error *err)
{
	struct ward_session_summary *v = NULL;
	_cleanup_free_ char *buf = NULL;
	size_t n = 0, len = 0;
	FILE *f;
	int r;

	r = ward_audit_sessions(d->log_path, sandbox, &v, &n, err);
	if (r < 0 && r != -ENOENT)
		return r;
	f = open_memstream(&buf, &len);
	if (!f) {
		ward_audit_sessions_free(v, n);
		return ward_err(err, -ENOMEM, "out of memory");
	}
	ward_audit_sessions_json(f, v, n);
	fclose(f);
	ward_audit_sessions_free(v, n);
	*ret = json_loads(buf, 0, NULL);
	if (!json_is_array(*ret)) {
		json_decref(*ret);
		*ret = json_array();
	}
	return 0;
}

/* The log groups rows by (sandbox, session), and the exec control row names
 * the sandbox by NAME while the session's own rows carry its id: two
 * summaries of one session, the NAME one with the control row only and no end
 * (running forever). Session ids are unique, so every later summary of an id
 * is folded into its first: row counts added, and start, end, status, command
 * and tokens taken from the one that has the lifecycle rows (the id one). */
static void fold_sessions(json_t *a)
{
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *e = json_array_get(a, i);
		const char *id = json_string_value(json_object_get(e, "id"));

		for (size_t j = i + 1; id && j < json_array_size(a);) {
			json_t *o = json_array_get(a, j), *keep = e, *drop = o, *rows, *l;
			const char *layer;

			if (strcmp(json_string_value(json_object_get(o, "id")) ?: "", id)) {
				j++;
				continue;
			}
			/* the one with the lifecycle rows is the session's own */
			if (!json_object_get(json_object_get(e, "rows"), "lifecycle") &&
			    json_object_get(json_object_get(o, "rows"), "lifecycle")) {
				keep = o;
				drop = e;
			}
			rows = json_object_get(keep, "rows");
			json_object_foreach(json_object_get(drop, "rows"), layer, l)
			{
				json_t *k = json_object_get(rows, layer);
				const char *act;
				json_t *nv;

				if (!k) {
					json_object_set(rows, layer, l);
					continue;
				}
				json_object_foreach(l, act, nv)
				{
					json_int_t sum = json_integer_value(json_object_get(k, act)) +
							 json_integer_value(nv);

					json_object_set_new(k, act, json_integer(sum));
				}
			}
			if (keep != e) {
				json_array_set(a, i, keep); /* drops e, and id with it */
				e = keep;
				id = json_string_value(json_object_get(e, "id"));
			}
			json_array_remove(a, j);
		}
	}
}

static int cmp_start(const void *x, const void *y)
{
	json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
	json_int_t sa = json_integer_value(json_object_get(a, "start_ns"));
	json_int_t sb = json_integer_value(json_object_get(b, "start_ns"));

	if (sa != sb)
		return sa < sb ? -1 : 1;
	return strcmp(json_string_value(json_object_get(a, "id")) ?: "",
		      json_string_value(json_object_get(b, "id")) ?: "");
}

/* oldest first again, after summaries were folded or two queries put together */
static void sort_sessions(json_t *a)
{
	size_t n = json_array_size(a), i;
	_cleanup_free_ json_t **v = calloc(n ? n : 1, sizeof(*v));

	if (!v)
		return;
	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(a, i));
	qsort(v, n, sizeof(*v), cmp_start);
	json_array_clear(a);
	for (i = 0; i < n; i++)
		json_array_append_new(a, v[i]);
}

/* The decision log's summaries (audit/sessions.h: rows by layer, tokens,
 * cost), with the sandbox's name for its id and the full command line this
 * daemon knows; sessions the log does not show yet come from memory. */
void verb_sessions(struct ward_daemon *d, struct dconn *c, json_t *req)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	struct dsandbox *only = name ? sandbox_find(d, name) : NULL;
	struct ward_error err = { 0 };
	json_t *a = NULL, *more = NULL, *e;
	size_t i;
	int r;

	if (name && !only) {
		reply_err(c, req, ENOENT, "sandbox '%s' does not exist", name);
		return;
	}
	ward_audit_flush(d->audit);
	/* a sandbox's rows carry its id, the daemon's control rows its name */
	r = log_sessions(d, only ? only->id : NULL, &a, &err);
	if (r >= 0 && only)
		r = log_sessions(d, only->name, &more, &err);
	if (r < 0) {
		json_decref(a);
		reply_err(c, req, -r, "%s", err.msg);
		return;
	}
	if (more) {
		json_array_extend(a, more);
		json_decref(more);
	}
	fold_sessions(a);
	sort_sessions(a);
	json_array_foreach(a, i, e)
	{
		const char *sid = json_string_value(json_object_get(e, "sandbox"));
		struct dsession *s = known_session(d, json_string_value(json_object_get(e, "id")));

		for (struct dsandbox *sb = d->sandboxes; sb && sid; sb = sb->next)
			if (!strcmp(sb->id, sid) || !strcmp(sb->name, sid)) {
				json_object_set_new(e, "sandbox_id", json_string(sb->id));
				json_object_set_new(e, "sandbox", json_string(sb->name));
				break;
			}
		if (s && s->command)
			json_object_set_new(e, "command", json_string(s->command));
	}
	for (struct dsession *s = d->sessions; s; s = s->next) {
		bool logged = false;

		if (name && strcmp(s->sandbox, name))
			continue;
		json_array_foreach(a, i,
				   e) if (!strcmp(json_string_value(json_object_get(e, "id")) ?: "",
						  s->id)) logged = true;
		if (!logged)
			json_array_append_new(a, session_json(s));
	}
	reply_ok(c, req, json_pack("{s:o}", "sessions", a));
}
