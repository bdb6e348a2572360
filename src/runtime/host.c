// SPDX-License-Identifier: MIT
/* Host mode: the pinned egress programs at a scope cgroup and the daemon's
 * loopback proxy and DNS stub (host.h, docs/host.md). */
#include "runtime/host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "common/worker.h"
#include "enforcer/cgroup.h"
#include "enforcer/egress.h"
#include "proxy/admission.h"
#include "proxy/dns.h"
#include "proxy/proxy.h"
#include "proxy/tls.h"
#include "runtime/layer_dns.h"
#include "runtime/layer_proxy.h"

#define PORT_TRIES 8	   /* a free port probed, then taken by someone else first */
#define HOST_DNS_RATE 2000 /* queries per second: a machine, not one sandbox */

struct host_exempt {
	char *path; /* the cgroup directory */
	uint64_t cgid;
	const char *why; /* "the daemon", "ward sandboxes" or "policy" */
};

struct ward_host {
	struct ward_policy *policy;
	char *pin_dir;
	char *scope;
	bool audit_mode;
	bool took_over;
	uint64_t failclosed_at_start;
	struct ward_egress *egress; /* set once open: the listeners' lookups read it */
	struct ward_worker reader;
	struct ward_proxy *proxy;
	struct ward_dns *dns;
	struct ward_tls_upstream *tls_up;
	uint16_t proxy_port, tproxy_port, dns_port;
	bool has6; /* the listeners are on ::1 too (same ports) */
	struct host_exempt exempt[WARD_HOST_MAX_EXEMPT];
	size_t n_exempt;
	char **warnings;
	size_t n_warnings;
};

const char *ward_host_pin_dir(const char *opt)
{
	const char *env;

	if (opt && *opt)
		return opt;
	env = secure_getenv("WARD_BPFFS_DIR");
	return env && *env ? env : WARD_EGRESS_HOST_PIN_DIR;
}

static int is_cgroup2(const char *path)
{
	struct statfs sf;

	if (statfs(path, &sf) < 0)
		return -errno;
	return sf.f_type == CGROUP2_SUPER_MAGIC ? 0 : -ENOTDIR;
}

int ward_host_scope_path(const char *opt, char **ret, struct ward_error *err)
{
	const char *mnt = ward_cgroup2_mount();
	_cleanup_free_ char *joined = NULL;
	char *real;
	size_t n;
	int r;

	if (!mnt)
		return ward_errx(err, -EOPNOTSUPP, "no cgroup v2 hierarchy is mounted here");
	n = strlen(mnt);
	if (!opt || !*opt)
		opt = mnt;
	else if (opt[0] != '/')
		return ward_errx(err, -EINVAL, "scope '%s' must be an absolute path", opt);
	/* "/system.slice" is below the v2 root; a path under the mount is taken as it is */
	if (strncmp(opt, mnt, n) != 0 || (opt[n] != '/' && opt[n] != '\0')) {
		if (asprintf(&joined, "%s%s", mnt, opt) < 0)
			return ward_err(err, -ENOMEM, "scope");
		opt = joined;
	}
	real = realpath(opt, NULL);
	if (!real)
		return ward_err(err, -errno, "scope %s", opt);
	if (strncmp(real, mnt, n) != 0 || (real[n] != '/' && real[n] != '\0')) {
		free(real);
		return ward_errx(err, -EINVAL, "scope %s is not below the cgroup v2 mount %s", opt,
				 mnt);
	}
	r = is_cgroup2(real);
	if (r < 0) {
		ward_err(err, r, "scope %s is not a cgroup v2 directory", real);
		free(real);
		return r;
	}
	*ret = real;
	return 0;
}

/* The cgroup id (what bpf_get_current_cgroup_id() says) of a v2 directory. */
static int cgroup_id(const char *path, uint64_t *ret)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = { .fh.handle_bytes = sizeof(uint64_t) };
	int mount_id;

	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0) < 0)
		return -errno;
	if (h.fh.handle_bytes != sizeof(uint64_t))
		return -EOPNOTSUPP;
	memcpy(ret, h.fh.f_handle, sizeof(*ret));
	return 0;
}

