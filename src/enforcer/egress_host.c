// SPDX-License-Identifier: MIT
/* Host mode (docs/egress.md "Host mode"): bpf/egress.bpf.c with
 * WARD_CFG_HOST at a scope cgroup, its links and maps pinned in bpffs so the
 * kernel keeps deciding while no daemon runs, and a restarted daemon takes
 * the pinned state over: the same maps (policy generations, connection
 * records, ring buffer, counters), new programs swapped into the same links
 * (bpf_link_update: a hook is never without a program). */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "enforcer/egress_internal.h"
#define WARD_DECIDE_HELPERS_ONLY
#include "../../bpf/egress_decide.h"
#include "egress.skel.h"

DEFINE_CLEANUP(struct ward_egress *, ward_egress_free)

#define N_PROGS WARD_EGRESS_HOST_N_PROGS
#define N_MAPS 14

/* pins: link_<program>, map_<map> */
static const char *const prog_names[N_PROGS] = {
	"ward_connect4", "ward_connect6",   "ward_sendmsg4",	 "ward_sendmsg6",
	"ward_sockops",	 "ward_skb_egress", "ward_sock_release",
};
static const char *const map_names[N_MAPS] = {
	"identities", "identities1", "ports",	    "cidrs",	       "conns",
	"peers",      "udp_socks",   "udp_peers",   "events",	       "drops",
	"bss",	      "host_state",  "host_exempt", "host_failclosed",
};
enum { MAP_BSS = 10, MAP_STATE = 11, MAP_EXEMPT = 12, MAP_FAILCLOSED = 13, MAP_DROPS = 9 };

struct egress_host {
	char *pin_dir;
	uint64_t scope_cgid;
	int link_fds[N_PROGS];
	struct ward_host_state *state; /* the pinned host_state, mmap'ed */
	size_t state_len;
	uint16_t proxy_port, dns_port; /* for the next set_listeners */
	bool takeover;		       /* pins existed (before_load reuses them) */
};

static struct bpf_program *host_prog(struct egress_bpf *s, size_t i)
{
	struct bpf_program *p[N_PROGS] = {
		s->progs.ward_connect4,	    s->progs.ward_connect6, s->progs.ward_sendmsg4,
		s->progs.ward_sendmsg6,	    s->progs.ward_sockops,  s->progs.ward_skb_egress,
		s->progs.ward_sock_release,
	};

	return p[i];
}

static struct bpf_map *host_map(struct egress_bpf *s, size_t i)
{
	struct bpf_map *m[N_MAPS] = {
		s->maps.identities,  s->maps.identities1,     s->maps.ports,	 s->maps.cidrs,
		s->maps.conns,	     s->maps.peers,	      s->maps.udp_socks, s->maps.udp_peers,
		s->maps.events,	     s->maps.drops,	      s->maps.bss,	 s->maps.host_state,
		s->maps.host_exempt, s->maps.host_failclosed,
	};

	return m[i];
}

