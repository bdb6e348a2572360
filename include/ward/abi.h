/* SPDX-License-Identifier: MIT */
/* The only header shared by the BPF programs (bpf/egress.bpf.c) and user space
 * (src/enforcer/egress*.c, the proxy): map keys, map values and ring buffer
 * events. Fixed-width types, explicit padding, no pointers; sizes are asserted
 * so a change on one side cannot silently misread the other.
 *
 * Addresses are always 16 bytes in network byte order; IPv4 is stored in its
 * IPv4-mapped IPv6 form (::ffff:a.b.c.d), so an IPv4 destination and the same
 * destination written as a mapped IPv6 address are one and the same key.
 * Ports are host byte order. */
#pragma once

#ifdef __bpf__
/* vmlinux.h provides __u8 .. __u64 */
#else
#include <linux/types.h>
#endif

#define WARD_ABI_VERSION 5 /* 4: cgroup ids in events and connection records; 5: uids in events */
/* an event's uid when nobody read it (WARD_ABI_VERSION 4 events had 0 there:
 * readers of ward_event take those as this) */
#define WARD_UID_NONE 0xffffffffu
#define WARD_EVENT_VERSION_NO_UID 4 /* a ward_event of version 4 is read, uid unknown */

/* Limits (map sizes). A full identity/port/CIDR map is a load error in user
 * space; a full connection map makes connect() fail closed (EPERM). */
#define WARD_MAX_IDENTITIES 4096
#define WARD_MAX_PORTS 8192  /* (entry, port) pairs */
#define WARD_MAX_CIDRS 4096  /* (entry, cidr) pairs */
#define WARD_MAX_CONNS 16384 /* live proxied connections per sandbox */
#define WARD_RINGBUF_BYTES (256 * 1024)
#define WARD_EVENTS_POLL_MS 100 /* readers poll at least this often (events wake them lazily) */
#define WARD_ANCESTOR_DEPTH 4	/* parents walked for identities marked WARD_IDENT_ANCESTORS */
#define WARD_MAX_UDP_SOCKS                                                                         \
	16384			  /* live UDP sockets that may ask the DNS stub (not LRU:          \
				   * when full, the next one is refused at sendmsg/connect) */
#define WARD_MAX_UDP_PEERS 131072 /* (family, source port) of DNS datagrams: 2 x 65536 */
/* Policy generations in the kernel at once: the one in force, the one
 * before it (a decision that started before the switch may still read it)
 * and the next one, being filled. Slots of the identity (egress) and rules
 * (unix) map-in-maps, generation N in slot N % 3; the flat port and CIDR
 * maps hold the keys of as many generations. */
#define WARD_GEN_SLOTS 3

/* The resolver address in the sandbox's /etc/resolv.conf (docs/dns.md):
 * 127.0.0.53, rewritten by connect4/sendmsg4 to the DNS stub. */
#define WARD_DNS_STUB_IP4 0x7f000035u

/* entry value meaning "this identity has no network policy" (inference only) */
#define WARD_ENTRY_NONE 0xffffffffu

/* cfg flags: rodata (WARD_CFG_PROXY6, WARD_CFG_DNS6) or of the policy
 * generation in force (WARD_CFG_INFERENCE_ALL, in the active word of
 * egress.bpf.c) */
#define WARD_CFG_PROXY6 (1u << 0)	 /* proxy6 is set */
#define WARD_CFG_DNS6 (1u << 1)		 /* dns6 is set */
#define WARD_CFG_INFERENCE_ALL (1u << 2) /* inference routes, no inference.binaries list */
#define WARD_CFG_HOST (1u << 3)		 /* host mode (rodata): ward_kdecide_host */
#define WARD_CFG_AUDIT (1u << 4)	 /* host mode: refusals become verdict audit (allowed) */
/* (rodata) TCP records go from connect4/6 to sock_ops through tcp_pending
 * (by socket cookie), not task storage: kernels whose cgroup sock_addr and
 * sock_ops programs cannot call bpf_task_storage_get (6.12) */
#define WARD_CFG_PENDING_COOKIE (1u << 5)

