/* SPDX-License-Identifier: MIT */
/* The decision log: SQLite in WAL mode, one writer thread fed by a bounded
 * queue, batched transactions, rows hash-chained. Callers never block on the
 * disk: ward_audit_submit() copies the row and returns. */
#pragma once

#include <stdbool.h>
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
int ward_audit_store_policy(struct ward_audit *a, const struct ward_policy *p, struct ward_error *err);
/* Flush everything queued, stop the writer and close. NULL is fine. */
int ward_audit_close(struct ward_audit *a);
uint64_t ward_audit_dropped(const struct ward_audit *a);
