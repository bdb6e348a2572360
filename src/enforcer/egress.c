// SPDX-License-Identifier: MIT
/* Loader for bpf/egress.bpf.c: open → configure rodata → load → fill maps →
 * attach to the sandbox cgroup; the proxy's identity lookups. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/owner.h"
#include "common/strv.h"
#include "enforcer/btf.h"
#include "common/util.h"
#include "enforcer/egress_internal.h"
/* before the skeleton, which names struct ward_cfg */
#define WARD_DECIDE_HELPERS_ONLY
#include "../../bpf/egress_decide.h"
#include "egress.skel.h"

DEFINE_CLEANUP(struct egress_bpf *, egress_bpf__destroy)
DEFINE_CLEANUP(struct ward_egress *, ward_egress_free)

static void addr_from_in6(struct ward_addr *a, const struct in6_addr *in6)
{
	memcpy(a->w, in6->s6_addr, 16);
}

static void cfg_fill(struct ward_cfg *c, const struct ward_egress_config *cfg)
{
	memset(c, 0, sizeof(*c));
	ward_addr_from4(&c->proxy4, cfg->proxy4.s_addr);
	ward_addr_from4(&c->dns4, cfg->dns4.s_addr);
	if (cfg->has_proxy6) {
		addr_from_in6(&c->proxy6, &cfg->proxy6);
		c->flags |= WARD_CFG_PROXY6;
	}
	if (cfg->has_dns6) {
		addr_from_in6(&c->dns6, &cfg->dns6);
		c->flags |= WARD_CFG_DNS6;
	}
	c->explicit_port = cfg->explicit_port;
	c->transparent_port = cfg->transparent_port;
	c->dns_port = cfg->dns_port ? cfg->dns_port : 53;
	/* a sandbox under --learn (docs/learn.md); host mode sets it itself */
	if (cfg->audit_mode)
		c->flags |= WARD_CFG_AUDIT;
	/* WARD_CFG_INFERENCE_ALL is the policy generation's (egress_gen_new) */
}

/* Record a key g wrote, for egress_unfill. */
static int keep_key(void **v, size_t *n, size_t *cap, const void *key, size_t size)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 16;
		void *p = realloc(*v, c * size);

		if (!p)
			return -ENOMEM;
		*v = p;
		*cap = c;
	}
	memcpy((char *)*v + *n * size, key, size);
	return 0;
}

void egress_unfill(struct egress_gen *g, int ports_fd, int cidrs_fd)
{
	for (size_t i = 0; i < g->n_ports; i++)
		(void)bpf_map_delete_elem(ports_fd, &g->port_keys[i]);
	for (size_t i = 0; i < g->n_cidrs; i++)
		(void)bpf_map_delete_elem(cidrs_fd, &g->cidr_keys[i]);
	g->n_ports = g->n_cidrs = 0;
}

int egress_fill_entry(struct egress_gen *g, int ports_fd, int cidrs_fd, size_t en,
		      struct ward_error *err)
{
	const struct ward_policy *p = g->policy;
	const struct egress_entry *ent = &g->entries[en];
	uint8_t one = 1;
	int r;

