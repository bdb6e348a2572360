/* SPDX-License-Identifier: MIT */
/* Incremental HTTP/1.1 head parser (requests and responses) and body framing
 * (Content-Length counter, chunked decoder), strict enough that ward and the
 * upstream can never disagree on where a message ends (no request smuggling).
 *
 * Bytes arrive in chunks of any size. The parser copies the head into one
 * buffer allocated at init (max_head bytes) and checks every byte as it comes
 * (NUL, bare CR, bare LF, line and head limits); once the blank line arrives it
 * parses the whole head. Spans point into that buffer and stay valid until
 * ward_http_parser_reset() or _free(). Line endings are strictly CRLF: a bare
 * LF is refused (RFC 9112 2.2 allows either; ward picks the one that cannot
 * be read two ways). Up to 4 empty lines before a request line are skipped. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/match.h"

struct ward_http_str {
	const char *p; /* not NUL-terminated; NULL when absent */
	size_t len;
};

enum ward_http_kind {
	WARD_HTTP_REQUEST = 0,
	WARD_HTTP_RESPONSE,
};

enum ward_http_form {
	WARD_HTTP_ORIGIN_FORM = 0, /* "/path?query" */
	WARD_HTTP_ABSOLUTE_FORM,   /* "http://host:port/path?query" (forward proxy) */
	WARD_HTTP_AUTHORITY_FORM,  /* "host:port" (CONNECT only) */
	WARD_HTTP_ASTERISK_FORM,   /* "*" (OPTIONS only) */
};

enum ward_http_framing {
	WARD_HTTP_BODY_NONE = 0,
	WARD_HTTP_BODY_LENGTH,	/* Content-Length bytes */
	WARD_HTTP_BODY_CHUNKED, /* chunked transfer coding, last */
	WARD_HTTP_BODY_CLOSE,	/* responses only: until the upstream closes */
	WARD_HTTP_BODY_TUNNEL,	/* CONNECT, or a 2xx to CONNECT, or 101: raw bytes from here */
};

struct ward_http_limits {
	uint32_t max_request_line; /* request or status line, CRLF excluded */
	uint32_t max_head;	   /* whole head, blank line included */
	uint32_t max_headers;	   /* header field lines */
};
#define WARD_HTTP_MAX_REQUEST_LINE (8u << 10)
#define WARD_HTTP_MAX_HEAD (64u << 10)
#define WARD_HTTP_MAX_HEADERS 100u
extern const struct ward_http_limits ward_http_default_limits;

struct ward_http_header {
	struct ward_http_str name;  /* token, case as received */
	struct ward_http_str value; /* surrounding whitespace removed */
};

struct ward_http_head {
	/* request line */
	struct ward_http_str method;
	struct ward_http_str target; /* as received */
	enum ward_http_form form;
	bool https;		   /* absolute-form with the https scheme */
	struct ward_http_str path; /* origin/absolute form: raw path, never empty ("/" if absent) */
	struct ward_http_str query; /* after '?', p NULL when there is none */
	/* status line */
	int status;
	struct ward_http_str reason;

	int version_minor; /* HTTP/1.<version_minor>: 0 or 1 */
	struct ward_http_header *headers;
	size_t n_headers;

	/* Requests: the target's authority (absolute and authority form) or the
	 * Host header, normalised (ward_host_normalize()). port: explicit, else the
	 * scheme's default for absolute-form, else 0 (the caller knows the port). */
	bool has_host;
	char host[WARD_HOST_MAX];
	uint16_t port;

	enum ward_http_framing framing;
	uint64_t content_length; /* WARD_HTTP_BODY_LENGTH */
	bool keep_alive;	 /* the connection may carry another message after this one */
	bool upgrade_websocket;	 /* GET with Upgrade: websocket + Connection: upgrade, or its 101 */
	bool expect_continue;	 /* Expect: 100-continue */
	bool informational;	 /* a 1xx other than 101: the real response follows */
	size_t head_len;	 /* bytes of the head, final CRLF CRLF included */
};

struct ward_http_parser {
	enum ward_http_kind kind;
	struct ward_http_limits limits;
	/* Responses: the request this answers, which decides its framing (RFC 9112 6.3). */
	bool req_head;
	bool req_connect;

	char *buf;
	size_t len;
	size_t line_start;
	uint32_t lines;
	uint32_t skipped;
	bool cr;
	int state;

	struct ward_http_head head;
	/* On error: the status ward answers with (requests: 400, 414, 431, 501,
	 * 505; responses: always 502) and a short constant reason. */
	int status;
	const char *reason;
};

/* limits NULL: the defaults. 0 or -ENOMEM. */
int ward_http_parser_init(struct ward_http_parser *p, enum ward_http_kind kind,
			  const struct ward_http_limits *limits);
/* Ready for the next message on the same connection (keeps req_* flags). */
void ward_http_parser_reset(struct ward_http_parser *p);
void ward_http_parser_free(struct ward_http_parser *p);

/* Feed bytes. 0: all of data consumed, the head is not complete yet.
 * 1: the head is complete and parsed (p->head); *ret_consumed bytes of data
 * were part of it, the rest starts the body. -EBADMSG: refused (p->status,
 * p->reason); the parser stays refused until reset. */
int ward_http_feed(struct ward_http_parser *p, const char *data, size_t len, size_t *ret_consumed);

/* First header with this name (case-insensitive), NULL if none. */
const struct ward_http_header *ward_http_find_header(const struct ward_http_head *h,
						     const char *name);

/* "host", "host:port", "[v6]:port" into a normalised host and a port (0 when
 * absent). No userinfo, no empty port, host per ward_host_normalize(). 0 or -EINVAL. */
int ward_http_parse_authority(const char *s, size_t len, char *host, size_t hostsz,
			      uint16_t *ret_port);

/* Body framing, for keep-alive: tells where this message's body ends. */
struct ward_http_body {
	enum ward_http_framing framing;
	uint64_t remaining; /* LENGTH: bytes left; CHUNKED: bytes left in this chunk */
	uint64_t total;	    /* payload bytes seen (decoded for chunked) */
	uint64_t max_body;  /* 0: no limit */
	int state;
	uint32_t line_len;
	uint32_t trailer_bytes;
	uint32_t n_trailers;
	bool colon;
	int status;
	const char *reason;
};

#define WARD_HTTP_MAX_CHUNK_EXT 1024u
#define WARD_HTTP_MAX_TRAILERS (16u << 10)

/* From a parsed head. max_body 0: unlimited. 0, or -EFBIG (status 413) when
 * Content-Length already exceeds max_body. */
int ward_http_body_init(struct ward_http_body *b, const struct ward_http_head *h,
			uint64_t max_body);

typedef void (*ward_http_data_fn)(void *userdata, const char *data, size_t len);

/* Feed body bytes. 1: the body is complete; *ret_consumed bytes of data were
 * part of it (the rest is the next message). 0: all consumed, more to come.
 * -EBADMSG (status 400) or -EFBIG (status 413). on_data (may be NULL) gets
 * the payload: chunk data without the framing. NONE and TUNNEL complete at
 * once with nothing consumed; CLOSE never completes. */
int ward_http_body_feed(struct ward_http_body *b, const char *data, size_t len,
			size_t *ret_consumed, ward_http_data_fn on_data, void *userdata);
