/* SPDX-License-Identifier: MIT */
/* Landlock's own denial records (Landlock ABI 7, docs/filesystem.md
 * "Landlock's audit records"): the kernel writes an AUDIT_LANDLOCK_ACCESS
 * record per refused access of a sandboxed task (the command is a new exec:
 * ward restricts with LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON), followed the
 * first time by an AUDIT_LANDLOCK_DOMAIN record naming the process that
 * created the domain. ward only listens: a NETLINK_AUDIT socket bound to the
 * read-only multicast group (AUDIT_NLGRP_READLOG, CAP_AUDIT_READ), no rule
 * and no change to the host's audit configuration. No cost to any task: the
 * kernel formats the record only for a refused access.
 *
 * The kernel writes nothing while audit is disabled (audit_enabled == 0:
 * no auditd and no audit=1 on the command line), whatever listens:
 * ward_ll_audit_probe() says whether records can arrive, and why not. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"
#include "common/error.h"

#define WARD_AUDIT_SYSCALL 1300
#define WARD_AUDIT_EOE 1320
#define WARD_AUDIT_LANDLOCK_ACCESS 1423
#define WARD_AUDIT_LANDLOCK_DOMAIN 1424

enum ward_ll_audit_kind {
	WARD_LL_AUDIT_OTHER,
	WARD_LL_AUDIT_ACCESS,  /* a refused access */
	WARD_LL_AUDIT_DOMAIN,  /* a domain: allocated (first denial) or deallocated */
	WARD_LL_AUDIT_SYSCALL, /* the syscall the records of an event belong to */
	WARD_LL_AUDIT_EOE,     /* end of a multi-record event */
};

/* One record, as the kernel formats it: "audit(SEC.MSEC:SERIAL): k=v ...". */
struct ward_ll_audit_record {
	enum ward_ll_audit_kind kind;
	uint64_t serial;     /* the records of one event share it */
	uint64_t ts_ms;	     /* CLOCK_REALTIME, milliseconds */
	uint64_t domain;     /* access, domain */
	char blockers[192];  /* access: "fs.write_file,fs.make_reg", "net.connect_tcp" */
	char path[PATH_MAX]; /* access: path= (or name= of a dentry), "" if none */
	uint64_t ino;	     /* access: ino=, 0 if none */
	bool allocated;	     /* domain: status=allocated, else deallocated */
	uint64_t denials;    /* domain, deallocated: denials over its life */
	int32_t pid;	     /* domain: its creator; syscall: the caller (host pids) */
	long syscall;	     /* syscall: number (x86_64) */
	long exit;	     /* syscall: result (-errno) */
	char exe[PATH_MAX];  /* domain, syscall */
	char comm[64];	     /* domain, syscall */
};

/* Parse one record of netlink type `type` (text not NUL-terminated, len
 * bytes). 0 on success (kind OTHER for types this module does not read),
 * -EINVAL on a malformed record. Strings the kernel hex-encoded (spaces,
 * quotes, control bytes) are decoded; an over-long value is an error, never
 * cut. */
int ward_ll_audit_parse(int type, const char *text, size_t len, struct ward_ll_audit_record *ret);

/* WARD_FS_ACC_* bits for a blockers list; 0 when none is a filesystem right. */
uint32_t ward_ll_audit_access(const char *blockers);

/* 0 when Landlock's records can reach a listener on this machine, else
 * -errno and why (into why): audit disabled, no CAP_AUDIT_READ, no netlink
 * audit. Reads the audit status (AUDIT_GET); changes nothing. */
int ward_ll_audit_probe(char *why, size_t len);

struct ward_ll_audit_config {
	uint64_t cgroup_id;	  /* the sandbox leaf: a record is ours if its task was in it */
	const char *sandbox;	  /* copied */
	const char *policy_rev;	  /* copied */
	struct ward_audit *audit; /* borrowed, may be NULL */
	/* Denials the fs tracepoint already logs (fs.* blockers of a followed
	 * path syscall) are skipped: one refusal, one row. */
	bool tracepoint_rows;
	/* > 0: read netlink audit messages from this descriptor (taken over)
	 * instead of joining the group: a daemon's own audit connection, tests */
	int fd;
	void (*on_row)(void *userdata, const struct ward_decision *d);
	void *userdata;
};

struct ward_ll_audit;

int ward_ll_audit_new(const struct ward_ll_audit_config *cfg, struct ward_ll_audit **ret,
		      struct ward_error *err);
/* The sandbox, when the listener was opened before it existed. */
int ward_ll_audit_set_sandbox(struct ward_ll_audit *a, uint64_t cgroup_id, const char *sandbox);
/* The socket: readable when records are pending. */
int ward_ll_audit_fd(const struct ward_ll_audit *a);
/* Read pending records. An event's row is written at its end (EOE), or by
 * the call after the one that read its first record: its syscall record is
 * written when the syscall returns, microseconds later. Returns rows
 * written, or -errno. */
int ward_ll_audit_consume(struct ward_ll_audit *a);
/* Records lost: the socket overflowed (ENOBUFS), counted, reported as a row. */
uint64_t ward_ll_audit_lost(const struct ward_ll_audit *a);
void ward_ll_audit_free(struct ward_ll_audit *a);
