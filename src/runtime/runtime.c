// SPDX-License-Identifier: MIT
/* A sandbox and its layers (runtime.h): registration and order, the life of
 * the layers around ward_sandbox_run(), and new generations. */
#include "runtime/runtime.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "runtime/runtime_internal.h"

struct ward_layer {
	const struct ward_layer_ops *ops;
	struct ward_runtime *rt;
	void *state;
	struct ward_layer **deps; /* resolved ops->deps, same order */
	size_t n_deps;
	struct ward_gen *gen;	/* what this layer decides from (its reference) */
	struct ward_gen **kept; /* ops->keeps_generations: the earlier ones */
	size_t n_kept;
	bool prepared; /* prepare ran: finish is due */
	bool active;   /* in this run */
	bool attached;
};

#define MAX_FILES 8

struct ward_runtime {
	struct ward_runtime_config cfg;
	struct ward_gen *first; /* the sandbox's options point into it */
	pthread_mutex_t lock;	/* gen, running, the layers' generations */
	struct ward_gen *gen;	/* in force */
	struct ward_layer **v;	/* in dependency order */
	size_t n;
	bool prepared;
	bool running; /* every layer attached, the sandbox not ended yet */
	char id[WARD_SANDBOX_ID_LEN + 1];
	struct ward_sandbox_opts opts;
	struct ward_mount_file files[MAX_FILES];
	size_t n_files;
	struct ward_sandbox_hook *hooks;
	size_t n_hooks;
	struct runtime_cgroup cg;      /* the leaf, to change its limits live */
	struct ward_sandbox *sb;       /* ward_runtime_start's, until ward_runtime_stop */
	bool stopped;		       /* the layers' stop ran */
	/* The session list and the ring below have a lock of their own, a
	 * leaf: layers' threads map a row's cgroup to its session while holding
	 * their own locks (egress: the generations' read lock), and apply holds
	 * rt->lock while it takes those, so the mapping must not need rt->lock. */
	pthread_mutex_t sessions_lock;
	struct ward_session *sessions; /* under sessions_lock */
	unsigned execs;		       /* ward_runtime_exec calls under way (lock) */
	pthread_cond_t execs_done;     /* execs went to 0 */
	/* sessions freed lately (a ring, under sessions_lock): the rows of kernel events
	 * read after a session ended still name it (cgroup ids are not reused) */
	struct ended_session {
		uint64_t cgid;
		char id[32];
	} ended[64];
	size_t n_ended;
	/* ward_runtime_settle's threads, one per layer with a settle; joined
	 * before the next apply and before the layers stop (settle_lock) */
	pthread_mutex_t settle_lock;
	pthread_t settlers[8];
	size_t n_settlers;
};

struct ward_session {
	struct ward_runtime *rt;
	struct ward_gen *gen; /* the generation it started under */
	struct ward_sandbox_session s;
	struct ward_session *next;
	bool listed;
	void **handles; /* rt->n: what each layer's session hook gave */
	bool started;	/* session hooks ran: session_end is due */
};

int ward_runtime_new(const struct ward_runtime_config *cfg, struct ward_runtime **ret,
		     struct ward_error *err)
{
	struct ward_runtime *rt;

	if (!cfg->gen || !cfg->gen->policy)
		return ward_errx(err, -EINVAL, "runtime: no policy generation");
	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return ward_err(err, -ENOMEM, "runtime");
	rt->cfg = *cfg;
	rt->first = ward_gen_ref(cfg->gen);
	rt->gen = ward_gen_ref(cfg->gen);
	rt->cg.fd = -1;
	pthread_mutex_init(&rt->lock, NULL);
	pthread_mutex_init(&rt->sessions_lock, NULL);
	pthread_mutex_init(&rt->settle_lock, NULL);
	pthread_cond_init(&rt->execs_done, NULL);
	*ret = rt;
	return 0;
}

/* ward -v: one line per layer step, with its duration */
static void trace(const struct ward_runtime *rt, const struct ward_layer *l, const char *step,
		  int r, uint64_t t0)
{
	if (rt->cfg.trace)
		rt->cfg.trace(rt->cfg.trace_data, l->ops->name, step, r, ward_mono_ns() - t0);
}

static struct ward_layer *find(struct ward_layer *const *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i]->ops->name, name))
			return v[i];
	return NULL;
}

static const char *dep_name(const char *d)
{
	return d[0] == '?' ? d + 1 : d;
}

