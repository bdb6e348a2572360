/* SPDX-License-Identifier: MIT */
/* Per-binary egress in the kernel (docs/egress.md): loads bpf/egress.bpf.c,
 * fills its maps from the compiled policy, attaches it to a sandbox cgroup,
 * turns its verdict events into decision rows and answers the proxy's
 * "who is this connection?".
 *
 * Lifecycle: ward_egress_new() (open, configure, load, fill maps) →
 * ward_egress_attach(cgroup fd) before anything runs in the cgroup →
 * poll ward_egress_events_fd() and call ward_egress_consume() →
 * ward_egress_free() (detaches, frees maps). */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "audit/audit.h"
#include "common/error.h"
#include "policy/model.h"
#include "policy/peer.h"
#include "ward/abi.h"

/* Bounds of the glob walk for binary paths ('*' one segment, '**' any depth). */
#define WARD_EGRESS_GLOB_MAX_ENTRIES 20000 /* directory entries read, per pattern */
#define WARD_EGRESS_GLOB_MAX_DEPTH 16	   /* directories below the fixed prefix */

struct ward_egress_config {
	struct in_addr proxy4; /* the proxy (and transparent port) address */
	struct in6_addr proxy6;
	bool has_proxy6; /* without it, native IPv6 destinations are denied */
	struct in_addr dns4;
	struct in6_addr dns6;
	bool has_dns6;
	uint16_t explicit_port;	   /* CONNECT / absolute-URI proxy */
	uint16_t transparent_port; /* where direct connections are redirected */
	uint16_t dns_port;	   /* 0: 53 */
	const char *sandbox;	   /* copied; the decision rows' sandbox column */
	struct ward_audit *audit;  /* borrowed, may be NULL */
	/* Tests only, 0 for the defaults: ring buffer bytes (a power of two, at
	 * least a page) and UDP socket records, to make them overflow. */
	uint32_t ringbuf_bytes;
	uint32_t udp_socks_max;
	/* Called for every event after its row was submitted (tests, front ends);
	 * ev is NULL for the rows that count lost events (ward_egress_report_drops). */
	void (*on_event)(void *userdata, const struct ward_event *ev,
			 const struct ward_decision *d);
	void *userdata;
	/* The session of a row's cgroup (ward exec); unset: rows carry none. */
	struct ward_session_hook session_of;
	/* Host mode (ward_egress_host_open, docs/egress.md "Host mode"); unset
	 * for a sandbox. The proxy and the DNS stub are 127.0.0.1 (and ::1) at
	 * transparent_port and dns_port (pinned, not rodata: a restarted daemon
	 * may listen elsewhere); proxy4/dns4/explicit_port are not used. */
	const char *pin_dir;	      /* maps and links pinned here (WARD_EGRESS_HOST_PIN_DIR
				       * in production; tests pass their own) */
	bool host;		      /* host-mode decisions */
	bool audit_mode;	      /* host mode's audit mode, a sandbox's --learn: what would be
				       * denied is allowed, verdict "audit" (not "audit": that
				       * name is the log above) */
	const uint64_t *exempt_cgids; /* cgroup v2 ids whose tasks (and descendants) */
	size_t n_exempt;	      /* are never touched (no decision, no row) */
};

/* The answer to "who is this connection?" */
struct ward_egress_peer {
	uint64_t dev; /* the identity that decided (kernel dev encoding) */
	uint64_t ino;
	const char *binary; /* owned by the egress handle; NULL when not in the policy */
	const char *rule;   /* network policy keys, comma-separated; NULL: none */
	uint32_t entry;	    /* WARD_ENTRY_NONE: no network policy (inference only) */
	pid_t pid;	    /* process id, initial pid namespace */
	uint32_t flags;	    /* WARD_CONN_* */
	uint32_t depth;	    /* 0 own executable, n: n-th ancestor's */
	uint64_t cookie;    /* the client socket's cookie */
	uint64_t own_dev;   /* the process's own executable: the one that acted */
	uint64_t own_ino;
	const char *exe;     /* its path when it has an identity (owned by the handle), else NULL */
	const char *exe_sha; /* the content it was admitted for at exec in a writable place
			      * (docs/egress.md): the acting file must still hash to it; or NULL */
	struct sockaddr_storage orig; /* original destination (AF_INET for IPv4 and mapped) */
	uint64_t cgid;		      /* cgroup v2 id of the connecting task (0: older record) */
	char session[32];	      /* its session through the config's session_of; "": none */
	bool has_uid;		      /* uid read in /proc/PID/status at the lookup */
	uint32_t uid;		      /* (the client's socket is open: its process is there) */
};

