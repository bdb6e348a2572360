// SPDX-License-Identifier: MIT
/* Landlock's denial records read from the audit multicast group; see
 * landlock_audit.h. */
#include "enforcer/landlock_audit.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "enforcer/cgroup.h"
#include "enforcer/fs.h"
#include "ward/abi.h"

#include "../../bpf/fs_decide.h"

#define LL_PENDING 32		/* events whose records may still be arriving */
#define LL_DOMAINS 64		/* domains already attributed */
#define WARD_AUDIT_MSG_MAX 8970 /* MAX_AUDIT_MESSAGE_LENGTH (kernel/audit.h) */

/* --- parsing ------------------------------------------------------------ */

/* The value of key in a record's "k=v k=v" text, into out: quoted ("...",
 * *quoted set) or bare. 1 found, 0 absent, -EINVAL malformed or too long. */
static int field_q(const char *text, size_t len, const char *key, char *out, size_t out_len,
		   bool *quoted)
{
	size_t klen = strlen(key);
	const char *end = text + len;

	for (const char *p = text; p < end;) {
		const char *v, *ve;
		bool q;

		while (p < end && *p == ' ')
			p++;
		if ((size_t)(end - p) <= klen || memcmp(p, key, klen) || p[klen] != '=') {
			/* skip this pair; a quoted value may hold spaces */
			while (p < end && *p != ' ' && *p != '"')
				p++;
			if (p < end && *p == '"') {
				const char *c = memchr(p + 1, '"', (size_t)(end - p - 1));

				if (!c)
					return -EINVAL;
				p = c + 1;
			}
			continue;
		}
		v = p + klen + 1;
		q = v < end && *v == '"';
		if (q) {
			ve = memchr(v + 1, '"', (size_t)(end - v - 1));
			if (!ve)
				return -EINVAL;
			v++;
		} else {
			for (ve = v; ve < end && *ve != ' '; ve++)
				;
		}
		if ((size_t)(ve - v) >= out_len)
			return -EINVAL;
		memcpy(out, v, (size_t)(ve - v));
		out[ve - v] = '\0';
		if (quoted)
			*quoted = q;
		return 1;
	}
	return 0;
}

static int field(const char *text, size_t len, const char *key, char *out, size_t out_len)
{
	return field_q(text, len, key, out, out_len, NULL);
}

/* An untrusted string (path=, exe=, comm=, name=): quoted as is, or
 * hex-encoded by the kernel when it holds a space, a quote or a control
 * byte (audit_log_untrustedstring); "(null)" and "?" stand for none. */
static int string_field(const char *text, size_t len, const char *key, char *out, size_t out_len)
{
	bool quoted = false;
	size_t n;
	int r = field_q(text, len, key, out, out_len, &quoted);

	if (r <= 0 || quoted)
		return r;
	if (!strcmp(out, "(null)") || !strcmp(out, "?")) {
		out[0] = '\0';
		return 1;
	}
	/* the kernel's own markers, "<too_long>", "<no_memory>": kept as said */
	if (out[0] == '<')
		return 1;
	n = strlen(out);
	if (n % 2)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 2) {
		unsigned v;

		if (!isxdigit((unsigned char)out[i]) || !isxdigit((unsigned char)out[i + 1]) ||
		    sscanf(out + i, "%2x", &v) != 1)
			return -EINVAL;
		out[i / 2] = (char)v;
	}
	out[n / 2] = '\0';
	return 1;
}

static int num_field(const char *text, size_t len, const char *key, int base, long long *ret)
{
	char buf[32], *e;
	long long v;
	int r = field(text, len, key, buf, sizeof(buf));

	if (r <= 0)
		return r;
	errno = 0;
	v = strtoll(buf, &e, base);
	if (errno || e == buf || *e)
		return -EINVAL;
	*ret = v;
	return 1;
}

static int unum_field(const char *text, size_t len, const char *key, int base,
		      unsigned long long *ret)
{
	char buf[32], *e;
	unsigned long long v;
	int r = field(text, len, key, buf, sizeof(buf));

	if (r <= 0)
		return r;
	errno = 0;
	v = strtoull(buf, &e, base);
	if (errno || e == buf || *e || buf[0] == '-')
		return -EINVAL;
	*ret = v;
	return 1;
}

