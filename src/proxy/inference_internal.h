/* SPDX-License-Identifier: MIT */
/* Internal to inference: the per-run handle (inference.c) and the
 * per-request state machine (inference_call.c). */
#pragma once

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "policy/match.h"
#include "proxy/inference.h"
#include "proxy/inference_json.h"
#include "proxy/http.h"
#include "proxy/providers.h"
#include "proxy/sse.h"

#define INF_MAX_ADDRS 8
#define INF_PREFIX_MAX 512

struct inf_backend {
	const struct ward_inference_route *route;
	const struct ward_provider *prov;
	char *key; /* from the environment; wiped on free; NULL with key_secret */
	size_t key_len;
	const char *key_secret; /* api_key_secret: read from the store per call; or NULL */
	bool https;
	char host[WARD_HOST_MAX];
	uint16_t port;
	char prefix[INF_PREFIX_MAX]; /* base_url path, no trailing slash ("/v1") */
	struct sockaddr_storage addrs[INF_MAX_ADDRS];
	size_t n_addrs;
};

/* What inference has cost so far in this sandbox: shared by the handles of
 * successive policy generations (ward_inference_derive), so a budget counts
 * across them. Loop thread only. */
#define INF_MAX_SESSIONS 4096 /* sessions counted per sandbox; more: refused when budgeted */

/* One session's share (budget.per_session); "" is the calls of no session
 * (ward run: its one command). */
struct inf_session_usage {
	char id[32];
	uint64_t spent;
	double spent_usd;
	unsigned warned_tokens, warned_usd;
};

struct inf_usage {
	unsigned refs;
	uint64_t spent;
	double spent_usd;
	unsigned warned_tokens, warned_usd; /* thresholds already logged (ward_budget_crossed) */
	struct inf_session_usage *sessions;
	size_t n_sessions, cap_sessions;
};

struct ward_inference {
	unsigned refs; /* the owner's, and one per call in flight */
	const struct ward_policy *policy;
	struct ward_inference_config
		cfg; /* what ward_inference_derive builds from (strings copied) */
	struct ward_audit *audit;
	char *sandbox;
	uint32_t idle_ms, total_ms, connect_ms;
	uint64_t max_request, max_response;
	struct inf_backend *b;
	size_t n;
	struct ward_tls_upstream *tls;
	const char **key_envs;
	size_t n_key_envs;
	uint64_t budget;
	double budget_usd;
	uint64_t session_budget; /* inference.budget.per_session */
	double session_budget_usd;
	struct inf_usage *u;
	struct ward_secrets *secrets; /* a reference; NULL when no route names a secret */
};

#define INF_KEY_MAX 8192u

/* b's key for a call starting now into buf (INF_KEY_MAX + 1 bytes; the
 * caller wipes it): the environment's, or the store's current value, so a
 * rotated secret applies from the next call. 0 and its length, or -errno
 * with why (naming the secret, never a value). */
int inf_backend_key(const struct ward_inference *inf, const struct inf_backend *b, char *buf,
		    size_t *ret_len, char *why, size_t whysz);

/* The usage of session id (NULL/"": none) in u, made on first use; NULL
 * when INF_MAX_SESSIONS are counted already (or out of memory). */
struct inf_session_usage *inf_session_usage(struct inf_usage *u, const char *id);
void inf_usage_free(struct inf_usage *u);

/* Route for a requested model: name, then alias, then the route's model;
 * none matches (or model NULL): the first route. NULL when there are none.
 * host: only the routes with this provider host (route hosts:); NULL: all. */
struct inf_backend *inf_route(struct ward_inference *inf, const char *model, const char *host);
/* Does the route take direct calls to host (its hosts:)? NULL: yes. */
bool inf_has_host(const struct inf_backend *b, const char *host);
/* The same without the fallback: NULL when no route names model. */
struct inf_backend *inf_route_named(struct ward_inference *inf, const char *model,
				    const char *host);

