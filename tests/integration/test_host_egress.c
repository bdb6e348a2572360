// SPDX-License-Identifier: MIT
/* Host mode on the real kernel (src/enforcer/egress_host.c, docs/egress.md
 * "Host mode"): the egress programs pinned at a scope cgroup this test makes
 * (never the machine's root), in a network namespace of its own
 * (10.213.23.0/24 on lo), pins under /sys/fs/bpf/ward-test-hostk-PID on a
 * bpffs mounted in a mount namespace of its own.
 *
 * A binary without a rule gets EPERM, one with rules is redirected to the
 * registered proxy listener (and to the DNS stub for port 53), refused and
 * counted when that listener is gone or someone else holds its port; a
 * process outside the scope and one in an exempt cgroup are untouched; audit
 * mode allows and says "audit"; a second open takes the pinned state over
 * while connect loops run (same links, new programs, no wrong verdict); with
 * no handle at all the pinned programs still refuse and count, and the next
 * handle reads the refusals' events; unpin leaves no link, program or pin.
 *
 * The clients are copies of this executable (identity is the inode). Exit 77
 * when not root or when cgroup sock_addr programs cannot load. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "enforcer/egress.h"

#include "check.h"
#include "fixture.h"

#define PROXY 3229
#define PROXY2 3230
#define DNSP 3253
#define X_EPERM 10
#define X_OTHER 11
#define LOOP_MAX 200000 /* connects per loop client at most */
#define LOOP_SECS 60	/* and seconds */

static char tmpdir[128], pin_dir[128], pin_audit[128];
static char scope[256], scope_ex[PATH_MAX], scope_audit[PATH_MAX];

/* ---- client role: a copy of this executable ---- */

static int addr4(const char *s, int port, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, s, &sin->sin_addr) == 1 ? 0 : -1;
}

/* hold: keep the connection until the peer closes it (its record lives
 * as long as the connection: the test looks it up meanwhile). Otherwise
 * closed with a reset: no TIME_WAIT, the loops do not run out of ports. */
static int client_connect(const char *addr, int port, bool hold)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char b;

	if (fd < 0 || addr4(addr, port, &sin) < 0)
		return X_OTHER;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int r = errno == EPERM ? X_EPERM : X_OTHER;

		close(fd);
		return r;
	}
	if (hold)
		(void)read(fd, &b, 1);
	else
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return 0;
}

static int client_udp(const char *addr, int port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || addr4(addr, port, &sin) < 0)
		return X_OTHER;
	if (sendto(fd, "q", 1, 0, (struct sockaddr *)&sin, sizeof(sin)) != 1)
		return errno == EPERM ? X_EPERM : X_OTHER;
	close(fd);
	return 0;
}

/* client loop ADDR PORT STOPFILE OUT: connect until STOPFILE exists (at most
 * LOOP_MAX times); OUT gets "ok eperm other". */
static int client_loop(const char *addr, int port, const char *stop, const char *out)
{
	uint64_t end = ward_mono_ns() + LOOP_SECS * 1000000000ull;
	int n[3] = { 0 }, i;
	FILE *f;

	for (i = 0; i < LOOP_MAX && access(stop, F_OK) < 0 && ward_mono_ns() < end; i++) {
		int r = client_connect(addr, port, false);

		n[r == 0 ? 0 : r == X_EPERM ? 1 : 2]++;
	}
	f = fopen(out, "we");
	if (!f)
		return X_OTHER;
	fprintf(f, "%d %d %d\n", n[0], n[1], n[2]);
	return fclose(f) ? X_OTHER : 0;
}

static int client_main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[2], "connect"))
		return client_connect(argv[3], atoi(argv[4]), false);
	if (argc == 5 && !strcmp(argv[2], "hold"))
		return client_connect(argv[3], atoi(argv[4]), true);
	if (argc == 5 && !strcmp(argv[2], "udp"))
		return client_udp(argv[3], atoi(argv[4]));
	if (argc == 7 && !strcmp(argv[2], "loop"))
		return client_loop(argv[3], atoi(argv[4]), argv[5], argv[6]);
	return X_OTHER;
}

/* ---- the test ---- */

static char *bin(const char *name)
{
	static char buf[4][PATH_MAX];
	static int k;
	char *b = buf[k++ % 4];

	snprintf(b, PATH_MAX, "%s/%s", tmpdir, name);
	return b;
}

