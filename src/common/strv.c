// SPDX-License-Identifier: MIT
#include "common/strv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int ward_strv_vappendf(char ***v, size_t *n, const char *fmt, va_list ap)
{
	char **nv, *s;

	if (vasprintf(&s, fmt, ap) < 0)
		return -ENOMEM;
	nv = realloc(*v, (*n + 2) * sizeof(*nv));
	if (!nv) {
		free(s);
		return -ENOMEM;
	}
	nv[(*n)++] = s;
	nv[*n] = NULL;
	*v = nv;
	return 0;
}

int ward_strv_appendf(char ***v, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = ward_strv_vappendf(v, n, fmt, ap);
	va_end(ap);
	return r;
}

void ward_strv_free(char ***v, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}
