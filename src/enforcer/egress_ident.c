// SPDX-License-Identifier: MIT
/* From the policy's binary paths to kernel identities (dev, inode): stat()
 * follows symlinks, so /usr/bin/python3 -> python3.11 is the real file's
 * identity, and a copy of an allowed binary is another inode that matches
 * nothing. Globs are expanded by a bounded directory walk. */
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "common/cleanup.h"
#include "common/strv.h"
#include "enforcer/egress_internal.h"
#include "policy/client.h"

DEFINE_CLEANUP(DIR *, closedir)

uint64_t ward_egress_kdev(dev_t dev)
{
	/* the kernel's s_dev is MAJOR << 20 | MINOR, unlike glibc's st_dev */
	return ((uint64_t)major(dev) << 20) | minor(dev);
}

int egress_warn(struct ward_egress *e, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = ward_strv_vappendf(&e->warnings, &e->n_warnings, fmt, ap);
	va_end(ap);
	return r;
}

struct glob_walk {
	struct ward_egress *e;
	const char *pattern;
	char **segs;
	size_t n_segs;
	size_t visited;
	bool capped;
	int matches;
	int (*cb)(void *ud, const char *path, const struct stat *st);
	void *ud;
};

static bool has_wildcard(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

static int walk(struct glob_walk *g, const char *dir, size_t seg, unsigned depth);

static int walk_match(struct glob_walk *g, const char *path, size_t seg, unsigned depth)
{
	struct stat st;

	if (seg == g->n_segs) {
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			return 0;
		g->matches++;
		return g->cb(g->ud, path, &st);
	}
	return walk(g, path, seg, depth);
}

/* dir matched segs[0..seg); continue with segs[seg..]. */
static int walk(struct glob_walk *g, const char *dir, size_t seg, unsigned depth)
{
	_cleanup_(closedirp) DIR *d = NULL;
	const char *s = g->segs[seg];
	bool globstar = strcmp(s, "**") == 0;
	char path[PATH_MAX];
	struct dirent *de;
	int r;

	if (g->capped)
		return 0;
	if (!has_wildcard(s)) {
		if (snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ? dir : "", s) >=
		    (int)sizeof(path))
			return 0;
		return walk_match(g, path, seg + 1, depth);
	}
	if (depth >= WARD_EGRESS_GLOB_MAX_DEPTH) {
		g->capped = true;
		return egress_warn(g->e, "binary pattern '%s': deeper than %d directories, not all "
				   "matches loaded", g->pattern, WARD_EGRESS_GLOB_MAX_DEPTH);
	}
	/* '**' matches zero directories too */
	if (globstar) {
		r = walk_match(g, dir, seg + 1, depth);
		if (r < 0)
			return r;
	}
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (++g->visited > WARD_EGRESS_GLOB_MAX_ENTRIES) {
			g->capped = true;
			return egress_warn(g->e, "binary pattern '%s': more than %d directory entries, "
					   "not all matches loaded", g->pattern,
					   WARD_EGRESS_GLOB_MAX_ENTRIES);
		}
		if (snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ? dir : "", de->d_name) >=
		    (int)sizeof(path))
			continue;
		if (globstar) {
			struct stat st;

			/* never follow symlinked directories in '**': cycles */
			if (lstat(path, &st) < 0)
				continue;
			if (S_ISDIR(st.st_mode)) {
				r = walk(g, path, seg, depth + 1);
				if (r < 0)
					return r;
			}
			continue;
		}
		if (fnmatch(s, de->d_name, FNM_PERIOD) != 0)
			continue;
		r = walk_match(g, path, seg + 1, depth + 1);
		if (r < 0)
			return r;
	}
	return 0;
}