/* The daemon's own v2 cgroup directory ("0::/path" of /proc/self/cgroup). */
static int self_cgroup(char **ret, struct ward_error *err)
{
	_cleanup_free_ char *text = NULL;
	const char *mnt = ward_cgroup2_mount();
	char *line, *nl;
	int r = ward_read_file("/proc/self/cgroup", 64 * 1024, &text, NULL);

	if (r < 0)
		return ward_err(err, r, "read /proc/self/cgroup");
	for (line = text; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (strncmp(line, "0::", 3) == 0) {
			if (asprintf(ret, "%s%s", mnt, strcmp(line + 3, "/") ? line + 3 : "") < 0)
				return ward_err(err, -ENOMEM, "cgroup path");
			return 0;
		}
	}
	return ward_errx(err, -ENOENT, "the daemon's cgroup v2 is not in /proc/self/cgroup");
}

static bool path_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static int warn(struct ward_host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int warn(struct ward_host *h, const char *fmt, ...)
{
	char **w = realloc(h->warnings, (h->n_warnings + 1) * sizeof(*w));
	va_list ap;
	int r;

	if (!w)
		return -ENOMEM;
	h->warnings = w;
	va_start(ap, fmt);
	r = vasprintf(&w[h->n_warnings], fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	h->n_warnings++;
	return 0;
}

static int add_exempt(struct ward_host *h, const char *path, const char *why,
		      struct ward_error *err)
{
	uint64_t id = 0;
	int r;

	if (h->n_exempt >= WARD_HOST_MAX_EXEMPT)
		return ward_errx(err, -E2BIG, "more than %d exempt cgroups", WARD_HOST_MAX_EXEMPT);
	r = cgroup_id(path, &id);
	if (r < 0)
		return r;
	for (size_t i = 0; i < h->n_exempt; i++)
		if (h->exempt[i].cgid == id)
			return 0;
	h->exempt[h->n_exempt].path = strdup(path);
	if (!h->exempt[h->n_exempt].path)
		return ward_err(err, -ENOMEM, "exemption");
	h->exempt[h->n_exempt].cgid = id;
	h->exempt[h->n_exempt].why = why;
	h->n_exempt++;
	return 0;
}

/* The parent of ward's sandbox cgroups (<cgroup2>/ward/ID of `ward run` and
 * the daemon's sandboxes), created when missing so that a sandbox started
 * later is covered: a sandbox lives in a network namespace of its own, where
 * the host programs' redirect to the loopback listeners cannot reach; its own
 * programs, nftables and proxy decide, under a policy the org ceiling bounded
 * by this host policy when it was compiled (policy/ceiling.h). Not exempted
 * when it is the scope or contains it (that would exempt the whole scope). */
static int exempt_sandboxes(struct ward_host *h, struct ward_error *err)
{
	_cleanup_free_ char *root = NULL;
	int r;

	if (asprintf(&root, "%s/ward", ward_cgroup2_mount()) < 0)
		return ward_err(err, -ENOMEM, "exemption");
	if (path_below(h->scope, root) || !path_below(root, h->scope))
		return 0;
	if (mkdir(root, 0755) < 0 && errno != EEXIST)
		return ward_err(err, -errno, "mkdir '%s'", root);
	r = add_exempt(h, root, "ward sandboxes", err);
	return r < 0 && r != -E2BIG ? ward_err(err, r, "cgroup id of %s", root) : r;
}

/* The daemon's cgroup first (always exempt, and never the scope or above it:
 * that would exempt everything), ward's sandboxes, then the policy's. */
static int exemptions(struct ward_host *h, struct ward_error *err)
{
	const struct ward_policy *p = h->policy;
	const char *mnt = ward_cgroup2_mount();
	_cleanup_free_ char *self = NULL;
	int r;

	r = self_cgroup(&self, err);
	if (r < 0)
		return r;
	if (path_below(h->scope, self))
		return ward_errx(err, -EINVAL,
				 "the daemon's cgroup %s is the scope %s or above it: exempting it "
				 "would exempt the whole scope (run the daemon in a cgroup of its "
				 "own, as ward.service does)",
				 self, h->scope);
	r = add_exempt(h, self, "the daemon", err);
	if (r < 0)
		return r == -E2BIG ? r : ward_err(err, r, "cgroup id of %s", self);
	r = exempt_sandboxes(h, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < p->n_host_exempt; i++) {
		const struct ward_host_exempt *x = &p->host_exempt[i];
		_cleanup_free_ char *path = NULL;

		if (!x->cgroup)
			continue; /* a binary: its identity carries the exemption (egress) */
		if (asprintf(&path, "%s%s", mnt, x->cgroup) < 0)
			return ward_err(err, -ENOMEM, "exemption");
		r = add_exempt(h, path, "policy", err);
		if (r == -ENOENT) {
			/* not there (yet): nothing to exempt; the unit's traffic is decided */
			r = warn(h, "%s:%u:%u: exempt cgroup %s does not exist: not exempted",
				 p->source_path ? p->source_path : "policy", x->pos.line,
				 x->pos.col, path);
			if (r < 0)
				return ward_err(err, r, "warning");
			continue;
		}
		if (r < 0)
			return r == -E2BIG ? r : ward_err(err, r, "cgroup id of %s", path);
	}
	return 0;
}

/* Bind a socket of type on the loopback address of family at *port (0: any,
 * then *port says which); the socket is closed by the caller. */
static int bind_loopback(int family, int type, uint16_t *port, int *ret_fd)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				  .sin_port = htons(*port) };
	struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6,
				    .sin6_addr = IN6ADDR_LOOPBACK_INIT,
				    .sin6_port = htons(*port) };
	struct sockaddr *a = family == AF_INET ? (struct sockaddr *)&sa : (struct sockaddr *)&sa6;
	socklen_t len = family == AF_INET ? sizeof(sa) : sizeof(sa6);
	int fd = socket(family, type | SOCK_CLOEXEC, 0);

	*ret_fd = fd;
	if (fd < 0 || bind(fd, a, len) < 0 || getsockname(fd, a, &len) < 0)
		return -errno;
	*port = ntohs(family == AF_INET ? sa.sin_port : sa6.sin6_port);
	return 0;
}

