// SPDX-License-Identifier: MIT
/* The connect() broker: see unix_broker.h. One thread answers the sandbox's
 * calls one at a time. It changes only its own state, with raw syscalls
 * (glibc's wrappers would apply them to every thread of ward): its
 * filesystem root (unshare(CLONE_FS), then chroot into the caller's root and
 * back for each lookup) and its effective credentials (the sandbox user's
 * for the lookup and the connect, root's for the rest). */
#include "enforcer/unix_broker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/worker.h"
#include "enforcer/egress.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

#if defined(__x86_64__)
#define FILTER_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define FILTER_ARCH AUDIT_ARCH_AARCH64
#else
#error "unix_broker.c: add the audit arch of this architecture"
#endif

#define MAX_GROUPS 256
#define DIAG_BUF 32768
#define DIAG_MAX_MSGS 65536 /* sockets looked at per lookup, bounded */

struct ward_unix_broker {
	struct ward_worker worker;
	struct ward_unix *u;
	int listener;
	int diag;      /* NETLINK_SOCK_DIAG socket made in the sandbox's netns */
	int host_root; /* ward's "/", to leave each chroot */
	uid_t uid;
	gid_t gid;
	gid_t groups[MAX_GROUPS]; /* ward's supplementary groups, restored after each switch */
	int n_groups;
	bool broken; /* a credential or root switch failed: refuse everything */
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	size_t req_size, resp_size;
	uint64_t brokered, denied, continued;
	unsigned told; /* kinds of refusal already said on stderr (bit per refuse() kind) */
};

/* Every connect() goes to ward. Letting IPv4/IPv6-sized addresses (16, 28
 * bytes) stay in the kernel was measured and dropped: CPython and Go pass
 * strlen + 3 for a path, so a 13- or 25-byte path (/tmp/app.sock) has
 * exactly those lengths, and the backstop, which sees strings only, would
 * refuse the sandbox's own sockets. Another architecture's calls (x32,
 * i386 socketcall) stay in the kernel, where the backstop decides by path. */
/* The refusals agents hit and users ask about: new user namespaces (an
 * agent's own sandbox, e.g. Codex's bwrap), mount, bpf and ptrace come here
 * too, and ward refuses them with a row (the deny filter of seccomp.c leaves
 * them to this one: its EPERM would win over a notification). The rest of
 * the deny list stays in the kernel, silent. */
static const struct sock_filter filter[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FILTER_ARCH, 0, 11),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_connect, 8, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ptrace, 7, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_bpf, 6, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mount, 5, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_unshare, 1, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4),
	/* unshare, clone: only with CLONE_NEWUSER (flags: the low word of args[0]) */
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
	BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER, 0, 2),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

int ward_unix_filter_install(void)
{
	struct sock_fprog prog = { .len = ARRAY_SIZE(filter),
				   .filter = (struct sock_filter *)filter };
	long fd;

	/* killable wait: once ward has the call, only SIGKILL interrupts it, so a
	 * signal cannot restart a connect() ward already performed */
	fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		     SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
		     &prog);
	if (fd < 0 && errno == EINVAL)
		fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
			     &prog);
	return fd < 0 ? -errno : (int)fd;
}

int ward_unix_notify_probe(void)
{
	uint32_t action = SECCOMP_RET_USER_NOTIF;

	if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) < 0)
		return -errno;
	return 0;
}

/* ---- credentials and root of this thread only ---- */

static int as_user(struct ward_unix_broker *b)
{
	gid_t g = b->gid;

	if (syscall(SYS_setgroups, 1, &g) < 0 || syscall(SYS_setresgid, -1, b->gid, -1) < 0 ||
	    syscall(SYS_setresuid, -1, b->uid, -1) < 0)
		return -errno;
	return 0;
}

static void as_root(struct ward_unix_broker *b)
{
	/* real and saved ids stayed 0: the effective ones come back */
	if (syscall(SYS_setresuid, -1, 0, -1) < 0 || syscall(SYS_setresgid, -1, 0, -1) < 0 ||
	    syscall(SYS_setgroups, b->n_groups, b->groups) < 0)
		b->broken = true;
}