int egress_glob(struct ward_egress *e, const char *pattern,
		int (*cb)(void *ud, const char *path, const struct stat *st), void *ud)
{
	_cleanup_free_ char *copy = NULL;
	_cleanup_free_ char **segs = NULL;
	struct glob_walk g = { .e = e, .pattern = pattern, .cb = cb, .ud = ud };
	size_t n = 0;
	char *save = NULL;
	int r;

	if (pattern[0] != '/')
		return -EINVAL;
	copy = strdup(pattern);
	segs = calloc(strlen(pattern) / 2 + 2, sizeof(*segs));
	if (!copy || !segs)
		return -ENOMEM;
	for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save))
		segs[n++] = t;
	g.segs = segs;
	g.n_segs = n;
	r = n ? walk(&g, "/", 0, 0) : 0;
	return r < 0 ? r : g.matches;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int egress_idents_alloc(struct ward_egress *e)
{
	if (e->idents)
		return 0;
	e->idents = calloc(WARD_MAX_IDENTITIES, sizeof(*e->idents));
	e->entries = calloc(WARD_MAX_IDENTITIES, sizeof(*e->entries));
	return e->idents && e->entries ? 0 : -ENOMEM;
}

const struct egress_ident *egress_ident_find(const struct ward_egress *e, uint64_t dev, uint64_t ino)
{
	size_t n = egress_n_idents(e);

	for (size_t i = 0; i < n; i++)
		if (e->idents[i].key.dev == dev && e->idents[i].key.ino == ino)
			return &e->idents[i];
	return NULL;
}

const char *ward_egress_binary(const struct ward_egress *e, uint64_t dev, uint64_t ino)
{
	const struct egress_ident *id = egress_ident_find(e, dev, ino);

	return id ? id->path : NULL;
}

struct add_ctx {
	struct ward_egress *e;
	uint32_t pol; /* UINT32_MAX: inference only */
	uint32_t flags;
};

static int add_ident(void *ud, const char *path, const struct stat *st)
{
	struct add_ctx *c = ud;
	struct ward_egress *e = c->e;
	uint64_t dev = ward_egress_kdev(st->st_dev);
	struct egress_ident *id = (struct egress_ident *)egress_ident_find(e, dev, st->st_ino);

	if (!id) {
		char *real;

		if (e->n_idents >= WARD_MAX_IDENTITIES)
			return -E2BIG;
		if (egress_idents_alloc(e) < 0)
			return -ENOMEM;
		real = realpath(path, NULL);
		if (!real)
			real = strdup(path);
		if (!real)
			return -ENOMEM;
		/* before the handle is shared: no reader yet */
		id = &e->idents[e->n_idents++];
		*id = (struct egress_ident){ .key = { .dev = dev, .ino = st->st_ino },
					     .path = real,
					     .entry = WARD_ENTRY_NONE };
	}
	id->flags |= c->flags;
	if (c->pol != UINT32_MAX) {
		uint32_t *p;

		for (size_t i = 0; i < id->n_pols; i++)
			if (id->pols[i] == c->pol)
				return 0;
		p = realloc(id->pols, (id->n_pols + 1) * sizeof(*p));
		if (!p)
			return -ENOMEM;
		id->pols = p;
		id->pols[id->n_pols++] = c->pol;
		qsort(id->pols, id->n_pols, sizeof(*id->pols), cmp_u32);
	}
	return 0;
}

static int add_binary(struct ward_egress *e, const struct ward_binary *b, uint32_t pol,
		      uint32_t flags, struct ward_error *err)
{
	struct add_ctx c = { .e = e, .pol = pol, .flags = flags };
	int r;

	if (b->ancestors)
		c.flags |= WARD_IDENT_ANCESTORS;
	if (!b->path)
		return 0; /* sha256: matched when a file with that content is executed */
	r = egress_glob(e, b->path, add_ident, &c);
	if (r == -E2BIG)
		return ward_errx(err, r, "more than %d binaries in the network policies",
				 WARD_MAX_IDENTITIES);
	if (r < 0)
		return ward_err(err, r, "resolve binary '%s'", b->path);
	/* fail closed: the binary simply has no identity, so it gets no network */
	if (r == 0)
		return egress_warn(e, "binary '%s' (line %u) matches no executable file; it gets "
				   "no network", b->path, b->pos.line);
	return 0;
}