struct ward_egress;

int ward_egress_new(const struct ward_policy *p, const struct ward_egress_config *cfg,
		    struct ward_egress **ret, struct ward_error *err);
/* Attach all programs to the cgroup (fd of its directory); once. */
int ward_egress_attach(struct ward_egress *e, int cgroup_fd, struct ward_error *err);
/* Detach (links destroyed); the handle stays usable for lookups and events. */
void ward_egress_detach(struct ward_egress *e);
void ward_egress_free(struct ward_egress *e);

/* Decide from policy p from now on (a new policy generation, DESIGN.md "One
 * process or a service"): every binary is resolved again, the new
 * generation's maps are filled completely beside the running ones, and one
 * write of the kernel's active-generation index switches every later
 * connect()/sendmsg() to them; a decision never sees half of a generation.
 * Identities added at exec (egress_exec.c) are matched against p again.
 * Connections already recorded keep their records; rows of decisions made
 * before the switch carry the old rev, later ones p->rev. On failure
 * (-E2BIG: too many identities, ports or CIDRs; -ENOMEM; ...) nothing
 * changed: the previous generation stays in force. p is borrowed like the
 * policy of ward_egress_new(): it must stay valid while it is in force, that
 * is until the next successful apply (or ward_egress_free) returns; what rows
 * and lookups of its connections need later is copied. Safe while the event
 * reader and the proxy's lookups run on other threads; not concurrently with
 * itself. */
int ward_egress_apply(struct ward_egress *e, const struct ward_policy *p, struct ward_error *err);
/* The work a switch leaves, which blocks for a while (an RCU grace period:
 * the next generation's empty identity map into its slot) but decides
 * nothing: call it once the other layers have switched too. Without it the
 * next apply does it first (before its switch). */
void ward_egress_settle(struct ward_egress *e);
/* The generation in force: 1 after ward_egress_new(), +1 per successful apply. */
uint32_t ward_egress_generation(const struct ward_egress *e);

/* Problems that did not stop loading (missing binaries, glob caps); the caller logs them. */
const char *const *ward_egress_warnings(const struct ward_egress *e, size_t *ret_n);
/* Number of distinct executables and entries loaded into the maps. */
size_t ward_egress_n_identities(const struct ward_egress *e);

/* An epoll fd that becomes readable when events are pending. The kernel wakes
 * it lazily (when a quarter of the buffer is used), so also call
 * ward_egress_consume() every WARD_EVENTS_POLL_MS. */
int ward_egress_events_fd(const struct ward_egress *e);
/* Turn pending events into decision rows; returns how many, or -errno. */
int ward_egress_consume(struct ward_egress *e);
/* Wait up to timeout_ms for events and consume them. */
int ward_egress_poll(struct ward_egress *e, int timeout_ms);
/* Events the kernel could not queue (ring buffer full), and connections
 * whose peer record did not fit (the proxy will not identify them). */
uint64_t ward_egress_dropped(const struct ward_egress *e);
uint64_t ward_egress_peer_drops(const struct ward_egress *e);
/* UDP sockets refused at sendmsg/connect because the identity map was full. */
uint64_t ward_egress_udp_refused(const struct ward_egress *e);
/* One row per counter that grew since its last row (layer "kernel", action
 * "deny", rule "events_dropped", reason "N events dropped (ring buffer full)"
 * or "N UDP sockets refused (identity map full)"); at most once per second
 * unless force (the end of the run). ward_egress_consume() calls it. */
void ward_egress_report_drops(struct ward_egress *e, bool force);