int ward_ll_audit_parse(int type, const char *text, size_t len, struct ward_ll_audit_record *ret)
{
	struct ward_ll_audit_record rec = { .kind = WARD_LL_AUDIT_OTHER };
	unsigned long long sec, ms, serial, u;
	long long s;
	char head[64], status[32];
	const char *body;
	size_t hlen;
	int n, r;

	/* "audit(SEC.MSEC:SERIAL): " */
	hlen = len < sizeof(head) - 1 ? len : sizeof(head) - 1;
	memcpy(head, text, hlen);
	head[hlen] = '\0';
	if (sscanf(head, "audit(%llu.%llu:%llu): %n", &sec, &ms, &serial, &n) != 3)
		return -EINVAL;
	rec.serial = serial;
	rec.ts_ms = sec * 1000 + ms;
	body = text + n;
	len -= (size_t)n;
	/* a trailing NUL (some kernels count it) is not text */
	while (len && body[len - 1] == '\0')
		len--;

	switch (type) {
	case WARD_AUDIT_LANDLOCK_ACCESS:
		rec.kind = WARD_LL_AUDIT_ACCESS;
		if (unum_field(body, len, "domain", 16, &u) != 1)
			return -EINVAL;
		rec.domain = u;
		if (field(body, len, "blockers", rec.blockers, sizeof(rec.blockers)) != 1)
			return -EINVAL;
		r = string_field(body, len, "path", rec.path, sizeof(rec.path));
		if (r == 0)
			r = string_field(body, len, "name", rec.path, sizeof(rec.path));
		if (r < 0)
			return r;
		if (unum_field(body, len, "ino", 10, &u) == 1)
			rec.ino = u;
		break;
	case WARD_AUDIT_LANDLOCK_DOMAIN:
		rec.kind = WARD_LL_AUDIT_DOMAIN;
		if (unum_field(body, len, "domain", 16, &u) != 1 ||
		    field(body, len, "status", status, sizeof(status)) != 1)
			return -EINVAL;
		rec.domain = u;
		rec.allocated = !strcmp(status, "allocated");
		if (rec.allocated) {
			if (num_field(body, len, "pid", 10, &s) != 1)
				return -EINVAL;
			rec.pid = (int32_t)s;
			if (string_field(body, len, "exe", rec.exe, sizeof(rec.exe)) < 0 ||
			    string_field(body, len, "comm", rec.comm, sizeof(rec.comm)) < 0)
				return -EINVAL;
		} else if (strcmp(status, "deallocated")) {
			return -EINVAL;
		} else if (unum_field(body, len, "denials", 10, &u) == 1) {
			rec.denials = u;
		}
		break;
	case WARD_AUDIT_SYSCALL:
		rec.kind = WARD_LL_AUDIT_SYSCALL;
		if (num_field(body, len, "syscall", 10, &s) != 1)
			return -EINVAL;
		rec.syscall = (long)s;
		if (num_field(body, len, "exit", 10, &s) == 1)
			rec.exit = (long)s;
		if (num_field(body, len, "pid", 10, &s) != 1)
			return -EINVAL;
		rec.pid = (int32_t)s;
		if (string_field(body, len, "exe", rec.exe, sizeof(rec.exe)) < 0 ||
		    string_field(body, len, "comm", rec.comm, sizeof(rec.comm)) < 0)
			return -EINVAL;
		break;
	case WARD_AUDIT_EOE:
		rec.kind = WARD_LL_AUDIT_EOE;
		break;
	default:
		break;
	}
	*ret = rec;
	return 0;
}

