// SPDX-License-Identifier: MIT
/* Policy generations in the kernel maps (ward_egress_apply, ward_unix_apply)
 * on the real kernel:
 *   - a process denied under generation A is let through after B is
 *     applied, and the reverse, for the same running process; rows name the
 *     rev of the generation that decided;
 *   - during 200 swaps between two policies that agree on one destination
 *     (but number their entries differently, so a decision mixing the two
 *     would be refused), a concurrent connect loop sees no refusal (a
 *     settle after every third swap: the others leave their wait to the
 *     next apply);
 *   - a connection of generation 1 looked up, and an event of it read, 100
 *     applies later: their rows carry generation 1's rev and rule;
 *   - a failed apply (too many ports, identities or unix pairs; a path too
 *     long) leaves the generation in force untouched;
 *   - an identity added at exec (sha256: entry) follows the new generation;
 *   - the settle readies the next generation's map in its slot, and the
 *     next apply fills that map without replacing it;
 *   - the same for the unix-socket backstop (late events too), where the
 *     kernel has its hooks (6.7 and later; the egress cases run anyway).
 *
 * One forked child per case. Runs in a network namespace of its own, with a
 * cgroup of its own per case; the clients are copies of this executable
 * (identity is the executable's inode). Exit 77 when not root or when the
 * kernel cannot load the programs. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "enforcer/egress.h"
#include "enforcer/unix.h"
#include "audit/audit.h"

#include "check.h"
#include "fixture.h"

#define PROXY "10.77.0.1"
#define DEST "10.77.0.2"
#define EXPLICIT 3128
#define TRANSPARENT 3129
#define SWAPS 200
#define LOOP_MAX 1000000 /* connects of a loop client, at most */

static char tmpdir[128];
static char cg2[256];
static char self[PATH_MAX];

static char *bin(const char *name)
{
	static char paths[8][PATH_MAX];
	static int next;
	char *p = paths[next++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", tmpdir, name);
	return p;
}

/* A path under tmpdir that stays (policies keep pointers to it). */
static char *path_of(const char *name)
{
	char *p = strdup(bin(name));

	if (!p)
		exit(1);
	return p;
}

/* ---- client role: a copy of this executable inside the case's cgroup ---- */

static volatile sig_atomic_t stop_loop;
static bool hold; /* steps: keep the connection until the next step */
static int held = -1;

static void on_usr1(int sig)
{
	(void)sig;
	stop_loop = 1;
}

/* 0 connected, 'E' EPERM, 'O' anything else */
static char try_connect(const char *kind, const char *where)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd, r;

	if (strcmp(kind, "tcp") == 0) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		sin->sin_family = AF_INET;
		sin->sin_port = htons(443);
		inet_pton(AF_INET, where, &sin->sin_addr);
		len = sizeof(*sin);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0)
			/* RST, not TIME_WAIT: many rounds, one address pair */
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	} else {
		struct sockaddr_un *sun = (struct sockaddr_un *)&ss;

		sun->sun_family = AF_UNIX;
		snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", where);
		len = sizeof(*sun);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		return 'O';
	r = connect(fd, (struct sockaddr *)&ss, len);
	r = r == 0 ? '0' : errno == EPERM ? 'E' : 'O';
	if (r == '0' && hold)
		held = fd;
	else
		close(fd);
	return (char)r;
}

/* client steps KIND WHERE: for each byte on stdin one connect, its result
 * byte on stdout ('w': retry EPERM a bounded number of times first: an
 * identity added at exec arrives shortly after the exec).
 * client loop KIND WHERE OUT: connect until SIGUSR1 (at most LOOP_MAX),
 * then write "ok refused other" to OUT. */
static int client_main(int argc, char **argv)
{
	char c, r;

	if (argc == 5 && strcmp(argv[2], "steps") == 0) {
		hold = true;
		while (read(0, &c, 1) == 1) {
			/* the last connection stays open until here: the test looks
			 * its record up by peer address meanwhile */
			if (held >= 0)
				close(held);
			held = -1;
			r = try_connect(argv[3], argv[4]);
			for (int i = 0; c == 'w' && r == 'E' && i < 500; i++) {
				usleep(10000);
				r = try_connect(argv[3], argv[4]);
			}
			if (write(1, &r, 1) != 1)
				return 1;
		}
		return 0;
	}
	if (argc == 6 && strcmp(argv[2], "loop") == 0) {
		long n[3] = { 0 };
		FILE *f;

		signal(SIGUSR1, on_usr1);
		for (long i = 0; i < LOOP_MAX && !stop_loop; i++) {
			r = try_connect(argv[3], argv[4]);
			n[r == '0' ? 0 : r == 'E' ? 1 : 2]++;
		}
		f = fopen(argv[5], "we");
		if (!f)
			return 1;
		fprintf(f, "%ld %ld %ld\n", n[0], n[1], n[2]);
		return fclose(f) == 0 ? 0 : 1;
	}
	return 2;
}

/* ---- test side ---- */

/* A cgroup of the case's own; *ret_path for rmdir. */
static int make_cgroup(char *path, size_t size, const char *name)
{
	snprintf(path, size, "%s/ward-test-gen-%d-%s", cg2, getpid(), name);
	if (mkdir(path, 0755) < 0) {
		path[0] = '\0';
		return -1;
	}
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* A client in the cgroup; stdin/stdout on pipes when given. */
static pid_t spawn(const char *cg, char *const argv[], int *ret_in, int *ret_out)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 };
	pid_t pid;

	if (ret_in && (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0))
		return -1;
	pid = fork();
	if (pid == 0) {
		char path[PATH_MAX + 32], buf[32];
		int fd;

		snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		snprintf(buf, sizeof(buf), "%d", getpid());
		if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
			_exit(120);
		close(fd);
		if (ret_in && (dup2(pin[0], 0) < 0 || dup2(pout[1], 1) < 0))
			_exit(121);
		execv(argv[0], argv);
		_exit(127);
	}
	if (ret_in) {
		close(pin[0]);
		close(pout[1]);
		*ret_in = pin[1];
		*ret_out = pout[0];
	}
	return pid;
}

