// SPDX-License-Identifier: MIT
/* A validating JSON scanner for the few members inference needs
 * (inference_json.h). Recursion is bounded by WARD_JSON_MAX_DEPTH. */
#include <errno.h>
#include <string.h>

#include "proxy/inference_json.h"

struct scan {
	const char *p;
	size_t len, i;
	bool over; /* a decoded string did not fit: scanning went on without it */
};

static void ws(struct scan *s)
{
	while (s->i < s->len && (s->p[s->i] == ' ' || s->p[s->i] == '\t' || s->p[s->i] == '\n' ||
				 s->p[s->i] == '\r'))
		s->i++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int put_utf8(char *out, size_t outsz, size_t *o, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | cp >> 18);
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (out && *o + n < outsz)
		memcpy(out + *o, b, n);
	*o += n;
	return 0;
}

static int hex4(struct scan *s, uint32_t *ret)
{
	uint32_t v = 0;

	if (s->i + 4 > s->len)
		return -EBADMSG;
	for (int k = 0; k < 4; k++) {
		int h = hexval(s->p[s->i + k]);

		if (h < 0)
			return -EBADMSG;
		v = v << 4 | (uint32_t)h;
	}
	s->i += 4;
	*ret = v;
	return 0;
}

/* At a '"': scan the string, decoding into out when out is not NULL. */
static int string(struct scan *s, char *out, size_t outsz)
{
	size_t o = 0;
	int r;

	if (s->i >= s->len || s->p[s->i] != '"')
		return -EBADMSG;
	s->i++;
	while (s->i < s->len) {
		unsigned char c = (unsigned char)s->p[s->i++];
		uint32_t cp;

		if (c == '"') {
			if (out) {
				if (o >= outsz) {
					s->over = true;
					o = outsz - 1;
				}
				out[o] = '\0';
			}
			return 0;
		}
		if (c < 0x20)
			return -EBADMSG;
		if (c != '\\') {
			if (out && o + 1 < outsz)
				out[o] = (char)c;
			o++;
			continue;
		}
		if (s->i >= s->len)
			return -EBADMSG;
		c = (unsigned char)s->p[s->i++];
		switch (c) {
		case '"':
			cp = '"';
			break;
		case '\\':
			cp = '\\';
			break;
		case '/':
			cp = '/';
			break;
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case 'u':
			if ((r = hex4(s, &cp)) < 0)
				return r;
			if (cp >= 0xd800 && cp < 0xdc00) {
				uint32_t lo;

				if (s->i + 2 > s->len || s->p[s->i] != '\\' ||
				    s->p[s->i + 1] != 'u')
					return -EBADMSG;
				s->i += 2;
				if ((r = hex4(s, &lo)) < 0)
					return r;
				if (lo < 0xdc00 || lo > 0xdfff)
					return -EBADMSG;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				return -EBADMSG;
			}
			break;
		default:
			return -EBADMSG;
		}
		if ((r = put_utf8(out, outsz, &o, cp)) < 0)
			return r;
	}
	return -EBADMSG;
}

static int number(struct scan *s)
{
	size_t start = s->i;

	if (s->i < s->len && s->p[s->i] == '-')
		s->i++;
	if (s->i >= s->len)
		return -EBADMSG;
	if (s->p[s->i] == '0') {
		s->i++;
	} else if (s->p[s->i] >= '1' && s->p[s->i] <= '9') {
		while (s->i < s->len && s->p[s->i] >= '0' && s->p[s->i] <= '9')
			s->i++;
	} else {
		return -EBADMSG;
	}
	if (s->i < s->len && s->p[s->i] == '.') {
		s->i++;
		if (s->i >= s->len || s->p[s->i] < '0' || s->p[s->i] > '9')
			return -EBADMSG;
		while (s->i < s->len && s->p[s->i] >= '0' && s->p[s->i] <= '9')
			s->i++;
	}
	if (s->i < s->len && (s->p[s->i] == 'e' || s->p[s->i] == 'E')) {
		s->i++;
		if (s->i < s->len && (s->p[s->i] == '+' || s->p[s->i] == '-'))
			s->i++;
		if (s->i >= s->len || s->p[s->i] < '0' || s->p[s->i] > '9')
			return -EBADMSG;
		while (s->i < s->len && s->p[s->i] >= '0' && s->p[s->i] <= '9')
			s->i++;
	}
	return s->i > start ? 0 : -EBADMSG;
}

static int literal(struct scan *s, const char *lit)
{
	size_t n = strlen(lit);

	if (s->len - s->i < n || memcmp(s->p + s->i, lit, n))
		return -EBADMSG;
	s->i += n;
	return 0;
}

static int value(struct scan *s, int depth);

static int container(struct scan *s, int depth, char close)
{
	bool first = true;
	int r;

	if (depth >= WARD_JSON_MAX_DEPTH)
		return -EBADMSG;
	s->i++;
	for (;;) {
		ws(s);
		if (s->i >= s->len)
			return -EBADMSG;
		if (s->p[s->i] == close && first) {
			s->i++;
			return 0;
		}
		if (close == '}') {
			if ((r = string(s, NULL, 0)) < 0)
				return r;
			ws(s);
			if (s->i >= s->len || s->p[s->i] != ':')
				return -EBADMSG;
			s->i++;
		}
		if ((r = value(s, depth + 1)) < 0)
			return r;
		ws(s);
		if (s->i >= s->len)
			return -EBADMSG;
		if (s->p[s->i] == ',') {
			s->i++;
			first = false;
			continue;
		}
		if (s->p[s->i] == close) {
			s->i++;
			return 0;
		}
		return -EBADMSG;
	}
}

