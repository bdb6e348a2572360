// SPDX-License-Identifier: MIT
/* ClientHello parsing (RFC 8446 4.1.2, RFC 6066 3, RFC 7301). Every length is
 * checked against what remains of its enclosing vector before it is used, so
 * a lying length ends in MALFORMED, never in a read past the buffer. */
#include <string.h>

#include "proxy/sni.h"

#define TLS_RECORD_HANDSHAKE 0x16
#define TLS_HANDSHAKE_CLIENT_HELLO 0x01
#define TLS_MAX_RECORD (16u << 10)
#define EXT_SERVER_NAME 0
#define EXT_ALPN 16
#define EXT_SUPPORTED_VERSIONS 43

struct cur {
	const uint8_t *p;
	size_t n;
};

static bool get_u8(struct cur *c, uint8_t *v)
{
	if (c->n < 1)
		return false;
	*v = c->p[0];
	c->p++;
	c->n--;
	return true;
}

static bool get_u16(struct cur *c, uint16_t *v)
{
	if (c->n < 2)
		return false;
	*v = (uint16_t)(c->p[0] << 8 | c->p[1]);
	c->p += 2;
	c->n -= 2;
	return true;
}

static bool get_bytes(struct cur *c, size_t n, struct cur *ret)
{
	if (c->n < n)
		return false;
	ret->p = c->p;
	ret->n = n;
	c->p += n;
	c->n -= n;
	return true;
}

/* A vector with a 1- or 2-byte length prefix. */
static bool get_vec8(struct cur *c, struct cur *ret)
{
	uint8_t n;

	return get_u8(c, &n) && get_bytes(c, n, ret);
}

static bool get_vec16(struct cur *c, struct cur *ret)
{
	uint16_t n;

	return get_u16(c, &n) && get_bytes(c, n, ret);
}

static enum ward_sni_result bad(struct ward_sni_info *info, enum ward_sni_result r,
				const char *reason)
{
	info->reason = reason;
	return r;
}

static enum ward_sni_result parse_server_name(struct cur ext, struct ward_sni_info *info)
{
	struct cur list, name;
	uint8_t type;

	if (!get_vec16(&ext, &list) || ext.n || list.n == 0)
		return bad(info, WARD_SNI_MALFORMED, "malformed server_name extension");
	while (list.n) {
		if (!get_u8(&list, &type) || !get_vec16(&list, &name) || name.n == 0)
			return bad(info, WARD_SNI_MALFORMED, "malformed server_name entry");
		if (type != 0)
			continue; /* other name types: not ours to judge */
		/* RFC 6066: at most one name of each type */
		if (info->has_server_name)
			return bad(info, WARD_SNI_MALFORMED, "two host_name entries");
		if (ward_host_normalize((const char *)name.p, name.n, info->server_name,
					sizeof(info->server_name)) < 0)
			return bad(info, WARD_SNI_MALFORMED, "invalid host_name");
		info->has_server_name = true;
	}
	return WARD_SNI_FOUND;
}

static enum ward_sni_result parse_alpn(struct cur ext, struct ward_sni_info *info)
{
	struct cur list, proto;

	if (!get_vec16(&ext, &list) || ext.n || list.n == 0)
		return bad(info, WARD_SNI_MALFORMED, "malformed ALPN extension");
	while (list.n) {
		if (!get_vec8(&list, &proto) || proto.n == 0)
			return bad(info, WARD_SNI_MALFORMED, "malformed ALPN protocol");
		if (info->n_alpn >= WARD_SNI_MAX_ALPN || proto.n >= WARD_SNI_ALPN_LEN ||
		    memchr(proto.p, 0, proto.n)) {
			info->alpn_truncated = true;
			continue;
		}
		memcpy(info->alpn[info->n_alpn], proto.p, proto.n);
		info->alpn[info->n_alpn][proto.n] = '\0';
		info->n_alpn++;
	}
	return WARD_SNI_FOUND;
}

static enum ward_sni_result parse_hello(struct cur c, struct ward_sni_info *info)
{
	uint64_t seen[65536 / 64];
	struct cur skip, exts, ext;
	uint16_t type;
	enum ward_sni_result r;