static int pin_path(char *buf, size_t len, const char *dir, const char *kind, const char *name)
{
	int n = snprintf(buf, len, "%s/%s_%s", dir, kind, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* How many of the expected pins exist (links and maps); -errno. */
static int pins_count(const char *dir, size_t *ret_links, size_t *ret_maps)
{
	char path[PATH_MAX];
	int r;

	*ret_links = *ret_maps = 0;
	for (size_t i = 0; i < N_PROGS; i++) {
		if ((r = pin_path(path, sizeof(path), dir, "link", prog_names[i])) < 0)
			return r;
		if (access(path, F_OK) == 0)
			(*ret_links)++;
		else if (errno != ENOENT)
			return -errno;
	}
	for (size_t i = 0; i < N_MAPS; i++) {
		if ((r = pin_path(path, sizeof(path), dir, "map", map_names[i])) < 0)
			return r;
		if (access(path, F_OK) == 0)
			(*ret_maps)++;
		else if (errno != ENOENT)
			return -errno;
	}
	return 0;
}

static int obj_get(const char *dir, const char *kind, const char *name)
{
	char path[PATH_MAX];
	int r = pin_path(path, sizeof(path), dir, kind, name);

	if (r < 0)
		return r;
	r = bpf_obj_get(path);
	return r < 0 ? -errno : r;
}

/* Remove dir and its parents down to the first one pin_dir_make made (first:
 * that one's length; 0: none made). */
static void pin_dir_unmake(const char *dir, size_t first)
{
	char p[PATH_MAX];

	if (!first || strlen(dir) >= sizeof(p))
		return;
	snprintf(p, sizeof(p), "%s", dir);
	while (strlen(p) >= first) {
		char *sl = strrchr(p, '/');

		(void)rmdir(p);
		if (!sl || sl == p)
			break;
		*sl = '\0';
	}
}

/* dir and its missing parents, which must be on bpffs. *ret_first: the
 * length of the first directory this made (0: none), for pin_dir_unmake. */
static int pin_dir_make(const char *dir, size_t *ret_first, struct ward_error *err)
{
	char p[PATH_MAX];
	struct statfs sf;
	size_t len = strlen(dir);
	int r = 0;

	*ret_first = 0;
	if (dir[0] != '/' || len < 2 || len >= sizeof(p))
		return ward_errx(err, -EINVAL, "host mode: pin directory '%s'", dir);
	memcpy(p, dir, len + 1);
	for (char *s = p + 1; r >= 0; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) == 0) {
			if (!*ret_first)
				*ret_first = strlen(p);
		} else if (errno != EEXIST) {
			r = ward_err(err, -errno,
				     "host mode: create %s (is bpffs mounted on /sys/fs/bpf?)", p);
		}
		*s = c;
		if (!c)
			break;
	}
	if (r >= 0 && (statfs(dir, &sf) < 0 || sf.f_type != BPF_FS_MAGIC))
		r = ward_errx(err, -ENOTSUP,
			      "host mode: %s is not on bpffs (mount -t bpf bpf /sys/fs/bpf)", dir);
	if (r < 0) {
		pin_dir_unmake(dir, *ret_first);
		*ret_first = 0;
	}
	return r;
}

static uint64_t fd_cgid(int fd)
{
	struct stat st;

	/* a cgroup v2 directory's inode number is its cgroup id */
	return fstat(fd, &st) < 0 ? 0 : (uint64_t)st.st_ino;
}

/* Before load: host rodata; with pins, every pinned map in place of a new one. */
/* A pinned map made by a ward whose layout differs (an upgrade that changed
 * a key or value) cannot be taken over: its programs would read it with the
 * wrong sizes. Refuse with what to do; the pinned programs keep deciding. */
static int pinned_compatible(const struct bpf_map *want, int fd, const char *name,
			     struct ward_error *err)
{
	struct bpf_map_info info = { 0 };
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		return ward_err(err, -errno, "host mode: pinned map %s", name);
	if (info.type == (uint32_t)bpf_map__type(want) &&
	    info.key_size == bpf_map__key_size(want) &&
	    info.value_size == bpf_map__value_size(want) &&
	    info.max_entries == bpf_map__max_entries(want))
		return 0;
	return ward_errx(err, -EPROTO,
			 "host mode: the pinned map %s has another layout (type %u, key %u, "
			 "value %u, entries %u; this ward: %u, %u, %u, %u): pinned by a "
			 "different ward version; the pinned programs keep deciding until "
			 "`ward host stop` (or `ward doctor --cleanup`) removes them",
			 name, info.type, info.key_size, info.value_size, info.max_entries,
			 (unsigned)bpf_map__type(want), bpf_map__key_size(want),
			 bpf_map__value_size(want), bpf_map__max_entries(want));
}

static int host_before_load(struct ward_egress *e, const struct ward_egress_config *cfg, void *ud,
			    struct ward_error *err)
{
	struct egress_host *h = ud;
	struct ward_cfg *c = (struct ward_cfg *)&e->skel->rodata->cfg;
	int r;

