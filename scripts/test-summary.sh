#!/bin/bash
# Prints the plain closing line 'N passed, N failed, N skipped' from a `dotnet test` log and
# fails when the run failed or executed no test at all. Understands both of dotnet test's
# summary formats ("Passed!  - Failed: 0, Passed: 9, ..." and the "Total tests:" block).
set -euo pipefail
log=$1
count() { # $1 = label; sums over test assemblies
    { grep -oE "^ +$1: +[0-9]+" "$log" || true; } | awk '{s += $NF} END {print s + 0}'
}
if grep -qE '^(Passed|Failed)! +- +Failed: ' "$log"; then
    line=$(grep -E '^(Passed|Failed)! +- +Failed: ' "$log")
    failed=$(sed -nE 's/.*Failed: +([0-9]+).*/\1/p' <<<"$line" | awk '{s+=$1} END {print s+0}')
    passed=$(sed -nE 's/.*Passed: +([0-9]+).*/\1/p' <<<"$line" | awk '{s+=$1} END {print s+0}')
    skipped=$(sed -nE 's/.*Skipped: +([0-9]+).*/\1/p' <<<"$line" | awk '{s+=$1} END {print s+0}')
elif grep -qE '^Total tests: +[0-9]+' "$log"; then
    passed=$(count Passed); failed=$(count Failed); skipped=$(count Skipped)
else
    echo "test-summary: no test summary in $log: the test run did not complete" >&2
    exit 1
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