/* --- one request (inference_call.c: the request side and the loop's view;
 * inference_upstream.c: the upstream connection and the response) --- */

#define OUT_HIGH (256u << 10) /* stop reading the upstream while this much waits for the client */
#define READ_CHUNK (16u << 10)
#define MODEL_MAX 256

enum cstate {
	C_BODY = 0, /* reading the request body */
	C_LOCAL,    /* ward's own answer is in out */
	C_CONNECT,
	C_TLS,
	C_SEND,
	C_HEAD,	 /* waiting for the response head */
	C_RBODY, /* response body */
	C_DONE,
};

struct obuf {
	char *p;
	size_t off, len, cap;
};

struct ward_inference_call {
	struct ward_inference *inf;
	/* who and what */
	bool known, tofu_failed, client_tls;
	char *binary, *sha;
	char *ancestor; /* the ancestor the kernel matched (rows' via); NULL: binary itself */
	char *via; /* the provider host called directly (route hosts:); NULL: inference.local */
	int32_t pid;
	char session[32]; /* the caller's session: rows and the per-session budget; "": none */
	bool has_uid;	  /* the caller's uid and cgroup id, for the rows */
	uint32_t uid;
	uint64_t cgid;
	char method[16];
	char path[1024];
	char *query;
	enum ward_api api;
	const char *suffix;
	enum ward_api_style style;
	bool keep_alive, http10;
	char *fwd; /* allowlisted request headers, "Name: value\r\n"... */
	size_t fwd_len;
	bool has_version;
	/* refusal decided from the head, answered once the body is read */
	int deny_status;
	char deny_msg[300];
	const char *deny_type, *deny_atype;

	struct ward_http_body req_body;
	struct obuf body;
	bool body_over;

	enum cstate st;
	struct inf_backend *b;
	char model_req[MODEL_MAX];
	char model_sent[MODEL_MAX];
	bool req_stream;
	bool usage_added; /* ward added stream_options.include_usage */

	int fd;
	struct ward_tls *tls;
	size_t next_addr;
	int last_err;
	char ip[INET6_ADDRSTRLEN];
	uint32_t want;
	struct obuf up;

	struct ward_http_parser resp;
	bool resp_init;
	struct ward_http_body resp_body;
	bool stream; /* text/event-stream: forwarded as it arrives */
	bool head_sent;
	struct ward_sse sse;
	bool sse_init;
	struct obuf rbody;
	int status;

	struct obuf out;
	bool close_after; /* the client connection ends after this answer */
	bool failed;
	bool logged;
	uint64_t t_start, t_connect_end, t_first, last_activity;
	struct ward_usage usage;
	bool has_usage;
	bool accounted;
	double cost_usd;  /* of this call, once accounted; the route's price */
	const char *rule; /* the row's rule when a policy key other than the route decided */
	const char *code; /* OpenAI error code when it differs from the type */
	char outcome[300];
	const char *learned; /* --learn: what the policy would have refused (static); NULL */
};

int inf_ob_add(struct obuf *b, const void *p, size_t n);
int inf_ob_printf(struct obuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void inf_ob_free(struct obuf *b, bool wipe);
bool inf_hname_is(const struct ward_http_str *s, const char *lit);
/* The decision row of this request, once. */
void inf_log_row(struct ward_inference_call *c, const char *action);
/* Count the call's tokens and cost against the budgets (once; needs usage). */
void inf_account(struct ward_inference_call *c);
/* After a call's row: a row for each budget threshold the spend crossed. */
void inf_budget_rows(struct ward_inference_call *c);
/* Refuse the call when a budget is spent (its answer and row). True: refused. */
bool inf_budget_refuse(struct ward_inference_call *c);
void inf_close_upstream(struct ward_inference_call *c);
/* A refusal or failure in the client's provider format, and its row. */
void inf_fail_answer(struct ward_inference_call *c, int status, const char *type, const char *atype,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The request is complete: connect to the route's backend (next address). */
void inf_start_connect(struct ward_inference_call *c);