	c->flags |= WARD_CFG_HOST | (cfg->audit_mode ? WARD_CFG_AUDIT : 0);
	c->flags &= ~WARD_CFG_PROXY6;
	ward_addr_from4(&c->proxy4, ward_htonl(WARD_HOST_LOOPBACK4));
	ward_addr_from4(&c->dns4, ward_htonl(WARD_HOST_LOOPBACK4));
	/* the stub's ::1 sockets: cgroup_skb egress records IPv6 datagrams to
	 * them (whether they are registered is the slot's business) */
	memset(&c->dns6, 0, sizeof(c->dns6));
	c->dns6.w[3] = ward_htonl(1);
	c->flags |= WARD_CFG_DNS6;
	c->transparent_port = h->proxy_port;
	c->dns_port = h->dns_port;
	c->explicit_port = 0;
	if (!h->takeover)
		return 0;
	for (size_t i = 0; i < N_MAPS; i++) {
		int fd = obj_get(h->pin_dir, "map", map_names[i]);

		if (fd < 0)
			return ward_err(err, fd, "host mode: pinned map %s/map_%s", h->pin_dir,
					map_names[i]);
		r = pinned_compatible(host_map(e->skel, i), fd, map_names[i], err);
		if (r < 0) {
			close(fd);
			return r;
		}
		r = bpf_map__reuse_fd(host_map(e->skel, i), fd);
		close(fd);
		if (r < 0)
			return ward_err(err, r, "host mode: reuse pinned map %s", map_names[i]);
	}
	return 0;
}

static int state_map(struct ward_egress *e, struct ward_error *err)
{
	struct egress_host *h = e->host;
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	h->state_len = (sizeof(struct ward_host_state) + (size_t)page - 1) & ~((size_t)page - 1);
	p = mmap(NULL, h->state_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		 bpf_map__fd(e->skel->maps.host_state), 0);
	if (p == MAP_FAILED)
		return ward_err(err, -errno, "host mode: map the host state");
	h->state = p;
	return 0;
}

/* The exempt cgroups become exactly cfg's (after the links are ours). */
static int exempt_set(struct ward_egress *e, const struct ward_egress_config *cfg, bool prune,
		      struct ward_error *err)
{
	int fd = bpf_map__fd(e->skel->maps.host_exempt);
	uint64_t k, next;
	uint8_t one = 1;
	bool first = true;
	int r;

	if (cfg->n_exempt > WARD_HOST_MAX_EXEMPT)
		return ward_errx(err, -E2BIG, "host mode: more than %d exempt cgroups",
				 WARD_HOST_MAX_EXEMPT);
	for (size_t i = 0; i < cfg->n_exempt; i++)
		if ((r = bpf_map_update_elem(fd, &cfg->exempt_cgids[i], &one, BPF_ANY)) < 0)
			return ward_err(err, r, "host mode: exempt cgroup %llu",
					(unsigned long long)cfg->exempt_cgids[i]);
	if (!prune)
		return 0;
	while (bpf_map_get_next_key(fd, first ? NULL : &k, &next) == 0) {
		bool keep = false;

		for (size_t i = 0; i < cfg->n_exempt; i++)
			keep |= cfg->exempt_cgids[i] == next;
		if (!keep && bpf_map_delete_elem(fd, &next) == 0) {
			first = true; /* the walk starts over: next is gone */
			continue;
		}
		first = false;
		k = next;
	}
	return 0;
}

/* Keys of generations other than seq (a previous daemon's) out of the
 * port and CIDR maps; called after the switch to seq and the wait that
 * follows it (egress_slots_prepare), so no decision reads them. */
