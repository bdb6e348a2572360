// SPDX-License-Identifier: MIT OR GPL-2.0
/* Per-binary egress, decided in the kernel before a packet exists.
 *
 * cgroup connect4/6 and sendmsg4/6 identify the calling process by the
 * (dev, inode) of its executable (task->mm->exe_file), decide with
 * egress_decide.h, and either deny (EPERM), allow, or rewrite the destination
 * to the proxy's transparent port. Proxied connections are recorded under the
 * socket cookie; sock_ops copies that record under the client's local
 * (address, port) at TCP_CONNECT_CB, so the proxy identifies an accepted
 * connection with one lookup of its peer address. Every verdict is a ring
 * buffer event. See docs/egress.md.
 *
 * Policy generations: each policy's identities are a map of their own, in
 * slot id % WARD_GEN_SLOTS of `identities`; its ports and CIDRs are keys
 * tagged with its id in the flat maps. ward_active names the generation in
 * force; a decision reads it once and looks up only that generation's map
 * and keys, which user space writes completely before it stores the new id
 * (one aligned 64-bit store): a decision sees one whole generation, the old
 * or the new, never one being written. User space reuses a generation's
 * slot and deletes its keys only two generations later, after a map-in-map
 * update (which waits for running programs, synchronize_rcu) that came after
 * the switch away from it: no decision reads it by then. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "egress_decide.h"
#include "exe_ident.h"

#define AF_INET 2
#define AF_INET6 10

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* weak: a kernel without it (before 6.2) still loads the sandbox programs,
 * which never reach it (rodata); host mode then fails to load */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

const volatile struct ward_cfg cfg = {};

/* The generation in force: its id (low 32 bits; 0 none: every identity is
 * unknown) and its WARD_CFG_INFERENCE_ALL flag (high 32 bits). Written by
 * user space through the mmap'ed .bss, in one store. */
__u64 ward_active = 0;

/* Slot id % WARD_GEN_SLOTS: generation id's identities. The inner definition
 * (sizes, not types: BTF would only see the key types declared) is the
 * template user space creates each generation's map after
 * (src/enforcer/egress.c). */
struct ident_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WARD_MAX_IDENTITIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct ward_ident_key));
	__uint(value_size, sizeof(struct ward_ident_val));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, WARD_GEN_SLOTS);
	__type(key, __u32);
	__array(values, struct ident_map);
} identities SEC(".maps");

/* Generation 1's identities (the policy at load): a map of the object, not
 * in a slot, so that loading waits for no map-in-map update. */
struct ident_map identities1 SEC(".maps");

/* (entry, port, generation) of every live generation */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WARD_GEN_SLOTS *WARD_MAX_PORTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ward_port_key);
	__type(value, __u8);
} ports SEC(".maps");

/* (generation, entry, CIDR) of every live generation */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, WARD_GEN_SLOTS *WARD_MAX_CIDRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ward_cidr_key);
	__type(value, __u8);
} cidrs SEC(".maps");

/* A proxied TCP connection's record, from connect4 to sock_ops: connect4
 * (pre_connect) and TCP_CONNECT_CB run in the calling thread, in the same
 * connect() (or, with TCP_FASTOPEN_CONNECT, its first send), so the record
 * waits in that thread's own storage (made once per thread, then rewritten
 * in place) and sock_ops, finding it by its socket's cookie, files it in
 * peers. No table shared by every connect() to insert into and delete from.
 * A few slots, for a thread that connects again before its first SYN. */
#define WARD_PENDING 4
struct pending {
	struct ward_conn c[WARD_PENDING];
	__u32 next;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pending);
} conns SEC(".maps");

/* The same hand-over by socket cookie, where the kernel does not let these
 * programs use task storage (WARD_CFG_PENDING_COOKIE). LRU: a record whose
 * connect never reached sock_ops (refused further on) ages out; one evicted
 * before its sock_ops leaves the proxy without the peer, which it refuses. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, WARD_MAX_CONNS);
	__type(key, __u64);
	__type(value, struct ward_conn);
} tcp_pending SEC(".maps");

/* client (address, port) -> connection, for the proxy */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WARD_MAX_CONNS);
	__type(key, struct ward_peer_key);
	__type(value, struct ward_conn);
} peers SEC(".maps");

