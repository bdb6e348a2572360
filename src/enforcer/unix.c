// SPDX-License-Identifier: MIT
/* Loader for bpf/unix.bpf.c (open → rodata → set the unix attach types →
 * load → fill the rules → attach), the policy's identity table the broker
 * shares, and decision rows of layer "unix". Binary paths become identities
 * exactly as the egress layer makes them (egress_idents_build). */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/owner.h"
#include "common/strv.h"
#include "common/util.h"
#include "enforcer/btf.h"
#include "enforcer/egress_internal.h"
#include "enforcer/exe.h"
#include "enforcer/unix.h"
/* before the skeleton, which names struct ward_unix_cfg */
#include "../../bpf/unix_decide.h"
#include "unix.skel.h"

/* enum bpf_attach_type values of Linux 6.7; the distribution's headers and
 * libbpf may predate them */
#define UNIX_ATTACH_CONNECT 49
#define UNIX_ATTACH_SENDMSG 50
#define SHA_CACHE 64

DEFINE_CLEANUP(struct unix_bpf *, unix_bpf__destroy)
DEFINE_CLEANUP(struct ward_unix *, ward_unix_free)

struct sha_entry {
	uint64_t dev, ino;
	char hex[65];
};

struct ward_unix {
	struct unix_bpf *skel;
	struct bpf_link *links[2];
	struct ring_buffer *rb;
	struct ward_egress id; /* only its warnings are used */
	/* generations (egress_internal.h): identities, policy, rev; fds[0] the
	 * rules map, n_ports the pairs in it */
	struct egress_gens gens;
	struct egress_slots slots;
	pthread_mutex_t apply_lock;
	char *sandbox;
	struct ward_audit *audit;
	struct ward_session_hook session_of;
	bool learn; /* --learn: the broker connects what the policy does not name */
	uint64_t mono_to_real;
	pthread_mutex_t lock; /* the sha cache: the broker and the event reader */
	struct sha_entry sha[SHA_CACHE];
	size_t n_sha;
	uint64_t reported_drops, last_report_ns;
};

/* One (identity, named path) pair; the first policy that names it gives the rule. */
static int add_rule(struct egress_gen *g, const struct egress_ident *id, uint32_t pol,
		    const char *path, struct ward_error *err)
{
	struct ward_unix_key key = { .dev = id->key.dev, .ino = id->key.ino };
	struct ward_unix_val v = { .pol = pol, .flags = id->flags & WARD_IDENT_ANCESTORS };
	int r;

	if (strlen(path) >= sizeof(key.path))
		return ward_errx(err, -ENAMETOOLONG,
				 "unix socket path '%s' is longer than %zu bytes", path,
				 sizeof(key.path) - 1);
	memcpy(key.path, path, strlen(path));
	r = bpf_map_update_elem(g->fds[0], &key, &v, BPF_NOEXIST);
	if (r == -EEXIST)
		return 0;
	if (r == -E2BIG || r == -ENOMEM || g->n_ports >= WARD_UNIX_MAX_RULES)
		return ward_errx(err, -E2BIG, "more than %d (binary, unix socket) pairs",
				 WARD_UNIX_MAX_RULES);
	if (r < 0)
		return ward_err(err, r, "unix rules map");
	g->n_ports++;
	return 0;
}

static int create_rules_map(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);

	/* after the template rule_map of unix.bpf.c */
	return bpf_map_create(BPF_MAP_TYPE_HASH, "ward_unix_rules", sizeof(struct ward_unix_key),
			      sizeof(struct ward_unix_val), WARD_UNIX_MAX_RULES, &opts);
}

/* g's rules map (the one waiting in its slot, or a new one), beside the one
 * in force, filled; nothing reads it yet. */
static int fill_rules(struct ward_unix *u, struct egress_gen *g, bool *ret_placed,
		      struct ward_error *err)
{
	const struct ward_policy *p = g->policy;

	g->fds[0] = egress_slots_take(&u->slots, g->seq, ret_placed);
	if (g->fds[0] < 0)
		return ward_err(err, g->fds[0], "create the unix rules of policy generation %u",
				g->seq);
	for (size_t i = 0; i < g->n_idents; i++) {
		const struct egress_ident *id = &g->idents[i];

		for (size_t j = 0; j < id->n_pols; j++) {
			const struct ward_net_policy *np = &p->net[id->pols[j]];

			for (size_t k = 0; k < np->n_unix_sockets; k++) {
				int r = add_rule(g, id, id->pols[j], np->unix_sockets[k].path, err);

				if (r < 0)
					return r;
			}
		}
	}
	return 0;
}

