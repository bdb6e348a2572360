/* SPDX-License-Identifier: MIT */
/* The replay main() every fuzz target shares: without -fsanitize=fuzzer
 * (WARD_LIBFUZZER unset) the target replays each file of the directories or
 * files given on the command line through LLVMFuzzerTestOneInput, so the
 * seed corpus runs as an ordinary test. Include it once, at the end of a
 * target. */
#pragma once

#ifndef WARD_LIBFUZZER
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	unsigned count = 0;
	int bad = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		bad |= replay(argv[i], &count);
	printf("%u inputs replayed\n", count);
	return bad || count == 0;
}
#endif
