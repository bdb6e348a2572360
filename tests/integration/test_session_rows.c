// SPDX-License-Identifier: MIT
/* Rows of sessions (docs/audit.md, "Sessions"): processes in two session
 * cgroups below one sandbox cgroup, under the real egress programs. Every
 * kernel row and every proxy peer lookup carries the session of the task's
 * cgroup, through the session_of hook (here the test's own map of the two
 * cgroups, as the runtime's ward_runtime_session_of_cgroup maps its
 * sessions'); a process in the sandbox cgroup itself has none. The rows land
 * in a real decision log: `ward logs --session` (the reader's filter) and the
 * sessions summary see each session's own rows, and the chain verifies.
 *
 * Own network namespace (10.213.5.0/24 on lo), own cgroups, removed by each
 * case; clients are copies of this executable (identity is the inode). Exit
 * 77 when not root or the kernel cannot load the programs. */
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/sessions.h"
#include "audit/verify.h"
#include "enforcer/egress.h"
#include "policy/policy.h"

#include "check.h"
#include "fixture.h"

#define EXPLICIT 3128
#define TRANSPARENT 3129
#define X_EPERM 10
#define X_OTHER 11

static char tmpdir[128], cg2[256], cg_sb[512], cg_s[2][PATH_MAX];
static const char *const session_names[2] = { "aaa", "bbb" };
static uint64_t cgid_s[2];
static char db[PATH_MAX];

/* ---- client role: connect to ADDR PORT, wait for one byte ---- */

static int client_main(const char *addr, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 5 };
	char c;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		return X_OTHER;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		return errno == EPERM ? X_EPERM : X_OTHER;
	return read(fd, &c, 1) == 1 && c == 'k' ? 0 : X_OTHER;
}

/* ---- test side ---- */

static int session_of(void *data, uint64_t cgid, char out[32])
{
	int *calls = data;

	(*calls)++;
	for (int i = 0; i < 2; i++)
		if (cgid == cgid_s[i]) {
			snprintf(out, 32, "%s", session_names[i]);
			return 0;
		}
	out[0] = '\0';
	return 0;
}

#define MAX_ROWS 64
static struct {
	pid_t pid;
	char session[32]; /* "-": none */
	char action[8];
} rows[MAX_ROWS];
static int n_rows;

static void on_event(void *ud, const struct ward_event *ev, const struct ward_decision *d)
{
	(void)ud;
	if (!ev || n_rows >= MAX_ROWS)
		return;
	rows[n_rows].pid = (pid_t)ev->tgid;
	snprintf(rows[n_rows].session, 32, "%s", d->session ? d->session : "-");
	snprintf(rows[n_rows].action, 8, "%s", d->action);
	n_rows++;
}

static const char *session_of_pid(pid_t pid)
{
	for (int i = n_rows - 1; i >= 0; i--)
		if (rows[i].pid == pid)
			return rows[i].session;
	return NULL;
}