/* UDP sockets that were let through to the DNS stub: socket cookie ->
 * identity. A plain hash, never LRU: an evicted record would let the socket's
 * datagrams fall back on an older record of its port (someone else's). The
 * record goes away with the socket (sock_release); a full map refuses the
 * sendmsg/connect (fail closed, counted in drops[2]). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WARD_MAX_UDP_SOCKS);
	__type(key, __u64);
	__type(value, struct ward_conn);
} udp_socks SEC(".maps");

/* (family, source port) of a datagram to the stub -> identity, for the stub.
 * The address is ::ffff:0.0.0.0 (IPv4) or :: (IPv6): the stub only ever hears
 * this sandbox, whose ports are unique per family. Bounded by the port space.
 * Each datagram overwrites the entry with its own socket's record, or deletes
 * it when the socket has none; the socket's release deletes it too: an entry
 * never outlives the socket that wrote it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WARD_MAX_UDP_PEERS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ward_peer_key);
	__type(value, struct ward_conn);
} udp_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, WARD_RINGBUF_BYTES);
} events SEC(".maps");

/* Programs executed in the sandbox whose file has no identity yet (exec_events). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, WARD_EXEC_RINGBUF_BYTES);
} execs SEC(".maps");

/* [0]: the sandbox cgroup, set by user space at attach: the exec tracepoint
 * is global, and returns at once for every task outside it. */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} sandbox_cg SEC(".maps");

/* [0] ring buffer events dropped, [1] peer records that did not fit,
 * [2] UDP sockets refused because udp_socks was full, [3] exec events dropped */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* ---- host mode (WARD_CFG_HOST): pinned with the links (egress_host.c) ---- */

/* Where redirects go and whose sockets must listen there (mmap'ed by user
 * space, which switches slots with one store). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct ward_host_state);
} host_state SEC(".maps");

/* cgroup ids whose tasks (and their descendants) are never touched */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WARD_HOST_MAX_EXEMPT);
	__type(key, __u64);
	__type(value, __u8);
} host_exempt SEC(".maps");

/* [0] redirects refused because the registered listener was not there
 * (the daemon down, or someone else on its port): fail closed, counted */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} host_failclosed SEC(".maps");

/* The generation one decision reads (ward_kdecide hands it to the lookups). */
struct ward_kmaps {
	__u32 gen;
	__u32 flags;
};

static __always_inline struct ward_kmaps ward_gen_now(void)
{
	__u64 a = *(volatile __u64 *)&ward_active;
	struct ward_kmaps m = { .gen = (__u32)a, .flags = (__u32)(a >> 32) };

	return m;
}

static __always_inline int ward_port_allowed(const struct ward_kmaps *m, __u32 entry, __u16 port)
{
	struct ward_port_key k = { .entry = entry, .port = port, .gen = (__u16)m->gen };

	return bpf_map_lookup_elem(&ports, &k) != NULL;
}

static __always_inline int ward_ip_allowed(const struct ward_kmaps *m, __u32 entry,
					   const struct ward_addr *a)
{
	struct ward_cidr_key k;

	ward_cidr_key_make_gen(&k, m->gen, entry, a, 128);
	return bpf_map_lookup_elem(&cidrs, &k) != NULL;
}

/* The identity map of generation m (NULL: none in force yet). */
static __always_inline void *gen_identities(const struct ward_kmaps *m)
{
	__u32 slot = m->gen % WARD_GEN_SLOTS;

	if (m->gen == 1)
		return &identities1;
	return bpf_map_lookup_elem(&identities, &slot);
}

static __always_inline void count_drop(__u32 idx)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &idx);

	if (n)
		*n += 1;
}

/* The process's own executable decides when it is known; otherwise the
 * nearest ancestor (up to WARD_ANCESTOR_DEPTH) whose identity opts in.
 * ids: the generation's identity map, NULL when there is none. */
static __always_inline struct ward_ident_val *resolve(void *ids, struct ward_ident_key *k,
						      struct ward_ident_key *own, __u8 *ret_depth)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct ward_ident_key pk;
	struct ward_ident_val *v;
	struct file *f;

	*ret_depth = 0;
	f = exe_ident(t, own);
	*k = *own;
	if (!ids)
		return NULL;
	/* an identity whose pins no longer hold is none (exe_ident.h) */
	v = bpf_map_lookup_elem(ids, own);
	if (v && exe_ident_pinned(f, v))
		return v;
