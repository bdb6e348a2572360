// SPDX-License-Identifier: MIT
#include "enforcer/features.h"
#include "enforcer/unix.h"
#include "enforcer/unix_broker.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/filter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <linux/perf_event.h>
#include <sys/fanotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "enforcer/cgroup.h"
#include "enforcer/egress.h" /* host mode: host.kernel */
#include "enforcer/fs_protect.h" /* filesystem layer: fs.protect */
#include "enforcer/landlock.h"

static void setf(struct ward_feature *f, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void setf(struct ward_feature *f, bool ok, const char *fmt, ...)
{
	va_list ap;
	f->available = ok;
	va_start(ap, fmt);
	vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
	va_end(ap);
}

static void probe_landlock(struct ward_feature *f)
{
	int abi = ward_landlock_abi();
	if (abi > 0)
		setf(f, true, "ABI %d", abi);
	else if (abi == -ENOSYS)
		setf(f, false, "kernel built without Landlock (ENOSYS)");
	else if (abi == -EOPNOTSUPP)
		setf(f, false, "Landlock disabled at boot (EOPNOTSUPP): add landlock to lsm=");
	else
		setf(f, false, "landlock_create_ruleset: %s", strerror(-abi));
}

static void probe_seccomp_notif(struct ward_feature *f)
{
	unsigned int action = SECCOMP_RET_USER_NOTIF;
	if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0)
		setf(f, true, "SECCOMP_RET_USER_NOTIF available");
	else
		setf(f, false, "SECCOMP_GET_ACTION_AVAIL(USER_NOTIF): %s", strerror(errno));
}

static void probe_seccomp(struct ward_feature *f)
{
	unsigned int action = SECCOMP_RET_ERRNO;
	if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0)
		setf(f, true, "seccomp filters with SECCOMP_RET_ERRNO");
	else
		setf(f, false, "seccomp: %s", strerror(errno));
}

static void probe_cgroup2(struct ward_feature *f)
{
	const char *mnt = ward_cgroup2_mount();

	if (mnt)
		setf(f, true, "mounted at %s", mnt);
	else
		setf(f, false, "no cgroup2 mount in /proc/self/mountinfo");
}

static void probe_btf(struct ward_feature *f)
{
	struct stat st;
	if (stat("/sys/kernel/btf/vmlinux", &st) == 0)
		setf(f, true, "/sys/kernel/btf/vmlinux (%lld bytes)", (long long)st.st_size);
	else
		setf(f, false, "/sys/kernel/btf/vmlinux: %s (CONFIG_DEBUG_INFO_BTF)",
		     strerror(errno));
}

static void probe_prog_type(struct ward_feature *f, enum bpf_prog_type type)
{
	int r = libbpf_probe_bpf_prog_type(type, NULL);
	if (r == 1)
		setf(f, true, "a test program loaded");
	else if (r == 0)
		setf(f, false, "the kernel does not know this program type");
	else
		setf(f, false, "test load failed: %s", strerror(-r));
}

/* Tracing and LSM programs need a BTF target; load "r0 = 0; exit" against one. */
static int load_btf_prog(enum bpf_prog_type type, enum bpf_attach_type attach, const char *func)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct btf *btf = btf__load_vmlinux_btf();
	int id, fd;

	if (!btf)
		return -errno;
	id = btf__find_by_name_kind(btf, func, BTF_KIND_FUNC);
	btf__free(btf);
	if (id < 0)
		return -ENOENT;
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach,
		    .attach_btf_id = (__u32)id);
	fd = bpf_prog_load(type, NULL, "GPL", insns, ARRAY_SIZE(insns), &opts);
	if (fd < 0)
		return -errno;
	/* Loading is not enough for tracing programs: the attach is what EPERMs. */
	int link = bpf_link_create(fd, 0, attach, NULL);
	int e = link < 0 ? -errno : 0;
	if (link >= 0)
		close(link);
	close(fd);
	return e;
}