static void sweep_old_keys(struct ward_egress *e, uint32_t seq)
{
	int pfd = bpf_map__fd(e->skel->maps.ports), cfd = bpf_map__fd(e->skel->maps.cidrs);
	struct ward_port_key pk, pn;
	struct ward_cidr_key ck, cn;
	bool first = true;

	while (bpf_map_get_next_key(pfd, first ? NULL : &pk, &pn) == 0) {
		if (pn.gen != (uint16_t)seq && bpf_map_delete_elem(pfd, &pn) == 0) {
			first = true;
			continue;
		}
		first = false;
		pk = pn;
	}
	first = true;
	while (bpf_map_get_next_key(cfd, first ? NULL : &ck, &cn) == 0) {
		if ((ward_htonl(cn.entry) >> 16) != (seq & 0xffff) &&
		    bpf_map_delete_elem(cfd, &cn) == 0) {
			first = true;
			continue;
		}
		first = false;
		ck = cn;
	}
}

/* The exec tracepoint (not pinned: without a daemon nobody would read it). */
static int attach_exec(struct ward_egress *e, int scope_fd, struct ward_error *err)
{
	uint32_t zero = 0;
	int r;

	r = bpf_map__update_elem(e->skel->maps.sandbox_cg, &zero, sizeof(zero), &scope_fd,
				 sizeof(scope_fd), BPF_ANY);
	if (r < 0)
		return ward_err(err, r, "exec tracepoint: scope cgroup");
	e->links[EGRESS_N_PROGS] = bpf_program__attach(e->skel->progs.ward_exec);
	if (!e->links[EGRESS_N_PROGS])
		return ward_err(err, -errno,
				"attach BPF program ward_exec (raw tracepoint sched_process_exec)");
	return 0;
}

static void unpin_paths(const char *dir, size_t n_maps, size_t n_links)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < n_links; i++)
		if (pin_path(path, sizeof(path), dir, "link", prog_names[i]) == 0)
			(void)unlink(path);
	for (size_t i = 0; i < n_maps; i++)
		if (pin_path(path, sizeof(path), dir, "map", map_names[i]) == 0)
			(void)unlink(path);
}

/* No pins: attach at the scope, pin maps then links. On failure, whatever
 * this did is undone (links detached, pins removed). */
static int fresh_attach(struct ward_egress *e, int scope_fd, struct ward_error *err)
{
	struct egress_host *h = e->host;
	struct bpf_link *links[N_PROGS] = { 0 };
	char path[PATH_MAX];
	size_t n_maps = 0, n_links = 0;
	int r = 0;

	for (size_t i = 0; i < N_PROGS && r >= 0; i++) {
		links[i] = bpf_program__attach_cgroup(host_prog(e->skel, i), scope_fd);
		if (!links[i])
			r = ward_err(err, -errno, "host mode: attach %s to the scope cgroup",
				     prog_names[i]);
	}
	for (; r >= 0 && n_maps < N_MAPS; n_maps++) {
		if ((r = pin_path(path, sizeof(path), h->pin_dir, "map", map_names[n_maps])) < 0 ||
		    (r = bpf_map__pin(host_map(e->skel, n_maps), path)) < 0)
			ward_err(err, r, "host mode: pin map %s", path);
	}
	if (r < 0 && n_maps)
		n_maps--; /* the one that failed is not pinned */
	for (; r >= 0 && n_links < N_PROGS; n_links++) {
		if ((r = pin_path(path, sizeof(path), h->pin_dir, "link", prog_names[n_links])) <
			    0 ||
		    (r = bpf_link__pin(links[n_links], path)) < 0)
			ward_err(err, r, "host mode: pin link %s", path);
	}
	if (r < 0 && n_links)
		n_links--;
	for (size_t i = 0; i < N_PROGS; i++) {
		if (!links[i])
			continue;
		if (r >= 0) {
			/* the fd is ours now (egress_host_free closes it: a pinned
			 * link stays attached); disconnected, destroy only frees */
			h->link_fds[i] = bpf_link__fd(links[i]);
			bpf_link__disconnect(links[i]);
		}
		bpf_link__destroy(links[i]); /* not disconnected: closes, which detaches */
	}
	if (r < 0)
		unpin_paths(h->pin_dir, n_maps, n_links);
	return r;
}

/* Pins: the pinned links to the new programs, each in one update; on a
 * failure the ones already switched go back to their old programs. */
