/* SPDX-License-Identifier: MIT */
/* Shared between src/enforcer/egress*.c only. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "enforcer/egress.h"

struct egress_bpf;
struct egress_host;
struct bpf_link;
struct ring_buffer;

#define EGRESS_N_PROGS 7		    /* attached to the sandbox cgroup */
#define EGRESS_N_LINKS (EGRESS_N_PROGS + 1) /* and the exec tracepoint */
#define EGRESS_EXEC_HASH_CACHE 256
#define EGRESS_EXEC_NAMES 512 /* names of executed files, for rows of exited processes */

/* One executable file found for the policy's binary paths. */
struct egress_ident {
	struct ward_ident_key key;
	const char *path; /* the real path, for decision rows (interned) */
	uint32_t flags;	  /* WARD_IDENT_* */
	uint32_t *pols;	  /* sorted indexes into policy->net */
	size_t n_pols;
	uint32_t entry;	 /* WARD_ENTRY_NONE without network policy */
	bool from_exec;	 /* added at exec (egress_exec.c), not resolved at start */
	bool pinned;	 /* admitted for its content (sha): the sandbox may rewrite it in
			  * place, so the proxy checks the executable still has that content */
	const char *pin; /* pinned: that content's sha256 (interned: the proxy may hold it) */
	pid_t tgid;	 /* from_exec: the process whose exec added it (matched again at apply) */
	char sha[65];	 /* content hash, computed when an exec compares with it ("" before) */
	struct ward_ident_val pins; /* nlink, ctime, name the kernel checks (exe.h) */
};

/* One distinct set of network policies; the kernel's "entry". */
struct egress_entry {
	const char *rule; /* the policies' keys, comma-separated (interned) */
	uint32_t *pols;
	size_t n_pols;
};

/* A content hash of an executed file, by (dev, ino, mtime, size). */
struct egress_hash {
	uint64_t dev, ino;
	struct timespec mtime;
	off_t size;
	char sha[65];
};

/* One policy generation (ward_egress_apply): the identities and entries
 * resolved for one policy, and the kernel maps filled from them. */
struct egress_gen {
	uint32_t seq;	/* 1, 2, ...: the kernel's key of its maps */
	uint32_t flags; /* WARD_CFG_INFERENCE_ALL of its policy */
	char rev[65];
	/* borrowed: valid while this generation is in force (and while it is
	 * built); what rows need later is interned (keys) */
	const struct ward_policy *policy;
	struct egress_strtab *strs; /* its handle's: where its strings live */
	const char **keys; /* policy->net[i].key, interned: rows of late events, the broker */
	size_t n_keys;
	/* Both arrays have room for WARD_MAX_IDENTITIES from the start and only
	 * grow at the end: the event reader appends (exec) while the proxy's
	 * thread looks up, so an element is written before n is published
	 * (release), and readers load n with acquire. Never shrunk or moved. */
	struct egress_ident *idents;
	size_t n_idents;
	struct egress_entry *entries;
	size_t n_entries;
	size_t n_ports, n_cidrs; /* pairs loaded, against the map limits */
	/* its keys in the flat maps (egress), to delete them when it is retired */
	struct ward_port_key *port_keys;
	struct ward_cidr_key *cidr_keys;
	size_t cap_ports, cap_cidrs;
	/* its map in the map-in-map (egress: identities; unix: rules), -1 before */
	int fds[1];
	struct egress_gen *older; /* the generation before it, or NULL */
};

/* The map-in-map of one layer (egress identities, unix rules): generation N
 * in slot N % WARD_GEN_SLOTS. Every update of such a map waits for running
 * programs (synchronize_rcu, milliseconds), so the next generation's map is
 * put in place, empty, right after a switch (one wait per apply, which also
 * proves nobody reads the generation two back any more); the next apply
 * only fills it. */
struct egress_slots {
	int outer_fd;
	int ready_fd; /* an empty map in slot ready_seq % WARD_GEN_SLOTS, or -1 */
	uint32_t ready_seq;
	int (*create)(void); /* a new empty inner map, fd or -errno */
	int first_fd;	     /* generation 1's map, not in a slot (the object's) */
	uint32_t settle_seq; /* switched to it, egress_slots_prepare not yet run; 0: none */
};

/* The map for generation seq: generation 1's own, the one waiting in its
 * slot (*ret_placed for both) or a new one. The caller owns the fd. */
int egress_slots_take(struct egress_slots *sl, uint32_t seq, bool *ret_placed);
/* A map taken for seq whose generation failed: emptied and kept waiting
 * (placed), or closed. */
void egress_slots_giveback(struct egress_slots *sl, uint32_t seq, int fd, bool placed);
/* Before the switch to seq: its map into its slot unless already there. */
int egress_slots_put(struct egress_slots *sl, uint32_t seq, int fd, bool placed);
/* After the switch to seq: an empty map into the slot of seq + 1 (the one of
 * seq - 2, which nobody reads any more). Failure only costs the next apply
 * the wait. */
void egress_slots_prepare(struct egress_slots *sl, uint32_t seq);
void egress_slots_destroy(struct egress_slots *sl);

