// SPDX-License-Identifier: MIT
/* HTTP/1.1 heads and body framing (RFC 9110, 9112). Where the RFC lets a
 * recipient be lenient, ward is strict when leniency could make it and the
 * upstream frame a message differently (CL+TE, duplicate lengths, obs-fold,
 * bare CR/LF, whitespace before the colon, unknown transfer codings). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/http.h"

const struct ward_http_limits ward_http_default_limits = {
	.max_request_line = WARD_HTTP_MAX_REQUEST_LINE,
	.max_head = WARD_HTTP_MAX_HEAD,
	.max_headers = WARD_HTTP_MAX_HEADERS,
};

enum { P_HEAD = 0, P_DONE, P_ERROR };

#define MAX_SKIPPED_EMPTY 4

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* field-vchar / SP / HTAB; obs-text allowed in values as RFC 9110 5.5 says. */
static bool is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool str_ieq(struct ward_http_str s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && strncasecmp(s.p, lit, n) == 0;
}

/* Methods are case-sensitive (RFC 9110 9.1). */
static bool str_eq(struct ward_http_str s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && memcmp(s.p, lit, n) == 0;
}

static struct ward_http_str span(const char *p, size_t len)
{
	return (struct ward_http_str){ .p = p, .len = len };
}

static int fail(struct ward_http_parser *p, int status, const char *reason)
{
	p->state = P_ERROR;
	p->status = p->kind == WARD_HTTP_RESPONSE ? 502 : status;
	p->reason = reason;
	return -EBADMSG;
}

int ward_http_parser_init(struct ward_http_parser *p, enum ward_http_kind kind,
			  const struct ward_http_limits *limits)
{
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->limits = limits ? *limits : ward_http_default_limits;
	if (p->limits.max_head < 16 || p->limits.max_headers == 0 ||
	    p->limits.max_request_line == 0)
		return -EINVAL;
	p->buf = malloc(p->limits.max_head);
	p->head.headers = calloc(p->limits.max_headers, sizeof(*p->head.headers));
	if (!p->buf || !p->head.headers) {
		ward_http_parser_free(p);
		return -ENOMEM;
	}
	return 0;
}

void ward_http_parser_reset(struct ward_http_parser *p)
{
	struct ward_http_header *headers = p->head.headers;

	memset(&p->head, 0, sizeof(p->head));
	p->head.headers = headers;
	p->len = 0;
	p->line_start = 0;
	p->lines = 0;
	p->skipped = 0;
	p->cr = false;
	p->state = P_HEAD;
	p->status = 0;
	p->reason = NULL;
}

void ward_http_parser_free(struct ward_http_parser *p)
{
	if (!p)
		return;
	free(p->buf);
	free(p->head.headers);
	p->buf = NULL;
	p->head.headers = NULL;
}

const struct ward_http_header *ward_http_find_header(const struct ward_http_head *h,
						     const char *name)
{
	for (size_t i = 0; i < h->n_headers; i++)
		if (str_ieq(h->headers[i].name, name))
			return &h->headers[i];
	return NULL;
}

int ward_http_parse_authority(const char *s, size_t len, char *host, size_t hostsz,
			      uint16_t *ret_port)
{
	size_t hlen;
	const char *colon = NULL;
	unsigned port = 0;

	if (!s || len == 0)
		return -EINVAL;
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', len);

		if (!rb)
			return -EINVAL;
		hlen = (size_t)(rb - s) + 1;
		if (hlen < len) {
			if (s[hlen] != ':')
				return -EINVAL;
			colon = s + hlen;
		}
	} else {
		colon = memchr(s, ':', len);
		/* A second colon means a bare IPv6 address or garbage: both refused. */
		if (colon && memchr(colon + 1, ':', len - (size_t)(colon - s) - 1))
			return -EINVAL;
		hlen = colon ? (size_t)(colon - s) : len;
	}
	if (colon) {
		size_t plen = len - (size_t)(colon - s) - 1;

		if (plen == 0 || plen > 5)
			return -EINVAL;
		for (size_t i = 1; i <= plen; i++) {
			if (colon[i] < '0' || colon[i] > '9')
				return -EINVAL;
			port = port * 10 + (unsigned)(colon[i] - '0');
		}
		if (port == 0 || port > 65535)
			return -EINVAL;
	}
	if (hlen == 0 || ward_host_normalize(s, hlen, host, hostsz) < 0)
		return -EINVAL;
	*ret_port = (uint16_t)port;
	return 0;
}