static int takeover_links(struct ward_egress *e, struct ward_error *err)
{
	struct egress_host *h = e->host;
	int old[N_PROGS];
	size_t done = 0;
	int r = 0;

	for (size_t i = 0; i < N_PROGS; i++)
		old[i] = -1;
	for (size_t i = 0; i < N_PROGS && r >= 0; i++) {
		struct bpf_link_info info = { 0 };
		__u32 len = sizeof(info);

		h->link_fds[i] = obj_get(h->pin_dir, "link", prog_names[i]);
		if (h->link_fds[i] < 0) {
			r = ward_err(err, h->link_fds[i], "host mode: pinned link %s/link_%s",
				     h->pin_dir, prog_names[i]);
			break;
		}
		if (bpf_obj_get_info_by_fd(h->link_fds[i], &info, &len) < 0) {
			r = ward_err(err, -errno, "host mode: pinned link %s", prog_names[i]);
			break;
		}
		if (info.type != BPF_LINK_TYPE_CGROUP || info.cgroup.cgroup_id != h->scope_cgid) {
			r = ward_errx(err, -EBUSY,
				      "host mode: the pinned programs are attached to cgroup %llu, "
				      "not to the scope (%llu): ward host stop first",
				      (unsigned long long)info.cgroup.cgroup_id,
				      (unsigned long long)h->scope_cgid);
			break;
		}
		old[i] = bpf_prog_get_fd_by_id(info.prog_id);
		if (old[i] < 0)
			r = ward_err(err, -errno, "host mode: program of link %s", prog_names[i]);
	}
	for (; r >= 0 && done < N_PROGS; done++) {
		LIBBPF_OPTS(bpf_link_update_opts, o, .flags = BPF_F_REPLACE,
			    .old_prog_fd = old[done]);

		r = bpf_link_update(h->link_fds[done], bpf_program__fd(host_prog(e->skel, done)),
				    &o);
		if (r < 0)
			ward_err(err, r, "host mode: switch link %s to the new program",
				 prog_names[done]);
	}
	if (r < 0)
		for (size_t i = 0; i < done; i++)
			(void)bpf_link_update(h->link_fds[i], old[i], NULL);
	for (size_t i = 0; i < N_PROGS; i++)
		if (old[i] >= 0)
			close(old[i]);
	return r;
}

int ward_egress_host_probe(struct ward_error *err)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	struct utsname u;
	int id;

	if (!vmlinux)
		return ward_err(err, -errno, "host mode: the kernel's BTF (/sys/kernel/btf/vmlinux)");
	id = btf__find_by_name_kind(vmlinux, "bpf_rdonly_cast", BTF_KIND_FUNC);
	btf__free(vmlinux);
	if (id > 0)
		return 0;
	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "?");
	return ward_errx(err, -EOPNOTSUPP,
			 "host mode needs the kernel function bpf_rdonly_cast (Linux 6.2 or "
			 "later) to check that redirected connections reach ward's own "
			 "listeners; this kernel (%s) has none: ward run and ward sandboxes "
			 "work here, host mode does not (docs/kernels.md)",
			 u.release);
}