static void layer_free(struct ward_layer *l)
{
	if (!l)
		return;
	ward_gen_unref(l->gen);
	for (size_t i = 0; i < l->n_kept; i++)
		ward_gen_unref(l->kept[i]);
	free(l->kept);
	free(l->deps);
	free(l->state);
	free(l);
}

static int layer_new(struct ward_runtime *rt, const struct ward_layer_ops *ops,
		     struct ward_layer **ret, struct ward_error *err)
{
	struct ward_layer *l = calloc(1, sizeof(*l));
	size_t n = 0;

	if (!l)
		return ward_err(err, -ENOMEM, "runtime");
	l->ops = ops;
	l->rt = rt;
	for (; ops->deps && ops->deps[n]; n++)
		;
	l->state = calloc(1, ops->state_size ? ops->state_size : 1);
	l->deps = calloc(n ? n : 1, sizeof(*l->deps));
	if (!l->state || !l->deps) {
		layer_free(l);
		return ward_err(err, -ENOMEM, "runtime");
	}
	l->n_deps = n;
	*ret = l;
	return 0;
}

/* Order all (the registered layers, then the new ones) so that each comes
 * after its dependencies; among those free to go, the one first in all.
 * The registered ones never depend on new ones: their order stays. */
static int order(struct ward_layer **all, size_t n, struct ward_layer **out, struct ward_error *err)
{
	_cleanup_free_ bool *placed = calloc(n ? n : 1, sizeof(*placed));
	size_t done = 0;

	if (!placed)
		return ward_err(err, -ENOMEM, "runtime");
	while (done < n) {
		size_t i;

		for (i = 0; i < n; i++) {
			bool ready = !placed[i];

			for (size_t d = 0; ready && d < all[i]->n_deps; d++) {
				size_t k;

				for (k = 0; k < n && all[k] != all[i]->deps[d]; k++)
					;
				ready = placed[k];
			}
			if (ready)
				break;
		}
		if (i == n) {
			char names[256] = "";
			size_t len = 0;

			for (size_t k = 0; k < n && len < sizeof(names); k++)
				if (!placed[k])
					len += snprintf(names + len, sizeof(names) - len, "%s%s",
							len ? ", " : "", all[k]->ops->name);
			return ward_errx(err, -EINVAL,
					 "runtime: layers depend on each other in "
					 "a cycle: %s",
					 names);
		}
		placed[i] = true;
		out[done++] = all[i];
	}
	return 0;
}

int ward_runtime_add_layers(struct ward_runtime *rt, const struct ward_layer_ops *const *ops,
			    size_t n, struct ward_error *err)
{
	_cleanup_free_ struct ward_layer **all = NULL, **sorted = NULL;
	size_t total = rt->n + n, made = 0;
	int r;

	if (rt->prepared)
		return ward_errx(err, -EINVAL, "runtime: layers are added before prepare");
	all = calloc(total ? total : 1, sizeof(*all));
	sorted = calloc(total ? total : 1, sizeof(*sorted));
	if (!all || !sorted)
		return ward_err(err, -ENOMEM, "runtime");
	memcpy(all, rt->v, rt->n * sizeof(*all));
	for (; made < n; made++) {
		if (!ops[made]->name || !ops[made]->prepare) {
			r = ward_errx(err, -EINVAL, "runtime: a layer without a name or prepare");
			goto fail;
		}
		if (find(all, rt->n + made, ops[made]->name)) {
			r = ward_errx(err, -EINVAL, "runtime: layer %s registered twice",
				      ops[made]->name);
			goto fail;
		}
		r = layer_new(rt, ops[made], &all[rt->n + made], err);
		if (r < 0)
			goto fail;
	}
	for (size_t i = rt->n; i < total; i++)
		for (size_t d = 0; d < all[i]->n_deps; d++) {
			const char *name = dep_name(all[i]->ops->deps[d]);

			all[i]->deps[d] = find(all, total, name);
			if (!all[i]->deps[d] || all[i]->deps[d] == all[i]) {
				r = ward_errx(err, -EINVAL, "runtime: layer %s needs %s, which %s",
					      all[i]->ops->name, name,
					      all[i]->deps[d] ? "is itself" : "is not registered");
				goto fail;
			}
		}
	r = order(all, total, sorted, err);
	if (r < 0)
		goto fail;
	free(rt->v);
	rt->v = TAKE_PTR(sorted);
	rt->n = total;
	return 0;

fail:
	for (size_t i = rt->n; i < rt->n + made; i++)
		layer_free(all[i]);
	return r;
}

