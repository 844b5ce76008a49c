#!/bin/bash
# Tears down a NUMA test host started by start.sh: kills its QEMU (the test host keeps nothing) and
# removes the state dir. Usage: stop.sh NUMA_DIR
set -uo pipefail
dir=${1:?usage: stop.sh NUMA_DIR}
[ -d "$dir" ] || exit 0
if [ -f "$dir/qemu.pid" ]; then
    pid=$(cat "$dir/qemu.pid")
    # Only a QEMU of this instance (its command line names the state dir).
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir/"; then
        kill "$pid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
    fi
fi
rm -rf "$dir"