/* ---- request line and status line ---- */

static int parse_version(struct ward_http_parser *p, const char *v, size_t len)
{
	if (len == 8 && memcmp(v, "HTTP/1.", 7) == 0 && (v[7] == '0' || v[7] == '1')) {
		p->head.version_minor = v[7] - '0';
		return 0;
	}
	if (len == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' && v[6] == '.' &&
	    v[7] >= '0' && v[7] <= '9')
		return fail(p, 505, "HTTP version not supported");
	return fail(p, 400, "malformed HTTP version");
}

static void split_query(struct ward_http_head *h, const char *s, size_t len)
{
	const char *q = memchr(s, '?', len);

	if (q) {
		h->query = span(q + 1, len - (size_t)(q - s) - 1);
		len = (size_t)(q - s);
	}
	h->path = len ? span(s, len) : span("/", 1);
}

static int parse_target(struct ward_http_parser *p)
{
	struct ward_http_head *h = &p->head;
	const char *t = h->target.p, *auth, *end = h->target.p + h->target.len;
	size_t len = h->target.len;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e || t[i] == '#')
			return fail(p, 400, "invalid byte in request-target");

	if (str_eq(h->method, "CONNECT")) {
		h->form = WARD_HTTP_AUTHORITY_FORM;
		if (ward_http_parse_authority(t, len, h->host, sizeof(h->host), &h->port) < 0 ||
		    h->port == 0)
			return fail(p, 400, "CONNECT needs host:port");
		h->has_host = true;
		return 0;
	}
	if (len == 1 && t[0] == '*') {
		if (!str_eq(h->method, "OPTIONS"))
			return fail(p, 400, "'*' target is for OPTIONS only");
		h->form = WARD_HTTP_ASTERISK_FORM;
		return 0;
	}
	if (t[0] == '/') {
		h->form = WARD_HTTP_ORIGIN_FORM;
		split_query(h, t, len);
		return 0;
	}

	h->form = WARD_HTTP_ABSOLUTE_FORM;
	if (len > 7 && strncasecmp(t, "http://", 7) == 0) {
		auth = t + 7;
	} else if (len > 8 && strncasecmp(t, "https://", 8) == 0) {
		auth = t + 8;
		h->https = true;
	} else {
		return fail(p, 400, "request-target scheme must be http or https");
	}
	const char *slash = auth;
	while (slash < end && *slash != '/' && *slash != '?')
		slash++;
	/* userinfo in a proxy request is either a leak or an attempt to confuse */
	if (memchr(auth, '@', (size_t)(slash - auth)) ||
	    ward_http_parse_authority(auth, (size_t)(slash - auth), h->host, sizeof(h->host),
				      &h->port) < 0)
		return fail(p, 400, "invalid authority in request-target");
	if (h->port == 0)
		h->port = h->https ? 443 : 80;
	h->has_host = true;
	split_query(h, slash, (size_t)(end - slash));
	return 0;
}

static int parse_request_line(struct ward_http_parser *p, const char *l, size_t len)
{
	struct ward_http_head *h = &p->head;
	const char *sp1 = memchr(l, ' ', len), *sp2;

	if (!sp1 || sp1 == l)
		return fail(p, 400, "malformed request line");
	for (const char *c = l; c < sp1; c++)
		if (!is_tchar((unsigned char)*c))
			return fail(p, 400, "invalid method");
	h->method = span(l, (size_t)(sp1 - l));
	sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - l));
	if (!sp2 || sp2 == sp1 + 1)
		return fail(p, 400, "malformed request line");
	h->target = span(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	if (parse_version(p, sp2 + 1, len - (size_t)(sp2 + 1 - l)) < 0)
		return -EBADMSG;
	return parse_target(p);
}

