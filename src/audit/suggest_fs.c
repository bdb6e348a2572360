// SPDX-License-Identifier: MIT
/* `ward policy suggest`, the filesystem: see suggest_fs.h. */
#include "audit/suggest_fs.h"
#include "audit/audit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (!strcmp(dir, "/"))
		return true;
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

int ward_suggest_fs_dir(const char *path, bool is_dir, char *out, size_t outsz)
{
	size_t len, depth = 0, cut = 0;
	char *slash;

	if (!path || path[0] != '/')
		return -EINVAL;
	if ((size_t)snprintf(out, outsz, "%s", path) >= outsz)
		return -ENOBUFS;
	len = strlen(out);
	while (len > 1 && out[len - 1] == '/')
		out[--len] = '\0';
	/* a device node is granted alone: ward's /dev is its own */
	if (under(out, "/dev"))
		return 0;
	if (!is_dir) {
		slash = strrchr(out, '/');
		if (slash == out) /* a file in "/": itself, never "/" */
			return 0;
		*slash = '\0';
	}
	for (size_t i = 0; out[i]; i++)
		if (out[i] == '/' && ++depth > WARD_SUGGEST_FS_DEPTH) {
			cut = i;
			break;
		}
	if (cut)
		out[cut] = '\0';
	return 0;
}

struct learnt {
	char *path;
	char *binary; /* the first that made it, for the comment */
	size_t rows;
};

struct fs_collect {
	struct learnt *ro, *rw;
	size_t n_ro, n_rw;
	bool workdir; /* a row in the workdir without include_workdir */
	size_t used;
	int error;
};

static int add(struct learnt **v, size_t *n, const char *path, const char *binary)
{
	struct learnt *l;

	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*v)[i].path, path)) {
			(*v)[i].rows++;
			return 0;
		}
	l = realloc(*v, (*n + 1) * sizeof(**v));
	if (!l)
		return -ENOMEM;
	*v = l;
	l = &l[(*n)++];
	*l = (struct learnt){ .path = strdup(path),
			      .binary = binary ? strdup(binary) : NULL,
			      .rows = 1 };
	return l->path && (!binary || l->binary) ? 0 : -ENOMEM;
}

/* "read", "write", "exec" (learn rows) or a denial's access list
 * ("read,write,create"): does it need a writable mount? */
static bool writes(const char *method)
{
	static const char *const w[] = { "write",  "create", "truncate", "delete",
					 "rename", "link",   "setattr" };

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		if (strstr(method, w[i]))
			return true;
	return false;
}

static int on_row(const struct ward_audit_row *r, void *userdata)
{
	struct fs_collect *c = userdata;
	char dir[4096];
	bool w;
	int ret;

	if (!is(r->action, "audit") && !is(r->action, "deny"))
		return 0;
	if (is(r->rule, "include_workdir")) {
		c->workdir = true;
		c->used++;
		return 0;
	}
	/* protected paths (filesystem_policy.binaries) are a reviewer's call */
	if (!is(r->rule, "filesystem_policy") || !r->path || r->path[0] != '/' || !r->method ||
	    !*r->method)
		return 0;
	w = writes(r->method);
	/* /proc is ward's; /sys is never written */
	if (under(r->path, "/proc") || (w && under(r->path, "/sys")))
		return 0;
	ret = ward_suggest_fs_dir(r->path, !w && r->reason && strstr(r->reason, " directory"), dir,
				  sizeof(dir));
	if (ret < 0)
		return 0;
	ret = w ? add(&c->rw, &c->n_rw, dir, r->binary) : add(&c->ro, &c->n_ro, dir, r->binary);
	if (ret < 0) {
		c->error = ret;
		return ret;
	}
	c->used++;
	return 0;
}

/* In order: the policy's paths as written, then the learnt ones as the
 * rows first showed them. Entries another covers (an ancestor or the same path) are dropped; a
 * read-only entry covered by a read-write one too (the deepest mount wins:
 * it would take the write back). */
static bool covered(const char *path, const struct learnt *v, size_t n, size_t self)
{
	for (size_t i = 0; i < n; i++)
		if (i != self && v[i].path && under(path, v[i].path) &&
		    (strcmp(path, v[i].path) || i < self))
			return true;
	return false;
}

