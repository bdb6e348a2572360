/* SPDX-License-Identifier: MIT */
/* The runtime: a sandbox is its namespaces + cgroup (enforcer/sandbox.h) and
 * an ordered, growable list of layers, each behind one interface
 * (struct ward_layer_ops). `ward run` holds one; the daemon will hold many.
 *
 * A layer declares the layers it needs by name (ops->deps). Registration
 * (ward_runtime_add_layers) orders the list so every layer comes after what
 * it needs (a stable topological sort: among layers free to go next, the one
 * registered first); a dependency that is not registered or a cycle is a
 * programming error, refused there with -EINVAL and a message. Teardown runs
 * the list in reverse: what uses a layer stops before the layer does.
 *
 * Life of a layer:
 *   prepare  before the sandbox exists (secrets read, CA made, programs
 *            loaded, ...): 0 the layer is in this run, WARD_LAYER_ABSENT it
 *            is not (it said why itself), < 0 the run fails (exit 125);
 *   attach   the sandbox exists (cgroup, netns, init waiting), the command
 *            has not started: one sandbox hook per layer that has attach, in
 *            list order (their names are the start row's layer list);
 *   apply    a new policy generation (ward_runtime_apply), in list order;
 *   session  (ward_runtime_exec) a session's command is about to run, with
 *            session_end once it ended (the unix broker per session);
 *   stop     the command is gone: stop threads and loops (reverse order);
 *   finish   free everything (reverse order, after every layer stopped).
 * Every hook but prepare is optional. A layer absent from the run is neither
 * attached nor applied nor stopped; finish runs for every prepared layer
 * (also an absent one, and after a failed prepare) and must be safe then.
 *
 *   ward_runtime_new(&cfg, &rt, &err);          cfg.gen: the first generation
 *   ward_runtime_add_layers(rt, ops, n, &err);  (ward_run_layers_add: ward run's)
 *   ward_runtime_prepare(rt, &err);
 *   ward_runtime_run(rt, &run, &status, &err);  ward_runtime_apply() from any
 *                                               thread while this runs
 *   ward_runtime_free(rt);                      stop + finish + free
 *
 * A sandbox that hosts sessions (`ward daemon`, docs/sandbox.md "Sessions"):
 * ward_runtime_start instead of ward_runtime_run, then any number of
 * ward_runtime_exec (each a struct ward_session: poll ward_session_fd, then
 * ward_session_reap, ward_session_free), ward_runtime_apply as above (for new
 * sessions: Landlock, process, environment), ward_runtime_stop (sessions
 * killed and reaped, init killed, cgroups removed, layers stopped), free the
 * sessions, then ward_runtime_free (the layers' finish: veth pair, programs).
 * One sandbox per runtime. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "common/error.h"
#include "enforcer/mounts.h"
#include "enforcer/sandbox.h"
#include "policy/generation.h"
#include "policy/peer.h"

#define WARD_LAYER_ABSENT 1 /* prepare: this layer has nothing to do in this run */

struct ward_runtime;
struct ward_layer;
struct ward_apply_report;

struct ward_layer_ops {
	const char *name;
	/* NULL-terminated names of the layers this one needs, which come before
	 * it; "?name": needed when present (absent at run time is fine) */
	const char *const *deps;
	/* policy sections (ward_policy_changed_sections) this layer enforces: a change
	 * to one of them is applied live only when every layer in the run that
	 * enforces it has apply (and it succeeds) */
	const char *const *sections;
	size_t state_size; /* zeroed bytes for ward_layer_state() */
	/* the module borrows every policy it was given until it is freed
	 * (e.g. the egress maps name the rules of connections made under an
	 * older one): the runtime keeps each generation applied to this layer
	 * until after its finish */
	bool keeps_generations;
	int (*prepare)(struct ward_layer *l, struct ward_error *err);
	int (*attach)(struct ward_layer *l, struct ward_sandbox *sb, struct ward_error *err);
	/* switch to g in one step atomic for this layer's data path; on failure
	 * the layer still decides from its previous generation. rep: to mark a
	 * section this layer cannot change here (ward_apply_report_later). */
	int (*apply)(struct ward_layer *l, struct ward_gen *g, struct ward_apply_report *rep,
		     struct ward_error *err);
	/* after every layer's apply: what a switch leaves to do and may block
	 * on (e.g. an RCU grace period) without deciding anything; the next
	 * apply does it first when no settle ran */
	void (*settle)(struct ward_layer *l);
	void (*stop)(struct ward_layer *l);
	void (*finish)(struct ward_layer *l);
	/* Sessions (ward_runtime_exec): the command (host pid, credentials) is
	 * about to run; listener: the unix broker's connect() listener, its fd
	 * number in the command's table (-1: none). < 0 kills the session (125).
	 * *ret_handle goes to session_end once the session ended. */
	int (*session)(struct ward_layer *l, pid_t pid, int listener, uid_t uid, gid_t gid,
		       void **ret_handle, struct ward_error *err);
	void (*session_end)(struct ward_layer *l, void *handle);
};

