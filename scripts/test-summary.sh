#!/bin/bash
# Prints the plain closing line 'N passed, N failed, N skipped' from a `dotnet test` log and
# fails when the run failed or executed no test at all.
set -euo pipefail
log=$1
line=$(grep -E '^(Passed|Failed)!? +- +Failed: ' "$log" | tail -1 || true)
if [ -z "$line" ]; then echo "test-summary: no test summary in $log: the test run did not complete" >&2; exit 1; fi
failed=$(sed -E 's/.*Failed: +([0-9]+).*/\1/' <<<"$line")
passed=$(sed -E 's/.*Passed: +([0-9]+).*/\1/' <<<"$line")
skipped=$(sed -E 's/.*Skipped: +([0-9]+).*/\1/' <<<"$line")
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