size_t ward_runtime_layer_names(const struct ward_runtime *rt, const char **ret, size_t cap)
{
	for (size_t i = 0; i < rt->n && i < cap; i++)
		ret[i] = rt->v[i]->ops->name;
	return rt->n;
}

void *ward_layer_state(struct ward_layer *l)
{
	return l->state;
}

void *ward_layer_dep(struct ward_layer *l, const char *name)
{
	for (size_t d = 0; d < l->n_deps; d++)
		if (!strcmp(dep_name(l->ops->deps[d]), name))
			return l->deps[d]->active ? l->deps[d]->state : NULL;
	/* only what the layer declared: its order depends on it */
	abort();
}

const struct ward_policy *ward_layer_policy(const struct ward_layer *l)
{
	return l->gen ? l->gen->policy : l->rt->first->policy;
}

const struct ward_runtime_config *ward_layer_config(const struct ward_layer *l)
{
	return &l->rt->cfg;
}

static int session_of(void *data, uint64_t cgid, char out[32])
{
	return ward_runtime_session_of_cgroup(data, cgid, out);
}

struct ward_session_hook ward_layer_session_hook(const struct ward_layer *l)
{
	return (struct ward_session_hook){ .fn = session_of, .data = l->rt };
}

struct ward_sandbox_opts *ward_layer_sandbox_opts(struct ward_layer *l)
{
	return &l->rt->opts;
}

int ward_layer_add_file(struct ward_layer *l, const char *host_path, const char *target,
			struct ward_error *err)
{
	struct ward_runtime *rt = l->rt;

	if (rt->n_files >= MAX_FILES)
		return ward_errx(err, -E2BIG, "%s: more than %d files for the sandbox",
				 l->ops->name, MAX_FILES);
	rt->files[rt->n_files++] = (struct ward_mount_file){ host_path, target };
	return 0;
}

void ward_layer_diag(const struct ward_layer *l, bool warning, const char *msg)
{
	if (l->rt->cfg.diag)
		l->rt->cfg.diag(l->rt->cfg.diag_data, warning, msg);
}

static bool deps_active(const struct ward_layer *l)
{
	for (size_t d = 0; d < l->n_deps; d++)
		if (l->ops->deps[d][0] != '?' && !l->deps[d]->active)
			return false;
	return true;
}

/* In list order; a layer whose (required) dependency is absent is absent. */
int ward_runtime_prepare(struct ward_runtime *rt, struct ward_error *err)
{
	rt->prepared = true;
	for (size_t i = 0; i < rt->n; i++) {
		struct ward_layer *l = rt->v[i];
		uint64_t t0;
		int r;

		if (!deps_active(l))
			continue;
		l->gen = ward_gen_ref(rt->first);
		l->prepared = true;
		t0 = ward_mono_ns();
		r = l->ops->prepare(l, err);
		trace(rt, l, "prepare", r, t0);
		if (r < 0)
			return r;
		l->active = r != WARD_LAYER_ABSENT;
	}
	return 0;
}

static int attach_hook(struct ward_sandbox *sb, void *data, struct ward_error *err)
{
	struct ward_layer *l = data;
	struct ward_runtime *rt = l->rt;
	uint64_t t0;
	int r;

	snprintf(rt->id, sizeof(rt->id), "%s", sb->id);
	/* without it, a change of the limits is for new sessions only */
	if (rt->cg.fd < 0 && sb->cgroup.fd >= 0)
		runtime_cgroup_keep(&rt->cg, &sb->cgroup);
	t0 = ward_mono_ns();
	r = l->ops->attach(l, sb, err);
	trace(rt, l, "attach", r, t0);
	if (r < 0)
		return r;
	l->attached = true;
	if (rt->hooks[rt->n_hooks - 1].data == l) {
		pthread_mutex_lock(&rt->lock);
		rt->running = true;
		pthread_mutex_unlock(&rt->lock);
		if (rt->cfg.attached)
			rt->cfg.attached(rt->cfg.attached_data, rt);
	}
	return 0;
}

/* The sandbox's options and one hook per layer that attaches. */
static int setup_opts(struct ward_runtime *rt, const char *workdir, char *const *argv, char *id_out,
		      struct ward_error *err)
{
	/* Landlock TCP only when the policy asks (landlock.restrict_tcp): it
	 * cannot tell loopback, which stays usable, from the outside; no layer
	 * named ports: none at all (non-NULL, empty) */
	static const uint16_t no_ports[1];
	const struct ward_policy *p = rt->first->policy;