static void yq(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void print_list(FILE *f, const char *name, struct learnt *v, size_t n)
{
	size_t shown = 0;

	for (size_t i = 0; i < n; i++)
		shown += v[i].path != NULL;
	fprintf(f, "  %s:%s\n", name, shown ? "" : " []");
	for (size_t i = 0; i < n; i++) {
		if (!v[i].path)
			continue;
		fputs("    - ", f);
		yq(f, v[i].path);
		if (v[i].rows)
			fprintf(f, "  # learnt: %zu row%s, first by %s", v[i].rows,
				v[i].rows == 1 ? "" : "s", v[i].binary ? v[i].binary : "?");
		fputs("\n", f);
	}
}

static void free_list(struct learnt *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].binary);
	}
	free(v);
}

int ward_suggest_fs_print(FILE *f, const char *path, const struct ward_suggest_opts *o,
			  const struct ward_policy *p, struct ward_error *err)
{
	struct fs_collect c = { 0 };
	struct ward_audit_filter flt = { .layer = "fs" };
	struct ward_audit_reader *rd = NULL;
	int r = 0;

	flt.sandbox = o ? o->sandbox : NULL;
	flt.since_ns = o ? o->since_ns : 0;
	/* the policy's own paths first, learnt ones after (rows 0: the policy's) */
	for (size_t i = 0; r >= 0 && p && i < p->n_read_only; i++)
		if (add(&c.ro, &c.n_ro, p->read_only[i].path, NULL) < 0)
			r = ward_err(err, -ENOMEM, "suggest");
		else
			c.ro[c.n_ro - 1].rows = 0;
	for (size_t i = 0; r >= 0 && p && i < p->n_read_write; i++)
		if (add(&c.rw, &c.n_rw, p->read_write[i].path, NULL) < 0)
			r = ward_err(err, -ENOMEM, "suggest");
		else
			c.rw[c.n_rw - 1].rows = 0;
	if (r >= 0)
		r = ward_audit_reader_open(path, &rd, err);
	if (r >= 0) {
		r = ward_audit_reader_each(rd, &flt, on_row, &c, err);
		ward_audit_reader_close(rd);
	}
	if (c.error)
		r = ward_err(err, c.error, "suggest: filesystem");
	if (r < 0)
		goto out;
	if (!p && !c.used)
		goto out; /* nothing to say: the caller notes the missing policy */
	for (size_t i = 0; i < c.n_rw; i++)
		if (covered(c.rw[i].path, c.rw, c.n_rw, i)) {
			free(c.rw[i].path);
			c.rw[i].path = NULL;
		}
	for (size_t i = 0; i < c.n_ro; i++)
		if (covered(c.ro[i].path, c.ro, c.n_ro, i) ||
		    covered(c.ro[i].path, c.rw, c.n_rw, (size_t)-1)) {
			free(c.ro[i].path);
			c.ro[i].path = NULL;
		}

	fputs("filesystem_policy:\n", f);
	fprintf(f, "  include_workdir: %s%s\n",
		(p && p->include_workdir) || c.workdir ? "true" : "false",
		c.workdir && !(p && p->include_workdir) ? "  # learnt: accessed in the workdir"
							: "");
	print_list(f, "read_only", c.ro, c.n_ro);
	print_list(f, "read_write", c.rw, c.n_rw);
	if (!p)
		goto out;
	fprintf(f, "landlock:\n  compatibility: %s\n",
		p->landlock_compat == WARD_LANDLOCK_HARD_REQUIREMENT ? "hard_requirement"
								     : "best_effort");
	if (p->has_user || p->has_group) {
		fputs("process:\n", f);
		if (p->has_user) {
			if (p->run_as_user)
				fprintf(f, "  run_as_user: %s\n", p->run_as_user);
			else
				fprintf(f, "  run_as_user: %u\n", (unsigned)p->uid);
		}
		if (p->has_group) {
			if (p->run_as_group)
				fprintf(f, "  run_as_group: %s\n", p->run_as_group);
			else
				fprintf(f, "  run_as_group: %u\n", (unsigned)p->gid);
		}
	}
out:
	free_list(c.ro, c.n_ro);
	free_list(c.rw, c.n_rw);
	return r < 0 ? r : (int)c.used;
}
