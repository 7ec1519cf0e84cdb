#!/usr/bin/env bash
# `npm run typecheck`: the router's tsconfig and the tests' (which adds test/, bench/, democli/),
# both at once (two cores) and incremental: tsc keeps what it learned in node_modules/.cache/tsc
# and next time re-checks only the files whose content (or whose dependencies) changed.
# A fresh clone has no cache and checks everything.
set -uo pipefail
cd "$(dirname "$0")/.."
cache=node_modules/.cache/tsc
mkdir -p "$cache"
npx tsc --noEmit --incremental --tsBuildInfoFile "$cache/router.tsbuildinfo" -p . &
router=$!
npx tsc --noEmit --incremental --tsBuildInfoFile "$cache/test.tsbuildinfo" -p test/tsconfig.json &
tests=$!
status=0
wait "$router" || status=1
wait "$tests" || status=1
exit "$status"
