/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Lower-case hex sha256 of buf into out (65 bytes with NUL). */
void ward_sha256_hex(const void *buf, size_t len, char out[65]);
/* sha256 of a file's contents; -errno on failure. */
int ward_sha256_file_hex(int dirfd, const char *path, char out[65]);

/* Write s as a JSON string literal (with quotes); NULL becomes null. */
void ward_json_str(FILE *f, const char *s);

/* Monotonic and wall-clock nanoseconds. */
uint64_t ward_now_ns(void);
uint64_t ward_mono_ns(void);

/* Read a whole file (at most max bytes) into a NUL-terminated buffer. */
int ward_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len);