	for (size_t i = 0; i < ent->n_pols; i++) {
		const struct ward_net_policy *np = &p->net[ent->pols[i]];

		for (size_t j = 0; j < np->n_endpoints; j++) {
			const struct ward_endpoint *ep = &np->endpoints[j];

			for (size_t k = 0; k < ep->n_ports; k++) {
				struct ward_port_key pk = { .entry = (uint32_t)en,
							    .port = ep->ports[k],
							    .gen = (uint16_t)g->seq };

				if (g->n_ports >= WARD_MAX_PORTS)
					return ward_errx(err, -E2BIG,
							 "more than %d (binary set, port) pairs",
							 WARD_MAX_PORTS);
				r = bpf_map_update_elem(ports_fd, &pk, &one, BPF_NOEXIST);
				if (r == -EEXIST)
					continue;
				if (r < 0)
					return ward_err(err, r, "port map");
				if (keep_key((void **)&g->port_keys, &g->n_ports, &g->cap_ports,
					     &pk, sizeof(pk)) < 0) {
					(void)bpf_map_delete_elem(ports_fd, &pk);
					return ward_err(err, -ENOMEM, "port map");
				}
				g->n_ports++;
			}
			for (size_t k = 0; k < ep->n_allowed_ips; k++) {
				const struct ward_cidr *c = &ep->allowed_ips[k];
				struct ward_cidr_key ck;
				struct ward_addr a;
				uint32_t prefix = c->prefix;

				if (c->family == AF_INET) {
					uint32_t v4;

					memcpy(&v4, c->addr, 4);
					ward_addr_from4(&a, v4);
					prefix += 96;
				} else {
					memcpy(a.w, c->addr, 16);
				}
				if (prefix > 128)
					return ward_errx(err, -EINVAL,
							 "allowed_ips: bad prefix /%u", c->prefix);
				ward_cidr_key_make_gen(&ck, g->seq, (uint32_t)en, &a, prefix);
				if (g->n_cidrs >= WARD_MAX_CIDRS)
					return ward_errx(err, -E2BIG,
							 "more than %d (binary set, CIDR) pairs",
							 WARD_MAX_CIDRS);
				r = bpf_map_update_elem(cidrs_fd, &ck, &one, BPF_NOEXIST);
				if (r == -EEXIST)
					continue;
				if (r < 0)
					return ward_err(err, r, "allowed_ips map");
				if (keep_key((void **)&g->cidr_keys, &g->n_cidrs, &g->cap_cidrs,
					     &ck, sizeof(ck)) < 0) {
					(void)bpf_map_delete_elem(cidrs_fd, &ck);
					return ward_err(err, -ENOMEM, "allowed_ips map");
				}
				g->n_cidrs++;
			}
		}
	}
	return 0;
}

static int create_idents_map(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);

	/* after the template ident_map of egress.bpf.c */
	return bpf_map_create(BPF_MAP_TYPE_HASH, "ward_idents", sizeof(struct ward_ident_key),
			      sizeof(struct ward_ident_val), WARD_MAX_IDENTITIES, &opts);
}

static int ports_fd(const struct ward_egress *e)
{
	return bpf_map__fd(e->skel->maps.ports);
}

static int cidrs_fd(const struct ward_egress *e)
{
	return bpf_map__fd(e->skel->maps.cidrs);
}

/* Generation g's kernel side, beside the one in force: its identity map
 * (the one waiting in its slot, or a new one) and its keys in the port and
 * CIDR maps. Nothing reads them yet. */
static int gen_maps(struct ward_egress *e, struct egress_gen *g, bool *ret_placed,
		    struct ward_error *err)
{
	int r;

