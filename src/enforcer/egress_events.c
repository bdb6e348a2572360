// SPDX-License-Identifier: MIT
/* Kernel verdict events → decision rows (layer "kernel"). */
#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/owner.h"
#include "common/util.h"
#include "enforcer/egress_internal.h"
#include "enforcer/exe.h"
#define WARD_DECIDE_HELPERS_ONLY
#include "../../bpf/egress_decide.h"

_Static_assert(WARD_UID_NONE == WARD_OWNER_UID_NONE, "one value for no uid");

const char *ward_egress_reason_str(unsigned reason)
{
	return ward_reason_str(reason);
}

static void addr_str(const uint8_t a[16], char *buf, size_t size)
{
	struct ward_addr wa;

	memcpy(wa.w, a, 16);
	if (ward_addr_is_mapped(&wa))
		inet_ntop(AF_INET, a + 12, buf, (socklen_t)size);
	else
		inet_ntop(AF_INET6, a, buf, (socklen_t)size);
}

/* Executables outside the policy have no path in the table: the process's
 * own, or the file of that identity in $PATH once it is gone; else the
 * identity, and comm for the reader (never for decisions). */
static void unknown_binary(pid_t pid, uint64_t dev, uint64_t ino, const char *comm, char *buf,
			   size_t size)
{
	if (ward_exe_name(pid, dev, ino, NULL, buf, size) == 0)
		return;
	snprintf(buf, size, "inode %llu:%llu:%llu%s%.16s%s", (unsigned long long)(dev >> 20),
		 (unsigned long long)(dev & 0xfffff), (unsigned long long)ino, comm ? " (" : "",
		 comm ? comm : "", comm ? ")" : "");
}

void ward_egress_peer_exe(const struct ward_egress_peer *p, char *buf, size_t len)
{
	/* records of an older ABI (tests' lookups) name only the decider */
	uint64_t dev = p->own_ino ? p->own_dev : p->dev, ino = p->own_ino ? p->own_ino : p->ino;

	/* a file admitted in a writable place may have been renamed since: its name now */
	if (p->exe && p->exe_sha && ward_exe_path(p->pid, dev, ino, buf, len) == 0)
		return;
	if (p->exe)
		snprintf(buf, len, "%s", p->exe);
	else if (p->depth == 0 && p->binary)
		snprintf(buf, len, "%s", p->binary);
	else
		unknown_binary(p->pid, dev, ino, NULL, buf, len);
}

const char *ward_egress_peer_via(const struct ward_egress_peer *p)
{
	return p->depth ? p->binary : NULL;
}

void egress_submit(struct ward_egress *e, const struct ward_event *ev, struct ward_decision *d)
{
	if (e->audit)
		(void)ward_audit_submit(e->audit, d);
	if (e->on_event)
		e->on_event(e->userdata, ev, d);
}

int egress_on_sample(void *ctx, void *data, size_t size)
{
	const struct ward_event *ev = data;

	/* version 4 (a pinned ring buffer an older host-mode ward filled
	 * before this one took it over) differs only in the uid, 0 there */
	if (size < sizeof(*ev) ||
	    (ev->version != WARD_ABI_VERSION && ev->version != WARD_EVENT_VERSION_NO_UID))
		return 0;
	egress_event_row(ctx, ev);
	return 0;
}