/* identity flags */
#define WARD_IDENT_ANCESTORS (1u << 0) /* also matches descendants (up to the depth) */
#define WARD_IDENT_INFERENCE (1u << 1) /* may reach the proxy's explicit port for inference */
#define WARD_IDENT_PIN_CTIME (1u << 2) /* the kernel also checks the file's ctime */
#define WARD_IDENT_EXEMPT (1u << 3)	   /* host mode: the executable itself is exempt (policy host.exempt) */

/* connection flags */
#define WARD_CONN_REDIRECTED (1u << 0) /* was a direct connection, rewritten to the proxy */
#define WARD_CONN_ALLOWED_IP (1u << 1) /* original destination inside an allowed_ips CIDR */
#define WARD_CONN_INFERENCE (1u << 2)  /* allowed to the proxy only for inference.local */
#define WARD_CONN_LEARN (1u << 3)      /* --learn: to the proxy/stub though the policy refuses it */
#define WARD_CONN_LOGGED (1u << 7)     /* user space: its row was written (at the first lookup) */

enum ward_verdict {
	WARD_VERDICT_ALLOW = 1,
	WARD_VERDICT_DENY = 2,
	WARD_VERDICT_REDIRECT = 3,
	WARD_VERDICT_AUDIT = 4, /* host audit mode: would be denied, allowed (row action "audit") */
};

enum ward_reason {
	WARD_REASON_LOOPBACK = 1,
	WARD_REASON_PROXY_EXPLICIT, /* binary with policy to the proxy's explicit port */
	WARD_REASON_INFERENCE,	    /* to the proxy's explicit port for inference.local */
	WARD_REASON_DNS_STUB,	    /* DNS to the stub */
	WARD_REASON_REDIRECT,	    /* direct connection rewritten to the transparent port */
	WARD_REASON_NO_POLICY,	    /* binary has no network policy */
	WARD_REASON_UDP,	    /* UDP other than DNS to the stub */
	WARD_REASON_PORT,	    /* port in none of the binary's endpoints */
	WARD_REASON_PROXY_PORT,	    /* proxy address, port other than the explicit one */
	WARD_REASON_NO_PROXY6,	    /* native IPv6 destination, no IPv6 proxy address */
	WARD_REASON_CONN_FULL,	    /* connection map full: fail closed */
	WARD_REASON_PROTOCOL,	    /* neither TCP nor UDP */
	WARD_REASON_DAEMON_DOWN,    /* host: the registered proxy/DNS listener is not there */
	WARD_REASON_MAX,
};

enum ward_hook {
	WARD_HOOK_CONNECT4 = 1,
	WARD_HOOK_CONNECT6,
	WARD_HOOK_SENDMSG4,
	WARD_HOOK_SENDMSG6,
};

/* identity map key: the executable file. dev is the kernel's encoding,
 * MAJOR << 20 | MINOR: the superblock's s_dev, which user space computes with
 * ward_exe_ident_fd() (common/exe_ident.h; not always stat()'s st_dev). */
struct ward_ident_key {
	__u64 dev;
	__u64 ino;
};
_Static_assert(sizeof(struct ward_ident_key) == 16, "ward_ident_key");

#define WARD_IDENT_NAME 32 /* bytes of the executable's file name an identity pins */

/* An identity's value. Besides its rules it pins where the file was when
 * user space resolved it; the kernel compares the pins with the running
 * executable (bpf/exe_ident.h) and a mismatch is no identity: an allowed
 * binary renamed, hard-linked elsewhere or deleted gets nothing. See
 * docs/egress.md, "Identity". */
struct ward_ident_val {
	__u32 entry;	  /* index of the entry (set of network policies), or WARD_ENTRY_NONE */
	__u32 flags;	  /* WARD_IDENT_* */
	__u64 dir_ino;	  /* i_ino of its directory; 0: not pinned (overlayfs: not persistent) */
	__s64 ctime_sec;  /* with WARD_IDENT_PIN_CTIME: its ctime (filesystems whose */
	__u32 ctime_nsec; /* (dev, ino) is not unique: overlayfs, btrfs, bcachefs) */
	__u32 pad;
	char name[WARD_IDENT_NAME]; /* its name (dentry), NUL-padded, at most 31 bytes of
				     * it; "" when the policy names it by two hard links */
};
_Static_assert(sizeof(struct ward_ident_val) == 64, "ward_ident_val");