	g->fds[0] = egress_slots_take(&e->slots, g->seq, ret_placed);
	if (g->fds[0] < 0)
		return ward_err(err, g->fds[0], "create the identity map of policy generation %u",
				g->seq);
	for (size_t i = 0; i < g->n_idents; i++) {
		struct ward_ident_val v = egress_ident_val(&g->idents[i]);

		r = bpf_map_update_elem(g->fds[0], &g->idents[i].key, &v, BPF_NOEXIST);
		if (r < 0)
			return ward_err(err, r, "identity map: add '%s'", g->idents[i].path);
	}
	for (size_t en = 0; en < g->n_entries; en++) {
		r = egress_fill_entry(g, ports_fd(e), cidrs_fd(e), en, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Undo gen_maps of a generation that never came into force. */
static void gen_unmaps(struct ward_egress *e, struct egress_gen *g, bool placed)
{
	egress_unfill(g, ports_fd(e), cidrs_fd(e));
	egress_slots_giveback(&e->slots, g->seq, g->fds[0], placed);
	g->fds[0] = -1;
}

/* Identities added at exec under the previous generation, matched against
 * the new one's policy as if the program were executed now (the process
 * that executed it must still run it: else the next exec of the file asks
 * again). */
static void carry_exec_idents(struct ward_egress *e, const struct egress_gen *old,
			      struct egress_gen *g)
{
	size_t n = old ? egress_n_idents(old) : 0;

	for (size_t i = 0; i < n; i++) {
		const struct egress_ident *id = &old->idents[i];
		struct ward_exec_event ev = { .version = WARD_ABI_VERSION,
					      .tgid = (uint32_t)id->tgid,
					      .dev = id->key.dev,
					      .ino = id->key.ino };

		if (!id->from_exec || egress_ident_find(g, id->key.dev, id->key.ino))
			continue;
		snprintf(ev.filename, sizeof(ev.filename), "%s", id->path);
		egress_exec_match(e, g, &ev, false);
	}
}

/* A complete generation for p, maps filled, not yet in force. */
static int gen_build(struct ward_egress *e, const struct ward_policy *p, struct egress_gen **ret,
		     bool *ret_placed, struct ward_error *err)
{
	struct egress_gen *g = NULL;
	int r;

	*ret_placed = false;
	r = egress_gen_new(&e->gens, p, &g);
	if (r < 0)
		return ward_err(err, r, "egress");
	r = egress_idents_build(e, g, p, err);
	if (r >= 0)
		r = gen_maps(e, g, ret_placed, err);
	if (r >= 0 && e->gens.cur)
		carry_exec_idents(e, e->gens.cur, g);
	if (r < 0) {
		gen_unmaps(e, g, *ret_placed);
		egress_gen_free(g);
		return r;
	}
	*ret = g;
	return 0;
}

/* The switch: g's map into its slot, g into the table readers use, then one
 * store of the active word. Then what nobody can read any more goes: the
 * keys of the generation two back (the wait of the previous settle covered
 * it); the slot of two generations back receives the next generation's
 * empty map at the settle (the map-in-map update waits for running
 * programs: not while the other layers wait to switch). */
static void gen_switch(struct ward_egress *e, struct egress_gen *g)
{
	struct egress_gen *old2 = g->older ? g->older->older : NULL;

	__atomic_store_n(&e->skel->bss->ward_active, (uint64_t)g->flags << 32 | g->seq,
			 __ATOMIC_RELEASE);
	if (old2)
		egress_unfill(old2, ports_fd(e), cidrs_fd(e));
	e->slots.settle_seq = g->seq;
}

void ward_egress_settle(struct ward_egress *e)
{
	pthread_mutex_lock(&e->apply_lock);
	egress_slots_settle(&e->slots);
	pthread_mutex_unlock(&e->apply_lock);
}

int ward_egress_apply(struct ward_egress *e, const struct ward_policy *p, struct ward_error *err)
{
	char **warnings = e->warnings;
	size_t n_warnings = e->n_warnings;
	struct egress_gen *g = NULL;
	bool placed;
	int r;

	pthread_mutex_lock(&e->apply_lock);
	/* the previous switch's wait, unless a settle ran it */
	egress_slots_settle(&e->slots);
	e->warnings = NULL;
	e->n_warnings = 0;
	r = gen_build(e, p, &g, &placed, err);
	if (r >= 0) {
		r = egress_slots_put(&e->slots, g->seq, g->fds[0], placed);
		if (r < 0) {
			ward_err(err, r, "publish policy generation %u", g->seq);
			gen_unmaps(e, g, placed);
			egress_gen_free(g);
		}
	}
	if (r < 0) {
		/* the generation in force stays, and its warnings */
		ward_strv_free(&e->warnings, &e->n_warnings);
		e->warnings = warnings;
		e->n_warnings = n_warnings;
	} else {
		ward_strv_free(&warnings, &n_warnings);
		/* readers know g before the kernel names it in an event */
		egress_gens_push(&e->gens, g);
		gen_switch(e, g);
	}
	pthread_mutex_unlock(&e->apply_lock);
	return r;
}

uint32_t ward_egress_generation(const struct ward_egress *e)
{
	return (uint32_t)__atomic_load_n(&e->skel->bss->ward_active, __ATOMIC_ACQUIRE);
}

/* WARD_EGRESS_PENDING=cookie: the hand-over kernels without task storage
 * in these programs use, on any kernel (tests, docs/kernels.md) */
static bool pending_cookie_forced(void)
{
	const char *v = getenv("WARD_EGRESS_PENDING");

	return v && !strcmp(v, "cookie");
}

/* Open the skeleton, configure it and load it; cookie: the tcp_pending
 * hand-over (WARD_CFG_PENDING_COOKIE) instead of task storage. */
static int skel_load(struct ward_egress *e, const struct ward_egress_config *cfg,
		     int (*before_load)(struct ward_egress *e, const struct ward_egress_config *cfg,
					void *ud, struct ward_error *err),
		     void *ud, bool cookie, struct ward_error *err)
{
	int r;

	/* host mode names a kernel type by its id (bpf_rdonly_cast): only the
	 * kernel's own BTF has the right ids, not the minimised copy */
	LIBBPF_OPTS(bpf_object_open_opts, open_opts,
		    .btf_custom_path = cfg->host ? NULL : ward_btf_custom_path());
	e->skel = egress_bpf__open_opts(&open_opts);
	if (!e->skel)
		return ward_err(err, -errno, "open BPF egress programs");
	cfg_fill((struct ward_cfg *)&e->skel->rodata->cfg, cfg);
	if (cookie)
		((struct ward_cfg *)&e->skel->rodata->cfg)->flags |= WARD_CFG_PENDING_COOKIE;
	e->pending_cookie = cookie;
	/* smaller maps only tests ask for, to reach "full" within their limits */
	if (cfg->ringbuf_bytes &&
	    (r = bpf_map__set_max_entries(e->skel->maps.events, cfg->ringbuf_bytes)) < 0)
		return ward_err(err, r, "egress ring buffer size %u", cfg->ringbuf_bytes);
	if (cfg->udp_socks_max &&
	    (r = bpf_map__set_max_entries(e->skel->maps.udp_socks, cfg->udp_socks_max)) < 0)
		return ward_err(err, r, "egress UDP socket map size %u", cfg->udp_socks_max);
	if (before_load && (r = before_load(e, cfg, ud, err)) < 0)
		return r;
	{
		const struct ward_cfg *k = (const struct ward_cfg *)&e->skel->rodata->cfg;

		memcpy(e->cfg.proxy4, k->proxy4.w, 16);
		memcpy(e->cfg.proxy6, k->proxy6.w, 16);
		memcpy(e->cfg.dns4, k->dns4.w, 16);
		e->cfg.explicit_port = k->explicit_port;
		e->cfg.transparent_port = k->transparent_port;
		e->cfg.dns_port = k->dns_port;
	}
	r = egress_bpf__load(e->skel);
	if (r < 0)
		return ward_err(err, r, "load BPF egress programs (cgroup sock_addr, sock_ops)");
	return 0;
}

/* Open, configure and load the programs, no policy yet (generation 0:
 * every identity unknown); before_load (host mode) may reuse maps and set
 * rodata. */
int egress_open(const struct ward_egress_config *cfg,
		int (*before_load)(struct ward_egress *e, const struct ward_egress_config *cfg,
				   void *ud, struct ward_error *err),
		void *ud, struct ward_egress **ret, struct ward_error *err)
{
	_cleanup_(ward_egress_freep) struct ward_egress *e = NULL;
	int r;

	if (!cfg->host && (!cfg->explicit_port || !cfg->transparent_port || !cfg->proxy4.s_addr))
		return ward_errx(err, -EINVAL, "egress: proxy address and ports are required");
	e = calloc(1, sizeof(*e));
	if (!e)
		return ward_err(err, -ENOMEM, "egress");
	egress_gens_init(&e->gens);
	e->slots = (struct egress_slots){ .ready_fd = -1, .create = create_idents_map };
	pthread_mutex_init(&e->apply_lock, NULL);
	e->audit = cfg->audit;
	e->on_event = cfg->on_event;
	e->userdata = cfg->userdata;
	e->session_of = cfg->session_of;
	if (cfg->sandbox && !(e->sandbox = strdup(cfg->sandbox)))
		return ward_err(err, -ENOMEM, "egress");
	e->mono_to_real = ward_now_ns() - ward_mono_ns();

	if (pending_cookie_forced()) {
		r = skel_load(e, cfg, before_load, ud, true, err);
	} else {
		/* where task storage is refused, the verifier's log of the first
		 * try is expected: not printed (libbpf prints to stderr) */
		libbpf_print_fn_t old = ward_libbpf_mute();

		r = skel_load(e, cfg, before_load, ud, false, err);
		libbpf_set_print(old);
	}
	if (!e->pending_cookie && (r == -EINVAL || r == -EACCES)) {
		/* a kernel whose sock_addr/sock_ops programs cannot use task
		 * storage (6.12): the records go by socket cookie instead */
		egress_bpf__destroy(e->skel);
		e->skel = NULL;
		r = skel_load(e, cfg, before_load, ud, true, err);
	}
	if (r < 0)
		return r;
	e->slots.outer_fd = bpf_map__fd(e->skel->maps.identities);
	e->slots.first_fd = bpf_map__fd(e->skel->maps.identities1);
	e->rb = ring_buffer__new(bpf_map__fd(e->skel->maps.events), egress_on_sample, e, NULL);
	if (!e->rb)
		return ward_err(err, -errno, "egress ring buffer");
	r = ring_buffer__add(e->rb, bpf_map__fd(e->skel->maps.execs), egress_on_exec, e);
	if (r < 0)
		return ward_err(err, r, "egress exec ring buffer");
	*ret = TAKE_PTR(e);
	return 0;
}

int ward_egress_new(const struct ward_policy *p, const struct ward_egress_config *cfg,
		    struct ward_egress **ret, struct ward_error *err)
{
	_cleanup_(ward_egress_freep) struct ward_egress *e = NULL;
	int r;

	if (cfg->host || cfg->pin_dir)
		return ward_errx(err, -EINVAL, "egress: host mode is ward_egress_host_open");
	r = egress_open(cfg, NULL, NULL, &e, err);
	if (r < 0)
		return r;
	r = ward_egress_apply(e, p, err);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(e);
	return 0;
}

int ward_egress_attach(struct ward_egress *e, int cgroup_fd, struct ward_error *err)
{
	struct bpf_program *progs[EGRESS_N_PROGS] = {
		e->skel->progs.ward_connect4,	  e->skel->progs.ward_connect6,
		e->skel->progs.ward_sendmsg4,	  e->skel->progs.ward_sendmsg6,
		e->skel->progs.ward_sockops,	  e->skel->progs.ward_skb_egress,
		e->skel->progs.ward_sock_release,
	};

	uint32_t zero = 0;
	int r;

	if (e->links[0])
		return ward_errx(err, -EBUSY, "egress programs already attached");
	if (e->host)
		return ward_errx(err, -EINVAL, "host mode attaches at open (pinned links)");
	for (size_t i = 0; i < EGRESS_N_PROGS; i++) {
		e->links[i] = bpf_program__attach_cgroup(progs[i], cgroup_fd);
		if (!e->links[i]) {
			r = -errno;
			ward_egress_detach(e);
			return ward_err(err, r, "attach BPF program %s to the sandbox cgroup",
					bpf_program__name(progs[i]));
		}
	}
	/* the exec tracepoint is global: it knows the sandbox by this cgroup */
	r = bpf_map__update_elem(e->skel->maps.sandbox_cg, &zero, sizeof(zero), &cgroup_fd,
				 sizeof(cgroup_fd), BPF_ANY);
	if (r < 0) {
		ward_egress_detach(e);
		return ward_err(err, r, "exec tracepoint: sandbox cgroup");
	}
	e->links[EGRESS_N_PROGS] = bpf_program__attach(e->skel->progs.ward_exec);
	if (!e->links[EGRESS_N_PROGS]) {
		r = -errno;
		ward_egress_detach(e);
		return ward_err(err, r,
				"attach BPF program ward_exec (raw tracepoint sched_process_exec)");
	}
	return 0;
}

void ward_egress_detach(struct ward_egress *e)
{
	for (size_t i = 0; i < EGRESS_N_LINKS; i++) {
		if (e->links[i])
			bpf_link__destroy(e->links[i]);
		e->links[i] = NULL;
	}
}

void ward_egress_free(struct ward_egress *e)
{
	if (!e)
		return;
	ward_egress_detach(e);
	egress_host_free(e);
	ring_buffer__free(e->rb);
	egress_bpf__destroy(e->skel);
	egress_gens_destroy(&e->gens);
	egress_slots_destroy(&e->slots);
	pthread_mutex_destroy(&e->apply_lock);
	egress_exec_names_free(e);
	ward_strv_free(&e->warnings, &e->n_warnings);
	free(e->sandbox);
	free(e);
}

const char *const *ward_egress_warnings(const struct ward_egress *e, size_t *ret_n)
{
	*ret_n = e->n_warnings;
	return (const char *const *)e->warnings;
}

size_t ward_egress_n_identities(const struct ward_egress *e)
{
	struct egress_gens *gs = (struct egress_gens *)&e->gens;
	size_t n;

	pthread_rwlock_rdlock(&gs->lock);
	n = gs->cur ? egress_n_idents(gs->cur) : 0;
	pthread_rwlock_unlock(&gs->lock);
	return n;
}

int ward_egress_events_fd(const struct ward_egress *e)
{
	return ring_buffer__epoll_fd(e->rb);
}

int ward_egress_consume(struct ward_egress *e)
{
	int r = ring_buffer__consume(e->rb);

	ward_egress_report_drops(e, false);
	return r;
}

int ward_egress_poll(struct ward_egress *e, int timeout_ms)
{
	int r = ring_buffer__poll(e->rb, timeout_ms);

	/* the kernel wakes readers lazily (egress.bpf.c): look anyway */
	if (r == 0)
		r = ring_buffer__consume(e->rb);
	ward_egress_report_drops(e, false);
	return r;
}

static uint64_t sum_percpu(const struct ward_egress *e, uint32_t idx)
{
	int n = libbpf_num_possible_cpus();
	uint64_t sum = 0;
	_cleanup_free_ uint64_t *v = NULL;

	if (n <= 0 || !(v = calloc((size_t)n, sizeof(*v))))
		return 0;
	if (bpf_map__lookup_elem(e->skel->maps.drops, &idx, sizeof(idx), v, (size_t)n * sizeof(*v),
				 0) < 0)
		return 0;
	for (int i = 0; i < n; i++)
		sum += v[i];
	return sum;
}

uint64_t ward_egress_dropped(const struct ward_egress *e)
{
	return sum_percpu(e, 0);
}

uint64_t ward_egress_peer_drops(const struct ward_egress *e)
{
	return sum_percpu(e, 1);
}

uint64_t ward_egress_udp_refused(const struct ward_egress *e)
{
	return sum_percpu(e, 2);
}

static void addr_to_sockaddr(const uint8_t a[16], uint16_t port, struct sockaddr_storage *ss)
{
	struct ward_addr wa;

	memset(ss, 0, sizeof(*ss));
	memcpy(wa.w, a, 16);
	if (ward_addr_is_mapped(&wa)) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, a + 12, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, a, 16);
	}
}

/* The connection names its generation: the rule is that generation's (the
 * entry index is; its history's when it is gone), the paths that
 * generation's or, when it is gone, the generation in force's. Strings
 * outlive generations (interned: struct egress_strtab). */
static void peer_from_conn(struct ward_egress *e, const struct ward_conn *c,
			   struct ward_egress_peer *ret)
{
	struct egress_gens *gs = &e->gens;
	const struct egress_gen *g, *cur;
	const struct egress_ident *id, *own;