static int value(struct scan *s, int depth)
{
	ws(s);
	if (s->i >= s->len)
		return -EBADMSG;
	switch (s->p[s->i]) {
	case '{':
		return container(s, depth, '}');
	case '[':
		return container(s, depth, ']');
	case '"':
		return string(s, NULL, 0);
	case 't':
		return literal(s, "true");
	case 'f':
		return literal(s, "false");
	case 'n':
		return literal(s, "null");
	default:
		return number(s);
	}
}

int ward_json_validate(const char *doc, size_t len)
{
	struct scan s = { doc, len, 0, false };
	int r = value(&s, 0);

	if (r < 0)
		return r;
	ws(&s);
	return s.i == len ? 0 : -EBADMSG;
}

int ward_json_member(const char *doc, size_t len, const char *key, struct ward_json_span *ret)
{
	struct scan s = { doc, len, 0, false };
	bool found = false, first = true;
	int r;

	ws(&s);
	if (s.i >= len || doc[s.i] != '{')
		return -EBADMSG;
	s.i++;
	for (;;) {
		char name[128];
		size_t start;

		ws(&s);
		if (s.i >= len)
			return -EBADMSG;
		if (doc[s.i] == '}' && first) {
			s.i++;
			break;
		}
		s.over = false;
		r = string(&s, name, sizeof(name));
		if (r < 0)
			return r;
		if (s.over)
			name[0] = '\0'; /* longer than any key ward looks for */
		ws(&s);
		if (s.i >= len || doc[s.i] != ':')
			return -EBADMSG;
		s.i++;
		ws(&s);
		start = s.i;
		if ((r = value(&s, 1)) < 0)
			return r;
		if (!strcmp(name, key)) {
			if (found)
				return -EEXIST;
			found = true;
			if (ret)
				*ret = (struct ward_json_span){ start, s.i - start };
		}
		ws(&s);
		if (s.i >= len)
			return -EBADMSG;
		if (doc[s.i] == ',') {
			s.i++;
			first = false;
			continue;
		}
		if (doc[s.i] == '}') {
			s.i++;
			break;
		}
		return -EBADMSG;
	}
	ws(&s);
	if (s.i != len)
		return -EBADMSG;
	return found ? 1 : 0;
}

int ward_json_string(const char *val, size_t len, char *out, size_t outsz)
{
	struct scan s = { val, len, 0, false };
	int r;

	if (!outsz)
		return -ENAMETOOLONG;
	r = string(&s, out, outsz);
	if (r < 0)
		return r;
	if (s.i != len)
		return -EBADMSG;
	return s.over ? -ENAMETOOLONG : 0;
}

int ward_json_uint(const char *val, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (!len)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		if (val[i] < '0' || val[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return -EBADMSG;
		v = v * 10 + (uint64_t)(val[i] - '0');
	}
	*ret = v;
	return 0;
}

bool ward_json_is_true(const char *val, size_t len)
{
	return len == 4 && !memcmp(val, "true", 4);
}

static uint64_t member_uint(const char *doc, size_t len, const char *key, bool *found)
{
	struct ward_json_span sp;
	uint64_t v = 0;

	if (ward_json_member(doc, len, key, &sp) == 1 &&
	    ward_json_uint(doc + sp.off, sp.len, &v) == 0) {
		if (found)
			*found = true;
		return v;
	}
	return 0;
}

/* "details": { "cached_tokens": N } */
static uint64_t details_cached(const char *doc, size_t len, const char *details)
{
	struct ward_json_span sp;

	if (ward_json_member(doc, len, details, &sp) != 1 || doc[sp.off] != '{')
		return 0;
	return member_uint(doc + sp.off, sp.len, "cached_tokens", NULL);
}

static int usage_object(const char *doc, size_t len, struct ward_usage *ret)
{
	bool any = false, o = false;
	struct ward_usage u = { 0 };
	uint64_t read = member_uint(doc, len, "cache_read_input_tokens", &any);

	/* each provider uses one set of these names: the sums never double count */
	u.input = member_uint(doc, len, "prompt_tokens", &any) +
		  member_uint(doc, len, "input_tokens", &any) +
		  member_uint(doc, len, "cache_creation_input_tokens", &any) + read;
	u.cached = read + details_cached(doc, len, "prompt_tokens_details") +
		   details_cached(doc, len, "input_tokens_details");
	if (u.cached > u.input)
		u.cached = u.input; /* a confused upstream never makes a call cheaper than free */
	u.output = member_uint(doc, len, "completion_tokens", &o) +
		   member_uint(doc, len, "output_tokens", &o);
	u.has_output = o;
	if (!any && !o)
		return 0;
	*ret = u;
	return 1;
}

int ward_json_usage(const char *doc, size_t len, struct ward_usage *ret)
{
	static const char *const outer[] = { "message", "response", NULL };
	struct ward_json_span sp;

	if (ward_json_member(doc, len, "usage", &sp) == 1 && doc[sp.off] == '{')
		return usage_object(doc + sp.off, sp.len, ret);
	for (size_t i = 0; outer[i]; i++) {
		struct ward_json_span u;

		if (ward_json_member(doc, len, outer[i], &sp) != 1 || doc[sp.off] != '{')
			continue;
		if (ward_json_member(doc + sp.off, sp.len, "usage", &u) == 1 &&
		    doc[sp.off + u.off] == '{')
			return usage_object(doc + sp.off + u.off, u.len, ret);
	}
	return 0;
}
