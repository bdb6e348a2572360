// SPDX-License-Identifier: MIT
/* From the policy's binary paths to kernel identities (dev, inode) and their
 * pins (common/exe_ident.h: the key the BPF programs read, also on overlayfs
 * and btrfs): symlinks are followed, so /usr/bin/python3 -> python3.11 is the
 * real file's identity, and a copy of an allowed binary is another inode
 * that matches nothing. Globs are expanded by a bounded directory walk. */
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
#include "common/util.h"
#include <unistd.h>
#include <bpf/bpf.h>
#include "enforcer/egress_internal.h"
#include "enforcer/exe.h"
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
		return egress_warn(g->e,
				   "binary pattern '%s': deeper than %d directories, not all "
				   "matches loaded",
				   g->pattern, WARD_EGRESS_GLOB_MAX_DEPTH);
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
			return egress_warn(g->e,
					   "binary pattern '%s': more than %d directory entries, "
					   "not all matches loaded",
					   g->pattern, WARD_EGRESS_GLOB_MAX_ENTRIES);
		}
		if (snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ? dir : "",
			     de->d_name) >= (int)sizeof(path))
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

/* ---- interned strings and tables ---- */

struct egress_blob {
	size_t len;
	uint64_t hash;
	_Alignas(void *) unsigned char data[];
};

static uint64_t blob_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static int blobs_grow(struct egress_blobs *bs)
{
	size_t cap = bs->cap ? bs->cap * 2 : 64;
	struct egress_blob **v = calloc(cap, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < bs->cap; i++) {
		struct egress_blob *b = bs->slots[i];
		size_t k;

		if (!b)
			continue;
		for (k = b->hash & (cap - 1); v[k]; k = (k + 1) & (cap - 1))
			;
		v[k] = b;
	}
	free(bs->slots);
	bs->slots = v;
	bs->cap = cap;
	return 0;
}

/* The stored copy of data[0..len), added when new; NULL out of memory. */
static const void *blobs_intern(struct egress_blobs *bs, const void *data, size_t len)
{
	uint64_t h = blob_hash(data, len);
	struct egress_blob *b;
	size_t k;

	if ((bs->n + 1) * 2 > bs->cap && blobs_grow(bs) < 0)
		return NULL;
	for (k = h & (bs->cap - 1); (b = bs->slots[k]); k = (k + 1) & (bs->cap - 1))
		if (b->hash == h && b->len == len && memcmp(b->data, data, len) == 0)
			return b->data;
	b = malloc(sizeof(*b) + len);
	if (!b)
		return NULL;
	b->len = len;
	b->hash = h;
	memcpy(b->data, data, len);
	bs->slots[k] = b;
	bs->n++;
	return b->data;
}

static void blobs_free(struct egress_blobs *bs)
{
	for (size_t i = 0; i < bs->cap; i++)
		free(bs->slots[i]);
	free(bs->slots);
	*bs = (struct egress_blobs){ 0 };
}

const char *egress_intern(struct egress_strtab *t, const char *s)
{
	const char *r;

	if (!s)
		return NULL;
	pthread_mutex_lock(&t->lock);
	r = blobs_intern(&t->strings, s, strlen(s) + 1);
	pthread_mutex_unlock(&t->lock);
	return r;
}

const char *const *egress_intern_table(struct egress_strtab *t, const char *const *v, size_t n)
{
	const char *const *r;

	if (!n)
		return NULL;
	pthread_mutex_lock(&t->lock);
	r = blobs_intern(&t->tables, v, n * sizeof(*v));
	pthread_mutex_unlock(&t->lock);
	return r;
}

size_t egress_strtab_n_strings(struct egress_strtab *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->strings.n;
	pthread_mutex_unlock(&t->lock);
	return n;
}