static void leave_root(struct ward_unix_broker *b)
{
	if (fchdir(b->host_root) < 0 || chroot(".") < 0)
		b->broken = true;
}

/* path as the process tid would resolve it for connect(): its root, its
 * working directory, symlinks followed, permissions of the sandbox user.
 * An O_PATH fd, or -errno (what connect() would have said). */
static int resolve(struct ward_unix_broker *b, pid_t tid, const char *path)
{
	_cleanup_close_ int root = -1, cwd = -1;
	char p[64];
	int fd, e = 0;

	snprintf(p, sizeof(p), "/proc/%d/root", tid);
	root = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -ESRCH;
	if (path[0] != '/') {
		/* opened through ward's /proc, before the chroot hides it */
		snprintf(p, sizeof(p), "/proc/%d/cwd", tid);
		cwd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (cwd < 0)
			return -ESRCH;
	}
	if (fchdir(root) < 0 || chroot(".") < 0) {
		e = -errno;
		leave_root(b);
		return e;
	}
	if (as_user(b) < 0) {
		as_root(b);
		leave_root(b);
		b->broken = true;
		return -EACCES;
	}
	fd = openat(cwd >= 0 ? cwd : AT_FDCWD, path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		e = -errno;
	as_root(b);
	leave_root(b);
	return fd >= 0 ? fd : e;
}

/* ---- sock_diag: is this inode a socket bound in the sandbox? ---- */

struct diag_make {
	pid_t init_pid;
	int fd;
};

/* A short-lived thread: setns() moves only it, and its socket stays in the
 * sandbox's namespace after it is gone. */
static void *diag_thread(void *p)
{
	struct diag_make *m = p;
	char path[64];
	_cleanup_close_ int ns = -1;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", m->init_pid);
	ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
		m->fd = -errno;
		return NULL;
	}
	m->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (m->fd < 0)
		m->fd = -errno;
	return NULL;
}

/* 1: a unix socket of the sandbox's namespace is bound to (dev, ino); 0: no;
 * -errno: cannot tell (the caller refuses). */
static int bound_in_sandbox(struct ward_unix_broker *b, const struct stat *st)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req r;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req),
			 .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			 .nlmsg_seq = 1 },
		.r = { .sdiag_family = AF_UNIX, .udiag_states = ~0u, .udiag_show = UDIAG_SHOW_VFS },
	};
	/* the kernel reports the inode's low 32 bits and its s_dev */
	uint32_t ino = (uint32_t)st->st_ino, dev = (uint32_t)ward_egress_kdev(st->st_dev);
	_cleanup_free_ char *buf = malloc(DIAG_BUF);
	unsigned seen = 0;
	int found = 0;

	if (!buf)
		return -ENOMEM;
	if (send(b->diag, &req, sizeof(req), 0) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(b->diag, buf, DIAG_BUF, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n);
		     h = NLMSG_NEXT(h, n)) {
			struct unix_diag_msg *m;
			struct nlattr *a;
			size_t left;

			if (h->nlmsg_type == NLMSG_DONE)
				return found;
			if (h->nlmsg_type == NLMSG_ERROR)
				return -EIO;
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || ++seen > DIAG_MAX_MSGS)
				continue; /* past the bound: read on to DONE, match nothing more */
			m = NLMSG_DATA(h);
			a = (struct nlattr *)(m + 1);
			left = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
			while (left >= sizeof(*a) && a->nla_len >= sizeof(*a) &&
			       a->nla_len <= left) {
				if (a->nla_type == UNIX_DIAG_VFS &&
				    a->nla_len >= NLA_HDRLEN + sizeof(struct unix_diag_vfs)) {
					struct unix_diag_vfs v;

					memcpy(&v, (char *)a + NLA_HDRLEN, sizeof(v));
					if (v.udiag_vfs_ino == ino && v.udiag_vfs_dev == dev)
						found = 1;
				}
				if ((size_t)NLA_ALIGN(a->nla_len) >= left)
					break;
				left -= NLA_ALIGN(a->nla_len);
				a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len));
			}
		}
	}
}

/* ---- one call ---- */