uint32_t ward_ll_audit_access(const char *blockers)
{
	static const struct {
		const char *name;
		uint32_t access;
	} map[] = {
		{ "fs.execute", WARD_FS_ACC_EXEC },
		{ "fs.write_file", WARD_FS_ACC_WRITE },
		{ "fs.read_file", WARD_FS_ACC_READ },
		{ "fs.read_dir", WARD_FS_ACC_READ | WARD_FS_ACC_DIR },
		{ "fs.remove_dir", WARD_FS_ACC_DELETE | WARD_FS_ACC_DIR },
		{ "fs.remove_file", WARD_FS_ACC_DELETE },
		{ "fs.make_char", WARD_FS_ACC_CREATE },
		{ "fs.make_dir", WARD_FS_ACC_CREATE | WARD_FS_ACC_DIR },
		{ "fs.make_reg", WARD_FS_ACC_CREATE },
		{ "fs.make_sock", WARD_FS_ACC_CREATE },
		{ "fs.make_fifo", WARD_FS_ACC_CREATE },
		{ "fs.make_block", WARD_FS_ACC_CREATE },
		{ "fs.make_sym", WARD_FS_ACC_CREATE },
		{ "fs.refer", WARD_FS_ACC_RENAME | WARD_FS_ACC_LINK },
		{ "fs.truncate", WARD_FS_ACC_TRUNCATE },
		{ "fs.ioctl_dev", WARD_FS_ACC_WRITE },
		{ "fs.change_topology", WARD_FS_ACC_SETATTR },
	};
	uint32_t access = 0;

	for (const char *p = blockers; p && *p;) {
		size_t n = strcspn(p, ",");

		for (size_t i = 0; i < ARRAY_SIZE(map); i++)
			if (strlen(map[i].name) == n && !memcmp(p, map[i].name, n))
				access |= map[i].access;
		p += n;
		if (*p == ',')
			p++;
	}
	return access;
}

/* --- whether records can arrive ------------------------------------------ */

int ward_ll_audit_probe(char *why, size_t len)
{
	struct {
		struct nlmsghdr h;
		struct audit_status s;
	} req = {
		.h = { .nlmsg_len = NLMSG_LENGTH(0),
		       .nlmsg_type = AUDIT_GET,
		       .nlmsg_flags = NLM_F_REQUEST,
		       .nlmsg_seq = 1 },
	};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	union {
		struct nlmsghdr h;
		char buf[1024];
	} reply;
	_cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
	struct audit_status st;
	struct timeval tv = { .tv_sec = 1 };
	ssize_t n;

	if (fd < 0) {
		snprintf(why, len, "no audit netlink socket: %s", strerror(errno));
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		snprintf(why, len, "cannot ask the audit status (AUDIT_GET): %s", strerror(-r));
		return r;
	}
	for (;;) {
		n = recv(fd, &reply, sizeof(reply), 0);
		if (n < 0) {
			int r = -errno;

			snprintf(why, len, "no audit status: %s", strerror(-r));
			return r;
		}
		if (!NLMSG_OK(&reply.h, (size_t)n))
			continue;
		if (reply.h.nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(&reply.h);

			if (e->error) {
				snprintf(why, len, "cannot ask the audit status (AUDIT_GET): %s",
					 strerror(-e->error));
				return e->error;
			}
			continue;
		}
		if (reply.h.nlmsg_type == AUDIT_GET)
			break;
	}
	memset(&st, 0, sizeof(st));
	memcpy(&st, NLMSG_DATA(&reply.h),
	       reply.h.nlmsg_len - NLMSG_HDRLEN < sizeof(st) ? reply.h.nlmsg_len - NLMSG_HDRLEN
							     : sizeof(st));
	if (!st.enabled) {
		snprintf(why, len,
			 "kernel audit is disabled (AUDIT_GET: enabled=0, auditd pid %u): Landlock "
			 "writes no record while audit_enabled is 0, whoever listens",
			 st.pid);
		return -ENODATA;
	}
	/* the group itself: CAP_AUDIT_READ, initial user and network namespace */
	close(TAKE_FD(fd));
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
	sa.nl_groups = 1u << (AUDIT_NLGRP_READLOG - 1);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		snprintf(why, len, "cannot join the audit read-only multicast group: %s",
			 strerror(-r));
		return r;
	}
	snprintf(why, len, "kernel audit enabled (%u), multicast group joined", st.enabled);
	return 0;
}

/* --- the listener ------------------------------------------------------- */

struct ll_event {
	uint64_t serial; /* 0: free slot */
	int age;	 /* consume calls survived */
	int n_access;
	uint64_t ts_ms, domain;
	char blockers[192];
	char path[PATH_MAX], path2[PATH_MAX];
	int32_t creator; /* the DOMAIN record's pid, 0 if none */
	bool have_syscall;
	int32_t pid;
	long syscall, exit;
	char exe[PATH_MAX];
};

struct ll_domain {
	uint64_t id;
	bool ours;
};