size_t egress_strtab_n_tables(struct egress_strtab *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->tables.n;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* ---- generations ---- */

void egress_gens_init(struct egress_gens *gs)
{
	memset(gs, 0, sizeof(*gs));
	pthread_rwlock_init(&gs->lock, NULL);
	pthread_mutex_init(&gs->strs.lock, NULL);
	gs->next_seq = 1;
}

int egress_gen_new(struct egress_gens *gs, const struct ward_policy *p, struct egress_gen **ret)
{
	struct egress_gen *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->strs = &gs->strs;
	g->idents = calloc(WARD_MAX_IDENTITIES, sizeof(*g->idents));
	g->entries = calloc(WARD_MAX_IDENTITIES, sizeof(*g->entries));
	g->keys = calloc(p->n_net ? p->n_net : 1, sizeof(*g->keys));
	if (!g->idents || !g->entries || !g->keys) {
		egress_gen_free(g);
		return -ENOMEM;
	}
	for (size_t i = 0; i < p->n_net; i++) {
		if (!(g->keys[i] = egress_intern(g->strs, p->net[i].key))) {
			egress_gen_free(g);
			return -ENOMEM;
		}
		g->n_keys = i + 1;
	}
	g->seq = gs->next_seq;
	g->policy = p;
	memcpy(g->rev, p->rev, sizeof(g->rev));
	g->rev[sizeof(g->rev) - 1] = '\0';
	/* inference routes and no inference.binaries list: anyone may ask */
	if (ward_inference_scope(p) == WARD_INFERENCE_EVERY_BINARY)
		g->flags |= WARD_CFG_INFERENCE_ALL;
	for (size_t i = 0; i < ARRAY_SIZE(g->fds); i++)
		g->fds[i] = -1;
	*ret = g;
	return 0;
}

void egress_gen_free(struct egress_gen *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(g->fds); i++)
		if (g->fds[i] >= 0)
			close(g->fds[i]);
	/* strings are the handle's (interned): a lookup may still hold them */
	for (size_t i = 0; g->idents && i < g->n_idents; i++)
		free(g->idents[i].pols);
	for (size_t i = 0; g->entries && i < g->n_entries; i++)
		free(g->entries[i].pols);
	free(g->keys);
	free(g->idents);
	free(g->entries);
	free(g->port_keys);
	free(g->cidr_keys);
	free(g);
}

int egress_slots_take(struct egress_slots *sl, uint32_t seq, bool *ret_placed)
{
	int fd;

	if (seq == 1) {
		*ret_placed = true;
		fd = fcntl(sl->first_fd, F_DUPFD_CLOEXEC, 3);
		return fd < 0 ? -errno : fd;
	}
	*ret_placed = sl->ready_fd >= 0 && sl->ready_seq == seq;
	if (*ret_placed) {
		fd = sl->ready_fd;
		sl->ready_fd = -1;
		return fd;
	}
	return sl->create();
}

void egress_slots_giveback(struct egress_slots *sl, uint32_t seq, int fd, bool placed)
{
	uint8_t key[256];

	if (fd < 0)
		return;
	if (!placed) {
		close(fd);
		return;
	}
	/* nobody reads it (not in force): empty it for the next attempt */
	while (bpf_map_get_next_key(fd, NULL, key) == 0)
		if (bpf_map_delete_elem(fd, key) < 0)
			break;
	if (seq == 1) {
		close(fd); /* a copy of first_fd */
		return;
	}
	sl->ready_fd = fd;
	sl->ready_seq = seq;
}

int egress_slots_put(struct egress_slots *sl, uint32_t seq, int fd, bool placed)
{
	uint32_t slot = seq % WARD_GEN_SLOTS;

	if (placed)
		return 0;
	return bpf_map_update_elem(sl->outer_fd, &slot, &fd, BPF_ANY);
}

void egress_slots_prepare(struct egress_slots *sl, uint32_t seq)
{
	uint32_t slot = (seq + 1) % WARD_GEN_SLOTS;
	int fd = sl->create();

	if (fd < 0)
		return;
	if (bpf_map_update_elem(sl->outer_fd, &slot, &fd, BPF_ANY) < 0) {
		close(fd);
		return;
	}
	if (sl->ready_fd >= 0)
		close(sl->ready_fd);
	sl->ready_fd = fd;
	sl->ready_seq = seq + 1;
}

