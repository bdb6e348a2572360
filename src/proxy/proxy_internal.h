/* SPDX-License-Identifier: MIT */
/* Internal to the proxy: the loop (proxy.c), the connection state machine
 * (conn.c, conn_http.c) and the responses ward writes itself (deny.c). */
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

#include "enforcer/egress.h"
#include "policy/decide.h"
#include "proxy/http.h"
#include "proxy/identity.h"
#include "proxy/proxy.h"
#include "proxy/resolve.h"

#define CONN_BUF (64u << 10) /* per direction: backpressure beyond this */
#define PIPE_BUF_SZ (256u << 10) /* plain tunnels: splice(2) through a pipe of this size */

struct ward_tls;

struct buf {
	char *data;
	size_t off, len; /* pending bytes are data[off .. off+len) */
};

static inline size_t buf_space(const struct buf *b)
{
	return CONN_BUF - b->off - b->len;
}

enum conn_state {
	S_HEAD = 0, /* explicit: waiting for the request head */
	S_SNIFF,    /* transparent: waiting for the first bytes */
	S_RESOLVE,
	S_CONNECT,
	S_TUNNEL,  /* bytes both ways */
	S_HTTP,	   /* forward proxy: request/response cycles */
	S_CLOSING, /* flush to the client, then close */
	S_IDENT,   /* waiting for the binary's hash (TOFU worker) */
	S_TLS_UP,     /* interception: TLS handshake with the upstream */
	S_TLS_CLIENT, /* interception: TLS handshake with the client (ward's leaf) */
};

enum http_phase {
	H_WAIT_REQ = 0, /* parsing the next request head from `from_c` */
	H_REQ_BODY,	/* streaming the request body */
	H_WAIT_RESP,	/* request sent, response not finished */
};

struct conn {
	struct ward_proxy *px;
	uint32_t slot, gen;
	int cfd, ufd;
	bool transparent;
	enum conn_state state;
	uint64_t deadline; /* monotonic ns; 0: none */
	uint32_t ev_c, ev_u; /* current epoll interest */

	struct buf from_c; /* HTTP: raw client bytes still to parse */
	struct buf to_u;   /* bytes for the upstream */
	struct buf to_c;   /* bytes for the client */
	bool c_eof, u_eof;
	bool u_shut;	   /* SHUT_WR sent upstream */
	bool c_shut;
	bool close_after;  /* close once to_c is flushed */
	bool dead;	   /* closed at the end of the current entry point */
	bool speaks_http;  /* ward may still answer with an HTTP response */
	enum { AFTER_TUNNEL_CONNECT, AFTER_TUNNEL_RAW, AFTER_HTTP, AFTER_INTERCEPT } after;

	/* TLS interception (conn_tls.c): NULL on plain connections */
	struct ward_tls *ctls, *utls;
	bool intercept;		/* requests arrive over ctls, leave over utls */
	uint32_t c_tls_ev, u_tls_ev; /* extra epoll interest a TLS call asked for */
	/* plain tunnels: splice(2) pipes, client->upstream and upstream->client */
	int pipe_cu[2], pipe_uc[2];
	size_t in_cu, in_uc; /* bytes in each pipe */
	/* inference.local (i1, inference_conn.c): the request in progress, NULL: none */
	struct inference_leg *inf;

	/* identity */
	struct sockaddr_storage peer;
	bool ident_pending; /* hashed by the identity worker; resumes in conn_identified() */
	bool known;
	struct ward_egress_peer who;
	char binary[PATH_MAX];
	char keys[256];
	char sha[65];
	int tofu;	       /* 0 or -errno: the binary failed its integrity check */
	char tofu_reason[256];

	/* target */
	const char *protocol; /* "connect", "http", "tls", "tcp" */
	char host[WARD_HOST_MAX];
	uint16_t port;
	bool host_is_ip;
	char ip[INET6_ADDRSTRLEN]; /* the address connected to */
	struct ward_net_verdict v;
	struct sockaddr_storage addrs[WARD_RESOLVE_MAX_ADDRS];
	size_t n_addrs, next_addr;
	int last_connect_err;
	char up_host[WARD_HOST_MAX]; /* HTTP: origin the upstream connection is for */
	uint16_t up_port;