static pid_t tgid_of(pid_t tid)
{
	char p[64], buf[1024];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	char *t;

	snprintf(p, sizeof(p), "/proc/%d/status", tid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return tid;
	buf[n] = '\0';
	t = strstr(buf, "\nTgid:");
	return t ? (pid_t)atoi(t + 6) : tid;
}

static bool id_valid(struct ward_unix_broker *b, uint64_t id)
{
	return ioctl(b->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

/* connect the caller's socket to what fd names, as the sandbox user */
static int connect_for(struct ward_unix_broker *b, pid_t tid, pid_t tgid, int sockfd, int fd)
{
	_cleanup_close_ int pidfd = -1, s = -1;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int r, e;

	/* the thread that called (Linux >= 6.9), else its process: one fd table */
	pidfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
	if (pidfd < 0 && errno == EINVAL)
		pidfd = (int)syscall(SYS_pidfd_open, tgid, 0);
	if (pidfd < 0)
		return -ESRCH;
	s = (int)syscall(SYS_pidfd_getfd, pidfd, sockfd, 0);
	if (s < 0)
		return errno == EBADF ? -EBADF : -ESRCH;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", fd);
	if (as_user(b) < 0) {
		as_root(b);
		b->broken = true;
		return -EACCES;
	}
	r = connect(s, (struct sockaddr *)&sa, (socklen_t)SUN_LEN(&sa));
	e = r < 0 ? -errno : 0;
	as_root(b);
	return e;
}

/* The socket's path as the sandbox sees it (absolute, symlinks resolved),
 * for the row; the path as asked when that cannot be had. */
static void shown_path(int fd, const char *asked, char *buf, size_t size, char *why, size_t wsize)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, size - 1);
	if (n <= 0 || buf[0] != '/') {
		snprintf(buf, size, "%s", asked);
		why[0] = '\0';
		return;
	}
	buf[n] = '\0';
	if (strcmp(buf, asked))
		snprintf(why, wsize, " (asked as '%s')", asked);
	else
		why[0] = '\0';
}

/* One of the refusals that matter (see filter[]): EPERM, a row with the
 * syscall and the binary, and once per kind a line on ward's stderr, so the
 * user learns it was ward and not the kernel ("No permissions to create new
 * namespace" is how bwrap reports it). */
static void refuse(struct ward_unix_broker *b, const struct seccomp_notif *req,
		   struct seccomp_notif_resp *resp)
{
	static const struct {
		int nr;
		const char *name, *why;
	} kinds[] = {
		{ __NR_unshare, "unshare",
		  "new user namespaces (an agent's own sandbox, e.g. bwrap) "
		  "cannot be made inside ward's sandbox: ward is the sandbox" },
		{ __NR_clone, "clone",
		  "new user namespaces (an agent's own sandbox, e.g. bwrap) "
		  "cannot be made inside ward's sandbox: ward is the sandbox" },
		{ __NR_mount, "mount",
		  "mounting is not allowed inside ward's sandbox: the policy's "
		  "filesystem_policy decides what is visible" },
		{ __NR_bpf, "bpf", "BPF is not allowed inside ward's sandbox" },
		{ __NR_ptrace, "ptrace",
		  "tracing other processes is not allowed inside ward's "
		  "sandbox (debuggers, strace)" },
	};
	char reason[256];
	size_t k = 0;

	while (k < ARRAY_SIZE(kinds) - 1 && kinds[k].nr != (int)req->data.nr)
		k++;
	resp->flags = 0;
	resp->error = -EPERM;
	b->denied++;
	snprintf(reason, sizeof(reason), "%s%s refused (EPERM): %s", kinds[k].name,
		 kinds[k].nr == __NR_unshare || kinds[k].nr == __NR_clone ? "(CLONE_NEWUSER)" : "",
		 kinds[k].why);
	ward_unix_seccomp_row(b->u, tgid_of(req->pid), kinds[k].name, reason);
	if (!(b->told & (1u << k))) {
		b->told |= 1u << k;
		fprintf(stderr, "ward: %s; logged as a seccomp row (docs/sandbox.md)\n", reason);
	}
}

/* The answer to one connect(): resp->error 0 with the flag CONTINUE, or the
 * result of the connect ward made, or a refusal. */
static void handle(struct ward_unix_broker *b, const struct seccomp_notif *req,
		   struct seccomp_notif_resp *resp)
{
	struct sockaddr_un sa;
	uint64_t addr = req->data.args[1];
	int addrlen = (int)req->data.args[2];
	size_t n = addrlen < 0 ? 0 : (size_t)addrlen;
	char path[sizeof(sa.sun_path) + 1], shown[PATH_MAX], asked[sizeof(path) + 16],
		reason[sizeof(asked) + 96];
	const char *rule = NULL, *binary = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	pid_t tgid;
	int r;

	resp->id = req->id;
	resp->val = 0;
	resp->error = 0;
	resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	if (n > sizeof(sa))
		n = sizeof(sa);
	if (b->broken) {
		r = -EACCES; /* a switch of credentials or root failed: fail closed */
		goto answer;
	}
	if (req->data.nr != __NR_connect) {
		refuse(b, req, resp);
		return;
	}
	if (n < offsetof(struct sockaddr_un, sun_path) + 1)
		goto cont;
	{
		struct iovec local = { &sa, n }, remote = { (void *)(uintptr_t)addr, n };

		if (process_vm_readv(req->pid, &local, 1, &remote, 1, 0) != (ssize_t)n)
			goto cont; /* the kernel will fault the same way */
	}
	/* what was read belongs to the process that is still waiting */
	if (!id_valid(b, req->id))
		return;
	/* abstract names are Landlock's (scoped); a swap after this is the
	 * backstop's: it sees the address the kernel really uses */
	if (sa.sun_family != AF_UNIX || sa.sun_path[0] == '\0' || (size_t)addrlen > sizeof(sa))
		goto cont;
	n -= offsetof(struct sockaddr_un, sun_path);
	memcpy(path, sa.sun_path, n);
	path[n] = '\0';
	tgid = tgid_of(req->pid);

	fd = resolve(b, req->pid, path);
	if (fd < 0) {
		r = fd;
		goto answer;
	}
	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		r = -ECONNREFUSED;
		goto answer;
	}
	r = bound_in_sandbox(b, &st);
	if (r == 0 && ward_unix_named(b->u, tgid, &st, &rule, &binary) == 1)
		r = 1;
	shown_path(fd, path, shown, sizeof(shown), asked, sizeof(asked));
	if (r == 0 && ward_unix_learning(b->u)) {
		/* learning (docs/learn.md): a host socket, not named: connected
		 * all the same; one that cannot be told apart stays refused */
		r = connect_for(b, req->pid, tgid, (int)req->data.args[0], fd);
		b->brokered++;
		snprintf(reason, sizeof(reason), "%s%s%s",
			 "host unix socket not named by the policy",
			 r == 0 ? "" : " (connect failed)", asked);
		ward_unix_row(b->u, tgid, "audit", shown, binary, NULL, reason);
		goto answer;
	}
	if (r <= 0) {
		b->denied++;
		snprintf(reason, sizeof(reason), "%s%s",
			 r < 0 ? "unix socket: cannot tell whose it is"
			       : "host unix socket not named by the policy",
			 asked);
		ward_unix_row(b->u, tgid, "deny", shown, binary, NULL, reason);
		r = -EACCES;
		goto answer;
	}
	r = connect_for(b, req->pid, tgid, (int)req->data.args[0], fd);
	b->brokered++;
	if (rule) {
		snprintf(reason, sizeof(reason), "%s%s%s", "host unix socket named by the policy",
			 r == 0 ? "" : " (connect failed)", asked);
		ward_unix_row(b->u, tgid, "allow", shown, binary, rule, reason);
	}
answer:
	resp->flags = 0;
	resp->error = r;
	return;
cont:
	b->continued++;
}