	pthread_rwlock_rdlock(&gs->lock);
	cur = gs->cur;
	g = egress_gens_find(gs, c->gen, true);
	id = egress_ident_find(g ? g : cur, c->dev, c->ino);
	own = egress_ident_find(g ? g : cur, c->own_dev, c->own_ino);
	*ret = (struct ward_egress_peer){
		.dev = c->dev,
		.ino = c->ino,
		.binary = id ? id->path : NULL,
		/* a generation gone by now: its history's */
		.rule = egress_gens_rule(gs, c->gen, true, c->entry),
		.entry = c->entry,
		.pid = (pid_t)c->tgid,
		.flags = c->flags,
		.depth = c->depth,
		.cookie = c->cookie,
		.own_dev = c->own_dev,
		.own_ino = c->own_ino,
		.exe = own ? own->path : NULL,
		.exe_sha = own && own->pinned ? own->pin : NULL,
	};
	pthread_rwlock_unlock(&gs->lock);
	addr_to_sockaddr(c->orig, c->orig_port, &ret->orig);
	ret->cgid = c->cgid;
	(void)ward_session_of(&e->session_of, c->cgid, ret->session);
	ret->has_uid = ward_proc_uid((pid_t)c->tgid, &ret->uid) == 0;
}

/* The row of a connection the kernel recorded for the proxy or the DNS stub
 * (it sends no event for those: egress.bpf.c), made of its record when the
 * proxy or the stub first asks about it: the verdict event it would have
 * been, to the same row builder. */
static void record_row(struct ward_egress *e, const struct ward_conn *c, uint8_t proto,
		       const struct ward_egress_peer *who)
{
	struct ward_event ev = {
		.version = WARD_ABI_VERSION,
		.proto = proto,
		.depth = c->depth,
		.pid = c->tgid,
		.tgid = c->tgid,
		.entry = c->entry,
		.ts_ns = ward_mono_ns(),
		.dev = c->dev,
		.ino = c->ino,
		.orig_port = c->orig_port,
		.own_dev = c->own_dev,
		.own_ino = c->own_ino,
		.cgid = c->cgid,
		/* not in the record: the one the lookup read */
		.uid = who->has_uid ? who->uid : WARD_UID_NONE,
	};
	struct ward_req req = { .port = c->orig_port, .proto = proto };
	bool v4;

	memcpy(req.dst.w, c->orig, 16);
	memcpy(ev.orig, c->orig, 16);
	v4 = ward_addr_is_mapped(&req.dst);
	ev.hook = proto == IPPROTO_UDP ? (v4 ? WARD_HOOK_SENDMSG4 : WARD_HOOK_SENDMSG6)
				       : (v4 ? WARD_HOOK_CONNECT4 : WARD_HOOK_CONNECT6);
	ev.verdict = WARD_VERDICT_ALLOW;
	if (proto == IPPROTO_UDP || ward_is_stub(&req) ||
	    (!memcmp(c->orig, e->cfg.dns4, 16) && c->orig_port == e->cfg.dns_port)) {
		ev.reason = WARD_REASON_DNS_STUB;
		memcpy(ev.dst, e->cfg.dns4, 16);
		ev.dst_port = e->cfg.dns_port;
	} else if (c->flags & WARD_CONN_REDIRECTED) {
		ev.verdict = WARD_VERDICT_REDIRECT;
		ev.reason = WARD_REASON_REDIRECT;
		memcpy(ev.dst, v4 ? e->cfg.proxy4 : e->cfg.proxy6, 16);
		ev.dst_port = e->cfg.transparent_port;
	} else {
		ev.reason = c->flags & WARD_CONN_INFERENCE ? WARD_REASON_INFERENCE
							   : WARD_REASON_PROXY_EXPLICIT;
		memcpy(ev.dst, c->orig, 16);
		ev.dst_port = c->orig_port;
	}
	/* learning: the policy would have refused it (docs/learn.md) */
	if (c->flags & WARD_CONN_LEARN)
		ev.verdict = WARD_VERDICT_AUDIT;
	/* the record keeps 16 bits of its generation */
	pthread_rwlock_rdlock(&e->gens.lock);
	ev.gen = egress_gens_seq16(&e->gens, c->gen);
	pthread_rwlock_unlock(&e->gens.lock);
	if (!ev.gen)
		ev.gen = c->gen;
	egress_event_row(e, &ev);
}

int ward_egress_peer_lookup(struct ward_egress *e, const struct sockaddr *peer,
			    struct ward_egress_peer *ret)
{
	struct ward_peer_key k = { 0 };
	struct ward_conn c;
	struct ward_addr a;
	int r;

