/* SPDX-License-Identifier: MIT */
/* The sandbox's filesystem (DESIGN.md layer 1): a fresh tmpfs root holding
 * only the policy's paths, bind-mounted at their host locations, a private
 * /proc, a minimal /dev and a private /tmp. The plan is computed on the host
 * (where missing paths are reported with their policy position); the child
 * only applies it, without allocating. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "common/error.h"
#include "enforcer/landlock.h"
#include "policy/model.h"

/* Diagnostics sink (warnings about skipped paths, exec failures). */
typedef void (*ward_diag_fn)(void *data, bool warning, const char *msg);

enum ward_mount_kind {
	WARD_MNT_BIND,	  /* bind of the host path at the same location */
	WARD_MNT_SYMLINK, /* the host path is a symlink: the same symlink inside */
	WARD_MNT_TMPFS,	  /* private tmpfs (/tmp when the policy does not map it) */
	WARD_MNT_PROC,	  /* proc of the sandbox's pid namespace */
	WARD_MNT_DEV,	  /* minimal /dev */
	WARD_MNT_FILE,	  /* a file ward provides (struct ward_mount_file), bound read-only */
};

/* A host file shown read-only at an absolute path inside, e.g. ward's own
 * /etc/resolv.conf or the proxy's CA bundle. Inside a directory bound from the
 * host the target must already exist there (a file, or a symlink: the file is
 * mounted over the link itself, not where it points); elsewhere (the root
 * tmpfs, /tmp, /dev) ward creates it. ward never writes to host directories. */
struct ward_mount_file {
	const char *source; /* host path, regular file */
	const char *target; /* absolute, normalised path inside */
};

struct ward_mount {
	char *path; /* same inside and on the host */
	enum ward_mount_kind kind;
	bool read_only;
	bool is_dir;
	bool allow_dev; /* a device node the policy lists: no nodev */
	bool noexec;
	bool landlock; /* grant Landlock rights (not for the workdir without include_workdir) */
	char *target;  /* WARD_MNT_SYMLINK: the link's target */
	char *source;  /* WARD_MNT_FILE: the host file (canonical); WARD_MNT_BIND: the host
			* directory when it is not path (ward_mount_plan_add_dir) */
	bool create;   /* WARD_MNT_FILE: create an empty mount point first (not in a host bind) */
	bool as_host;  /* learn (ward_mount_plan_learn): the host's own mount flags, untouched */
};

struct ward_mount_plan {
	struct ward_mount *v;
	size_t n;
	struct ward_landlock_rule *rules; /* Landlock rules matching the mounts */
	size_t n_rules;
	bool private_sockdirs; /* see WARD_MOUNT_SOCKDIRS (set while building) */
	uint64_t tmp_size;     /* size= of the private /tmp in bytes; 0: the kernel's default */
	bool learn;	       /* ward_mount_plan_learn: the root is the host's, not read-only */
};

/* Where host unix sockets live. Without the unix-socket layer (no seccomp
 * user notification or no connect_unix BPF) they are private tmpfs even when
 * the policy maps them or a directory under them (docs/sandbox.md). */
#define WARD_MOUNT_SOCKDIRS                                                                        \
	{                                                                                          \
		"/tmp", "/run", "/var/tmp", "/dev/shm"                                             \
	}

/* Build the plan for policy p, the (canonical, absolute) workdir and the
 * files ward places inside (n_files may be 0). A policy path missing on the
 * host is an error under landlock hard_requirement and a warning through diag
 * otherwise ("FILE:LINE:COL: /app does not exist; skipped"). A file that
 * cannot be placed is always an error. */
int ward_mount_plan_build(const struct ward_policy *p, const char *workdir,
			  const struct ward_mount_file *files, size_t n_files,
			  bool private_sockdirs, ward_diag_fn diag, void *diag_data,
			  struct ward_mount_plan *ret, struct ward_error *err);
void ward_mount_plan_free(struct ward_mount_plan *plan);
/* Learn mode (docs/learn.md, docs/filesystem.md "Learn mode"): widen a
 * built plan so that nothing the policy hides or maps read-only is refused.
 * The host's root is bound recursively at "/" with the host's own mount
 * flags (visible as on the host, writable where the host allows it); the
 * policy's paths and the workdir stay as read-write binds of the same host
 * paths (so that they show through a private /tmp or /run as well), and
 * ward's own /proc, minimal /dev, private /tmp and files go on top, as
 * usual. The root is not made read-only. Before ward_mount_plan_add_dir(). */
int ward_mount_plan_learn(struct ward_mount_plan *plan, struct ward_error *err);
/* Append a read-write bind of the host directory source at target inside
 * (a session sandbox's home), last: over whatever the policy put there. */
int ward_mount_plan_add_dir(struct ward_mount_plan *plan, const char *source, const char *target,
			    struct ward_error *err);

/* Child side, root in fresh mount and pid namespaces: assemble the root,
 * pivot_root into it and detach the host's root. */
int ward_mount_apply(const struct ward_mount_plan *plan, struct ward_error *err);

/* A later generation's mount plan, for new sessions of a running sandbox
 * (docs/sandbox.md, "Sessions"): the session gets a mount namespace of its
 * own, a copy of the sandbox's, in which the mounts the new plan drops or
 * changes are detached and the ones it adds or changes are attached from
 * detached copies of the host's (open_tree) made by ward beforehand. */
struct ward_mount_add {
	char *path;	   /* inside (same as on the host) */
	int tree;	   /* open_tree(OPEN_TREE_CLONE) of the host's, with its attributes set */
	bool is_dir;
};

struct ward_mount_delta {
	char **detach; /* deepest first */
	size_t n_detach;
	struct ward_mount_add *add; /* parents first */
	size_t n_add;
};

/* ward's side: what turns the running plan cur into next. Only host binds
 * and placed files can be added; any other kind of mount that differs
 * (ward's own /tmp, /proc, /dev, symlinks) is an error naming it. */
int ward_mount_delta_build(const struct ward_mount_plan *cur, const struct ward_mount_plan *next,
			   struct ward_mount_delta *ret, struct ward_error *err);
void ward_mount_delta_free(struct ward_mount_delta *d);
/* The session's intermediate, right after joining the sandbox's mount
 * namespace: a namespace of its own with d applied. No allocation. */
int ward_mount_delta_apply(const struct ward_mount_delta *d, struct ward_error *err);
