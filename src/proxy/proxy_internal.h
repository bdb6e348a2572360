/* SPDX-License-Identifier: MIT */
/* Internal to the proxy (docs/proxy.md, "Structure"). Each file calls only
 * the ones listed below it; the transport core reaches an exchange mode only
 * through the mode's ops (struct conn_mode), never by name:
 *
 *   proxy.c           the loop: listeners, accept, timers, resolver and
 *                     identity results, live apply (sweep)
 *   conn.c            setup of a connection: identity, sniffing, the first
 *                     request head, the connection-level decision
 *                     (policy/request.h), revocation after an apply
 *   conn_tls.c        mode: ward's TLS server side (interception,
 *                     https://inference.local), then HTTP
 *   conn_http.c       mode: HTTP forward, one request at a time (plain, or
 *                     inside ward's TLS), each decided on its own
 *   inference_conn.c    its inference.local leg
 *   conn_tunnel.c     mode: bytes both ways (splice pipes; buffers over TLS)
 *   conn_core.c       the transport core: fds, buffers, TLS I/O, epoll
 *                     interest, deadlines, connecting upstream (resolve,
 *                     SSRF, connect, upstream TLS), ward's own responses,
 *                     rows, close
 *   deny.c            the bodies of ward's own responses
 *   ident_worker.c    hashes binaries off the loop */
#pragma once

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "policy/decide.h"
#include "policy/generation.h"
#include "policy/peer.h"
#include "policy/request.h"
#include "proxy/http.h"
#include "proxy/identity.h"
#include "proxy/proxy.h"
#include "proxy/resolve.h"

#define CONN_BUF (64u << 10)	  /* per direction: backpressure beyond this */
#define PIPE_BUF_SZ (1024u << 10) /* plain tunnels: splice(2) through a pipe of this size */

struct ward_tls;
struct conn;

struct buf {
	char *data;
	size_t off, len; /* pending bytes are data[off .. off+len) */
};

static inline size_t buf_space(const struct buf *b)
{
	return CONN_BUF - b->off - b->len;
}

enum conn_state {
	S_HEAD = 0,   /* setup: explicit, waiting for the first request head */
	S_SNIFF,      /* setup: transparent, waiting for the first bytes */
	S_IDENT,      /* setup: waiting for the binary's hash (identity worker) */
	S_RESOLVE,    /* core: resolving the upstream's name */
	S_CONNECT,    /* core: connecting to the upstream */
	S_TLS_UP,     /* core: TLS handshake with the upstream */
	S_TLS_CLIENT, /* tls mode: TLS handshake with the client (ward's leaf) */
	S_TUNNEL,     /* tunnel mode: bytes both ways */
	S_HTTP,	      /* http mode: request/response cycles */
	S_CLOSING,    /* core: flush to the client, then close */
};

/* http mode's own state (conn_http.c, inference_conn.c) */
enum http_phase {
	H_WAIT_REQ = 0, /* parsing the next request head from `from_c` */
	H_REQ_BODY,	/* streaming the request body */
	H_WAIT_RESP,	/* request sent, response not finished */
};

struct inference_leg;

struct http_state {
	struct ward_http_parser req, resp;
	struct ward_http_body req_body, resp_body;
	enum http_phase phase;
	bool resp_in_body;
	bool req_keep_alive, resp_keep_alive;
	bool upgrade;		     /* an allowed WebSocket handshake: tunnel after 101 */
	char up_host[WARD_HOST_MAX]; /* the origin the upstream connection is for */
	uint16_t up_port;
	struct inference_leg *inf; /* inference.local: the call in progress, NULL: none */
};

struct tunnel_state;

/* One exchange mode. The core calls these; a mode calls the core. */
struct conn_mode {
	const char *name;
	const char *layer; /* rows about its upstream: "proxy" or "l7" (decided per request) */
	/* events on the client or upstream fd while the mode owns the state */
	void (*on_event)(struct conn *c, bool upstream, uint32_t events);
	/* the upstream the mode asked for (conn_connect_upstream) is connected,
	 * its TLS handshake done when asked for */
	void (*on_upstream_ready)(struct conn *c);
	/* progress without a new event (bytes already buffered) */
	void (*pump)(struct conn *c);
	/* bytes read from the upstream into to_c (the last len of it); NULL: relayed as they are */
	void (*on_upstream_data)(struct conn *c, const char *data, size_t len);
	void (*on_timeout)(struct conn *c);
	/* epoll interest for the client and upstream fds */
	void (*interest)(struct conn *c, uint32_t *ret_client, uint32_t *ret_upstream);
	/* to_c holds only complete responses: ward's own answer may follow
	 * them (NULL: never) */
	bool (*between)(const struct conn *c);
	/* free the mode's own state (the connection is closing) */
	void (*close)(struct conn *c);
	/* queued with conn_ready: go on where the last turn stopped (a mode
	 * whose interest is edge-triggered bounds its work per turn; NULL: never
	 * queued) */
	void (*resume)(struct conn *c);
};