int ward_egress_host_open(const struct ward_policy *p, const struct ward_egress_config *cfg,
			  int scope_fd, struct ward_egress **ret, struct ward_error *err)
{
	_cleanup_(ward_egress_freep) struct ward_egress *e = NULL;
	struct ward_egress_config c = *cfg;
	struct egress_host *h;
	size_t n_links, n_maps;
	size_t made_dir = 0; /* pin_dir_make's */
	uint32_t seq;
	int r;

	if (!cfg->pin_dir || !cfg->host)
		return ward_errx(err, -EINVAL, "host mode: pin_dir and host are required");
	if (!cfg->transparent_port)
		return ward_errx(err, -EINVAL, "host mode: the proxy port is required");
	r = ward_egress_host_probe(err);
	if (r < 0)
		return r;
	h = calloc(1, sizeof(*h));
	if (!h || !(h->pin_dir = strdup(cfg->pin_dir))) {
		free(h);
		return ward_err(err, -ENOMEM, "host mode");
	}
	for (size_t i = 0; i < N_PROGS; i++)
		h->link_fds[i] = -1;
	h->scope_cgid = fd_cgid(scope_fd);
	h->proxy_port = cfg->transparent_port;
	h->dns_port = cfg->dns_port ? cfg->dns_port : 53;
	r = pin_dir_make(cfg->pin_dir, &made_dir, err);
	if (r < 0)
		goto fail_h;
	r = pins_count(cfg->pin_dir, &n_links, &n_maps);
	if (r < 0) {
		ward_err(err, r, "host mode: %s", cfg->pin_dir);
		goto fail_h;
	}
	if ((n_links || n_maps) && (n_links != N_PROGS || n_maps != N_MAPS)) {
		r = ward_errx(err, -EUCLEAN,
			      "host mode: %s holds %zu of %d links and %zu of %d maps: partial "
			      "state, remove it (ward host stop / ward doctor --cleanup)",
			      cfg->pin_dir, n_links, N_PROGS, n_maps, N_MAPS);
		goto fail_h;
	}
	h->takeover = n_links == N_PROGS;
	if (!c.sandbox)
		c.sandbox = "host";

	r = egress_open(&c, host_before_load, h, &e, err);
	if (r < 0)
		goto fail_h;
	e->host = h;
	h = NULL; /* e's now: freed with it */
	if ((r = state_map(e, err)) < 0)
		goto fail;
	if ((r = exempt_set(e, cfg, false, err)) < 0)
		goto fail;
	if (e->host->takeover) {
		struct ward_host_slot *sl = &e->host->state->slot[e->host->state->active & 1];

		/* the next generation after the one in force */
		seq = (uint32_t)__atomic_load_n(&e->skel->bss->ward_active, __ATOMIC_ACQUIRE);
		e->gens.next_seq = seq + 1;
		/* rows say where the kernel sends, until set_listeners */
		e->cfg.transparent_port = sl->proxy_port;
		e->cfg.dns_port = sl->dns_port;
		if ((r = takeover_links(e, err)) < 0)
			goto fail;
		if ((r = exempt_set(e, cfg, true, err)) < 0)
			goto fail;
		e->host->state->flags = cfg->audit_mode ? WARD_HOST_F_AUDIT : 0;
		if ((r = ward_egress_apply(e, p, err)) < 0)
			goto fail;
		sweep_old_keys(e, ward_egress_generation(e));
	} else {
		struct ward_host_state *s = e->host->state;

		s->slot[0] = (struct ward_host_slot){ .proxy_port = e->host->proxy_port,
						      .dns_port = e->host->dns_port };
		s->scope_cgid = e->host->scope_cgid;
		s->flags = cfg->audit_mode ? WARD_HOST_F_AUDIT : 0;
		__atomic_store_n(&s->active, 0, __ATOMIC_RELEASE);
		/* the policy before the programs see a connection */
		if ((r = ward_egress_apply(e, p, err)) < 0)
			goto fail;
		if ((r = fresh_attach(e, scope_fd, err)) < 0)
			goto fail;
	}
	if ((r = attach_exec(e, scope_fd, err)) < 0) {
		/* the pinned programs decide without it: only the exec matching is missing */
		if (!e->host->takeover)
			goto fail_unpin;
		goto fail;
	}
	*ret = TAKE_PTR(e);
	return 0;

fail_unpin:
	for (size_t i = 0; i < N_PROGS; i++)
		if (e->host->link_fds[i] >= 0)
			(void)bpf_link_detach(e->host->link_fds[i]);
	unpin_paths(e->host->pin_dir, N_MAPS, N_PROGS);
fail:
	if (!e->host->takeover)
		pin_dir_unmake(e->host->pin_dir, made_dir);
	return r;
fail_h:
	pin_dir_unmake(cfg->pin_dir, made_dir);
	if (h) {
		free(h->pin_dir);
		free(h);
	}
	return r;
}

