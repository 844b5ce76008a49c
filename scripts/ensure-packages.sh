#!/bin/bash
# Installs the Debian packages named as arguments when they are missing.
# Used by the Makefile so that a fresh machine needs only `make demo` / `make test`.
# Callers may run at once (the end-to-end fixtures start their libvirtd in parallel, each asking for
# QEMU): they take turns on one lock, and each looks again for what is missing once it holds it, so
# the second finds the first one's packages instead of failing on dpkg's lock.
set -euo pipefail
LOCK=${LARGEGUEST_PACKAGES_LOCK:-/run/largeguest-ensure-packages.lock}
# How long apt waits for a dpkg lock held by someone else (an upgrade run by the host, say).
DPKG_LOCK_WAIT=600

missing() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
    done
}

mapfile -t absent < <(missing "$@")
[ ${#absent[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-packages: missing Debian packages: ${absent[*]};" \
        "install them as root (apt-get install ${absent[*]})" >&2
    exit 1
fi
exec 9>"$LOCK"
flock 9
mapfile -t absent < <(missing "$@")
[ ${#absent[@]} -eq 0 ] && exit 0
echo "ensure-packages: installing ${absent[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=$DPKG_LOCK_WAIT update -qq >/dev/null
apt-get -o DPkg::Lock::Timeout=$DPKG_LOCK_WAIT install -y -qq --no-install-recommends "${absent[@]}" >/dev/null