static int reap(pid_t pid)
{
	int st;

	for (int i = 0; i < 3000; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* A steps client: one connect per call, its result. */
struct stepper {
	pid_t pid;
	int in, out;
};

static void stepper_start(struct stepper *s, const char *cg, const char *who, const char *kind,
			  const char *where)
{
	s->pid = spawn(cg,
		       (char *[]){ bin(who), "client", "steps", (char *)kind, (char *)where, NULL },
		       &s->in, &s->out);
	CHECK(s->pid > 0, "spawn %s", who);
}

static char step(struct stepper *s, char how)
{
	struct pollfd p = { .fd = s->out, .events = POLLIN };
	char r = '?';

	if (write(s->in, &how, 1) != 1)
		return '?';
	/* bounded: a client that hangs is a failure, not a wait */
	if (poll(&p, 1, 20000) != 1 || read(s->out, &r, 1) != 1)
		return '?';
	return r;
}

static void stepper_stop(struct stepper *s)
{
	close(s->in);
	CHECK(reap(s->pid) == 0, "steps client exit");
	close(s->out);
}

/* Rows of the egress layer, as the callback saw them. */
#define MAX_ROWS 64
struct rows {
	pthread_mutex_t lock;
	int n;
	struct {
		pid_t pid;
		char action[8], rule[64], rev[8];
	} r[MAX_ROWS];
	/* loop cases: every row must be an allow of one of these revs */
	const char *revs[2];
	atomic_int bad, seen;
};

static void on_event(void *ud, const struct ward_event *ev, const struct ward_decision *d)
{
	struct rows *rs = ud;
	const char *rev = d->policy_rev ? d->policy_rev : "";

	if (!ev)
		return;
	atomic_fetch_add(&rs->seen, 1);
	if (rs->revs[0] &&
	    (strcmp(d->action, "allow") != 0 ||
	     (strcmp(rev, rs->revs[0]) != 0 && strcmp(rev, rs->revs[1]) != 0)) &&
	    atomic_fetch_add(&rs->bad, 1) == 0)
		fprintf(stderr, "first unexpected row: generation %u %s rule %s rev %s reason %s\n",
			ev->gen, d->action, d->rule ? d->rule : "-", rev, d->reason);
	pthread_mutex_lock(&rs->lock);
	if (rs->n < MAX_ROWS) {
		rs->r[rs->n].pid = (pid_t)ev->tgid;
		snprintf(rs->r[rs->n].action, 8, "%s", d->action);
		snprintf(rs->r[rs->n].rule, 64, "%s", d->rule ? d->rule : "");
		snprintf(rs->r[rs->n].rev, 8, "%s", rev);
		rs->n++;
	}
	pthread_mutex_unlock(&rs->lock);
}

/* The last row of pid with that action carries rev. */
static bool row_has(struct ward_egress *e, struct rows *rs, pid_t pid, const char *action,
		    const char *rev)
{
	bool found = false;

	ward_egress_consume(e);
	pthread_mutex_lock(&rs->lock);
	for (int i = rs->n - 1; i >= 0 && !found; i--)
		if (rs->r[i].pid == pid && strcmp(rs->r[i].action, action) == 0)
			found = strcmp(rs->r[i].rev, rev) == 0;
	pthread_mutex_unlock(&rs->lock);
	return found;
}

static struct ward_egress *egress_load(const struct ward_policy *p, struct rows *rs)
{
	struct ward_egress_config cfg = {
		.explicit_port = EXPLICIT,
		.transparent_port = TRANSPARENT,
		.dns_port = 53,
		.sandbox = "test",
		.on_event = on_event,
		.userdata = rs,
	};
	struct ward_error err = { 0 };
	struct ward_egress *e = NULL;

	inet_pton(AF_INET, PROXY, &cfg.proxy4);
	inet_pton(AF_INET, PROXY, &cfg.dns4);
	if (ward_egress_new(p, &cfg, &e, &err) < 0) {
		fprintf(stderr, "load egress: %s\n", err.msg);
		return NULL;
	}
	return e;
}

static int tcp_listener(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(TRANSPARENT) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	inet_pton(AF_INET, PROXY, &sin.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 1024) < 0) {
		fprintf(stderr, "listener: %m\n");
		exit(1);
	}
	return fd;
}

/* The connection a client just made, by peer lookup: its rule. */
static bool arrived_with_rule(struct ward_egress *e, int lfd, const char *rule)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	struct ward_egress_peer who;
	bool ok = false;
	int fd;

	if (poll(&p, 1, 5000) != 1)
		return false;
	fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	if (fd < 0)
		return false;
	if (ward_egress_peer_lookup(e, (struct sockaddr *)&peer, &who) == 0)
		ok = who.rule && strcmp(who.rule, rule) == 0;
	close(fd);
	return ok;
}

/* Policies of one binary each, port 443. */
struct one_policy {
	uint16_t port;
	struct ward_endpoint ep;
	struct ward_binary b;
	struct ward_net_policy np;
	struct ward_policy p;
};

static void one_policy(struct one_policy *o, const char *key, const char *binary, const char *sha,
		       const char *rev)
{
	*o = (struct one_policy){ .port = 443 };
	o->ep = (struct ward_endpoint){ .host = "gen.test", .ports = &o->port, .n_ports = 1 };
	o->b = (struct ward_binary){ .path = (char *)binary, .sha256 = (char *)sha };
	o->np = (struct ward_net_policy){ .key = (char *)key,
					  .binaries = &o->b,
					  .n_binaries = 1,
					  .endpoints = &o->ep,
					  .n_endpoints = 1 };
	o->p = (struct ward_policy){ .net = &o->np, .n_net = 1 };
	snprintf(o->p.rev, sizeof(o->p.rev), "%s", rev);
}

/* ---- egress cases ---- */