static int parse_status_line(struct ward_http_parser *p, const char *l, size_t len)
{
	struct ward_http_head *h = &p->head;

	if (len < 12 || l[8] != ' ' || parse_version(p, l, 8) < 0)
		return fail(p, 502, "malformed status line");
	for (int i = 9; i < 12; i++)
		if (l[i] < '0' || l[i] > '9')
			return fail(p, 502, "malformed status code");
	h->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	if (h->status < 100 || h->status > 599)
		return fail(p, 502, "status code out of range");
	/* "HTTP/1.1 200" without the SP before an empty reason is common: accepted */
	if (len > 12) {
		if (l[12] != ' ')
			return fail(p, 502, "malformed status line");
		h->reason = span(l + 13, len - 13);
		for (size_t i = 0; i < h->reason.len; i++)
			if (!is_value_char((unsigned char)h->reason.p[i]))
				return fail(p, 502, "invalid byte in reason phrase");
	}
	return 0;
}

/* ---- header fields ---- */

struct framing_state {
	bool has_cl, has_te, chunked_last, other_coding, upgrade_ws, conn_close, conn_keep,
		conn_upgrade;
	unsigned chunked;
	unsigned hosts;
	const struct ward_http_header *host;
};

/* Next non-empty element of a comma-separated list, OWS trimmed (RFC 9110 5.6.1). */
static bool next_element(struct ward_http_str v, size_t *pos, struct ward_http_str *ret)
{
	while (*pos <= v.len) {
		const char *b = v.p + *pos, *end = v.p + v.len;
		const char *c = memchr(b, ',', (size_t)(end - b));
		const char *e = c ? c : end;

		*pos = (size_t)(e - v.p) + 1;
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > b) {
			*ret = span(b, (size_t)(e - b));
			return true;
		}
	}
	return false;
}

static int parse_content_length(struct ward_http_parser *p, struct framing_state *f,
				struct ward_http_str v)
{
	struct ward_http_str e;
	size_t pos = 0;
	bool any = false;
	int bad = 0;

	while (next_element(v, &pos, &e)) {
		uint64_t n = 0;

		for (size_t i = 0; i < e.len && !bad; i++) {
			unsigned d = (unsigned)(e.p[i] - '0');

			if (d > 9 || n > (UINT64_MAX - d) / 10)
				bad = 1;
			else
				n = n * 10 + d;
		}
		/* "5, 5" and repeated "5" lines are one length; anything else is two. */
		if (!bad && f->has_cl && n != p->head.content_length)
			bad = 2;
		p->head.content_length = n;
		f->has_cl = true;
		any = true;
	}
	if (bad == 2)
		return fail(p, 400, "conflicting Content-Length values");
	if (bad || !any)
		return fail(p, 400, "invalid Content-Length");
	return 0;
}

static int parse_transfer_encoding(struct ward_http_parser *p, struct framing_state *f,
				   struct ward_http_str v)
{
	struct ward_http_str e;
	size_t pos = 0;
	bool any = false;

	while (next_element(v, &pos, &e)) {
		any = true;
		if (str_ieq(e, "chunked")) {
			f->chunked++;
			f->chunked_last = true;
		} else {
			f->other_coding = true;
			f->chunked_last = false;
		}
	}
	if (!any)
		return fail(p, 400, "empty Transfer-Encoding");
	f->has_te = true;
	return 0;
}

