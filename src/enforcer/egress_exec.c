// SPDX-License-Identifier: MIT
/* Identities added when a program is executed (docs/egress.md, "Binaries
 * that appear later"). Globs are resolved when the sandbox starts; agents
 * copy and update themselves into new files afterwards (Codex runs from
 * $CODEX_HOME/packages/.../bin/codex), which start-time resolution cannot
 * name. The exec tracepoint (bpf/egress.bpf.c) reports every exec inside the
 * sandbox of a file without identity; here it is matched against the policy:
 *
 *   - a file named by a binary glob gets that rule's identity when the
 *     sandbox cannot write it: the mount it lives on is read-only inside the
 *     sandbox (asked of the kernel through /proc/PID/exe, which is the
 *     sandbox's own mount of it), so the sandbox did not put it there;
 *   - or when its content is byte for byte that of a binary the same rule
 *     resolved at start at a path the sandbox cannot write (the same program
 *     copied elsewhere);
 *   - anything else a glob names gets nothing, and a row says why: a
 *     program the sandbox wrote into a writable place the glob covers is
 *     not the program the policy named;
 *   - a `sha256:` binary matches any executed file with that content,
 *     wherever it lies (agents that copy themselves to unpredictable places).
 *
 * Runs on the egress event reader thread; the proxy thread looks identities
 * up concurrently, so identities and entries are only appended (see
 * struct ward_egress). Hashing a large file blocks this thread only: kernel
 * rows wait, connections do not. Hashes are cached per (dev, ino, mtime,
 * size). */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "enforcer/egress_internal.h"
#include "policy/client.h"
#include "enforcer/exe.h"
#include "policy/match.h"
/* before the skeleton, which names struct ward_cfg */
#define WARD_DECIDE_HELPERS_ONLY
#include "../../bpf/egress_decide.h"
#include "egress.skel.h"

/* sha256 of the open file fd (st: its fstat), cached. */
static int hash_fd(struct ward_egress *e, int fd, const struct stat *st, char sha[65])
{
	uint64_t dev = ward_egress_kdev(st->st_dev);
	char path[64];
	struct egress_hash *h;
	int r;

	for (size_t i = 0; i < e->n_hashes; i++) {
		h = &e->hashes[i];
		if (h->dev == dev && h->ino == st->st_ino && h->size == st->st_size &&
		    h->mtime.tv_sec == st->st_mtim.tv_sec &&
		    h->mtime.tv_nsec == st->st_mtim.tv_nsec) {
			memcpy(sha, h->sha, 65);
			return 0;
		}
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = ward_sha256_file_hex(AT_FDCWD, path, sha);
	if (r < 0)
		return r;
	/* a ring: the oldest entry goes first */
	h = &e->hashes[e->n_hashes++ % EGRESS_EXEC_HASH_CACHE];
	if (e->n_hashes >= 2 * EGRESS_EXEC_HASH_CACHE)
		e->n_hashes -= EGRESS_EXEC_HASH_CACHE;
	*h = (struct egress_hash){
		.dev = dev, .ino = st->st_ino, .mtime = st->st_mtim, .size = st->st_size
	};
	memcpy(h->sha, sha, 65);
	return 0;
}

static bool read_only_fd(int fd)
{
	struct statvfs vfs;

	return fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY);
}

/* A binary resolved at start for policy pol, at a path the sandbox cannot
 * write (its own view: /proc/PID/root), whose content is sha. Its path, or NULL. */
static const char *same_content(struct ward_egress *e, struct egress_gen *g, pid_t pid,
				uint32_t pol, const char *sha)
{
	size_t n = egress_n_idents(g);

	for (size_t i = 0; i < n; i++) {
		struct egress_ident *id = &g->idents[i];
		char path[PATH_MAX];
		_cleanup_close_ int fd = -1;
		struct ward_exe_ident key;
		struct stat st;
		bool mine = false;

		for (size_t k = 0; k < id->n_pols && !mine; k++)
			mine = id->pols[k] == pol;
		if (!mine || id->from_exec)
			continue;
		if (snprintf(path, sizeof(path), "/proc/%d/root%s", (int)pid, id->path) >=
		    (int)sizeof(path))
			continue;
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0 || fstat(fd, &st) < 0 || ward_exe_ident_fd(fd, pid, &key) < 0 ||
		    key.key.dev != id->key.dev || key.key.ino != id->key.ino || !read_only_fd(fd))
			continue;
		if (!id->sha[0] && hash_fd(e, fd, &st, id->sha) < 0)
			continue;
		if (!strcmp(id->sha, sha))
			return id->path;
	}
	return NULL;
}

const char *egress_exec_name(const struct ward_egress *e, uint64_t dev, uint64_t ino)
{
	size_t n = e->n_names < EGRESS_EXEC_NAMES ? e->n_names : EGRESS_EXEC_NAMES;

	for (size_t i = 0; i < n; i++)
		if (e->names[i].dev == dev && e->names[i].ino == ino)
			return e->names[i].path;
	return NULL;
}

