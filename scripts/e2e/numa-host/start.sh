#!/bin/bash
# Boots the NUMA test host (docs/e2e.md, "The NUMA test host"): a QEMU VM with one vCPU and one memory
# backend per guest NUMA node, Debian's real kernel (linux-image-amd64), an initramfs built here and
# cached by content, and the outer machine's root read-only over 9p under a tmpfs overlay (so libvirtd,
# QEMU and the published out/largeguest are inside). Prints on stdout:
#   NUMA_DIR=<state dir>        (pass it to stop.sh)
#   AGENT_SOCKET=<unix socket>  (virtio-serial agent: scripts/e2e/numa-host/agent.sh)
#   ACCEL=kvm|tcg  ACCEL_REASON=<text>  BOOT_SECONDS=<QEMU start to agent ready, chosen accelerator>
# Usage: start.sh MIB[,MIB...]   memory of node 0, 1, ... in MiB (0 = a memory-less node with a CPU)
#   env LARGEGUEST_E2E_ACCEL=auto|kvm|tcg (auto: KVM for a bounded first try, then TCG)
#   env LARGEGUEST_E2E_OWNER=<pid> (default: the caller); instances of owners that are gone are torn down
#   env LARGEGUEST_E2E_CACHE=<dir> (default /var/cache/largeguest-e2e): built initramfs images
# On any failure it keeps the logs in .build/e2e-logs/numa-host-<time>/, tears down what it started, prints
# why (with the console's last lines) and exits non-zero.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
die() { echo "numa-host start: error: $*" >&2; exit 1; }

layout=${1:-}
[[ $layout =~ ^[0-9]+(,[0-9]+)*$ ]] || die "usage: start.sh MIB[,MIB...] (memory per node in MiB, 0 = memory-less)"
want=${LARGEGUEST_E2E_ACCEL:-auto}
case $want in auto|kvm|tcg) ;; *) die "LARGEGUEST_E2E_ACCEL: bad value '$want' (expected: auto, kvm or tcg)" ;; esac
[[ $repo =~ ^[^[:space:]]+$ ]] ||
    die "the repository's path '$repo' has white space, which the kernel command line cannot carry"
[ "$(id -u)" -eq 0 ] || die "must run as root (the test host exports / over 9p and runs libvirtd inside)"
# The kernel and initramfs tools, and what the test host runs from the shared root.
"$repo/scripts/ensure-packages.sh" qemu-system-x86 linux-image-amd64 busybox-static kmod cpio \
    libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients seabios python3 \
    || die "cannot install the packages the test host needs"

