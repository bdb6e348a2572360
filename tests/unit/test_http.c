// SPDX-License-Identifier: MIT
/* HTTP/1.1 parser: every framing rule, the smuggling classics, limits, and
 * the same answer whatever way the bytes are split. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/http.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const size_t steps[] = { 0, 1, 2, 3, 7, 64 }; /* 0: everything at once */

/* Feed s in pieces of step bytes; returns the parser's verdict and, when the
 * head is complete, the offset in s where the head ended. */
static int feed(struct ward_http_parser *p, const char *s, size_t len, size_t step, size_t *ret_end)
{
	size_t off = 0;

	*ret_end = 0;
	while (off < len) {
		size_t n = step && len - off > step ? step : len - off, used;
		int r = ward_http_feed(p, s + off, n, &used);

		if (r != 0) {
			*ret_end = off + used;
			return r;
		}
		assert_int_equal(used, n);
		off += n;
	}
	return 0;
}

/* Parse a request under every split; all must agree. Returns the parser of
 * the one-shot parse (caller frees) in *p. */
static int parse_kind(struct ward_http_parser *p, enum ward_http_kind kind, const char *s,
		      const struct ward_http_limits *lim, size_t *ret_end)
{
	int first = 0, first_status = 0;
	size_t first_end = 0;

	for (size_t i = ARRAY_SIZE(steps); i-- > 0;) {
		size_t end;
		int r;

		assert_int_equal(ward_http_parser_init(p, kind, lim), 0);
		r = feed(p, s, strlen(s), steps[i], &end);
		if (i == ARRAY_SIZE(steps) - 1) {
			first = r;
			first_status = p->status;
			first_end = end;
		} else {
			assert_int_equal(r, first);
			assert_int_equal(p->status, first_status);
			if (r == 1)
				assert_int_equal(end, first_end);
		}
		if (i)
			ward_http_parser_free(p);
	}
	*ret_end = first_end;
	return first;
}

static void expect_req_error(const char *s, int status)
{
	struct ward_http_parser p;
	size_t end;
	int r = parse_kind(&p, WARD_HTTP_REQUEST, s, NULL, &end);

	if (r != -EBADMSG || p.status != status)
		fail_msg("request %s: got %d status %d (%s), expected status %d", s, r, p.status,
			 p.reason ? p.reason : "-", status);
	assert_non_null(p.reason);
	/* the error sticks */
	assert_int_equal(ward_http_feed(&p, "x", 1, &end), -EBADMSG);
	ward_http_parser_free(&p);
}

static void expect_resp_error(const char *s)
{
	struct ward_http_parser p;
	size_t end;
	int r = parse_kind(&p, WARD_HTTP_RESPONSE, s, NULL, &end);

	if (r != -EBADMSG || p.status != 502)
		fail_msg("response %s: got %d status %d, expected 502", s, r, p.status);
	ward_http_parser_free(&p);
}

static bool span_is(struct ward_http_str s, const char *lit)
{
	return s.p && s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

#define assert_span(s, lit)                                                                        \
	do {                                                                                       \
		if (!span_is(s, lit))                                                              \
			fail_msg("span '%.*s' != '%s'", (int)(s).len, (s).p ? (s).p : "", lit);    \
	} while (0)

static void test_origin_form(void **state)
{
	struct ward_http_parser p;
	const char *s = "GET /repos/a/b?x=1&y HTTP/1.1\r\nHost: API.github.com.\r\n"
			"User-Agent:  curl/8 \r\nAccept:\t*/*\r\nX-Empty:\r\n\r\nBODY";
	size_t end;

	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST, s, NULL, &end), 1);
	assert_int_equal(end, strlen(s) - 4);
	assert_int_equal(p.head.head_len, end);
	assert_span(p.head.method, "GET");
	assert_span(p.head.target, "/repos/a/b?x=1&y");
	assert_span(p.head.path, "/repos/a/b");
	assert_span(p.head.query, "x=1&y");
	assert_int_equal(p.head.form, WARD_HTTP_ORIGIN_FORM);
	assert_int_equal(p.head.version_minor, 1);
	assert_true(p.head.has_host);
	assert_string_equal(p.head.host, "api.github.com");
	assert_int_equal(p.head.port, 0);
	assert_int_equal(p.head.framing, WARD_HTTP_BODY_NONE);
	assert_true(p.head.keep_alive);
	assert_false(p.head.upgrade_websocket);
	assert_int_equal(p.head.n_headers, 4);
	assert_span(ward_http_find_header(&p.head, "user-agent")->value, "curl/8");
	assert_span(ward_http_find_header(&p.head, "ACCEPT")->value, "*/*");
	assert_int_equal(ward_http_find_header(&p.head, "x-empty")->value.len, 0);
	assert_null(ward_http_find_header(&p.head, "cookie"));
	/* a finished parser stays finished until reset */
	assert_int_equal(ward_http_feed(&p, "x", 1, &end), 1);
	assert_int_equal(end, 0);
	ward_http_parser_free(&p);

	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: h:8080\r\n\r\n",
				    NULL, &end),
			 1);
	assert_null(p.head.query.p);
	assert_span(p.head.path, "/");
	assert_string_equal(p.head.host, "h");
	assert_int_equal(p.head.port, 8080);
	ward_http_parser_free(&p);
}