static int parse_field(struct ward_http_parser *p, struct framing_state *f,
		       const struct ward_http_header *hd)
{
	struct ward_http_head *h = &p->head;
	struct ward_http_str v = hd->value, e;
	size_t pos = 0;

	if (str_ieq(hd->name, "Content-Length"))
		return parse_content_length(p, f, v);
	if (str_ieq(hd->name, "Transfer-Encoding"))
		return parse_transfer_encoding(p, f, v);
	if (str_ieq(hd->name, "Host")) {
		f->hosts++;
		f->host = hd;
	} else if (str_ieq(hd->name, "Connection")) {
		while (next_element(v, &pos, &e)) {
			if (str_ieq(e, "close"))
				f->conn_close = true;
			else if (str_ieq(e, "keep-alive"))
				f->conn_keep = true;
			else if (str_ieq(e, "upgrade"))
				f->conn_upgrade = true;
		}
	} else if (str_ieq(hd->name, "Upgrade")) {
		while (next_element(v, &pos, &e)) {
			/* protocol-name [ "/" protocol-version ] */
			const char *slash = memchr(e.p, '/', e.len);

			if (str_ieq(span(e.p, slash ? (size_t)(slash - e.p) : e.len), "websocket"))
				f->upgrade_ws = true;
		}
	} else if (str_ieq(hd->name, "Expect")) {
		if (str_ieq(v, "100-continue"))
			h->expect_continue = true;
	}
	return 0;
}

static int parse_header_line(struct ward_http_parser *p, struct framing_state *f, const char *l,
			     size_t len)
{
	struct ward_http_head *h = &p->head;
	const char *colon, *b, *e;
	struct ward_http_header *hd;

	if (l[0] == ' ' || l[0] == '\t')
		return fail(p, 400, "obsolete line folding");
	colon = memchr(l, ':', len);
	if (!colon || colon == l)
		return fail(p, 400, "malformed header field");
	for (const char *c = l; c < colon; c++)
		if (!is_tchar((unsigned char)*c))
			return fail(p, 400, "invalid header field name");
	b = colon + 1;
	e = l + len;
	while (b < e && (*b == ' ' || *b == '\t'))
		b++;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	for (const char *c = b; c < e; c++)
		if (!is_value_char((unsigned char)*c))
			return fail(p, 400, "invalid byte in header value");
	if (h->n_headers >= p->limits.max_headers)
		return fail(p, 431, "too many header fields");
	hd = &h->headers[h->n_headers++];
	hd->name = span(l, (size_t)(colon - l));
	hd->value = span(b, (size_t)(e - b));
	return parse_field(p, f, hd);
}

/* ---- framing decisions ---- */

static bool default_keep_alive(const struct ward_http_head *h, const struct framing_state *f)
{
	if (f->conn_close)
		return false;
	return h->version_minor == 1 || f->conn_keep;
}

static int finish_request(struct ward_http_parser *p, struct framing_state *f)
{
	struct ward_http_head *h = &p->head;

	if (f->has_te) {
		if (h->version_minor == 0)
			return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
		if (f->has_cl)
			return fail(p, 400, "both Content-Length and Transfer-Encoding");
		if (!f->chunked_last)
			return fail(p, 400, "chunked is not the final transfer coding");
		if (f->other_coding)
			return fail(p, 501, "unsupported transfer coding");
		if (f->chunked > 1)
			return fail(p, 400, "chunked applied more than once");
		h->framing = WARD_HTTP_BODY_CHUNKED;
	} else if (f->has_cl) {
		h->framing = h->content_length ? WARD_HTTP_BODY_LENGTH : WARD_HTTP_BODY_NONE;
	}

	if (f->hosts > 1)
		return fail(p, 400, "more than one Host header");
	if (f->hosts == 0 && h->version_minor == 1)
		return fail(p, 400, "missing Host header");
	if (f->host) {
		char host[WARD_HOST_MAX];
		uint16_t port;

		if (ward_http_parse_authority(f->host->value.p, f->host->value.len, host,
					      sizeof(host), &port) < 0)
			return fail(p, 400, "invalid Host header");
		switch (h->form) {
		case WARD_HTTP_ABSOLUTE_FORM:
			if (port == 0)
				port = h->https ? 443 : 80;
			if (strcmp(host, h->host) != 0 || port != h->port)
				return fail(p, 400, "Host header does not match request-target");
			break;
		case WARD_HTTP_AUTHORITY_FORM:
			if (strcmp(host, h->host) != 0 || (port && port != h->port))
				return fail(p, 400, "Host header does not match CONNECT target");
			break;
		case WARD_HTTP_ORIGIN_FORM:
		case WARD_HTTP_ASTERISK_FORM:
			memcpy(h->host, host, sizeof(host));
			h->port = port;
			h->has_host = true;
			break;
		}
	}

	if (h->form == WARD_HTTP_AUTHORITY_FORM) {
		/* A CONNECT request has no content; framing one would desync the tunnel. */
		if (f->has_te || f->has_cl)
			return fail(p, 400, "CONNECT with a body");
		h->framing = WARD_HTTP_BODY_TUNNEL;
	}
	h->keep_alive = default_keep_alive(h, f);
	h->upgrade_websocket = f->upgrade_ws && f->conn_upgrade && str_eq(h->method, "GET");
	return 0;
}