void egress_slots_destroy(struct egress_slots *sl)
{
	if (sl->ready_fd >= 0)
		close(sl->ready_fd);
	sl->ready_fd = -1;
}

/* g leaves the list: what rows need of it goes to its history (write
 * lock held; nobody adds entries to a generation not in force). Out of
 * memory: rows of it lack their rule, nothing else. */
static void gens_retire(struct egress_gens *gs, struct egress_gen *g)
{
	struct egress_hist *h = gs->hist ? &gs->hist[g->seq % EGRESS_HIST_KEPT] : NULL;
	size_t n = egress_n_entries(g);
	const char **rules;

	if (!h || h->seq != g->seq)
		return;
	rules = calloc(n ? n : 1, sizeof(*rules));
	if (rules) {
		for (size_t i = 0; i < n; i++)
			rules[i] = g->entries[i].rule;
		h->rules = egress_intern_table(&gs->strs, rules, n);
		h->n_rules = h->rules ? (uint32_t)n : 0;
		free(rules);
	}
	h->keys = egress_intern_table(&gs->strs, g->keys, g->n_keys);
	h->n_keys = h->keys ? (uint32_t)g->n_keys : 0;
}

void egress_gens_push(struct egress_gens *gs, struct egress_gen *g)
{
	struct egress_gen *old, **tail;
	size_t n = 1;

	/* before the lock: a failure only costs rows of old generations */
	if (!gs->hist)
		gs->hist = calloc(EGRESS_HIST_KEPT, sizeof(*gs->hist));
	pthread_rwlock_wrlock(&gs->lock);
	g->older = gs->cur;
	gs->cur = g;
	gs->next_seq = g->seq + 1;
	if (gs->hist)
		gs->hist[g->seq % EGRESS_HIST_KEPT] = (struct egress_hist){
			.seq = g->seq,
			.rev = g->rev[0] ? egress_intern(&gs->strs, g->rev) : NULL,
		};
	for (tail = &gs->cur; *tail && n < EGRESS_GENS_KEPT; tail = &(*tail)->older)
		n++;
	old = *tail ? (*tail)->older : NULL;
	if (*tail)
		(*tail)->older = NULL;
	for (struct egress_gen *o = old; o; o = o->older)
		gens_retire(gs, o);
	pthread_rwlock_unlock(&gs->lock);
	while (old) {
		struct egress_gen *o = old->older;

		egress_gen_free(old);
		old = o;
	}
}

void egress_gens_destroy(struct egress_gens *gs)
{
	struct egress_gen *g = gs->cur;

	while (g) {
		struct egress_gen *o = g->older;

		egress_gen_free(g);
		g = o;
	}
	gs->cur = NULL;
	free(gs->hist);
	gs->hist = NULL;
	blobs_free(&gs->strs.strings);
	blobs_free(&gs->strs.tables);
	pthread_mutex_destroy(&gs->strs.lock);
	pthread_rwlock_destroy(&gs->lock);
}

struct egress_gen *egress_gens_find(struct egress_gens *gs, uint32_t seq, bool bits16)
{
	for (struct egress_gen *g = gs->cur; g; g = g->older)
		if (bits16 ? (uint16_t)g->seq == (uint16_t)seq : g->seq == seq)
			return g;
	return NULL;
}

const struct egress_hist *egress_gens_hist(struct egress_gens *gs, uint32_t seq, bool bits16)
{
	const struct egress_hist *h;

	if (!gs->hist)
		return NULL;
	/* 2^16 is a multiple of the ring: the low 16 bits give the slot */
	h = &gs->hist[seq % EGRESS_HIST_KEPT];
	if (!h->seq || (bits16 ? (uint16_t)h->seq != (uint16_t)seq : h->seq != seq))
		return NULL;
	return h;
}

const char *egress_gens_rev(struct egress_gens *gs, uint32_t seq)
{
	const struct egress_hist *h = egress_gens_hist(gs, seq, false);

	return h ? h->rev : NULL;
}