struct ward_runtime_config {
	struct ward_gen *gen;	  /* the first generation; the runtime takes a reference */
	struct ward_audit *audit; /* borrowed; NULL: no rows */
	const char *log_path;
	const char *hosts_file;	 /* --hosts */
	const char *upstream_ca; /* --upstream-ca */
	/* --learn (docs/learn.md): what the policy would deny is allowed and
	 * logged as action "audit" by every layer (kernel egress, DNS, proxy/L7,
	 * filesystem); `ward policy suggest` turns the rows into a policy */
	bool learn;
	ward_diag_fn diag;	 /* warnings of the layers; NULL: silent */
	void *diag_data;
	/* called once every layer is attached, before the command starts (on
	 * the thread of ward_runtime_run): e.g. start watching the policy */
	void (*attached)(void *data, struct ward_runtime *rt);
	void *attached_data;
	/* each step of each layer (prepare, attach, apply, stop, finish) once it
	 * returned: r its result, ns how long it took; NULL: none (`ward -v`) */
	void (*trace)(void *data, const char *layer, const char *step, int r, uint64_t ns);
	void *trace_data;
};

/* The command of ward_runtime_run. */
struct ward_runtime_cmd {
	const char *workdir; /* absolute */
	char *const *argv;
	char *id_out; /* WARD_SANDBOX_ID_LEN + 1 bytes, or NULL */
};

int ward_runtime_new(const struct ward_runtime_config *cfg, struct ward_runtime **ret,
		     struct ward_error *err);
/* Register n layers (the list grows; names are unique). Their deps may name
 * layers registered before or in the same call. -EINVAL: a missing or
 * duplicate name or a cycle (nothing of the call is registered); only before
 * ward_runtime_prepare. */
int ward_runtime_add_layers(struct ward_runtime *rt, const struct ward_layer_ops *const *ops,
			    size_t n, struct ward_error *err);
/* The names in list order, for tests: ret[i] borrowed; returns the count. */
size_t ward_runtime_layer_names(const struct ward_runtime *rt, const char **ret, size_t cap);

int ward_runtime_prepare(struct ward_runtime *rt, struct ward_error *err);
/* Run the command in the sandbox and wait for it (ward_sandbox_run). */
int ward_runtime_run(struct ward_runtime *rt, const struct ward_runtime_cmd *cmd, int *ret_status,
		     struct ward_error *err);
/* --- a sandbox that hosts sessions (`ward daemon`, docs/sandbox.md "Sessions") */
struct ward_runtime_start {
	const char *workdir; /* absolute */
	const char *id;	     /* the sandbox id to use (WARD_SANDBOX_ID_LEN hex), NULL: random */
	const char *home;    /* host directory mounted read-write as the sandbox user's home
			      * (WARD_SANDBOX_HOME inside), kept by the caller; NULL: as today */
	char *id_out;	     /* WARD_SANDBOX_ID_LEN + 1 bytes, or NULL */
};
/* Create the sandbox (cgroup, namespaces, init serving sessions) and attach
 * every layer; returns once it can host sessions. PR_SET_PDEATHSIG follows the
 * creating THREAD: call it from a thread that lives as long as the sandbox.
 * One sandbox per runtime (-EBUSY otherwise). The strings of st (workdir,
 * home) are borrowed until ward_runtime_stop: sessions exec'ed later use them. */
int ward_runtime_start(struct ward_runtime *rt, const struct ward_runtime_start *st,
		       struct ward_error *err);

struct ward_session_spec {
	char *const *argv;
	char *const *env; /* the caller's environment ("K=V", NULL-terminated); the policy's
			   * environment section filters it exactly as ward run filters ward's */
	const char *cwd;  /* inside; NULL: the sandbox's workdir */
	int stdio[3];	  /* borrowed, dup'ed into the session */
	const char *id;	  /* session id, NULL: generated (12 hex) */
};
struct ward_session;

/* Start a command in the sandbox of ward_runtime_start, in a cgroup of its own
 * below the sandbox's (<leaf>/s-<id>), under the generation in force now
 * (Landlock, process, environment; the mounts are the sandbox's). Returns once
 * the command is about to execve (its start row written) or failed to start
 * (the session then reaps as 125/126/127). Any thread (also one that ends
 * before the session); ward_runtime_stop waits for the calls under way, and
 * refuses (-ESRCH) the ones after it began. */
int ward_runtime_exec(struct ward_runtime *rt, const struct ward_session_spec *s,
		      struct ward_session **ret, struct ward_error *err);
const char *ward_session_id(const struct ward_session *s);
pid_t ward_session_pid(const struct ward_session *s); /* host pid of the command */
uint64_t ward_session_cgroup_id(const struct ward_session *s);
int ward_session_fd(const struct ward_session *s); /* pollable: readable once it ended */
int ward_session_signal(struct ward_session *s, int sig);
/* 0 + ward run's exit contract (status, 128+N, 125, 126, 127) once ended;
 * -EAGAIN while it runs */