static void test_absolute_form(void **state)
{
	struct ward_http_parser p;
	size_t end;

	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST,
				    "GET http://Example.COM:8080/a/b?q HTTP/1.1\r\n"
				    "Host: example.com:8080\r\n\r\n",
				    NULL, &end),
			 1);
	assert_int_equal(p.head.form, WARD_HTTP_ABSOLUTE_FORM);
	assert_string_equal(p.head.host, "example.com");
	assert_int_equal(p.head.port, 8080);
	assert_false(p.head.https);
	assert_span(p.head.path, "/a/b");
	assert_span(p.head.query, "q");
	ward_http_parser_free(&p);

	assert_int_equal(
		parse_kind(&p, WARD_HTTP_REQUEST,
			   "GET HTTPS://example.com HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
			   NULL, &end),
		1);
	assert_true(p.head.https);
	assert_int_equal(p.head.port, 443);
	assert_span(p.head.path, "/");
	ward_http_parser_free(&p);

	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST, "GET http://[::1]/x HTTP/1.0\r\n\r\n",
				    NULL, &end),
			 1);
	assert_string_equal(p.head.host, "::1");
	assert_int_equal(p.head.port, 80);
	assert_false(p.head.keep_alive);
	ward_http_parser_free(&p);

	/* Host must agree with the target */
	expect_req_error("GET http://a.com/ HTTP/1.1\r\nHost: b.com\r\n\r\n", 400);
	expect_req_error("GET http://a.com/ HTTP/1.1\r\nHost: a.com:81\r\n\r\n", 400);
	expect_req_error("GET https://a.com/ HTTP/1.1\r\nHost: a.com:80\r\n\r\n", 400);
	expect_req_error("GET http://a.com/ HTTP/1.1\r\n\r\n", 400);
	/* userinfo, other schemes, broken authorities */
	expect_req_error("GET http://u:p@a.com/ HTTP/1.1\r\nHost: a.com\r\n\r\n", 400);
	expect_req_error("GET ftp://a.com/ HTTP/1.1\r\nHost: a.com\r\n\r\n", 400);
	expect_req_error("GET http:///x HTTP/1.1\r\nHost: a.com\r\n\r\n", 400);
	expect_req_error("GET http://a.com:/ HTTP/1.1\r\nHost: a.com\r\n\r\n", 400);
	expect_req_error("GET http://a.com:99999/ HTTP/1.1\r\nHost: a.com\r\n\r\n", 400);
	expect_req_error("GET http://127.1/ HTTP/1.1\r\nHost: 127.1\r\n\r\n", 400);
	expect_req_error("GET http://a.com/#frag HTTP/1.1\r\nHost: a.com\r\n\r\n", 400);
	expect_req_error("GET a.com/ HTTP/1.1\r\nHost: a.com\r\n\r\n", 400);
}

