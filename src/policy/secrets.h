/* SPDX-License-Identifier: MIT */
/* The secret store: one file per secret in a root-only directory (default
 * <state>/secrets, state = $WARD_STATE else /var/lib/ward). The file holds
 * the value, its mtime is the set time. Writers replace a file atomically
 * (tmp + fsync + rename); every process holding a store (the daemon, each
 * `ward run`) learns of a rotation through inotify on the directory, so the
 * next ward_secret_get returns the new value without a restart.
 *
 * Values are never part of an error message, and every copy the store keeps
 * is wiped (explicit_bzero) when it is dropped. policy/ is below proxy and
 * runtime, so both can use it. docs/policy.md "Secrets" has the model. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define WARD_SECRET_NAME_MAX 128u
#define WARD_SECRET_VALUE_MAX (64u * 1024u)
#define WARD_SECRETS_SUBDIR "secrets"
#define WARD_STATE_DEFAULT "/var/lib/ward"

struct ward_secrets;

struct ward_secret_info {
	char name[WARD_SECRET_NAME_MAX + 1];
	int64_t set_ns; /* the file's mtime */
};

/* [A-Za-z0-9_.-]{1,128}, and neither "." nor "..". */
bool ward_secret_name_valid(const char *name);

/* "$WARD_STATE/secrets", else "/var/lib/ward/secrets", into buf. 0 or
 * -ENAMETOOLONG. */
int ward_secrets_default_dir(char *buf, size_t size);

/* Open (creating it and missing parents, mode 0700) the store at dir, or the
 * default directory when dir is NULL (one handle per process for the default
 * directory: a second open takes a reference to it). The directory must be owned by the
 * effective uid and have no group or other permission bits (else -EPERM: a
 * store others can write could feed values into requests). */
int ward_secrets_open(const char *dir, struct ward_secrets **ret, struct ward_error *err);
/* `ward secret set|list|rm` without a daemon: the default store, as root
 * only (-EPERM "the secret store is root's: run as root or through ward
 * daemon" otherwise, before anything is created). */
int ward_secrets_open_local(struct ward_secrets **ret, struct ward_error *err);
struct ward_secrets *ward_secrets_ref(struct ward_secrets *s);
/* Drops a reference; the last one wipes the cached values. NULL is fine. */
void ward_secrets_unref(struct ward_secrets *s);
const char *ward_secrets_dir(const struct ward_secrets *s);

/* Store value (len bytes, up to WARD_SECRET_VALUE_MAX, no NUL) under name:
 * a 0600 file written to a temporary name, fsync'd and renamed over the old
 * one, then the directory fsync'd. -EINVAL (bad name, NUL), -E2BIG. */
int ward_secret_set(struct ward_secrets *s, const char *name, const void *value, size_t len,
		    struct ward_error *err);
/* -ENOENT when name is not set. */
int ward_secret_rm(struct ward_secrets *s, const char *name, struct ward_error *err);
/* Every secret's name and set time (never a value), sorted by name;
 * *ret_list is malloc'd (free()), NULL when the store is empty. */
int ward_secret_list(struct ward_secrets *s, struct ward_secret_info **ret_list, size_t *ret_n,
		     struct ward_error *err);

/* The current value of name into buf (len bytes; NUL-terminated when it
 * fits with room to spare). Returns the value's length, -ENOENT when not
 * set, -ENOBUFS when buf is too small, -EINVAL for a bad name or content,
 * -EPERM when the file is not the owner's alone, -EIO. Meant for the
 * request path: a cached value costs one non-blocking read of the inotify
 * descriptor (a rotation drops the cached copy). Thread-safe. */
int ward_secret_get(struct ward_secrets *s, const char *name, char *buf, size_t len);
/* Whether name is set now (ward_secret_get without the copy). */
bool ward_secret_exists(struct ward_secrets *s, const char *name);