static char *bin(const char *name)
{
	static char paths[4][PATH_MAX];
	static int next;
	char *p = paths[next++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", tmpdir, name);
	return p;
}

static pid_t spawn(const char *cg, const char *who, const char *addr, const char *port)
{
	pid_t pid = fork();

	if (pid == 0) {
		char path[PATH_MAX + 32], buf[32];
		int fd;

		snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		snprintf(buf, sizeof(buf), "%d", getpid());
		if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
			_exit(120);
		close(fd);
		execv(bin(who), (char *[]){ bin(who), "client", (char *)addr, (char *)port, NULL });
		_exit(127);
	}
	return pid;
}

static int reap(pid_t pid)
{
	int st;

	for (int i = 0; i < 1000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static int listener(const char *addr, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	inet_pton(AF_INET, addr, &sin.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 16) < 0) {
		fprintf(stderr, "listener %s:%d: %m\n", addr, port);
		exit(1);
	}
	return fd;
}

static void rm_cgroups(void)
{
	for (int i = 0; i < 2; i++)
		if (cg_s[i][0] && rmdir(cg_s[i]) == 0)
			cg_s[i][0] = '\0';
	if (cg_sb[0] && rmdir(cg_sb) == 0)
		cg_sb[0] = '\0';
}

/* the sandbox cgroup and its two session cgroups; the fd of the sandbox's */
static int make_cgroups(void)
{
	struct stat st;

	snprintf(cg_sb, sizeof(cg_sb), "%s/sessions-log-test-%d", cg2, getpid());
	if (mkdir(cg_sb, 0755) < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		snprintf(cg_s[i], sizeof(cg_s[i]), "%s/s-%s", cg_sb, session_names[i]);
		if (mkdir(cg_s[i], 0755) < 0 || stat(cg_s[i], &st) < 0)
			return -1;
		cgid_s[i] = st.st_ino; /* a cgroup v2 id is its directory's inode */
	}
	return open(cg_sb, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static struct ward_policy *policy(void)
{
	struct ward_policy *p = NULL;
	struct ward_diags d = { 0 };
	struct ward_error err = { 0 };
	char yaml[1024];

	snprintf(yaml, sizeof(yaml),
		 "version: 1\n"
		 "network_policies:\n"
		 "  net:\n"
		 "    binaries: [{ path: %s }]\n"
		 "    endpoints: [{ host: example.test, port: 443 }]\n",
		 bin("allowed"));
	if (ward_policy_load_buffer("rows.yaml", yaml, strlen(yaml), &p, &d, &err) < 0) {
		ward_diags_print(&d, stderr);
		CHECK(0, "policy: %s", err.msg);
	}
	ward_diags_free(&d);
	return p;
}

static int count_session(const struct ward_audit_row *r, void *ud)
{
	int *n = ud;

	CHECK(r->session && strcmp(r->session, "aaa") == 0, "filtered row of session %s",
	      r->session ? r->session : "(none)");
	/* the sandbox's kernel rows name the uid (the clients run as root, as
	 * the test) and the session's cgroup below the cgroup2 mount */
	CHECK(r->has_uid && r->uid == (int64_t)getuid(), "row %lld: uid %lld (has %d)",
	      (long long)r->id, (long long)r->uid, r->has_uid);
	CHECK(r->cgroup && strcmp(r->cgroup, cg_s[0] + strlen(cg2)) == 0,
	      "row %lld: cgroup '%s', want '%s'", (long long)r->id, r->cgroup ? r->cgroup : "(null)",
	      cg_s[0] + strlen(cg2));
	(*n)++;
	return 0;
}

static void case_sessions(void)
{
	struct ward_egress_config cfg = {
		.explicit_port = EXPLICIT,
		.transparent_port = TRANSPARENT,
		.dns_port = 53,
		.sandbox = "sb",
		.on_event = on_event,
	};
	struct ward_session_summary *sum = NULL;
	struct ward_audit_filter flt = { .session = "aaa" };
	struct ward_audit_reader *rd = NULL;
	struct ward_audit *audit = NULL;
	struct ward_egress *e = NULL;
	struct ward_policy *pol = NULL;
	struct ward_error err = { 0 };
	struct ward_audit_verify v;
	int calls = 0, cgfd, tp, n = 0;
	size_t n_sum = 0;
	pid_t pid[3];

	inet_pton(AF_INET, "10.213.5.1", &cfg.proxy4);
	inet_pton(AF_INET, "10.213.5.1", &cfg.dns4);
	cfg.session_of = (struct ward_session_hook){ .fn = session_of, .data = &calls };
	CHECK(ward_audit_open(db, &audit, &err) == 0, "audit: %s", err.msg);
	cfg.audit = audit;
	cgfd = make_cgroups();
	CHECK(cgfd >= 0, "cgroups: %m");
	if (cgfd < 0 || !audit)
		goto out;
	pol = policy();
	if (!pol || ward_audit_store_policy(audit, pol, &err) < 0 ||
	    ward_egress_new(pol, &cfg, &e, &err) < 0 || ward_egress_attach(e, cgfd, &err) < 0) {
		CHECK(0, "egress: %s", err.msg);
		goto out;
	}
	tp = listener("10.213.5.1", TRANSPARENT);

	/* kernel rows: a refusal in each session, one in the sandbox outside any */
	pid[0] = spawn(cg_s[0], "nopolicy", "10.213.5.2", "443");
	pid[1] = spawn(cg_s[1], "nopolicy", "10.213.5.2", "443");
	pid[2] = spawn(cg_sb, "nopolicy", "10.213.5.2", "443");
	for (int i = 0; i < 3; i++)
		CHECK(reap(pid[i]) == X_EPERM, "client %d not refused", i);
	ward_egress_consume(e);
	for (int i = 0; i < 2; i++) {
		const char *s = session_of_pid(pid[i]);

		CHECK(s && strcmp(s, session_names[i]) == 0, "deny row of session %s says %s",
		      session_names[i], s ? s : "(no row)");
	}
	CHECK(session_of_pid(pid[2]) && strcmp(session_of_pid(pid[2]), "-") == 0,
	      "a process outside the sessions got session %s", session_of_pid(pid[2]));

	/* proxied connections: the peer lookup names the session, and so does
	 * the kernel row the lookup writes */
	for (int i = 0; i < 2; i++) {
		struct ward_egress_peer peer = { 0 };
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct pollfd pf = { .fd = tp, .events = POLLIN };
		pid_t p = spawn(cg_s[i], "allowed", "10.213.5.2", "443");
		int cfd = -1;

		if (poll(&pf, 1, 5000) == 1)
			cfd = accept4(tp, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		CHECK(cfd >= 0, "session %s: nothing reached the proxy", session_names[i]);
		if (cfd >= 0) {
			CHECK(ward_egress_peer_lookup(e, (struct sockaddr *)&ss, &peer) == 0,
			      "peer lookup");
			CHECK(peer.cgid == cgid_s[i], "peer cgid %llu, want %llu",
			      (unsigned long long)peer.cgid, (unsigned long long)cgid_s[i]);
			CHECK(strcmp(peer.session, session_names[i]) == 0, "peer session '%s'",
			      peer.session);
			CHECK(write(cfd, "k", 1) == 1, "reply");
			close(cfd);
		}
		CHECK(reap(p) == 0, "session %s client failed", session_names[i]);
		CHECK(session_of_pid(p) && strcmp(session_of_pid(p), session_names[i]) == 0,
		      "redirect row of session %s says %s", session_names[i],
		      session_of_pid(p) ? session_of_pid(p) : "(no row)");
	}
	CHECK(calls >= 4, "the hook was asked %d times", calls);
	close(tp);
	ward_egress_free(e);
	e = NULL;

	/* the log: each session's own rows, the chain intact */
	CHECK(ward_audit_close(audit) == 0, "close");
	audit = NULL;
	CHECK(ward_audit_reader_open(db, &rd, &err) == 0, "reader: %s", err.msg);
	if (rd) {
		CHECK(ward_audit_reader_each(rd, &flt, count_session, &n, &err) == 0, "read");
		CHECK(n == 2, "%d rows of session aaa, want 2 (deny, redirect)", n);
		ward_audit_reader_close(rd);
	}
	CHECK(ward_audit_sessions(db, "sb", &sum, &n_sum, &err) == 0, "sessions: %s", err.msg);
	CHECK(n_sum == 2, "%zu sessions, want 2", n_sum);
	for (size_t i = 0; i < n_sum; i++) {
		CHECK(sum[i].n_layers == 1 && strcmp(sum[i].layers[0].layer, "kernel") == 0 &&
			      sum[i].layers[0].deny == 1 && sum[i].layers[0].allow == 1,
		      "session %s: rows by layer and action", sum[i].id);
	}
	ward_audit_sessions_free(sum, n_sum);
	CHECK(ward_audit_verify(db, 0, NULL, NULL, &v, &err) == 0 && v.intact, "verify: %s %s",
	      err.msg, v.problem);
out:
	ward_egress_free(e);
	ward_audit_close(audit);
	ward_policy_free(pol);
	if (cgfd >= 0)
		close(cgfd);
	rm_cgroups();
	CHECK(!cg_sb[0], "cgroups left behind");
}

static int cgroup2_mount(char *buf, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], mnt[256];
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " - cgroup2 ") &&
		    sscanf(line, "%*s %*s %*s %*s %255s", mnt) == 1) {
			snprintf(buf, size, "%s", mnt);
			r = 0;
			break;
		}
	fclose(f);
	return r;
}

static void cleanup(void)
{
	char cmd[PATH_MAX + 16];

	rm_cgroups();
	if (tmpdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
}

int main(int argc, char **argv)
{
	char self[PATH_MAX];
	ssize_t n;

	if (argc == 4 && strcmp(argv[1], "client") == 0)
		return client_main(argv[2], atoi(argv[3]));
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: needs root\n");
		return 77;
	}
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, NULL) != 1 ||
	    libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SOCK_OPS, NULL) != 1) {
		fprintf(stderr, "SKIP: cgroup sock_addr / sock_ops programs not loadable\n");
		return 77;
	}
	if (cgroup2_mount(cg2, sizeof(cg2)) < 0) {
		fprintf(stderr, "SKIP: no cgroup2 mount\n");
		return 77;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "SKIP: unshare(CLONE_NEWNET): %m\n");
		return 77;
	}
	atexit(cleanup);
	sh("ip link set lo up");
	sh("ip addr add 10.213.5.1/32 dev lo");
	sh("ip addr add 10.213.5.2/32 dev lo");
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ward-session-rows-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	if (copy_file(self, bin("allowed")) || copy_file(self, bin("nopolicy")))
		return 1;
	snprintf(db, sizeof(db), "%s/log.db", tmpdir);
	return run_case("sessions", case_sessions) ? 1 : 0;
}
