// SPDX-License-Identifier: MIT
/* The decision-log writer: callers copy rows into a bounded ring and return;
 * one thread drains the ring in batches, each batch one BEGIN IMMEDIATE ...
 * COMMIT with reused prepared statements. A row arriving at an idle writer
 * wakes it once. A row after a quiet spell is written at once; in a stream
 * of rows (keep-alive requests) the writer lingers LINGER_MS for the rows
 * behind, so the stream costs one wake-up and one transaction per batch,
 * not one per row. A flush, close or a fuller ring cuts the linger short.
 * The chain head is re-read inside every write transaction, so several
 * ward processes appending to one file still build a single chain. */
#include "audit/audit.h"
#include "audit/db.h"
#include "common/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUE_LEN 65536u /* rows waiting for the writer; full means drop */
#define BATCH_MAX 8192u	 /* rows per transaction */
#define WRITE_ATTEMPTS 5 /* each waits up to WARD_AUDIT_BUSY_MS for the lock */
#define LINGER_MS 10	 /* in a stream, a woken writer gathers rows this long */
#define LINGER_ROWS 512u /* ... or until this many wait */
#define QUIET_MS 50	 /* no batch for this long: the next row goes at once */

const char *const ward_audit_layers[] = {
	"kernel", "nft",     "unix",	  "proxy",   "l7",   "dns", "inference",
	"fs",	  "seccomp", "lifecycle", "control", "host", NULL,
};
static const char *const actions[] = { "allow", "deny", "audit", NULL };

struct ward_audit {
	/* One connection per handle: a second one in the same process would be
	 * safe for SQLite, but store_policy through this one keeps policy and
	 * rows strictly ordered. db_lock serialises the writer's transactions
	 * and store_policy. */
	pthread_mutex_t db_lock;
	sqlite3 *db;
	sqlite3_stmt *insert;
	sqlite3_stmt *head;
	sqlite3_stmt *policy;
	sqlite3_stmt *begin, *commit, *rollback;
	char *path;

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* writer: rows queued or stopping */
	pthread_cond_t written; /* flushers: a batch is done */
	struct ward_audit_row **ring;
	size_t ring_head; /* oldest queued */
	size_t ring_count;
	bool writer_idle;
	bool lingering;		/* the writer waits for more rows before its batch */
	uint64_t last_batch_ns; /* monotonic end of the last batch */
	bool hurry;		/* a flush waits: no lingering */
	unsigned flushers;
	bool stopping;
	uint64_t submitted; /* rows accepted into the ring, ever */
	uint64_t done;	    /* rows taken from the ring and committed or given up */
	uint64_t dropped;   /* rows refused (queue full) or lost to write failures */
	uint64_t dropped_logged;
	uint64_t batches; /* write attempts finished */
	bool writer_exited;
	int last_error;
};

static void pthread_cond_init_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t at;

	pthread_condattr_init(&at);
	pthread_condattr_setclock(&at, CLOCK_MONOTONIC);
	pthread_cond_init(c, &at);
	pthread_condattr_destroy(&at);
}

