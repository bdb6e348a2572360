/* SPDX-License-Identifier: MIT */
/* Temporary directories for the unit tests: made under /tmp, removed
 * recursively without a shell. */
#pragma once

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* /tmp/ward-test-NAME-XXXXXX into buf; NULL on failure. */
static inline char *ward_test_mkdtemp(char *buf, size_t size, const char *name)
{
	if ((size_t)snprintf(buf, size, "/tmp/ward-test-%s-XXXXXX", name) >= size)
		return NULL;
	return mkdtemp(buf);
}

static inline int ward_test_rm_one(const char *path, const struct stat *st, int type,
				   struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* rm -rf dir; 0 or -1. */
static inline int ward_test_rmtree(const char *dir)
{
	return nftw(dir, ward_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A cmocka fixture: a fresh directory and the path of a log.db inside it. */
struct ward_test_db {
	char dir[64];
	char db[128];
};

static inline int ward_test_db_setup(void **state, const char *name)
{
	struct ward_test_db *f = calloc(1, sizeof(*f));

	if (!f || !ward_test_mkdtemp(f->dir, sizeof(f->dir), name)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/log.db", f->dir);
	*state = f;
	return 0;
}

static inline int ward_test_db_teardown(void **state)
{
	struct ward_test_db *f = *state;

	if (ward_test_rmtree(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}