#pragma unroll
	for (int i = 1; i <= WARD_ANCESTOR_DEPTH; i++) {
		t = t->real_parent;
		if (!t)
			break;
		f = exe_ident(t, &pk);
		v = bpf_map_lookup_elem(ids, &pk);
		if (v && (v->flags & WARD_IDENT_ANCESTORS) && exe_ident_pinned(f, v)) {
			*k = pk;
			*ret_depth = i;
			return v;
		}
	}
	return NULL;
}

static __always_inline void emit(__u8 hook, const struct ward_req *req, const struct ward_result *r,
				 const struct ward_ident_key *k, const struct ward_ident_key *own,
				 const struct ward_ident_val *v, __u8 depth, __u64 pid_tgid,
				 __u32 gen)
{
	struct ward_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_drop(0);
		return;
	}
	e->version = WARD_ABI_VERSION;
	e->verdict = r->verdict;
	e->reason = r->reason;
	e->hook = hook;
	e->proto = req->proto;
	e->depth = depth;
	e->pad0 = 0;
	e->pid = (__u32)pid_tgid;
	e->tgid = pid_tgid >> 32;
	e->entry = v ? v->entry : WARD_ENTRY_NONE;
	e->gen = gen;
	e->ts_ns = bpf_ktime_get_ns();
	e->dev = k->dev;
	e->ino = k->ino;
	__builtin_memcpy(e->dst, &r->dst, 16);
	__builtin_memcpy(e->orig, &req->dst, 16);
	e->dst_port = r->port;
	e->orig_port = req->port;
	e->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->own_dev = own->dev;
	e->own_ino = own->ino;
	e->cgid = bpf_get_current_cgroup_id();
	/* Waking the reader per event costs a context switch per connect(); wake
	 * it for denials (rare, and worth naming the binary while it still runs)
	 * or when a quarter of the buffer is used; it also polls on a timer. */
	bpf_ringbuf_submit(e, r->verdict == WARD_VERDICT_DENY ||
					      bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >=
						      WARD_RINGBUF_BYTES / 4
				      ? BPF_RB_FORCE_WAKEUP
				      : BPF_RB_NO_WAKEUP);
}

/* The record of a proxied socket: for sock_ops in the task (TCP) or by
 * cookie (UDP, which the DNS stub's lookups check from user space); 0 or
 * -errno. */
static __always_inline int store_conn(struct bpf_sock_addr *ctx, __u8 proto,
				      const struct ward_conn *c)
{
	struct pending *pd;

	if (proto == IPPROTO_UDP)
		return bpf_map_update_elem(&udp_socks, &c->cookie, c, BPF_ANY);
	/* rodata: the verifier never walks the branch not taken */
	if (cfg.flags & WARD_CFG_PENDING_COOKIE)
		return bpf_map_update_elem(&tcp_pending, &c->cookie, c, BPF_ANY);
	pd = bpf_task_storage_get(&conns, bpf_get_current_task_btf(), 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!pd)
		return -1;
	pd->c[pd->next++ % WARD_PENDING] = *c;
	return 0;
}

/* Host mode: the task's cgroup or one of its ancestors is exempt. */
static __always_inline int host_exempt_task(void)
{
	__u64 id = bpf_get_current_cgroup_id();

	if (bpf_map_lookup_elem(&host_exempt, &id))
		return 1;
#pragma unroll
	for (int l = 1; l <= WARD_HOST_EXEMPT_DEPTH; l++) {
		id = bpf_get_current_ancestor_cgroup_id(l);
		if (!id)
			break; /* deeper than the task's own cgroup */
		if (bpf_map_lookup_elem(&host_exempt, &id))
			return 1;
	}
	return 0;
}

/* Host mode: the socket listening where r sends the connection is the one
 * the daemon registered (its cookie). No listener, or another socket on the
 * port: the daemon is down (or someone took its port), fail closed. */