int ward_session_reap(struct ward_session *s, int *ret_status);
void ward_session_free(struct ward_session *s); /* kills what is left of it, reaps */
/* Kill every session and init, stop the layers' sandbox side; the sandbox is
 * gone. Sessions not freed yet read as ended (killed). */
int ward_runtime_stop(struct ward_runtime *rt, struct ward_error *err);
/* cgroup id -> session id ("" when the process is not in a session), for row
 * attribution. 0, or -ENOENT with out "". */
int ward_runtime_session_of_cgroup(struct ward_runtime *rt, uint64_t cgid, char out[32]);

/* Stop and finish every layer (reverse order), drop the generations. NULL ok. */
void ward_runtime_free(struct ward_runtime *rt);

/* The generation in force (a new reference). */
struct ward_gen *ward_runtime_gen(struct ward_runtime *rt);

/* --- what a new generation did, per policy section */
enum ward_apply_state {
	WARD_APPLY_UNCHANGED = 0,
	WARD_APPLY_APPLIED,	 /* in force for the running command */
	WARD_APPLY_NEW_SESSIONS, /* "applies to new sessions only" */
	WARD_APPLY_NEXT_START,	 /* "applies at the next start" (stop and start) */
};

#define WARD_APPLY_MAX_SECTIONS 24
#define WARD_APPLY_MAX_STEPS 16

struct ward_apply_report {
	char old_rev[65], new_rev[65];
	size_t n;
	struct {
		char section[48];
		enum ward_apply_state state;
	} v[WARD_APPLY_MAX_SECTIONS];
	/* where the time went, in order (the daemon's "timings"): the runtime's
	 * own steps ("settle_wait": the previous settle's threads joined,
	 * "sections", "store_policy", "resources") and each layer's apply
	 * under its name */
	size_t n_steps;
	struct {
		const char *name; /* static */
		uint64_t ns;
	} steps[WARD_APPLY_MAX_STEPS];
};

/* Apply a new generation while the sandbox runs: each layer's apply in list
 * order, then the report. On a failing layer, the layers already switched go
 * back to the old generation (reverse order), the old one stays in force and
 * the error is returned. Writes the `control` row (docs/audit.md) either way.
 * -ESRCH: no sandbox is running. g: the caller's reference stays its own. */
int ward_runtime_apply(struct ward_runtime *rt, struct ward_gen *g, struct ward_apply_report *rep,
		       struct ward_error *err);
/* After ward_runtime_apply (and ward_runtime_start): each layer's settle,
 * the waits a switch leaves, off the path of the switches themselves: on a
 * thread per layer, so the caller goes on at once (the daemon serves the
 * next request) and the waits overlap. The next apply and the stop join
 * them first. Optional: the next apply does a layer's settle itself,
 * before its own switch, when none ran. */
void ward_runtime_settle(struct ward_runtime *rt);
/* A layer: this section cannot change in this run (e.g. no network here). */
void ward_apply_report_later(struct ward_apply_report *rep, const char *section);
/* "applied: a, b; applies to new sessions only: c" ("no section changed"). */
void ward_apply_report_describe(const struct ward_apply_report *rep, char *buf, size_t len);
/* A `control` row for this sandbox (rows of a refused policy, ...). */
void ward_runtime_control_row(struct ward_runtime *rt, const char *action, const char *rule,
			      const char *reason, const char *policy_rev);

/* --- for layers */
void *ward_layer_state(struct ward_layer *l);
/* The state of a declared dependency; NULL when it is absent from this run.
 * Naming an undeclared one is a programming error (abort). */
void *ward_layer_dep(struct ward_layer *l, const char *name);
/* The generation this layer decides from (borrowed: valid until its next apply). */
const struct ward_policy *ward_layer_policy(const struct ward_layer *l);
const struct ward_runtime_config *ward_layer_config(const struct ward_layer *l);
/* ward_runtime_session_of_cgroup of the layer's runtime, as the enforcer's
 * and the proxy's rows take it (policy/peer.h) */
struct ward_session_hook ward_layer_session_hook(const struct ward_layer *l);
/* Sandbox options a layer sets in prepare (files shown inside, Landlock TCP
 * ports, the unix broker). */
struct ward_sandbox_opts *ward_layer_sandbox_opts(struct ward_layer *l);
int ward_layer_add_file(struct ward_layer *l, const char *host_path, const char *target,
			struct ward_error *err);
void ward_layer_diag(const struct ward_layer *l, bool warning, const char *msg);

/* --- policy sections (sections.c) */
/* The sections that differ between a and b, by the names of the policy file
 * (filesystem_policy, filesystem_policy.binaries, landlock, process,
 * network_policies, credentials, inference, environment, resources (the
 * cgroup limits), resources.tmp_size, and any section a later schema adds), from their compiled
 * forms with positions in the file ignored. Landlock counts as changed when it limits TCP ports and
 * the ports change. Returns the count (names[] filled up to cap). */
size_t ward_policy_changed_sections(const struct ward_policy *a, const struct ward_policy *b,
				    char names[][48], size_t cap);
