// SPDX-License-Identifier: MIT
/* ward daemon --ship: continuous shipping in a thread of the daemon, and its
 * status file (STATE/ship.json) for doctor and host status. */
#include "daemon_ship.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "fleet/pg.h"
#include "fleet/ship.h"
#include "runtime/daemon.h"

struct daemon_ship {
	pthread_t thread;
	bool started;
	atomic_bool stop;
	struct ward_shipper *shipper;
	char *status_path;
	char *log_path;
	char url[512]; /* redacted */
	void (*note)(void *data, bool warning, const char *msg);
	struct ward_ship_progress last;
	bool have_last;
};

static void write_status(struct daemon_ship *s, const char *error)
{
	_cleanup_free_ char *tmp = NULL;
	json_t *o = json_object();

	if (!o || asprintf(&tmp, "%s.tmp", s->status_path) < 0) {
		json_decref(o);
		return;
	}
	json_object_set_new(o, "url", json_string(s->url));
	json_object_set_new(o, "host_id", json_string(ward_ship_host_id(s->shipper)));
	json_object_set_new(o, "log", json_string(s->log_path));
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set_new(o, "shipped_id",
			    s->have_last ? json_integer(s->last.shipped_id) : json_null());
	json_object_set_new(o, "last_ship_ns",
			    s->have_last ? json_integer((json_int_t)s->last.last_ship_ns)
					 : json_null());
	json_object_set_new(o, "error", error ? json_string(error) : json_null());
	json_object_set_new(o, "updated_ns", json_integer((json_int_t)ward_now_ns()));
	/* whole or not at all: readers never see half a file */
	if (json_dump_file(o, tmp, JSON_COMPACT) == 0 && rename(tmp, s->status_path) < 0)
		unlink(tmp);
	json_decref(o);
}

static bool should_stop(void *data)
{
	return atomic_load(&((struct daemon_ship *)data)->stop);
}

static void on_note(void *data, const char *msg)
{
	struct daemon_ship *s = data;

	write_status(s, msg);
	s->note(NULL, true, msg);
}

static void on_batch(void *data, const struct ward_ship_progress *p)
{
	struct daemon_ship *s = data;

	s->last = *p;
	s->have_last = true;
	write_status(s, NULL);
}

static void *ship_thread(void *arg)
{
	struct daemon_ship *s = arg;
	const struct ward_ship_hooks hooks = {
		.stop = should_stop, .note = on_note, .batch = on_batch, .data = s
	};

	while (!atomic_load(&s->stop)) {
		struct ward_error err = { 0 };
		struct ward_ship_progress p;
		int r = ward_ship_run(s->shipper, true, &hooks, &p, &err);
		char msg[WARD_ERROR_MAX + 64];

		if (r >= 0) {
			if (p.last_ship_ns) {
				s->last = p;
				s->have_last = true;
			}
			write_status(s, NULL);
			break;
		}
		/* a gap, a different log, a schema the server refuses: say so and
		 * try again later; the daemon itself goes on */
		snprintf(msg, sizeof(msg), "shipping stopped: %s; retrying in 30 s", err.msg);
		write_status(s, err.msg);
		s->note(NULL, true, msg);
		for (int i = 0; i < 300 && !atomic_load(&s->stop); i++)
			nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
	}
	return NULL;
}

int daemon_ship_start(const char *url, const char *host_id, const char *log_path,
		      const char *state_dir,
		      void (*note)(void *data, bool warning, const char *msg),
		      struct daemon_ship **ret, struct ward_error *err)
{
	struct daemon_ship *s = calloc(1, sizeof(*s));
	struct ward_ship_config cfg = { .log_path = log_path, .url = url, .host_id = host_id };
	int r;

	if (!s)
		return ward_err(err, -ENOMEM, "ship");
	s->note = note;
	ward_pg_url_redact(url, s->url, sizeof(s->url));
	if (asprintf(&s->status_path, "%s/%s", state_dir ? state_dir : WARD_DAEMON_DEFAULT_STATE,
		     DAEMON_SHIP_STATUS) < 0 ||
	    !(s->log_path = strdup(log_path))) {
		daemon_ship_stop(s);
		return ward_err(err, -ENOMEM, "ship");
	}
	r = ward_ship_new(&cfg, &s->shipper, err);
	if (r < 0) {
		daemon_ship_stop(s);
		return ward_err_prefix(err, "--ship");
	}
	write_status(s, NULL);
	r = pthread_create(&s->thread, NULL, ship_thread, s);
	if (r != 0) {
		daemon_ship_stop(s);
		return ward_err(err, -r, "ship thread");
	}
	s->started = true;
	*ret = s;
	return 0;
}

void daemon_ship_stop(struct daemon_ship *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, true);
	if (s->started)
		pthread_join(s->thread, NULL);
	ward_ship_free(s->shipper);
	free(s->status_path);
	free(s->log_path);
	free(s);
}

json_t *daemon_ship_status(const char *state_dir)
{
	_cleanup_free_ char *path = NULL;
	struct ward_ship_lag lag;
	struct ward_error err = { 0 };
	json_t *st, *v;
	json_int_t pid;
	int64_t shipped;

	if (!state_dir)
		state_dir = secure_getenv("WARD_STATE") ?: WARD_DAEMON_DEFAULT_STATE;
	if (asprintf(&path, "%s/%s", state_dir, DAEMON_SHIP_STATUS) < 0)
		return NULL;
	st = json_load_file(path, 0, NULL);
	if (!json_is_object(st)) {
		json_decref(st);
		return NULL;
	}
	pid = json_integer_value(json_object_get(st, "pid"));
	json_object_set_new(st, "running", json_boolean(pid > 0 && kill((pid_t)pid, 0) == 0));
	v = json_object_get(st, "shipped_id");
	shipped = json_is_integer(v) ? json_integer_value(v) : 0;
	if (ward_ship_lag(json_string_value(json_object_get(st, "log")) ?: "", shipped,
			  ward_now_ns(), &lag, &err) < 0) {
		json_object_set_new(st, "lag_error", json_string(err.msg));
		return st;
	}
	json_object_set_new(st, "local_max_id", json_integer(lag.local_max_id));
	json_object_set_new(st, "lag_rows", json_integer(lag.rows));
	json_object_set_new(st, "lag_oldest_s", json_real((double)lag.oldest_age_ns / 1e9));
	return st;
}

void daemon_ship_print(FILE *f, const json_t *st)
{
	const char *e = json_string_value(json_object_get(st, "error"));
	const char *le = json_string_value(json_object_get(st, "lag_error"));

	fprintf(f,
		"ship: host %s to %s%s: ", json_string_value(json_object_get(st, "host_id")) ?: "?",
		json_string_value(json_object_get(st, "url")) ?: "?",
		json_is_true(json_object_get(st, "running")) ? "" : " (daemon not running)");
	if (le)
		fprintf(f, "lag unknown (%s)", le);
	else
		fprintf(f, "%" JSON_INTEGER_FORMAT " rows behind, oldest unshipped %.1f s",
			json_integer_value(json_object_get(st, "lag_rows")),
			json_real_value(json_object_get(st, "lag_oldest_s")));
	if (e)
		fprintf(f, "; last error: %s", e);
	fputc('\n', f);
}
