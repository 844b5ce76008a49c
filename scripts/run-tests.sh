#!/bin/bash
# Runs the xunit suite against the published binary and ends with the plain closing line
# 'N passed, N failed, N skipped'. Fails when any test failed or none ran.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build
log=.build/test.log
LARGEGUEST_BIN="$(pwd)/out/largeguest" dotnet test tests/Largeguest.Tests/Largeguest.Tests.csproj \
    -c "${CONFIG:-Release}" \
    --nologo --logger "console;verbosity=normal" "$@" >"$log" 2>&1
rc=$?
# Keep the log readable: failures, skips and the suite's printed figures, not every passing test.
grep -vE '^\s+Passed [A-Za-z]' "$log" | grep -vE '^\s*$' | grep -vE '^\s*FIGURE:' || true
# The reliability suite's measured figures (tests print them as lines starting with FIGURE:), once each.
figures=$(grep -E '^\s*FIGURE:' "$log" | sed -E 's/^\s+//' | sort -u || true)
if [ -n "$figures" ]; then echo "--- figures ---"; echo "$figures"; fi
scripts/test-summary.sh "$log" || rc=1
exit $rc
