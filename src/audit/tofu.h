/* SPDX-License-Identifier: MIT */
/* Trust on first use for binaries (the decision log's `binaries` table): the
 * first sha256 seen at a path is kept; later runs compare against it. Used by
 * the proxy (src/proxy/identity.c) once per executable and run. */
#pragma once

#include "common/error.h"

/* Record (path, sha256) if path is new, and return the sha256 first recorded
 * for path in known (65 bytes). *ret_first is true when this call recorded it.
 * Opens its own connection to the log at db_path (WAL: the writer thread is
 * not disturbed). 0 or -errno with err set. */
int ward_audit_tofu(const char *db_path, const char *path, const char *sha256, char known[65],
		    bool *ret_first, struct ward_error *err);