/* Run binary name with args in cgroup cg (NULL: stay where the test is). */
static pid_t spawn(const char *cg, const char *name, const char *const *args)
{
	char procs[PATH_MAX + 16];
	const char *argv[8] = { name, "client" };
	pid_t pid;
	int i;

	for (i = 0; args[i] && i < 5; i++)
		argv[2 + i] = args[i];
	argv[2 + i] = NULL;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		if (cg) {
			int fd;

			snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
			fd = open(procs, O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, "0", 1) != 1)
				_exit(X_OTHER + 1);
			close(fd);
		}
		execv(bin(name), (char *const *)argv);
		_exit(X_OTHER + 2);
	}
	return pid;
}

static int wait_rc(pid_t pid)
{
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int run(const char *cg, const char *name, const char *op, const char *addr, int port)
{
	char p[16];

	snprintf(p, sizeof(p), "%d", port);
	return wait_rc(spawn(cg, name, (const char *const[]){ op, addr, p, NULL }));
}

static int listener(int type, const char *addr, int port)
{
	struct sockaddr_in sin;
	int one = 1, fd = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0 || addr4(addr, port, &sin) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 512) < 0)) {
		fprintf(stderr, "listener %s:%d: %m\n", addr, port);
		exit(1);
	}
	return fd;
}

static uint64_t cookie(int fd)
{
	uint64_t c = 0;
	socklen_t len = sizeof(c);

	return getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len) < 0 ? 0 : c;
}

/* Accept everything pending on fd (non-blocking); the count, and the last
 * accepted peer in *peer when given. */
static int drain(int fd, struct sockaddr_in *peer)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int n = 0, c;

	while ((c = accept4(fd, (struct sockaddr *)&sin, &len, SOCK_CLOEXEC)) >= 0) {
		if (peer)
			*peer = sin;
		close(c);
		n++;
		len = sizeof(sin);
	}
	return n;
}

static int drain_udp(int fd)
{
	char b[64];
	int n = 0;

	while (recv(fd, b, sizeof(b), MSG_DONTWAIT) > 0)
		n++;
	return n;
}

/* events seen by the on_event callback (consumed in this thread) */
#define MAX_EV 4096
static struct seen {
	uint8_t verdict, reason;
	uint32_t tgid;
	char action[8], sandbox[16];
} seen[MAX_EV];
static int n_seen;

static void on_event(void *ud, const struct ward_event *ev, const struct ward_decision *d)
{
	(void)ud;
	if (!ev || n_seen >= MAX_EV)
		return;
	seen[n_seen].verdict = ev->verdict;
	seen[n_seen].reason = ev->reason;
	seen[n_seen].tgid = ev->tgid;
	snprintf(seen[n_seen].action, sizeof(seen[0].action), "%s", d->action);
	snprintf(seen[n_seen].sandbox, sizeof(seen[0].sandbox), "%s", d->sandbox ? d->sandbox : "");
	n_seen++;
}

static int count_seen(uint8_t verdict, uint8_t reason, const char *action)
{
	int n = 0;

	for (int i = 0; i < n_seen; i++)
		n += seen[i].verdict == verdict && seen[i].reason == reason &&
		     !strcmp(seen[i].action, action) && !strcmp(seen[i].sandbox, "host");
	return n;
}

static int attached(int cgfd, enum bpf_attach_type t)
{
	__u32 cnt = 0;

	return bpf_prog_query(cgfd, t, 0, NULL, NULL, &cnt) == 0 ? (int)cnt : -1;
}