/* The proxy's lookup: peer is the accepted connection's peer address
 * (AF_INET or AF_INET6, mapped or not). -ENOENT when unknown. The first
 * lookup of a connection writes its kernel row (allow "to the proxy",
 * "redirect to proxy", ...): the kernel sends no event for the connections
 * it records, the one who accepts them makes the row. */
int ward_egress_peer_lookup(struct ward_egress *e, const struct sockaddr *peer,
			    struct ward_egress_peer *ret);
/* The DNS stub's lookup for a UDP datagram's source address (docs/dns.md):
 * identity recorded per (family, source port) as the datagram left the
 * sandbox. -ENOENT when unknown. Writes the kernel row ("dns to the stub")
 * of the datagram, as the peer lookup does. */
int ward_egress_udp_peer_lookup(struct ward_egress *e, const struct sockaddr *peer,
				struct ward_egress_peer *ret);
/* Same, by the client socket's cookie (SO_COOKIE), once the connection is
 * established (a walk of the peer records: for tests and diagnostics). */
int ward_egress_conn_lookup(struct ward_egress *e, uint64_t cookie, struct ward_egress_peer *ret);

/* The TCP ports the sandbox's Landlock ruleset must let connect(): base
 * (proxy, DNS) plus every port of every endpoint. Landlock checks connect()
 * before the cgroup hook rewrites the destination, so a direct connection to
 * port 443 must pass Landlock to be redirected at all; which binary may use
 * which port is still decided per binary by the BPF programs. Sorted, unique;
 * *ret is malloc'd. */
int ward_egress_connect_ports(const struct ward_policy *p, const uint16_t *base, size_t n_base,
			      uint16_t **ret, size_t *ret_n);

/* What the verifier made of each program (for benchmarks and doctor). */
struct ward_egress_prog_info {
	char name[32];
	uint32_t verified_insns; /* instructions the verifier processed */
	uint32_t xlated_insns;	 /* instructions after verification */
	uint32_t jited_bytes;
	uint64_t run_cnt;     /* runs and their total time, while the kernel */
	uint64_t run_time_ns; /* keeps statistics (BPF_ENABLE_STATS), else 0 */
};
/* Fill up to max entries; returns how many (or -errno). */
int ward_egress_prog_info(const struct ward_egress *e, struct ward_egress_prog_info *ret,
			  size_t max);

/* The executable that acted on a connection (its own, not the ancestor
 * that decided): the identity's path, or /proc/PID/exe, or the file in $PATH
 * (exe.h). Never fails: falls back on "inode MAJ:MIN:INO". */
void ward_egress_peer_exe(const struct ward_egress_peer *p, char *buf, size_t len);
/* The ancestor whose identity decided (depth > 0, ancestors: true), else NULL. */
const char *ward_egress_peer_via(const struct ward_egress_peer *p);

/* Path of a known identity, NULL when not in the policy. */
const char *ward_egress_binary(const struct ward_egress *e, uint64_t dev, uint64_t ino);
/* Kernel encoding of a stat() st_dev. */
uint64_t ward_egress_kdev(dev_t dev);
const char *ward_egress_reason_str(unsigned reason);

/* ---- host mode (docs/egress.md "Host mode") ----
 * The egress programs at a scope cgroup (the v2 root in production), their
 * links and maps pinned in cfg->pin_dir, so the kernel keeps deciding while
 * no daemon runs. A binary without a rule gets EPERM (audit: allowed, verdict
 * "audit"); a binary with rules is redirected to the daemon's proxy (TCP) or
 * DNS stub (UDP/TCP port 53 to any address) on 127.0.0.1 (IPv4 and mapped
 * destinations) or ::1 (native IPv6), but only when the socket listening
 * there is the one registered (ward_egress_host_register):
 * otherwise (daemon down, a foreign socket on the port) EPERM and the pinned
 * fail-closed counter grows. Rows carry sandbox "host" (cfg->sandbox NULL). */

#define WARD_EGRESS_HOST_PIN_DIR "/sys/fs/bpf/ward/host"
#define WARD_EGRESS_HOST_N_PROGS 7 /* cgroup programs, one pinned link each */

