#!/bin/bash
# SPDX-License-Identifier: MIT
# make check runs every libFuzzer target briefly: a clang build with
# -fsanitize=fuzzer,address,undefined in build-fuzz, then each target for
# FUZZ_SECONDS (default 10) on a copy of its seed corpus (new inputs are not
# written back into the repository). Any crash, leak or sanitizer report fails.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${FUZZ_SECONDS:-10}
B=${FUZZ_BUILD:-build-fuzz}

if ! command -v clang >/dev/null; then
	echo "fuzz-smoke: clang not installed; skipped" >&2
	exit 0
fi
targets=()
for f in tests/fuzz/fuzz_*.c; do
	targets+=("$(basename "$f" .c)")
done
mkdir -p "$B"
if ! { cmake -S . -B "$B" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DWARD_FUZZ=ON \
	-DWARD_SANITIZE=ON -DWARD_WERROR=OFF &&
	cmake --build "$B" -j"$(nproc)" --target "${targets[@]}"; } >"$B/fuzz-build.log" 2>&1; then
	tail -n 40 "$B/fuzz-build.log" >&2
	echo "fuzz-smoke: the clang fuzz build failed ($B/fuzz-build.log)" >&2
	exit 1
fi

work=$(mktemp -d /tmp/ward-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=0
for t in "${targets[@]}"; do
	corpus=tests/fuzz/corpus/${t#fuzz_}
	mkdir -p "$work/$t"
	[ -d "$corpus" ] && cp -r "$corpus/." "$work/$t/"
	# the shipped rule packs seed the rule-pack runner (kept in one place)
	[ "$t" = fuzz_rules ] && cp policies/rules/*.lua "$work/$t/"
	if "$B/$t" -max_total_time="$SECS" -print_final_stats=1 -artifact_prefix="$work/$t-" \
		"$work/$t" >"$work/$t.log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
		echo "fuzz-smoke: $t: ${runs:-?} inputs in ${SECS}s, no finding"
	else
		echo "fuzz-smoke: $t FAILED; its log:" >&2
		tail -n 40 "$work/$t.log" >&2
		for a in "$work/$t"-*; do [ -e "$a" ] && cp "$a" "$B/" && echo "  input kept: $B/$(basename "$a")" >&2; done
		failed=1
	fi
done
exit "$failed"