	if (peer->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)peer;

		ward_addr_from4(&a, sin->sin_addr.s_addr);
		k.port = ntohs(sin->sin_port);
	} else if (peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)peer;

		memcpy(a.w, sin6->sin6_addr.s6_addr, 16);
		k.port = ntohs(sin6->sin6_port);
	} else {
		return -EAFNOSUPPORT;
	}
	memcpy(k.addr, a.w, 16);
	r = bpf_map__lookup_elem(e->skel->maps.peers, &k, sizeof(k), &c, sizeof(c), 0);
	if (r < 0)
		return r;
	peer_from_conn(e, &c, ret);
	if (!(c.flags & WARD_CONN_LOGGED)) {
		record_row(e, &c, IPPROTO_TCP, ret);
		/* once per connection; gone already when it closed meanwhile */
		c.flags |= WARD_CONN_LOGGED;
		(void)bpf_map__update_elem(e->skel->maps.peers, &k, sizeof(k), &c, sizeof(c),
					   BPF_EXIST);
	}
	return 0;
}

int ward_egress_udp_peer_lookup(struct ward_egress *e, const struct sockaddr *peer,
				struct ward_egress_peer *ret)
{
	struct ward_peer_key k = { 0 };
	struct ward_conn c, live;
	struct ward_addr a = { { 0 } };
	int r;