int ward_unix_apply(struct ward_unix *u, const struct ward_policy *p, struct ward_error *err)
{
	char **warnings = u->id.warnings;
	size_t n_warnings = u->id.n_warnings;
	struct egress_gen *g = NULL;
	bool placed = false;
	int r;

	pthread_mutex_lock(&u->apply_lock);
	egress_slots_settle(&u->slots); /* the previous switch's wait, unless done */
	u->id.warnings = NULL;
	u->id.n_warnings = 0;
	r = egress_gen_new(&u->gens, p, &g);
	if (r < 0)
		r = ward_err(err, r, "unix");
	if (r >= 0)
		r = egress_idents_build(&u->id, g, p, err);
	if (r >= 0)
		r = fill_rules(u, g, &placed, err);
	if (r >= 0 && (r = egress_slots_put(&u->slots, g->seq, g->fds[0], placed)) < 0)
		ward_err(err, r, "publish unix policy generation %u", g->seq);
	if (r < 0) {
		/* the generation in force stays, and its warnings */
		if (g) {
			egress_slots_giveback(&u->slots, g->seq, g->fds[0], placed);
			g->fds[0] = -1;
		}
		egress_gen_free(g);
		ward_strv_free(&u->id.warnings, &u->id.n_warnings);
		u->id.warnings = warnings;
		u->id.n_warnings = n_warnings;
	} else {
		ward_strv_free(&warnings, &n_warnings);
		/* readers know g before the kernel names it in an event; then
		 * the switch; the slot of two back gets the next one's map at
		 * the settle */
		egress_gens_push(&u->gens, g);
		__atomic_store_n(&u->skel->bss->ward_active, (uint64_t)g->seq, __ATOMIC_RELEASE);
		u->slots.settle_seq = g->seq;
	}
	pthread_mutex_unlock(&u->apply_lock);
	return r;
}

void ward_unix_settle(struct ward_unix *u)
{
	pthread_mutex_lock(&u->apply_lock);
	egress_slots_settle(&u->slots);
	pthread_mutex_unlock(&u->apply_lock);
}

/* The rev of the generation in force (rows not made of an event). */
static void cur_rev(struct ward_unix *u, char rev[65])
{
	rev[0] = '\0';
	pthread_rwlock_rdlock(&u->gens.lock);
	if (u->gens.cur)
		memcpy(rev, u->gens.cur->rev, 65);
	pthread_rwlock_unlock(&u->gens.lock);
}

static int on_sample(void *ctx, void *data, size_t size);

static int open_load(struct unix_bpf **ret, pid_t broker, struct ward_error *err)
{
	_cleanup_(unix_bpf__destroyp) struct unix_bpf *s = NULL;
	libbpf_print_fn_t old;
	int r;

	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = ward_btf_custom_path());
	s = unix_bpf__open_opts(&open_opts);
	if (!s)
		return ward_err(err, -errno, "open BPF unix programs");
	((struct ward_unix_cfg *)&s->rodata->cfg)->broker_tgid = (uint32_t)broker;
	if (bpf_program__set_expected_attach_type(s->progs.ward_connect_unix,
						  UNIX_ATTACH_CONNECT) ||
	    bpf_program__set_expected_attach_type(s->progs.ward_sendmsg_unix, UNIX_ATTACH_SENDMSG))
		return ward_errx(err, -EINVAL, "set the unix attach types");
	/* kernels before 6.7 have no unix sock_addr hooks: the refusal is
	 * expected there, said once by the caller, not as a verifier log */
	old = ward_libbpf_mute();
	r = unix_bpf__load(s);
	libbpf_set_print(old);
	if (r < 0)
		return ward_err(err, r, "load BPF connect_unix/sendmsg_unix (Linux >= 6.7)");
	*ret = TAKE_PTR(s);
	return 0;
}

int ward_unix_new(const struct ward_policy *p, const struct ward_unix_config *cfg,
		  struct ward_unix **ret, struct ward_error *err)
{
	_cleanup_(ward_unix_freep) struct ward_unix *u = NULL;
	int r;