static void test_connect(void **state)
{
	struct ward_http_parser p;
	size_t end;

	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST,
				    "CONNECT api.github.com:443 HTTP/1.1\r\n"
				    "Host: api.github.com:443\r\n\r\n\x16\x03\x01",
				    NULL, &end),
			 1);
	assert_int_equal(p.head.form, WARD_HTTP_AUTHORITY_FORM);
	assert_string_equal(p.head.host, "api.github.com");
	assert_int_equal(p.head.port, 443);
	assert_int_equal(p.head.framing, WARD_HTTP_BODY_TUNNEL);
	ward_http_parser_free(&p);

	assert_int_equal(
		parse_kind(&p, WARD_HTTP_REQUEST,
			   "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: [2001:db8::1]\r\n\r\n",
			   NULL, &end),
		1);
	assert_string_equal(p.head.host, "2001:db8::1");
	assert_int_equal(p.head.port, 8443);
	ward_http_parser_free(&p);

	expect_req_error("CONNECT a.com HTTP/1.1\r\nHost: a.com\r\n\r\n", 400);
	expect_req_error("CONNECT a.com:443 HTTP/1.1\r\nHost: b.com:443\r\n\r\n", 400);
	expect_req_error("CONNECT a.com:443 HTTP/1.1\r\nHost: a.com:80\r\n\r\n", 400);
	expect_req_error("CONNECT a.com:443 HTTP/1.1\r\nHost: a.com\r\nContent-Length: 3\r\n\r\n",
			 400);
	expect_req_error("CONNECT /x HTTP/1.1\r\nHost: a.com\r\n\r\n", 400);
	expect_req_error("CONNECT 0x7f000001:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	/* methods are case-sensitive: "connect" is not CONNECT */
	expect_req_error("connect a.com:443 HTTP/1.1\r\nHost: a.com\r\n\r\n", 400);
}

static void test_asterisk(void **state)
{
	struct ward_http_parser p;
	size_t end;

	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
				    NULL, &end),
			 1);
	assert_int_equal(p.head.form, WARD_HTTP_ASTERISK_FORM);
	ward_http_parser_free(&p);
	expect_req_error("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void test_request_line(void **state)
{
	expect_req_error("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
	expect_req_error("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505);
	expect_req_error("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505);
	expect_req_error("GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400);
	expect_req_error("GET / http/1.1\r\nHost: a\r\n\r\n", 400);
	expect_req_error("GET /\r\nHost: a\r\n\r\n", 400);
	expect_req_error("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_req_error("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400);
	expect_req_error(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_req_error("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_req_error("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_req_error("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_req_error("GET / HTTP/1.1\r\n\r\n", 400); /* no Host */
	expect_req_error("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void test_leading_empty_lines(void **state)
{
	struct ward_http_parser p;
	const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	size_t end;

	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST, s, NULL, &end), 1);
	assert_int_equal(end, strlen(s));
	assert_int_equal(p.head.head_len, strlen(s));
	ward_http_parser_free(&p);
}

static void test_versions_and_connection(void **state)
{
	struct ward_http_parser p;
	size_t end;

	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST, "GET / HTTP/1.0\r\n\r\n", NULL, &end),
			 1);
	assert_int_equal(p.head.version_minor, 0);
	assert_false(p.head.keep_alive);
	assert_false(p.head.has_host);
	ward_http_parser_free(&p);

	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST,
				    "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", NULL, &end),
			 1);
	assert_true(p.head.keep_alive);
	ward_http_parser_free(&p);

	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST,
				    "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n",
				    NULL, &end),
			 1);
	assert_false(p.head.keep_alive);
	ward_http_parser_free(&p);

	assert_int_equal(
		parse_kind(&p, WARD_HTTP_REQUEST,
			   "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\n"
			   "Connection: keep-alive, Upgrade\r\nExpect: 100-continue\r\n\r\n",
			   NULL, &end),
		1);
	assert_true(p.head.upgrade_websocket);
	assert_true(p.head.expect_continue);
	ward_http_parser_free(&p);

	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST,
				    "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
				    NULL, &end),
			 1);
	assert_false(p.head.upgrade_websocket);
	ward_http_parser_free(&p);

	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST,
				    "POST /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
				    "Connection: upgrade\r\n\r\n",
				    NULL, &end),
			 1);
	assert_false(p.head.upgrade_websocket);
	ward_http_parser_free(&p);

	assert_int_equal(
		parse_kind(
			&p, WARD_HTTP_REQUEST,
			"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n",
			NULL, &end),
		1);
	assert_false(p.head.upgrade_websocket);
	ward_http_parser_free(&p);
}

