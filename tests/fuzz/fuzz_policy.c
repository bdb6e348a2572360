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

#ifndef WARD_LIBFUZZER
static int replay_file(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	int r = ward_read_file(path, 4u << 20, &buf, &len);

	if (r < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		return 1;
	}
	LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
	free(buf);
	return 0;
}

static int replay(const char *path, unsigned *count)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int bad = 0;

	if (!d) {
		if (errno != ENOTDIR) {
			fprintf(stderr, "%s: %s\n", path, strerror(errno));
			return 1;
		}
		(*count)++;
		return replay_file(path);
	}
	while ((de = readdir(d))) {
		char sub[4096];
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		(*count)++;
		bad |= replay_file(sub);
	}
	closedir(d);
	return bad;
}

int main(int argc, char **argv)
{
	const char *def = "tests/fuzz/corpus/policy";
	unsigned count = 0;
	int bad = 0;

	if (argc < 2)
		bad = replay(def, &count);
	for (int i = 1; i < argc; i++)
		bad |= replay(argv[i], &count);
	printf("replayed %u inputs\n", count);
	return bad || count == 0;
}
#endif
