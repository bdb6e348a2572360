// SPDX-License-Identifier: MIT
/* DNS messages (RFC 1035) as the stub needs them: one strict question in,
 * one bounded answer out. Nothing here follows a compression pointer: a
 * question never needs one, so a pointer is malformed input and loops
 * cannot happen. */
#include "proxy/dns.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#define HDR 12
#define QR 0x8000
#define OPCODE(f) (((f) >> 11) & 0xf)
#define AA 0x0400
#define TC 0x0200
#define RD 0x0100
#define RA 0x0080
#define TYPE_OPT 41

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An EDNS OPT pseudo-record: root name, type 41. Its payload is skipped. */
static int skip_opt(const uint8_t *pkt, size_t len, size_t *off)
{
	size_t o = *off;
	uint16_t rdlen;

	if (o + 11 > len || pkt[o] != 0 || get16(pkt + o + 1) != TYPE_OPT)
		return -1;
	rdlen = get16(pkt + o + 9);
	if (o + 11 + rdlen > len)
		return -1;
	*off = o + 11 + rdlen;
	return 0;
}

int ward_dns_parse_query(const uint8_t *pkt, size_t len, struct ward_dns_query *q)
{
	uint16_t qd, an, ns, ar;
	size_t off = HDR, n = 0;

	memset(q, 0, sizeof(*q));
	if (!pkt || len < HDR)
		return -EINVAL;
	q->id = get16(pkt);
	q->flags = get16(pkt + 2);
	if (q->flags & QR) /* a response: answering it could start a loop */
		return -EINVAL;
	if (OPCODE(q->flags) != 0)
		return WARD_DNS_NOTIMP;
	qd = get16(pkt + 4);
	an = get16(pkt + 6);
	ns = get16(pkt + 8);
	ar = get16(pkt + 10);
	if (qd != 1 || an || ns || ar > 1)
		return WARD_DNS_FORMERR;

	for (;;) {
		uint8_t l;

		if (off >= len)
			return WARD_DNS_FORMERR;
		l = pkt[off];
		if (l == 0)
			break;
		/* 0xc0: a compression pointer; 0x40/0x80: reserved label types */
		if (l > 63)
			return WARD_DNS_FORMERR;
		if (off + 1 + l > len || (off - HDR) + 1 + l + 1 > WARD_DNS_NAME_MAX)
			return WARD_DNS_FORMERR;
		if (n)
			q->name[n++] = '.';
		for (size_t i = 0; i < l; i++) {
			uint8_t c = pkt[off + 1 + i];

			/* a NUL or dot inside a label would change what the name means */
			if (c == 0 || c == '.')
				return WARD_DNS_FORMERR;
			q->name[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		off += 1 + (size_t)l;
	}
	q->name[n] = '\0';
	off++;
	if (off + 4 > len)
		return WARD_DNS_FORMERR;
	q->qtype = get16(pkt + off);
	q->qclass = get16(pkt + off + 2);
	off += 4;
	q->qwire_len = off - HDR;
	memcpy(q->qwire, pkt + HDR, q->qwire_len);
	if (ar && skip_opt(pkt, len, &off) < 0)
		return WARD_DNS_FORMERR;
	if (off != len)
		return WARD_DNS_FORMERR;
	return WARD_DNS_NOERROR;
}

int ward_dns_build_response(const struct ward_dns_query *q, int rcode, const void *addrs,
			    size_t n_addrs, uint8_t *out, size_t cap)
{
	size_t alen = q->qtype == WARD_DNS_TYPE_AAAA ? 16 : 4;
	size_t off = HDR + q->qwire_len, rr = 12 + alen;
	uint16_t flags = QR | AA | RA | (q->flags & RD) | (uint16_t)(rcode & 0xf);
	size_t n = 0;

	if (off > cap)
		return -ENOBUFS;
	if (rcode == WARD_DNS_NOERROR && addrs &&
	    (q->qtype == WARD_DNS_TYPE_A || q->qtype == WARD_DNS_TYPE_AAAA))
		n = n_addrs < WARD_DNS_MAX_ANSWERS ? n_addrs : WARD_DNS_MAX_ANSWERS;
	if (off + n * rr > cap) {
		flags |= TC;
		n = 0;
	}
	memset(out, 0, HDR);
	put16(out, q->id);
	put16(out + 2, flags);
	put16(out + 4, q->qwire_len ? 1 : 0);
	put16(out + 6, (uint16_t)n);
	memcpy(out + HDR, q->qwire, q->qwire_len);
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = out + off;

		put16(p, 0xc000 | HDR); /* the name: the question's */
		put16(p + 2, q->qtype);
		put16(p + 4, WARD_DNS_CLASS_IN);
		put16(p + 6, 0);
		put16(p + 8, WARD_DNS_TTL);
		put16(p + 10, (uint16_t)alen);
		memcpy(p + 12, (const uint8_t *)addrs + i * alen, alen);
		off += rr;
	}
	return (int)off;
}