	if (!rt->prepared)
		return ward_errx(err, -EINVAL, "runtime: not prepared");
	free(rt->hooks);
	rt->n_hooks = 0;
	rt->hooks = calloc(rt->n ? rt->n : 1, sizeof(*rt->hooks));
	if (!rt->hooks)
		return ward_err(err, -ENOMEM, "runtime");
	for (size_t i = 0; i < rt->n; i++)
		if (rt->v[i]->active && rt->v[i]->ops->attach)
			rt->hooks[rt->n_hooks++] =
				(struct ward_sandbox_hook){ rt->v[i]->ops->name, attach_hook,
							    rt->v[i] };
	rt->opts.policy = p;
	rt->opts.workdir = workdir;
	rt->opts.argv = argv;
	rt->opts.audit = rt->cfg.audit;
	rt->opts.diag = rt->cfg.diag;
	rt->opts.diag_data = rt->cfg.diag_data;
	rt->opts.hosts_file = rt->cfg.hosts_file;
	rt->opts.upstream_ca = rt->cfg.upstream_ca;
	rt->opts.learn = rt->cfg.learn;
	rt->opts.id_out = id_out;
	rt->opts.hooks = rt->hooks;
	rt->opts.n_hooks = rt->n_hooks;
	rt->opts.files = rt->files;
	rt->opts.n_files = rt->n_files;
	if (!p->landlock_restrict_tcp) {
		rt->opts.tcp_connect_ports = NULL;
		rt->opts.n_tcp_connect_ports = 0;
	} else if (!rt->opts.tcp_connect_ports) {
		rt->opts.tcp_connect_ports = no_ports;
	}
	return 0;
}

int ward_runtime_run(struct ward_runtime *rt, const struct ward_runtime_cmd *cmd, int *ret_status,
		     struct ward_error *err)
{
	int r = setup_opts(rt, cmd->workdir, cmd->argv, cmd->id_out, err);

	if (r < 0)
		return r;
	r = ward_sandbox_run(&rt->opts, ret_status, err);
	pthread_mutex_lock(&rt->lock);
	rt->running = false;
	pthread_mutex_unlock(&rt->lock);
	return r;
}

static void stop_layers(struct ward_runtime *rt)
{
	if (rt->stopped)
		return;
	rt->stopped = true;
	for (size_t i = rt->n; i-- > 0;)
		if (rt->v[i]->active && rt->v[i]->ops->stop) {
			uint64_t t0 = ward_mono_ns();

			rt->v[i]->ops->stop(rt->v[i]);
			trace(rt, rt->v[i], "stop", 0, t0);
		}
}

static void settle_join(struct ward_runtime *rt);

void ward_runtime_free(struct ward_runtime *rt)
{
	if (!rt)
		return;
	settle_join(rt);
	if (rt->sb)
		ward_runtime_stop(rt, &(struct ward_error){ 0 });
	stop_layers(rt);
	for (size_t i = rt->n; i-- > 0;)
		if (rt->v[i]->prepared && rt->v[i]->ops->finish) {
			uint64_t t0 = ward_mono_ns();

			rt->v[i]->ops->finish(rt->v[i]);
			trace(rt, rt->v[i], "finish", 0, t0);
		}
	for (size_t i = 0; i < rt->n; i++)
		layer_free(rt->v[i]);
	free(rt->v);
	free(rt->hooks);
	ward_gen_unref(rt->gen);
	ward_gen_unref(rt->first);
	runtime_cgroup_drop(&rt->cg);
	pthread_mutex_destroy(&rt->lock);
	pthread_mutex_destroy(&rt->sessions_lock);
	pthread_mutex_destroy(&rt->settle_lock);
	pthread_cond_destroy(&rt->execs_done);
	free(rt);
}

struct ward_gen *ward_runtime_gen(struct ward_runtime *rt)
{
	struct ward_gen *g;

	pthread_mutex_lock(&rt->lock);
	g = ward_gen_ref(rt->gen);
	pthread_mutex_unlock(&rt->lock);
	return g;
}

void ward_runtime_control_row(struct ward_runtime *rt, const char *action, const char *rule,
			      const char *reason, const char *policy_rev)
{
	struct ward_decision d = {
		.sandbox = rt->id[0] ? rt->id : NULL,
		.layer = "control",
		.action = action,
		.rule = rule,
		.reason = reason,
		.policy_rev = policy_rev,
	};

	if (rt->cfg.audit)
		ward_audit_submit(rt->cfg.audit, &d);
}

/* --- generations */