struct conn {
	struct ward_proxy *px;
	uint32_t slot, gen;
	int cfd, ufd;
	bool transparent;
	enum conn_state state;
	const struct conn_mode *mode;
	uint64_t deadline;   /* monotonic ns; 0: none */
	uint32_t ev_c, ev_u; /* current epoll interest */
	/* on the proxy's ready list (conn_ready): runs again after the next
	 * epoll_wait, which does not block while the list holds any */
	bool ready;
	struct conn *ready_prev, *ready_next;

	struct buf from_c; /* raw client bytes still to parse (setup, HTTP) */
	struct buf to_u;   /* bytes for the upstream */
	struct buf to_c;   /* bytes for the client */
	bool c_eof, u_eof;
	bool close_after; /* close once to_c is flushed */
	bool dead;	  /* closed at the end of the current entry point */
	bool speaks_http; /* ward may still answer with an HTTP response */

	/* TLS I/O (core): NULL on plain sides */
	struct ward_tls *ctls, *utls;
	bool intercept;		     /* requests arrive over ctls, leave over utls */
	uint32_t c_tls_ev, u_tls_ev; /* extra epoll interest a TLS call asked for */
	bool up_tls;		     /* conn_connect_upstream: handshake TLS with the upstream */

	/* per-mode state, owned by the mode (NULL until it starts) */
	struct http_state *http;
	struct tunnel_state *tun;

	/* the generation the last decision was made under (NULL: the
	 * proxy's borrowed cfg.policy); c->v points into its policy */
	struct ward_gen *g;
	const struct ward_policy *policy;
	bool served_locally; /* inference.local or a route host: ward is the server */

	/* identity */
	struct sockaddr_storage peer;
	bool known;
	struct ward_peer_ident id;
	char sha[65];
	int tofu; /* 0 or -errno: the binary failed its integrity check */
	char tofu_reason[256];

	/* target */
	const char *protocol; /* "connect", "http", "https", "tls", "tcp" */
	char host[WARD_HOST_MAX];
	uint16_t port;
	bool host_is_ip;
	char ip[INET6_ADDRSTRLEN]; /* the address connected to */
	struct ward_net_verdict v;
	struct sockaddr_storage addrs[WARD_RESOLVE_MAX_ADDRS];
	size_t n_addrs, next_addr;
	int last_connect_err;
};

struct ward_proxy {
	struct ward_proxy_config cfg;
	struct ward_proxy_limits lim;
	int epfd;
	int stop_fd;
	int lfd[4]; /* explicit v4, transparent v4, explicit v6, transparent v6 */
	bool lfd_transparent[4];
	uint16_t explicit_port, transparent_port;
	struct ward_resolver *resolver;
	struct ward_identity *identity;
	struct conn **conns; /* max_conns slots */
	uint32_t *gens;
	uint32_t n_active;
	struct conn *ready_head, *ready_tail; /* conn_ready, in order */
	uint32_t n_ready;
	pthread_t thread;
	bool started;
	char *scratch;		 /* CONN_BUF bytes for the loop thread (response head rewrites) */
	struct ident_worker *iw; /* hashes binaries off the loop (ident_worker.c) */
	struct ward_admission *adm; /* admission.c: refusals, the fd reserve */
	_Atomic uint64_t accepted, refused_full;
	/* live apply: ward_proxy_apply swaps the cell and bumps `applied` (any
	 * thread); the loop thread adopts it (proxy_policy) and sweeps open
	 * connections when apply_fd fires */
	struct ward_gen_cell cell;
	_Atomic uint64_t applied;
	int apply_fd;
	/* credentials and inference routes follow the generation
	 * (ward_cred_store_derive, ward_inference_derive): apply leaves them
	 * here, the loop adopts them with the generation */
	pthread_mutex_t creds_lock;
	struct ward_cred_store *pending_creds;
	struct ward_inference *pending_inference;
	struct ward_cred_store *creds;	  /* loop thread: what requests use (cfg.creds at first) */
	bool creds_owned;		  /* creds was derived here (cfg.creds is borrowed) */
	struct ward_inference *inference; /* loop thread: cfg.inference at first */
	bool inference_owned;
	uint64_t seen;			  /* loop thread: `applied` its policy reflects */
	struct ward_gen *gen;		  /* loop thread: current generation, NULL: cfg.policy */
	const struct ward_policy *policy; /* loop thread: what new decisions use */
};

/* epoll data: kind in the low 2 bits, slot above */
enum { EV_CLIENT = 0, EV_UPSTREAM = 1, EV_LISTEN = 2, EV_OTHER = 3 };
#define EV(kind, slot) ((uint64_t)(slot) << 2 | (kind))

/* ---- conn.c: setup ---- */
void conn_accepted(struct conn *c);
void conn_identified(struct conn *c);
bool conn_redecide(struct conn *c);
void conn_revalidate(struct conn *c);

/* ---- conn_tls.c: ward as the client's TLS server ---- */
extern const struct conn_mode tls_mode;
/* https://inference.local (or a route host): only the client side */
void tls_serve_local(struct conn *c);

