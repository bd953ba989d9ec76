#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Run every fuzzer for FUZZ_SECONDS, from its checked-in seeds plus what earlier runs
# found (kept under the build tree); exit non-zero on the first crash, whose input
# libFuzzer leaves as crash-* in the build tree's fuzz/. `make fuzz`.
set -eu
: "${FUZZ_SECONDS:=60}" "${FUZZ_BIN:?}" "${FUZZ_SRC:?}"
for t in config diag journal report; do
	work="$FUZZ_BIN/corpus-$t"
	mkdir -p "$work"
	echo "fuzz-$t: $FUZZ_SECONDS s"
	(cd "$FUZZ_BIN" && "./fuzz-$t" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
		-timeout=10 -rss_limit_mb=1024 "$work" "$FUZZ_SRC/corpus/$t" 2>"fuzz-$t.log") || {
		tail -n 40 "$FUZZ_BIN/fuzz-$t.log"
		echo "fuzz-$t: FAILED (see $FUZZ_BIN/fuzz-$t.log)"
		exit 1
	}
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$FUZZ_BIN/fuzz-$t.log")
	echo "fuzz-$t: $runs executions, no crash"
done
