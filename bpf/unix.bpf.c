// SPDX-License-Identifier: MIT OR GPL-2.0
/* Backstop for pathname unix sockets (docs/sandbox.md, "Unix sockets").
 *
 * cgroup connect_unix and sendmsg_unix (kernel >= 6.7) run before the kernel
 * resolves the address, so they decide by the string only (unix_decide.h):
 * ward's broker passes (it decided by inode), abstract addresses pass
 * (Landlock scopes them), a path named for the caller's executable passes;
 * anything else is EPERM. A connect() the seccomp broker never saw (an
 * address length of 16 or 28, a swap after the broker let it continue) or a
 * datagram to a path therefore still meets a decision. libbpf of this
 * distribution predates the connect_unix section names: the loader sets the
 * attach types (src/enforcer/unix.c).
 *
 * Policy generations, as in egress.bpf.c: each generation's rules are a map
 * of their own in slot id % WARD_GEN_SLOTS of `rules`; ward_active names the
 * one in force, read once per decision. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "unix_decide.h"
#include "exe_ident.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile struct ward_unix_cfg cfg = {};

/* the generation in force (low 32 bits; 0: none, nothing is named) */
__u64 ward_active = 0;

struct rule_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WARD_UNIX_MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* usually a handful of entries */
	__uint(key_size, sizeof(struct ward_unix_key));
	__uint(value_size, sizeof(struct ward_unix_val));
};

/* slot id % WARD_GEN_SLOTS -> generation id's rules (src/enforcer/unix.c
 * creates them after the template) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, WARD_GEN_SLOTS);
	__type(key, __u32);
	__array(values, struct rule_map);
} rules SEC(".maps");

/* generation 1's rules (the policy at load): not in a slot, so that loading
 * waits for no map-in-map update */
struct rule_map rules1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, WARD_RINGBUF_BYTES);
} events SEC(".maps");

/* [0] ring buffer events dropped */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* the key is too large for the stack beside the raw address */
struct scratch {
	struct ward_unix_key key;
	char raw[128]; /* sun_path's 110 bytes; 128 so a masked index stays inside */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* The executable's (dev, ino) into a key of this map (bpf/exe_ident.h). */
static __always_inline void unix_exe(struct task_struct *t, __u64 *dev, __u64 *ino)
{
	struct ward_ident_key k;

	exe_ident_core(t, &k);
	*dev = k.dev;
	*ino = k.ino;
}

/* The caller's executable, else the nearest ancestor (bounded) whose binary
 * entry says `ancestors`, that names this path. */
static __always_inline struct ward_unix_val *lookup(void *rules_gen, struct ward_unix_key *k,
						    __u8 *ret_depth, __u64 *own_dev, __u64 *own_ino)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct ward_unix_val *v;

	*ret_depth = 0;
	unix_exe(t, &k->dev, &k->ino);
	*own_dev = k->dev;
	*own_ino = k->ino;
	if (!rules_gen)
		return NULL;
	v = bpf_map_lookup_elem(rules_gen, k);
	if (ward_unix_match(v, 0))
		return v;
#pragma unroll
	for (int i = 1; i <= WARD_ANCESTOR_DEPTH; i++) {
		t = BPF_CORE_READ(t, real_parent);
		if (!t)
			break;
		unix_exe(t, &k->dev, &k->ino);
		v = bpf_map_lookup_elem(rules_gen, k);
		if (ward_unix_match(v, i)) {
			*ret_depth = i;
			return v;
		}
	}
	k->dev = *own_dev;
	k->ino = *own_ino;
	return NULL;
}