# Debian's kernel that linux-image-amd64 points at.
kpkg=$(dpkg-query -W -f='${Depends}' linux-image-amd64 | grep -oE 'linux-image-[^ ,]+' | head -1)
kver=${kpkg#linux-image-}
kernel=/boot/vmlinuz-$kver
[ -r "$kernel" ] || die "$kernel missing although $kpkg is installed"

# The initramfs: busybox-static, the modules for virtio-pci, 9p, overlayfs and virtio-serial, and ./init.
# Cached outside the clone under a key of everything that goes in, built atomically (temp dir + rename).
modules=$(for m in virtio_pci 9pnet_virtio 9p overlay virtio_console; do modprobe -S "$kver" --show-depends "$m"; done \
    | awk '$1 == "insmod" && !seen[$2]++ { print $2 }')
[ -n "$modules" ] || die "no modules for $kver (modprobe --show-depends)"
key=$( { echo "$kver"; sha256sum "$here/init" /bin/busybox $modules; } | sha256sum | cut -c1-16)
cache=${LARGEGUEST_E2E_CACHE:-/var/cache/largeguest-e2e}
initrd=$cache/initramfs-$key.cpio.gz
if [ ! -s "$initrd" ]; then
    mkdir -p "$cache"
    tree=$(mktemp -d "$cache/.build.XXXXXX")
    mkdir -p "$tree"/{bin,modules,proc,sys,dev}
    cp /bin/busybox "$tree/bin/busybox"
    cp "$here/init" "$tree/init"
    for m in $modules; do cp "$m" "$tree/modules/"; basename "$m" >>"$tree/modules.order"; done
    (cd "$tree" && find . | cpio -o -H newc --quiet | gzip -1) >"$tree.cpio.gz"
    mv -f "$tree.cpio.gz" "$initrd"
    rm -rf "$tree"
    echo "numa-host start: built $initrd ($(stat -c %s "$initrd") bytes)" >&2
fi

# Reap instances whose owner died (a test run killed before its fixture could stop them).
for old in /tmp/largeguest-numa.*; do
    [ -d "$old" ] && [ -f "$old/owner" ] || continue
    kill -0 "$(cat "$old/owner")" 2>/dev/null && continue
    echo "numa-host start: tearing down stale instance $old (owner $(cat "$old/owner") is gone)" >&2
    "$here/stop.sh" "$old" >&2 || true
done

dir=$(mktemp -d /tmp/largeguest-numa.XXXXXX)
echo "${LARGEGUEST_E2E_OWNER:-$PPID}" >"$dir/owner"
mkdir -p "$dir/xchg"
started=0
# On failure: keep the consoles and QEMU's messages (like the e2e fixture keeps libvirt's logs), then tear down.
failed() {
    local keep
    keep=$repo/.build/e2e-logs/numa-host-$(date -u +%Y%m%d-%H%M%S)
    mkdir -p "$keep" && cp "$dir"/*.log "$dir"/*.err "$keep/" 2>/dev/null &&
        echo "numa-host start: logs kept in $keep" >&2
    "$here/stop.sh" "$dir" >&2 || true
}
trap '[ $started -eq 1 ] || failed' EXIT

IFS=, read -ra sizes <<<"$layout"
total=0; numa=()
for i in "${!sizes[@]}"; do
    if [ "${sizes[$i]}" -gt 0 ]; then
        numa+=(-object "memory-backend-ram,id=m$i,size=${sizes[$i]}M" -numa "node,nodeid=$i,cpus=$i,memdev=m$i")
        total=$((total + sizes[i]))
    else
        numa+=(-numa "node,nodeid=$i,cpus=$i")
    fi
done

# launch ACCEL: starts the test host's QEMU (daemonized; its console goes to console-ACCEL.log).
launch() {
    local accel=$1
    rm -f "$dir/qemu.pid" "$dir/agent.sock"
    : >"$dir/console-$accel.log"
    qemu-system-x86_64 -name numa-host -accel "$accel" -cpu qemu64 -smp "${#sizes[@]}" -m "${total}M" "${numa[@]}" \
        -kernel "$kernel" -initrd "$initrd" -no-reboot \
        -append "console=ttyS0 panic=-1 loglevel=4 lg.stage2=$here/agent.sh lg.repo=$repo" \
        -display none -monitor none -serial "file:$dir/console-$accel.log" \
        -fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap" \
        -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
        -fsdev "local,id=xchg,path=$dir/xchg,security_model=none" -device virtio-9p-pci,fsdev=xchg,mount_tag=xchg \
        -device virtio-serial-pci -chardev "socket,id=agent,path=$dir/agent.sock,server=on,wait=off" \
        -device virtserialport,chardev=agent,name=lg.agent \
        -daemonize -pidfile "$dir/qemu.pid" 2>"$dir/qemu-$accel.err"
}
# wait_for ACCEL BOUND MARKER: waits up to BOUND seconds for MARKER on the console; fails early when QEMU ended.
wait_for() {
    local accel=$1 bound=$2 marker=$3 t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$bound" ]; do
        grep -q "$marker" "$dir/console-$accel.log" && return 0
        grep -q 'FAILED' "$dir/console-$accel.log" && return 1
        kill -0 "$(cat "$dir/qemu.pid" 2>/dev/null)" 2>/dev/null || return 1
        sleep 0.2
    done
    return 1
}
kill_qemu() { [ -f "$dir/qemu.pid" ] && kill "$(cat "$dir/qemu.pid")" 2>/dev/null; sleep 0.5; rm -f "$dir/qemu.pid"; }
tail_of() { tail -5 "$dir/console-$1.log" 2>/dev/null | tr '\n' ' '; cat "$dir/qemu-$1.err" 2>/dev/null | tr '\n' ' '; }

ready='numa-host: stage 2 ready'
bound=${LARGEGUEST_NUMA_BOOT_BOUND:-180}
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
accel= reason=
if [ "$want" != tcg ] && [ -w /dev/kvm ]; then
    # Under KVM a kernel that works prints its banner within a second or two: wait that long for it.
    kvm_bound=${LARGEGUEST_NUMA_KVM_BOUND:-10}
    t0=$EPOCHREALTIME
    if launch kvm && wait_for kvm "$kvm_bound" 'Linux version' && wait_for kvm "$bound" "$ready"; then
        accel=kvm; reason="KVM: Debian's kernel booted under /dev/kvm"
    else
        [ "$want" = kvm ] && die "LARGEGUEST_E2E_ACCEL=kvm but the test host did not boot under KVM: $(tail_of kvm)"
        reason="KVM tried first: no kernel banner on the console within $kvm_bound s ($(wc -l <"$dir/console-kvm.log") console lines; $(since "$t0") s spent), then TCG"
        kill_qemu
    fi
elif [ "$want" = kvm ]; then
    die "LARGEGUEST_E2E_ACCEL=kvm but /dev/kvm is not usable ($(ls -l /dev/kvm 2>&1))"
elif [ "$want" = tcg ]; then
    reason="TCG forced by LARGEGUEST_E2E_ACCEL=tcg"
else
    reason="/dev/kvm not usable: TCG"
fi
if [ -z "$accel" ]; then
    t0=$EPOCHREALTIME
    launch tcg && wait_for tcg "$bound" "$ready" ||
        die "the test host did not boot under TCG within $bound s: $(tail_of tcg)"
    accel=tcg
fi
boot_seconds=$(since "$t0")
started=1
echo "NUMA_DIR=$dir"
echo "AGENT_SOCKET=$dir/agent.sock"
echo "ACCEL=$accel"
echo "ACCEL_REASON=$reason"
echo "BOOT_SECONDS=$boot_seconds"
