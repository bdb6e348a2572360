/* SPDX-License-Identifier: MIT */
/* Shipping the local decision log to the central PostgreSQL store
 * (docs/fleet.md): batches of rows, each in one transaction that reads and
 * advances ward.hosts.shipped_id, so a batch lands whole or not at all. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

#define WARD_SHIP_BATCH_DEFAULT 10000
#define WARD_SHIP_BATCH_MAX 1000000

struct ward_ship_config {
	const char *log_path; /* the local SQLite log */
	const char *url;      /* postgresql://... */
	const char *host_id;  /* NULL: the machine's hostname */
	uint32_t batch;	      /* rows per transaction; 0: WARD_SHIP_BATCH_DEFAULT */
};

struct ward_ship_progress {
	const char *host_id;
	int64_t shipped_id;    /* every local id <= this is in the central store */
	int64_t local_max_id;  /* the newest local row when the batch was read */
	uint64_t rows;	       /* in the last batch */
	uint64_t total;	       /* since ward_ship_run started */
	uint64_t last_ship_ns; /* when the last batch committed (CLOCK_REALTIME) */
};

struct ward_ship_hooks {
	bool (*stop)(void *data);				       /* polled while waiting */
	void (*note)(void *data, const char *msg);		       /* a reconnect, a retry */
	void (*batch)(void *data, const struct ward_ship_progress *p); /* after each commit */
	void *data;
};

struct ward_shipper;

/* Open the local log read-only; no connection yet. */
int ward_ship_new(const struct ward_ship_config *cfg, struct ward_shipper **ret,
		  struct ward_error *err);
void ward_ship_free(struct ward_shipper *s);
const char *ward_ship_host_id(const struct ward_shipper *s);

/* One batch in one transaction (connecting first when needed): *ret_rows rows
 * shipped, 0 when there was nothing to ship. -ECONNRESET/-ECONNREFUSED: the
 * connection is gone (it is dropped; call again to reconnect); -ERANGE: a gap
 * (rows pruned locally before they were shipped; err names the ids);
 * -ESTALE: the local log is not the one this host shipped before. */
int ward_ship_batch(struct ward_shipper *s, uint64_t *ret_rows, struct ward_error *err);

/* Ship until caught up (follow false) or until hooks->stop (follow true: wait
 * for new rows, reconnect with bounded backoff, never give up on a database
 * that restarts). Without follow, a lost connection is retried 5 times. */
int ward_ship_run(struct ward_shipper *s, bool follow, const struct ward_ship_hooks *hooks,
		  struct ward_ship_progress *ret, struct ward_error *err);

/* The lag of a local log behind a shipped id: rows not shipped yet and the
 * age of the oldest of them (0 when none). */
struct ward_ship_lag {
	int64_t local_max_id;
	int64_t rows;
	uint64_t oldest_age_ns;
};
int ward_ship_lag(const char *log_path, int64_t shipped_id, uint64_t now_ns,
		  struct ward_ship_lag *ret, struct ward_error *err);