static __always_inline int host_listener_ok(struct bpf_sock_addr *ctx, const struct ward_result *r,
					    __u8 proto, __u64 want)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	struct sock *s;
	__u64 cookie = 0;

	__u32 tlen = sizeof(t.ipv4);

	if (!want)
		return 0;
	if (ward_addr_is_mapped(&r->dst)) {
		t.ipv4.daddr = r->dst.w[3];
		t.ipv4.dport = bpf_htons(r->port);
	} else {
		/* ::1, the daemon's IPv6 listeners */
		t.ipv6.daddr[0] = r->dst.w[0];
		t.ipv6.daddr[1] = r->dst.w[1];
		t.ipv6.daddr[2] = r->dst.w[2];
		t.ipv6.daddr[3] = r->dst.w[3];
		t.ipv6.dport = bpf_htons(r->port);
		tlen = sizeof(t.ipv6);
	}
	if (proto == IPPROTO_UDP)
		sk = bpf_sk_lookup_udp(ctx, &t, tlen, BPF_F_CURRENT_NETNS, 0);
	else
		sk = bpf_sk_lookup_tcp(ctx, &t, tlen, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	/* SO_COOKIE gave the daemon sk_cookie; no helper reads another
	 * socket's, a read-only view of the struct does */
	s = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct sock));
	cookie = s->__sk_common.skc_cookie.counter;
	bpf_sk_release(sk);
	return cookie == want;
}

static __always_inline void count_failclosed(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&host_failclosed, &zero);

	if (n)
		*n += 1;
}

/* Host mode's decision (before the record and the event). Returns 1 when the
 * task is exempt or the destination the host's own (allowed, no row). */
static __always_inline int host_decide(struct bpf_sock_addr *ctx, const struct ward_kmaps *m,
				       const struct ward_req *req, const struct ward_ident_val *v,
				       struct ward_result *r)
{
	struct ward_host_state *hs;
	struct ward_host_slot *sl;
	__u32 zero = 0;
	__u64 want;
	int six;

	hs = bpf_map_lookup_elem(&host_state, &zero);
	if (!hs) {
		r->dst = req->dst;
		r->port = req->port;
		r->record = 0;
		return ward_set(r, WARD_VERDICT_DENY, WARD_REASON_DAEMON_DOWN);
	}
	sl = &hs->slot[*(volatile __u64 *)&hs->active & 1];
	/* listeners on ::1 registered: native IPv6 destinations go there */
	ward_kdecide_host(&cfg, m, req, v, sl->proxy_port, sl->dns_port, sl->proxy6_cookie != 0, r);
	if (r->verdict != WARD_VERDICT_REDIRECT)
		return r->verdict;
	six = !ward_addr_is_mapped(&r->dst);
	if (req->proto == IPPROTO_UDP)
		want = six ? sl->dns_udp6_cookie : sl->dns_udp_cookie;
	else if (r->reason == WARD_REASON_DNS_STUB)
		want = six ? sl->dns_tcp6_cookie : sl->dns_tcp_cookie;
	else
		want = six ? sl->proxy6_cookie : sl->proxy_cookie;
	if (host_listener_ok(ctx, r, req->proto, want))
		return r->verdict;
	count_failclosed();
	r->dst = req->dst;
	r->port = req->port;
	r->record = 0;
	r->conn_flags = 0;
	return ward_host_refuse(&cfg, r, WARD_REASON_DAEMON_DOWN);
}

/* Decide, record proxied connections, emit the event. Returns the verdict;
 * r->dst/r->port hold the destination to write back. */