	u = calloc(1, sizeof(*u));
	if (!u)
		return ward_err(err, -ENOMEM, "unix");
	pthread_mutex_init(&u->lock, NULL);
	pthread_mutex_init(&u->apply_lock, NULL);
	egress_gens_init(&u->gens);
	u->slots = (struct egress_slots){ .ready_fd = -1, .create = create_rules_map };
	u->audit = cfg->audit;
	u->session_of = cfg->session_of;
	u->learn = cfg->learn;
	if (cfg->sandbox && !(u->sandbox = strdup(cfg->sandbox)))
		return ward_err(err, -ENOMEM, "unix");
	u->mono_to_real = ward_now_ns() - ward_mono_ns();
	r = open_load(&u->skel, cfg->broker_tgid, err);
	if (r < 0)
		return r;
	u->slots.outer_fd = bpf_map__fd(u->skel->maps.rules);
	u->slots.first_fd = bpf_map__fd(u->skel->maps.rules1);
	r = ward_unix_apply(u, p, err);
	if (r < 0)
		return r;
	u->rb = ring_buffer__new(bpf_map__fd(u->skel->maps.events), on_sample, u, NULL);
	if (!u->rb)
		return ward_err(err, -errno, "unix ring buffer");
	*ret = TAKE_PTR(u);
	return 0;
}

int ward_unix_set_sandbox(struct ward_unix *u, const char *sandbox)
{
	char *c = strdup(sandbox);

	if (!c)
		return -ENOMEM;
	free(u->sandbox);
	u->sandbox = c;
	return 0;
}

int ward_unix_attach(struct ward_unix *u, int cgroup_fd, struct ward_error *err)
{
	struct bpf_program *progs[2] = { u->skel->progs.ward_connect_unix,
					 u->skel->progs.ward_sendmsg_unix };

	for (size_t i = 0; i < ARRAY_SIZE(progs); i++) {
		u->links[i] = bpf_program__attach_cgroup(progs[i], cgroup_fd);
		if (!u->links[i])
			return ward_err(err, -errno, "attach BPF program %s to the sandbox cgroup",
					bpf_program__name(progs[i]));
	}
	return 0;
}

void ward_unix_free(struct ward_unix *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(u->links); i++)
		bpf_link__destroy(u->links[i]);
	ring_buffer__free(u->rb);
	unix_bpf__destroy(u->skel);
	egress_gens_destroy(&u->gens);
	egress_slots_destroy(&u->slots);
	ward_strv_free(&u->id.warnings, &u->id.n_warnings);
	pthread_mutex_destroy(&u->lock);
	pthread_mutex_destroy(&u->apply_lock);
	free(u->sandbox);
	free(u);
}

const char *const *ward_unix_warnings(const struct ward_unix *u, size_t *ret_n)
{
	*ret_n = u->id.n_warnings;
	return (const char *const *)u->id.warnings;
}

size_t ward_unix_n_rules(const struct ward_unix *u)
{
	struct egress_gens *gs = (struct egress_gens *)&u->gens;
	size_t n;

	pthread_rwlock_rdlock(&gs->lock);
	n = gs->cur ? gs->cur->n_ports : 0;
	pthread_rwlock_unlock(&gs->lock);
	return n;
}

int ward_unix_events_fd(const struct ward_unix *u)
{
	return ring_buffer__epoll_fd(u->rb);
}

int ward_unix_consume(struct ward_unix *u)
{
	return ring_buffer__consume(u->rb);
}

uint64_t ward_unix_dropped(const struct ward_unix *u)
{
	int n = libbpf_num_possible_cpus();
	uint64_t sum = 0;
	uint32_t zero = 0;

	if (n <= 0)
		return 0;
	uint64_t v[n];

	if (bpf_map__lookup_elem(u->skel->maps.drops, &zero, sizeof(zero), v, sizeof(v), 0) < 0)
		return 0;
	for (int i = 0; i < n; i++)
		sum += v[i];
	return sum;
}

void ward_unix_report_drops(struct ward_unix *u, bool force)
{
	uint64_t now = ward_mono_ns(), dropped;
	char reason[128], rev[65];
	struct ward_decision d;

	if (!force && now - u->last_report_ns < 1000000000ull)
		return;
	u->last_report_ns = now;
	dropped = ward_unix_dropped(u);
	if (dropped <= u->reported_drops)
		return;
	/* refusals nobody saw: the log says they existed */
	snprintf(reason, sizeof(reason), "%llu events dropped (ring buffer full)",
		 (unsigned long long)(dropped - u->reported_drops));
	u->reported_drops = dropped;
	cur_rev(u, rev);
	d = (struct ward_decision){
		.sandbox = u->sandbox,
		.layer = "unix",
		.action = "deny",
		.rule = "events_dropped",
		.reason = reason,
		.policy_rev = rev[0] ? rev : NULL,
	};
	if (u->audit)
		(void)ward_audit_submit(u->audit, &d);
}

