// SPDX-License-Identifier: MIT
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>

enum ward_log_level ward_log_threshold = WARD_LOG_WARN;

void ward_log(enum ward_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	va_list ap;

	if (level > ward_log_threshold)
		return;
	fprintf(stderr, "ward: %s: ", names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