	/* HTTP */
	bool parsers;
	struct ward_http_parser req, resp;
	struct ward_http_body req_body, resp_body;
	enum http_phase phase;
	bool resp_in_body;
	bool req_keep_alive, resp_keep_alive;
	bool upgrade; /* an allowed WebSocket handshake: tunnel after 101 */
	bool head_sent;
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
	pthread_t thread;
	bool started;
	char *scratch; /* CONN_BUF bytes for the loop thread (response head rewrites) */
	struct ident_worker *iw; /* hashes binaries off the loop (ident_worker.c) */
	struct ward_admission *adm; /* admission.c: refusals, the fd reserve */
	_Atomic uint64_t accepted, refused_full;
};

/* epoll data: kind in the low 2 bits, slot above */
enum { EV_CLIENT = 0, EV_UPSTREAM = 1, EV_LISTEN = 2, EV_OTHER = 3 };

/* proxy.c */
void proxy_conn_close(struct conn *c);
void proxy_conn_update(struct conn *c);
void proxy_row(struct conn *c, const char *layer, const char *action, const char *method,
	       const char *path, const char *rule, const char *reason);

/* conn.c */
void conn_accepted(struct conn *c);
void conn_event(struct conn *c, bool upstream, uint32_t events);
void conn_resolved(struct conn *c, const struct ward_resolve_result *res);
void conn_timeout(struct conn *c);
int conn_start_upstream(struct conn *c);
void conn_decided_connect(struct conn *c);
void conn_pump(struct conn *c);
void conn_fail(struct conn *c, int status, const char *error, const char *reason);
void conn_deny(struct conn *c, const char *layer, const struct ward_request *req,
	       const struct ward_net_verdict *v, const char *reason_override);

void conn_close_upstream(struct conn *c);
void conn_identified(struct conn *c);
void conn_after_identity(struct conn *c);
void conn_set_deadline(struct conn *c, uint32_t ms);
/* side I/O through TLS when the side has one: >0 bytes, 0 nothing now, -errno fatal */
int conn_read_side(struct conn *c, bool upstream, struct buf *b, bool *eof);
int conn_write_side(struct conn *c, bool upstream, struct buf *b);

/* ident_worker.c */
int proxy_ident_new(struct ward_proxy *px);
void proxy_ident_free(struct ward_proxy *px);
int proxy_ident_fd(const struct ward_proxy *px);
int proxy_ident_submit(struct conn *c);
void proxy_ident_dispatch(struct ward_proxy *px);

/* conn_tls.c: interception */
void tls_intercept_begin(struct conn *c);  /* upstream connected: start its handshake */
void tls_step(struct conn *c);
void tls_intercept_local(struct conn *c); /* inference.local: only the client side */
void tls_conn_free(struct conn *c);
ssize_t tls_side_read(struct conn *c, bool upstream, void *p, size_t n);
ssize_t tls_side_write(struct conn *c, bool upstream, const void *p, size_t n);

/* The inference.local seam (i1, src/proxy/inference*.c): a request to host
 * inference.local, its head parsed (c->req.head) and already decided, is handed
 * over here; the callee owns the exchange from then on (reads the body from
 * c->from_c, writes the response into c->to_c, sets c->state/phase). A weak
 * symbol: while no inference module is linked, such requests get 503. */
#define WARD_INFERENCE_HOST "inference.local"
int ward_inference_handle(struct conn *c) __attribute__((weak));
/* inference.local, or a route's provider host (route hosts:): the inference
 * layer serves it (linked with ward_inference_handle) */
bool inference_conn_wants(const struct conn *c) __attribute__((weak));
/* inference_conn.c: drive the request in c->inf (only while c->inf is set) */
void inference_conn_pump(struct conn *c);
void inference_conn_io(struct conn *c, uint32_t events);
void inference_conn_timeout(struct conn *c);
void inference_conn_free(struct conn *c);

/* conn_http.c */
void http_process(struct conn *c);
void http_upstream_data(struct conn *c, const char *data, size_t len);
void http_upstream_ready(struct conn *c);
int http_parsers_init(struct conn *c);

/* deny.c: complete responses (head + JSON body), malloc'd */
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