static void cleanup(void)
{
	struct ward_error err = { 0 };

	if (pin_dir[0])
		(void)ward_egress_host_unpin(pin_dir, &err);
	if (pin_audit[0])
		(void)ward_egress_host_unpin(pin_audit, &err);
	if (scope_ex[0])
		rmdir(scope_ex);
	if (scope_audit[0])
		rmdir(scope_audit);
	if (scope[0])
		rmdir(scope);
	if (tmpdir[0]) {
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		(void)system(cmd);
	}
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The acceptor of the proxy listener while the loops run. */
static int acc_fd;
static volatile int acc_stop, acc_n;

static void *acceptor(void *arg)
{
	(void)arg;
	while (!acc_stop) {
		struct pollfd p = { .fd = acc_fd, .events = POLLIN };

		if (poll(&p, 1, 50) > 0)
			__atomic_add_fetch(&acc_n, drain(acc_fd, NULL), __ATOMIC_RELAXED);
	}
	return NULL;
}

static int wait_accepted(int n)
{
	/* bounded: 2000 x 5 ms */
	for (int i = 0; i < 2000 && __atomic_load_n(&acc_n, __ATOMIC_RELAXED) < n; i++)
		usleep(5000);
	return __atomic_load_n(&acc_n, __ATOMIC_RELAXED) >= n;
}

static int read_counts(const char *path, int n[3])
{
	FILE *f = fopen(path, "re");
	int r = f && fscanf(f, "%d %d %d", &n[0], &n[1], &n[2]) == 3 ? 0 : -1;

	if (f)
		fclose(f);
	return r;
}

static bool prog_exists(uint32_t id)
{
	int fd = bpf_prog_get_fd_by_id(id);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int main(int argc, char **argv)
{
	char self[PATH_MAX], ruled[PATH_MAX], cg2[] = "/sys/fs/cgroup/unified";
	struct ward_error err = { 0 };
	struct ward_egress *h1 = NULL, *h2 = NULL, *h3 = NULL, *ha = NULL;
	struct ward_host_pins st1, st2, st;
	struct ward_egress_peer peer;
	struct sockaddr_in got;
	uint64_t fc, fc_old;
	int scope_fd, ex_fd, audit_fd, fd_tgt, fd_tgt53, fd_lo, fd_proxy, fd_dns_u, fd_dns_t;
	ssize_t n;
	int rc;

	if (argc >= 2 && strcmp(argv[1], "client") == 0)
		return client_main(argc, argv);
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: needs root\n");
		return 77;
	}
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, NULL) != 1 ||
	    libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SOCK_OPS, NULL) != 1) {
		fprintf(stderr, "SKIP: cgroup sock_addr / sock_ops programs not loadable\n");
		return 77;
	}
	if (ward_egress_host_probe(&err) < 0) {
		fprintf(stderr, "SKIP: %s\n", err.msg);
		return 77;
	}
	if (access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) < 0)
		snprintf(cg2, sizeof(cg2), "/sys/fs/cgroup");
	/* a network namespace and a mount namespace of our own: bpffs is
	 * mounted here only (the pins die with the namespace, whatever happens) */
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
		fprintf(stderr, "SKIP: unshare(CLONE_NEWNET | CLONE_NEWNS): %m\n");
		return 77;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") < 0) {
		fprintf(stderr, "setup failed: bpffs in a mount namespace: %m\n");
		return 1;
	}
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	sh("ip link set lo up");
	sh("ip addr add 10.213.23.1/32 dev lo");
	sh("ip addr add 10.213.23.2/32 dev lo");

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ward-hostk-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	if (copy_file(self, bin("ruled")) || copy_file(self, bin("norule")))
		return 1;
	snprintf(ruled, sizeof(ruled), "%s", bin("ruled"));

	snprintf(scope, sizeof(scope), "%s/hostk-%d", cg2, getpid());
	snprintf(scope_ex, sizeof(scope_ex), "%s/exempt", scope);
	snprintf(scope_audit, sizeof(scope_audit), "%s/hostk-%d-audit", cg2, getpid());
	if (mkdir(scope, 0755) < 0 || mkdir(scope_ex, 0755) < 0 || mkdir(scope_audit, 0755) < 0) {
		fprintf(stderr, "setup failed: cgroups under %s: %m\n", cg2);
		return 1;
	}
	scope_fd = open(scope, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ex_fd = open(scope_ex, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	audit_fd = open(scope_audit, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/ward-test-hostk-%d", getpid());
	snprintf(pin_audit, sizeof(pin_audit), "/sys/fs/bpf/ward-test-hostk-%d-audit", getpid());

	/* "ruled" may reach port 443 (through the proxy) */
	uint16_t ports443[] = { 443 };
	struct ward_endpoint ep = { .host = "example.test", .ports = ports443, .n_ports = 1 };
	struct ward_binary bins[] = { { .path = ruled } };
	struct ward_net_policy net[] = {
		{ .key = "web",
		  .binaries = bins,
		  .n_binaries = 1,
		  .endpoints = &ep,
		  .n_endpoints = 1 },
	};
	struct ward_policy pol = { .net = net, .n_net = 1, .rev = "h1" };
	struct ward_policy pol2 = { .net = net, .n_net = 1, .rev = "h2" };
	struct stat exst;

	if (fstat(ex_fd, &exst) < 0)
		return 1;
	uint64_t exempt[] = { (uint64_t)exst.st_ino };
	struct ward_egress_config cfg = {
		.transparent_port = PROXY,
		.dns_port = DNSP,
		.on_event = on_event,
		.pin_dir = pin_dir,
		.host = true,
		.exempt_cgids = exempt,
		.n_exempt = 1,
	};

	fd_tgt = listener(SOCK_STREAM, "10.213.23.2", 443);
	fd_tgt53 = listener(SOCK_DGRAM, "10.213.23.2", 53);
	fd_lo = listener(SOCK_STREAM, "127.0.0.1", 7000);
	fd_proxy = listener(SOCK_STREAM, "127.0.0.1", PROXY);
	fd_dns_u = listener(SOCK_DGRAM, "127.0.0.1", DNSP);
	fd_dns_t = listener(SOCK_STREAM, "127.0.0.1", DNSP);

	/* ---- fresh: load, attach at the scope, pin ---- */
	if (ward_egress_host_open(&pol, &cfg, scope_fd, &h1, &err) < 0) {
		fprintf(stderr, "FAIL: host open: %s\n", err.msg);
		return 1;
	}
	CHECK(ward_egress_host_set_listeners(h1, cookie(fd_proxy), cookie(fd_dns_u),
					     cookie(fd_dns_t), &err) == 0,
	      "set_listeners: %s", err.msg);
	CHECK(attached(scope_fd, BPF_CGROUP_INET4_CONNECT) == 1, "connect4 programs at the scope");
	CHECK(ward_egress_host_status(pin_dir, &st1, &err) == 0, "status: %s", err.msg);
	CHECK(st1.n_progs == WARD_EGRESS_HOST_N_PROGS, "%zu pinned links", st1.n_progs);
	CHECK(st1.scope_cgid == (uint64_t)({
		      struct stat s;
		      fstat(scope_fd, &s);
		      s.st_ino;
	      }),
	      "scope cgid %llu", (unsigned long long)st1.scope_cgid);
	CHECK(st1.generation == 1 && st1.proxy_port == PROXY && st1.dns_port == DNSP &&
		      st1.proxy_cookie == cookie(fd_proxy) && st1.n_exempt == 1 &&
		      st1.exempt[0] == exempt[0] && !st1.audit,
	      "status gen %u ports %u/%u exempt %llu", st1.generation, st1.proxy_port, st1.dns_port,
	      (unsigned long long)st1.n_exempt);

	/* pins elsewhere than on bpffs: refused, nothing made or attached */
	{
		struct ward_egress_config cb = cfg;
		struct ward_egress *hb = NULL;
		char bad[PATH_MAX];

		snprintf(bad, sizeof(bad), "%s/not-bpffs/pins", tmpdir);
		cb.pin_dir = bad;
		rc = ward_egress_host_open(&pol, &cb, scope_fd, &hb, &err);
		CHECK(rc == -ENOTSUP && !hb, "pins on /tmp: %d", rc);
		snprintf(bad, sizeof(bad), "%s/not-bpffs", tmpdir);
		CHECK(access(bad, F_OK) < 0, "%s left behind", bad);
		CHECK(attached(scope_fd, BPF_CGROUP_INET4_CONNECT) == 1, "one connect4 program");
	}

	/* a directory with some of the pins only: refused, left as it was */
	{
		struct ward_egress_config cb = cfg;
		struct ward_egress *hb = NULL;
		char dir[PATH_MAX], path[PATH_MAX + 16];
		int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "hostk_part", 4, 4, 1, NULL);

		snprintf(dir, sizeof(dir), "%s-partial", pin_dir);
		snprintf(path, sizeof(path), "%s/map_ports", dir);
		CHECK(fd >= 0 && mkdir(dir, 0700) == 0 && bpf_obj_pin(fd, path) == 0,
		      "partial pins: %m");
		cb.pin_dir = dir;
		rc = ward_egress_host_open(&pol, &cb, scope_fd, &hb, &err);
		CHECK(rc == -EUCLEAN && !hb, "partial pins: %d", rc);
		CHECK(access(path, F_OK) == 0, "the partial pin was removed");
		CHECK(attached(scope_fd, BPF_CGROUP_INET4_CONNECT) == 1, "one connect4 program");
		CHECK(ward_egress_host_unpin(dir, &err) == 0 && access(dir, F_OK) < 0,
		      "unpin removes partial state: %s", err.msg);
		if (fd >= 0)
			close(fd);
	}

	/* a full set of pins where one map has another layout (pinned by another
	 * ward version): refused with -EPROTO, the pinned programs untouched */
	{
		struct ward_egress_config cb = cfg;
		struct ward_egress *hb = NULL;
		char dir[PATH_MAX], from[PATH_MAX + 300], to[PATH_MAX + 300];
		int odd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "hostk_odd", 4, 4, 1, NULL);
		DIR *d = opendir(pin_dir);
		struct dirent *de;
		int n_pins = 0;

		snprintf(dir, sizeof(dir), "%s-layout", pin_dir);
		CHECK(odd >= 0 && d && mkdir(dir, 0700) == 0, "layout pins: %m");
		while (d && (de = readdir(d))) {
			int fd;

			if (de->d_name[0] == '.')
				continue;
			snprintf(from, sizeof(from), "%s/%s", pin_dir, de->d_name);
			snprintf(to, sizeof(to), "%s/%s", dir, de->d_name);
			fd = strcmp(de->d_name, "map_ports") == 0 ? dup(odd) : bpf_obj_get(from);
			CHECK(fd >= 0 && bpf_obj_pin(fd, to) == 0, "re-pin %s: %m", de->d_name);
			if (fd >= 0)
				close(fd);
			n_pins++;
		}
		if (d)
			closedir(d);
		cb.pin_dir = dir;
		rc = ward_egress_host_open(&pol, &cb, scope_fd, &hb, &err);
		CHECK(rc == -EPROTO && !hb && strstr(err.msg, "another layout"),
		      "pins of another layout: %d %s", rc, err.msg);
		CHECK(attached(scope_fd, BPF_CGROUP_INET4_CONNECT) == 1, "one connect4 program");
		/* the copies only (the links stay pinned where they were) */
		d = opendir(dir);
		while (d && (de = readdir(d)))
			if (de->d_name[0] != '.')
				unlinkat(dirfd(d), de->d_name, 0);
		if (d)
			closedir(d);
		CHECK(rmdir(dir) == 0 && n_pins > 0, "layout pins removed (%d)", n_pins);
		if (odd >= 0)
			close(odd);
	}

	/* no rule: EPERM, a deny row of sandbox "host" */
	rc = run(scope, "norule", "connect", "10.213.23.2", 443);
	CHECK(rc == X_EPERM, "no-rule binary: %d, want EPERM", rc);
	rc = run(scope, "norule", "udp", "10.213.23.2", 9999);
	CHECK(rc == X_EPERM, "no-rule binary, udp: %d, want EPERM", rc);
	rc = run(scope, "norule", "udp", "10.213.23.2", 53);
	CHECK(rc == X_EPERM, "no-rule binary, dns: %d, want EPERM", rc);
	/* loopback: the host's own services */
	rc = run(scope, "norule", "connect", "127.0.0.1", 7000);
	CHECK(rc == 0, "no-rule binary to loopback: %d", rc);
	CHECK(drain(fd_lo, NULL) == 1, "loopback listener got the connection");
	/* outside the scope, and in an exempt cgroup below it: untouched */
	rc = run(NULL, "norule", "connect", "10.213.23.2", 443);
	CHECK(rc == 0, "outside the scope: %d", rc);
	rc = run(scope_ex, "norule", "connect", "10.213.23.2", 443);
	CHECK(rc == 0, "exempt cgroup: %d", rc);
	CHECK(drain(fd_tgt, NULL) == 2, "the target got the two untouched connections");
	/* a rule: redirected to the registered proxy, the original destination recorded */
	{
		pid_t pid = spawn(scope, "ruled",
				  (const char *const[]){ "hold", "10.213.23.2", "443", NULL });
		struct pollfd pf = { .fd = fd_proxy, .events = POLLIN };
		socklen_t len = sizeof(got);
		int c = -1;

		memset(&got, 0, sizeof(got));
		if (poll(&pf, 1, 10000) == 1)
			c = accept4(fd_proxy, (struct sockaddr *)&got, &len, SOCK_CLOEXEC);
		CHECK(c >= 0, "the proxy got the ruled binary's connection");
		memset(&peer, 0, sizeof(peer));
		rc = ward_egress_peer_lookup(h1, (struct sockaddr *)&got, &peer);
		if (c >= 0)
			close(c);
		if (c < 0)
			kill(pid, SIGKILL);
		CHECK(wait_rc(pid) == 0, "ruled binary");
	}
	CHECK(drain(fd_tgt, NULL) == 0, "the target got nothing from the ruled binary");
	CHECK(rc == 0 && peer.orig.ss_family == AF_INET &&
		      ((struct sockaddr_in *)&peer.orig)->sin_port == htons(443) && peer.binary &&
		      !strcmp(peer.binary, ruled) && peer.rule && !strcmp(peer.rule, "web"),
	      "peer lookup: binary %s rule %s", peer.binary ? peer.binary : "-",
	      peer.rule ? peer.rule : "-");
	rc = run(scope, "ruled", "connect", "10.213.23.2", 80);
	CHECK(rc == X_EPERM, "ruled binary, port of no endpoint: %d", rc);
	rc = run(scope, "ruled", "udp", "10.213.23.2", 53);
	CHECK(rc == 0, "ruled binary, dns: %d", rc);
	CHECK(drain_udp(fd_dns_u) == 1 && drain_udp(fd_tgt53) == 0,
	      "the ruled binary's dns went to the stub");
	rc = run(scope, "ruled", "connect", "10.213.23.2", 53);
	CHECK(rc == 0 && drain(fd_dns_t, NULL) == 1, "ruled binary, dns over tcp to the stub: %d",
	      rc);
	ward_egress_consume(h1);
	CHECK(count_seen(WARD_VERDICT_DENY, WARD_REASON_NO_POLICY, "deny") == 3,
	      "%d no-policy rows", count_seen(WARD_VERDICT_DENY, WARD_REASON_NO_POLICY, "deny"));
	CHECK(count_seen(WARD_VERDICT_DENY, WARD_REASON_PORT, "deny") == 1, "port row");
	CHECK(count_seen(WARD_VERDICT_ALLOW, WARD_REASON_LOOPBACK, "allow") == 0,
	      "no loopback rows in host mode");
	CHECK(ward_egress_host_failclosed(h1) == 0, "nothing failed closed yet");

	/* ---- fail closed: the listener gone, then someone else's on its port ---- */
	close(fd_proxy);
	rc = run(scope, "ruled", "connect", "10.213.23.2", 443);
	CHECK(rc == X_EPERM, "no listener: %d, want EPERM", rc);
	fd_proxy = listener(SOCK_STREAM, "127.0.0.1", PROXY); /* not registered */
	rc = run(scope, "ruled", "connect", "10.213.23.2", 443);
	CHECK(rc == X_EPERM, "foreign listener: %d, want EPERM", rc);
	CHECK(drain(fd_proxy, NULL) == 0, "the foreign listener got nothing");
	fc = ward_egress_host_failclosed(h1);
	CHECK(fc == 2, "fail-closed counter %llu, want 2", (unsigned long long)fc);
	ward_egress_consume(h1);
	CHECK(count_seen(WARD_VERDICT_DENY, WARD_REASON_DAEMON_DOWN, "deny") == 2,
	      "daemon-down rows");
	CHECK(ward_egress_host_set_listeners(h1, cookie(fd_proxy), cookie(fd_dns_u),
					     cookie(fd_dns_t), &err) == 0,
	      "set_listeners: %s", err.msg);
	rc = run(scope, "ruled", "connect", "10.213.23.2", 443);
	CHECK(rc == 0 && drain(fd_proxy, NULL) == 1, "registered again: %d", rc);

	/* ---- takeover while connect loops run ---- */
	{
		char stop[PATH_MAX], out_r[PATH_MAX], out_n[PATH_MAX];
		int cr[3] = { -1, -1, -1 }, cn[3] = { -1, -1, -1 };
		pthread_t th;
		pid_t pr, pn;

		snprintf(stop, sizeof(stop), "%s/stop", tmpdir);
		snprintf(out_r, sizeof(out_r), "%s/out_ruled", tmpdir);
		snprintf(out_n, sizeof(out_n), "%s/out_norule", tmpdir);
		acc_fd = fd_proxy;
		pthread_create(&th, NULL, acceptor, NULL);
		pr = spawn(scope, "ruled",
			   (const char *const[]){ "loop", "10.213.23.2", "443", stop, out_r,
						  NULL });
		pn = spawn(scope, "norule",
			   (const char *const[]){ "loop", "10.213.23.2", "443", stop, out_n,
						  NULL });
		CHECK(wait_accepted(50), "the ruled loop runs (%d accepted)", acc_n);
		cfg.n_exempt = 0; /* the new daemon's list replaces the pinned one */
		if (ward_egress_host_open(&pol2, &cfg, scope_fd, &h2, &err) < 0) {
			fprintf(stderr, "FAIL: takeover: %s\n", err.msg);
			failures++;
		}
		if (h2)
			CHECK(ward_egress_host_set_listeners(h2, cookie(fd_proxy), cookie(fd_dns_u),
							     cookie(fd_dns_t), &err) == 0,
			      "set_listeners: %s", err.msg);
		/* the old daemon goes */
		ward_egress_free(h1);
		h1 = NULL;
		int before = acc_n;
		CHECK(wait_accepted(before + 50), "the ruled loop goes on after the takeover");
		close(open(stop, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
		CHECK(wait_rc(pr) == 0 && wait_rc(pn) == 0, "loop clients");
		acc_stop = 1;
		pthread_join(th, NULL);
		drain(fd_proxy, NULL);
		CHECK(read_counts(out_r, cr) == 0 && cr[0] > 0 && cr[1] == 0 && cr[2] == 0,
		      "ruled loop: %d ok, %d EPERM, %d other", cr[0], cr[1], cr[2]);
		CHECK(read_counts(out_n, cn) == 0 && cn[0] == 0 && cn[1] > 0 && cn[2] == 0,
		      "no-rule loop: %d ok, %d EPERM, %d other", cn[0], cn[1], cn[2]);
		fprintf(stderr, "takeover under load: ruled %d connects, no-rule %d\n", cr[0],
			cn[1]);
	}
	if (!h2)
		return 1;
	CHECK(ward_egress_host_status(pin_dir, &st2, &err) == 0, "status: %s", err.msg);
	for (size_t i = 0; i < WARD_EGRESS_HOST_N_PROGS; i++)
		CHECK(st2.progs[i].link_id == st1.progs[i].link_id &&
			      st2.progs[i].prog_id != st1.progs[i].prog_id && st2.progs[i].prog_id,
		      "%s: link %u -> %u, program %u -> %u", st2.progs[i].name,
		      st1.progs[i].link_id, st2.progs[i].link_id, st1.progs[i].prog_id,
		      st2.progs[i].prog_id);
	CHECK(st2.generation == 2 && ward_egress_generation(h2) == 2,
	      "generation %u after takeover", st2.generation);
	CHECK(st2.n_exempt == 0, "exempt list replaced: %llu", (unsigned long long)st2.n_exempt);
	CHECK(ward_egress_host_failclosed(h2) == fc, "the counter survived the takeover: %llu",
	      (unsigned long long)ward_egress_host_failclosed(h2));
	CHECK(attached(scope_fd, BPF_CGROUP_INET4_CONNECT) == 1, "still one connect4 program");
	/* the first daemon's keys left the port map after the switch */
	{
		char path[PATH_MAX];
		struct ward_port_key k, next;
		int fd, n_keys = 0, n_old = 0;
		bool first = true;

		snprintf(path, sizeof(path), "%s/map_ports", pin_dir);
		fd = bpf_obj_get(path);
		CHECK(fd >= 0, "pinned port map: %m");
		while (fd >= 0 && bpf_map_get_next_key(fd, first ? NULL : &k, &next) == 0) {
			first = false;
			k = next;
			n_keys++;
			n_old += next.gen != 2;
		}
		CHECK(n_keys == 1 && n_old == 0, "port keys: %d, %d of older generations", n_keys,
		      n_old);
		if (fd >= 0)
			close(fd);
	}
	rc = run(scope_ex, "norule", "connect", "10.213.23.2", 443);
	CHECK(rc == X_EPERM, "no longer exempt: %d", rc);

	/* ---- no daemon: the pinned programs still refuse, and count ---- */
	while (ward_egress_consume(h2) > 0)
		;
	ward_egress_free(h2);
	h2 = NULL;
	close(fd_proxy);
	rc = run(scope, "ruled", "connect", "10.213.23.2", 443);
	CHECK(rc == X_EPERM, "daemon down, ruled binary: %d", rc);
	rc = run(scope, "norule", "connect", "10.213.23.2", 443);
	CHECK(rc == X_EPERM, "daemon down, no-rule binary: %d", rc);
	CHECK(ward_egress_host_status(pin_dir, &st, &err) == 0 && st.failclosed == fc + 1,
	      "pinned counter %llu, want %llu", (unsigned long long)st.failclosed,
	      (unsigned long long)fc + 1);
	n_seen = 0;
	if (ward_egress_host_open(&pol, &cfg, scope_fd, &h3, &err) < 0) {
		fprintf(stderr, "FAIL: restart: %s\n", err.msg);
		return 1;
	}
	ward_egress_consume(h3);
	CHECK(count_seen(WARD_VERDICT_DENY, WARD_REASON_DAEMON_DOWN, "deny") >= 1 &&
		      count_seen(WARD_VERDICT_DENY, WARD_REASON_NO_POLICY, "deny") >= 1,
	      "the restarted daemon reads the refusals made while it was down (%d events)", n_seen);
	CHECK(ward_egress_host_reset_failclosed(h3, &fc_old) == 0 && fc_old == fc + 1 &&
		      ward_egress_host_failclosed(h3) == 0,
	      "reset: old %llu", (unsigned long long)fc_old);
	ward_egress_free(h3);

	/* ---- audit mode: another scope, its own pins ---- */
	{
		struct ward_egress_config ca = cfg;

		ca.pin_dir = pin_audit;
		ca.audit_mode = true;
		n_seen = 0;
		if (ward_egress_host_open(&pol, &ca, audit_fd, &ha, &err) < 0) {
			fprintf(stderr, "FAIL: audit open: %s\n", err.msg);
			return 1;
		}
		rc = run(scope_audit, "norule", "connect", "10.213.23.2", 443);
		CHECK(rc == 0 && drain(fd_tgt, NULL) == 1, "audit mode allows: %d", rc);
		rc = run(scope_audit, "norule", "udp", "10.213.23.2", 53);
		CHECK(rc == 0 && drain_udp(fd_tgt53) == 1, "audit mode allows dns: %d", rc);
		ward_egress_consume(ha);
		CHECK(count_seen(WARD_VERDICT_AUDIT, WARD_REASON_NO_POLICY, "audit") == 2,
		      "%d audit rows",
		      count_seen(WARD_VERDICT_AUDIT, WARD_REASON_NO_POLICY, "audit"));
		CHECK(ward_egress_host_status(pin_audit, &st, &err) == 0 && st.audit,
		      "status says audit");
		ward_egress_free(ha);
		CHECK(ward_egress_host_unpin(pin_audit, &err) == 0, "unpin audit: %s", err.msg);
		pin_audit[0] = '\0';
	}

	/* ---- unpin: no link, program or pin left ---- */
	CHECK(ward_egress_host_status(pin_dir, &st, &err) == 0, "status: %s", err.msg);
	CHECK(ward_egress_host_unpin(pin_dir, &err) == 0, "unpin: %s", err.msg);
	CHECK(access(pin_dir, F_OK) < 0 && errno == ENOENT, "%s still there", pin_dir);
	CHECK(ward_egress_host_status(pin_dir, &st2, &err) == -ENOENT, "status after unpin");
	CHECK(attached(scope_fd, BPF_CGROUP_INET4_CONNECT) == 0 &&
		      attached(scope_fd, BPF_CGROUP_SOCK_OPS) == 0 &&
		      attached(scope_fd, BPF_CGROUP_INET_SOCK_RELEASE) == 0,
	      "programs still attached to the scope");
	{
		int left = 0;

		/* programs are freed after an RCU grace period: bounded wait */
		for (int t = 0; t < 200; t++) {
			left = 0;
			for (size_t i = 0; i < st.n_progs; i++)
				left += prog_exists(st.progs[i].prog_id);
			if (!left)
				break;
			usleep(10000);
		}
		CHECK(left == 0, "%d programs of the pins still loaded", left);
		for (int t = 0; t < 200; t++) {
			left = 0;
			for (size_t i = 0; i < st.n_progs; i++) {
				int fd = bpf_link_get_fd_by_id(st.progs[i].link_id);

				left += fd >= 0;
				if (fd >= 0)
					close(fd);
			}
			if (!left)
				break;
			usleep(10000);
		}
		CHECK(left == 0, "%d links of the pins still there", left);
		if (left)
			sh("ls -l /proc/%d/fd | grep -i bpf; bpftool link show | tail -20",
			   getpid());
	}
	pin_dir[0] = '\0';
	rc = run(scope, "norule", "connect", "10.213.23.2", 443);
	CHECK(rc == 0, "after unpin the scope is free: %d", rc);

	close(scope_fd);
	close(ex_fd);
	close(audit_fd);
	printf("%d checks passed, %d failed\n", passes, failures);
	return failures ? 1 : 0;
}