/* ports map key: (entry, port, generation) present = port used by one of the
 * entry's endpoints in that policy generation */
struct ward_port_key {
	__u32 entry;
	__u16 port;
	__u16 gen; /* low 16 bits of the generation */
};
_Static_assert(sizeof(struct ward_port_key) == 8, "ward_port_key");

/* LPM trie key for allowed_ips: prefixlen counts the 32 entry bits too, so a
 * lookup only ever matches CIDRs of its own entry and generation. */
struct ward_cidr_key {
	__u32 prefixlen; /* 32 + CIDR prefix (IPv4 prefixes + 96, being mapped) */
	__u32 entry;	 /* (generation & 0xffff) << 16 | entry, big endian, so that it
			  * is the leading bits of the key */
	__u8 addr[16];
};
_Static_assert(sizeof(struct ward_cidr_key) == 24, "ward_cidr_key");

/* One proxied connection, stored by connect4/6 under the socket cookie and
 * copied by sock_ops under the client's (address, port). */
struct ward_conn {
	__u64 dev; /* identity that decided (the matched ancestor's when depth > 0) */
	__u64 ino;
	__u64 cookie;	 /* socket cookie of the client socket */
	__u32 entry;	 /* entry index, or WARD_ENTRY_NONE */
	__u32 tgid;	 /* process id (initial pid namespace) */
	__u8 orig[16];	 /* original destination */
	__u16 orig_port; /* original destination port */
	__u8 flags;	 /* WARD_CONN_* */
	__u8 depth;	 /* 0: the process's own executable; n: its n-th ancestor */
	__u16 sport;	 /* UDP: source port of the socket's datagrams to the stub, 0 before */
	__u16 gen;	 /* low 16 bits of the policy generation that decided (entry is its) */
	__u64 own_dev; /* the process's own executable: the one that acted (= dev, ino at depth 0) */
	__u64 own_ino;
	__u64 cgid; /* cgroup v2 id of the connecting task (its session, docs/audit.md) */
};
_Static_assert(sizeof(struct ward_conn) == 80, "ward_conn");

/* peer map key: the client's local address and port as the proxy sees them */
struct ward_peer_key {
	__u8 addr[16];
	__u16 port;
	__u16 pad;
};
_Static_assert(sizeof(struct ward_peer_key) == 20, "ward_peer_key");

/* ring buffer event: one per verdict */
struct ward_event {
	__u16 version; /* WARD_ABI_VERSION */
	__u8 verdict;  /* enum ward_verdict */
	__u8 reason;   /* enum ward_reason */
	__u8 hook;     /* enum ward_hook */
	__u8 proto;    /* IPPROTO_TCP, IPPROTO_UDP, ... */
	__u8 depth;
	__u8 pad0;
	__u32 pid;   /* thread id (initial pid namespace) */
	__u32 tgid;  /* process id */
	__u32 entry; /* WARD_ENTRY_NONE when the binary is unknown */
	__u32 gen;   /* the policy generation that decided (entry is its; the row's rev) */
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u64 dev;   /* identity that decided (own executable when unknown) */
	__u64 ino;
	__u8 dst[16];  /* destination after the verdict (the proxy when redirected) */
	__u8 orig[16]; /* destination the program asked for */
	__u16 dst_port;
	__u16 orig_port;
	__u32 uid;     /* real uid of the task (initial user namespace); was pad2 (version 4: 0) */
	char comm[16]; /* display only, never used for a decision */
	__u64 own_dev; /* the process's own executable (= dev, ino at depth 0) */
	__u64 own_ino;
	__u64 cgid; /* cgroup v2 id of the task (its session, docs/audit.md) */
};
_Static_assert(sizeof(struct ward_event) == 128, "ward_event");