/* egress_slots_prepare waits for the programs running (the map-in-map
 * update's RCU grace period, 10-30 ms on a loaded machine): a switch only
 * notes it, and it runs once every layer has switched (ward_egress_settle,
 * ward_unix_settle) or, at the latest, before the next generation is built. */
static inline void egress_slots_settle(struct egress_slots *sl)
{
	uint32_t seq = sl->settle_seq;

	sl->settle_seq = 0;
	if (seq)
		egress_slots_prepare(sl, seq);
}

#define EGRESS_GENS_KEPT 4    /* generations user space keeps (rows of late events, lookups) */
#define EGRESS_HIST_KEPT 4096 /* generations whose rev and rule texts rows still find */
/* a record keeps 16 bits of its generation: in the ring they name one seq */
_Static_assert(65536 % EGRESS_HIST_KEPT == 0, "EGRESS_HIST_KEPT divides 2^16");

/* A set of byte strings, each stored once until the set is destroyed
 * (open addressing; what it hands out never moves). */
struct egress_blobs {
	struct egress_blob **slots;
	size_t cap, n;
};

/* The strings of a handle's generations (paths, pinned hashes, rule texts,
 * policy keys, revs) and the rule tables of retired generations: equal ones
 * stored once, all freed with the handle only, so whatever a lookup or a row
 * handed out stays valid, and growth is bounded by the distinct values ever
 * seen (A -> B -> A ... adds nothing after the first two). */
struct egress_strtab {
	pthread_mutex_t lock;
	struct egress_blobs strings, tables;
};

/* s interned in t (its copy, valid for t's life); NULL (ENOMEM) for s NULL
 * or out of memory. */
const char *egress_intern(struct egress_strtab *t, const char *s);
/* The table v[0..n) of interned strings (or NULL), interned: equal tables
 * share one copy. NULL for n 0 or out of memory. */
const char *const *egress_intern_table(struct egress_strtab *t, const char *const *v, size_t n);
/* Distinct strings and tables stored (tests: bounded growth). */
size_t egress_strtab_n_strings(struct egress_strtab *t);
size_t egress_strtab_n_tables(struct egress_strtab *t);

/* What rows need of a generation after it is gone: kept for the last
 * EGRESS_HIST_KEPT generations, by seq (a ring). The tables are set when the
 * generation is retired (the one in force may still grow entries at exec). */
struct egress_hist {
	uint32_t seq; /* 0: empty */
	uint32_t n_rules, n_keys;
	const char *rev;
	const char *const *rules; /* entry index -> rule text (egress) */
	const char *const *keys;  /* policy index -> key (unix rows) */
};

/* The generations of a handle: newest first. Readers (proxy lookups, event
 * rows) hold the read lock while they use a generation; apply takes the
 * write lock only to link a new one in and free the retired. Strings a
 * lookup hands out (paths, rules, pinned hashes) are interned in strs and
 * outlive their generation. */
struct egress_gens {
	pthread_rwlock_t lock;
	struct egress_gen *cur;
	uint32_t next_seq;
	struct egress_strtab strs;
	struct egress_hist *hist; /* EGRESS_HIST_KEPT, by seq; NULL until the first push */
};

struct ward_egress {
	struct egress_bpf *skel;
	bool pending_cookie; /* WARD_CFG_PENDING_COOKIE: TCP records by socket cookie */
	struct bpf_link *links[EGRESS_N_LINKS];
	struct ring_buffer *rb;
	struct egress_gens gens;
	struct egress_slots slots;
	/* apply and the exec handler (which adds identities to the generation
	 * in force) one at a time; the hash cache is theirs */
	pthread_mutex_t apply_lock;
	struct egress_hash hashes[EGRESS_EXEC_HASH_CACHE];
	size_t n_hashes;
	uint64_t exec_seen, exec_added;
	/* (dev, ino) -> path of files executed in the sandbox, a ring; the
	 * event reader's only (kernel rows of processes gone by then) */
	struct egress_name {
		uint64_t dev, ino;
		char *path;
	} names[EGRESS_EXEC_NAMES];
	size_t n_names;
	char **warnings;
	size_t n_warnings;
	char *sandbox;
	struct ward_cfg_copy {
		uint8_t proxy4[16], proxy6[16], dns4[16];
		uint16_t explicit_port, transparent_port, dns_port;
	} cfg; /* where the kernel sends what it records (rows made of records) */
	struct ward_audit *audit;
	void (*on_event)(void *userdata, const struct ward_event *ev,
			 const struct ward_decision *d);
	void *userdata;
	struct ward_session_hook session_of;
	uint64_t mono_to_real; /* CLOCK_REALTIME - CLOCK_MONOTONIC at load */
	/* counters already reported as rows, and when (ward_egress_report_drops) */
	uint64_t reported_drops;
	uint64_t reported_udp_refused;
	uint64_t last_report_ns;
	struct egress_host *host; /* host mode (egress_host.c), else NULL */
};

/* Open, configure (before_load, may be NULL) and load the programs; no
 * policy in force yet (ward_egress_apply). */
