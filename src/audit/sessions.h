/* SPDX-License-Identifier: MIT */
/* `ward sessions` and the daemon's `sessions` verb (docs/audit.md,
 * "Sessions"): one summary per session of the decision log, made of its rows
 * only (the log is the record; a daemon restart loses nothing): the
 * lifecycle start row gives the command and start, the exit row the end and
 * exit status, every row of the session counts under its layer and action,
 * and the inference rows' usage adds up to tokens and cost. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"

struct ward_session_layer {
	char *layer;
	uint64_t allow, deny, audit;
};

struct ward_session_summary {
	char *id;
	char *sandbox;	     /* NULL when its rows name none */
	char *command;	     /* the start row's binary; NULL without a start row */
	int64_t start_ns;    /* the start row's time, else the session's first row's */
	int64_t end_ns;	     /* the exit row's time; 0 while running (no exit row) */
	int64_t duration_ms; /* end - start, or now - start while running */
	bool has_status;
	int status; /* ward run's exit contract: status, 128+N for signal N */
	struct ward_session_layer *layers; /* sorted by layer name */
	size_t n_layers;
	uint64_t calls;			/* inference calls that reported usage */
	uint64_t tokens_in, tokens_out; /* prompt (cached included) and completion */
	double cost_usd;		/* priced calls only */
	uint64_t unpriced;		/* calls with usage but no price */
};

/* The sessions of the log at path (only sandbox's when not NULL), sorted by
 * start (then id). *ret is an array of *ret_n to free with
 * ward_audit_sessions_free. A log without the session column has none. */
int ward_audit_sessions(const char *path, const char *sandbox, struct ward_session_summary **ret,
			size_t *ret_n, struct ward_error *err);
void ward_audit_sessions_free(struct ward_session_summary *s, size_t n);

/* The JSON array of the protocol's `sessions` reply (docs/daemon.md):
 * [{"id","sandbox","command","start_ns","end_ns"|null,"duration_ms",
 *   "status"|null,"rows":{"LAYER":{"allow":N,"deny":M,"audit":K}},
 *   "tokens_in","tokens_out","cost_usd"}, ...] */
void ward_audit_sessions_json(FILE *f, const struct ward_session_summary *s, size_t n);

/* The exit status in a lifecycle exit row's reason ("status=N", "signal=SIGKILL"):
 * 0 with *ret_status (128+N for a signal), -EINVAL when it names neither. */
int ward_audit_exit_status(const char *reason, int *ret_status);