/* A port free on 127.0.0.1 (and on ::1 with v6) for every socket type asked
 * (bound, read, closed: the listener binds it next; a race loses one try). */
static int free_port(bool udp_too, bool v6, uint16_t *ret)
{
	_cleanup_close_ int t = -1, u = -1, t6 = -1, u6 = -1;
	uint16_t port = 0;
	int r;

	r = bind_loopback(AF_INET, SOCK_STREAM, &port, &t);
	if (r >= 0 && udp_too)
		r = bind_loopback(AF_INET, SOCK_DGRAM, &port, &u);
	if (r >= 0 && v6)
		r = bind_loopback(AF_INET6, SOCK_STREAM, &port, &t6);
	if (r >= 0 && v6 && udp_too)
		r = bind_loopback(AF_INET6, SOCK_DGRAM, &port, &u6);
	if (r < 0)
		return r;
	*ret = port;
	return 0;
}

/* Whether ::1 can be bound here (no FREEBIND: an address the namespace does
 * not have is no IPv6): without it native IPv6 destinations are refused. */
static bool ipv6_loopback(void)
{
	_cleanup_close_ int fd = -1;
	uint16_t port = 0;

	return bind_loopback(AF_INET6, SOCK_STREAM, &port, &fd) == 0;
}

/* The listeners ask the egress maps who connected; until the handle is
 * open nobody can have been redirected: unknown. */
static struct ward_egress *host_egress(void *data)
{
	struct ward_host *h = data;

	return __atomic_load_n(&h->egress, __ATOMIC_ACQUIRE);
}

static int proxy_lookup(void *data, const struct sockaddr *peer, struct ward_peer_ident *ret)
{
	struct ward_egress *e = host_egress(data);

	return e ? ward_proxy_egress_lookup(e, peer, ret) : -ENOENT;
}

static int dns_lookup(void *data, int socktype, const struct sockaddr *peer,
		      struct ward_peer_ident *ret)
{
	struct ward_egress *e = host_egress(data);

	return e ? ward_dns_egress_lookup(e, socktype, peer, ret) : -ENOENT;
}

static int start_dns(struct ward_host *h, const struct ward_host_config *cfg,
		     struct ward_error *err)
{
	int r = -EADDRINUSE;

	for (int i = 0; i < PORT_TRIES && r == -EADDRINUSE; i++) {
		struct ward_dns_opts o = {
			.policy = h->policy,
			.audit = cfg->log,
			.sandbox = WARD_HOST_SANDBOX,
			.lookup = dns_lookup,
			.lookup_data = h,
			.addr4 = { htonl(INADDR_LOOPBACK) },
			.addr6 = IN6ADDR_LOOPBACK_INIT,
			.has_addr6 = h->has6,
			.hosts_file = cfg->hosts_file,
			.rate = HOST_DNS_RATE,
		};

		r = free_port(true, h->has6, &h->dns_port);
		if (r < 0)
			return ward_err(err, r, "a free port for the DNS stub");
		o.port = h->dns_port;
		*err = (struct ward_error){ 0 };
		r = ward_dns_start(&o, &h->dns, err);
	}
	return r;
}