static bool enforces(const struct ward_layer *l, const char *section)
{
	for (size_t i = 0; l->ops->sections && l->ops->sections[i]; i++)
		if (!strcmp(l->ops->sections[i], section))
			return true;
	return false;
}

static bool layers_live(const struct ward_runtime *rt, const char *section)
{
	bool live = false;

	for (size_t i = 0; i < rt->n; i++) {
		const struct ward_layer *l = rt->v[i];

		if (!l->active || !enforces(l, section))
			continue;
		if (!l->ops->apply)
			return false;
		live = true;
	}
	return live;
}

/* Every changed section: applied when each layer of the run that enforces
 * it can apply; a section no layer here enforces (the mount plan, Landlock,
 * the uid, ...) is for new sessions only. */
static void report_init(const struct ward_runtime *rt, const struct ward_gen *old,
			const struct ward_gen *g, struct ward_apply_report *rep)
{
	char names[WARD_APPLY_MAX_SECTIONS][48];
	size_t n = ward_policy_changed_sections(old->policy, g->policy, names, ARRAY_SIZE(names));

	memset(rep, 0, sizeof(*rep));
	snprintf(rep->old_rev, sizeof(rep->old_rev), "%s", old->policy->rev);
	snprintf(rep->new_rev, sizeof(rep->new_rev), "%s", g->policy->rev);
	for (size_t s = 0; s < n && s < ARRAY_SIZE(names); s++) {
		bool live = false;

		/* the sandbox's own: its cgroup's limits */
		if (!strcmp(names[s], "resources")) {
			struct ward_cgroup_limits lim;

			ward_cgroup_limits_resolve(&g->policy->resources, &lim);
			live = runtime_cgroup_live(&rt->cg, &lim);
		} else {
			live = layers_live(rt, names[s]);
		}
		snprintf(rep->v[rep->n].section, sizeof(rep->v[rep->n].section), "%.47s", names[s]);
		rep->v[rep->n].state = live ? WARD_APPLY_APPLIED : WARD_APPLY_NEW_SESSIONS;
		/* protected paths: the fanotify group and its marks (or bpf-lsm's
		 * table) are the sandbox's, made before its init; no session has
		 * its own (docs/filesystem.md, "Live policy changes") */
		if (!live && !strcmp(names[s], "filesystem_policy.binaries"))
			rep->v[rep->n].state = WARD_APPLY_NEXT_START;
		rep->n++;
	}
}

static enum ward_apply_state section_state(const struct ward_apply_report *rep, const char *section)
{
	for (size_t i = 0; i < rep->n; i++)
		if (!strcmp(rep->v[i].section, section))
			return rep->v[i].state;
	return WARD_APPLY_UNCHANGED;
}

void ward_apply_report_later(struct ward_apply_report *rep, const char *section)
{
	for (size_t i = 0; i < rep->n; i++)
		if (!strcmp(rep->v[i].section, section) && rep->v[i].state != WARD_APPLY_UNCHANGED)
			rep->v[i].state = WARD_APPLY_NEW_SESSIONS;
}

static size_t list(const struct ward_apply_report *rep, enum ward_apply_state st, const char *title,
		   char *buf, size_t len)
{
	size_t n = 0, k = 0;

	for (size_t i = 0; i < rep->n && n < len; i++) {
		if (rep->v[i].state != st)
			continue;
		n += snprintf(buf + n, len - n, "%s%s", k++ ? ", " : title, rep->v[i].section);
	}
	return n < len ? n : len - 1;
}

void ward_apply_report_describe(const struct ward_apply_report *rep, char *buf, size_t len)
{
	size_t n;

	if (!len)
		return;
	buf[0] = '\0';
	n = list(rep, WARD_APPLY_APPLIED, "applied: ", buf, len);
	n += list(rep, WARD_APPLY_NEW_SESSIONS,
		  n ? "; applies to new sessions only: " : "applies to new sessions only: ",
		  buf + n, len - n);
	n += list(rep, WARD_APPLY_NEXT_START,
		  n ? "; applies at the next start: " : "applies at the next start: ", buf + n,
		  len - n);
	if (!n)
		snprintf(buf, len, "no section changed");
}

static void step_ns(struct ward_apply_report *rep, const char *name, uint64_t ns)
{
	if (rep->n_steps < ARRAY_SIZE(rep->steps)) {
		rep->steps[rep->n_steps].name = name;
		rep->steps[rep->n_steps].ns = ns;
		rep->n_steps++;
	}
}