	/* the datagram's family and source port: see udp_peers in egress.bpf.c */
	if (peer->sa_family == AF_INET) {
		ward_addr_from4(&a, 0);
		k.port = ntohs(((const struct sockaddr_in *)peer)->sin_port);
	} else if (peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)peer;

		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			ward_addr_from4(&a, 0);
		k.port = ntohs(sin6->sin6_port);
	} else {
		return -EAFNOSUPPORT;
	}
	memcpy(k.addr, a.w, 16);
	r = bpf_map__lookup_elem(e->skel->maps.udp_peers, &k, sizeof(k), &c, sizeof(c), 0);
	if (r < 0)
		return r;
	/* The socket that wrote the entry must still exist with that identity
	 * (cookies are never reused): a record never passes to a later socket. */
	r = bpf_map__lookup_elem(e->skel->maps.udp_socks, &c.cookie, sizeof(c.cookie), &live,
				 sizeof(live), 0);
	if (r < 0)
		return r;
	if (live.dev != c.dev || live.ino != c.ino || live.entry != c.entry)
		return -ENOENT;
	peer_from_conn(e, &c, ret);
	/* one row per query, as there was one per datagram */
	record_row(e, &c, IPPROTO_UDP, ret);
	return 0;
}

int ward_egress_conn_lookup(struct ward_egress *e, uint64_t cookie, struct ward_egress_peer *ret)
{
	int fd = bpf_map__fd(e->skel->maps.peers);
	struct ward_peer_key k, next;
	struct ward_conn c;
	bool first = true;

	/* the kernel files a TCP connection's record by its peer address only
	 * (egress.bpf.c, conns): a walk, for the rare caller that has a cookie */
	while (bpf_map_get_next_key(fd, first ? NULL : &k, &next) == 0) {
		first = false;
		k = next;
		if (bpf_map_lookup_elem(fd, &k, &c) == 0 && c.cookie == cookie) {
			peer_from_conn(e, &c, ret);
			return 0;
		}
	}
	return -ENOENT;
}