static __always_inline int handle(struct bpf_sock_addr *ctx, struct ward_req *req,
				  struct ward_result *r, __u8 hook)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ward_kmaps m;
	struct ward_ident_key k, own;
	struct ward_ident_val *v;
	__u8 depth;

	req->proto = ctx->protocol;
	req->pad = 0;
	if (cfg.flags & WARD_CFG_HOST) {
		/* the host's own traffic and the exempt leave before any lookup */
		if ((req->port != 53 && ward_addr_is_loopback(&req->dst)) || host_exempt_task())
			return WARD_VERDICT_ALLOW;
	}
	m = ward_gen_now();
	v = resolve(m.gen ? gen_identities(&m) : NULL, &k, &own, &depth);
	if (cfg.flags & WARD_CFG_HOST) {
		/* an exempt executable (its own file, not an ancestor's): no
		 * decision, no row, like an exempt cgroup */
		if (v && !depth && (v->flags & WARD_IDENT_EXEMPT))
			return WARD_VERDICT_ALLOW;
		host_decide(ctx, &m, req, v, r);
		if (r->verdict == WARD_VERDICT_ALLOW)
			return r->verdict; /* loopback: no row */
	} else {
		ward_kdecide(&cfg, m.flags, &m, req, v, r);
	}
	if (r->record) {
		struct ward_conn c = {
			.dev = k.dev,
			.ino = k.ino,
			.cookie = bpf_get_socket_cookie(ctx),
			.entry = v ? v->entry : WARD_ENTRY_NONE,
			.tgid = pid_tgid >> 32,
			.orig_port = req->port,
			.flags = r->conn_flags,
			.depth = depth,
			.gen = (__u16)m.gen,
			.own_dev = own.dev,
			.own_ino = own.ino,
			.cgid = bpf_get_current_cgroup_id(),
		};

		__builtin_memcpy(c.orig, &req->dst, 16);
		/* Without the record the proxy could not tell who this is: fail closed. */
		if (store_conn(ctx, req->proto, &c)) {
			if (req->proto == IPPROTO_UDP)
				count_drop(2);
			r->verdict = WARD_VERDICT_DENY;
			r->reason = WARD_REASON_CONN_FULL;
			r->dst = req->dst;
			r->port = req->port;
		}
	}
	/* A connection recorded for the proxy or the DNS stub is theirs to log:
	 * they write the row, with the host and what was asked. Refusals and
	 * direct allows (loopback) are rows of this layer. */
	if (!r->record || r->verdict == WARD_VERDICT_DENY)
		emit(hook, req, r, &k, &own, v, depth, pid_tgid, m.gen);
	return r->verdict;
}

static __always_inline int sock_addr4(struct bpf_sock_addr *ctx, __u8 hook)
{
	struct ward_result r;
	struct ward_req req;

	ward_addr_from4(&req.dst, ctx->user_ip4);
	req.port = bpf_ntohs(ctx->user_port);
	switch (handle(ctx, &req, &r, hook)) {
	case WARD_VERDICT_REDIRECT:
		ctx->user_ip4 = r.dst.w[3];
		ctx->user_port = bpf_htons(r.port);
		return 1;
	case WARD_VERDICT_ALLOW:
	case WARD_VERDICT_AUDIT:
		return 1;
	default:
		return 0;
	}
}

static __always_inline int sock_addr6(struct bpf_sock_addr *ctx, __u8 hook)
{
	struct ward_result r;
	struct ward_req req;

	req.dst.w[0] = ctx->user_ip6[0];
	req.dst.w[1] = ctx->user_ip6[1];
	req.dst.w[2] = ctx->user_ip6[2];
	req.dst.w[3] = ctx->user_ip6[3];
	req.port = bpf_ntohs(ctx->user_port);
	switch (handle(ctx, &req, &r, hook)) {
	case WARD_VERDICT_REDIRECT:
		ctx->user_ip6[0] = r.dst.w[0];
		ctx->user_ip6[1] = r.dst.w[1];
		ctx->user_ip6[2] = r.dst.w[2];
		ctx->user_ip6[3] = r.dst.w[3];
		ctx->user_port = bpf_htons(r.port);
		return 1;
	case WARD_VERDICT_ALLOW:
	case WARD_VERDICT_AUDIT:
		return 1;
	default:
		return 0;
	}
}

SEC("cgroup/connect4")
int ward_connect4(struct bpf_sock_addr *ctx)
{
	return sock_addr4(ctx, WARD_HOOK_CONNECT4);
}

SEC("cgroup/connect6")
int ward_connect6(struct bpf_sock_addr *ctx)
{
	return sock_addr6(ctx, WARD_HOOK_CONNECT6);
}

SEC("cgroup/sendmsg4")
int ward_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock_addr4(ctx, WARD_HOOK_SENDMSG4);
}

SEC("cgroup/sendmsg6")
int ward_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sock_addr6(ctx, WARD_HOOK_SENDMSG6);
}

/* The client's local address as the proxy will see it as its peer. An IPv6
 * socket connected to a mapped address is an IPv4 connection: use local_ip4. */