static bool in_list(const char *const *list, const char *s)
{
	if (!s)
		return false;
	for (; *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

bool ward_audit_layer_valid(const char *layer)
{
	return in_list(ward_audit_layers, layer);
}

bool ward_audit_action_valid(const char *action)
{
	return in_list(actions, action);
}

const char *ward_audit_default_path(void)
{
	const char *env = secure_getenv("WARD_LOG");

	return env && *env ? env : "/var/lib/ward/decisions.db";
}

/* One allocation per row: the struct followed by its strings. */
static struct ward_audit_row *row_copy(const struct ward_decision *d)
{
	const char *src[] = { d->sandbox, d->layer,  d->action,	    d->binary,	d->binary_sha256,
			      d->host,	  d->ip,     d->protocol,   d->method,	d->path,
			      d->rule,	  d->reason, d->policy_rev, d->session, d->via, d->cgroup };
	size_t len[ARRAY_SIZE(src)], total = sizeof(struct ward_audit_row);
	struct ward_audit_row *r;
	const char **dst[ARRAY_SIZE(src)];
	char *p;

	for (size_t i = 0; i < ARRAY_SIZE(src); i++) {
		len[i] = src[i] ? strlen(src[i]) + 1 : 0;
		total += len[i];
	}
	r = malloc(total);
	if (!r)
		return NULL;
	*r = (struct ward_audit_row){
		.ts_ns = (int64_t)(d->ts_ns ? d->ts_ns : ward_now_ns()),
		.has_pid = d->pid != 0,
		.pid = d->pid,
		.has_port = d->port != 0,
		.port = d->port,
		.has_uid = d->has_uid,
		.uid = d->has_uid ? d->uid : 0,
	};
	dst[0] = &r->sandbox;
	dst[1] = &r->layer;
	dst[2] = &r->action;
	dst[3] = &r->binary;
	dst[4] = &r->binary_sha256;
	dst[5] = &r->host;
	dst[6] = &r->ip;
	dst[7] = &r->protocol;
	dst[8] = &r->method;
	dst[9] = &r->path;
	dst[10] = &r->rule;
	dst[11] = &r->reason;
	dst[12] = &r->policy_rev;
	dst[13] = &r->session;
	dst[14] = &r->via;
	dst[15] = &r->cgroup;
	p = (char *)(r + 1);
	for (size_t i = 0; i < ARRAY_SIZE(src); i++) {
		if (!src[i])
			continue;
		memcpy(p, src[i], len[i]);
		*dst[i] = p;
		p += len[i];
	}
	return r;
}

int ward_audit_submit(struct ward_audit *a, const struct ward_decision *d)
{
	struct ward_audit_row *r;
	bool wake;

	if (!a || !d || !ward_audit_layer_valid(d->layer) || !ward_audit_action_valid(d->action))
		return -EINVAL;
	r = row_copy(d);
	pthread_mutex_lock(&a->lock);
	if (!r || a->ring_count == QUEUE_LEN || a->stopping) {
		a->dropped++;
		pthread_mutex_unlock(&a->lock);
		free(r);
		return r ? -EAGAIN : -ENOMEM;
	}
	a->ring[(a->ring_head + a->ring_count) % QUEUE_LEN] = r;
	a->ring_count++;
	a->submitted++;
	/* one wake-up per batch: the row that ends the writer's idleness, or
	 * the one that makes lingering pointless */
	wake = a->writer_idle || (a->lingering && a->ring_count == LINGER_ROWS);
	pthread_mutex_unlock(&a->lock);
	if (wake)
		pthread_cond_signal(&a->wake);
	return 0;
}

static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
	return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static int insert_row(struct ward_audit *a, const struct ward_audit_row *r)
{
	sqlite3_stmt *st = a->insert;
	int rc = SQLITE_OK;

	sqlite3_reset(st);
	rc |= sqlite3_bind_int64(st, 1, r->id);
	rc |= sqlite3_bind_int64(st, 2, r->ts_ns);
	rc |= bind_text(st, 3, r->sandbox);
	rc |= bind_text(st, 4, r->layer);
	rc |= bind_text(st, 5, r->action);
	rc |= bind_text(st, 6, r->binary);
	rc |= bind_text(st, 7, r->binary_sha256);
	rc |= r->has_pid ? sqlite3_bind_int64(st, 8, r->pid) : sqlite3_bind_null(st, 8);
	rc |= bind_text(st, 9, r->host);
	rc |= bind_text(st, 10, r->ip);
	rc |= r->has_port ? sqlite3_bind_int64(st, 11, r->port) : sqlite3_bind_null(st, 11);
	rc |= bind_text(st, 12, r->protocol);
	rc |= bind_text(st, 13, r->method);
	rc |= bind_text(st, 14, r->path);
	rc |= bind_text(st, 15, r->rule);
	rc |= bind_text(st, 16, r->reason);
	rc |= bind_text(st, 17, r->policy_rev);
	rc |= bind_text(st, 18, r->hash);
	rc |= bind_text(st, 19, r->session);
	rc |= bind_text(st, 20, r->via);
	rc |= r->has_uid ? sqlite3_bind_int64(st, 21, r->uid) : sqlite3_bind_null(st, 21);
	rc |= bind_text(st, 22, r->cgroup);
	if (rc != SQLITE_OK)
		return audit_sqlite_errno(a->db, SQLITE_ERROR);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : audit_sqlite_errno(a->db, rc);
}

/* Inside the write transaction: the id and hash of the newest row, whoever wrote it. */
static int read_head(struct ward_audit *a, int64_t *ret_id, char ret_hash[65])
{
	sqlite3_stmt *st = a->head;
	const unsigned char *h;
	int rc, r = 0;

	sqlite3_reset(st);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		*ret_id = 0;
		memcpy(ret_hash, WARD_AUDIT_GENESIS_HASH, 65);
	} else if (rc == SQLITE_ROW) {
		*ret_id = sqlite3_column_int64(st, 0);
		h = sqlite3_column_text(st, 1);
		if (!h || strlen((const char *)h) != 64)
			r = -EBADMSG; /* a broken head: never extend a chain we cannot link to */
		else
			memcpy(ret_hash, h, 65);
	} else {
		r = audit_sqlite_errno(a->db, rc);
	}
	sqlite3_reset(st);
	return r;
}

/* A prepared statement without results (BEGIN, COMMIT, ROLLBACK). */
static int exec_stmt(struct ward_audit *a, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : audit_sqlite_errno(a->db, rc);
}

static int write_batch_once(struct ward_audit *a, struct ward_audit_row **rows, size_t n)
{
	char prev[65], hashes[2][65];
	int64_t id = 0;
	int r;

	r = exec_stmt(a, a->begin);
	if (r < 0)
		return r;
	r = read_head(a, &id, prev);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		char *h = hashes[i & 1];

		rows[i]->id = ++id;
		r = ward_audit_row_hash(prev, rows[i], h);
		if (r < 0)
			break;
		rows[i]->hash = h;
		r = insert_row(a, rows[i]);
		rows[i]->hash = NULL;
		memcpy(prev, h, 65);
	}
	if (r >= 0)
		r = exec_stmt(a, a->commit);
	if (r < 0 && !sqlite3_get_autocommit(a->db))
		exec_stmt(a, a->rollback);
	return r;
}

