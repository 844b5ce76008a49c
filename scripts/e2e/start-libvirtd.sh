#!/bin/bash
# Starts a PRIVATE libvirtd + virtlogd for the end-to-end tests and prints, on stdout:
#   E2E_DIR=<state dir>      (pass it to stop-libvirtd.sh)
#   LIBVIRT_URI=<uri>        (qemu+unix:///system?socket=...)
#   ACCEL=kvm|tcg            (kvm when libvirt's capabilities offer it, else tcg)
#   ACCEL_REASON=<text>
# Installs the Debian packages it needs when missing. Never touches the host's libvirt: the daemons run in
# their own mount namespace where /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/cache/libvirt and
# /var/log/libvirt are bind mounts of directories under the state dir (QEMU runs as root, no security
# driver, no per-VM namespaces), and they listen on a socket under the state dir.
# On any failure it tears down what it started, prints why on stderr and exits non-zero.
# Usage: start-libvirtd.sh [STATE_DIR]   (default: a new /tmp/largeguest-e2e.XXXXXX)
#   env LARGEGUEST_E2E_ACCEL=auto|kvm|tcg (default auto: KVM when usable, else TCG)
#   env LARGEGUEST_E2E_OWNER=<pid>: the process the instance belongs to (default: the caller); instances of
#   owners that are gone are torn down first, so a killed test run leaves nothing behind for long.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
die() { echo "start-libvirtd: error: $*" >&2; exit 1; }

want=${LARGEGUEST_E2E_ACCEL:-auto}
case $want in auto|kvm|tcg) ;; *) die "LARGEGUEST_E2E_ACCEL: bad value '$want' (expected: auto, kvm or tcg)" ;; esac
[ "$(id -u)" -eq 0 ] || die "must run as root (QEMU runs as root under the private libvirtd)"
"$repo/scripts/ensure-packages.sh" libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 seabios \
    || die "cannot install libvirt's daemon and QEMU"
for tool in libvirtd virtlogd virsh unshare qemu-system-x86_64; do
    command -v "$tool" >/dev/null || die "'$tool' not found after installing the packages"
done

# libvirt's QEMU driver resolves its compiled-in default user (Debian: libvirt-qemu) before it reads
# qemu.conf, so the account must exist even though our qemu.conf runs QEMU as root. The
# libvirt-daemon-system package would create it; we create only the account (no services, no configs).
if ! getent passwd libvirt-qemu >/dev/null; then
    useradd --system --user-group --no-create-home --home-dir /var/lib/libvirt --shell /usr/sbin/nologin libvirt-qemu \
        || die "cannot create the system user libvirt-qemu that libvirt's QEMU driver requires"
    echo "start-libvirtd: created system user libvirt-qemu (libvirt's QEMU driver needs it to exist)" >&2
fi

# Reap instances whose owner died (a test run killed before its fixture could stop them).
for old in /tmp/largeguest-e2e.*; do
    [ -d "$old" ] && [ -f "$old/owner" ] || continue
    owner=$(cat "$old/owner")
    if ! kill -0 "$owner" 2>/dev/null; then
        echo "start-libvirtd: tearing down stale instance $old (owner $owner is gone)" >&2
        "$here/stop-libvirtd.sh" "$old" >&2 || true
    fi
done

dir=${1:-$(mktemp -d /tmp/largeguest-e2e.XXXXXX)}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
echo "${LARGEGUEST_E2E_OWNER:-$PPID}" >"$dir/owner"
started=0
trap '[ $started -eq 1 ] || "$here/stop-libvirtd.sh" "$dir" >&2 || true' EXIT