/* ---- host mode (bpf/egress.bpf.c with WARD_CFG_HOST; docs/egress.md "Host mode") ---- */

#define WARD_HOST_MAX_EXEMPT 64		/* exempt cgroup ids */
#define WARD_HOST_EXEMPT_DEPTH 16	/* ancestor levels of the task's cgroup checked */
#define WARD_HOST_LOOPBACK4 0x7f000001u /* the daemon's listeners: 127.0.0.1 and ::1 */

/* Where redirected connections go and which sockets must be listening
 * there (socket cookies; 0: none, refused). IPv4 and IPv4-mapped
 * destinations go to 127.0.0.1, native IPv6 ones to ::1, at the same ports
 * (a UDP sendmsg6 cannot be rewritten to a mapped address). */
struct ward_host_slot {
	__u64 proxy_cookie;    /* TCP proxy on 127.0.0.1:proxy_port */
	__u64 dns_udp_cookie;  /* DNS stub, UDP, 127.0.0.1:dns_port */
	__u64 dns_tcp_cookie;  /* DNS stub, TCP, same port */
	__u64 proxy6_cookie;   /* TCP proxy on [::1]:proxy_port (0: no IPv6 listeners) */
	__u64 dns_udp6_cookie; /* DNS stub, UDP, [::1]:dns_port */
	__u64 dns_tcp6_cookie; /* DNS stub, TCP, same port */
	__u16 proxy_port;
	__u16 dns_port;
	__u32 pad;
};
_Static_assert(sizeof(struct ward_host_slot) == 56, "ward_host_slot");

/* The pinned host state (one mmap'ed array element): user space writes the
 * slot not in force, then stores its index in active (one aligned store);
 * a decision reads active once. */
struct ward_host_state {
	__u64 active;	  /* index of the slot in force (0 or 1) */
	__u64 scope_cgid; /* the scope the links are attached to (for status) */
	__u32 flags;	  /* WARD_HOST_F_* (for status; decisions read rodata) */
	__u32 pad;
	__u64 pad2;
	struct ward_host_slot slot[2];
};
_Static_assert(sizeof(struct ward_host_state) == 144, "ward_host_state");

#define WARD_HOST_F_AUDIT (1u << 0)

/* ---- exec identity (sched_process_exec in bpf/egress.bpf.c; docs/egress.md) ---- */

#define WARD_EXEC_PATH_MAX 256 /* bytes of bprm->filename captured, NUL included */
#define WARD_EXEC_RINGBUF_BYTES (64 * 1024)

/* A program executed inside the sandbox cgroup whose file has no identity
 * yet: ward matches its path against the policy's binary globs and sha256
 * entries and may add the identity before the program's first connect. */
struct ward_exec_event {
	__u16 version; /* WARD_ABI_VERSION */
	__u16 pad0;
	__u32 tgid;
	__u64 dev; /* the executed file (kernel dev encoding) */
	__u64 ino;
	char filename[WARD_EXEC_PATH_MAX]; /* as given to execve (may be relative) */
};
_Static_assert(sizeof(struct ward_exec_event) == 280, "ward_exec_event");

/* ---- filesystem layer (bpf/fs.bpf.c, bpf/fs_lsm.bpf.c; docs/filesystem.md) ---- */

#define WARD_FS_PATH_MAX 256	    /* bytes of a path captured in the kernel, NUL included */
#define WARD_FS_MAX_INFLIGHT 16384  /* syscalls between entry and exit, per sandbox */
#define WARD_FS_MAX_PROTECTED 65536 /* protected inodes (bpf-lsm) */
#define WARD_FS_MAX_ALLOWED 16384   /* (protected root, executable) pairs (bpf-lsm) */
#define WARD_FS_LSM_ALLOW_ROWS 256  /* (root, executable) pairs whose first allowed open is logged */
#define WARD_FS_MAX_DENIED 4096	    /* threads refused by the protect layer, pending exit */
#define WARD_FS_RATE_PER_SEC 100    /* default token bucket for denial events */
#define WARD_FS_RATE_BURST 200
#define WARD_FS_LSM_DEPTH 16 /* parent directories walked by lsm/file_open */
#define WARD_FS_AT_FDCWD (-100)
#define WARD_FS_MAX_MISSING 8192 /* missing paths remembered (dedup of ENOENT), per sandbox */