static int write_batch(struct ward_audit *a, struct ward_audit_row **rows, size_t n)
{
	int r = 0;

	for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
		r = write_batch_once(a, rows, n);
		if (r >= 0 || r == -EBADMSG)
			return r;
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	}
	return r;
}

static bool linger_over(const struct ward_audit *a)
{
	return a->stopping || a->hurry || a->ring_count >= LINGER_ROWS;
}

/* Rows are waiting. After a quiet spell they go at once (a control verb's
 * row is read right after its answer); in a stream, the rows right behind
 * them get LINGER_MS to join the batch, unless someone waits for the batch
 * or the ring fills. */
static void linger(struct ward_audit *a)
{
	uint64_t now = ward_mono_ns(), until = now + LINGER_MS * 1000000ull;
	struct timespec ts = { .tv_sec = (time_t)(until / 1000000000ull),
			       .tv_nsec = (long)(until % 1000000000ull) };

	if (linger_over(a) || now - a->last_batch_ns > QUIET_MS * 1000000ull)
		return;
	a->lingering = true;
	while (!linger_over(a))
		if (pthread_cond_timedwait(&a->wake, &a->lock, &ts) == ETIMEDOUT)
			break;
	a->lingering = false;
}

static void *writer_main(void *arg)
{
	struct ward_audit *a = arg;
	/* +1: room for the drop-report row */
	struct ward_audit_row **batch = calloc(BATCH_MAX + 1, sizeof(*batch));
	char reason[64];
	struct ward_audit_row drop_row;

	pthread_mutex_lock(&a->lock);
	for (;;) {
		size_t n = 0;
		uint64_t drops;

		while (a->ring_count == 0 && !a->stopping && a->dropped == a->dropped_logged) {
			a->writer_idle = true;
			pthread_cond_wait(&a->wake, &a->lock);
			a->writer_idle = false;
		}
		if (a->ring_count == 0 && a->dropped == a->dropped_logged)
			break; /* stopping and drained */
		linger(a);
		while (batch && n < BATCH_MAX && a->ring_count > 0) {
			batch[n++] = a->ring[a->ring_head];
			a->ring_head = (a->ring_head + 1) % QUEUE_LEN;
			a->ring_count--;
		}
		drops = a->dropped - a->dropped_logged;
		pthread_mutex_unlock(&a->lock);

		if (!batch) {
			/* Cannot batch without memory: nothing sane to do but wait for it. */
			nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
			batch = calloc(BATCH_MAX + 1, sizeof(*batch));
			pthread_mutex_lock(&a->lock);
			continue;
		}
		size_t total = n;
		if (drops) {
			snprintf(reason, sizeof(reason), "dropped=%llu", (unsigned long long)drops);
			drop_row = (struct ward_audit_row){
				.ts_ns = (int64_t)ward_now_ns(),
				.layer = "lifecycle",
				.action = "audit",
				.rule = "log_dropped",
				.reason = reason,
			};
			batch[total++] = &drop_row;
		}
		pthread_mutex_lock(&a->db_lock);
		int r = write_batch(a, batch, total);
		pthread_mutex_unlock(&a->db_lock);
		for (size_t i = 0; i < n; i++)
			free(batch[i]);
		/* A failing disk or a broken chain head: do not spin on the drop report. */
		if (r < 0)
			nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);

		pthread_mutex_lock(&a->lock);
		a->done += n;
		if (r < 0) {
			/* Lost for good: counted, and reported by the next batch that commits. */
			a->last_error = r;
			a->dropped += n;
		} else {
			a->dropped_logged += drops;
		}
		if (r < 0 && a->stopping) {
			/* Nothing will get better at shutdown; give up on reporting drops. */
			a->dropped_logged = a->dropped;
		}
		a->batches++;
		a->last_batch_ns = ward_mono_ns();
		pthread_cond_broadcast(&a->written);
	}
	a->writer_exited = true;
	pthread_cond_broadcast(&a->written);
	pthread_mutex_unlock(&a->lock);
	free(batch);
	return NULL;
}

