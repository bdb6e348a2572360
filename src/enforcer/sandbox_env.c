// SPDX-License-Identifier: MIT
#include "enforcer/sandbox_env.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/env.h"

static size_t name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');

	return eq ? (size_t)(eq - entry) : strlen(entry);
}

static bool same_name(const char *a, const char *b)
{
	size_t n = name_len(a);

	return n == name_len(b) && !strncmp(a, b, n);
}

static bool has_name(char *const *list, size_t n, const char *entry)
{
	for (size_t i = 0; i < n; i++)
		if (same_name(list[i], entry))
			return true;
	return false;
}

static int append(char ***v, size_t *n, char *s, struct ward_error *err)
{
	char **nv;

	if (!s)
		return ward_err(err, -ENOMEM, "environment");
	if (*n >= WARD_ENV_MAX) {
		free(s);
		return ward_errx(err, -E2BIG, "more than %d environment variables", WARD_ENV_MAX);
	}
	nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv) {
		free(s);
		return ward_err(err, -ENOMEM, "environment");
	}
	*v = nv;
	(*v)[(*n)++] = s;
	return 0;
}

int ward_sandbox_env_prepare(const struct ward_policy *p, char *const *envp,
			     struct ward_sandbox_env *ret, struct ward_error *err)
{
	struct ward_sandbox_env e = { 0 };
	char name[256];
	int r = 0;

	for (char *const *v = envp; v && *v && r >= 0; v++) {
		size_t n = name_len(*v);

		/* longer names are not in the core set, and a pass entry that long is absurd */
		if (!strchr(*v, '=') || n == 0 || n >= sizeof(name) ||
		    has_name(e.pass, e.n_pass, *v))
			continue;
		memcpy(name, *v, n);
		name[n] = '\0';
		/* where the decision log is: ward's configuration, not the command's */
		if (!strcmp(name, "WARD_LOG"))
			continue;
		if (ward_env_passes(p, name))
			r = append(&e.pass, &e.n_pass, strdup(*v), err);
	}
	for (size_t i = 0; r >= 0 && i < p->n_env_set; i++) {
		char *kv = NULL;

		if (asprintf(&kv, "%s=%s", p->env_set[i].name, p->env_set[i].value) < 0)
			kv = NULL;
		r = append(&e.set, &e.n_set, kv, err);
	}
	if (r < 0) {
		ward_sandbox_env_free(&e);
		return r;
	}
	*ret = e;
	return 0;
}

void ward_sandbox_env_free(struct ward_sandbox_env *e)
{
	for (size_t i = 0; i < e->n_pass; i++)
		free(e->pass[i]);
	for (size_t i = 0; i < e->n_set; i++)
		free(e->set[i]);
	free(e->pass);
	free(e->set);
	*e = (struct ward_sandbox_env){ 0 };
}

size_t ward_sandbox_env_build(const struct ward_sandbox_env *e, char *const *extra, size_t n_extra,
			      char **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < e->n_pass && n + 1 < max; i++)
		if (!has_name(extra, n_extra, e->pass[i]) &&
		    !has_name(e->set, e->n_set, e->pass[i]))
			out[n++] = e->pass[i];
	for (size_t i = 0; i < n_extra && n + 1 < max; i++)
		if (!has_name(e->set, e->n_set, extra[i]) &&
		    !has_name(extra + i + 1, n_extra - i - 1, extra[i]))
			out[n++] = extra[i];
	for (size_t i = 0; i < e->n_set && n + 1 < max; i++)
		out[n++] = e->set[i];
	out[n] = NULL;
	return n;
}

void ward_sandbox_env_names(char *const *env, char *buf, size_t len)
{
	size_t n = 0;

	if (!len)
		return;
	buf[0] = '\0';
	for (char *const *v = env; *v; v++) {
		size_t k = name_len(*v);

		/* room for this name, its comma and a final ",..." */
		if (n + k + 1 + 4 >= len) {
			snprintf(buf + n, len - n, "%s...", n ? "," : "");
			return;
		}
		n += snprintf(buf + n, len - n, "%s%.*s", n ? "," : "", (int)k, *v);
	}
}