struct ward_ll_audit {
	int fd;
	uint64_t cgroup_id;
	char *sandbox, *rev;
	struct ward_audit *audit;
	bool tracepoint_rows;
	void (*on_row)(void *userdata, const struct ward_decision *d);
	void *userdata;
	uint64_t lost, reported_lost;
	struct ll_event pending[LL_PENDING];
	struct ll_domain domains[LL_DOMAINS];
	size_t n_domains, next_domain;
	struct ward_ll_audit_record rec; /* scratch: too big for a thread's stack */
};

int ward_ll_audit_fd(const struct ward_ll_audit *a)
{
	return a->fd;
}

uint64_t ward_ll_audit_lost(const struct ward_ll_audit *a)
{
	return a->lost;
}

/* 1 when pid is (still) in the sandbox's cgroup or a session's below it, 0
 * not, -errno unknown. */
static int in_cgroup(const struct ward_ll_audit *a, int32_t pid)
{
	char name[64], line[PATH_MAX], path[2 * PATH_MAX];
	_cleanup_fclose_ FILE *f = NULL;
	struct stat st;
	const char *mnt = ward_cgroup2_mount();

	if (pid <= 0 || !mnt)
		return -ESRCH;
	snprintf(name, sizeof(name), "/proc/%d/cgroup", pid);
	f = fopen(name, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(path, sizeof(path), "%s%s", mnt, line + 3);
		if (stat(path, &st) < 0)
			return -errno;
		/* the leaf, or a session's cgroup below it (s-<id>) */
		if ((uint64_t)st.st_ino == a->cgroup_id)
			return 1;
		*strrchr(path, '/') = '\0';
		return strlen(path) > strlen(mnt) && stat(path, &st) == 0 &&
		       (uint64_t)st.st_ino == a->cgroup_id;
	}
	return -ENOENT;
}

static int domain_known(const struct ward_ll_audit *a, uint64_t id)
{
	for (size_t i = 0; i < a->n_domains; i++)
		if (a->domains[i].id == id)
			return a->domains[i].ours;
	return -1;
}

static void domain_remember(struct ward_ll_audit *a, uint64_t id, bool ours)
{
	struct ll_domain *d;

	if (a->n_domains < LL_DOMAINS) {
		d = &a->domains[a->n_domains++];
	} else {
		d = &a->domains[a->next_domain];
		a->next_domain = (a->next_domain + 1) % LL_DOMAINS;
	}
	d->id = id;
	d->ours = ours;
}

/* The event's task in this sandbox? By its domain once known, else by the
 * cgroup of the calling task, else of the domain's creator. */
static bool event_is_ours(struct ward_ll_audit *a, const struct ll_event *e)
{
	int r = domain_known(a, e->domain);

	if (r >= 0)
		return r;
	r = e->have_syscall ? in_cgroup(a, e->pid) : -ESRCH;
	if (r < 0 && e->creator)
		r = in_cgroup(a, e->creator);
	if (r < 0)
		return false; /* gone before it could be placed: not claimed */
	domain_remember(a, e->domain, r);
	return r;
}

/* Already a tracepoint row: filesystem blockers of a path syscall the fs
 * layer follows (without the syscall record: any but ioctl_dev, whose
 * syscall is never followed). */
static bool tracepoint_has_it(const struct ward_ll_audit *a, const struct ll_event *e)
{
	struct ward_fs_sysc s;

	if (!a->tracepoint_rows)
		return false;
	if (e->have_syscall)
		return ward_fs_syscall(e->syscall, &s);
	return !strstr(e->blockers, "fs.ioctl_dev");
}

static void submit(struct ward_ll_audit *a, const struct ward_decision *d)
{
	if (a->audit)
		ward_audit_submit(a->audit, d);
	if (a->on_row)
		a->on_row(a->userdata, d);
}