static void audit_free(struct ward_audit *a)
{
	if (!a)
		return;
	while (a->ring && a->ring_count > 0) {
		free(a->ring[a->ring_head]);
		a->ring_head = (a->ring_head + 1) % QUEUE_LEN;
		a->ring_count--;
	}
	free(a->ring);
	sqlite3_finalize(a->insert);
	sqlite3_finalize(a->head);
	sqlite3_finalize(a->policy);
	sqlite3_finalize(a->begin);
	sqlite3_finalize(a->commit);
	sqlite3_finalize(a->rollback);
	sqlite3_close_v2(a->db);
	pthread_mutex_destroy(&a->db_lock);
	pthread_cond_destroy(&a->wake);
	pthread_cond_destroy(&a->written);
	pthread_mutex_destroy(&a->lock);
	free(a->path);
	free(a);
}

int ward_audit_open(const char *path, struct ward_audit **ret, struct ward_error *err)
{
	struct ward_audit *a;
	int r, rc;

	if (!path)
		path = ward_audit_default_path();
	a = calloc(1, sizeof(*a));
	if (!a)
		return ward_err(err, -ENOMEM, "decision log");
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->db_lock, NULL);
	pthread_cond_init_monotonic(&a->wake);
	pthread_cond_init(&a->written, NULL);
	a->path = strdup(path);
	a->ring = calloc(QUEUE_LEN, sizeof(*a->ring));
	if (!a->path || !a->ring) {
		audit_free(a);
		return ward_err(err, -ENOMEM, "decision log");
	}
	r = audit_db_open_rw(path, &a->db, err);
	if (r < 0) {
		audit_free(a);
		return ward_err_prefix(err, "decision log");
	}
	rc = sqlite3_prepare_v3(a->db,
				"INSERT INTO decisions(id, ts_ns, sandbox, layer, action, binary,"
				" binary_sha256, pid, host, ip, port, protocol, method, path, rule,"
				" reason, policy_rev, hash, session, via, uid, cgroup)"
				" VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
				-1, SQLITE_PREPARE_PERSISTENT, &a->insert, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(a->db,
					"SELECT id, hash FROM decisions ORDER BY id DESC LIMIT 1",
					-1, SQLITE_PREPARE_PERSISTENT, &a->head, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(
			a->db,
			"INSERT OR IGNORE INTO policies(rev, source, compiled, loaded_at)"
			" VALUES (?, ?, ?, ?)",
			-1, SQLITE_PREPARE_PERSISTENT, &a->policy, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(a->db, "BEGIN IMMEDIATE", -1, SQLITE_PREPARE_PERSISTENT,
					&a->begin, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(a->db, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT, &a->commit,
					NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(a->db, "ROLLBACK", -1, SQLITE_PREPARE_PERSISTENT,
					&a->rollback, NULL);
	if (rc != SQLITE_OK) {
		r = audit_sqlite_err(err, a->db, rc, "decision log: prepare");
		audit_free(a);
		return r;
	}
	r = -pthread_create(&a->thread, NULL, writer_main, a);
	if (r < 0) {
		audit_free(a);
		return ward_err(err, r, "decision log: writer thread");
	}
	a->thread_started = true;
	*ret = a;
	return 0;
}

int ward_audit_flush(struct ward_audit *a)
{
	uint64_t target, batches;
	int r;

	if (!a)
		return 0;
	pthread_mutex_lock(&a->lock);
	target = a->submitted;
	batches = a->batches;
	/* Rows first; a pending drop report needs one batch that starts after
	 * this call (+2: one may be in flight), or it to be logged. */
	a->flushers++;
	a->hurry = true;
	while (!a->writer_exited && (a->done < target || (a->dropped != a->dropped_logged &&
							  a->batches < batches + 2))) {
		if (a->writer_idle || a->lingering)
			pthread_cond_signal(&a->wake);
		pthread_cond_wait(&a->written, &a->lock);
	}
	a->hurry = --a->flushers > 0;
	r = a->last_error;
	pthread_mutex_unlock(&a->lock);
	return r;
}

int ward_audit_close(struct ward_audit *a)
{
	int r;

	if (!a)
		return 0;
	if (a->thread_started) {
		pthread_mutex_lock(&a->lock);
		a->stopping = true;
		pthread_mutex_unlock(&a->lock);
		pthread_cond_signal(&a->wake);
		pthread_join(a->thread, NULL);
	}
	r = a->last_error;
	sqlite3_finalize(TAKE_PTR(a->insert));
	sqlite3_finalize(TAKE_PTR(a->head));
	sqlite3_finalize(TAKE_PTR(a->policy));
	sqlite3_finalize(TAKE_PTR(a->begin));
	sqlite3_finalize(TAKE_PTR(a->commit));
	sqlite3_finalize(TAKE_PTR(a->rollback));
	if (a->db && sqlite3_close(a->db) != SQLITE_OK && r >= 0)
		r = -EBUSY;
	else
		a->db = NULL;
	audit_free(a);
	return r;
}

uint64_t ward_audit_dropped(const struct ward_audit *a)
{
	uint64_t n;

	if (!a)
		return 0;
	pthread_mutex_lock((pthread_mutex_t *)&a->lock);
	n = a->dropped;
	pthread_mutex_unlock((pthread_mutex_t *)&a->lock);
	return n;
}

int ward_audit_store_policy(struct ward_audit *a, const struct ward_policy *p,
			    struct ward_error *err)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	if (!a || !p || !p->source || !p->compiled_json || strlen(p->rev) != 64)
		return ward_errx(err, -EINVAL, "store policy: incomplete policy");
	/* Synchronous, on the caller's thread, between two of the writer's
	 * batches: when this returns the policy is committed, before any row
	 * submitted afterwards that names its rev. */
	pthread_mutex_lock(&a->db_lock);
	st = a->policy;
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, p->rev, 64, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, p->source, (int)p->source_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, p->compiled_json, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)ward_now_ns());
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		r = audit_sqlite_err(err, a->db, rc, "store policy");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&a->db_lock);
	return r;
}
