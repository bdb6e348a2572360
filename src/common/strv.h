/* SPDX-License-Identifier: MIT */
/* NULL-terminated string vectors with their length beside them (warnings,
 * messages collected while setting something up). */
#pragma once

#include <stdarg.h>
#include <stddef.h>

/* Append a formatted string; *v stays NULL-terminated. -ENOMEM on failure
 * (the vector is unchanged). */
int ward_strv_appendf(char ***v, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int ward_strv_vappendf(char ***v, size_t *n, const char *fmt, va_list ap);
/* Free every string and the vector; *v = NULL, *n = 0. */
void ward_strv_free(char ***v, size_t *n);