/* The same two running processes across A -> B -> A. */
static void case_egress_flip(void)
{
	struct rows rs = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct ward_error err = { 0 };
	struct one_policy a, b;
	struct stepper alpha, beta;
	struct ward_egress *e;
	char cg[PATH_MAX];
	int cgfd, lfd;

	one_policy(&a, "ra", path_of("alpha"), NULL, "A");
	one_policy(&b, "rb", path_of("beta"), NULL, "B");
	cgfd = make_cgroup(cg, sizeof(cg), "flip");
	e = egress_load(&a.p, &rs);
	if (cgfd < 0 || !e || ward_egress_attach(e, cgfd, &err) < 0) {
		CHECK(0, "setup: %s", err.msg);
		goto out;
	}
	lfd = tcp_listener();
	CHECK(ward_egress_generation(e) == 1, "generation %u", ward_egress_generation(e));
	stepper_start(&alpha, cg, "alpha", "tcp", DEST);
	stepper_start(&beta, cg, "beta", "tcp", DEST);

	CHECK(step(&alpha, 's') == '0', "A: alpha refused");
	CHECK(arrived_with_rule(e, lfd, "ra"), "A: alpha's connection, rule ra");
	CHECK(step(&beta, 's') == 'E', "A: beta let through");
	CHECK(row_has(e, &rs, beta.pid, "deny", "A"), "A: beta's deny row with rev A");

	CHECK(ward_egress_apply(e, &b.p, &err) == 0, "apply B: %s", err.msg);
	CHECK(ward_egress_generation(e) == 2, "generation %u", ward_egress_generation(e));
	CHECK(step(&alpha, 's') == 'E', "B: alpha let through");
	CHECK(row_has(e, &rs, alpha.pid, "deny", "B"), "B: alpha's deny row with rev B");
	CHECK(step(&beta, 's') == '0', "B: beta refused");
	CHECK(arrived_with_rule(e, lfd, "rb"), "B: beta's connection, rule rb");
	/* the row of a recorded connection, written at the lookup, has its rev too */
	CHECK(row_has(e, &rs, beta.pid, "allow", "B"), "B: beta's allow row with rev B");

	CHECK(ward_egress_apply(e, &a.p, &err) == 0, "apply A again: %s", err.msg);
	CHECK(step(&alpha, 's') == '0', "A again: alpha refused");
	CHECK(arrived_with_rule(e, lfd, "ra"), "A again: alpha's connection, rule ra");
	CHECK(row_has(e, &rs, alpha.pid, "allow", "A"), "A again: alpha's allow row with rev A");
	CHECK(step(&beta, 's') == 'E', "A again: beta let through");
	CHECK(row_has(e, &rs, beta.pid, "deny", "A"), "A again: beta's deny row with rev A");

	stepper_stop(&alpha);
	stepper_stop(&beta);
	close(lfd);
out:
	ward_egress_free(e);
	if (cgfd >= 0)
		close(cgfd);
	if (cg[0])
		rmdir(cg);
}

/* A connection recorded under generation 1 and looked up only after LATE
 * further applies (a busy proxy: it sat in the accept backlog), and a deny
 * event of generation 1 read as late: their rows carry generation 1's rev
 * and rule, though user space dropped that generation long before
 * (EGRESS_GENS_KEPT) and once forgot its rev too (64 kept). */
#define LATE 100

/* The last row of pid with that action carries rev and rule ("" for none). */
static bool row_is(struct rows *rs, pid_t pid, const char *action, const char *rev,
		   const char *rule)
{
	bool found = false;

	pthread_mutex_lock(&rs->lock);
	for (int i = rs->n - 1; i >= 0; i--)
		if (rs->r[i].pid == pid && strcmp(rs->r[i].action, action) == 0) {
			found = strcmp(rs->r[i].rev, rev) == 0 && strcmp(rs->r[i].rule, rule) == 0;
			if (!found)
				fprintf(stderr, "row of %d: %s rev '%s' rule '%s'\n", pid, action,
					rs->r[i].rev, rs->r[i].rule);
			break;
		}
	pthread_mutex_unlock(&rs->lock);
	return found;
}

static void case_egress_late_lookup(void)
{
	struct rows rs = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct ward_error err = { 0 };
	struct one_policy a, c;
	struct stepper alpha, beta;
	struct ward_egress *e;
	struct pollfd p;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	struct ward_egress_peer who;
	char cg[PATH_MAX];
	int cgfd, lfd, fd, failed = 0;

	one_policy(&a, "ra", path_of("alpha"), NULL, "A");
	/* alpha may connect under C too, by another rule: a row that took the
	 * rule of the generation in force would say rc */
	one_policy(&c, "rc", path_of("alpha"), NULL, "C");
	cgfd = make_cgroup(cg, sizeof(cg), "late");
	e = egress_load(&a.p, &rs);
	if (cgfd < 0 || !e || ward_egress_attach(e, cgfd, &err) < 0) {
		CHECK(0, "setup: %s", err.msg);
		goto out;
	}
	lfd = tcp_listener();
	stepper_start(&alpha, cg, "alpha", "tcp", DEST);
	stepper_start(&beta, cg, "beta", "tcp", DEST);
	/* generation 1: alpha's connection waits unaccepted (held open by the
	 * client), beta's deny event waits unread in the ring buffer */
	CHECK(step(&alpha, 's') == '0', "A: alpha refused");
	CHECK(step(&beta, 's') == 'E', "A: beta let through");
	for (int i = 0; i < LATE; i++)
		if (ward_egress_apply(e, &c.p, &err) < 0)
			failed++;
	CHECK(failed == 0, "%d of %d applies failed: %s", failed, LATE, err.msg);
	CHECK(ward_egress_generation(e) == LATE + 1, "generation %u", ward_egress_generation(e));

	ward_egress_consume(e);
	CHECK(row_is(&rs, beta.pid, "deny", "A", ""), "late event: beta's deny row, rev A");

	p = (struct pollfd){ .fd = lfd, .events = POLLIN };
	CHECK(poll(&p, 1, 5000) == 1, "alpha's connection in the backlog");
	fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	CHECK(fd >= 0, "accept: %m");
	CHECK(ward_egress_peer_lookup(e, (struct sockaddr *)&peer, &who) == 0, "peer lookup");
	CHECK(who.rule && strcmp(who.rule, "ra") == 0, "late lookup: rule %s, not ra",
	      who.rule ? who.rule : "(none)");
	CHECK(row_is(&rs, alpha.pid, "allow", "A", "ra"),
	      "late lookup: alpha's allow row, rev A, rule ra");
	if (fd >= 0)
		close(fd);

	/* and generation LATE + 1 decides as C */
	CHECK(step(&alpha, 's') == '0', "C: alpha refused");
	CHECK(arrived_with_rule(e, lfd, "rc"), "C: alpha's connection, rule rc");
	CHECK(row_is(&rs, alpha.pid, "allow", "C", "rc"), "C: alpha's allow row, rev C, rule rc");

	stepper_stop(&alpha);
	stepper_stop(&beta);
	close(lfd);
out:
	ward_egress_free(e);
	if (cgfd >= 0)
		close(cgfd);
	if (cg[0])
		rmdir(cg);
}

struct acceptor {
	int fd;
	atomic_int stop;
	atomic_long accepted, looked_up;
	struct ward_egress *e; /* events read and peers looked up here (concurrently with apply) */
};