static void *broker_main(void *p)
{
	struct ward_unix_broker *b = p;
	struct pollfd pfd[2] = {
		{ .fd = b->listener, .events = POLLIN },
		{ .fd = b->worker.stop_fd, .events = POLLIN },
	};
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	/* its own root and cwd from here on; ward's other threads keep theirs */
	if (unshare(CLONE_FS) < 0)
		b->broken = true;
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		if (pfd[0].revents & POLLIN) {
			memset(b->req, 0, b->req_size);
			if (ioctl(b->listener, SECCOMP_IOCTL_NOTIF_RECV, b->req) < 0)
				continue; /* ENOENT: the caller died meanwhile */
			memset(b->resp, 0, b->resp_size);
			handle(b, b->req, b->resp);
			/* ENOENT: the caller was killed meanwhile */
			(void)ioctl(b->listener, SECCOMP_IOCTL_NOTIF_SEND, b->resp);
		} else if (pfd[0].revents & (POLLHUP | POLLERR)) {
			pfd[0].fd = -1; /* every process of the sandbox is gone */
		}
	}
	return NULL;
}

int ward_unix_broker_start(const struct ward_unix_broker_config *cfg, struct ward_unix_broker **ret,
			   struct ward_error *err)
{
	_cleanup_free_ struct ward_unix_broker *b = calloc(1, sizeof(*b));
	_cleanup_close_ int pidfd = -1;
	struct seccomp_notif_sizes sizes = { 0 };
	struct diag_make dm = { .init_pid = cfg->init_pid, .fd = -1 };
	pthread_t t;
	int r;

