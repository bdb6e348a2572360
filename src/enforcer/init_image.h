/* SPDX-License-Identifier: MIT */
/* ward-init (src/enforcer/init/ward_init.c), built static and embedded in
 * ward: the program the sandbox's pid 1 becomes once the command is forked,
 * so that nothing of ward's arguments, environment or memory is inside. */
#pragma once

#include "common/error.h"

/* A sealed memfd holding ward-init, opened read-only and O_CLOEXEC, ready
 * for execveat(fd, "", ..., AT_EMPTY_PATH) (/proc/1/exe inside names the
 * memfd, not a host path). */
int ward_init_image_open(int *ret_fd, struct ward_error *err);
