// SPDX-License-Identifier: MIT
/* What `ward run` prints on stderr when the command is done and stderr is a
 * terminal: the run's refusals on one screen (counts per layer, the most
 * frequent refused destinations and paths, and the policy lines that would
 * allow them), so a user sees at once why an agent stalled. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/suggest.h"
#include "run_summary.h"

#define MAX_KINDS 512 /* distinct refusals tracked; more are counted, not listed */
#define TOP 8

struct kind {
	char *layer, *binary, *dest, *method, *rule, *reason;
	char *host, *path;
	long long port;
	bool has_port;
	uint64_t count;
};

struct summary {
	struct kind kinds[MAX_KINDS];
	size_t n_kinds;
	uint64_t total, untracked;
	uint64_t per_layer[16];
};

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static size_t layer_index(const char *layer)
{
	size_t i = 0;

	while (ward_audit_layers[i] && !same(ward_audit_layers[i], layer))
		i++;
	return i < 15 ? i : 15;
}

static int on_row(const struct ward_audit_row *r, void *userdata)
{
	struct summary *s = userdata;
	char dest[4200];
	struct kind *k;

	s->total++;
	s->per_layer[layer_index(r->layer)]++;
	ward_audit_row_destination(r, dest, sizeof(dest));
	for (size_t i = 0; i < s->n_kinds; i++) {
		k = &s->kinds[i];
		if (same(k->layer, r->layer) && same(k->binary, r->binary) &&
		    !strcmp(k->dest, dest) && same(k->method, r->method)) {
			k->count++;
			return 0;
		}
	}
	if (s->n_kinds == MAX_KINDS) {
		s->untracked++;
		return 0;
	}
	k = &s->kinds[s->n_kinds];
	*k = (struct kind){ .layer = dup_or_null(r->layer),
			    .binary = dup_or_null(r->binary),
			    .dest = strdup(dest),
			    .method = dup_or_null(r->method),
			    .rule = dup_or_null(r->rule),
			    .reason = dup_or_null(r->reason),
			    .host = dup_or_null(r->host ? r->host : r->ip),
			    .path = dup_or_null(r->path),
			    .port = r->port,
			    .has_port = r->has_port,
			    .count = 1 };
	if (!k->dest)
		return -1;
	s->n_kinds++;
	return 0;
}

static int by_count(const void *a, const void *b)
{
	const struct kind *x = a, *y = b;

	return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

/* Does an fs row's access list ("read,dir", "write,create") change anything? */
static bool writes(const char *access)
{
	static const char *const w[] = { "write",  "create", "truncate", "delete",
					 "rename", "link",   "setattr" };

	for (size_t i = 0; access && i < sizeof(w) / sizeof(*w); i++)
		if (strstr(access, w[i]))
			return true;
	return false;
}

/* The policy line that would allow k, in the file's own YAML terms. */
static void hint(FILE *out, const struct kind *k)
{
	char key[72];
	bool net = same(k->layer, "kernel") || same(k->layer, "proxy") || same(k->layer, "dns") ||
		   same(k->layer, "l7") || same(k->layer, "unix");

	if (net && !k->binary)
		return;
	if (net)
		ward_suggest_key(k->binary, key, sizeof(key));
	if (same(k->layer, "unix") && k->path)
		fprintf(out,
			"  network_policies.%s: { binaries: [{ path: %s }], endpoints: [{ unix: %s }] }\n",
			key, k->binary, k->path);
	else if (same(k->layer, "l7") && k->host && k->method && k->path)
		fprintf(out,
			"  network_policies.%s: { binaries: [{ path: %s }], endpoints: [{ host: %s, port: %lld, "
			"protocol: rest, rules: [{ allow: { method: %s, path: \"%s\" } }] }] }\n",
			key, k->binary, k->host, k->has_port ? k->port : 443, k->method, k->path);
	else if (net && k->host)
		fprintf(out,
			"  network_policies.%s: { binaries: [{ path: %s }], endpoints: [{ host: %s, port: %lld }] }\n",
			key, k->binary, k->host, k->has_port ? k->port : 443);
	else if (same(k->layer, "fs") && k->path)
		fprintf(out, "  filesystem_policy.%s: [%s]\n",
			writes(k->method) ? "read_write" : "read_only", k->path);
	else if (same(k->layer, "lifecycle") && k->rule &&
		 (same(k->rule, "memory") || same(k->rule, "pids") || same(k->rule, "cpu")))
		fprintf(out, "  resources.%s: a higher limit\n", k->rule);
	else if (same(k->layer, "inference"))
		fprintf(out, "  inference: %s\n",
			k->reason ? k->reason : "a route or a larger budget");
}

int ward_run_summary(const char *log_path, const char *sandbox, FILE *out)
{
	struct ward_audit_filter f = { .sandbox = sandbox, .action = "deny" };
	struct ward_audit_reader *rd = NULL;
	struct ward_error err = { 0 };
	struct summary *s = calloc(1, sizeof(*s));
	size_t shown;
	int r;

	if (!s)
		return -1;
	r = ward_audit_reader_open(log_path, &rd, &err);
	if (r >= 0)
		r = ward_audit_reader_each(rd, &f, on_row, s, &err);
	ward_audit_reader_close(rd);
	if (r >= 0 && s->total) {
		qsort(s->kinds, s->n_kinds, sizeof(*s->kinds), by_count);
		fprintf(out, "\nward: %llu refusal%s in sandbox %s (", (unsigned long long)s->total,
			s->total == 1 ? "" : "s", sandbox);
		for (size_t i = 0, sep = 0; i < 16; i++)
			if (s->per_layer[i])
				fprintf(out, "%s%s %llu", sep++ ? ", " : "",
					i < 15 && ward_audit_layers[i] ? ward_audit_layers[i]
								       : "other",
					(unsigned long long)s->per_layer[i]);
		fputs("):\n", out);
		shown = s->n_kinds < TOP ? s->n_kinds : TOP;
		for (size_t i = 0; i < shown; i++) {
			const struct kind *k = &s->kinds[i];

			fprintf(out, "  %6llu  %-9s %-28.28s %-30.60s%s%s\n",
				(unsigned long long)k->count, k->layer ? k->layer : "-",
				k->binary ? k->binary : "-", k->dest, k->reason ? "  " : "",
				k->reason ? k->reason : "");
		}
		if (s->n_kinds > shown || s->untracked)
			fprintf(out, "  ... and %llu more\n",
				(unsigned long long)(s->n_kinds - shown + s->untracked));
		fputs("Policy lines that would allow the most frequent ones:\n", out);
		for (size_t i = 0; i < shown; i++)
			hint(out, &s->kinds[i]);
		fprintf(out, "All of them: ward policy suggest --log %s --sandbox %s\n", log_path,
			sandbox);
	}
	for (size_t i = 0; i < s->n_kinds; i++) {
		struct kind *k = &s->kinds[i];

		free(k->layer), free(k->binary), free(k->dest), free(k->method);
		free(k->rule), free(k->reason), free(k->host), free(k->path);
	}
	free(s);
	return r < 0 ? r : 0;
}