	if (!b)
		return ward_err(err, -ENOMEM, "unix broker");
	*b = (struct ward_unix_broker){ .worker = WARD_WORKER_INIT,
					.u = cfg->u,
					.listener = -1,
					.diag = -1,
					.host_root = -1,
					.uid = cfg->uid,
					.gid = cfg->gid };
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
		return ward_err(err, -errno, "seccomp notification sizes");
	b->req_size = sizes.seccomp_notif > sizeof(*b->req) ? sizes.seccomp_notif : sizeof(*b->req);
	b->resp_size = sizes.seccomp_notif_resp > sizeof(*b->resp) ? sizes.seccomp_notif_resp
								   : sizeof(*b->resp);
	b->req = calloc(1, b->req_size);
	b->resp = calloc(1, b->resp_size);
	if (!b->req || !b->resp) {
		r = ward_err(err, -ENOMEM, "unix broker");
		goto fail;
	}
	b->n_groups = (int)syscall(SYS_getgroups, MAX_GROUPS, b->groups);
	if (b->n_groups < 0) {
		r = ward_err(err, -errno, "getgroups");
		goto fail;
	}
	b->host_root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (b->host_root < 0) {
		r = ward_err(err, -errno, "open /");
		goto fail;
	}
	r = pthread_create(&t, NULL, diag_thread, &dm);
	if (r) {
		r = ward_err(err, -r, "sock_diag thread");
		goto fail;
	}
	pthread_join(t, NULL);
	if (dm.fd < 0) {
		r = ward_err(err, dm.fd, "sock_diag socket in the sandbox's network namespace");
		goto fail;
	}
	b->diag = dm.fd;
	pidfd = (int)syscall(SYS_pidfd_open, cfg->init_pid, 0);
	if (pidfd < 0) {
		r = ward_err(err, -errno, "pidfd of the sandbox's init");
		goto fail;
	}
	b->listener = (int)syscall(SYS_pidfd_getfd, pidfd, cfg->init_listener, 0);
	if (b->listener < 0) {
		r = ward_err(err, -errno, "take the connect() listener from the sandbox's init");
		goto fail;
	}
	r = ward_worker_start(&b->worker, broker_main, b, "unix broker", err);
	if (r < 0)
		goto fail;
	*ret = TAKE_PTR(b);
	return 0;

fail:
	ward_unix_broker_stop(TAKE_PTR(b));
	return r;
}

void ward_unix_broker_stop(struct ward_unix_broker *b)
{
	if (!b)
		return;
	ward_worker_stop(&b->worker);
	if (b->listener >= 0)
		close(b->listener);
	if (b->diag >= 0)
		close(b->diag);
	if (b->host_root >= 0)
		close(b->host_root);
	free(b->req);
	free(b->resp);
	free(b);
}

void ward_unix_broker_stats(const struct ward_unix_broker *b, struct ward_unix_broker_stats *ret)
{
	*ret = (struct ward_unix_broker_stats){ .brokered = b->brokered,
						.denied = b->denied,
						.continued = b->continued };
}