static void *accept_thread(void *p)
{
	struct acceptor *a = p;

	while (!atomic_load(&a->stop)) {
		struct pollfd pf = { .fd = a->fd, .events = POLLIN };
		int fd;

		if (poll(&pf, 1, 20) == 1)
			for (;;) {
				struct sockaddr_storage peer;
				socklen_t plen = sizeof(peer);
				struct ward_egress_peer who;

				fd = accept4(a->fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
				if (fd < 0)
					break;
				/* as the proxy does (its row), concurrently with the
				 * applies; the client may have closed already */
				if (a->e && ward_egress_peer_lookup(a->e, (struct sockaddr *)&peer,
								    &who) == 0)
					atomic_fetch_add(&a->looked_up, 1);
				close(fd);
				atomic_fetch_add(&a->accepted, 1);
			}
		if (a->e)
			ward_egress_consume(a->e);
	}
	return NULL;
}

/* Wait (bounded) until the acceptor counted more than n. */
static bool accepted_beyond(struct acceptor *a, long n)
{
	for (int i = 0; i < 2000 && atomic_load(&a->accepted) <= n; i++)
		usleep(5000);
	return atomic_load(&a->accepted) > n;
}

static bool read_counts(const char *path, long n[3])
{
	FILE *f = fopen(path, "re");
	bool ok = f && fscanf(f, "%ld %ld %ld", &n[0], &n[1], &n[2]) == 3;

	if (f)
		fclose(f);
	return ok;
}

/* Two policies agreeing that alpha may reach port 443, with entries
 * numbered the other way round: a decision that mixed A's identities with
 * B's ports (or the reverse) would refuse alpha. */
struct swap_policy {
	uint16_t p443, p80;
	struct ward_endpoint e443, e80;
	struct ward_binary alpha, gamma;
	struct ward_net_policy np[2];
	struct ward_policy p;
};

static void swap_policy(struct swap_policy *s, bool alpha_first, const char *rev)
{
	*s = (struct swap_policy){ .p443 = 443, .p80 = 80 };
	s->e443 = (struct ward_endpoint){ .host = "gen.test", .ports = &s->p443, .n_ports = 1 };
	s->e80 = (struct ward_endpoint){ .host = "other.test", .ports = &s->p80, .n_ports = 1 };
	s->alpha = (struct ward_binary){ .path = path_of("alpha") };
	s->gamma = (struct ward_binary){ .path = path_of("gamma") };
	struct ward_net_policy pa = { .key = "alpha",
				      .binaries = &s->alpha,
				      .n_binaries = 1,
				      .endpoints = &s->e443,
				      .n_endpoints = 1 };
	struct ward_net_policy pg = { .key = "gamma",
				      .binaries = &s->gamma,
				      .n_binaries = 1,
				      .endpoints = &s->e80,
				      .n_endpoints = 1 };
	s->np[0] = alpha_first ? pa : pg;
	s->np[1] = alpha_first ? pg : pa;
	s->p = (struct ward_policy){ .net = s->np, .n_net = 2 };
	snprintf(s->p.rev, sizeof(s->p.rev), "%s", rev);
}

static void case_egress_swap_loop(void)
{
	struct rows rs = { .lock = PTHREAD_MUTEX_INITIALIZER, .revs = { "A2", "B2" } };
	struct acceptor acc = { 0 };
	struct ward_error err = { 0 };
	struct swap_policy a, b;
	struct ward_egress *e;
	char cg[PATH_MAX], out[PATH_MAX];
	long n[3] = { 0 }, before;
	uint64_t t0;
	int cgfd, failed = 0;
	pthread_t th;
	pid_t pid;

	swap_policy(&a, false, "A2");
	swap_policy(&b, true, "B2");
	snprintf(out, sizeof(out), "%s/loop-egress", tmpdir);
	cgfd = make_cgroup(cg, sizeof(cg), "swap");
	e = egress_load(&a.p, &rs);
	if (cgfd < 0 || !e || ward_egress_attach(e, cgfd, &err) < 0) {
		CHECK(0, "setup: %s", err.msg);
		goto out;
	}
	acc.fd = tcp_listener();
	acc.e = e;
	pthread_create(&th, NULL, accept_thread, &acc);
	pid = spawn(cg, (char *[]){ bin("alpha"), "client", "loop", "tcp", DEST, out, NULL }, NULL,
		    NULL);
	/* the loop is running before the first swap */
	CHECK(accepted_beyond(&acc, 10), "the loop client never got through");
	before = atomic_load(&acc.accepted);
	t0 = ward_mono_ns();
	/* a settle after some applies only: the next apply runs the wait a
	 * switch left when no settle did */
	for (int i = 0; i < SWAPS; i++)
		if (ward_egress_apply(e, i % 2 ? &a.p : &b.p, &err) < 0)
			failed++;
		else if (i % 3 == 0)
			ward_egress_settle(e);
	/* information only, never asserted */
	fprintf(stderr, "egress: %d applies, %.2f ms each\n", SWAPS,
		(double)(ward_mono_ns() - t0) / SWAPS / 1e6);
	CHECK(failed == 0, "%d of %d applies failed: %s", failed, SWAPS, err.msg);
	CHECK(ward_egress_generation(e) == SWAPS + 1, "generation %u after %d swaps",
	      ward_egress_generation(e), SWAPS);
	/* still looping when the swaps were done: they overlapped */
	CHECK(waitpid(pid, NULL, WNOHANG) == 0, "the loop client ended before the swaps did");
	CHECK(atomic_load(&acc.accepted) > before, "no connection during the swaps");
	kill(pid, SIGUSR1);
	CHECK(reap(pid) == 0, "loop client exit");
	CHECK(read_counts(out, n), "loop counts");
	CHECK(n[0] > 0 && n[1] == 0 && n[2] == 0,
	      "during %d swaps: %ld connected, %ld refused, %ld other errors", SWAPS, n[0], n[1],
	      n[2]);
	atomic_store(&acc.stop, 1);
	pthread_join(th, NULL);
	ward_egress_consume(e);
	CHECK(atomic_load(&rs.bad) == 0, "%d rows not an allow of rev A2 or B2",
	      atomic_load(&rs.bad));
	fprintf(stderr, "egress loop: %ld connections, %ld identified at accept, %d rows\n",
		(long)atomic_load(&acc.accepted), (long)atomic_load(&acc.looked_up),
		atomic_load(&rs.seen));
	close(acc.fd);
out:
	ward_egress_free(e);
	if (cgfd >= 0)
		close(cgfd);
	if (cg[0])
		rmdir(cg);
}

/* The egress programs' outer identity map (array of maps), found the way
 * bpftool would: the connect4 program on cg, the maps it uses. -1: none. */
static int outer_map(int cgfd)
{
	uint32_t prog_ids[4], map_ids[32], cnt = 4;
	struct bpf_prog_info pi = { 0 };
	uint32_t len = sizeof(pi);
	int pfd, fd = -1;

	if (bpf_prog_query(cgfd, BPF_CGROUP_INET4_CONNECT, 0, NULL, prog_ids, &cnt) < 0 || !cnt)
		return -1;
	pfd = bpf_prog_get_fd_by_id(prog_ids[0]);
	if (pfd < 0)
		return -1;
	pi.nr_map_ids = 32;
	pi.map_ids = (uint64_t)(uintptr_t)map_ids;
	if (bpf_obj_get_info_by_fd(pfd, &pi, &len) < 0)
		pi.nr_map_ids = 0;
	close(pfd);
	for (uint32_t i = 0; i < pi.nr_map_ids && i < 32 && fd < 0; i++) {
		struct bpf_map_info mi = { 0 };
		uint32_t ml = sizeof(mi);
		int mfd = bpf_map_get_fd_by_id(map_ids[i]);

		if (mfd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(mfd, &mi, &ml) == 0 &&
		    mi.type == BPF_MAP_TYPE_ARRAY_OF_MAPS && !strcmp(mi.name, "identities"))
			fd = mfd;
		else
			close(mfd);
	}
	return fd;
}

/* The id of the map in slot k (0: empty), and whether that map has keys. */
static uint32_t slot_map(int outer, uint32_t k, bool *ret_filled)
{
	uint32_t id = 0;
	uint8_t key[64];
	int fd;

	*ret_filled = false;
	if (bpf_map_lookup_elem(outer, &k, &id) < 0)
		return 0;
	fd = bpf_map_get_fd_by_id(id);
	if (fd >= 0) {
		*ret_filled = bpf_map_get_next_key(fd, NULL, key) == 0;
		close(fd);
	}
	return id;
}

/* The map-in-map update (its RCU wait) of a switch runs at the settle, not
 * on the way to the next switch: after apply B (generation 2) and the
 * settle, the slot of generation 3 holds an empty map, and apply A fills
 * that very map (the same id) and switches. Without a settle, the next
 * apply readies the slot first: generation 4's map is in its slot, filled. */
static void case_egress_settle(void)
{
	struct rows rs = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct ward_error err = { 0 };
	struct one_policy a, b;
	struct stepper alpha;
	struct ward_egress *e;
	char cg[PATH_MAX];
	uint32_t id3, id;
	bool filled;
	int cgfd, outer = -1, lfd;

	one_policy(&a, "ra", path_of("alpha"), NULL, "A");
	one_policy(&b, "rb", path_of("beta"), NULL, "B");
	cgfd = make_cgroup(cg, sizeof(cg), "settle");
	e = egress_load(&a.p, &rs);
	if (cgfd < 0 || !e || ward_egress_attach(e, cgfd, &err) < 0 ||
	    (outer = outer_map(cgfd)) < 0) {
		CHECK(0, "setup: %s", err.msg);
		goto out;
	}
	lfd = tcp_listener();
	stepper_start(&alpha, cg, "alpha", "tcp", DEST);
	CHECK(ward_egress_apply(e, &b.p, &err) == 0, "apply B: %s", err.msg);
	CHECK(step(&alpha, 's') == 'E', "B: alpha let through");
	ward_egress_settle(e);
	id3 = slot_map(outer, 3 % WARD_GEN_SLOTS, &filled);
	CHECK(id3 && !filled, "after the settle: generation 3's slot holds map %u, %s", id3,
	      filled ? "with keys" : "empty");
	CHECK(ward_egress_apply(e, &a.p, &err) == 0, "apply A: %s", err.msg);
	id = slot_map(outer, 3 % WARD_GEN_SLOTS, &filled);
	CHECK(id == id3 && filled, "apply A filled the map made ready (%u, was %u), %s", id, id3,
	      filled ? "with keys" : "empty");
	CHECK(step(&alpha, 's') == '0', "A: alpha refused");
	CHECK(arrived_with_rule(e, lfd, "ra"), "A: alpha's connection, rule ra");
	/* no settle: the next apply readies generation 4's slot itself */
	CHECK(ward_egress_apply(e, &b.p, &err) == 0, "apply B again: %s", err.msg);
	id = slot_map(outer, 4 % WARD_GEN_SLOTS, &filled);
	CHECK(id && filled, "no settle: generation 4's slot holds map %u, %s", id,
	      filled ? "with keys" : "empty");
	CHECK(step(&alpha, 's') == 'E', "B again: alpha let through");
	stepper_stop(&alpha);
	close(lfd);
out:
	if (outer >= 0)
		close(outer);
	ward_egress_free(e);
	if (cgfd >= 0)
		close(cgfd);
	if (cg[0])
		rmdir(cg);
}

static void case_egress_failed_apply(void)
{
	struct rows rs = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct ward_error err = { 0 };
	struct one_policy a, many_ports, many_ids, b;
	struct stepper alpha, beta;
	struct ward_egress *e;
	char cg[PATH_MAX], glob[PATH_MAX];
	static uint16_t ports[WARD_MAX_PORTS + 1];
	int cgfd, lfd = -1, r;

	one_policy(&a, "ra", path_of("alpha"), NULL, "A");
	one_policy(&b, "rb", path_of("beta"), NULL, "B");
	/* one (entry, port) pair too many */
	one_policy(&many_ports, "big", path_of("alpha"), NULL, "C");
	for (size_t i = 0; i < ARRAY_SIZE(ports); i++)
		ports[i] = (uint16_t)(1 + i);
	many_ports.ep.ports = ports;
	many_ports.ep.n_ports = ARRAY_SIZE(ports);
	/* one identity too many: as many distinct files */
	sh("mkdir -p %s/many && cd %s/many && for i in $(seq 0 %d); do : >f$i; done", tmpdir,
	   tmpdir, WARD_MAX_IDENTITIES);
	snprintf(glob, sizeof(glob), "%s/many/*", tmpdir);
	one_policy(&many_ids, "many", glob, NULL, "D");

	cgfd = make_cgroup(cg, sizeof(cg), "fail");
	e = egress_load(&a.p, &rs);
	if (cgfd < 0 || !e || ward_egress_attach(e, cgfd, &err) < 0) {
		CHECK(0, "setup: %s", err.msg);
		goto out;
	}
	lfd = tcp_listener();
	stepper_start(&alpha, cg, "alpha", "tcp", DEST);
	stepper_start(&beta, cg, "beta", "tcp", DEST);

	r = ward_egress_apply(e, &many_ports.p, &err);
	CHECK(r == -E2BIG, "too many ports: %d (%s), want -E2BIG", r, err.msg);
	r = ward_egress_apply(e, &many_ids.p, &err);
	CHECK(r == -E2BIG, "too many identities: %d (%s), want -E2BIG", r, err.msg);
	CHECK(ward_egress_generation(e) == 1, "generation %u after failed applies",
	      ward_egress_generation(e));
	CHECK(ward_egress_n_identities(e) == 1, "%zu identities after failed applies",
	      ward_egress_n_identities(e));
	CHECK(step(&alpha, 's') == '0', "after failed applies: alpha refused");
	CHECK(arrived_with_rule(e, lfd, "ra"), "after failed applies: alpha's rule ra");
	CHECK(step(&beta, 's') == 'E', "after failed applies: beta let through");
	CHECK(row_has(e, &rs, beta.pid, "deny", "A"), "after failed applies: deny row rev A");

	/* and a good one still applies */
	CHECK(ward_egress_apply(e, &b.p, &err) == 0, "apply B: %s", err.msg);
	CHECK(step(&beta, 's') == '0', "B: beta refused");
	CHECK(arrived_with_rule(e, lfd, "rb"), "B: beta's rule rb");
	CHECK(step(&alpha, 's') == 'E', "B: alpha let through");

	stepper_stop(&alpha);
	stepper_stop(&beta);
out:
	if (lfd >= 0)
		close(lfd);
	ward_egress_free(e);
	if (cgfd >= 0)
		close(cgfd);
	if (cg[0])
		rmdir(cg);
	sh("rm -rf %s/many", tmpdir);
}

/* A file named only by its content (sha256:) gets its identity at exec; the
 * running process keeps it through an apply that still names that content
 * (under the new rule) and loses it through one that does not. */
static void case_egress_exec_identity(void)
{
	struct rows rs = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct acceptor acc = { 0 };
	struct ward_error err = { 0 };
	struct one_policy a, b, c;
	struct stepper delta;
	struct ward_egress *e;
	char cg[PATH_MAX], sha[65];
	int cgfd, lfd = -1;
	pthread_t th;
	bool reader = false;

	if (ward_sha256_file_hex(AT_FDCWD, self, sha) < 0) {
		CHECK(0, "sha256 of %s", self);
		return;
	}
	one_policy(&a, "sa", NULL, sha, "A");
	one_policy(&b, "sb", NULL, sha, "B");
	one_policy(&c, "rc", path_of("beta"), NULL, "C");
	cgfd = make_cgroup(cg, sizeof(cg), "exec");
	e = egress_load(&a.p, &rs);
	if (cgfd < 0 || !e || ward_egress_attach(e, cgfd, &err) < 0) {
		CHECK(0, "setup: %s", err.msg);
		goto out;
	}
	lfd = tcp_listener();
	/* the exec events are read while the client runs */
	acc.fd = -1;
	acc.e = e;
	pthread_create(&th, NULL, accept_thread, &acc);
	reader = true;
	stepper_start(&delta, cg, "delta", "tcp", DEST);
	CHECK(step(&delta, 'w') == '0', "A: delta (sha256) refused");
	CHECK(arrived_with_rule(e, lfd, "sa"), "A: delta's rule sa");

	CHECK(ward_egress_apply(e, &b.p, &err) == 0, "apply B: %s", err.msg);
	CHECK(step(&delta, 's') == '0', "B: delta refused (exec identity not carried)");
	CHECK(arrived_with_rule(e, lfd, "sb"), "B: delta's rule sb");

	CHECK(ward_egress_apply(e, &c.p, &err) == 0, "apply C: %s", err.msg);
	CHECK(step(&delta, 's') == 'E', "C: delta let through (names no sha256)");
	stepper_stop(&delta);
out:
	if (reader) {
		atomic_store(&acc.stop, 1);
		pthread_join(th, NULL);
	}
	if (lfd >= 0)
		close(lfd);
	ward_egress_free(e);
	if (cgfd >= 0)
		close(cgfd);
	if (cg[0])
		rmdir(cg);
}

/* ---- unix cases ---- */

struct unix_policy {
	struct ward_fs_path socks[2];
	struct ward_binary b[2];
	struct ward_net_policy np[2];
	struct ward_policy p;
};

/* first names sock for its binary, second names another path for its own */
static void unix_policy(struct unix_policy *u, const char *first, const char *second,
			const char *sock, const char *rev)
{
	*u = (struct unix_policy){ 0 };
	u->socks[0].path = (char *)sock;
	u->socks[1].path = path_of("other.sock");
	u->b[0].path = path_of(first);
	u->b[1].path = second ? path_of(second) : NULL;
	u->np[0] = (struct ward_net_policy){ .key = (char *)first,
					     .binaries = &u->b[0],
					     .n_binaries = 1,
					     .unix_sockets = &u->socks[0],
					     .n_unix_sockets = 1 };
	u->np[1] = (struct ward_net_policy){ .key = (char *)second,
					     .binaries = &u->b[1],
					     .n_binaries = 1,
					     .unix_sockets = &u->socks[1],
					     .n_unix_sockets = 1 };
	u->p = (struct ward_policy){ .net = u->np, .n_net = second ? 2 : 1 };
	snprintf(u->p.rev, sizeof(u->p.rev), "%s", rev);
}

static int unix_listener(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 1024) < 0) {
		fprintf(stderr, "unix listener %s: %m\n", path);
		exit(1);
	}
	chmod(path, 0777);
	return fd;
}