static void test_header_syntax(void **state)
{
	struct ward_http_parser p;
	size_t end;

	expect_req_error("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400); /* obs-fold */
	expect_req_error("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400);
	expect_req_error("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400); /* SP before ':' */
	expect_req_error("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400);
	expect_req_error("GET / HTTP/1.1\r\nHost: a\r\nX(y): 1\r\n\r\n", 400);
	expect_req_error("GET / HTTP/1.1\r\nHost: a\r\n: 1\r\n\r\n", 400);
	expect_req_error("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400);
	expect_req_error("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400);	/* bare CR */
	expect_req_error("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n", 400); /* CTL */
	expect_req_error("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400);
	expect_req_error("GET / HTTP/1.1\nHost: a\n\n", 400); /* LF only */
	expect_req_error("GET / HTTP/1.1\r\nHost: a\n\r\n", 400);
	expect_req_error("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", 400);
	expect_req_error("GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400);
	expect_req_error("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
	expect_req_error("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400);
	expect_req_error("GET / HTTP/1.1\r\nHost:\r\n\r\n", 400);

	/* obs-fold is named as such, not just a bad name */
	struct ward_http_parser f;
	assert_int_equal(parse_kind(&f, WARD_HTTP_REQUEST,
				    "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b: c\r\n\r\n", NULL,
				    &end),
			 -EBADMSG);
	assert_string_equal(f.reason, "obsolete line folding");
	ward_http_parser_free(&f);

	/* NUL anywhere */
	struct ward_http_parser q;
	assert_int_equal(ward_http_parser_init(&q, WARD_HTTP_REQUEST, NULL), 0);
	assert_int_equal(ward_http_feed(&q, "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 26, &end),
			 -EBADMSG);
	assert_int_equal(q.status, 400);
	ward_http_parser_free(&q);

	/* obs-text in a value is allowed; whitespace trimmed on both sides */
	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST,
				    "GET / HTTP/1.1\r\nHost: a\r\nX-N: \t caf\xc3\xa9 \t\r\n\r\n",
				    NULL, &end),
			 1);
	assert_span(ward_http_find_header(&p.head, "x-n")->value, "caf\xc3\xa9");
	ward_http_parser_free(&p);
}

static void test_content_length(void **state)
{
	struct ward_http_parser p;
	size_t end;

	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST,
				    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0012\r\n\r\n",
				    NULL, &end),
			 1);
	assert_int_equal(p.head.framing, WARD_HTTP_BODY_LENGTH);
	assert_int_equal(p.head.content_length, 12);
	ward_http_parser_free(&p);

	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST,
				    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", NULL,
				    &end),
			 1);
	assert_int_equal(p.head.framing, WARD_HTTP_BODY_NONE);
	ward_http_parser_free(&p);

	/* identical duplicates are one length */
	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST,
				    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n"
				    "content-length: 5\r\n\r\n",
				    NULL, &end),
			 1);
	assert_int_equal(p.head.content_length, 5);
	ward_http_parser_free(&p);

	expect_req_error(
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		400);
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", 400);
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400);
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400);
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400);
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", 400);
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5.0\r\n\r\n", 400);
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400);
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,\r\n\r\n", 400);
	expect_req_error(
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", 400);
}

static void test_transfer_encoding(void **state)
{
	struct ward_http_parser p;
	size_t end;

	assert_int_equal(
		parse_kind(&p, WARD_HTTP_REQUEST,
			   "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tChunked\r\n\r\n",
			   NULL, &end),
		1);
	assert_int_equal(p.head.framing, WARD_HTTP_BODY_CHUNKED);
	ward_http_parser_free(&p);

	/* the smuggling classics */
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n",
			 400);
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
			 "Content-Length: 0\r\n\r\n",
			 400);
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400);
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400);
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
			 400);
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
			 501);
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n",
			 501);
	expect_req_error(
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400);
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n",
			 400);
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400);
	expect_req_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
			 " , identity\r\n\r\n",
			 400);
	expect_req_error("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

static void test_limits(void **state)
{
	struct ward_http_parser p;
	size_t end, n = WARD_HTTP_MAX_REQUEST_LINE;
	char *s = malloc(WARD_HTTP_MAX_HEAD * 2);
	struct ward_http_limits lim = { .max_request_line = 64, .max_head = 128, .max_headers = 2 };

	assert_non_null(s);
	/* a request line of exactly the limit passes, one byte more is 414 */
	memset(s, 0, WARD_HTTP_MAX_HEAD * 2);
	strcpy(s, "GET /");
	memset(s + 5, 'a', n - 5 - 9);
	strcpy(s + n - 9, " HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST, s, NULL, &end), 1);
	ward_http_parser_free(&p);
	memmove(s + 6, s + 5, strlen(s + 5) + 1);
	s[5] = 'a';
	expect_req_error(s, 414);

	/* 414 comes before the line ends: a line without CRLF is cut off early */
	assert_int_equal(ward_http_parser_init(&p, WARD_HTTP_REQUEST, NULL), 0);
	memset(s, 'a', n + 1);
	assert_int_equal(ward_http_feed(&p, s, n, &end), 0);
	assert_int_equal(ward_http_feed(&p, s, 1, &end), -EBADMSG);
	assert_int_equal(p.status, 414);
	ward_http_parser_free(&p);

	/* 100 headers pass (Host is one), 101 do not */
	strcpy(s, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 1; i < 100; i++)
		sprintf(s + strlen(s), "X-%d: v\r\n", i);
	strcat(s, "\r\n");
	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST, s, NULL, &end), 1);
	assert_int_equal(p.head.n_headers, 100);
	ward_http_parser_free(&p);
	s[strlen(s) - 2] = '\0';
	strcat(s, "X-100: v\r\n\r\n");
	expect_req_error(s, 431);

	/* a head over 64 KiB is 431 */
	strcpy(s, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
	memset(s + strlen(s), 'b', WARD_HTTP_MAX_HEAD);
	strcpy(s + strlen(s), "\r\n\r\n");
	expect_req_error(s, 431);

	/* configurable */
	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST,
				    "GET / HTTP/1.1\r\nHost: a\r\nA: b\r\n\r\n", &lim, &end),
			 1);
	ward_http_parser_free(&p);
	assert_int_equal(parse_kind(&p, WARD_HTTP_REQUEST,
				    "GET / HTTP/1.1\r\nHost: a\r\nA: b\r\nC: d\r\n\r\n", &lim,
				    &end),
			 -EBADMSG);
	assert_int_equal(p.status, 431);
	ward_http_parser_free(&p);
	assert_int_equal(
		parse_kind(
			&p, WARD_HTTP_REQUEST,
			"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n"
			"Host: a\r\n\r\n",
			&lim, &end),
		-EBADMSG);
	assert_int_equal(p.status, 414);
	ward_http_parser_free(&p);
	lim.max_head = 8;
	assert_int_equal(ward_http_parser_init(&p, WARD_HTTP_REQUEST, &lim), -EINVAL);
	free(s);
}