/* ---- conn_http.c ---- */
extern const struct conn_mode http_mode;
int http_state_new(struct conn *c);
/* the first request head is parsed (setup): take the connection over */
void http_begin(struct conn *c);
/* the connection speaks HTTP from here (setup: transparent plain HTTP; tls: after the handshake) */
void http_start(struct conn *c);

/* ---- inference_conn.c: an inference.local call inside http mode ---- */
int inference_conn_start(struct conn *c);
bool inference_conn_active(const struct conn *c);
void inference_conn_pump(struct conn *c);
void inference_conn_io(struct conn *c, uint32_t events);
void inference_conn_timeout(struct conn *c);
void inference_conn_free(struct conn *c);

/* ---- conn_tunnel.c ---- */
extern const struct conn_mode tunnel_mode;
/* Bytes both ways from now on: the upstream is connected; established:
 * answer the CONNECT first. */
void tunnel_start(struct conn *c, bool established);

/* ---- conn_core.c: the transport core ---- */
const struct ward_policy *proxy_policy(struct ward_proxy *px);
void conn_adopt(struct conn *c);
struct conn *conn_new(struct ward_proxy *px, uint32_t slot, int fd,
		      const struct sockaddr_storage *peer, bool transparent);
void conn_close(struct conn *c);
/* entry points from the loop: each closes the connection at its end when dead */
void conn_event(struct conn *c, bool upstream, uint32_t events);
void conn_timeout(struct conn *c);
void conn_resolved(struct conn *c, const struct ward_resolve_result *res);
void conn_finish_entry(struct conn *c);
void conn_update(struct conn *c);
/* Another turn for c after the next epoll_wait (its mode's resume): an
 * edge-triggered connection that stopped at its bound, not at EAGAIN, gets
 * no new event for what is still ready. */
void conn_ready(struct conn *c);
/* the loop: one turn for each connection queued before this call */
void conn_run_ready(struct ward_proxy *px);
void conn_set_deadline(struct conn *c, uint32_t ms);
int conn_watch(struct conn *c, bool upstream, uint32_t events); /* checked epoll_ctl */
/* Connect to c->host:c->port for the decided endpoint (c->v); then
 * c->mode->on_upstream_ready. Failures are rows and ward's 5xx. */
int conn_connect_upstream(struct conn *c);
void conn_close_upstream(struct conn *c);
/* side I/O through TLS when the side has one: >0 bytes, 0 nothing now, -errno fatal */
int conn_read_side(struct conn *c, bool upstream, struct buf *b, bool *eof);
int conn_write_side(struct conn *c, bool upstream, struct buf *b);
/* The buffered relay (HTTP, tunnels over TLS): read, write, then pump until
 * nothing moves. client_raw: client bytes go to to_u, not from_c. */
void conn_relay_event(struct conn *c, bool upstream, uint32_t events, bool client_raw,
		      bool (*client_wanted)(const struct conn *c));
void conn_buffered_interest(struct conn *c, bool client_read, uint32_t *ret_client,
			    uint32_t *ret_upstream);
/* ward's own answers: the one writer (rows are the caller's, except conn_deny) */
void conn_respond(struct conn *c, char *resp, size_t len);
void conn_fail(struct conn *c, int status, const char *error, const char *reason);
void conn_malformed(struct conn *c, int status, const char *reason);
void conn_request_in(struct conn *c, enum ward_req_kind kind, struct ward_request_in *in);
void conn_deny(struct conn *c, const struct ward_request *req,
	       const struct ward_request_verdict *v);
void conn_row(struct conn *c, const char *layer, const char *action, const char *method,
	      const char *path, const char *rule, const char *reason);
/* TLS: the client side with ward's leaf for c->host (prefix: bytes already read) */
int conn_tls_server(struct conn *c, struct ward_error *err);
/* >0 done, 0 in progress (interest set), <0 failed */
int conn_tls_handshake(struct conn *c, bool upstream);

/* ---- ident_worker.c ---- */
int proxy_ident_new(struct ward_proxy *px);
void proxy_ident_free(struct ward_proxy *px);
int proxy_ident_fd(const struct ward_proxy *px);
int proxy_ident_submit(struct conn *c);
void proxy_ident_dispatch(struct ward_proxy *px, void (*done)(struct conn *c));

/* ---- deny.c: complete responses (head + JSON body), malloc'd ---- */
char *deny_response(const char *layer, const struct ward_request *req,
		    const struct ward_net_verdict *v, const char *reason, size_t *ret_len);
char *error_response(int status, const char *error, const char *reason, size_t *ret_len);

static inline int buf_append(struct buf *b, const void *p, size_t n)
{
	if (n > buf_space(b)) {
		/* compact first */
		if (b->off) {
			memmove(b->data, b->data + b->off, b->len);
			b->off = 0;
		}
		if (n > buf_space(b))
			return -ENOBUFS;
	}
	memcpy(b->data + b->off + b->len, p, n);
	b->len += n;
	return 0;
}

static inline void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (!b->len)
		b->off = 0;
}
