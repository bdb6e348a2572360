// SPDX-License-Identifier: MIT
/* Landlock's audit records turned into fs rows (src/enforcer/landlock_audit.c),
 * with real processes in a real cgroup: records in the kernel's netlink
 * format are handed to the listener through a datagram socket (the kernel
 * writes none while audit is disabled, see test_landlock_audit_kernel.c).
 * Checked: an event's records (access, domain, syscall, end) make one row
 * with path, access, binary, pid and the blockers; a task outside the
 * sandbox's cgroup makes none, and its domain stays foreign; an event
 * without a syscall record is written at the next read, without binary;
 * with the tracepoint logging path syscalls, only what it cannot see
 * (ioctl_dev) is a row; network blockers are not fs rows. Root (cgroups);
 * exit 77 when not root or no cgroup2. */
#include <errno.h>
#include <linux/netlink.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "enforcer/cgroup.h"
#include "enforcer/landlock_audit.h"

#include "check.h"

#define MAX_ROWS 16

struct row {
	char path[256], method[64], binary[256], reason[512];
	int32_t pid;
};

static struct row rows[MAX_ROWS];
static int n_rows;

static void on_row(void *userdata, const struct ward_decision *d)
{
	struct row *r;

	(void)userdata;
	if (n_rows >= MAX_ROWS)
		return;
	r = &rows[n_rows++];
	snprintf(r->path, sizeof(r->path), "%s", d->path ? d->path : "");
	snprintf(r->method, sizeof(r->method), "%s", d->method ? d->method : "");
	snprintf(r->binary, sizeof(r->binary), "%s", d->binary ? d->binary : "");
	snprintf(r->reason, sizeof(r->reason), "%s", d->reason ? d->reason : "");
	r->pid = d->pid;
}

/* one netlink audit message, as kauditd multicasts it */
static void send_rec(int fd, int type, const char *fmt, ...)
{
	char buf[4096];
	struct nlmsghdr *h = (void *)buf;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + NLMSG_HDRLEN, sizeof(buf) - NLMSG_HDRLEN, fmt, ap);
	va_end(ap);
	*h = (struct nlmsghdr){ .nlmsg_len = NLMSG_LENGTH(n), .nlmsg_type = (unsigned short)type };
	if (send(fd, buf, h->nlmsg_len, 0) < 0) {
		perror("send");
		exit(1);
	}
}

