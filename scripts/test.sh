#!/usr/bin/env bash
# The project's test command (README: `npm test`): build, typecheck, run every
# ava test (fast suite and end-to-end suite), end with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
node scripts/build.mjs || exit 1
npx tsc --noEmit -p . || exit 1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
npx ava "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
node scripts/ava-summary.mjs "$rc" < "$log" | tail -1
exit "$rc"
