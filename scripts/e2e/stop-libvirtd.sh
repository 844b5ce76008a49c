#!/bin/bash
# Tears down a private instance made by start-libvirtd.sh: destroys its guests, stops libvirtd and
# virtlogd, kills any QEMU it left, removes mount points it created and the state dir. Idempotent.
# Usage: stop-libvirtd.sh STATE_DIR [--keep-logs]
set -uo pipefail
dir=${1:?usage: stop-libvirtd.sh STATE_DIR}
[ -d "$dir" ] || exit 0
uri="qemu+unix:///system?socket=$dir/sock/libvirt-sock"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop_pid() { # pidfile: TERM, wait up to 10 s, then KILL
    local pf=$1 pid
    alive "$pf" || return 0
    pid=$(cat "$pf")
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null
}

if alive "$dir/libvirtd.pid"; then
    for dom in $(timeout 20 virsh -q -c "$uri" list --all --name 2>/dev/null); do
        timeout 20 virsh -q -c "$uri" destroy "$dom" >/dev/null 2>&1
        timeout 20 virsh -q -c "$uri" undefine "$dom" >/dev/null 2>&1
    done
fi
stop_pid "$dir/libvirtd.pid"
# QEMU processes libvirtd started (their pid files live in the private /run/libvirt/qemu), and the
# cgroups libvirt made for them if it could not remove them itself (rmdir removes only empty cgroups).
for pf in "$dir"/run/qemu/*.pid; do
    [ -f "$pf" ] || continue
    stop_pid "$pf"
    name=$(basename "$pf" .pid)
    for cg in /sys/fs/cgroup/*/machine/qemu-*-"$name".libvirt-qemu; do
        [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
    done
done
stop_pid "$dir/virtlogd.pid"
# Remove the mount points this instance created, unless another instance runs: removing a directory that
# is a mount point in another mount namespace would detach that instance's bind mount.
others=0
for other in /tmp/largeguest-e2e.*; do
    [ "$other" != "$dir" ] && alive "$other/libvirtd.pid" && others=1
done
if [ -f "$dir/created-mountpoints" ] && [ $others -eq 0 ]; then
    # (virsh, as a client, may have created /run/libvirt/common outside the namespace)
    while read -r mp; do rmdir "$mp/common" "$mp" 2>/dev/null; done <"$dir/created-mountpoints"
fi
if [ "${2:-}" = --keep-logs ]; then
    echo "stop-libvirtd: logs kept in $dir/log" >&2
else
    rm -rf "$dir"
fi
exit 0