	if (!get_u16(&c, &info->legacy_version) || (info->legacy_version >> 8) != 3)
		return bad(info, WARD_SNI_MALFORMED, "bad client_version");
	if (!get_bytes(&c, 32, &skip))
		return bad(info, WARD_SNI_MALFORMED, "truncated random");
	if (!get_vec8(&c, &skip) || skip.n > 32)
		return bad(info, WARD_SNI_MALFORMED, "bad session id");
	if (!get_vec16(&c, &skip) || skip.n < 2 || skip.n % 2)
		return bad(info, WARD_SNI_MALFORMED, "bad cipher suites");
	if (!get_vec8(&c, &skip) || skip.n < 1)
		return bad(info, WARD_SNI_MALFORMED, "bad compression methods");
	if (c.n == 0)
		return WARD_SNI_FOUND; /* no extensions at all (pre-TLS 1.2 clients) */
	if (!get_vec16(&c, &exts) || c.n)
		return bad(info, WARD_SNI_MALFORMED, "bad extensions length");

	memset(seen, 0, sizeof(seen));
	while (exts.n) {
		if (!get_u16(&exts, &type) || !get_vec16(&exts, &ext))
			return bad(info, WARD_SNI_MALFORMED, "truncated extension");
		/* RFC 8446 4.2: a type appears at most once; two SNIs could be read two ways */
		if (seen[type / 64] & (1ull << (type % 64)))
			return bad(info, WARD_SNI_MALFORMED, "duplicate extension");
		seen[type / 64] |= 1ull << (type % 64);
		switch (type) {
		case EXT_SERVER_NAME:
			r = parse_server_name(ext, info);
			break;
		case EXT_ALPN:
			r = parse_alpn(ext, info);
			break;
		case EXT_SUPPORTED_VERSIONS:
			info->supported_versions = true;
			r = WARD_SNI_FOUND;
			break;
		default:
			r = WARD_SNI_FOUND;
			break;
		}
		if (r != WARD_SNI_FOUND)
			return r;
	}
	return WARD_SNI_FOUND;
}

/* The checks that can be made on a record header, even a partial one. */
static bool record_header_ok(const uint8_t *h, size_t n)
{
	return (n < 1 || h[0] == TLS_RECORD_HANDSHAKE) && (n < 2 || h[1] == 3) &&
	       (n < 3 || h[2] <= 4);
}

enum ward_sni_result ward_sni_parse(const uint8_t *buf, size_t len, struct ward_sni_info *info)
{
	uint8_t hs[4 + WARD_SNI_MAX_HELLO];
	size_t off = 0, have = 0, need = 0;

	memset(info, 0, sizeof(*info));
	if (!buf || len == 0)
		return WARD_SNI_NEED_MORE;
	for (;;) {
		size_t rlen, avail, take;

		if (!record_header_ok(buf + off, len - off < 5 ? len - off : 5))
			return off == 0 ? bad(info, WARD_SNI_NOT_TLS, "not a TLS handshake record")
					: bad(info, WARD_SNI_MALFORMED, "ClientHello interrupted");
		if (len - off < 5)
			return WARD_SNI_NEED_MORE;
		rlen = (size_t)buf[off + 3] << 8 | buf[off + 4];
		if (rlen == 0 || rlen > TLS_MAX_RECORD)
			return bad(info, WARD_SNI_MALFORMED, "bad record length");
		avail = len - off - 5 < rlen ? len - off - 5 : rlen;
		take = avail < sizeof(hs) - have ? avail : sizeof(hs) - have;
		memcpy(hs + have, buf + off + 5, take);
		have += take;

		if (need == 0 && have >= 4) {
			size_t body = (size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3];

			if (hs[0] != TLS_HANDSHAKE_CLIENT_HELLO)
				return bad(info, WARD_SNI_MALFORMED,
					   "first handshake is not ClientHello");
			if (body > WARD_SNI_MAX_HELLO)
				return bad(info, WARD_SNI_MALFORMED, "ClientHello too large");
			need = 4 + body;
		}
		/* The client's first flight is the ClientHello alone. */
		if (need && (have > need || (have == need && take < rlen)))
			return bad(info, WARD_SNI_MALFORMED, "data after ClientHello");
		if (avail < rlen)
			return WARD_SNI_NEED_MORE;
		off += 5 + rlen;
		if (need && have == need)
			break;
	}
	info->hello_len = off;
	return parse_hello((struct cur){ .p = hs + 4, .n = need - 4 }, info);
}

bool ward_sni_has_alpn(const struct ward_sni_info *info, const char *proto)
{
	for (size_t i = 0; i < info->n_alpn; i++)
		if (strcmp(info->alpn[i], proto) == 0)
			return true;
	return false;
}