static struct ward_unix *unix_load(const struct ward_policy *p, int cgfd)
{
	struct ward_unix_config cfg = { .sandbox = "test" };
	struct ward_error err = { 0 };
	struct ward_unix *u = NULL;

	if (ward_unix_new(p, &cfg, &u, &err) < 0 || ward_unix_attach(u, cgfd, &err) < 0) {
		fprintf(stderr, "load unix: %s\n", err.msg);
		ward_unix_free(u);
		return NULL;
	}
	return u;
}

static void drain(int lfd)
{
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
}

static void case_unix_flip(void)
{
	struct unix_policy a, b, toolong, many;
	struct ward_error err = { 0 };
	struct stepper alpha, beta;
	struct ward_unix *u = NULL;
	char cg[PATH_MAX], sock[PATH_MAX], longpath[200];
	static struct ward_fs_path paths[WARD_UNIX_MAX_RULES + 1];
	static char names[WARD_UNIX_MAX_RULES + 1][48];
	int cgfd, lfd, r;

	snprintf(sock, sizeof(sock), "%s/gen.sock", tmpdir);
	unix_policy(&a, "alpha", NULL, sock, "A");
	unix_policy(&b, "beta", NULL, sock, "B");
	/* failures: a path longer than sun_path; one (binary, path) pair too many */
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	unix_policy(&toolong, "alpha", NULL, longpath, "C");
	unix_policy(&many, "alpha", NULL, sock, "D");
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		snprintf(names[i], sizeof(names[i]), "/run/ward-gen-test-%zu.sock", i);
		paths[i].path = names[i];
	}
	many.np[0].unix_sockets = paths;
	many.np[0].n_unix_sockets = ARRAY_SIZE(paths);

	lfd = unix_listener(sock);
	cgfd = make_cgroup(cg, sizeof(cg), "unix");
	if (cgfd < 0 || !(u = unix_load(&a.p, cgfd))) {
		CHECK(0, "setup");
		goto out;
	}
	stepper_start(&alpha, cg, "alpha", "unix", sock);
	stepper_start(&beta, cg, "beta", "unix", sock);
	CHECK(step(&alpha, 's') == '0', "A: alpha refused");
	CHECK(step(&beta, 's') == 'E', "A: beta let through");
	drain(lfd);

	CHECK(ward_unix_apply(u, &b.p, &err) == 0, "apply B: %s", err.msg);
	CHECK(step(&alpha, 's') == 'E', "B: alpha let through");
	CHECK(step(&beta, 's') == '0', "B: beta refused");
	drain(lfd);

	r = ward_unix_apply(u, &toolong.p, &err);
	CHECK(r == -ENAMETOOLONG, "path too long: %d (%s)", r, err.msg);
	r = ward_unix_apply(u, &many.p, &err);
	CHECK(r == -E2BIG, "too many pairs: %d (%s)", r, err.msg);
	CHECK(ward_unix_n_rules(u) == 1, "%zu rules after failed applies", ward_unix_n_rules(u));
	CHECK(step(&alpha, 's') == 'E', "after failed applies: alpha let through");
	CHECK(step(&beta, 's') == '0', "after failed applies: beta refused");
	drain(lfd);

	CHECK(ward_unix_apply(u, &a.p, &err) == 0, "apply A again: %s", err.msg);
	CHECK((r = step(&alpha, 's')) == '0', "A again: alpha refused (%c)", r);
	CHECK((r = step(&beta, 's')) == 'E', "A again: beta let through (%c)", r);
	stepper_stop(&alpha);
	stepper_stop(&beta);