static void step(struct ward_apply_report *rep, const char *name, uint64_t t0)
{
	step_ns(rep, name, ward_mono_ns() - t0);
}

static int apply_layer(struct ward_layer *l, struct ward_gen *g, struct ward_apply_report *rep,
		       struct ward_error *err)
{
	uint64_t t0;
	int r;

	if (l->ops->keeps_generations) {
		struct ward_gen **v = realloc(l->kept, (l->n_kept + 1) * sizeof(*v));

		if (!v)
			return ward_err(err, -ENOMEM, "%s", l->ops->name);
		l->kept = v;
	}
	t0 = ward_mono_ns();
	r = l->ops->apply(l, g, rep, err);
	trace(l->rt, l, "apply", r, t0);
	step(rep, l->ops->name, t0);
	if (r < 0)
		return ward_err_prefix(err, "%s", l->ops->name);
	if (l->ops->keeps_generations)
		l->kept[l->n_kept++] = l->gen;
	else
		ward_gen_unref(l->gen);
	l->gen = ward_gen_ref(g);
	return 0;
}

int ward_runtime_apply(struct ward_runtime *rt, struct ward_gen *g, struct ward_apply_report *rep,
		       struct ward_error *err)
{
	struct ward_apply_report scratch = { 0 };
	struct ward_gen *old;
	char reason[1536], what[512];
	uint64_t t0, waited;
	size_t i;
	int r = 0;

	t0 = ward_mono_ns();
	settle_join(rt);
	waited = ward_mono_ns() - t0;
	pthread_mutex_lock(&rt->lock);
	if (!rt->running) {
		pthread_mutex_unlock(&rt->lock);
		return ward_errx(err, -ESRCH, "no sandbox is running");
	}
	old = rt->gen;
	t0 = ward_mono_ns();
	report_init(rt, old, g, rep);
	step_ns(rep, "settle_wait", waited);
	step(rep, "sections", t0);
	/* rows name the revision: it is stored before the first of them */
	t0 = ward_mono_ns();
	if (rt->cfg.audit)
		r = ward_audit_store_policy(rt->cfg.audit, g->policy, err);
	step(rep, "store_policy", t0);
	for (i = 0; r >= 0 && i < rt->n; i++)
		if (rt->v[i]->active && rt->v[i]->ops->apply)
			r = apply_layer(rt->v[i], g, rep, err);
	if (r >= 0 && section_state(rep, "resources") == WARD_APPLY_APPLIED) {
		struct ward_cgroup_limits lim;

		t0 = ward_mono_ns();
		ward_cgroup_limits_resolve(&g->policy->resources, &lim);
		r = runtime_cgroup_apply(&rt->cg, &lim, err);
		step(rep, "resources", t0);
	}
	if (r < 0) {
		/* back to the old generation, what switched already */
		while (i-- > 0) {
			struct ward_layer *l = rt->v[i];
			struct ward_error e2 = { 0 };

			if (l->active && l->ops->apply && l->gen == g)
				apply_layer(l, old, &scratch, &e2);
		}
		snprintf(reason, sizeof(reason), "policy rev %s not applied (%.512s); rev %s stays",
			 g->policy->rev, err->msg, old->policy->rev);
		ward_runtime_control_row(rt, "deny", "policy_apply", reason, old->policy->rev);
		pthread_mutex_unlock(&rt->lock);
		return r;
	}
	rt->gen = ward_gen_ref(g);
	ward_gen_unref(old);
	ward_apply_report_describe(rep, what, sizeof(what));
	snprintf(reason, sizeof(reason), "policy rev %s -> %s: %s", rep->old_rev, rep->new_rev,
		 what);
	ward_runtime_control_row(rt, "allow", "policy_apply", reason, rep->new_rev);
	pthread_mutex_unlock(&rt->lock);
	return 0;
}

static void *settle_main(void *data)
{
	struct ward_layer *l = data;

	l->ops->settle(l);
	return NULL;
}

/* the settles under way end (before an apply, a stop) */
static void settle_join(struct ward_runtime *rt)
{
	pthread_mutex_lock(&rt->settle_lock);
	for (size_t i = 0; i < rt->n_settlers; i++)
		pthread_join(rt->settlers[i], NULL);
	rt->n_settlers = 0;
	pthread_mutex_unlock(&rt->settle_lock);
}

/* Each layer's settle on a thread of its own: the caller goes on (the
 * daemon serves the next request), the layers' waits (RCU grace periods)
 * overlap; a layer's apply lock keeps its settle and its other work apart,
 * and the next apply joins them first. Without a thread: here. */
