// SPDX-License-Identifier: MIT
/* Fuzz the HTTP/1.1 head parser and body framing. Besides "no crash", it
 * checks that splitting the input differently never changes the verdict, the
 * head or where the body ends: a parser that answers differently for a
 * different TCP segmentation is a smuggling bug.
 * Input: byte 0 = mode (bit 0 response, 1 HEAD, 2 CONNECT, 3 small limits,
 * 4 body limit), byte 1 = split size seed, then the bytes of the connection. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/match.h"
#include "proxy/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "fuzz_http: check failed: %s (line %d)\n", #c, __LINE__);  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct run {
	int r[4];
	int status[4];
	size_t head_end[4];
	size_t body_end[4];
	uint64_t body_sum[4]; /* checksum of the payload delivered */
	int body_r[4];
	int n;
};

static void checksum_fn(void *ud, const char *data, size_t len)
{
	uint64_t *sum = ud;

	for (size_t i = 0; i < len; i++)
		*sum = *sum * 31 + (unsigned char)data[i];
}

static void check_head(const struct ward_http_parser *p)
{
	const struct ward_http_head *h = &p->head;
	const char *lo = p->buf, *hi = p->buf + p->len;
	char norm[8192];

	for (size_t i = 0; i < h->n_headers; i++) {
		CHECK(h->headers[i].name.p >= lo &&
		      h->headers[i].name.p + h->headers[i].name.len <= hi);
		CHECK(h->headers[i].value.p >= lo &&
		      h->headers[i].value.p + h->headers[i].value.len <= hi);
		CHECK(h->headers[i].name.len > 0);
	}
	CHECK(h->framing <= WARD_HTTP_BODY_TUNNEL);
	if (p->kind == WARD_HTTP_REQUEST) {
		CHECK(h->method.len > 0 && h->target.len > 0);
		CHECK(h->version_minor == 0 || h->version_minor == 1);
		CHECK(h->framing != WARD_HTTP_BODY_CLOSE);
		if (h->has_host) {
			char again[WARD_HOST_MAX];
			int n = ward_host_normalize(h->host, strlen(h->host), again, sizeof(again));

			CHECK(n >= 0 && strcmp(again, h->host) == 0);
		}
		if (h->path.p && h->path.len < sizeof(norm)) {
			char raw[8192];

			memcpy(raw, h->path.p, h->path.len);
			raw[h->path.len] = '\0';
			if (ward_path_normalize(raw, norm, sizeof(norm)) >= 0)
				CHECK(ward_match_path(norm, norm));
		}
	} else {
		CHECK(h->status >= 100 && h->status <= 599);
	}
}

/* Parse up to four pipelined messages, feeding step bytes at a time (0: all). */
static void run(const uint8_t *data, size_t size, uint8_t mode, size_t step, struct run *out)
{
	struct ward_http_limits small = { .max_request_line = 64,
					  .max_head = 256,
					  .max_headers = 4 };
	struct ward_http_parser p;
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	if (ward_http_parser_init(&p, mode & 1 ? WARD_HTTP_RESPONSE : WARD_HTTP_REQUEST,
				  mode & 8 ? &small : NULL) < 0)
		abort();
	p.req_head = mode & 2;
	p.req_connect = mode & 4;

	for (int m = 0; m < 4 && off < size; m++) {
		struct ward_http_body b;
		size_t used = 0;
		int r = 0;

		ward_http_parser_reset(&p);
		while (off < size) {
			size_t n = step && size - off > step ? step : size - off;

			r = ward_http_feed(&p, (const char *)data + off, n, &used);
			off += used;
			if (r != 0)
				break;
			CHECK(used == n);
		}
		out->n = m + 1;
		out->r[m] = r;
		out->status[m] = p.status;
		out->head_end[m] = off;
		if (r < 0) {
			CHECK(p.status >= 400 && p.status <= 505 && p.reason);
			break;
		}
		if (r == 0)
			break;
		check_head(&p);
		if (ward_http_body_init(&b, &p.head, mode & 16 ? 1000 : 0) < 0) {
			out->body_r[m] = -1;
			break;
		}
		r = 0;
		while (off < size) {
			size_t n = step && size - off > step ? step : size - off;

			r = ward_http_body_feed(&b, (const char *)data + off, n, &used, checksum_fn,
						&out->body_sum[m]);
			CHECK(used <= n);
			off += used;
			if (r != 0)
				break;
			CHECK(used == n);
		}
		if (r == 0 && off == size)
			r = ward_http_body_feed(&b, "", 0, &used, NULL, NULL);
		out->body_r[m] = r;
		out->body_end[m] = off;
		if (r != 1 || p.head.framing == WARD_HTTP_BODY_TUNNEL)
			break;
	}
	ward_http_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, split;
	uint8_t mode;
	size_t step;

	if (size < 2)
		return 0;
	mode = data[0];
	step = 1 + data[1] % 23;
	run(data + 2, size - 2, mode, 0, &whole);
	run(data + 2, size - 2, mode, step, &split);

	CHECK(whole.n == split.n);
	for (int m = 0; m < whole.n; m++) {
		CHECK(whole.r[m] == split.r[m]);
		CHECK(whole.status[m] == split.status[m]);
		if (whole.r[m] == 1) {
			CHECK(whole.head_end[m] == split.head_end[m]);
			CHECK(whole.body_r[m] == split.body_r[m]);
			CHECK(whole.body_sum[m] == split.body_sum[m]);
			if (whole.body_r[m] == 1)
				CHECK(whole.body_end[m] == split.body_end[m]);
		}
	}
	return 0;
}

#include "replay.h"