out:
	ward_unix_free(u);
	close(lfd);
	unlink(sock);
	if (cgfd >= 0)
		close(cgfd);
	if (cg[0])
		rmdir(cg);
}

/* The unix rows of the log, by (pid, action): the last one's rev and rule. */
struct unix_row_want {
	pid_t pid;
	const char *action;
	char rev[8], rule[32];
	bool found;
};

static int unix_row_cb(const struct ward_audit_row *row, void *ud)
{
	struct unix_row_want *w = ud;

	if (row->has_pid && row->pid == w->pid && strcmp(row->action, w->action) == 0) {
		w->found = true;
		snprintf(w->rev, sizeof(w->rev), "%s", row->policy_rev ? row->policy_rev : "");
		snprintf(w->rule, sizeof(w->rule), "%s", row->rule ? row->rule : "");
	}
	return 0;
}

static bool unix_row_is(const char *db, pid_t pid, const char *action, const char *rev,
			const char *rule)
{
	struct unix_row_want w = { .pid = pid, .action = action };
	struct ward_audit_filter f = { .layer = "unix" };
	struct ward_audit_reader *rd = NULL;
	struct ward_error err = { 0 };

	if (ward_audit_reader_open(db, &rd, &err) < 0) {
		fprintf(stderr, "reader: %s\n", err.msg);
		return false;
	}
	ward_audit_reader_each(rd, &f, unix_row_cb, &w, &err);
	ward_audit_reader_close(rd);
	if (w.found && (strcmp(w.rev, rev) != 0 || strcmp(w.rule, rule) != 0))
		fprintf(stderr, "unix row of %d: %s rev '%s' rule '%s'\n", pid, action, w.rev,
			w.rule);
	return w.found && strcmp(w.rev, rev) == 0 && strcmp(w.rule, rule) == 0;
}