static void remember_name(struct ward_egress *e, uint64_t dev, uint64_t ino, const char *path)
{
	struct egress_name *n;
	char *copy;

	if (egress_exec_name(e, dev, ino) || !(copy = strdup(path)))
		return;
	n = &e->names[e->n_names++ % EGRESS_EXEC_NAMES];
	if (e->n_names >= 2 * EGRESS_EXEC_NAMES)
		e->n_names -= EGRESS_EXEC_NAMES;
	free(n->path);
	*n = (struct egress_name){ .dev = dev, .ino = ino, .path = copy };
}

void egress_exec_names_free(struct ward_egress *e)
{
	for (size_t i = 0; i < EGRESS_EXEC_NAMES; i++) {
		free(e->names[i].path);
		e->names[i].path = NULL;
	}
}

static void exec_row(struct ward_egress *e, const struct egress_gen *g,
		     const struct ward_exec_event *ev, const char *path, const char *action,
		     const char *rule, const char *reason)
{
	struct ward_decision d = {
		.ts_ns = ward_now_ns(),
		.sandbox = e->sandbox,
		.layer = "kernel",
		.action = action,
		.binary = path,
		.pid = (int32_t)ev->tgid,
		.rule = rule,
		.reason = reason,
		.policy_rev = g->rev[0] ? g->rev : NULL,
	};

	egress_submit(e, NULL, &d);
}