/* A missing path's verdict in the kernel's dedup map (user space writes the
 * last two once it has looked) */
enum ward_fs_missing {
	WARD_FS_MISSING_PENDING = 1, /* sent, not yet checked: later attempts sent again */
	WARD_FS_MISSING_QUIET,	     /* inside the mount plan, or on the host neither */
	WARD_FS_MISSING_HIDDEN,	     /* on the host, hidden by the plan: a row each time */
};

/* another process's procfs file (WARD_FS_EV_PROCMEM) */
enum ward_fs_procfile {
	WARD_FS_PROC_MEM = 1,
	WARD_FS_PROC_ENVIRON,
};

/* What the syscall was, for the row's reason. */
enum ward_fs_op {
	WARD_FS_OP_OPEN = 1,
	WARD_FS_OP_OPENAT,
	WARD_FS_OP_OPENAT2,
	WARD_FS_OP_CREAT,
	WARD_FS_OP_MKDIR,
	WARD_FS_OP_MKDIRAT,
	WARD_FS_OP_MKNOD,
	WARD_FS_OP_MKNODAT,
	WARD_FS_OP_UNLINK,
	WARD_FS_OP_UNLINKAT,
	WARD_FS_OP_RMDIR,
	WARD_FS_OP_RENAME,
	WARD_FS_OP_RENAMEAT,
	WARD_FS_OP_RENAMEAT2,
	WARD_FS_OP_LINK,
	WARD_FS_OP_LINKAT,
	WARD_FS_OP_SYMLINK,
	WARD_FS_OP_SYMLINKAT,
	WARD_FS_OP_TRUNCATE,
	WARD_FS_OP_CHMOD,
	WARD_FS_OP_FCHMODAT,
	WARD_FS_OP_FCHMODAT2,
	WARD_FS_OP_CHOWN,
	WARD_FS_OP_LCHOWN,
	WARD_FS_OP_FCHOWNAT,
	WARD_FS_OP_EXECVE,
	WARD_FS_OP_EXECVEAT,
	WARD_FS_OP_FILE_OPEN, /* lsm/file_open: a protected path refused */
	WARD_FS_OP_FD_IO,     /* read/write family on a descriptor (WARD_FS_EV_PROCMEM) */
	WARD_FS_OP_MAX,
};

/* The access asked (bits; the row's method is their names joined by ','). */
#define WARD_FS_ACC_READ (1u << 0)
#define WARD_FS_ACC_WRITE (1u << 1)
#define WARD_FS_ACC_CREATE (1u << 2)
#define WARD_FS_ACC_TRUNCATE (1u << 3)
#define WARD_FS_ACC_DELETE (1u << 4)
#define WARD_FS_ACC_RENAME (1u << 5)
#define WARD_FS_ACC_LINK (1u << 6)
#define WARD_FS_ACC_SETATTR (1u << 7) /* chmod, chown */
#define WARD_FS_ACC_EXEC (1u << 8)
#define WARD_FS_ACC_DIR (1u << 9) /* the object is (or would be) a directory */

/* event flags */
#define WARD_FS_EV_TRUNCATED (1u << 0)	/* path longer than WARD_FS_PATH_MAX - 1: cut */
#define WARD_FS_EV_TRUNCATED2 (1u << 1) /* same for path2 */
#define WARD_FS_EV_NOPATH (1u << 2)	/* the path could not be read from user memory */
#define WARD_FS_EV_LSM (1u << 3)	/* refused by lsm/file_open (protected path) */
#define WARD_FS_EV_MISSING (1u << 4)	/* ENOENT: user space checks whether it is hidden */
#define WARD_FS_EV_HIDDEN (1u << 5)	/* ENOENT of a path already found hidden */
#define WARD_FS_EV_PROCMEM (1u << 6)	/* another process's mem/environ: caller killed */
#define WARD_FS_EV_DIR (1u << 7)	/* path2: the directory a relative path is in */