int ward_egress_prog_info(const struct ward_egress *e, struct ward_egress_prog_info *ret,
			  size_t max)
{
	const struct bpf_program *progs[EGRESS_N_PROGS] = {
		e->skel->progs.ward_connect4,	  e->skel->progs.ward_connect6,
		e->skel->progs.ward_sendmsg4,	  e->skel->progs.ward_sendmsg6,
		e->skel->progs.ward_sockops,	  e->skel->progs.ward_skb_egress,
		e->skel->progs.ward_sock_release,
	};
	size_t n = 0;

	for (size_t i = 0; i < EGRESS_N_PROGS && n < max; i++) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int r;

		memset(&info, 0, sizeof(info));
		r = bpf_obj_get_info_by_fd(bpf_program__fd(progs[i]), &info, &len);
		if (r < 0)
			return -errno;
		snprintf(ret[n].name, sizeof(ret[n].name), "%s", bpf_program__name(progs[i]));
		ret[n].verified_insns = info.verified_insns;
		ret[n].xlated_insns = info.xlated_prog_len / 8;
		ret[n].jited_bytes = info.jited_prog_len;
		ret[n].run_cnt = info.run_cnt;
		ret[n].run_time_ns = info.run_time_ns;
		n++;
	}
	return (int)n;
}