struct sink {
	char buf[4096];
	size_t len;
};

static void sink_fn(void *ud, const char *data, size_t len)
{
	struct sink *k = ud;

	assert_true(k->len + len <= sizeof(k->buf));
	memcpy(k->buf + k->len, data, len);
	k->len += len;
}

/* Feed a chunked body under every split; returns the verdict, the decoded
 * payload in k, and where the body ended. */
static int chunked(const char *s, size_t len, uint64_t max_body, struct sink *k, size_t *ret_end,
		   int *ret_status)
{
	struct ward_http_head h = { .framing = WARD_HTTP_BODY_CHUNKED };
	int first = 0;

	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		struct ward_http_body b;
		size_t off = 0, used = 0, end = 0;
		int r = 0;

		memset(k, 0, sizeof(*k));
		assert_int_equal(ward_http_body_init(&b, &h, max_body), 0);
		while (off < len) {
			size_t n = steps[i] && len - off > steps[i] ? steps[i] : len - off;

			r = ward_http_body_feed(&b, s + off, n, &used, sink_fn, k);
			if (r != 0) {
				end = off + used;
				break;
			}
			assert_int_equal(used, n);
			off += n;
		}
		if (i == 0) {
			first = r;
			*ret_end = end;
			*ret_status = b.status;
		} else {
			assert_int_equal(r, first);
			if (r == 1)
				assert_int_equal(end, *ret_end);
		}
	}
	return first;
}

static void expect_chunked(const char *s, const char *payload, size_t tail)
{
	struct sink k;
	size_t end;
	int status;

	if (chunked(s, strlen(s), 0, &k, &end, &status) != 1)
		fail_msg("chunked '%s' not complete (status %d)", s, status);
	assert_int_equal(end, strlen(s) - tail);
	assert_int_equal(k.len, strlen(payload));
	assert_memory_equal(k.buf, payload, k.len);
}

static void expect_chunked_error(const char *s, int want_status)
{
	struct sink k;
	size_t end;
	int status;
	int r = chunked(s, strlen(s), 0, &k, &end, &status);

	if (r >= 0 || status != want_status)
		fail_msg("chunked '%s': %d status %d, expected %d", s, r, status, want_status);
}