/* One refused filesystem syscall (tracepoints) or protected open (bpf-lsm). */
struct ward_fs_event {
	__u16 version; /* WARD_ABI_VERSION */
	__u8 op;       /* enum ward_fs_op */
	__u8 flags;    /* WARD_FS_EV_* */
	__u32 access;  /* WARD_FS_ACC_* */
	__u32 pid;     /* thread id (initial pid namespace) */
	__u32 tgid;    /* process id */
	__s32 ret;     /* -errno the syscall returned */
	__s32 dirfd;   /* directory fd of a relative path (WARD_FS_AT_FDCWD: the cwd) */
	__s32 dirfd2;  /* same for path2 */
	__u32 rule;    /* bpf-lsm: index of the protected root; ~0 otherwise */
	__u64 oflags;  /* open flags, AT_* flags or mode, as the syscall got them */
	__u64 ts_ns;   /* CLOCK_MONOTONIC at entry */
	__u64 dev;     /* executable identity (task->mm->exe_file) */
	__u64 ino;
	__u64 key;     /* WARD_FS_EV_MISSING/HIDDEN: the path's key in the dedup map */
	__u32 target;  /* WARD_FS_EV_PROCMEM: the other process (tgid) */
	__u8 procfile; /* WARD_FS_EV_PROCMEM: enum ward_fs_procfile */
	__u8 pad[3];
	char comm[16];		     /* display only */
	char path[WARD_FS_PATH_MAX]; /* as given to the syscall (may be relative) */
	/* second path: rename/link target, symlink target; with WARD_FS_EV_DIR
	 * the directory (cwd or dirfd) of a relative path, as the sandbox sees it */
	char path2[WARD_FS_PATH_MAX];
	__u64 cgid; /* cgroup v2 id of the task (its session, docs/audit.md) */
	__u32 uid;  /* real uid of the task (initial user namespace) */
	__u32 pad2;
	/* the task's executable (dev, ino above), as the sandbox's root shows
	 * it, read at the event: the row's binary when the task exited before
	 * user space read the event (empty: longer than the buffer, none) */
	char exe[WARD_FS_PATH_MAX];
};
_Static_assert(sizeof(struct ward_fs_event) == 880, "ward_fs_event");

/* Learn mode (bpf/fs_learn.bpf.c, src/enforcer/fs_learn.c; docs/learn.md):
 * the paths a sandbox read, wrote and executed, deduplicated per (executable,
 * file, class) and rate-limited in the kernel. */
#define WARD_FS_LEARN_RATE_PER_SEC 500 /* default token bucket for learn events */
#define WARD_FS_LEARN_RATE_BURST 1000
#define WARD_FS_LEARN_MAX_SEEN 65536 /* (executable, file, class) remembered (LRU) */
#define WARD_FS_LEARN_RINGBUF_BYTES (1024 * 1024)

enum ward_fs_learn_class {
	WARD_FS_LEARN_READ = 1,
	WARD_FS_LEARN_WRITE,
	WARD_FS_LEARN_EXEC,
};

#define WARD_FS_LEARN_EV_KERNEL (1u << 0)    /* path: absolute, as the sandbox's root shows it */
#define WARD_FS_LEARN_EV_TRUNCATED (1u << 1) /* the given path was longer than the buffer */
#define WARD_FS_LEARN_EV_DIR (1u << 2)	     /* the file is a directory */

struct ward_fs_learn_event {
	__u16 version; /* WARD_ABI_VERSION */
	__u8 op;       /* enum ward_fs_op */
	__u8 flags;    /* WARD_FS_LEARN_EV_* */
	__u8 class;    /* enum ward_fs_learn_class */
	__u8 pad[3];
	__u32 pid;    /* thread id (initial pid namespace) */
	__u32 tgid;   /* process id */
	__s32 dirfd;  /* without WARD_FS_LEARN_EV_KERNEL: the directory of a relative path */
	__u32 access; /* WARD_FS_ACC_* */
	__u64 ts_ns;  /* CLOCK_MONOTONIC */
	__u64 dev;    /* executable identity (task->mm->exe_file) */
	__u64 ino;
	__u64 cgid;
	char path[WARD_FS_PATH_MAX];
};
_Static_assert(sizeof(struct ward_fs_learn_event) == 312, "ward_fs_learn_event");