static int finish_response(struct ward_http_parser *p, struct framing_state *f)
{
	struct ward_http_head *h = &p->head;

	h->keep_alive = default_keep_alive(h, f);
	if (h->status == 101) {
		h->framing = WARD_HTTP_BODY_TUNNEL;
		h->upgrade_websocket = f->upgrade_ws && f->conn_upgrade;
		return 0;
	}
	if (h->status < 200) {
		h->informational = true;
		h->framing = WARD_HTTP_BODY_NONE;
		return 0;
	}
	if (p->req_connect && h->status < 300) {
		h->framing = WARD_HTTP_BODY_TUNNEL;
		return 0;
	}
	if (p->req_head || h->status == 204 || h->status == 304) {
		h->framing = WARD_HTTP_BODY_NONE;
		return 0;
	}
	if (f->has_te) {
		if (f->has_cl)
			return fail(p, 502, "both Content-Length and Transfer-Encoding");
		if (h->version_minor == 0)
			return fail(p, 502, "Transfer-Encoding in an HTTP/1.0 response");
		if (f->chunked > 1)
			return fail(p, 502, "chunked applied more than once");
		/* Codings before chunked are relayed untouched; chunked frames them. */
		if (f->chunked_last) {
			h->framing = WARD_HTTP_BODY_CHUNKED;
		} else {
			h->framing = WARD_HTTP_BODY_CLOSE;
			h->keep_alive = false;
		}
		return 0;
	}
	if (f->has_cl) {
		h->framing = h->content_length ? WARD_HTTP_BODY_LENGTH : WARD_HTTP_BODY_NONE;
		return 0;
	}
	h->framing = WARD_HTTP_BODY_CLOSE;
	h->keep_alive = false;
	return 0;
}

static int parse_head(struct ward_http_parser *p)
{
	struct framing_state f = { 0 };
	const char *l = p->buf, *end = p->buf + p->len - 2; /* the blank line's CRLF */
	bool first = true;
	int r;

	/* The scanner guaranteed: every line ends in CRLF, no bare CR or LF, no NUL. */
	while (l < end) {
		const char *crlf = memchr(l, '\r', (size_t)(end - l));
		size_t len;

		if (!crlf)
			return fail(p, 400, "malformed message head");
		len = (size_t)(crlf - l);

		if (first) {
			r = p->kind == WARD_HTTP_REQUEST ? parse_request_line(p, l, len)
							 : parse_status_line(p, l, len);
			first = false;
		} else {
			r = parse_header_line(p, &f, l, len);
		}
		if (r < 0)
			return r;
		l = crlf + 2;
	}
	r = p->kind == WARD_HTTP_REQUEST ? finish_request(p, &f) : finish_response(p, &f);
	if (r < 0)
		return r;
	p->head.head_len = p->len + 2 * (size_t)p->skipped;
	p->state = P_DONE;
	return 1;
}

