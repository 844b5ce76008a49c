#!/bin/bash
# Installs the Debian packages named as arguments when they are missing.
# Used by the Makefile so that a fresh machine needs only `make demo` / `make test`.
set -euo pipefail
missing=()
for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-packages: missing Debian packages: ${missing[*]};" \
        "install them as root (apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "ensure-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
