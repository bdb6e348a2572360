// SPDX-License-Identifier: MIT
/* Which sections of a policy changed (runtime.h): the compiled forms
 * (`ward policy compile --json`, canonical) compared member by member, with
 * the positions in the file ("line", "col") left out, so an edit that only
 * moves lines changes nothing. A section a later schema adds is compared
 * too, under its own name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "enforcer/egress.h"
#include "runtime/runtime.h"

struct span {
	const char *p;
	size_t n;
};

static size_t skip_string(const char *s, size_t i)
{
	for (i++; s[i] && s[i] != '"'; i++)
		if (s[i] == '\\' && s[i + 1])
			i++;
	return s[i] ? i + 1 : i;
}

/* The end of the value starting at s[i]: past a string, object or array;
 * at the ',', '}' or ']' after a scalar. */
static size_t skip_value(const char *s, size_t i)
{
	int depth = 0;

	while (s[i]) {
		switch (s[i]) {
		case '"':
			i = skip_string(s, i);
			if (!depth)
				return i;
			continue;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (!depth)
				return i;
			if (!--depth)
				return i + 1;
			break;
		case ',':
			if (!depth)
				return i;
			break;
		default:
			break;
		}
		i++;
	}
	return i;
}

/* The member key of the object obj, or an empty span. */
static struct span member(struct span obj, const char *key)
{
	const char *s = obj.p;
	size_t i = 1, klen = strlen(key);

	if (!s || obj.n < 2 || s[0] != '{')
		return (struct span){ 0 };
	while (i < obj.n && s[i] == '"') {
		size_t k = skip_string(s, i), v = k + 1, end = skip_value(s, v);

		if (k - i - 2 == klen && !memcmp(s + i + 1, key, klen))
			return (struct span){ s + v, end - v };
		i = end + 1; /* past ',' */
	}
	return (struct span){ 0 };
}

/* The member keys of obj, in order: calls fn(key, len) for each. */
static void keys(struct span obj, void (*fn)(const char *k, size_t n, void *d), void *d)
{
	const char *s = obj.p;
	size_t i = 1;

	if (!s || obj.n < 2 || s[0] != '{')
		return;
	while (i < obj.n && s[i] == '"') {
		size_t k = skip_string(s, i);

		fn(s + i + 1, k - i - 2, d);
		i = skip_value(s, k + 1) + 1;
	}
}

/* Equal but for "line":N,"col":N members (a '"' outside a string is never
 * escaped, one inside always is). */
static size_t skip_pos(const char *s, size_t i, size_t n)
{
	static const char line[] = "\"line\":", col[] = ",\"col\":";
	size_t j;

	if (i >= n || s[i] != '"' || (i && s[i - 1] == '\\') || n - i < sizeof(line) - 1 ||
	    memcmp(s + i, line, sizeof(line) - 1))
		return i;
	j = i + sizeof(line) - 1;
	while (j < n && s[j] >= '0' && s[j] <= '9')
		j++;
	if (n - j < sizeof(col) - 1 || memcmp(s + j, col, sizeof(col) - 1))
		return i;
	j += sizeof(col) - 1;
	while (j < n && s[j] >= '0' && s[j] <= '9')
		j++;
	return j;
}

static bool same(struct span a, struct span b)
{
	size_t i = 0, j = 0;

	for (;;) {
		i = skip_pos(a.p, i, a.n);
		j = skip_pos(b.p, j, b.n);
		if (i >= a.n || j >= b.n)
			return i >= a.n && j >= b.n;
		if (a.p[i++] != b.p[j++])
			return false;
	}
}

struct collect {
	char (*names)[48];
	size_t cap, n;
	struct span a, b; /* the two documents */
};

static void add(struct collect *c, const char *name)
{
	for (size_t i = 0; i < c->n && i < c->cap; i++)
		if (!strcmp(c->names[i], name))
			return;
	if (c->n < c->cap)
		snprintf(c->names[c->n], sizeof(c->names[c->n]), "%s", name);
	c->n++;
}

static void filesystem(struct collect *c)
{
	static const char *const mounts[] = { "include_workdir", "read_only", "read_write" };
	struct span fa = member(c->a, "filesystem"), fb = member(c->b, "filesystem");

	for (size_t i = 0; i < ARRAY_SIZE(mounts); i++)
		if (!same(member(fa, mounts[i]), member(fb, mounts[i])))
			add(c, "filesystem_policy");
	if (!same(member(fa, "binaries"), member(fb, "binaries")))
		add(c, "filesystem_policy.binaries");
}

/* the cgroup limits change live; the private /tmp's size is a mount option */
static void resources(struct collect *c)
{
	static const char *const live[] = { "memory", "pids", "cpu_milli" };
	struct span ra = member(c->a, "resources"), rb = member(c->b, "resources");

	for (size_t i = 0; i < ARRAY_SIZE(live); i++)
		if (!same(member(ra, live[i]), member(rb, live[i])))
			add(c, "resources");
	if (!same(member(ra, "tmp_size"), member(rb, "tmp_size")))
		add(c, "resources.tmp_size");
}

static void top_key(const char *k, size_t n, void *d)
{
	struct collect *c = d;
	char key[48];

	if (n >= sizeof(key))
		n = sizeof(key) - 1;
	memcpy(key, k, n);
	key[n] = '\0';
	/* provenance, not content: what a preset brings is in the sections */
	if (!strcmp(key, "version") || !strcmp(key, "extends"))
		return;
	if (!strcmp(key, "filesystem")) {
		filesystem(c);
		return;
	}
	if (!strcmp(key, "resources")) {
		resources(c);
		return;
	}
	if (!same(member(c->a, key), member(c->b, key)))
		add(c, key);
}

static bool ports_differ(const struct ward_policy *a, const struct ward_policy *b)
{
	_cleanup_free_ uint16_t *pa = NULL, *pb = NULL;
	size_t na = 0, nb = 0;

	if (ward_egress_connect_ports(a, NULL, 0, &pa, &na) < 0 ||
	    ward_egress_connect_ports(b, NULL, 0, &pb, &nb) < 0)
		return true;
	return na != nb || (na && memcmp(pa, pb, na * sizeof(*pa)));
}

size_t ward_policy_changed_sections(const struct ward_policy *a, const struct ward_policy *b,
				    char names[][48], size_t cap)
{
	struct collect c = { .names = names, .cap = cap };

	if (!a->compiled_json || !b->compiled_json) {
		add(&c, "policy");
		return c.n;
	}
	c.a = (struct span){ a->compiled_json, strlen(a->compiled_json) };
	c.b = (struct span){ b->compiled_json, strlen(b->compiled_json) };
	keys(c.a, top_key, &c);
	keys(c.b, top_key, &c); /* what only b has */
	if ((a->landlock_restrict_tcp || b->landlock_restrict_tcp) && ports_differ(a, b))
		add(&c, "landlock");
	return c.n;
}