void egress_host_free(struct ward_egress *e)
{
	struct egress_host *h = e->host;

	if (!h)
		return;
	/* closing a pinned link's fd leaves it attached */
	for (size_t i = 0; i < N_PROGS; i++)
		if (h->link_fds[i] >= 0)
			close(h->link_fds[i]);
	if (h->state)
		munmap(h->state, h->state_len);
	free(h->pin_dir);
	free(h);
	e->host = NULL;
}

int ward_egress_host_register(struct ward_egress *e, const struct ward_egress_host_listeners *l,
			      struct ward_error *err)
{
	struct egress_host *h = e->host;
	uint64_t next;

	if (!h || !h->state)
		return ward_errx(err, -EINVAL, "host mode: not a host-mode handle");
	/* the slot not in force, then one store: a decision reads one or the other */
	next = (__atomic_load_n(&h->state->active, __ATOMIC_ACQUIRE) & 1) ^ 1;
	h->state->slot[next] = (struct ward_host_slot){
		.proxy_cookie = l->proxy,
		.dns_udp_cookie = l->dns_udp,
		.dns_tcp_cookie = l->dns_tcp,
		.proxy6_cookie = l->proxy6,
		.dns_udp6_cookie = l->dns_udp6,
		.dns_tcp6_cookie = l->dns_tcp6,
		.proxy_port = h->proxy_port,
		.dns_port = h->dns_port,
	};
	__atomic_store_n(&h->state->active, next, __ATOMIC_RELEASE);
	e->cfg.transparent_port = h->proxy_port;
	e->cfg.dns_port = h->dns_port;
	return 0;
}

int ward_egress_host_set_listeners(struct ward_egress *e, uint64_t proxy_cookie,
				   uint64_t dns_udp_cookie, uint64_t dns_tcp_cookie,
				   struct ward_error *err)
{
	struct ward_egress_host_listeners l = {
		.proxy = proxy_cookie,
		.dns_udp = dns_udp_cookie,
		.dns_tcp = dns_tcp_cookie,
	};

	return ward_egress_host_register(e, &l, err);
}

static uint64_t percpu_sum(int fd, uint32_t idx)
{
	int n = libbpf_num_possible_cpus();
	_cleanup_free_ uint64_t *v = NULL;
	uint64_t sum = 0;

	if (n <= 0 || !(v = calloc((size_t)n, sizeof(*v))))
		return 0;
	if (bpf_map_lookup_elem(fd, &idx, v) < 0)
		return 0;
	for (int i = 0; i < n; i++)
		sum += v[i];
	return sum;
}

uint64_t ward_egress_host_failclosed(const struct ward_egress *e)
{
	return percpu_sum(bpf_map__fd(e->skel->maps.host_failclosed), 0);
}

int ward_egress_host_reset_failclosed(struct ward_egress *e, uint64_t *ret_old)
{
	int fd = bpf_map__fd(e->skel->maps.host_failclosed), n = libbpf_num_possible_cpus();
	_cleanup_free_ uint64_t *v = NULL;
	uint32_t zero = 0;

	if (n <= 0)
		return n < 0 ? n : -EINVAL;
	if (!(v = calloc((size_t)n, sizeof(*v))))
		return -ENOMEM;
	/* a refusal between the read and the write is not in *ret_old */
	if (ret_old)
		*ret_old = percpu_sum(fd, 0);
	return bpf_map_update_elem(fd, &zero, v, BPF_ANY) < 0 ? -errno : 0;
}