void ward_runtime_settle(struct ward_runtime *rt)
{
	settle_join(rt);
	pthread_mutex_lock(&rt->settle_lock);
	pthread_mutex_lock(&rt->lock);
	for (size_t i = 0; rt->running && i < rt->n; i++) {
		struct ward_layer *l = rt->v[i];

		if (!l->active || !l->ops->settle)
			continue;
		if (rt->n_settlers < ARRAY_SIZE(rt->settlers) &&
		    pthread_create(&rt->settlers[rt->n_settlers], NULL, settle_main, l) == 0)
			rt->n_settlers++;
		else
			l->ops->settle(l);
	}
	pthread_mutex_unlock(&rt->lock);
	pthread_mutex_unlock(&rt->settle_lock);
}

/* --- sessions */

int ward_runtime_start(struct ward_runtime *rt, const struct ward_runtime_start *st,
		       struct ward_error *err)
{
	int r;

	if (rt->sb || rt->stopped)
		return ward_errx(err, -EBUSY, "runtime: a sandbox was started already");
	r = setup_opts(rt, st->workdir, NULL, st->id_out, err);
	if (r < 0)
		return r;
	rt->opts.id = st->id;
	rt->opts.home = st->home;
	r = ward_sandbox_start(&rt->opts, &rt->sb, err);
	pthread_mutex_lock(&rt->lock);
	rt->running = r >= 0;
	pthread_mutex_unlock(&rt->lock);
	return r;
}

static int on_listener(void *data, pid_t pid, int fd, uid_t uid, gid_t gid, struct ward_error *err)
{
	struct ward_session *s = data;
	struct ward_runtime *rt = s->rt;

	s->started = true;
	for (size_t i = 0; i < rt->n; i++) {
		struct ward_layer *l = rt->v[i];
		uint64_t t0;
		int r;

		if (!l->active || !l->ops->session)
			continue;
		t0 = ward_mono_ns();
		r = l->ops->session(l, pid, fd, uid, gid, &s->handles[i], err);
		trace(rt, l, "session", r, t0);
		if (r < 0)
			return ward_err_prefix(err, "%s", l->ops->name);
	}
	return 0;
}

/* The session's end for the layers (once). */
static void session_ended(struct ward_session *s)
{
	struct ward_runtime *rt = s->rt;

	if (!s->started)
		return;
	s->started = false;
	for (size_t i = rt->n; i-- > 0;)
		if (rt->v[i]->active && rt->v[i]->ops->session_end && s->handles[i])
			rt->v[i]->ops->session_end(rt->v[i], s->handles[i]);
}

static int exec_session(struct ward_runtime *rt, const struct ward_session_spec *spec,
			struct ward_session **ret, struct ward_error *err);

int ward_runtime_exec(struct ward_runtime *rt, const struct ward_session_spec *spec,
		      struct ward_session **ret, struct ward_error *err)
{
	int r;

	*ret = NULL;
	pthread_mutex_lock(&rt->lock);
	if (!rt->sb || !rt->running) {
		pthread_mutex_unlock(&rt->lock);
		return ward_errx(err, -ESRCH, "no sandbox is running");
	}
	rt->execs++; /* ward_runtime_stop waits for it */
	pthread_mutex_unlock(&rt->lock);
	r = exec_session(rt, spec, ret, err);
	pthread_mutex_lock(&rt->lock);
	if (--rt->execs == 0)
		pthread_cond_broadcast(&rt->execs_done);
	pthread_mutex_unlock(&rt->lock);
	return r;
}

static int exec_session(struct ward_runtime *rt, const struct ward_session_spec *spec,
			struct ward_session **ret, struct ward_error *err)
{
	struct ward_sandbox_session_opts o = { 0 };
	struct ward_session *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return ward_err(err, -ENOMEM, "session");
	s->rt = rt;
	s->handles = calloc(rt->n ? rt->n : 1, sizeof(*s->handles));
	if (!s->handles) {
		free(s);
		return ward_err(err, -ENOMEM, "session");
	}
	s->gen = ward_runtime_gen(rt);
	o = (struct ward_sandbox_session_opts){
		.policy = s->gen->policy,
		.argv = spec->argv,
		.env = spec->env,
		.cwd = spec->cwd,
		.id = spec->id,
		.tcp_connect_ports = rt->opts.tcp_connect_ports,
		.n_tcp_connect_ports = rt->opts.n_tcp_connect_ports,
		.unix_broker = rt->opts.unix_broker,
		.on_listener = on_listener,
		.listener_data = s,
	};
	memcpy(o.stdio, spec->stdio, sizeof(o.stdio));
	r = ward_sandbox_exec(rt->sb, &o, &s->s, err);
	if (r < 0) {
		session_ended(s);
		ward_gen_unref(s->gen);
		free(s->handles);
		free(s);
		return r;
	}
	pthread_mutex_lock(&rt->sessions_lock);
	s->next = rt->sessions;
	rt->sessions = s;
	s->listed = true;
	pthread_mutex_unlock(&rt->sessions_lock);
	*ret = s;
	return 0;
}

