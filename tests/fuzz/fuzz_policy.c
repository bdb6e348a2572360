// SPDX-License-Identifier: MIT
/* libFuzzer target for the policy compiler (YAML loader, Lua passes, lowering,
 * JSON). Built with -fsanitize=fuzzer and WARD_LIBFUZZER it is a fuzzer;
 * otherwise main() replays every file of the directories (or files) given,
 * by default tests/fuzz/corpus/policy. Any crash, leak (ASan) or a valid
 * policy whose compiled JSON does not reproduce its revision is a failure. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ward_policy *p = NULL;
	struct ward_diags diags = { 0 };
	struct ward_error err = { 0 };
	int r;

	r = ward_policy_load_buffer("fuzz.yaml", (const char *)data, size, &p, &diags, &err);
	if (r == 0) {
		char rev[65];
		if (!p || !p->compiled_json)
			abort();
		ward_sha256_hex(p->compiled_json, strlen(p->compiled_json), rev);
		if (strcmp(rev, p->rev))
			abort();
	} else if (r == -EINVAL && ward_diags_errors(&diags) == 0) {
		abort(); /* invalid without saying why */
	} else if (p) {
		abort(); /* a policy handed out on failure */
	} else if (r == -EPROTO) {
		fprintf(stderr, "%s\n", err.msg);
		abort(); /* a bug in a compiler pass, not a bad policy */
	}
	for (size_t i = 0; i < diags.n; i++)
		if (!diags.v[i].msg || !diags.v[i].file)
			abort();
	ward_policy_free(p);
	ward_diags_free(&diags);
	return 0;
}

#include "replay.h"
