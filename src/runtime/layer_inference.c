// SPDX-License-Identifier: MIT
/* ward run's inference hook (layer_inference.h): the key variables get a
 * harmless value in the command's environment. */
#include <errno.h>

#include "enforcer/sandbox.h"
#include "runtime/layer_inference.h"

int ward_inference_hook(struct ward_sandbox *sb, void *data, struct ward_error *err)
{
	struct ward_inference *inf = data;

	if (inf && ward_inference_set_sandbox(inf, sb->id) < 0)
		return ward_err(err, -ENOMEM, "inference");
	for (size_t i = 0; i < ward_inference_n_key_envs(inf); i++) {
		int r = ward_sandbox_setenv(sb, ward_inference_key_env(inf, i),
					    WARD_INFERENCE_ENV_HIDDEN, err);

		if (r < 0)
			return r;
	}
	return 0;
}
