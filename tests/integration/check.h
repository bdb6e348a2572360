/* SPDX-License-Identifier: MIT */
/* CHECK() for the C integration tests: a failed check is reported with its
 * place and the values that matter, and counted; the test goes on. */
#pragma once

#include <stdio.h>

static int failures;
static int passes;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		} else {                                                                           \
			passes++;                                                                  \
		}                                                                                  \
	} while (0)
