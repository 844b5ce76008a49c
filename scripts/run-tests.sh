#!/bin/bash
# Runs the xunit suite against the published binary and ends with the plain closing line
# 'N passed, N failed, N skipped'. Fails when any test failed or none ran.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build
log=.build/test.log
LARGEGUEST_BIN="$(pwd)/out/largeguest" dotnet test tests/Largeguest.Tests/Largeguest.Tests.csproj -c "${CONFIG:-Release}" \
    --nologo --logger "console;verbosity=normal" "$@" >"$log" 2>&1
rc=$?
# Keep the log readable: failures, skips and the suite's printed figures, not every passing test.
grep -vE '^\s+Passed [A-Za-z]' "$log" | grep -vE '^\s*$' || true
scripts/test-summary.sh "$log" || rc=1
exit $rc