static bool ward_feature_bpf_lsm_active(char *detail, unsigned size)
{
	char buf[512] = "";
	_cleanup_close_ int fd = open("/sys/kernel/security/lsm", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (n > 0)
		buf[n] = '\0';
	if (n > 0 && !strstr(buf, "bpf")) {
		snprintf(detail, size, "bpf not in the active LSMs (%s)", buf);
		return false;
	}
	int r = load_btf_prog(BPF_PROG_TYPE_LSM, BPF_LSM_MAC, "bpf_lsm_file_open");
	if (r < 0) {
		snprintf(detail, size, "lsm/file_open load or attach: %s", strerror(-r));
		return false;
	}
	snprintf(detail, size, "lsm/file_open loaded and attached");
	return true;
}

static void probe_lsm(struct ward_feature *f)
{
	f->available = ward_feature_bpf_lsm_active(f->detail, sizeof(f->detail));
}

static void probe_fentry(struct ward_feature *f)
{
	int r = load_btf_prog(BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, "do_sys_openat2");
	if (r == 0)
		setf(f, true, "fentry/do_sys_openat2 loaded and attached");
	else
		setf(f, false, "fentry load or attach: %s", strerror(-r));
}

static int attach_perf_kprobe(int prog_fd, const char *func)
{
	char buf[32] = "";
	_cleanup_close_ int tfd =
		open("/sys/bus/event_source/devices/kprobe/type", O_RDONLY | O_CLOEXEC);
	ssize_t n = tfd >= 0 ? read(tfd, buf, sizeof(buf) - 1) : -1;
	struct perf_event_attr attr = { .size = sizeof(attr) };
	_cleanup_close_ int pfd = -1;

	if (n <= 0)
		return -ENOENT;
	attr.type = (unsigned)atoi(buf);
	attr.config1 = (unsigned long)func; /* kprobe_func */
	pfd = (int)syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (pfd < 0)
		return -errno;
	if (ioctl(pfd, PERF_EVENT_IOC_SET_BPF, prog_fd) < 0)
		return -errno;
	return 0;
}

/* A kprobe program loads almost everywhere; attaching is what a locked-down
 * kernel refuses, so attach one (kprobe_multi) to know. */
static void probe_kprobe(struct ward_feature *f)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	const char *syms[] = { "do_sys_openat2" };
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_KPROBE_MULTI);
	LIBBPF_OPTS(bpf_link_create_opts, lopts, .kprobe_multi.syms = syms, .kprobe_multi.cnt = 1);
	int fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, NULL, "GPL", insns, ARRAY_SIZE(insns), &opts);

	if (fd < 0) {
		setf(f, false, "kprobe load: %s", strerror(errno));
		return;
	}
	int link = bpf_link_create(fd, 0, BPF_TRACE_KPROBE_MULTI, &lopts);
	if (link >= 0) {
		setf(f, true, "kprobe.multi/do_sys_openat2 attached");
		close(link);
	} else {
		int multi_err = errno;
		int r = attach_perf_kprobe(fd, "do_sys_openat2");
		if (r == 0)
			setf(f, true, "kprobe/do_sys_openat2 attached (perf event)");
		else if (r == -ENOENT)
			setf(f, false, "no kprobe PMU in /sys/bus/event_source (kprobe_multi: %s)",
			     strerror(multi_err));
		else
			setf(f, false, "kprobe attach: %s (kprobe_multi: %s)", strerror(-r),
			     strerror(multi_err));
	}
	close(fd);
}

static void probe_nftables(struct ward_feature *f)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	ssize_t n;
	int r;

	if (!nl) {
		setf(f, false, "netlink netfilter socket: %s", strerror(errno));
		return;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		setf(f, false, "bind: %s", strerror(errno));
		goto out;
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = 1;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		setf(f, false, "send: %s", strerror(errno));
		goto out;
	}
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	r = n > 0 ? mnl_cb_run(buf, (size_t)n, 1, mnl_socket_get_portid(nl), NULL, NULL) : -1;
	if (r >= 0)
		setf(f, true, "nf_tables answers (NFT_MSG_GETGEN)");
	else
		setf(f, false, "NFT_MSG_GETGEN: %s", strerror(errno));
out:
	mnl_socket_close(nl);
}

static void probe_fanotify(struct ward_feature *f)
{
	_cleanup_close_ int fd =
		fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		setf(f, false, "fanotify_init(FAN_CLASS_CONTENT): %s", strerror(errno));
		return;
	}
	/* A mark that is added and removed at once: the kernel rejects it with
	 * EINVAL without CONFIG_FANOTIFY_ACCESS_PERMISSIONS. */
	if (fanotify_mark(fd, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, "/") < 0) {
		setf(f, false, "FAN_OPEN_PERM mark: %s", strerror(errno));
		return;
	}
	fanotify_mark(fd, FAN_MARK_REMOVE, FAN_OPEN_PERM, AT_FDCWD, "/");
	setf(f, true, "FAN_OPEN_PERM and FAN_OPEN_EXEC_PERM");
}