static pid_t sleeper(const struct ward_cgroup *cg)
{
	pid_t pid = fork();

	if (pid == 0) {
		char path[PATH_MAX + 32];
		FILE *f;

		/* never outlives the test, whatever becomes of it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);

		if (cg) {
			snprintf(path, sizeof(path), "%s/cgroup.procs", cg->path);
			f = fopen(path, "we");
			if (!f || fprintf(f, "%d", getpid()) < 0 || fclose(f))
				_exit(1);
		}
		pause();
		_exit(0);
	}
	return pid;
}

int main(void)
{
	struct ward_cgroup cg = { .fd = -1 };
	struct ward_error err = { 0 };
	struct ward_ll_audit *a = NULL;
	struct stat st;
	char id[32];
	int sv[2], r;
	pid_t in, out;

	if (geteuid() != 0 || !ward_cgroup2_mount()) {
		puts("SKIP: needs root and cgroup2");
		return 77;
	}
	snprintf(id, sizeof(id), "llaudit%d", getpid());
	if (ward_cgroup_create(id, &cg, &err) < 0) {
		fprintf(stderr, "cgroup: %s\n", err.msg);
		return 1;
	}
	fstat(cg.fd, &st);
	in = sleeper(&cg);
	out = sleeper(NULL);
	/* until the child is in the leaf */
	for (int i = 0; i < 1000; i++) {
		char p[64], line[256] = "";
		FILE *f;

		snprintf(p, sizeof(p), "/proc/%d/cgroup", in);
		f = fopen(p, "re");
		if (f) {
			if (!fgets(line, sizeof(line), f))
				line[0] = '\0';
			fclose(f);
		}
		if (strstr(line, id))
			break;
		usleep(1000);
	}

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 1;
	struct ward_ll_audit_config cfg = {
		.cgroup_id = st.st_ino,
		.sandbox = "llaudit",
		.fd = sv[0],
		.on_row = on_row,
	};
	r = ward_ll_audit_new(&cfg, &a, &err);
	CHECK(r == 0, "new: %s", err.msg);
	if (r < 0)
		return 1;

	/* 1. one event, four records: one row */
	send_rec(sv[1], WARD_AUDIT_LANDLOCK_ACCESS,
		 "audit(1700000000.123:10): domain=aa1 blockers=fs.read_file path=\"/etc/x\" "
		 "dev=\"vda\" ino=5");
	send_rec(sv[1], WARD_AUDIT_LANDLOCK_DOMAIN,
		 "audit(1700000000.123:10): domain=aa1 status=allocated mode=enforcing pid=%d "
		 "uid=0 exe=\"/usr/bin/sh\" comm=\"sh\"",
		 in);
	send_rec(sv[1], WARD_AUDIT_SYSCALL,
		 "audit(1700000000.123:10): arch=c000003e syscall=257 success=no exit=-13 "
		 "a0=ffffff9c ppid=1 pid=%d uid=4243 comm=\"cat\" exe=\"/usr/bin/cat\" key=(null)",
		 in);
	send_rec(sv[1], WARD_AUDIT_EOE, "audit(1700000000.123:10): ");
	r = ward_ll_audit_consume(a);
	CHECK(r == 1 && n_rows == 1, "consume %d, %d rows", r, n_rows);
	CHECK(!strcmp(rows[0].path, "/etc/x"), "path %s", rows[0].path);
	CHECK(!strcmp(rows[0].method, "read"), "method %s", rows[0].method);
	CHECK(!strcmp(rows[0].binary, "/usr/bin/cat"), "binary %s", rows[0].binary);
	CHECK(rows[0].pid == in, "pid %d", rows[0].pid);
	CHECK(strstr(rows[0].reason, "syscall=openat errno=EACCES landlock blockers=fs.read_file "
				     "domain=aa1"),
	      "reason %s", rows[0].reason);

	/* 2. a task outside the sandbox: no row; its domain is foreign from now
	 * on, even for a record whose task cannot be placed */
	send_rec(sv[1], WARD_AUDIT_LANDLOCK_ACCESS,
		 "audit(1700000000.200:11): domain=bb2 blockers=fs.write_file path=\"/y\"");
	send_rec(sv[1], WARD_AUDIT_LANDLOCK_DOMAIN,
		 "audit(1700000000.200:11): domain=bb2 status=allocated mode=enforcing pid=%d "
		 "uid=0 exe=\"/usr/bin/sh\" comm=\"sh\"",
		 out);
	send_rec(sv[1], WARD_AUDIT_SYSCALL,
		 "audit(1700000000.200:11): arch=c000003e syscall=257 success=no exit=-13 "
		 "pid=%d comm=\"cat\" exe=\"/usr/bin/cat\"",
		 out);
	send_rec(sv[1], WARD_AUDIT_EOE, "audit(1700000000.200:11): ");
	send_rec(sv[1], WARD_AUDIT_LANDLOCK_ACCESS,
		 "audit(1700000000.300:12): domain=bb2 blockers=fs.write_file path=\"/z\"");
	send_rec(sv[1], WARD_AUDIT_SYSCALL,
		 "audit(1700000000.300:12): arch=c000003e syscall=257 success=no exit=-13 "
		 "pid=999999999 comm=\"cat\" exe=\"/usr/bin/cat\"");
	send_rec(sv[1], WARD_AUDIT_EOE, "audit(1700000000.300:12): ");
	r = ward_ll_audit_consume(a);
	CHECK(r == 0 && n_rows == 1, "outside: consume %d, %d rows", r, n_rows);

	/* 3. no syscall record (no audit context): written by the next read,
	 * placed by its domain, without binary */
	send_rec(sv[1], WARD_AUDIT_LANDLOCK_ACCESS,
		 "audit(1700000000.400:13): domain=aa1 blockers=fs.make_reg path=2F746D702F6120"
		 " dev=\"vda\" ino=6");
	r = ward_ll_audit_consume(a);
	CHECK(r == 0 && n_rows == 1, "held: consume %d, %d rows", r, n_rows);
	r = ward_ll_audit_consume(a);
	CHECK(r == 1 && n_rows == 2, "next read: consume %d, %d rows", r, n_rows);
	CHECK(!strcmp(rows[1].path, "/tmp/a "), "hex path '%s'", rows[1].path);
	CHECK(!strcmp(rows[1].method, "create") && !rows[1].binary[0], "method %s binary '%s'",
	      rows[1].method, rows[1].binary);
	CHECK(strstr(rows[1].reason, "syscall=?"), "reason %s", rows[1].reason);

	/* 4. network blockers are not fs rows */
	send_rec(sv[1], WARD_AUDIT_LANDLOCK_ACCESS,
		 "audit(1700000000.500:14): domain=aa1 blockers=net.connect_tcp daddr=1.2.3.4 "
		 "dest=80");
	send_rec(sv[1], WARD_AUDIT_EOE, "audit(1700000000.500:14): ");
	r = ward_ll_audit_consume(a);
	CHECK(r == 0 && n_rows == 2, "net: consume %d, %d rows", r, n_rows);
	ward_ll_audit_free(a);

	/* 5. beside the tracepoint: a followed path syscall is its row, not
	 * ours; an ioctl it does not follow is */
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 1;
	cfg.fd = sv[0];
	cfg.tracepoint_rows = true;
	r = ward_ll_audit_new(&cfg, &a, &err);
	CHECK(r == 0, "new: %s", err.msg);
	send_rec(sv[1], WARD_AUDIT_LANDLOCK_ACCESS,
		 "audit(1700000001.000:20): domain=aa1 blockers=fs.read_file path=\"/etc/x\"");
	send_rec(sv[1], WARD_AUDIT_SYSCALL,
		 "audit(1700000001.000:20): arch=c000003e syscall=257 success=no exit=-13 "
		 "pid=%d comm=\"cat\" exe=\"/usr/bin/cat\"",
		 in);
	send_rec(sv[1], WARD_AUDIT_EOE, "audit(1700000001.000:20): ");
	send_rec(sv[1], WARD_AUDIT_LANDLOCK_ACCESS,
		 "audit(1700000001.100:21): domain=aa1 blockers=fs.ioctl_dev path=\"/dev/tty\"");
	send_rec(sv[1], WARD_AUDIT_SYSCALL,
		 "audit(1700000001.100:21): arch=c000003e syscall=16 success=no exit=-13 "
		 "pid=%d comm=\"stty\" exe=\"/usr/bin/stty\"",
		 in);
	send_rec(sv[1], WARD_AUDIT_EOE, "audit(1700000001.100:21): ");
	r = ward_ll_audit_consume(a);
	CHECK(r == 1 && n_rows == 3, "beside the tracepoint: consume %d, %d rows", r, n_rows);
	CHECK(!strcmp(rows[2].path, "/dev/tty") && !strcmp(rows[2].binary, "/usr/bin/stty") &&
		      strstr(rows[2].reason, "syscall=16 "),
	      "ioctl row %s %s %s", rows[2].path, rows[2].binary, rows[2].reason);
	ward_ll_audit_free(a);
	close(sv[1]);

	kill(in, SIGKILL);
	kill(out, SIGKILL);
	waitpid(in, NULL, 0);
	waitpid(out, NULL, 0);
	ward_cgroup_destroy(&cg);
	printf("%d passed, %d failed\n", passes, failures);
	return failures ? 1 : 0;
}