static int flush(struct ward_ll_audit *a, struct ll_event *e)
{
	char method[96], sys[32], reason[2 * PATH_MAX + 512];
	struct ward_fs_sysc s;
	uint32_t access;
	int rows = 0;

	access = ward_ll_audit_access(e->blockers);
	if (e->n_access && access && event_is_ours(a, e) && !tracepoint_has_it(a, e)) {
		struct ward_decision d = {
			.ts_ns = e->ts_ms * 1000000ull,
			.sandbox = a->sandbox,
			.layer = "fs",
			.action = "deny",
			.binary = e->have_syscall && e->exe[0] ? e->exe : NULL,
			.pid = e->have_syscall ? e->pid : 0,
			.method = method,
			.path = e->path,
			.rule = "filesystem_policy",
			.reason = reason,
			.policy_rev = a->rev,
		};

		ward_fs_access_str(access, method, sizeof(method));
		if (!e->have_syscall)
			snprintf(sys, sizeof(sys), "?");
		else if (ward_fs_syscall(e->syscall, &s))
			snprintf(sys, sizeof(sys), "%s", ward_fs_op_str(s.op));
		else
			snprintf(sys, sizeof(sys), "%ld", e->syscall);
		snprintf(reason, sizeof(reason),
			 "syscall=%s errno=%s landlock blockers=%s domain=%llx%s%s (kernel audit)",
			 sys, e->have_syscall && e->exit == -WARD_EPERM ? "EPERM" : "EACCES",
			 e->blockers, (unsigned long long)e->domain, e->path2[0] ? " to=" : "",
			 e->path2);
		submit(a, &d);
		rows = 1;
	}
	e->serial = 0;
	return rows;
}

static struct ll_event *event_for(struct ward_ll_audit *a, uint64_t serial, int *rows)
{
	struct ll_event *free_slot = NULL, *oldest = NULL;

	for (size_t i = 0; i < LL_PENDING; i++) {
		struct ll_event *e = &a->pending[i];

		if (e->serial == serial)
			return e;
		if (!e->serial && !free_slot)
			free_slot = e;
		if (e->serial && (!oldest || e->serial < oldest->serial))
			oldest = e;
	}
	if (!free_slot) {
		*rows += flush(a, oldest);
		free_slot = oldest;
	}
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->serial = serial;
	return free_slot;
}

static int on_record(struct ward_ll_audit *a, int type, const char *text, size_t len)
{
	struct ward_ll_audit_record *r = &a->rec;
	struct ll_event *e;
	int rows = 0;

	if (type != WARD_AUDIT_LANDLOCK_ACCESS && type != WARD_AUDIT_LANDLOCK_DOMAIN &&
	    type != WARD_AUDIT_SYSCALL && type != WARD_AUDIT_EOE)
		return 0;
	/* where audit is on, every audited syscall of the machine comes by:
	 * parse only those of an event that holds a Landlock record */
	if (type == WARD_AUDIT_SYSCALL || type == WARD_AUDIT_EOE) {
		char head[64];
		unsigned long long sec, ms, serial;
		size_t hlen = len < sizeof(head) - 1 ? len : sizeof(head) - 1;
		bool pending = false;

		memcpy(head, text, hlen);
		head[hlen] = '\0';
		if (sscanf(head, "audit(%llu.%llu:%llu)", &sec, &ms, &serial) != 3)
			return 0;
		for (size_t i = 0; i < LL_PENDING && !pending; i++)
			pending = a->pending[i].serial == serial;
		if (!pending)
			return 0;
	}
	if (ward_ll_audit_parse(type, text, len, r) < 0 || !r->serial)
		return 0;
	/* only events that hold a Landlock record are kept */
	if (r->kind != WARD_LL_AUDIT_ACCESS && r->kind != WARD_LL_AUDIT_DOMAIN) {
		for (size_t i = 0; i < LL_PENDING; i++) {
			e = &a->pending[i];
			if (e->serial != r->serial)
				continue;
			if (r->kind == WARD_LL_AUDIT_EOE)
				return flush(a, e);
			e->have_syscall = true;
			e->pid = r->pid;
			e->syscall = r->syscall;
			e->exit = r->exit;
			snprintf(e->exe, sizeof(e->exe), "%s", r->exe);
		}
		return 0;
	}
	if (r->kind == WARD_LL_AUDIT_DOMAIN && !r->allocated)
		return 0;
	e = event_for(a, r->serial, &rows);
	if (r->kind == WARD_LL_AUDIT_DOMAIN) {
		e->creator = r->pid;
		return rows;
	}
	e->ts_ms = r->ts_ms;
	if (!e->n_access++) {
		e->domain = r->domain;
		snprintf(e->blockers, sizeof(e->blockers), "%s", r->blockers);
		snprintf(e->path, sizeof(e->path), "%s", r->path);
	} else if (!e->path2[0]) {
		/* rename, link: the second object */
		snprintf(e->path2, sizeof(e->path2), "%s", r->path);
	}
	return rows;
}