void egress_event_row(struct ward_egress *e, const struct ward_event *ev)
{
	const struct egress_ident *id, *own;
	char ip[INET6_ADDRSTRLEN], bin[PATH_MAX], proto[8], session[32];
	struct ward_decision d = { 0 };
	struct ward_owner owner;
	const struct egress_gen *g, *names;
	const char *rev;

	/* the generation that decided: its rule texts and rev (kept for
	 * EGRESS_HIST_KEPT generations; one long gone names its binaries
	 * through the one in force) */
	pthread_rwlock_rdlock(&e->gens.lock);
	g = egress_gens_find(&e->gens, ev->gen, false);
	names = g ? g : e->gens.cur;
	rev = egress_gens_rev(&e->gens, ev->gen);
	/* the row names the executable that acted; the ancestor that decided
	 * for it (ancestors: true) goes in via */
	own = egress_ident_find(names, ev->own_dev, ev->own_ino);
	/* the kernel did not take the identity (its pins: renamed, linked
	 * elsewhere, deleted; bpf/exe_ident.h): the name it runs under now */
	if (own && ev->depth == 0 && ev->entry != own->entry &&
	    ward_exe_path((pid_t)ev->tgid, ev->own_dev, ev->own_ino, bin, sizeof(bin)) == 0)
		;
	else if (own)
		snprintf(bin, sizeof(bin), "%s", own->path);
	else if (egress_exec_name(e, ev->own_dev, ev->own_ino) &&
		 ward_exe_path((pid_t)ev->tgid, ev->own_dev, ev->own_ino, bin, sizeof(bin)) < 0)
		/* exited before this row: the name it was executed under */
		snprintf(bin, sizeof(bin), "%s", egress_exec_name(e, ev->own_dev, ev->own_ino));
	else
		unknown_binary((pid_t)ev->tgid, ev->own_dev, ev->own_ino, ev->comm, bin,
			       sizeof(bin));
	id = ev->depth ? egress_ident_find(names, ev->dev, ev->ino) : NULL;
	d.via = id ? id->path : NULL;
	addr_str(ev->orig, ip, sizeof(ip));
	if (ev->proto == 6)
		snprintf(proto, sizeof(proto), "tcp");
	else if (ev->proto == 17)
		snprintf(proto, sizeof(proto), "udp");
	else
		snprintf(proto, sizeof(proto), "%u", ev->proto);

	d.ts_ns = ev->ts_ns + e->mono_to_real;
	d.sandbox = e->sandbox;
	d.layer = "kernel";
	d.action = ev->verdict == WARD_VERDICT_DENY    ? "deny"
		   : ev->verdict == WARD_VERDICT_AUDIT ? "audit"
						       : "allow";
	d.binary = bin;
	d.pid = (int32_t)ev->tgid;
	d.ip = ip;
	d.port = ev->orig_port;
	d.protocol = proto;
	/* a generation gone by now (a connection looked up late): its history's */
	d.rule = egress_gens_rule(&e->gens, ev->gen, false, ev->entry);
	if (!d.rule && ev->reason == WARD_REASON_INFERENCE)
		d.rule = "inference";
	d.reason = ward_egress_reason_str(ev->reason);
	d.policy_rev = rev;
	d.session = ward_session_of(&e->session_of, ev->cgid, session);
	ward_owner_of(&owner, (pid_t)ev->tgid,
		      ev->version == WARD_EVENT_VERSION_NO_UID ? WARD_UID_NONE : ev->uid, ev->cgid);
	d.has_uid = owner.has_uid;
	d.uid = owner.uid;
	d.cgroup = owner.cgroup;
	egress_submit(e, ev, &d);
	pthread_rwlock_unlock(&e->gens.lock);
}

/* A counter that grew becomes one row saying by how much: events the kernel
 * could not queue are decisions nobody saw, so the log says they existed. */
static void report_counter(struct ward_egress *e, uint64_t now, uint64_t *reported,
			   const char *what)
{
	char reason[128], rev[65] = "";
	struct ward_decision d;

	if (now <= *reported)
		return;
	pthread_rwlock_rdlock(&e->gens.lock);
	if (e->gens.cur)
		memcpy(rev, e->gens.cur->rev, sizeof(rev));
	pthread_rwlock_unlock(&e->gens.lock);
	snprintf(reason, sizeof(reason), "%llu %s", (unsigned long long)(now - *reported), what);
	*reported = now;
	d = (struct ward_decision){
		.sandbox = e->sandbox,
		.layer = "kernel",
		.action = "deny",
		.rule = "events_dropped",
		.reason = reason,
		.policy_rev = rev[0] ? rev : NULL,
	};
	egress_submit(e, NULL, &d);
}

void ward_egress_report_drops(struct ward_egress *e, bool force)
{
	uint64_t now = ward_mono_ns();

	/* bounded: one row per counter per second while running, then at the end */
	if (!force && now - e->last_report_ns < 1000000000ull)
		return;
	e->last_report_ns = now;
	report_counter(e, ward_egress_dropped(e), &e->reported_drops,
		       "events dropped (ring buffer full)");
	report_counter(e, ward_egress_udp_refused(e), &e->reported_udp_refused,
		       "UDP sockets refused (identity map full)");
}