static void test_chunked(void **state)
{
	struct sink k;
	size_t end;
	int status;

	expect_chunked("5\r\nhello\r\n0\r\n\r\n", "hello", 0);
	expect_chunked("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET / HTTP/1.1", "hello world", 14);
	expect_chunked("A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij",
		       0);
	expect_chunked("0005;name=value;x=\"q\"\r\nhello\r\n0;last\r\n\r\n", "hello", 0);
	expect_chunked("0\r\nChecksum: abc\r\nX-T: \xe9\r\n\r\n", "", 0);
	expect_chunked("0\r\n\r\n", "", 0);

	expect_chunked_error("5 \r\nhello\r\n0\r\n\r\n", 400);
	expect_chunked_error(" 5\r\nhello\r\n0\r\n\r\n", 400);
	expect_chunked_error("0x5\r\nhello\r\n0\r\n\r\n", 400);
	expect_chunked_error("-5\r\nhello\r\n0\r\n\r\n", 400);
	expect_chunked_error("\r\nhello\r\n0\r\n\r\n", 400);
	expect_chunked_error(";x\r\nhello\r\n0\r\n\r\n", 400);
	expect_chunked_error("5\nhello\r\n0\r\n\r\n", 400);
	expect_chunked_error("5\r\nhelloX\r\n0\r\n\r\n", 400);
	expect_chunked_error("5\r\nhelloX\n0\r\n\r\n", 400);
	expect_chunked_error("5\r\nhello\r\r0\r\n\r\n", 400);
	expect_chunked_error("5\r\nhello\rX0\r\n\r\n", 400);
	expect_chunked_error("5\r\nhello\n0\r\n\r\n", 400);
	expect_chunked_error("5;a\x01\r\nhello\r\n0\r\n\r\n", 400);
	expect_chunked_error("5;a\nhello\r\n0\r\n\r\n", 400);
	expect_chunked_error("10000000000000000\r\n", 400);
	expect_chunked_error("00000000000000000000000000000000001\r\nx\r\n0\r\n\r\n", 400);
	expect_chunked_error("0\r\nX: a\r\n b\r\n\r\n", 400);
	expect_chunked_error("0\r\nNoColon\r\n\r\n", 400);
	expect_chunked_error("0\r\n: v\r\n\r\n", 400);
	expect_chunked_error("0\r\nX y: v\r\n\r\n", 400);
	expect_chunked_error("0\r\nX: a\nb\r\n\r\n", 400);
	expect_chunked_error("0\r\nX: a\rb\r\n\r\n", 400);
	expect_chunked_error("0\r\n\r\r\n", 400);

	/* chunk extension limit */
	char ext[WARD_HTTP_MAX_CHUNK_EXT + 32];
	strcpy(ext, "1;");
	memset(ext + 2, 'e', WARD_HTTP_MAX_CHUNK_EXT + 1);
	strcpy(ext + 3 + WARD_HTTP_MAX_CHUNK_EXT, "\r\nx\r\n0\r\n\r\n");
	expect_chunked_error(ext, 400);

	/* body limit: chunks are checked before their data is read */
	assert_int_equal(chunked("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 30, 10, &k, &end,
				 &status),
			 -EFBIG);
	assert_int_equal(status, 413);
	assert_int_equal(k.len, 5);
	assert_int_equal(chunked("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 25, 10, &k, &end,
				 &status),
			 1);

	/* every truncation of a valid body asks for more */
	const char *full = "5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nT: v\r\n\r\n";
	for (size_t n = 0; n < strlen(full); n++) {
		assert_int_equal(chunked(full, n, 0, &k, &end, &status), 0);
	}
}

static void test_length_body(void **state)
{
	struct ward_http_head h = { .framing = WARD_HTTP_BODY_LENGTH, .content_length = 10 };
	struct ward_http_body b;
	struct sink k = { .len = 0 };
	size_t used;

	assert_int_equal(ward_http_body_init(&b, &h, 0), 0);
	assert_int_equal(ward_http_body_feed(&b, "01234", 5, &used, sink_fn, &k), 0);
	assert_int_equal(used, 5);
	assert_int_equal(ward_http_body_feed(&b, "56789GET /", 10, &used, sink_fn, &k), 1);
	assert_int_equal(used, 5);
	assert_int_equal(k.len, 10);
	assert_memory_equal(k.buf, "0123456789", 10);
	assert_int_equal(ward_http_body_feed(&b, "x", 1, &used, NULL, NULL), 1);
	assert_int_equal(used, 0);

	assert_int_equal(ward_http_body_init(&b, &h, 9), -EFBIG);
	assert_int_equal(b.status, 413);
	assert_int_equal(ward_http_body_init(&b, &h, 10), 0);

	h.framing = WARD_HTTP_BODY_NONE;
	assert_int_equal(ward_http_body_init(&b, &h, 0), 0);
	assert_int_equal(ward_http_body_feed(&b, "GET", 3, &used, NULL, NULL), 1);
	assert_int_equal(used, 0);
	h.framing = WARD_HTTP_BODY_CLOSE;
	assert_int_equal(ward_http_body_init(&b, &h, 4), 0);
	assert_int_equal(ward_http_body_feed(&b, "abc", 3, &used, NULL, NULL), 0);
	assert_int_equal(used, 3);
	assert_int_equal(ward_http_body_feed(&b, "de", 2, &used, NULL, NULL), -EFBIG);
}