mkdir -p "$dir"/{etc,run,lib,cache,log,sock}
cat >"$dir/etc/libvirtd.conf" <<CONF
# private instance for vdsm-hook-largeguest's e2e tests
unix_sock_dir = "$dir/sock"
unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:$dir/log/libvirtd.log"
CONF
cat >"$dir/etc/virtlogd.conf" <<CONF
log_outputs = "3:file:$dir/log/virtlogd.log"
CONF
cat >"$dir/etc/qemu.conf" <<CONF
# QEMU runs as root with no security driver: this is a throw-away test instance inside a container.
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
# no per-VM mount namespace (private /dev) for QEMU: not available in every container
namespaces = [ ]
stdio_handler = "logd"
# cgroups as on an oVirt host (cpuset carries vcpupin/emulatorpin/numatune), except the memory
# controller: QEMU stays in the memory cgroup of whoever started the tests.
cgroup_controllers = [ "cpu", "cpuacct", "cpuset", "blkio", "freezer" ]
CONF

# Mount points for the bind mounts (what libvirt-daemon-system would create); remembered so that
# stop-libvirtd.sh removes the ones we created.
for mp in /etc/libvirt /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do
    if [ ! -d "$mp" ]; then mkdir -p "$mp" && echo "$mp" >>"$dir/created-mountpoints"; fi
done

# Inside a private mount namespace: bind the private dirs, start virtlogd and libvirtd as daemons.
# unshare returns once both have daemonized; the namespace lives on with them.
unshare --mount --propagation private /bin/bash -euo pipefail -c '
    d=$1
    mount --bind "$d/etc"   /etc/libvirt
    mount --bind "$d/run"   /run/libvirt
    mount --bind "$d/lib"   /var/lib/libvirt
    mount --bind "$d/cache" /var/cache/libvirt
    mount --bind "$d/log"   /var/log/libvirt
    virtlogd --daemon --config "$d/etc/virtlogd.conf" --pid-file "$d/virtlogd.pid"
    libvirtd --daemon --config "$d/etc/libvirtd.conf" --pid-file "$d/libvirtd.pid"
' _ "$dir" 2>"$dir/log/start.err" || die "could not start the daemons: $(tr '\n' ' ' <"$dir/log/start.err")"

uri="qemu+unix:///system?socket=$dir/sock/libvirt-sock"
ok=0
for _ in $(seq 1 120); do
    if virsh -q -c "$uri" version >/dev/null 2>"$dir/log/connect.err"; then ok=1; break; fi
    sleep 0.5
done
[ $ok -eq 1 ] || die "libvirtd did not answer on $uri within 60 s: $(tail -3 "$dir/log/connect.err" | tr '\n' ' ')" \
    "(log: $dir/log/libvirtd.log: $(tail -5 "$dir/log/libvirtd.log" 2>/dev/null | tr '\n' ' '))"

# KVM when libvirt (i.e. QEMU's probe) offers it, else TCG; neither is a failure.
# LARGEGUEST_E2E_ACCEL=tcg forces TCG (to exercise that path on a KVM host); =kvm fails without KVM.
caps=$(virsh -q -c "$uri" capabilities)
if [ "$want" = tcg ] && grep -q "<domain type='qemu'" <<<"$caps"; then
    accel=tcg; reason="TCG forced by LARGEGUEST_E2E_ACCEL=tcg"
elif [ "$want" = kvm ] && ! grep -q "<domain type='kvm'" <<<"$caps"; then
    die "LARGEGUEST_E2E_ACCEL=kvm but libvirt offers no domain type kvm (/dev/kvm: $(ls -l /dev/kvm 2>&1))"
elif grep -q "<domain type='kvm'" <<<"$caps"; then
    accel=kvm; reason="/dev/kvm usable: libvirt offers domain type kvm"
elif grep -q "<domain type='qemu'" <<<"$caps"; then
    accel=tcg
    if [ ! -e /dev/kvm ]; then reason="/dev/kvm missing: TCG (software emulation)"
    else reason="/dev/kvm present but libvirt does not offer domain type kvm (not usable): TCG (software emulation)"; fi
else
    die "libvirt offers neither domain type kvm nor qemu (TCG) for x86_64: no guest can run here"
fi

started=1
echo "E2E_DIR=$dir"
echo "LIBVIRT_URI=$uri"
echo "ACCEL=$accel"
echo "ACCEL_REASON=$reason"
