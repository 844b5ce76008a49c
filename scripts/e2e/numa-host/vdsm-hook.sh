#!/bin/bash
# Runs the published hook inside the NUMA test host the way VDSM does (as tests/Largeguest.Tests/Support/
# VdsmHookRunner.cs does on the outer machine, docs/testing.md): the domain XML in a 0600 temp file named
# in _hook_domxml, the custom properties and vmId in a clean environment, the binary installed as
# HOOK_POINT/50_largeguest. Prints the resulting XML on stdout, the hook's stderr on stderr, and exits
# with the hook's exit code.
# Usage: vdsm-hook.sh HOOK_POINT XML_FILE VM_ID [NAME=VALUE...]   (properties and LARGEGUEST* settings)
set -uo pipefail
point=$1 xml=$2 vm=$3; shift 3
repo=$(cd "$(dirname "$0")/../../.." && pwd)
hooks=$(mktemp -d /tmp/vdsm-hooks.XXXXXX)
mkdir -p "$hooks/$point"
ln -s "$repo/out/largeguest" "$hooks/$point/50_largeguest"
file=$(mktemp "$hooks/domxml.XXXXXX")
cat "$xml" >"$file"
echo '{}' >"$hooks/empty.json"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 _hook_domxml="$file" vmId="$vm" \
    LARGEGUEST_CONFIG="$hooks/empty.json" "$@" "$hooks/$point/50_largeguest"
rc=$?
cat "$file"
rm -rf "$hooks"
exit $rc