/* Keep-alive: two pipelined requests with bodies, framed one after the other. */
static void test_pipeline(void **state)
{
	const char *s = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
			"POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
			"2\r\nde\r\n0\r\n\r\n"
			"GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	const char *paths[] = { "/a", "/b", "/c" };
	struct ward_http_parser p;
	size_t off = 0, len = strlen(s), used;

	assert_int_equal(ward_http_parser_init(&p, WARD_HTTP_REQUEST, NULL), 0);
	for (int i = 0; i < 3; i++) {
		struct ward_http_body b;

		ward_http_parser_reset(&p);
		assert_int_equal(ward_http_feed(&p, s + off, len - off, &used), 1);
		off += used;
		assert_span(p.head.path, paths[i]);
		assert_int_equal(ward_http_body_init(&b, &p.head, 0), 0);
		assert_int_equal(ward_http_body_feed(&b, s + off, len - off, &used, NULL, NULL), 1);
		off += used;
		assert_int_equal(p.head.keep_alive, i < 2);
	}
	assert_int_equal(off, len);
	ward_http_parser_free(&p);
}

static void test_truncation(void **state)
{
	const char *s = "POST http://a.com:8080/x?y HTTP/1.1\r\nHost: a.com:8080\r\n"
			"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n";
	struct ward_http_parser p;
	size_t used;

	for (size_t n = 0; n < strlen(s); n++) {
		assert_int_equal(ward_http_parser_init(&p, WARD_HTTP_REQUEST, NULL), 0);
		assert_int_equal(ward_http_feed(&p, s, n, &used), 0);
		assert_int_equal(used, n);
		ward_http_parser_free(&p);
	}
}

static void expect_response(const char *s, bool req_head, bool req_connect,
			    enum ward_http_framing framing, bool keep_alive)
{
	struct ward_http_parser p;
	size_t used;

	assert_int_equal(ward_http_parser_init(&p, WARD_HTTP_RESPONSE, NULL), 0);
	p.req_head = req_head;
	p.req_connect = req_connect;
	if (ward_http_feed(&p, s, strlen(s), &used) != 1)
		fail_msg("response '%s' refused: %s", s, p.reason ? p.reason : "-");
	if (p.head.framing != framing || p.head.keep_alive != keep_alive)
		fail_msg("response '%s': framing %d keep-alive %d", s, p.head.framing,
			 p.head.keep_alive);
	ward_http_parser_free(&p);
}