/* Events of generation 1 read only after LATE further applies: their rows
 * carry generation 1's rev and rule (its key table, from its history). */
static void case_unix_late_events(void)
{
	struct unix_policy a, c;
	struct ward_error err = { 0 };
	struct stepper alpha, beta;
	struct ward_audit *audit = NULL;
	struct ward_unix *u = NULL;
	char cg[PATH_MAX], sock[PATH_MAX], db[PATH_MAX];
	int cgfd, lfd, failed = 0;

	snprintf(sock, sizeof(sock), "%s/late.sock", tmpdir);
	snprintf(db, sizeof(db), "%s/late-unix.db", tmpdir);
	unix_policy(&a, "alpha", NULL, sock, "A");
	/* under C, key 0 is gamma's: a row that took the key of the
	 * generation in force would say gamma */
	unix_policy(&c, "gamma", "alpha", sock, "C");
	lfd = unix_listener(sock);
	cgfd = make_cgroup(cg, sizeof(cg), "unixlate");
	CHECK(ward_audit_open(db, &audit, &err) == 0, "audit open: %s", err.msg);
	if (cgfd < 0 || !audit ||
	    ward_unix_new(&a.p, &(struct ward_unix_config){ .sandbox = "test", .audit = audit }, &u,
			  &err) < 0 ||
	    ward_unix_attach(u, cgfd, &err) < 0) {
		CHECK(0, "setup: %s", err.msg);
		goto out;
	}
	stepper_start(&alpha, cg, "alpha", "unix", sock);
	stepper_start(&beta, cg, "beta", "unix", sock);
	CHECK(step(&alpha, 's') == '0', "A: alpha refused");
	CHECK(step(&beta, 's') == 'E', "A: beta let through");
	drain(lfd);
	/* their events wait unread in the ring buffer meanwhile */
	for (int i = 0; i < LATE; i++)
		if (ward_unix_apply(u, &c.p, &err) < 0)
			failed++;
	CHECK(failed == 0, "%d of %d unix applies failed: %s", failed, LATE, err.msg);
	CHECK(ward_unix_consume(u) >= 2, "the two events of generation 1");
	CHECK(ward_audit_flush(audit) == 0, "audit flush");
	CHECK(unix_row_is(db, alpha.pid, "allow", "A", "alpha"),
	      "late event: alpha's allow row, rev A, rule alpha");
	CHECK(unix_row_is(db, beta.pid, "deny", "A", ""), "late event: beta's deny row, rev A");
	stepper_stop(&alpha);
	stepper_stop(&beta);
out:
	ward_unix_free(u);
	ward_audit_close(audit);
	close(lfd);
	unlink(sock);
	if (cgfd >= 0)
		close(cgfd);
	if (cg[0])
		rmdir(cg);
}