static __always_inline void peer_key(struct bpf_sock_ops *skops, struct ward_peer_key *pk)
{
	struct ward_addr a;

	a.w[0] = skops->local_ip6[0];
	a.w[1] = skops->local_ip6[1];
	a.w[2] = skops->local_ip6[2];
	a.w[3] = skops->local_ip6[3];
	if (skops->family == AF_INET || ward_addr_is_mapped(&a) ||
	    (a.w[0] | a.w[1] | a.w[2] | a.w[3]) == 0)
		ward_addr_from4(&a, skops->local_ip4);
	__builtin_memcpy(pk->addr, &a, 16);
	pk->port = skops->local_port;
	pk->pad = 0;
}

SEC("sockops")
int ward_sockops(struct bpf_sock_ops *skops)
{
	struct ward_peer_key pk;
	struct ward_conn *c, *p;
	struct pending *pd;
	__u64 cookie;

	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		cookie = bpf_get_socket_cookie(skops);
		if (cfg.flags & WARD_CFG_PENDING_COOKIE) {
			c = cookie ? bpf_map_lookup_elem(&tcp_pending, &cookie) : NULL;
			if (!c)
				break;
			peer_key(skops, &pk);
			if (bpf_map_update_elem(&peers, &pk, c, BPF_ANY))
				count_drop(1);
			bpf_map_delete_elem(&tcp_pending, &cookie);
			bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
								 BPF_SOCK_OPS_STATE_CB_FLAG);
			break;
		}
		pd = bpf_task_storage_get(&conns, bpf_get_current_task_btf(), 0, 0);
		if (!pd)
			break;
		/* the record connect4 left for this socket, used once */
		c = NULL;
#pragma unroll
		for (int i = 0; i < WARD_PENDING; i++)
			if (!c && pd->c[i].cookie == cookie)
				c = &pd->c[i];
		if (!c || !cookie)
			break;
		peer_key(skops, &pk);
		if (bpf_map_update_elem(&peers, &pk, c, BPF_ANY))
			count_drop(1);
		c->cookie = 0;
		/* to remove the peer record when the connection closes */
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
							 BPF_SOCK_OPS_STATE_CB_FLAG);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] != BPF_TCP_CLOSE)
			break;
		cookie = bpf_get_socket_cookie(skops);
		peer_key(skops, &pk);
		/* the port may already belong to a newer connection: only our own record */
		p = bpf_map_lookup_elem(&peers, &pk);
		if (p && p->cookie == cookie)
			bpf_map_delete_elem(&peers, &pk);
		break;
	default:
		break;
	}
	return 1;
}

/* DNS datagrams to the stub: copy the sending socket's record (udp_socks)
 * under the datagram's (family, source port), which is all the stub sees of
 * its client. Here because a connected UDP socket has no port yet when
 * connect4 runs. A socket without a record removes the port's entry, so the
 * stub refuses it rather than answer as the port's previous user. Never
 * drops: the stub refuses what it cannot identify. */
SEC("cgroup_skb/egress")
int ward_skb_egress(struct __sk_buff *skb)
{
	struct ward_peer_key pk = {};
	struct ward_conn *c;
	struct ward_addr dst;
	__u16 ports[2];
	struct bpf_sock *sk = skb->sk;
	__u64 cookie;
	__u32 off;
	__u8 ipv[1];

	/* every TCP packet passes here: leave before reading the packet */
	if (sk)
		sk = bpf_sk_fullsock(sk);
	if (sk && sk->protocol != IPPROTO_UDP)
		return 1;
	if (bpf_skb_load_bytes(skb, 0, ipv, 1))
		return 1;
	if ((ipv[0] >> 4) == 4) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) || ip.protocol != IPPROTO_UDP)
			return 1;
		ward_addr_from4(&dst, ip.daddr);
		ward_addr_from4((struct ward_addr *)pk.addr, 0);
		off = (ip.ihl & 0xf) * 4;
	} else if ((ipv[0] >> 4) == 6) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)) || ip6.nexthdr != IPPROTO_UDP)
			return 1;
		__builtin_memcpy(&dst, &ip6.daddr, 16);
		off = sizeof(ip6);
	} else {
		return 1;
	}
	if (!ward_is_dns(&cfg, &dst) || bpf_skb_load_bytes(skb, off, ports, sizeof(ports)))
		return 1;
	if (cfg.flags & WARD_CFG_HOST) {
		__u32 zero = 0;
		struct ward_host_state *hs = bpf_map_lookup_elem(&host_state, &zero);

		if (!hs ||
		    bpf_ntohs(ports[1]) != hs->slot[*(volatile __u64 *)&hs->active & 1].dns_port)
			return 1;
	} else if (bpf_ntohs(ports[1]) != cfg.dns_port) {
		return 1;
	}
	cookie = bpf_get_socket_cookie(skb);
	c = bpf_map_lookup_elem(&udp_socks, &cookie);
	pk.port = bpf_ntohs(ports[0]);
	if (!c) {
		bpf_map_delete_elem(&udp_peers, &pk);
		return 1;
	}
	/* for sock_release, which cannot read the socket's port */
	c->sport = pk.port;
	if (bpf_map_update_elem(&udp_peers, &pk, c, BPF_ANY))
		count_drop(1);
	return 1;
}