const char *egress_gens_rule(struct egress_gens *gs, uint32_t seq, bool bits16, uint32_t entry)
{
	const struct egress_gen *g = egress_gens_find(gs, seq, bits16);
	const struct egress_hist *h;

	if (g)
		return entry < egress_n_entries(g) ? g->entries[entry].rule : NULL;
	h = egress_gens_hist(gs, seq, bits16);
	return h && entry < h->n_rules ? h->rules[entry] : NULL;
}

const char *egress_gens_key(struct egress_gens *gs, uint32_t seq, uint32_t pol)
{
	const struct egress_gen *g = egress_gens_find(gs, seq, false);
	const struct egress_hist *h;

	if (g)
		return pol < g->n_keys ? g->keys[pol] : NULL;
	h = egress_gens_hist(gs, seq, false);
	return h && pol < h->n_keys ? h->keys[pol] : NULL;
}

uint32_t egress_gens_seq16(struct egress_gens *gs, uint32_t seq16)
{
	const struct egress_gen *g = egress_gens_find(gs, seq16, true);
	const struct egress_hist *h;

	if (g)
		return g->seq;
	h = egress_gens_hist(gs, seq16, true);
	return h ? h->seq : 0;
}

const struct egress_ident *egress_ident_find(const struct egress_gen *g, uint64_t dev, uint64_t ino)
{
	size_t n = g ? egress_n_idents(g) : 0;

	for (size_t i = 0; i < n; i++)
		if (g->idents[i].key.dev == dev && g->idents[i].key.ino == ino)
			return &g->idents[i];
	return NULL;
}

const char *ward_egress_binary(const struct ward_egress *e, uint64_t dev, uint64_t ino)
{
	struct egress_gens *gs = (struct egress_gens *)&e->gens;
	const struct egress_ident *id;
	const char *path;

	pthread_rwlock_rdlock(&gs->lock);
	id = egress_ident_find(gs->cur, dev, ino);
	/* a path outlives its generation (strings of struct egress_gens) */
	path = id ? id->path : NULL;
	pthread_rwlock_unlock(&gs->lock);
	return path;
}

struct add_ctx {
	struct ward_egress *e;
	struct egress_gen *g;
	uint32_t pol; /* UINT32_MAX: inference only */
	uint32_t flags;
};

struct ward_ident_val egress_ident_val(const struct egress_ident *id)
{
	struct ward_ident_val v = id->pins;

	v.entry = id->entry;
	v.flags = id->flags | (id->pins.flags & WARD_IDENT_PIN_CTIME);
	return v;
}

