/* SPDX-License-Identifier: MIT */
/* ward daemon --ship: a thread that ships the decision log to the central
 * store continuously (docs/fleet.md), and the status file through which
 * `ward doctor` and `ward host status` show its lag. */
#pragma once

#include <jansson.h>
#include <stdio.h>
#include <stdbool.h>

#include "common/error.h"

/* STATE/ship.json, written by the thread after each batch and each failure. */
#define DAEMON_SHIP_STATUS "ship.json"

struct daemon_ship;

/* Start shipping log_path to url under host_id (NULL: hostname); note gets
 * reconnects and errors (the thread keeps going after either). */
int daemon_ship_start(const char *url, const char *host_id, const char *log_path,
		      const char *state_dir,
		      void (*note)(void *data, bool warning, const char *msg),
		      struct daemon_ship **ret, struct ward_error *err);
/* Stop the thread (within ~100 ms plus a batch in flight) and free. NULL is fine. */
void daemon_ship_stop(struct daemon_ship *s);

/* The shipping status of the daemon on state_dir (NULL: $WARD_STATE, else
 * /var/lib/ward) with its lag computed now from the local log: NULL when no
 * daemon ships from there. */
json_t *daemon_ship_status(const char *state_dir);
/* One line for humans: "ship: host H to URL: N rows behind, oldest Xs ..." */
void daemon_ship_print(FILE *f, const json_t *st);
