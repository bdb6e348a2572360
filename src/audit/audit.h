/* SPDX-License-Identifier: MIT */
/* The decision log: SQLite in WAL mode, one writer thread fed by a bounded
 * queue, batched transactions, rows hash-chained. Callers never block on the
 * disk: ward_audit_submit() copies the row and returns. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "policy/model.h"

/* One decision. Strings may be NULL (stored as NULL); port 0 and pid 0 mean none. */
struct ward_decision {
	uint64_t ts_ns; /* 0: now */
	const char *sandbox;
	const char *layer;  /* kernel, nft, proxy, l7, dns, inference, fs, lifecycle */
	const char *action; /* allow, deny, audit */
	const char *binary;
	const char *binary_sha256;
	int32_t pid;
	const char *host;
	const char *ip;
	uint16_t port;
	const char *protocol;
	const char *method;
	const char *path;
	const char *rule;
	const char *reason;
	const char *policy_rev;
	const char *session; /* the session of a sandbox that hosts several (ward exec) */
	const char *via;     /* the ancestor whose binary rule allowed it (ancestors: true) */
	bool has_uid;	     /* uid is known */
	int64_t uid;	     /* the process's real uid (initial user namespace) */
	const char *cgroup;  /* its cgroup v2 path below the v2 mount ("/user.slice/...") */
};

struct ward_audit;

/* The path ward uses when --log is absent: $WARD_LOG, else /var/lib/ward/decisions.db. */
const char *ward_audit_default_path(void);

/* Open (creating the file, its directory and the schema) and start the writer. */
int ward_audit_open(const char *path, struct ward_audit **ret, struct ward_error *err);
/* Queue a row; never blocks. -EAGAIN when the queue is full (the drop is counted
 * and logged as a row of its own once there is room). */
int ward_audit_submit(struct ward_audit *a, const struct ward_decision *d);
/* Store the policy's exact source and compiled form under its revision (idempotent). */
int ward_audit_store_policy(struct ward_audit *a, const struct ward_policy *p,
			    struct ward_error *err);
/* Flush everything queued, stop the writer and close. NULL is fine. */
int ward_audit_close(struct ward_audit *a);
uint64_t ward_audit_dropped(const struct ward_audit *a);

/* Block until every row submitted before the call is committed (or given up
 * after repeated write failures, which count as drops). Tests and `ward run`
 * before it reports an exit status use it; the hot paths never do. */
int ward_audit_flush(struct ward_audit *a);

/* The fixed vocabularies of the `layer` and `action` columns. */
bool ward_audit_layer_valid(const char *layer);
bool ward_audit_action_valid(const char *action);
extern const char *const ward_audit_layers[]; /* NULL-terminated */

/* One stored row, as the hash chain and the readers see it. Strings are NULL
 * for SQL NULL; has_pid/has_port/has_uid false for NULL. */
struct ward_audit_row {
	int64_t id;
	int64_t ts_ns;
	const char *sandbox;
	const char *layer;
	const char *action;
	const char *binary;
	const char *binary_sha256;
	bool has_pid;
	int64_t pid;
	const char *host;
	const char *ip;
	bool has_port;
	int64_t port;
	const char *protocol;
	const char *method;
	const char *path;
	const char *rule;
	const char *reason;
	const char *policy_rev;
	const char *hash; /* as stored; the reader fills it, the hash input ignores it */
	const char *session;
	const char *via;
	bool has_uid;
	int64_t uid;
	const char *cgroup;
};

#define WARD_AUDIT_GENESIS_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* The hash chain (docs/audit.md has the byte layout):
 * hash = lower-hex sha256(prev_hash as 64 ASCII hex chars || canonical(row)),
 * prev_hash = WARD_AUDIT_GENESIS_HASH for the first row. canonical() writes the
 * fields id, ts_ns, sandbox, layer, action, binary, binary_sha256, pid, host, ip,
 * port, protocol, method, path, rule, reason, policy_rev in that order, each as
 * 0x00 (NULL), 0x01 + int64 big-endian (integer), or 0x02 + uint32 big-endian
 * length + bytes (text); then, only when session, via, uid or cgroup is not
 * NULL, session and via in that order; then, only when uid or cgroup is not
 * NULL, uid and cgroup in that order (so rows written before these columns
 * existed hash as before).
 * `ward audit verify` recomputes it with this function. */
int ward_audit_row_hash(const char prev_hash[65], const struct ward_audit_row *r, char out[65]);
/* The canonical serialisation alone: returns the length it needs; writes only
 * when cap is large enough. */
size_t ward_audit_row_canonical(const struct ward_audit_row *r, uint8_t *buf, size_t cap);

/* --- reading (ward logs, replay, verify) --- */

struct ward_audit_filter {
	const char *layer;   /* exact */
	const char *action;  /* exact */
	const char *binary;  /* exact, or a glob when it has * ? [ (SQLite GLOB) */
	const char *host;    /* exact, or a glob as for binary */
	const char *sandbox; /* exact */
	const char *session; /* exact (a log without sessions matches nothing) */
	uint64_t since_ns;   /* ts_ns >= since_ns; 0: no bound */
	int64_t after_id;    /* id > after_id; 0: from the start */
	uint64_t limit;	     /* 0: no limit */
};

struct ward_audit_reader;

/* Open an existing log read-only. -ENOENT when there is none. */
int ward_audit_reader_open(const char *path, struct ward_audit_reader **ret,
			   struct ward_error *err);
void ward_audit_reader_close(struct ward_audit_reader *r);
/* Call cb for each matching row in id order; the row's strings live until cb
 * returns. A non-zero return from cb stops the walk and is returned. */
int ward_audit_reader_each(struct ward_audit_reader *r, const struct ward_audit_filter *f,
			   int (*cb)(const struct ward_audit_row *row, void *userdata),
			   void *userdata, struct ward_error *err);

/* Where a row went, for one table cell: "host:port", "ip:port", "[v6]:port",
 * a path (fs, unix), host:port followed by an HTTP path (l7), or "-". */
void ward_audit_row_destination(const struct ward_audit_row *r, char *out, size_t len);

/* Parse --since: RFC 3339 ("2025-01-02T03:04:05.5Z", "...+02:00"), a unix time
 * in seconds ("1735787045", fraction allowed), or a duration before now_ns
 * ("90s", "10m", "2h", "1d", "1w"). -EINVAL on anything else. */
int ward_audit_parse_time(const char *s, uint64_t now_ns, uint64_t *ret_ns);