static __always_inline void emit(__u8 hook, __u8 verdict, __u8 reason, __u8 flags, __u8 depth,
				 const struct ward_unix_key *k, const struct ward_unix_val *v,
				 __u32 gen)
{
	struct ward_unix_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!e) {
		__u32 zero = 0;
		__u64 *n = bpf_map_lookup_elem(&drops, &zero);

		if (n)
			*n += 1;
		return;
	}
	e->version = WARD_ABI_VERSION;
	e->verdict = verdict;
	e->reason = reason;
	e->hook = hook;
	e->depth = depth;
	e->flags = flags;
	e->pad0 = 0;
	e->pid = (__u32)pid_tgid;
	e->tgid = pid_tgid >> 32;
	e->pol = v ? v->pol : ~0u;
	e->gen = gen;
	e->ts_ns = bpf_ktime_get_ns();
	e->dev = k->dev;
	e->ino = k->ino;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	__builtin_memcpy(e->path, k->path, sizeof(e->path));
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->cgid = bpf_get_current_cgroup_id();
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
}

static __always_inline int decide(struct bpf_sock_addr *ctx, __u8 hook)
{
	/* At run time ctx is the kernel's struct bpf_sock_addr_kern, as
	 * bpf_cast_to_kern_ctx() would return it; read through it as a plain
	 * kernel pointer instead: a kfunc makes libbpf parse the whole kernel
	 * BTF at every load (a quarter of a second here). */
	struct bpf_sock_addr_kern *kctx = (void *)ctx;
	struct sockaddr *uaddr;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, zero = 0, len, gen, slot;
	struct ward_unix_val *v = NULL;
	__u64 own_dev, own_ino;
	__u8 flags = 0, depth = 0, reason = 0;
	struct scratch *s;
	int kind, verdict;
	long copied;

	if (cfg.broker_tgid && tgid == cfg.broker_tgid)
		return 1;
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0; /* cannot happen; fail closed */
	len = BPF_CORE_READ(kctx, uaddrlen);
	uaddr = BPF_CORE_READ(kctx, uaddr);
	/* the kernel's copy of the address lives in a sockaddr_storage */
	if (!uaddr ||
	    bpf_probe_read_kernel(s->raw, WARD_SUN_PATH_OFF + WARD_UNIX_PATH_MAX, uaddr) < 0)
		return 0;
	len = ward_unix_path_len(len);
	if (len < WARD_UNIX_PATH_MAX)
		s->raw[(WARD_SUN_PATH_OFF + len) & 0x7f] = 0;
	s->raw[WARD_SUN_PATH_OFF + WARD_UNIX_PATH_MAX] = 0;
	__builtin_memset(&s->key, 0, sizeof(s->key));
	copied = len ? bpf_probe_read_kernel_str(s->key.path, sizeof(s->key.path),
						 s->raw + WARD_SUN_PATH_OFF)
		     : 0;
	kind = ward_unix_kind(s->raw, len, copied, &flags);
	/* one generation for the whole decision */
	gen = (__u32) * (volatile __u64 *)&ward_active;
	slot = gen % WARD_GEN_SLOTS;
	if (kind == WARD_UNIX_ADDR_PATH)
		v = lookup(gen == 1 ? (void *)&rules1
			   : gen    ? bpf_map_lookup_elem(&rules, &slot)
				    : NULL,
			   &s->key, &depth, &own_dev, &own_ino);
	else
		unix_exe((struct task_struct *)bpf_get_current_task(), &s->key.dev, &s->key.ino);
	verdict = ward_unix_decide(&cfg, tgid, kind, flags, v != NULL, &reason);
	if (ward_unix_reported(reason))
		emit(hook, verdict, reason, flags, depth, &s->key,
		     verdict == WARD_VERDICT_ALLOW ? v : NULL, gen);
	return verdict == WARD_VERDICT_ALLOW;
}

/* Section names of the inet hooks: the loader sets the unix attach types. */
SEC("cgroup/connect4")
int ward_connect_unix(struct bpf_sock_addr *ctx)
{
	return decide(ctx, WARD_UNIX_HOOK_CONNECT);
}

SEC("cgroup/sendmsg4")
int ward_sendmsg_unix(struct bpf_sock_addr *ctx)
{
	return decide(ctx, WARD_UNIX_HOOK_SENDMSG);
}
