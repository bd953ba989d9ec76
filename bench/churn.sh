#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Namespace churn for five minutes (or CHURN_S seconds) on each backend: the
# end-to-end test tests/e2e-churn.sh, run long. 10 namespaces made and 10
# deleted a second beside namespaces = all, armed sockets whose namespace's
# name goes while their server lives on. Prints the daemon's descriptors and
# RSS before and after, and the test's verdicts. Root; after make check's build.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
export KAREAPER=${KAREAPER:-$SRC/src/kareaper} TESTS_BIN=${TESTS_BIN:-$SRC/tests} TESTS_SRC=$SRC/tests
export KAREAPER_CHURN_S=${CHURN_S:-300}
for backend in ${BACKENDS:-netlink bpf}; do
	echo "== $backend, $KAREAPER_CHURN_S s"
	KAREAPER_BACKEND=$backend bash "$SRC/tests/e2e-churn.sh" | grep -E '^(not ok|# [0-9]+ namespaces)|^1\.\.' || :
done