int ward_ll_audit_consume(struct ward_ll_audit *a)
{
	union {
		struct nlmsghdr h;
		char buf[WARD_AUDIT_MSG_MAX + NLMSG_HDRLEN];
	} msg;
	int rows = 0;

	/* events pending since an earlier call: after this read, all their
	 * records are in */
	for (size_t i = 0; i < LL_PENDING; i++)
		if (a->pending[i].serial)
			a->pending[i].age++;
	for (;;) {
		ssize_t n = recv(a->fd, &msg, sizeof(msg), MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) { /* the socket overflowed: records lost */
				a->lost++;
				continue;
			}
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		/* signed: the last message need not be padded to NLMSG_ALIGNTO */
		int left = (int)n;

		for (struct nlmsghdr *h = &msg.h; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left))
			rows += on_record(a, h->nlmsg_type, NLMSG_DATA(h),
					  h->nlmsg_len - NLMSG_HDRLEN);
	}
	for (size_t i = 0; i < LL_PENDING; i++)
		if (a->pending[i].serial && a->pending[i].age >= 1)
			rows += flush(a, &a->pending[i]);
	if (a->lost > a->reported_lost) {
		char reason[160];
		struct ward_decision d = {
			.sandbox = a->sandbox,
			.layer = "fs",
			.action = "deny",
			.rule = "filesystem_policy",
			.reason = reason,
			.policy_rev = a->rev,
		};

		snprintf(reason, sizeof(reason),
			 "audit socket overflowed %llu times: Landlock denials not logged",
			 (unsigned long long)(a->lost - a->reported_lost));
		a->reported_lost = a->lost;
		submit(a, &d);
		rows++;
	}
	return rows;
}

int ward_ll_audit_new(const struct ward_ll_audit_config *cfg, struct ward_ll_audit **ret,
		      struct ward_error *err)
{
	struct sockaddr_nl sa = {
		.nl_family = AF_NETLINK,
		.nl_groups = 1u << (AUDIT_NLGRP_READLOG - 1),
	};
	_cleanup_close_ int fd =
		cfg->fd > 0 ? cfg->fd : socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
	struct ward_ll_audit *a;
	int buf = 1 << 20;

	if (fd < 0)
		return ward_err(err, -errno, "landlock audit: netlink socket");
	if (cfg->fd <= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return ward_err(err, -errno, "landlock audit: join the read-only multicast group");
	/* bursts of denials are rate-limited by nothing here: room for them */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	a = calloc(1, sizeof(*a));
	if (!a)
		return ward_err(err, -ENOMEM, "landlock audit");
	a->fd = TAKE_FD(fd);
	a->cgroup_id = cfg->cgroup_id;
	a->sandbox = strdup(cfg->sandbox ? cfg->sandbox : "");
	a->rev = cfg->policy_rev ? strdup(cfg->policy_rev) : NULL;
	a->audit = cfg->audit;
	a->tracepoint_rows = cfg->tracepoint_rows;
	a->on_row = cfg->on_row;
	a->userdata = cfg->userdata;
	if (!a->sandbox || (cfg->policy_rev && !a->rev)) {
		ward_ll_audit_free(a);
		return ward_err(err, -ENOMEM, "landlock audit");
	}
	*ret = a;
	return 0;
}

int ward_ll_audit_set_sandbox(struct ward_ll_audit *a, uint64_t cgroup_id, const char *sandbox)
{
	char *s = strdup(sandbox ? sandbox : "");

	if (!s)
		return -ENOMEM;
	free(a->sandbox);
	a->sandbox = s;
	a->cgroup_id = cgroup_id;
	/* attributions made for another cgroup do not hold */
	a->n_domains = 0;
	a->next_domain = 0;
	return 0;
}

void ward_ll_audit_free(struct ward_ll_audit *a)
{
	if (!a)
		return;
	if (a->fd >= 0)
		close(a->fd);
	free(a->sandbox);
	free(a->rev);
	free(a);
}
