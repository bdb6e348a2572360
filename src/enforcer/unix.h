/* SPDX-License-Identifier: MIT */
/* Host pathname unix sockets, per binary (docs/sandbox.md, "Unix sockets").
 *
 * Two parts decide together:
 *  - the broker (unix_broker.h): a seccomp user-notification filter sends
 *    connect() to ward, which resolves the path as the process would, decides
 *    by the socket's inode and connects on the process's behalf;
 *  - the backstop (bpf/unix.bpf.c): cgroup connect_unix/sendmsg_unix that
 *    let through only the broker, abstract addresses and paths named for the
 *    caller's executable, by string (datagrams, and connects the broker
 *    did not see).
 * This handle owns the backstop programs and the policy's table of
 * (executable identity → named unix paths) that both use.
 *
 * Lifecycle: ward_unix_new() → ward_unix_attach(cgroup fd) → poll
 * ward_unix_events_fd() and ward_unix_consume() → ward_unix_free(). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "audit/audit.h"
#include "common/error.h"
#include "policy/model.h"
#include "policy/peer.h"
#include "ward/abi.h"

struct ward_unix_config {
	const char *sandbox;	  /* copied; the rows' sandbox column */
	struct ward_audit *audit; /* borrowed, may be NULL */
	pid_t broker_tgid;	  /* the process whose connects are the broker's (ward) */
	/* The session of a row's cgroup (ward exec); unset: rows carry none. */
	struct ward_session_hook session_of;
	/* --learn (docs/learn.md): a host socket the policy does not name is
	 * connected all the same by the broker, its row action "audit" */
	bool learn;
};

struct ward_unix;

int ward_unix_new(const struct ward_policy *p, const struct ward_unix_config *cfg,
		  struct ward_unix **ret, struct ward_error *err);
/* The rows' sandbox column, when the handle was made before the sandbox. */
int ward_unix_set_sandbox(struct ward_unix *u, const char *sandbox);
int ward_unix_attach(struct ward_unix *u, int cgroup_fd, struct ward_error *err);
void ward_unix_free(struct ward_unix *u);

/* Decide from policy p from now on: the backstop's rules of p are loaded
 * beside the running ones and one write of the active-generation index
 * switches the programs to them (never a half-filled rules map); the broker's
 * table follows in the same step. On failure (-E2BIG: more than
 * WARD_UNIX_MAX_RULES pairs, -ENAMETOOLONG, ...) the previous generation
 * stays in force. p is borrowed: valid while in force (until the next
 * successful apply or ward_unix_free returns). Safe while the broker and the
 * event reader run; not concurrently with itself. */
int ward_unix_apply(struct ward_unix *u, const struct ward_policy *p, struct ward_error *err);
/* What a switch leaves to do and may block on (ward_egress_settle). */
void ward_unix_settle(struct ward_unix *u);

/* Problems that did not stop loading (binaries that match no file). */
const char *const *ward_unix_warnings(const struct ward_unix *u, size_t *ret_n);
/* (identity, path) pairs loaded into the backstop. */
size_t ward_unix_n_rules(const struct ward_unix *u);

int ward_unix_events_fd(const struct ward_unix *u);
/* Turn pending backstop events into rows (layer "unix"); how many, or -errno. */
int ward_unix_consume(struct ward_unix *u);
/* Events the kernel could not queue. */
uint64_t ward_unix_dropped(const struct ward_unix *u);
/* A row (rule "events_dropped") for events lost since the last one; at most
 * one a second unless force. */
void ward_unix_report_drops(struct ward_unix *u, bool force);

/* The broker's question for a host socket: may the process pid (host pid
 * namespace), whose executable or a bounded chain of ancestors' is known to
 * the policy, connect to the socket file sock (fstat of what its path
 * resolved to)? Each `unix:` path of its network policies is stat'ed on the
 * host now and compared by (dev, ino). Returns 1 and the policy key, 0 when
 * nothing names it; *ret_binary is the policy's path of the identity that
 * decided, or NULL when the executable is not in the policy. */
int ward_unix_named(struct ward_unix *u, pid_t pid, const struct stat *sock, const char **ret_rule,
		    const char **ret_binary);

/* One decision row of layer "unix" for process pid (names its binary and
 * its sha256, cached per executable); action "allow", "deny" or "audit". */
void ward_unix_row(struct ward_unix *u, pid_t pid, const char *action, const char *path,
		   const char *binary, const char *rule, const char *reason);
/* --learn (ward_unix_config.learn): the broker connects a host socket the
 * policy does not name, with an "audit" row */
bool ward_unix_learning(const struct ward_unix *u);
/* A refusal of the broker's seccomp filter (unshare/clone with CLONE_NEWUSER,
 * mount, bpf, ptrace): layer seccomp, the syscall in method. */
void ward_unix_seccomp_row(struct ward_unix *u, pid_t pid, const char *syscall_name,
			   const char *reason);

/* Does this kernel load and attach the backstop (connect_unix/sendmsg_unix)?
 * 0 yes, -errno no (err says why). For `ward doctor` and the degrade path. */
int ward_unix_probe(struct ward_error *err);