static int add_pol(struct egress_ident *id, uint32_t pol)
{
	uint32_t *p;

	for (size_t i = 0; i < id->n_pols; i++)
		if (id->pols[i] == pol)
			return 0;
	p = realloc(id->pols, (id->n_pols + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	id->pols = p;
	/* policies are visited in order: stays sorted */
	id->pols[id->n_pols++] = pol;
	return 0;
}

/* Publish a new identity in generation g: entry (and its maps) first, then
 * the identity map, then the table the proxy reads. */
static int publish(struct ward_egress *e, struct egress_gen *g, struct egress_ident *id)
{
	struct ward_error err = { 0 };
	struct ward_ident_val v;
	size_t before = g->n_entries;
	int r;

	if (g->n_idents >= WARD_MAX_IDENTITIES)
		return -E2BIG;
	if (id->n_pols) {
		r = egress_entry_for(g, id);
		if (r < 0)
			return r;
		id->entry = (uint32_t)r;
		if (g->n_entries > before) {
			r = egress_fill_entry(g, bpf_map__fd(e->skel->maps.ports),
					      bpf_map__fd(e->skel->maps.cidrs), id->entry, &err);
			if (r < 0)
				return r;
		}
	}
	g->idents[g->n_idents] = *id;
	v = egress_ident_val(id);
	r = bpf_map_update_elem(g->fds[0], &id->key, &v, BPF_NOEXIST);
	if (r < 0 && r != -EEXIST)
		return r;
	__atomic_store_n(&g->n_idents, g->n_idents + 1, __ATOMIC_RELEASE);
	return 0;
}

struct verdict {
	struct egress_ident id;
	const char *why;     /* of the last grant */
	char glob[PATH_MAX]; /* the last pattern that matched but did not grant */
	char refused_rule[256];
	char sha[65]; /* of the executed file, "" when not hashed */
	int hashed;   /* 0 not yet, 1 done, -errno failed */
};

/* Does binary b (of policy pol) grant the executed file (fd, st, path)? */
static bool grants(struct ward_egress *e, struct egress_gen *g, const struct ward_exec_event *ev,
		   const char *path, int fd, const struct stat *st, bool ro,
		   const struct ward_binary *b, uint32_t pol, struct verdict *v)
{
	const char *same;

	if (b->sha256) {
		/* named by content: whatever the path, whoever wrote it */
		if (!v->hashed)
			v->hashed = hash_fd(e, fd, st, v->sha) < 0 ? -1 : 1;
		if (v->hashed < 0 || strcmp(v->sha, b->sha256))
			return false;
		v->why = "sha256 named by the rule";
		return true;
	}
	if (!b->path || !ward_match_binary(b->path, path))
		return false;
	if (ro) {
		v->why = "read-only in the sandbox";
		return true;
	}
	if (pol == UINT32_MAX) /* inference.binaries: no start-time set to compare with */
		goto refuse;
	if (!v->hashed)
		v->hashed = hash_fd(e, fd, st, v->sha) < 0 ? -1 : 1;
	if (v->hashed > 0 && (same = same_content(e, g, (pid_t)ev->tgid, pol, v->sha))) {
		v->why = "same content as a binary the rule names at a read-only path";
		(void)same;
		return true;
	}
refuse:
	snprintf(v->glob, sizeof(v->glob), "%s", b->path);
	if (pol != UINT32_MAX)
		snprintf(v->refused_rule, sizeof(v->refused_rule), "%s", g->policy->net[pol].key);
	return false;
}

int egress_on_exec(void *ctx, void *data, size_t size)
{
	struct ward_egress *e = ctx;
	const struct ward_exec_event *ev = data;

	if (size < sizeof(*ev) || ev->version != WARD_ABI_VERSION)
		return 0;
	e->exec_seen++;
	/* against the generation in force, which no apply replaces meanwhile */
	pthread_mutex_lock(&e->apply_lock);
	if (e->gens.cur)
		egress_exec_match(e, e->gens.cur, ev, true);
	pthread_mutex_unlock(&e->apply_lock);
	return 0;
}

void egress_exec_match(struct ward_egress *e, struct egress_gen *g,
		       const struct ward_exec_event *ev, bool rows)
{
	const struct ward_policy *p = g->policy;
	char path[PATH_MAX], exe[64], reason[PATH_MAX + 256];
	_cleanup_close_ int fd = -1;
	struct verdict v = { 0 };
	struct ward_exe_ident key;
	struct stat st;
	bool ro;
	int r;

	if (egress_ident_find(g, ev->dev, ev->ino))
		return;
	/* the file itself, through the process (whatever mounts it sees), and
	 * its name as the sandbox sees it: what the policy's globs are written in */
	snprintf(exe, sizeof(exe), "/proc/%u/exe", ev->tgid);
	fd = open(exe, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0 || ward_exe_ident_fd(fd, (pid_t)ev->tgid, &key) < 0 ||
	    key.key.dev != ev->dev || key.key.ino != ev->ino)
		return; /* gone or executed something else since: nothing to name */
	if (ward_exe_path((pid_t)ev->tgid, ev->dev, ev->ino, path, sizeof(path)) < 0) {
		if (ev->filename[0] != '/')
			return;
		snprintf(path, sizeof(path), "%.*s", (int)sizeof(ev->filename), ev->filename);
	}
	remember_name(e, ev->dev, ev->ino, path);
	ro = read_only_fd(fd);
	v.id = (struct egress_ident){ .key = { .dev = ev->dev, .ino = ev->ino },
				      .entry = WARD_ENTRY_NONE,
				      .from_exec = true,
				      .tgid = (pid_t)ev->tgid };
	if (ward_exe_ident_pin(&key, (pid_t)ev->tgid, path, &v.id.pins) < 0)
		return; /* its directory is gone: nothing to name */
	for (size_t i = 0; i < p->n_net; i++)
		for (size_t j = 0; j < p->net[i].n_binaries; j++) {
			const struct ward_binary *b = &p->net[i].binaries[j];

			if (!grants(e, g, ev, path, fd, &st, ro, b, (uint32_t)i, &v))
				continue;
			if (add_pol(&v.id, (uint32_t)i) < 0)
				goto fail;
			if (b->ancestors)
				v.id.flags |= WARD_IDENT_ANCESTORS;
		}
	if (ward_inference_scope(p) == WARD_INFERENCE_LISTED)
		for (size_t j = 0; j < p->n_inference_binaries; j++) {
			const struct ward_binary *b = &p->inference_binaries[j];

			if (!grants(e, g, ev, path, fd, &st, ro, b, UINT32_MAX, &v))
				continue;
			v.id.flags |= WARD_IDENT_INFERENCE;
			if (b->ancestors)
				v.id.flags |= WARD_IDENT_ANCESTORS;
		}
	if (!v.id.n_pols && !(v.id.flags & WARD_IDENT_INFERENCE)) {
		if (v.glob[0] && rows) {
			snprintf(
				reason, sizeof(reason),
				"exec: matches binary '%s' but the sandbox can write it and its "
				"content is no binary the rule names at a read-only path: no identity",
				v.glob);
			exec_row(e, g, ev, path, "deny", v.refused_rule[0] ? v.refused_rule : NULL,
				 reason);
		}
		return;
	}
	/* admitted for what it contains, in a place the sandbox can write: the
	 * inode could be rewritten in place (and renamed) after this, so its
	 * content is pinned and the proxy compares on every connection */
	if (!ro && v.hashed > 0) {
		memcpy(v.id.sha, v.sha, sizeof(v.id.sha));
		v.id.pinned = true;
		if (!(v.id.pin = egress_intern(g->strs, v.sha)))
			goto fail;
	}
	if (!(v.id.path = egress_intern(g->strs, path)))
		goto fail;
	r = publish(e, g, &v.id);
	if (r < 0) {
		free(v.id.pols);
		snprintf(reason, sizeof(reason), "exec: identity not added: %s", strerror(-r));
		if (rows)
			exec_row(e, g, ev, path, "deny", NULL, reason);
		return;
	}
	e->exec_added++;
	snprintf(reason, sizeof(reason), "exec: identity added (%s)", v.why);
	if (rows)
		exec_row(e, g, ev, path, "allow",
			 v.id.n_pols ? g->entries[v.id.entry].rule : "inference", reason);
	return;
fail:
	free(v.id.pols);
}