struct unix_acceptor {
	int fd;
	atomic_int stop;
	atomic_long accepted;
};

static void *unix_accept_thread(void *p)
{
	struct unix_acceptor *a = p;

	while (!atomic_load(&a->stop)) {
		struct pollfd pf = { .fd = a->fd, .events = POLLIN };
		int fd;

		if (poll(&pf, 1, 20) == 1)
			while ((fd = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
				close(fd);
				atomic_fetch_add(&a->accepted, 1);
			}
	}
	return NULL;
}

static void case_unix_swap_loop(void)
{
	struct unix_acceptor acc = { 0 };
	struct unix_policy a, b;
	struct ward_error err = { 0 };
	struct ward_unix *u = NULL;
	char cg[PATH_MAX], sock[PATH_MAX], out[PATH_MAX];
	long n[3] = { 0 }, before;
	uint64_t t0;
	int cgfd, failed = 0;
	pthread_t th;
	pid_t pid;

	snprintf(sock, sizeof(sock), "%s/loop.sock", tmpdir);
	snprintf(out, sizeof(out), "%s/loop-unix", tmpdir);
	/* both name sock for alpha, with another pair beside it in another order */
	unix_policy(&a, "alpha", "gamma", sock, "A2");
	unix_policy(&b, "alpha", "beta", sock, "B2");
	acc.fd = unix_listener(sock);
	cgfd = make_cgroup(cg, sizeof(cg), "unixswap");
	if (cgfd < 0 || !(u = unix_load(&a.p, cgfd))) {
		CHECK(0, "setup");
		goto out;
	}
	pthread_create(&th, NULL, unix_accept_thread, &acc);
	pid = spawn(cg, (char *[]){ bin("alpha"), "client", "loop", "unix", sock, out, NULL }, NULL,
		    NULL);
	for (int i = 0; i < 2000 && atomic_load(&acc.accepted) <= 10; i++)
		usleep(5000);
	CHECK(atomic_load(&acc.accepted) > 10, "the unix loop client never got through");
	before = atomic_load(&acc.accepted);
	t0 = ward_mono_ns();
	for (int i = 0; i < SWAPS; i++)
		if (ward_unix_apply(u, i % 2 ? &a.p : &b.p, &err) < 0)
			failed++;
		else if (i % 3 == 0)
			ward_unix_settle(u);
	fprintf(stderr, "unix: %d applies, %.2f ms each\n", SWAPS,
		(double)(ward_mono_ns() - t0) / SWAPS / 1e6);
	CHECK(failed == 0, "%d of %d unix applies failed: %s", failed, SWAPS, err.msg);
	CHECK(waitpid(pid, NULL, WNOHANG) == 0, "the unix loop client ended before the swaps did");
	CHECK(atomic_load(&acc.accepted) > before, "no unix connection during the swaps");
	kill(pid, SIGUSR1);
	CHECK(reap(pid) == 0, "unix loop client exit");
	CHECK(read_counts(out, n), "unix loop counts");
	CHECK(n[0] > 0 && n[1] == 0 && n[2] == 0,
	      "during %d unix swaps: %ld connected, %ld refused, %ld other errors", SWAPS, n[0],
	      n[1], n[2]);
	atomic_store(&acc.stop, 1);
	pthread_join(th, NULL);
out:
	ward_unix_free(u);
	close(acc.fd);
	unlink(sock);
	if (cgfd >= 0)
		close(cgfd);
	if (cg[0])
		rmdir(cg);
}

/* ---- driver ---- */

static void cleanup(void)
{
	if (tmpdir[0]) {
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
}

static int cgroup2_mount(char *buf, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " - cgroup2 ") &&
		    sscanf(line, "%*s %*s %*s %*s %255s", buf) == 1) {
			r = 0;
			break;
		}
	fclose(f);
	(void)size;
	return r;
}

int main(int argc, char **argv)
{
	struct ward_error err = { 0 };
	int failed = 0;
	bool unix_ok;
	ssize_t n;

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
	/* a kernel without them (before 6.7) runs the egress cases only */
	unix_ok = ward_unix_probe(&err) == 0;
	if (!unix_ok)
		fprintf(stderr, "unix cases not run: connect_unix programs: %s\n", err.msg);
	if (cgroup2_mount(cg2, sizeof(cg2)) < 0) {
		fprintf(stderr, "SKIP: no cgroup2 mount\n");
		return 77;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "SKIP: unshare(CLONE_NEWNET): %m\n");
		return 77;
	}
	atexit(cleanup);
	/* our own namespace: every address is ours, nothing leaves the machine */
	sh("ip link set lo up && ip addr add %s/32 dev lo && ip addr add %s/32 dev lo", PROXY,
	   DEST);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ward-gen-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	chmod(tmpdir, 0755);
	/* each its own inode, each the same content (sha256) */
	if (copy_file(self, bin("alpha")) || copy_file(self, bin("beta")) ||
	    copy_file(self, bin("gamma")) || copy_file(self, bin("delta")))
		return 1;

	failed += run_case("egress: A -> B -> A", case_egress_flip);
	failed += run_case("egress: swaps under a connect loop", case_egress_swap_loop);
	failed += run_case("egress: the settle readies the next slot", case_egress_settle);
	failed += run_case("egress: rows of a generation looked up late", case_egress_late_lookup);
	failed += run_case("egress: failed applies", case_egress_failed_apply);
	failed += run_case("egress: exec identity follows", case_egress_exec_identity);
	if (unix_ok) {
		failed += run_case("unix: A -> B -> A, failed applies", case_unix_flip);
		failed += run_case("unix: swaps under a connect loop", case_unix_swap_loop);
		failed += run_case("unix: rows of a generation read late", case_unix_late_events);
	}
	if (failed)
		fprintf(stderr, "%d case(s) failed\n", failed);
	return failed ? 1 : 0;
}