/* bpf-lsm maps: protected inode -> root index; (root, executable) allowed */
struct ward_fs_allow_key {
	__u32 root;
	__u32 pad;
	__u64 dev;
	__u64 ino;
};
_Static_assert(sizeof(struct ward_fs_allow_key) == 24, "ward_fs_allow_key");

/* Token bucket of denial events (one per sandbox), in milli-tokens. */
struct ward_fs_bucket {
	__u64 tokens;
	__u64 last_ns;
};
_Static_assert(sizeof(struct ward_fs_bucket) == 16, "ward_fs_bucket");

/* ---- unix sockets (bpf/unix.bpf.c, src/enforcer/unix*.c; docs/sandbox.md) ---- */

#define WARD_UNIX_PATH_MAX 108	 /* sizeof(sockaddr_un.sun_path) */
#define WARD_UNIX_MAX_RULES 4096 /* (identity, named path) pairs */

enum ward_unix_hook {
	WARD_UNIX_HOOK_CONNECT = 1,
	WARD_UNIX_HOOK_SENDMSG,
};

enum ward_unix_reason {
	WARD_UNIX_REASON_BROKER = 1, /* ward's broker connecting on the sandbox's behalf */
	WARD_UNIX_REASON_ABSTRACT,   /* abstract or unnamed address: Landlock scopes it */
	WARD_UNIX_REASON_NAMED,	     /* the exact path is named for the binary */
	WARD_UNIX_REASON_NOT_NAMED,  /* a path no unix: endpoint of the binary names */
	WARD_UNIX_REASON_MAX,
};

/* rules map key: a `unix:` path named for an executable identity; path is
 * NUL-terminated and zero-padded so that equal strings are equal keys */
struct ward_unix_key {
	__u64 dev;
	__u64 ino;
	char path[WARD_UNIX_PATH_MAX];
	__u32 pad;
};
_Static_assert(sizeof(struct ward_unix_key) == 128, "ward_unix_key");

struct ward_unix_val {
	__u32 pol;   /* index into policy->net */
	__u32 flags; /* WARD_IDENT_ANCESTORS */
};
_Static_assert(sizeof(struct ward_unix_val) == 8, "ward_unix_val");

/* event flags */
#define WARD_UNIX_EV_RELATIVE (1u << 0) /* the path did not start with '/' */
#define WARD_UNIX_EV_LONG (1u << 1)	/* 108 bytes, no NUL: path cut by one byte */

/* ring buffer event: refusals, and allows by name (datagrams, or connects the
 * seccomp broker did not see) */
struct ward_unix_event {
	__u16 version; /* WARD_ABI_VERSION */
	__u8 verdict;  /* enum ward_verdict */
	__u8 reason;   /* enum ward_unix_reason */
	__u8 hook;     /* enum ward_unix_hook */
	__u8 depth;    /* 0: own executable decided; n: n-th ancestor's */
	__u8 flags;    /* WARD_UNIX_EV_* */
	__u8 pad0;
	__u32 pid;   /* thread id (initial pid namespace) */
	__u32 tgid;  /* process id */
	__u32 pol;   /* policy->net index when allowed, ~0 otherwise */
	__u32 gen;   /* the policy generation that decided (pol is its; the row's rev) */
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u64 dev;   /* executable identity (the matched ancestor's when depth > 0) */
	__u64 ino;
	char comm[16]; /* display only */
	char path[WARD_UNIX_PATH_MAX];
	__u32 uid;  /* real uid of the task (initial user namespace) */
	__u64 cgid; /* cgroup v2 id of the task (its session, docs/audit.md) */
};
_Static_assert(sizeof(struct ward_unix_event) == 184, "ward_unix_event");