static int proc_exe(pid_t pid, uint64_t *dev, uint64_t *ino)
{
	struct ward_exe_ident id;
	char link[64];
	int fd, r;

	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	fd = open(link, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* the key the kernel reads (overlayfs, btrfs: not stat()'s st_dev) */
	r = ward_exe_ident_fd(fd, pid, &id);
	close(fd);
	if (r < 0)
		return r;
	*dev = id.key.dev;
	*ino = id.key.ino;
	return 0;
}

static pid_t proc_ppid(pid_t pid)
{
	char path[64], buf[512];
	ssize_t n;
	char *p;
	int fd, ppid;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* comm may hold anything, ')' included: the last one ends it */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

int ward_unix_named(struct ward_unix *u, pid_t pid, const struct stat *sock, const char **ret_rule,
		    const char **ret_binary)
{
	const struct egress_gen *g;
	int found = 0;

	*ret_rule = NULL;
	*ret_binary = NULL;
	/* the generation in force decides; the strings handed out outlive it
	 * (interned in the handle, struct egress_strtab) and the policy
	 * is the caller's */
	pthread_rwlock_rdlock(&u->gens.lock);
	g = u->gens.cur;
	for (unsigned depth = 0; g && depth <= WARD_ANCESTOR_DEPTH && pid > 0 && !found; depth++) {
		const struct egress_ident *id;
		uint64_t dev, ino;

		if (proc_exe(pid, &dev, &ino) < 0)
			break;
		id = egress_ident_find(g, dev, ino);
		if (id && depth == 0)
			*ret_binary = id->path;
		if (id && (depth == 0 || (id->flags & WARD_IDENT_ANCESTORS)))
			for (size_t j = 0; j < id->n_pols && !found; j++) {
				const struct ward_net_policy *np = &g->policy->net[id->pols[j]];

				for (size_t k = 0; k < np->n_unix_sockets; k++) {
					struct stat st;

					/* now, on the host: the socket the policy means today */
					if (stat(np->unix_sockets[k].path, &st) == 0 &&
					    st.st_dev == sock->st_dev &&
					    st.st_ino == sock->st_ino) {
						/* a copy that outlives the policy */
						*ret_rule = g->keys[id->pols[j]];
						*ret_binary = id->path;
						found = 1;
						break;
					}
				}
			}
		pid = proc_ppid(pid);
	}
	pthread_rwlock_unlock(&u->gens.lock);
	return found;
}

/* sha256 of the executable of pid, cached per identity. */
static const char *exe_sha(struct ward_unix *u, pid_t pid, uint64_t dev, uint64_t ino)
{
	struct sha_entry *e = NULL;
	char link[64], hex[65];

	for (size_t i = 0; i < u->n_sha; i++)
		if (u->sha[i].dev == dev && u->sha[i].ino == ino)
			return u->sha[i].hex;
	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	if (ward_sha256_file_hex(AT_FDCWD, link, hex) < 0)
		return NULL;
	/* the file hashed must still be that identity (exec, pid reuse) */
	{
		uint64_t d2, i2;

		if (proc_exe(pid, &d2, &i2) < 0 || d2 != dev || i2 != ino)
			return NULL;
	}
	e = &u->sha[u->n_sha < SHA_CACHE ? u->n_sha++ : (size_t)(ino % SHA_CACHE)];
	*e = (struct sha_entry){ .dev = dev, .ino = ino };
	memcpy(e->hex, hex, sizeof(hex));
	return e->hex;
}

/* uid: as the kernel read it, or WARD_OWNER_UID_NONE (the process waits in
 * the seccomp broker: /proc/PID/status names it) */
static void row_in(struct ward_unix *u, const char *rev, const char *layer, const char *method,
		   uint64_t ts_ns, pid_t pid, uint32_t uid, uint64_t cgid, uint64_t dev,
		   uint64_t ino, const char *action, const char *path, const char *binary,
		   const char *rule,
		   const char *reason)
{
	char bin[PATH_MAX], sha[65] = "", session[32];
	struct ward_decision d = { 0 };
	struct ward_owner owner;
	const char *h;

	if (!binary) {
		if (ward_exe_name(pid, dev, ino, NULL, bin, sizeof(bin)) < 0)
			snprintf(bin, sizeof(bin), "inode %llu:%llu:%llu",
				 (unsigned long long)(dev >> 20),
				 (unsigned long long)(dev & 0xfffff), (unsigned long long)ino);
		binary = bin;
	}
	pthread_mutex_lock(&u->lock);
	h = exe_sha(u, pid, dev, ino);
	if (h)
		memcpy(sha, h, sizeof(sha));
	pthread_mutex_unlock(&u->lock);
	d.ts_ns = ts_ns;
	d.sandbox = u->sandbox;
	d.layer = layer;
	d.action = action;
	d.binary = binary;
	d.binary_sha256 = sha[0] ? sha : NULL;
	d.pid = (int32_t)pid;
	d.method = method;
	d.path = path;
	d.protocol = path ? "unix" : NULL;
	d.rule = rule;
	d.reason = reason;
	d.policy_rev = rev && rev[0] ? rev : NULL;
	d.session = ward_session_of(&u->session_of, cgid, session);
	ward_owner_of(&owner, pid, uid, cgid);
	d.has_uid = owner.has_uid;
	d.uid = owner.uid;
	d.cgroup = owner.cgroup;
	if (u->audit)
		(void)ward_audit_submit(u->audit, &d);
}

void ward_unix_row(struct ward_unix *u, pid_t pid, const char *action, const char *path,
		   const char *binary, const char *rule, const char *reason)
{
	uint64_t dev = 0, ino = 0;
	char rev[65];

	(void)proc_exe(pid, &dev, &ino);
	cur_rev(u, rev);
	row_in(u, rev, "unix", NULL, 0, pid, WARD_OWNER_UID_NONE, ward_pid_cgroup_id(pid), dev, ino,
	       action, path, binary, rule, reason);
}

void ward_unix_seccomp_row(struct ward_unix *u, pid_t pid, const char *syscall_name,
			   const char *reason)
{
	uint64_t dev = 0, ino = 0;
	char rev[65];

	(void)proc_exe(pid, &dev, &ino);
	cur_rev(u, rev);
	row_in(u, rev, "seccomp", syscall_name, 0, pid, WARD_OWNER_UID_NONE, ward_pid_cgroup_id(pid),
	       dev, ino, "deny", NULL, NULL, "seccomp", reason);
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct ward_unix *u = ctx;
	const struct ward_unix_event *ev = data;
	const struct egress_ident *id;
	const struct egress_gen *g;
	char path[WARD_UNIX_PATH_MAX + 1], reason[128];
	bool allow;

	if (size < sizeof(*ev) || ev->version != WARD_ABI_VERSION)
		return 0;
	memcpy(path, ev->path, WARD_UNIX_PATH_MAX);
	path[WARD_UNIX_PATH_MAX] = '\0';
	allow = ev->verdict == WARD_VERDICT_ALLOW;
	snprintf(reason, sizeof(reason), "%s (%s)", ward_unix_reason_str(ev->reason),
		 ev->hook == WARD_UNIX_HOOK_SENDMSG ? "datagram, decided by path"
						    : "connect, decided by path");
	/* the generation that decided: its rule and rev */
	pthread_rwlock_rdlock(&u->gens.lock);
	g = egress_gens_find(&u->gens, ev->gen, false);
	id = egress_ident_find(g ? g : u->gens.cur, ev->dev, ev->ino);
	row_in(u, egress_gens_rev(&u->gens, ev->gen), "unix", NULL, ev->ts_ns + u->mono_to_real,
	       (pid_t)ev->tgid, ev->uid, ev->cgid, ev->dev, ev->ino, allow ? "allow" : "deny", path,
	       id ? id->path : NULL, allow ? egress_gens_key(&u->gens, ev->gen, ev->pol) : NULL,
	       reason);
	pthread_rwlock_unlock(&u->gens.lock);
	return 0;
}

bool ward_unix_learning(const struct ward_unix *u)
{
	return u->learn;
}

int ward_unix_probe(struct ward_error *err)
{
	_cleanup_(unix_bpf__destroyp) struct unix_bpf *s = NULL;

	/* the kernel checks the expected attach type at load: a kernel without
	 * connect_unix refuses it here (nothing is attached anywhere) */
	return open_load(&s, 0, err);
}