static int start_proxy(struct ward_host *h, const struct ward_host_config *cfg,
		       struct ward_error *err)
{
	int r = -EADDRINUSE;

	for (int i = 0; i < PORT_TRIES && r == -EADDRINUSE; i++) {
		struct ward_proxy_config pc = {
			.policy = h->policy,
			.lookup = proxy_lookup,
			.lookup_data = h,
			.audit = cfg->log,
			.log_path = cfg->log_path,
			.sandbox = WARD_HOST_SANDBOX,
			.hosts_file = cfg->hosts_file,
			.listen4 = { htonl(INADDR_LOOPBACK) },
			.has_listen6 = h->has6,
			.listen6 = IN6ADDR_LOOPBACK_INIT,
			.tls_upstream = h->tls_up,
		};

		r = free_port(false, h->has6, &h->proxy_port);
		if (r >= 0)
			r = free_port(false, h->has6, &h->tproxy_port);
		if (r >= 0 && h->proxy_port == h->tproxy_port)
			r = -EADDRINUSE;
		if (r == -EADDRINUSE)
			continue;
		if (r < 0)
			return ward_err(err, r, "a free port for the proxy");
		pc.explicit_port = h->proxy_port;
		pc.transparent_port = h->tproxy_port;
		ward_proxy_limits_from_policy(&h->policy->limits, &pc.limits);
		*err = (struct ward_error){ 0 };
		r = ward_proxy_new(&pc, &h->proxy, err);
	}
	if (r < 0)
		return ward_err_prefix(err, "proxy");
	return ward_proxy_start(h->proxy, err);
}

static void drain(void *e)
{
	ward_egress_consume(e);
}

int ward_host_start(struct ward_policy *p, const struct ward_host_config *cfg,
		    struct ward_host **ret, struct ward_error *err)
{
	struct ward_host *h = calloc(1, sizeof(*h));
	struct ward_host_pins pins;
	struct ward_error ignore = { 0 };
	uint64_t cgids[WARD_HOST_MAX_EXEMPT];
	_cleanup_close_ int scope_fd = -1;
	struct ward_egress *e = NULL;
	int r;

	if (!h) {
		ward_policy_free(p);
		return ward_err(err, -ENOMEM, "host mode");
	}
	h->policy = p;
	h->reader = (struct ward_worker)WARD_WORKER_INIT;
	h->audit_mode = cfg->audit;
	h->pin_dir = strdup(ward_host_pin_dir(cfg->pin_dir));
	if (!h->pin_dir) {
		r = ward_err(err, -ENOMEM, "host mode");
		goto fail;
	}
	r = ward_host_scope_path(cfg->scope, &h->scope, err);
	if (r < 0)
		goto fail;
	r = exemptions(h, err);
	if (r < 0)
		goto fail;
	if (cfg->upstream_ca) {
		r = ward_tls_upstream_new(NULL, cfg->upstream_ca, &h->tls_up, err);
		if (r < 0) {
			ward_err_prefix(err, "upstream TLS");
			goto fail;
		}
	}
	/* listeners first: their ports go into the pinned configuration; on
	 * 127.0.0.1 and, where the namespace has IPv6, on ::1 */
	h->has6 = ipv6_loopback();
	if (!h->has6 &&
	    (r = warn(h, "no IPv6 loopback (::1) here: the proxy and the DNS stub listen on "
			 "127.0.0.1 only, IPv6 destinations of binaries with rules are refused")) <
		    0) {
		r = ward_err(err, r, "warning");
		goto fail;
	}
	r = start_dns(h, cfg, err);
	if (r < 0)
		goto fail;
	r = start_proxy(h, cfg, err);
	if (r < 0)
		goto fail;

