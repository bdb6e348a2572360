/* SPDX-License-Identifier: MIT */
/* Diagnostics for the CLI and the supervisor. Library code returns errors and
 * does not log; only front ends and long-running loops call these. */
#pragma once

enum ward_log_level { WARD_LOG_ERROR, WARD_LOG_WARN, WARD_LOG_INFO, WARD_LOG_DEBUG };

extern enum ward_log_level ward_log_threshold;

void ward_log(enum ward_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) ward_log(WARD_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) ward_log(WARD_LOG_WARN, __VA_ARGS__)
#define log_info(...) ward_log(WARD_LOG_INFO, __VA_ARGS__)
#define log_debug(...) ward_log(WARD_LOG_DEBUG, __VA_ARGS__)