int ward_http_feed(struct ward_http_parser *p, const char *data, size_t len, size_t *ret_consumed)
{
	*ret_consumed = 0;
	if (p->state == P_ERROR)
		return -EBADMSG;
	if (p->state == P_DONE)
		return 1;

	for (size_t i = 0; i < len; i++) {
		char c = data[i];

		if (c == '\0')
			return fail(p, 400, "NUL in message head");
		if (p->len >= p->limits.max_head)
			return p->lines == 0 ? fail(p, 414, "request line too long")
					     : fail(p, 431, "message head too large");
		p->buf[p->len++] = c;

		if (c == '\r') {
			if (p->cr)
				return fail(p, 400, "bare CR");
			p->cr = true;
			continue;
		}
		if (c != '\n') {
			if (p->cr)
				return fail(p, 400, "bare CR");
			if (p->lines == 0 && p->len - p->line_start > p->limits.max_request_line)
				return fail(p, 414, "request line too long");
			continue;
		}
		if (!p->cr)
			return fail(p, 400, "bare LF");
		p->cr = false;

		if (p->len - p->line_start == 2) {
			if (p->lines == 0) {
				/* RFC 9112 2.2: empty lines before a request line are ignored. */
				if (++p->skipped > MAX_SKIPPED_EMPTY ||
				    p->kind == WARD_HTTP_RESPONSE)
					return fail(p, 400, "empty line before start line");
				p->len = 0;
				continue;
			}
			*ret_consumed = i + 1;
			return parse_head(p);
		}
		if (p->lines == 0 && p->len - p->line_start - 2 > p->limits.max_request_line)
			return fail(p, 414, "request line too long");
		if (++p->lines > p->limits.max_headers + 1)
			return fail(p, 431, "too many header fields");
		p->line_start = p->len;
	}
	*ret_consumed = len;
	return 0;
}

/* ---- bodies ---- */

enum {
	B_SIZE = 0,
	B_EXT,
	B_SIZE_LF,
	B_DATA,
	B_DATA_CR,
	B_DATA_LF,
	B_TRAILER,
	B_TRAILER_LF,
	B_DONE,
	B_ERROR,
};

static int body_fail(struct ward_http_body *b, int status, const char *reason)
{
	b->state = B_ERROR;
	b->status = status;
	b->reason = reason;
	return status == 413 ? -EFBIG : -EBADMSG;
}

int ward_http_body_init(struct ward_http_body *b, const struct ward_http_head *h, uint64_t max_body)
{
	memset(b, 0, sizeof(*b));
	b->framing = h->framing;
	b->max_body = max_body;
	if (h->framing == WARD_HTTP_BODY_LENGTH) {
		b->remaining = h->content_length;
		if (max_body && h->content_length > max_body)
			return body_fail(b, 413, "body too large");
	}
	return 0;
}