int ward_egress_host_unpin(const char *pin_dir, struct ward_error *err)
{
	char path[PATH_MAX];
	size_t found = 0;
	int r = 0;

	for (size_t i = 0; i < N_PROGS; i++) {
		int fd = obj_get(pin_dir, "link", prog_names[i]);

		if (fd >= 0) {
			/* detached now, whoever still holds the link */
			if (bpf_link_detach(fd) < 0 && errno != ENOLINK && r >= 0)
				r = ward_err(err, -errno, "host mode: detach %s", prog_names[i]);
			close(fd);
		}
	}
	for (int kind = 0; kind < 2; kind++) {
		size_t n = kind ? N_MAPS : N_PROGS;

		for (size_t i = 0; i < n; i++) {
			if (pin_path(path, sizeof(path), pin_dir, kind ? "map" : "link",
				     kind ? map_names[i] : prog_names[i]) < 0)
				continue;
			if (unlink(path) == 0)
				found++;
			else if (errno != ENOENT && r >= 0)
				r = ward_err(err, -errno, "host mode: remove %s", path);
		}
	}
	if (rmdir(pin_dir) < 0 && errno != ENOENT && r >= 0)
		r = ward_err(err, -errno, "host mode: remove %s", pin_dir);
	if (r >= 0 && !found)
		return ward_errx(err, -ENOENT, "host mode: nothing pinned in %s", pin_dir);
	return r;
}

int ward_egress_host_status(const char *pin_dir, struct ward_host_pins *ret, struct ward_error *err)
{
	struct ward_host_state st;
	uint64_t active = 0, k, next;
	uint32_t zero = 0;
	bool first = true;
	int fd;

	memset(ret, 0, sizeof(*ret));
	for (size_t i = 0; i < N_PROGS; i++) {
		struct bpf_link_info info = { 0 };
		__u32 len = sizeof(info);
		struct ward_host_prog *hp = &ret->progs[ret->n_progs];

		fd = obj_get(pin_dir, "link", prog_names[i]);
		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
			snprintf(hp->name, sizeof(hp->name), "%s", prog_names[i]);
			hp->link_id = info.id;
			hp->prog_id = info.prog_id;
			hp->attach_type = info.cgroup.attach_type;
			ret->scope_cgid = info.cgroup.cgroup_id;
			ret->n_progs++;
		}
		close(fd);
	}
	if ((fd = obj_get(pin_dir, "map", "bss")) >= 0) {
		if (bpf_map_lookup_elem(fd, &zero, &active) == 0)
			ret->generation = (uint32_t)active;
		close(fd);
	}
	if ((fd = obj_get(pin_dir, "map", "host_state")) >= 0) {
		if (bpf_map_lookup_elem(fd, &zero, &st) == 0) {
			const struct ward_host_slot *sl = &st.slot[st.active & 1];

			ret->audit = st.flags & WARD_HOST_F_AUDIT;
			ret->proxy_port = sl->proxy_port;
			ret->dns_port = sl->dns_port;
			ret->proxy_cookie = sl->proxy_cookie;
			ret->dns_udp_cookie = sl->dns_udp_cookie;
			ret->dns_tcp_cookie = sl->dns_tcp_cookie;
			ret->proxy6_cookie = sl->proxy6_cookie;
			ret->dns_udp6_cookie = sl->dns_udp6_cookie;
			ret->dns_tcp6_cookie = sl->dns_tcp6_cookie;
			if (!ret->scope_cgid)
				ret->scope_cgid = st.scope_cgid;
		}
		close(fd);
	} else if (!ret->n_progs) {
		return ward_errx(err, -ENOENT, "host mode: nothing pinned in %s", pin_dir);
	}
	if ((fd = obj_get(pin_dir, "map", "host_failclosed")) >= 0) {
		ret->failclosed = percpu_sum(fd, 0);
		close(fd);
	}
	if ((fd = obj_get(pin_dir, "map", "drops")) >= 0) {
		ret->dropped = percpu_sum(fd, 0);
		close(fd);
	}
	if ((fd = obj_get(pin_dir, "map", "host_exempt")) >= 0) {
		while (bpf_map_get_next_key(fd, first ? NULL : &k, &next) == 0) {
			first = false;
			k = next;
			if (ret->n_exempt < WARD_HOST_MAX_EXEMPT)
				ret->exempt[ret->n_exempt++] = next;
		}
		close(fd);
	}
	return 0;
}