static void probe_userns(struct ward_feature *f)
{
	char buf[32] = "";
	_cleanup_close_ int fd = open("/proc/sys/user/max_net_namespaces", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (n > 0 && atoi(buf) > 0)
		setf(f, true, "max_net_namespaces=%d", atoi(buf));
	else
		setf(f, false, "network namespaces unavailable (max_net_namespaces=%s)",
		     n > 0 ? buf : "?");
	/* strip the newline read from /proc */
	char *nl = strchr(f->detail, '\n');
	if (nl)
		*nl = '\0';
}

/* --- filesystem layer (fs_protect.h): the mechanism `ward run` would pick */
static void probe_fs_protect(struct ward_feature *f)
{
	f->available = ward_fs_protect_probe(f->detail, sizeof(f->detail)) != WARD_FS_MECH_NONE;
}

/* --- unix sockets (runtime/layer_unix.h): the broker and its BPF backstop */
/* Both mechanisms available here (seccomp user notification, connect_unix
 * BPF)? 0 yes; -errno and why in err when not: `ward run` then keeps the
 * directories that hold host sockets private (docs/sandbox.md). */
static int unix_available(struct ward_error *err)
{
	int r = ward_unix_notify_probe();

	if (r < 0)
		return ward_err(err, r, "seccomp user notification");
	return ward_unix_probe(err);
}

static void probe_unix_bpf(struct ward_feature *f)
{
	struct ward_error err = { 0 };

	f->available = ward_unix_probe(&err) == 0;
	if (f->available)
		snprintf(f->detail, sizeof(f->detail), "connect_unix, sendmsg_unix load");
	else
		snprintf(f->detail, sizeof(f->detail), "%.200s", err.msg);
}

static void probe_unix_broker(struct ward_feature *f)
{
	struct ward_error err = { 0 };

	f->available = unix_available(&err) == 0;
	snprintf(f->detail, sizeof(f->detail), "%s",
		 f->available ? "seccomp connect() broker + BPF backstop"
			      : "missing: private /tmp, /run, /var/tmp, /dev/shm instead");
}

/* Host mode's default scope: the v2 root (hybrid layouts: the unified mount). */
static void probe_host_root(struct ward_feature *f)
{
	const char *mnt = ward_cgroup2_mount();
	struct stat st;

	if (!mnt)
		setf(f, false, "no cgroup v2 hierarchy mounted: host mode has no scope");
	else if (stat(mnt, &st) < 0)
		setf(f, false, "%s: %s", mnt, strerror(errno));
	else
		setf(f, true, "%s (%s layout): the default scope", mnt,
		     strcmp(mnt, "/sys/fs/cgroup") ? "hybrid" : "pure v2");
}

/* Pins outlive the daemon: bpffs must be mounted and take a pin. */
static void probe_host_bpffs(struct ward_feature *f)
{
	char path[64];
	int fd, r;

	snprintf(path, sizeof(path), "/sys/fs/bpf/.ward-probe-%d", (int)getpid());
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ward_probe", 4, 4, 1, NULL);
	if (fd < 0) {
		setf(f, false, "map create: %s", strerror(errno));
		return;
	}
	r = bpf_obj_pin(fd, path) < 0 ? -errno : 0;
	close(fd);
	if (r < 0) {
		setf(f, false, "pin in /sys/fs/bpf: %s%s", strerror(-r),
		     r == -EPERM || r == -ENOENT ? " (bpffs not mounted, or not root)" : "");
		return;
	}
	unlink(path);
	setf(f, true, "/sys/fs/bpf takes pins");
}

/* Host mode's programs need a kfunc of 6.2 (ward_egress_host_probe). */
static void probe_host_kernel(struct ward_feature *f)
{
	struct ward_error err = { 0 };

	if (ward_egress_host_probe(&err) < 0)
		setf(f, false, "%.200s", err.msg);
	else
		setf(f, true, "bpf_rdonly_cast (the listener check by socket cookie)");
}

/* Host mode attaches at the scope with links (multi-attach): a sandbox below
 * keeps its own programs. Two links on one hook of a cgroup of our own. */
static void probe_host_multi(struct ward_feature *f)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	const char *mnt = ward_cgroup2_mount();
	char dir[PATH_MAX];
	int prog, cg, l1 = -1, l2 = -1;

	if (!mnt) {
		setf(f, false, "no cgroup v2 hierarchy");
		return;
	}
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_CGROUP_INET4_CONNECT);
	prog = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, NULL, "GPL", insns, ARRAY_SIZE(insns),
			     &opts);
	if (prog < 0) {
		setf(f, false, "connect4 test load: %s", strerror(errno));
		return;
	}
	/* an empty leaf of ward's own: nothing runs in it */
	snprintf(dir, sizeof(dir), "%s/ward", mnt);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/ward/probe-%d", mnt, (int)getpid());
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		setf(f, false, "mkdir %s: %s", dir, strerror(errno));
		close(prog);
		return;
	}
	cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg >= 0) {
		l1 = bpf_link_create(prog, cg, BPF_CGROUP_INET4_CONNECT, NULL);
		if (l1 >= 0)
			l2 = bpf_link_create(prog, cg, BPF_CGROUP_INET4_CONNECT, NULL);
	}
	if (cg < 0)
		setf(f, false, "open %s: %s", dir, strerror(errno));
	else if (l1 < 0 || l2 < 0)
		setf(f, false, "cgroup link %s: %s", l1 < 0 ? "create" : "multi-attach",
		     strerror(errno));
	else
		setf(f, true, "two connect4 links on one cgroup (bpf_link_create)");
	if (l2 >= 0)
		close(l2);
	if (l1 >= 0)
		close(l1);
	if (cg >= 0)
		close(cg);
	close(prog);
	rmdir(dir);
}