static int add_ident(void *ud, const char *path, const struct stat *st)
{
	struct add_ctx *c = ud;
	struct egress_gen *g = c->g;
	_cleanup_free_ char *real = realpath(path, NULL);
	struct ward_exe_ident key;
	struct ward_ident_val pins = { 0 };
	struct egress_ident *id;
	int r;

	(void)st;
	/* the key the kernel will read (overlayfs, btrfs: not stat()'s st_dev) */
	r = ward_exe_ident_path(path, &key);
	if (r >= 0)
		r = ward_exe_ident_pin(&key, 0, real ? real : path, &pins);
	if (r == -ENOMEM)
		return r;
	if (r < 0) /* fail closed: no identity, it gets no network */
		return egress_warn(c->e, "binary '%s': no identity (%s)", path, strerror(-r));
	id = (struct egress_ident *)egress_ident_find(g, key.key.dev, key.key.ino);
	if (!id) {
		const char *name;

		if (g->n_idents >= WARD_MAX_IDENTITIES)
			return -E2BIG;
		name = egress_intern(g->strs, real ? real : path);
		if (!name)
			return -ENOMEM;
		/* before the generation is shared: no reader yet */
		id = &g->idents[g->n_idents++];
		*id = (struct egress_ident){ .key = key.key,
					     .path = name,
					     .entry = WARD_ENTRY_NONE,
					     .pins = pins };
	} else if (strcmp(id->pins.name, pins.name) || id->pins.dir_ino != pins.dir_ino) {
		/* hard links the policy names at two places: either place (a
		 * hard link made later is still refused where the ctime is
		 * pinned; elsewhere it is the same file, and needs the rights to
		 * link it: docs/egress.md) */
		memset(id->pins.name, 0, sizeof(id->pins.name));
		id->pins.dir_ino = 0;
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

static int add_binary(struct ward_egress *e, struct egress_gen *g, const struct ward_binary *b,
		      uint32_t pol, uint32_t flags, struct ward_error *err)
{
	struct add_ctx c = { .e = e, .g = g, .pol = pol, .flags = flags };
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
		return egress_warn(e,
				   "binary '%s' (line %u) matches no executable file; it gets "
				   "no network",
				   b->path, b->pos.line);
	return 0;
}

int egress_entry_for(struct egress_gen *g, struct egress_ident *id)
{
	const struct ward_policy *p = g->policy;
	_cleanup_free_ char *rule = NULL;
	struct egress_entry *n;
	size_t len = 0;

	if (g->n_entries >= WARD_MAX_IDENTITIES)
		return -E2BIG;
	for (size_t i = 0; i < g->n_entries; i++) {
		if (g->entries[i].n_pols != id->n_pols)
			continue;
		if (memcmp(g->entries[i].pols, id->pols, id->n_pols * sizeof(*id->pols)) == 0)
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
	n = &g->entries[g->n_entries];
	*n = (struct egress_entry){ .rule = egress_intern(g->strs, rule), .n_pols = id->n_pols };
	n->pols = malloc(id->n_pols * sizeof(*n->pols));
	if (!n->rule || !n->pols) {
		free(n->pols);
		n->pols = NULL;
		return -ENOMEM;
	}
	memcpy(n->pols, id->pols, id->n_pols * sizeof(*n->pols));
	__atomic_store_n(&g->n_entries, g->n_entries + 1, __ATOMIC_RELEASE);
	return (int)g->n_entries - 1;
}

int egress_idents_build(struct ward_egress *e, struct egress_gen *g, const struct ward_policy *p,
			struct ward_error *err)
{
	int r;

	for (size_t i = 0; i < p->n_net; i++)
		for (size_t j = 0; j < p->net[i].n_binaries; j++) {
			r = add_binary(e, g, &p->net[i].binaries[j], (uint32_t)i, 0, err);
			if (r < 0)
				return ward_err_prefix(err, "network policy '%s'", p->net[i].key);
		}
	/* with inference routes and an inference.binaries list, only those may
	 * reach the proxy for inference.local (without routes, nobody) */
	if (ward_inference_scope(p) == WARD_INFERENCE_LISTED)
		for (size_t j = 0; j < p->n_inference_binaries; j++) {
			r = add_binary(e, g, &p->inference_binaries[j], UINT32_MAX,
				       WARD_IDENT_INFERENCE, err);
			if (r < 0)
				return ward_err_prefix(err, "inference binaries");
		}
	/* host mode: binaries the policy exempts (host.exempt[].binary); the
	 * executable itself only, never its children, with the same pins as a
	 * ruled binary (a copy, rename or link of it is not exempt) */
	if (e->host)
		for (size_t j = 0; j < p->n_host_exempt; j++) {
			struct ward_binary b = { .path = p->host_exempt[j].binary,
						 .pos = p->host_exempt[j].pos };

			if (!b.path)
				continue;
			r = add_binary(e, g, &b, UINT32_MAX, WARD_IDENT_EXEMPT, err);
			if (r < 0)
				return ward_err_prefix(err, "host exemptions");
		}
	for (size_t i = 0; i < g->n_idents; i++) {
		if (!g->idents[i].n_pols)
			continue;
		r = egress_entry_for(g, &g->idents[i]);
		if (r < 0)
			return ward_err(err, r, "group network policies");
		g->idents[i].entry = (uint32_t)r;
	}
	return 0;
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