const char *ward_session_id(const struct ward_session *s)
{
	return s->s.id;
}

pid_t ward_session_pid(const struct ward_session *s)
{
	return s->s.cmd_pid;
}

uint64_t ward_session_cgroup_id(const struct ward_session *s)
{
	return s->s.cgroup_id;
}

int ward_session_fd(const struct ward_session *s)
{
	return s->s.pidfd;
}

int ward_session_signal(struct ward_session *s, int sig)
{
	if (s->s.reaped || s->s.cmd_pidfd < 0)
		return -ESRCH;
	if (syscall(SYS_pidfd_send_signal, s->s.cmd_pidfd, sig, NULL, 0) < 0)
		return -errno;
	return 0;
}

int ward_session_reap(struct ward_session *s, int *ret_status)
{
	if (s->s.reaped) {
		*ret_status = s->s.status;
		return 0;
	}
	if (!s->rt->sb)
		return -ESRCH;

	int r = ward_sandbox_session_reap(s->rt->sb, &s->s, false, ret_status);

	if (r < 0)
		return r;
	session_ended(s);
	return 0;
}

static void unlist(struct ward_runtime *rt, struct ward_session *s)
{
	pthread_mutex_lock(&rt->sessions_lock);
	for (struct ward_session **p = &rt->sessions; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	if (s->listed && s->s.cgroup_id) {
		struct ended_session *e = &rt->ended[rt->n_ended++ % ARRAY_SIZE(rt->ended)];

		e->cgid = s->s.cgroup_id;
		snprintf(e->id, sizeof(e->id), "%s", s->s.id);
	}
	s->listed = false;
	pthread_mutex_unlock(&rt->sessions_lock);
}

void ward_session_free(struct ward_session *s)
{
	if (!s)
		return;
	unlist(s->rt, s);
	/* after ward_runtime_stop: reaped already, only closes */
	ward_sandbox_session_release(s->rt->sb, &s->s);
	session_ended(s);
	ward_gen_unref(s->gen);
	free(s->handles);
	free(s);
}

int ward_runtime_stop(struct ward_runtime *rt, struct ward_error *err)
{
	struct ward_session *list;

	(void)err;
	if (!rt->sb)
		return 0;
	settle_join(rt);
	pthread_mutex_lock(&rt->lock);
	rt->running = false; /* no new session from here on */
	while (rt->execs)
		pthread_cond_wait(&rt->execs_done, &rt->lock);
	pthread_mutex_unlock(&rt->lock);
	pthread_mutex_lock(&rt->sessions_lock);
	list = rt->sessions;
	pthread_mutex_unlock(&rt->sessions_lock);
	/* every session's exit row, then the sandbox's; the structs stay the
	 * caller's (reaped: ward_session_reap gives their status) */
	for (struct ward_session *s = list; s; s = s->next) {
		if (!s->s.reaped)
			ward_sandbox_session_release(rt->sb, &s->s);
		session_ended(s);
	}
	ward_sandbox_stop(rt->sb);
	rt->sb = NULL;
	stop_layers(rt);
	return 0;
}

int ward_runtime_session_of_cgroup(struct ward_runtime *rt, uint64_t cgid, char out[32])
{
	int r = -ENOENT;

	out[0] = '\0';
	pthread_mutex_lock(&rt->sessions_lock);
	for (struct ward_session *s = rt->sessions; s; s = s->next)
		if (s->s.cgroup_id == cgid) {
			snprintf(out, 32, "%s", s->s.id);
			r = 0;
			break;
		}
	for (size_t i = 0; r < 0 && i < ARRAY_SIZE(rt->ended); i++)
		if (rt->ended[i].cgid == cgid && cgid) {
			snprintf(out, 32, "%s", rt->ended[i].id);
			r = 0;
		}
	pthread_mutex_unlock(&rt->sessions_lock);
	return r;
}