int egress_open(const struct ward_egress_config *cfg,
		int (*before_load)(struct ward_egress *e, const struct ward_egress_config *cfg,
				   void *ud, struct ward_error *err),
		void *ud, struct ward_egress **ret, struct ward_error *err);
/* Host mode's part of ward_egress_free: the pinned links stay attached. */
void egress_host_free(struct ward_egress *e);

int egress_warn(struct ward_egress *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Call cb for every regular file (symlinks followed) matching pattern.
 * Returns the number of matches, or -errno; a hit cap is reported as a
 * warning on e and the walk stops there. */
int egress_glob(struct ward_egress *e, const char *pattern,
		int (*cb)(void *ud, const char *path, const struct stat *st), void *ud);

/* A new generation for p (no maps yet: fds -1), not linked anywhere. */
int egress_gen_new(struct egress_gens *gs, const struct ward_policy *p, struct egress_gen **ret);
/* Free g (closes its maps); its strings stay in its handle's table. */
void egress_gen_free(struct egress_gen *g);
/* Link g in as the newest generation and free those beyond EGRESS_GENS_KEPT
 * (write lock). */
void egress_gens_push(struct egress_gens *gs, struct egress_gen *g);
void egress_gens_init(struct egress_gens *gs);
void egress_gens_destroy(struct egress_gens *gs);
/* The generation with id seq (only its low 16 bits when bits16), or NULL;
 * call with the read lock held. */
struct egress_gen *egress_gens_find(struct egress_gens *gs, uint32_t seq, bool bits16);
/* The history of generation seq (only its low 16 bits when bits16), or NULL
 * when more than EGRESS_HIST_KEPT generations old. Read lock held. */
const struct egress_hist *egress_gens_hist(struct egress_gens *gs, uint32_t seq, bool bits16);
/* The rev of generation seq, or NULL when forgotten. Read lock held. */
const char *egress_gens_rev(struct egress_gens *gs, uint32_t seq);
/* The rule text of entry of generation seq (its low 16 bits when bits16),
 * from the generation or, when it is gone, its history; NULL when none.
 * Read lock held. */
const char *egress_gens_rule(struct egress_gens *gs, uint32_t seq, bool bits16, uint32_t entry);
/* Same for key pol of generation seq's policy (unix rows). */
const char *egress_gens_key(struct egress_gens *gs, uint32_t seq, uint32_t pol);
/* The full seq of generation seq16 (low 16 bits), or 0 when forgotten. */
uint32_t egress_gens_seq16(struct egress_gens *gs, uint32_t seq16);

/* Resolve every binary of the policy into g->idents and group them into
 * g->entries; warnings go to e (only its warnings are used). */
int egress_idents_build(struct ward_egress *e, struct egress_gen *g, const struct ward_policy *p,
			struct ward_error *err);
/* The kernel's value of id: its entry and flags, and its pins. */
struct ward_ident_val egress_ident_val(const struct egress_ident *id);
const struct egress_ident *egress_ident_find(const struct egress_gen *g, uint64_t dev,
					     uint64_t ino);

/* ring_buffer sample callback; ctx is the ward_egress */
int egress_on_sample(void *ctx, void *data, size_t size);
/* The row of a verdict event (from the ring buffer, or made of a record). */
void egress_event_row(struct ward_egress *e, const struct ward_event *ev);
/* A row to the log and to the on_event callback (ev NULL for rows of no event). */
void egress_submit(struct ward_egress *e, const struct ward_event *ev, struct ward_decision *d);
/* Same for the exec ring buffer (egress_exec.c). */
int egress_on_exec(void *ctx, void *data, size_t size);
/* The path an executed (dev, ino) had, NULL when not seen (event reader only). */
const char *egress_exec_name(const struct ward_egress *e, uint64_t dev, uint64_t ino);
void egress_exec_names_free(struct ward_egress *e);

/* The entry (set of network policies) of id, created when new; -errno. */
int egress_entry_for(struct egress_gen *g, struct egress_ident *id);
/* Port and CIDR keys of entry en of g into the flat maps (fds), recorded in
 * g; g->n_ports and n_cidrs count what is loaded. */
int egress_fill_entry(struct egress_gen *g, int ports_fd, int cidrs_fd, size_t en,
		      struct ward_error *err);
/* Delete g's keys from the flat maps. */
void egress_unfill(struct egress_gen *g, int ports_fd, int cidrs_fd);
/* Match an executed file (ev) against g's policy and, when it is granted,
 * add its identity to g (its maps included). rows: write the exec rows.
 * Called with apply_lock held. */
void egress_exec_match(struct ward_egress *e, struct egress_gen *g,
		       const struct ward_exec_event *ev, bool rows);
static inline size_t egress_n_idents(const struct egress_gen *g)
{
	return __atomic_load_n(&g->n_idents, __ATOMIC_ACQUIRE);
}
static inline size_t egress_n_entries(const struct egress_gen *g)
{
	return __atomic_load_n(&g->n_entries, __ATOMIC_ACQUIRE);
}