static int hexdigit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int chunked_feed(struct ward_http_body *b, const char *data, size_t len,
			size_t *ret_consumed, ward_http_data_fn on_data, void *ud)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)data[i];
		int d;

		switch (b->state) {
		case B_SIZE:
			d = hexdigit(c);
			if (d >= 0) {
				if (b->remaining >> 60)
					return body_fail(b, 400, "chunk size too large");
				b->remaining = b->remaining << 4 | (uint64_t)d;
				if (++b->line_len > 32)
					return body_fail(b, 400, "chunk size too long");
			} else if (b->line_len && c == ';') {
				b->state = B_EXT;
				b->line_len = 0;
			} else if (b->line_len && c == '\r') {
				b->state = B_SIZE_LF;
			} else {
				/* no whitespace, no "0x", no sign: one reading only */
				return body_fail(b, 400, "malformed chunk size");
			}
			i++;
			break;
		case B_EXT:
			if (c == '\r')
				b->state = B_SIZE_LF;
			else if ((c < 0x20 && c != '\t') || c == 0x7f)
				return body_fail(b, 400, "invalid byte in chunk extension");
			else if (++b->line_len > WARD_HTTP_MAX_CHUNK_EXT)
				return body_fail(b, 400, "chunk extension too long");
			i++;
			break;
		case B_SIZE_LF:
			if (c != '\n')
				return body_fail(b, 400, "chunk size line not ended by CRLF");
			i++;
			b->line_len = 0;
			if (b->remaining == 0) {
				b->state = B_TRAILER;
				b->colon = false;
				break;
			}
			if (b->max_body && b->remaining > b->max_body - b->total)
				return body_fail(b, 413, "body too large");
			b->state = B_DATA;
			break;
		case B_DATA: {
			size_t n = len - i;

			if (n > b->remaining)
				n = (size_t)b->remaining;
			if (on_data)
				on_data(ud, data + i, n);
			b->remaining -= n;
			b->total += n;
			i += n;
			if (b->remaining == 0)
				b->state = B_DATA_CR;
			break;
		}
		case B_DATA_CR:
			if (c != '\r')
				return body_fail(b, 400, "chunk data not followed by CRLF");
			b->state = B_DATA_LF;
			i++;
			break;
		case B_DATA_LF:
			if (c != '\n')
				return body_fail(b, 400, "chunk data not followed by CRLF");
			b->state = B_SIZE;
			b->line_len = 0;
			i++;
			break;
		case B_TRAILER:
			if (c == '\r') {
				b->state = B_TRAILER_LF;
			} else if (c == '\n' || c == 0 || (c < 0x20 && c != '\t') || c == 0x7f) {
				return body_fail(b, 400, "invalid byte in trailer");
			} else if (b->line_len == 0 && (c == ' ' || c == '\t')) {
				return body_fail(b, 400, "obsolete line folding in trailer");
			} else if (!b->colon) {
				if (c == ':' && b->line_len)
					b->colon = true;
				else if (!is_tchar(c))
					return body_fail(b, 400, "invalid trailer field name");
			}
			if (c != '\r')
				b->line_len++;
			if (++b->trailer_bytes > WARD_HTTP_MAX_TRAILERS)
				return body_fail(b, 400, "trailers too large");
			i++;
			break;
		case B_TRAILER_LF:
			if (c != '\n')
				return body_fail(b, 400, "bare CR in trailer");
			i++;
			if (b->line_len == 0) {
				b->state = B_DONE;
				*ret_consumed = i;
				return 1;
			}
			if (!b->colon)
				return body_fail(b, 400, "malformed trailer field");
			if (++b->n_trailers > WARD_HTTP_MAX_HEADERS)
				return body_fail(b, 400, "too many trailer fields");
			b->line_len = 0;
			b->colon = false;
			b->state = B_TRAILER;
			break;
		default:
			return body_fail(b, 400, "chunked decoder misuse");
		}
	}
	*ret_consumed = len;
	return 0;
}

int ward_http_body_feed(struct ward_http_body *b, const char *data, size_t len,
			size_t *ret_consumed, ward_http_data_fn on_data, void *userdata)
{
	size_t n;

	*ret_consumed = 0;
	if (b->state == B_ERROR)
		return b->status == 413 ? -EFBIG : -EBADMSG;
	if (b->state == B_DONE)
		return 1;

	switch (b->framing) {
	case WARD_HTTP_BODY_NONE:
	case WARD_HTTP_BODY_TUNNEL:
		b->state = B_DONE;
		return 1;
	case WARD_HTTP_BODY_CLOSE:
		/* Deliver up to the limit, then fail: the same bytes however data is split. */
		n = len;
		if (b->max_body && n > b->max_body - b->total)
			n = (size_t)(b->max_body - b->total);
		if (on_data && n)
			on_data(userdata, data, n);
		b->total += n;
		*ret_consumed = n;
		if (n < len)
			return body_fail(b, 413, "body too large");
		return 0;
	case WARD_HTTP_BODY_LENGTH:
		n = len < b->remaining ? len : (size_t)b->remaining;
		if (on_data && n)
			on_data(userdata, data, n);
		b->remaining -= n;
		b->total += n;
		*ret_consumed = n;
		if (b->remaining)
			return 0;
		b->state = B_DONE;
		return 1;
	case WARD_HTTP_BODY_CHUNKED:
		return chunked_feed(b, data, len, ret_consumed, on_data, userdata);
	}
	return body_fail(b, 400, "unknown framing");
}
