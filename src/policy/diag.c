// SPDX-License-Identifier: MIT
/* Compiler diagnostics: "FILE:LINE:COL: message", collected, never logged. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy/internal.h"

void ward_diags_free(struct ward_diags *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

int ward_diags_add(struct ward_diags *d, const char *file, uint32_t line, uint32_t col,
		   bool warning, const char *msg)
{
	struct ward_diag *v = reallocarray(d->v, d->n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	d->v = v;
	v = &d->v[d->n];
	*v = (struct ward_diag){ .line = line, .col = col, .warning = warning };
	v->file = strdup(file ? file : "<policy>");
	v->msg = strdup(msg ? msg : "");
	if (!v->file || !v->msg) {
		free(v->file);
		free(v->msg);
		return -ENOMEM;
	}
	d->n++;
	return 0;
}

void ward_diags_sort(struct ward_diags *d)
{
	/* Insertion sort: stable, and diagnostics are few and mostly in order already. */
	for (size_t i = 1; i < d->n; i++) {
		struct ward_diag t = d->v[i];
		size_t j = i;
		while (j > 0 && (d->v[j - 1].line > t.line ||
				 (d->v[j - 1].line == t.line && d->v[j - 1].col > t.col))) {
			d->v[j] = d->v[j - 1];
			j--;
		}
		d->v[j] = t;
	}
}

void ward_diags_print(const struct ward_diags *d, FILE *f)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct ward_diag *g = &d->v[i];
		if (g->line)
			fprintf(f, "%s:%u:%u: %s%s\n", g->file, g->line, g->col,
				g->warning ? "warning: " : "", g->msg);
		else
			fprintf(f, "%s: %s%s\n", g->file, g->warning ? "warning: " : "", g->msg);
	}
}

size_t ward_diags_errors(const struct ward_diags *d)
{
	size_t n = 0;
	for (size_t i = 0; i < d->n; i++)
		n += !d->v[i].warning;
	return n;
}