	scope_fd = open(h->scope, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (scope_fd < 0) {
		r = ward_err(err, -errno, "open scope %s", h->scope);
		goto fail;
	}
	h->took_over = ward_egress_host_status(h->pin_dir, &pins, &ignore) == 0;
	for (size_t i = 0; i < h->n_exempt; i++)
		cgids[i] = h->exempt[i].cgid;
	struct ward_egress_config ec = {
		.proxy4 = { htonl(INADDR_LOOPBACK) },
		.dns4 = { htonl(INADDR_LOOPBACK) },
		.explicit_port = h->proxy_port,
		.transparent_port = h->tproxy_port,
		.dns_port = h->dns_port,
		.sandbox = WARD_HOST_SANDBOX,
		.audit = cfg->log,
		.pin_dir = h->pin_dir,
		.host = true,
		.audit_mode = cfg->audit,
		.exempt_cgids = cgids,
		.n_exempt = h->n_exempt,
	};
	r = ward_egress_host_open(p, &ec, scope_fd, &e, err);
	if (r < 0) {
		ward_err_prefix(err, "host egress");
		goto fail;
	}
	__atomic_store_n(&h->egress, e, __ATOMIC_RELEASE);
	{
		size_t n_warn;
		const char *const *w = ward_egress_warnings(e, &n_warn);

		for (size_t i = 0; i < n_warn; i++)
			warn(h, "%s", w[i]);
	}
	r = ward_worker_start_reader(&h->reader, ward_egress_events_fd(e), WARD_EVENTS_POLL_MS,
				     drain, e, "host egress event reader", err);
	if (r < 0)
		goto fail;
	{
		struct ward_egress_host_listeners l = {
			.proxy = ward_proxy_listener_cookie(h->proxy, true),
		};

		ward_dns_listener_cookies(h->dns, &l.dns_udp, &l.dns_tcp);
		if (h->has6) {
			l.proxy6 = ward_proxy_listener_cookie6(h->proxy, true);
			ward_dns_listener_cookies6(h->dns, &l.dns_udp6, &l.dns_tcp6);
		}
		r = ward_egress_host_register(e, &l, err);
		if (r < 0)
			goto fail;
	}
	/* what was refused while no daemon listened: from now on it is ours */
	r = ward_egress_host_reset_failclosed(e, &h->failclosed_at_start);
	if (r < 0) {
		r = ward_err(err, r, "read the fail-closed counter");
		goto fail;
	}
	*ret = h;
	return 0;

fail:
	ward_host_free(h);
	return r;
}

void ward_host_free(struct ward_host *h)
{
	if (!h)
		return;
	/* listeners first: nothing asks the egress handle afterwards */
	ward_proxy_free(h->proxy);
	ward_dns_stop(h->dns);
	ward_worker_stop(&h->reader);
	if (h->egress) {
		ward_egress_report_drops(h->egress, true);
		ward_egress_free(h->egress); /* the pinned links and maps stay */
	}
	ward_tls_upstream_free(h->tls_up);
	ward_policy_free(h->policy);
	for (size_t i = 0; i < h->n_exempt; i++)
		free(h->exempt[i].path);
	for (size_t i = 0; i < h->n_warnings; i++)
		free(h->warnings[i]);
	free(h->warnings);
	free(h->pin_dir);
	free(h->scope);
	free(h);
}

uint64_t ward_host_failclosed_at_start(const struct ward_host *h)
{
	return h->failclosed_at_start;
}

bool ward_host_took_over(const struct ward_host *h)
{
	return h->took_over;
}

const struct ward_policy *ward_host_policy(const struct ward_host *h)
{
	return h->policy;
}

const char *ward_host_scope(const struct ward_host *h)
{
	return h->scope;
}

const char *const *ward_host_warnings(const struct ward_host *h, size_t *ret_n)
{
	*ret_n = h->n_warnings;
	return (const char *const *)h->warnings;
}

int ward_host_unpin(const char *pin_dir, struct ward_error *err)
{
	return ward_egress_host_unpin(ward_host_pin_dir(pin_dir), err);
}

static const char *attach_name(uint32_t t)
{
	switch (t) {
	case 3: /* BPF_CGROUP_SOCK_OPS */
		return "sock_ops";
	case 10: /* BPF_CGROUP_INET4_CONNECT */
		return "connect4";
	case 11:
		return "connect6";
	case 14: /* BPF_CGROUP_UDP4_SENDMSG */
		return "sendmsg4";
	case 15:
		return "sendmsg6";
	case 19: /* BPF_CGROUP_UDP4_RECVMSG */
		return "recvmsg4";
	case 20:
		return "recvmsg6";
	case 2: /* BPF_CGROUP_INET_SOCK_CREATE */
		return "sock_create";
	case 25: /* BPF_CGROUP_INET_SOCK_RELEASE */
		return "sock_release";
	default:
		return NULL;
	}
}

json_t *ward_host_status_json(const struct ward_host *h, const char *pin_dir)
{
	struct ward_host_pins pins;
	struct ward_error err = { 0 };
	json_t *o = json_object(), *progs, *ex;
	const char *dir = h ? h->pin_dir : ward_host_pin_dir(pin_dir);
	int r;

	if (!o)
		return NULL;
	r = ward_egress_host_status(dir, &pins, &err);
	json_object_set_new(o, "pin_dir", json_string(dir));
	if (r < 0) {
		json_object_set_new(o, "state",
				    json_string(h ? "enforced, pins missing" : "not enforced"));
		json_object_set_new(o, "pinned", json_false());
		if (r != -ENOENT)
			json_object_set_new(o, "error", json_string(err.msg));
	} else {
		json_object_set_new(o, "state",
				    json_string(h ? "enforced" : "pinned, daemon down"));
		json_object_set_new(o, "pinned", json_true());
		json_object_set_new(o, "scope_cgid", json_integer((json_int_t)pins.scope_cgid));
		json_object_set_new(o, "generation", json_integer(pins.generation));
		json_object_set_new(o, "mode", json_string(pins.audit ? "audit" : "enforce"));
		progs = json_array();
		for (size_t i = 0; i < pins.n_progs && i < WARD_EGRESS_HOST_N_PROGS; i++) {
			const struct ward_host_prog *hp = &pins.progs[i];
			const char *an = attach_name(hp->attach_type);
			json_t *po = json_pack("{s:s, s:I, s:I, s:I}", "name", hp->name, "prog_id",
					       (json_int_t)hp->prog_id, "link_id",
					       (json_int_t)hp->link_id, "attach_type",
					       (json_int_t)hp->attach_type);

			if (po && an)
				json_object_set_new(po, "attach", json_string(an));
			json_array_append_new(progs, po);
		}
		json_object_set_new(o, "programs", progs);
		json_object_set_new(o, "counters",
				    json_pack("{s:I, s:I}", "failclosed",
					      (json_int_t)pins.failclosed, "events_dropped",
					      (json_int_t)pins.dropped));
		json_object_set_new(o, "listeners",
				    json_pack("{s:i, s:i, s:b, s:b}", "proxy_port", pins.proxy_port,
					      "dns_port", pins.dns_port, "registered",
					      pins.proxy_cookie != 0, "registered6",
					      pins.proxy6_cookie != 0));
		json_object_set_new(o, "n_exempt", json_integer((json_int_t)pins.n_exempt));
		ex = json_array();
		for (uint64_t i = 0; i < pins.n_exempt && i < WARD_HOST_MAX_EXEMPT; i++)
			json_array_append_new(ex, json_integer((json_int_t)pins.exempt[i]));
		json_object_set_new(o, "exempt_cgids", ex);
	}
	if (!h)
		return o;
	json_object_set_new(o, "scope", json_string(h->scope));
	json_object_set_new(o, "mode", json_string(h->audit_mode ? "audit" : "enforce"));
	json_object_set_new(o, "policy_rev", json_string(h->policy->rev));
	json_object_set_new(o, "policy_path",
			    h->policy->source_path ? json_string(h->policy->source_path)
						   : json_null());
	json_object_set_new(o, "proxy",
			    json_pack("{s:s, s:o, s:i, s:i}", "address", "127.0.0.1", "address6",
				      h->has6 ? json_string("::1") : json_null(), "explicit_port",
				      h->proxy_port, "transparent_port", h->tproxy_port));
	json_object_set_new(o, "dns",
			    json_pack("{s:s, s:o, s:i}", "address", "127.0.0.1", "address6",
				      h->has6 ? json_string("::1") : json_null(), "port",
				      h->dns_port));
	json_object_set_new(o, "failclosed_at_start",
			    json_integer((json_int_t)h->failclosed_at_start));
	ex = json_array();
	for (size_t i = 0; i < h->n_exempt; i++)
		json_array_append_new(ex, json_pack("{s:s, s:I, s:s}", "cgroup", h->exempt[i].path,
						    "cgid", (json_int_t)h->exempt[i].cgid, "why",
						    h->exempt[i].why));
	for (size_t i = 0; i < h->policy->n_host_exempt; i++)
		if (h->policy->host_exempt[i].binary)
			json_array_append_new(ex, json_pack("{s:s, s:s}", "binary",
							    h->policy->host_exempt[i].binary,
							    "why", "policy"));
	json_object_set_new(o, "exempt", ex);
	json_object_set_new(o, "warnings", json_array());
	for (size_t i = 0; i < h->n_warnings; i++)
		json_array_append_new(json_object_get(o, "warnings"), json_string(h->warnings[i]));
	return o;
}