int egress_entry_for(struct ward_egress *e, const struct ward_policy *p, struct egress_ident *id)
{
	struct egress_entry *n;
	size_t len = 0;
	char *rule;

	if (e->n_entries >= WARD_MAX_IDENTITIES || egress_idents_alloc(e) < 0)
		return -E2BIG;
	for (size_t i = 0; i < e->n_entries; i++) {
		if (e->entries[i].n_pols != id->n_pols)
			continue;
		if (memcmp(e->entries[i].pols, id->pols, id->n_pols * sizeof(*id->pols)) == 0)
			return (int)i;
	}
	for (size_t i = 0; i < id->n_pols; i++)
		len += strlen(p->net[id->pols[i]].key) + 1;
	rule = calloc(1, len + 1);
	if (!rule)
		return -ENOMEM;
	for (size_t i = 0; i < id->n_pols; i++) {
		if (i)
			strcat(rule, ",");
		strcat(rule, p->net[id->pols[i]].key);
	}
	n = &e->entries[e->n_entries];
	*n = (struct egress_entry){ .rule = rule, .n_pols = id->n_pols };
	n->pols = malloc(id->n_pols * sizeof(*n->pols));
	if (!n->pols) {
		free(rule);
		return -ENOMEM;
	}
	memcpy(n->pols, id->pols, id->n_pols * sizeof(*n->pols));
	__atomic_store_n(&e->n_entries, e->n_entries + 1, __ATOMIC_RELEASE);
	return (int)e->n_entries - 1;
}

int egress_idents_build(struct ward_egress *e, const struct ward_policy *p, struct ward_error *err)
{
	int r;

	for (size_t i = 0; i < p->n_net; i++)
		for (size_t j = 0; j < p->net[i].n_binaries; j++) {
			r = add_binary(e, &p->net[i].binaries[j], (uint32_t)i, 0, err);
			if (r < 0)
				return ward_err_prefix(err, "network policy '%s'", p->net[i].key);
		}
	/* with inference routes and an inference.binaries list, only those may
	 * reach the proxy for inference.local (without routes, nobody) */
	if (ward_inference_scope(p) == WARD_INFERENCE_LISTED)
		for (size_t j = 0; j < p->n_inference_binaries; j++) {
			r = add_binary(e, &p->inference_binaries[j], UINT32_MAX, WARD_IDENT_INFERENCE,
				       err);
			if (r < 0)
				return ward_err_prefix(err, "inference binaries");
		}
	for (size_t i = 0; i < e->n_idents; i++) {
		if (!e->idents[i].n_pols)
			continue;
		r = egress_entry_for(e, p, &e->idents[i]);
		if (r < 0)
			return ward_err(err, r, "group network policies");
		e->idents[i].entry = (uint32_t)r;
	}
	return 0;
}

void egress_idents_free(struct ward_egress *e)
{
	for (size_t i = 0; i < e->n_idents; i++) {
		free(e->idents[i].path);
		free(e->idents[i].pols);
	}
	free(e->idents);
	e->idents = NULL;
	e->n_idents = 0;
	for (size_t i = 0; i < e->n_entries; i++) {
		free(e->entries[i].rule);
		free(e->entries[i].pols);
	}
	free(e->entries);
	e->entries = NULL;
	e->n_entries = 0;
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

int ward_egress_connect_ports(const struct ward_policy *p, const uint16_t *base, size_t n_base,
			      uint16_t **ret, size_t *ret_n)
{
	size_t n = n_base, k = 0;
	uint16_t *v;

	for (size_t i = 0; i < p->n_net; i++)
		for (size_t j = 0; j < p->net[i].n_endpoints; j++)
			n += p->net[i].endpoints[j].n_ports;
	v = malloc((n ? n : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n_base; i++)
		v[k++] = base[i];
	for (size_t i = 0; i < p->n_net; i++)
		for (size_t j = 0; j < p->net[i].n_endpoints; j++)
			for (size_t m = 0; m < p->net[i].endpoints[j].n_ports; m++)
				v[k++] = p->net[i].endpoints[j].ports[m];
	qsort(v, k, sizeof(*v), cmp_u16);
	n = 0;
	for (size_t i = 0; i < k; i++)
		if (n == 0 || v[n - 1] != v[i])
			v[n++] = v[i];
	*ret = v;
	*ret_n = n;
	return 0;
}