static __always_inline void udp_peer_forget(struct ward_peer_key *pk, __u64 cookie)
{
	struct ward_conn *p = bpf_map_lookup_elem(&udp_peers, pk);

	/* the port may already carry a newer socket's record: only our own */
	if (p && p->cookie == cookie)
		bpf_map_delete_elem(&udp_peers, pk);
}

/* A UDP socket's records die with it: its cookie record and the entry its
 * datagrams wrote under its port (IPv4 or IPv6 key: an IPv6 socket may have
 * sent IPv4-mapped datagrams). Keeps udp_socks from filling with the dead. */
SEC("cgroup/sock_release")
int ward_sock_release(struct bpf_sock *sk)
{
	struct ward_peer_key pk = {};
	struct ward_conn *c;
	__u64 cookie;

	if (sk->protocol != IPPROTO_UDP)
		return 1;
	cookie = bpf_get_socket_cookie(sk);
	c = bpf_map_lookup_elem(&udp_socks, &cookie);
	if (!c)
		return 1;
	pk.port = c->sport;
	bpf_map_delete_elem(&udp_socks, &cookie);
	if (!pk.port)
		return 1; /* it never sent a datagram to the stub */
	ward_addr_from4((struct ward_addr *)pk.addr, 0);
	udp_peer_forget(&pk, cookie);
	__builtin_memset(pk.addr, 0, sizeof(pk.addr));
	udp_peer_forget(&pk, cookie);
	return 1;
}

/* A program was executed. Binary globs name files that may not exist when
 * the sandbox starts (agents copy and update themselves): an exec inside the
 * sandbox of a file without identity goes to ward, which matches its path
 * against the policy (src/enforcer/egress_exec.c) and may add the identity
 * before the program's first connect. A raw tracepoint, not a syscall one:
 * only exec pays, and tasks outside the sandbox cgroup leave at once. */
SEC("raw_tp/sched_process_exec")
int ward_exec(struct bpf_raw_tracepoint_args *ctx)
{
	struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
	struct ward_kmaps m;
	struct ward_exec_event *e;
	struct ward_ident_key k;
	const char *fn;
	void *ids;

	if (bpf_current_task_under_cgroup(&sandbox_cg, 0) != 1)
		return 0;
	exe_ident(bpf_get_current_task_btf(), &k);
	if (!k.ino)
		return 0;
	/* known to the generation in force: nothing to ask */
	m = ward_gen_now();
	ids = m.gen ? gen_identities(&m) : NULL;
	if (ids && bpf_map_lookup_elem(ids, &k))
		return 0;
	e = bpf_ringbuf_reserve(&execs, sizeof(*e), 0);
	if (!e) {
		count_drop(3);
		return 0;
	}
	e->version = WARD_ABI_VERSION;
	e->pad0 = 0;
	e->tgid = bpf_get_current_pid_tgid() >> 32;
	e->dev = k.dev;
	e->ino = k.ino;
	fn = BPF_CORE_READ(bprm, filename);
	if (bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), fn) < 0)
		e->filename[0] = '\0';
	/* wake ward now: the program's first connect is near */
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	return 0;
}
