// SPDX-License-Identifier: MIT
/* The hash chain's canonical row serialisation. Every field is tagged and
 * length-prefixed so that no edit can move bytes from one field to another,
 * and NULL differs from "". docs/audit.md documents the same layout. */
#include "audit/audit.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { TAG_NULL = 0x00, TAG_INT = 0x01, TAG_TEXT = 0x02 };

struct sink {
	uint8_t *buf;
	size_t cap;
	size_t len;
};

static void put(struct sink *s, const void *p, size_t n)
{
	if (s->buf && s->len + n <= s->cap)
		memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void put_int(struct sink *s, bool present, int64_t v)
{
	uint8_t b[9];
	uint64_t u = (uint64_t)v;

	if (!present) {
		b[0] = TAG_NULL;
		put(s, b, 1);
		return;
	}
	b[0] = TAG_INT;
	for (int i = 0; i < 8; i++)
		b[1 + i] = (uint8_t)(u >> (56 - 8 * i));
	put(s, b, 9);
}

static void put_text(struct sink *s, const char *t)
{
	uint8_t b[5];
	size_t n;

	if (!t) {
		b[0] = TAG_NULL;
		put(s, b, 1);
		return;
	}
	n = strlen(t);
	b[0] = TAG_TEXT;
	b[1] = (uint8_t)(n >> 24);
	b[2] = (uint8_t)(n >> 16);
	b[3] = (uint8_t)(n >> 8);
	b[4] = (uint8_t)n;
	put(s, b, 5);
	put(s, t, n);
}

size_t ward_audit_row_canonical(const struct ward_audit_row *r, uint8_t *buf, size_t cap)
{
	struct sink s = { .buf = buf, .cap = cap };

	put_int(&s, true, r->id);
	put_int(&s, true, r->ts_ns);
	put_text(&s, r->sandbox);
	put_text(&s, r->layer);
	put_text(&s, r->action);
	put_text(&s, r->binary);
	put_text(&s, r->binary_sha256);
	put_int(&s, r->has_pid, r->pid);
	put_text(&s, r->host);
	put_text(&s, r->ip);
	put_int(&s, r->has_port, r->port);
	put_text(&s, r->protocol);
	put_text(&s, r->method);
	put_text(&s, r->path);
	put_text(&s, r->rule);
	put_text(&s, r->reason);
	put_text(&s, r->policy_rev);
	/* the optional tail: absent when every column of it is NULL, so that
	 * rows of logs older than these columns hash as they did */
	if (r->session || r->via || r->has_uid || r->cgroup) {
		put_text(&s, r->session);
		put_text(&s, r->via);
	}
	if (r->has_uid || r->cgroup) {
		put_int(&s, r->has_uid, r->uid);
		put_text(&s, r->cgroup);
	}
	return s.len;
}

int ward_audit_row_hash(const char prev_hash[65], const struct ward_audit_row *r, char out[65])
{
	uint8_t stack[1024];
	uint8_t *buf = stack;
	size_t need, n;

	if (strnlen(prev_hash, 65) != 64)
		return -EINVAL;
	memcpy(stack, prev_hash, 64);
	need = ward_audit_row_canonical(r, NULL, 0);
	if (64 + need > sizeof(stack)) {
		buf = malloc(64 + need);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, prev_hash, 64);
	}
	n = ward_audit_row_canonical(r, buf + 64, need);
	ward_sha256_hex(buf, 64 + n, out);
	if (buf != stack)
		free(buf);
	return 0;
}