/* Pins exist in cfg->pin_dir: every pinned map is reused, the new programs
 * loaded and the pinned links switched to them (bpf_link_update: atomic per
 * hook, no moment without a program; link ids stay, program ids change), then
 * p becomes a new generation. The registered listeners stay in force until
 * ward_egress_host_set_listeners. No pins: load, attach at scope_fd
 * (multi-attach: programs of sandboxes below keep running, both must allow),
 * pin maps and links. On failure nothing this call created stays (no half
 * pinned state) and pinned state found stays as it was. The handle then works
 * as one of ward_egress_new (events, lookups, apply); ward_egress_free
 * leaves the pinned links and maps in force. */
int ward_egress_host_open(const struct ward_policy *p, const struct ward_egress_config *cfg,
			  int scope_fd, struct ward_egress **ret, struct ward_error *err);
/* Can this kernel run host mode's programs? 0, or -EOPNOTSUPP and why: they
 * check that a redirected connection reaches the daemon's own listener by
 * its socket cookie, read through the kfunc bpf_rdonly_cast (Linux >= 6.2;
 * Debian 12's own 6.1 has none: docs/kernels.md). ward_egress_host_open
 * asks first. */
int ward_egress_host_probe(struct ward_error *err);
/* The socket cookies (SO_COOKIE) of the daemon's loopback proxy listener and
 * DNS stub sockets (0: none), on 127.0.0.1 and on ::1 at the same ports (the
 * *6 cookies; proxy6 0: no IPv6 listeners, native IPv6 destinations of ruled
 * binaries are refused); with the handle's ports, switched in one store. */
struct ward_egress_host_listeners {
	uint64_t proxy, dns_udp, dns_tcp;
	uint64_t proxy6, dns_udp6, dns_tcp6;
};
int ward_egress_host_register(struct ward_egress *e, const struct ward_egress_host_listeners *l,
			      struct ward_error *err);
/* The same, IPv4 listeners only. */
int ward_egress_host_set_listeners(struct ward_egress *e, uint64_t proxy_cookie,
				   uint64_t dns_udp_cookie, uint64_t dns_tcp_cookie,
				   struct ward_error *err);
/* Connections refused because the registered listener was not there (pinned,
 * counted while no daemon runs), and reset to 0 with the old value out. */
uint64_t ward_egress_host_failclosed(const struct ward_egress *e);
int ward_egress_host_reset_failclosed(struct ward_egress *e, uint64_t *ret_old);
/* Detach (links unpinned: the programs go once no handle holds them) and
 * remove every pin and the directory. -ENOENT when nothing is pinned there. */
int ward_egress_host_unpin(const char *pin_dir, struct ward_error *err);

struct ward_host_prog {
	char name[32];	  /* ward_connect4, ... */
	uint32_t prog_id; /* 0: link pinned, program gone */
	uint32_t link_id;
	uint32_t attach_type; /* enum bpf_attach_type */
};

/* What is pinned, read from bpffs alone (no daemon needed). */
struct ward_host_pins {
	struct ward_host_prog progs[WARD_EGRESS_HOST_N_PROGS];
	size_t n_progs;	     /* links found */
	uint64_t scope_cgid; /* the cgroup the links are attached to */
	uint32_t generation; /* policy generation in force (0: none) */
	bool audit;	     /* programs in audit mode */
	uint16_t proxy_port, dns_port;
	uint64_t proxy_cookie, dns_udp_cookie, dns_tcp_cookie;
	/* the same on ::1 (0: none) */
	uint64_t proxy6_cookie, dns_udp6_cookie, dns_tcp6_cookie;
	uint64_t failclosed;		       /* ward_egress_host_failclosed */
	uint64_t dropped;		       /* events the ring buffer could not hold */
	uint64_t n_exempt;		       /* exempt cgroup ids, */
	uint64_t exempt[WARD_HOST_MAX_EXEMPT]; /* these (unordered) */
};
/* -ENOENT when nothing is pinned in pin_dir. */
int ward_egress_host_status(const char *pin_dir, struct ward_host_pins *ret,
			    struct ward_error *err);
