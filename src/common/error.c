// SPDX-License-Identifier: MIT
#include "common/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int vset(struct ward_error *err, int code, int with_errno, const char *fmt, va_list ap)
{
	if (!err)
		return code;
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (with_errno && code < 0 && n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(-code));
	err->code = code;
	return code;
}

int ward_err(struct ward_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(err, code, 1, fmt, ap);
	va_end(ap);
	return code;
}

int ward_errx(struct ward_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(err, code, 0, fmt, ap);
	va_end(ap);
	return code;
}

int ward_err_prefix(struct ward_error *err, const char *fmt, ...)
{
	char prefix[WARD_ERROR_MAX];
	size_t plen, olen;
	va_list ap;

	if (!err)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix) - 2, fmt, ap);
	va_end(ap);
	/* "prefix: old", truncated at the end if it does not fit. */
	strcat(prefix, ": ");
	plen = strlen(prefix);
	olen = strnlen(err->msg, sizeof(err->msg) - 1);
	if (plen + olen >= sizeof(err->msg))
		olen = sizeof(err->msg) - 1 - plen;
	memmove(err->msg + plen, err->msg, olen);
	memcpy(err->msg, prefix, plen);
	err->msg[plen + olen] = '\0';
	return err->code;
}
