/* SPDX-License-Identifier: MIT */
/* The refusals of one `ward run`, summarised on one screen at exit. */
#pragma once

#include <stdio.h>

/* Print the deny rows of sandbox from the log at log_path to out (nothing
 * when there are none). The caller flushes the log first. -errno when the log
 * cannot be read. */
int ward_run_summary(const char *log_path, const char *sandbox, FILE *out);
