#!/usr/bin/env bash
# The whole test suite: setup, typecheck, lint, unit/integration tests (vitest),
# browser tests (Playwright in Debian's chromium against the production build).
# Every stage runs; the last line counts tests passed and failed over all of them.
set -uo pipefail
cd "$(dirname "$0")/.."
export NEXT_TELEMETRY_DISABLED=1

bash scripts/setup.sh || { echo "setup failed"; echo "total: 0 passed, 1 failed"; exit 1; }
mkdir -p test-results
status=0
stage_fail=0

echo "== typecheck"
npx tsc --noEmit -p tsconfig.json || { status=1; stage_fail=$((stage_fail + 1)); }
# The shared contracts again with the ES library only: a DOM or Node import there fails.
npx tsc --noEmit -p contracts/tsconfig.json || { status=1; stage_fail=$((stage_fail + 1)); }
echo "== lint"
npx eslint . || { status=1; stage_fail=$((stage_fail + 1)); }
echo "== unit and integration tests (vitest)"
npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json "$@" || status=1
echo "== browser tests (playwright)"
npx playwright test || status=1

node scripts/test-summary.mjs "$stage_fail"
exit $status
