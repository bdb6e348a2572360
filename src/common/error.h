/* SPDX-License-Identifier: MIT */
/* Error objects: fallible functions return -errno and fill a message; callers
 * add context on the way up (crun's libcrun_error_t, simplified). */
#pragma once

#include <stdarg.h>

#define WARD_ERROR_MAX 1024

struct ward_error {
	int code; /* negative errno, 0 when unset */
	char msg[WARD_ERROR_MAX];
};

/* Set err (may be NULL) to "fmt: strerror(-code)" when code is an errno, return code. */
int ward_err(struct ward_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Same, but without the strerror suffix (for messages that already say it all). */
int ward_errx(struct ward_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prepend "context: " to an existing message; returns err->code. */
int ward_err_prefix(struct ward_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