int ward_features_probe(struct ward_feature *ret, int max)
{
	static const struct {
		const char *name, *what;
		bool required;
		void (*probe)(struct ward_feature *);
		enum bpf_prog_type type;
	} table[] = {
		{ "landlock", "filesystem ceiling, TCP ports, scoping", false, probe_landlock, 0 },
		{ "seccomp", "syscall filter (EPERM for dangerous calls)", true, probe_seccomp, 0 },
		{ "seccomp.user_notif", "supervised syscalls", false, probe_seccomp_notif, 0 },
		{ "cgroup2", "one cgroup leaf per sandbox, BPF attach point", true, probe_cgroup2,
		  0 },
		{ "netns", "the sandbox's own network namespace", true, probe_userns, 0 },
		{ "btf", "CO-RE reads of task->mm->exe_file", false, probe_btf, 0 },
		{ "bpf.cgroup_sock_addr", "connect4/6, sendmsg4/6 per-binary verdicts", false, NULL,
		  BPF_PROG_TYPE_CGROUP_SOCK_ADDR },
		{ "bpf.sock_ops", "client address -> identity for the proxy", false, NULL,
		  BPF_PROG_TYPE_SOCK_OPS },
		{ "bpf.cgroup_skb", "packet accounting", false, NULL, BPF_PROG_TYPE_CGROUP_SKB },
		{ "bpf.tracepoint", "filesystem denials observed", false, NULL,
		  BPF_PROG_TYPE_TRACEPOINT },
		{ "bpf.raw_tracepoint", "filesystem denials observed", false, NULL,
		  BPF_PROG_TYPE_RAW_TRACEPOINT },
		{ "bpf.lsm", "per-binary file rules in the kernel", false, probe_lsm, 0 },
		{ "bpf.fentry", "low-overhead tracing", false, probe_fentry, 0 },
		{ "bpf.kprobe", "not used: listed for comparison", false, probe_kprobe, 0 },
		{ "nftables", "sandbox netns firewall with NFLOG", false, probe_nftables, 0 },
		{ "fanotify.perm", "per-binary protected paths (blocking)", false, probe_fanotify,
		  0 },
		{ "fs.protect", "mechanism enforcing protected paths", false, probe_fs_protect, 0 },
		{ "bpf.cgroup_unix", "connect_unix/sendmsg_unix: host unix sockets by path", false,
		  probe_unix_bpf, 0 },
		{ "unix.broker", "host unix sockets per binary, decided by inode", false,
		  probe_unix_broker, 0 },
		{ "host.cgroup2_root", "host mode: the default scope (ward host)", false,
		  probe_host_root, 0 },
		{ "host.bpffs", "host mode: programs pinned, deciding without a daemon", false,
		  probe_host_bpffs, 0 },
		{ "host.multi_attach", "host mode: sandboxes below keep their own programs", false,
		  probe_host_multi, 0 },
		{ "host.kernel", "host mode: its programs load on this kernel", false,
		  probe_host_kernel, 0 },
	};
	int n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(table) && n < max; i++, n++) {
		struct ward_feature *f = &ret[n];
		memset(f, 0, sizeof(*f));
		f->name = table[i].name;
		f->what = table[i].what;
		f->required = table[i].required;
		if (table[i].probe)
			table[i].probe(f);
		else
			probe_prog_type(f, table[i].type);
	}
	return n;
}