static void test_response(void **state)
{
	struct ward_http_parser p;
	size_t end;

	assert_int_equal(parse_kind(&p, WARD_HTTP_RESPONSE,
				    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", NULL,
				    &end),
			 1);
	assert_int_equal(p.head.status, 200);
	assert_span(p.head.reason, "OK");
	assert_int_equal(p.head.framing, WARD_HTTP_BODY_LENGTH);
	assert_int_equal(p.head.content_length, 5);
	assert_true(p.head.keep_alive);
	/* 1xx: reset keeps the request flags for the real response */
	ward_http_parser_free(&p);

	expect_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, false,
			WARD_HTTP_BODY_CHUNKED, true);
	expect_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, false,
			WARD_HTTP_BODY_CHUNKED, true);
	expect_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, false,
			WARD_HTTP_BODY_CLOSE, false);
	expect_response("HTTP/1.1 200 OK\r\n\r\n", false, false, WARD_HTTP_BODY_CLOSE, false);
	expect_response("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false, false,
			WARD_HTTP_BODY_LENGTH, false);
	expect_response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, false,
			WARD_HTTP_BODY_NONE, true);
	expect_response("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false, false,
			WARD_HTTP_BODY_NONE, true);
	expect_response("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", false,
			false, WARD_HTTP_BODY_NONE, true);
	expect_response("HTTP/1.1 200 Connection established\r\n\r\n", false, true,
			WARD_HTTP_BODY_TUNNEL, true);
	expect_response("HTTP/1.1 407 Proxy Auth\r\nContent-Length: 2\r\n\r\n", false, true,
			WARD_HTTP_BODY_LENGTH, true);
	expect_response("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false, false,
			WARD_HTTP_BODY_NONE, true);
	expect_response("HTTP/1.1 200 \r\nContent-Length: 0\r\nConnection: close\r\n\r\n", false,
			false, WARD_HTTP_BODY_NONE, false);

	assert_int_equal(parse_kind(&p, WARD_HTTP_RESPONSE, "HTTP/1.1 100 Continue\r\n\r\n", NULL,
				    &end),
			 1);
	assert_true(p.head.informational);
	assert_int_equal(p.head.framing, WARD_HTTP_BODY_NONE);
	p.req_head = true;
	ward_http_parser_reset(&p);
	assert_true(p.req_head);
	assert_int_equal(ward_http_feed(&p, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", 38,
					&end),
			 1);
	assert_false(p.head.informational);
	assert_int_equal(p.head.framing, WARD_HTTP_BODY_NONE);
	ward_http_parser_free(&p);

	assert_int_equal(parse_kind(&p, WARD_HTTP_RESPONSE,
				    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
				    "Connection: Upgrade\r\n\r\n",
				    NULL, &end),
			 1);
	assert_int_equal(p.head.framing, WARD_HTTP_BODY_TUNNEL);
	assert_true(p.head.upgrade_websocket);
	ward_http_parser_free(&p);

	expect_resp_error("HTTP/1.1 600 X\r\n\r\n");
	expect_resp_error("HTTP/1.1 099 X\r\n\r\n");
	expect_resp_error("HTTP/1.1 20x OK\r\n\r\n");
	expect_resp_error("HTTP/1.1 2000 OK\r\n\r\n");
	expect_resp_error("HTTP/2 200 OK\r\n\r\n");
	expect_resp_error("HTTP/2.0 200 OK\r\n\r\n");
	expect_resp_error("HTTP/1.1  200 OK\r\n\r\n");
	expect_resp_error("HTTP/1.1 200 O\x01K\r\n\r\n");
	expect_resp_error(
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
	expect_resp_error("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
	expect_resp_error("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	expect_resp_error("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n");
	expect_resp_error("HTTP/1.1 200 OK\nContent-Length: 0\n\n");
	expect_resp_error("\r\nHTTP/1.1 200 OK\r\n\r\n");
}

static void test_authority(void **state)
{
	char host[WARD_HOST_MAX];
	uint16_t port = 7;

	assert_int_equal(ward_http_parse_authority("A.com", 5, host, sizeof(host), &port), 0);
	assert_string_equal(host, "a.com");
	assert_int_equal(port, 0);
	assert_int_equal(ward_http_parse_authority("a.com:65535", 11, host, sizeof(host), &port),
			 0);
	assert_int_equal(port, 65535);
	assert_int_equal(ward_http_parse_authority("[::1]:1", 7, host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 1);
	assert_int_equal(ward_http_parse_authority("a.com:0", 7, host, sizeof(host), &port),
			 -EINVAL);
	assert_int_equal(ward_http_parse_authority("a.com:65536", 11, host, sizeof(host), &port),
			 -EINVAL);
	assert_int_equal(ward_http_parse_authority("a.com:123456", 12, host, sizeof(host), &port),
			 -EINVAL);
	assert_int_equal(ward_http_parse_authority("a.com:8a", 8, host, sizeof(host), &port),
			 -EINVAL);
	assert_int_equal(ward_http_parse_authority("::1", 3, host, sizeof(host), &port), -EINVAL);
	assert_int_equal(ward_http_parse_authority("[::1]x", 6, host, sizeof(host), &port),
			 -EINVAL);
	assert_int_equal(ward_http_parse_authority("[::1", 4, host, sizeof(host), &port), -EINVAL);
	assert_int_equal(ward_http_parse_authority(":80", 3, host, sizeof(host), &port), -EINVAL);
	assert_int_equal(ward_http_parse_authority("", 0, host, sizeof(host), &port), -EINVAL);
	assert_int_equal(ward_http_parse_authority("u@a.com", 7, host, sizeof(host), &port),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_origin_form),
		cmocka_unit_test(test_absolute_form),
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_asterisk),
		cmocka_unit_test(test_request_line),
		cmocka_unit_test(test_leading_empty_lines),
		cmocka_unit_test(test_versions_and_connection),
		cmocka_unit_test(test_header_syntax),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_transfer_encoding),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_length_body),
		cmocka_unit_test(test_pipeline),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_authority),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
