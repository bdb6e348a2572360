/* SPDX-License-Identifier: MIT */
/* inference.local in `ward run` (docs/inference.md). The handle is created
 * before the sandbox (a missing key is exit 125 before anything runs) and
 * handed to the proxy (ward_proxy_config.inference); this hook overrides
 * every key variable in the command's environment, so the sandbox never
 * sees a key even though it inherits ward's environment.
 *
 *   struct ward_inference *inf;
 *   ward_inference_new(&cfg, &inf, &err);            before the sandbox
 *   hooks[] = { ..., { "inference", ward_inference_hook, inf }, { "proxy", ... } };
 *   ward_inference_free(inf);                        after ward_proxy_run_finish */
#pragma once

#include "common/error.h"
#include "proxy/inference.h"

struct ward_sandbox;

/* The value key variables get inside the sandbox. */
#define WARD_INFERENCE_ENV_HIDDEN "ward-hidden:use-https://inference.local"

/* data: struct ward_inference * (NULL: nothing to do). */
int ward_inference_hook(struct ward_sandbox *sb, void *data, struct ward_error *err);
