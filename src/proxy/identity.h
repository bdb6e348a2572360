/* SPDX-License-Identifier: MIT */
/* Binary integrity for the proxy: the sha256 of an executable, computed once
 * per (path, dev, inode, mtime, size) and cached, and trust on first use
 * against the decision log's `binaries` table (audit/tofu.h). Thread-safe:
 * the proxy's loop asks the cache (ward_identity_cached) and leaves hashing
 * to its identity worker (ward_identity_check), so a 100 MB binary never
 * stalls other connections. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ward_identity;

/* db_path: the decision log (NULL: no TOFU records, hashes only). */
int ward_identity_new(const char *db_path, struct ward_identity **ret);
void ward_identity_free(struct ward_identity *id);

/* Hash path (which must still be the file (kdev, ino) the kernel identified;
 * kdev as ward_egress_kdev()) into sha, and check it against the first hash
 * recorded for path. path names the file as the sandbox sees it; when ward
 * does not see that file there (a private /tmp, a path only mounted inside)
 * and pid > 0, the file is reached through /proc/PID/exe instead. 0: fine. -EPERM: the binary
 * changed since first use, reason says "binary changed since first use (TOFU): was X, now Y". Other
 * -errno: the file could not be hashed (reason says why). */
int ward_identity_check(struct ward_identity *id, const char *path, pid_t pid, uint64_t kdev,
			uint64_t ino, char sha[65], char *reason, size_t reasonsz);

/* The cached verdict for (path, dev, inode, mtime, size) without hashing:
 * like ward_identity_check, or -EAGAIN when the file must be hashed first. */
int ward_identity_cached(struct ward_identity *id, const char *path, pid_t pid, uint64_t kdev,
			 uint64_t ino, char sha[65], char *reason, size_t reasonsz);
