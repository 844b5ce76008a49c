#!/bin/bash
# make demo: runs the published hook on the bundled sample oVirt domain exactly as VDSM would
# (temp copy of the XML in _hook_domxml, properties as environment variables, vmId, invoked
# through a .../before_vm_start/50_largeguest symlink), then shows what changed.
set -euo pipefail
bin=$(realpath "${1:-out/largeguest}")
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/largeguest-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/hooks/before_vm_start"
ln -s "$bin" "$work/hooks/before_vm_start/50_largeguest"
cp samples/ovirt-db01.xml "$work/domxml"

props=()
while IFS= read -r line; do
    [[ -z "$line" || "$line" == \#* ]] && continue
    props+=("$line")
done < samples/ovirt-db01.properties

# The demo describes a 2-socket host with a bundled sysfs tree, whatever machine it runs on.
host_env=(LARGEGUEST__Topology__Source=sysfs "LARGEGUEST__Topology__SysfsRoot=$(pwd)/samples/host-sysfs")

run_hook() { env "${host_env[@]}" _hook_domxml="$work/domxml" vmId=3f6c3c8e-8d8a-4a40-9d5e-2f0d0c5e7a11 "$@" \
    "$work/hooks/before_vm_start/50_largeguest"; }

echo "== VM properties (samples/ovirt-db01.properties)"
printf '   %s\n' "${props[@]}"
echo "== before_vm_start/50_largeguest on samples/ovirt-db01.xml"
start=$(date +%s%N)
run_hook "${props[@]}"
end=$(date +%s%N)
echo "   exit 0 in $(( (end - start) / 1000000 )) ms"
echo "== what the hook changed (diff -u)"
diff -u --label samples/ovirt-db01.xml --label "rewritten by largeguest" samples/ovirt-db01.xml "$work/domxml" || true

echo "== running it again changes nothing (idempotent, as on before_vm_migrate_destination)"
cp "$work/domxml" "$work/once"
run_hook "${props[@]}"
cmp -s "$work/once" "$work/domxml" && echo "   byte-identical"

if command -v virt-xml-validate >/dev/null; then
    echo "== libvirt's schema accepts the result"
    virt-xml-validate "$work/domxml" domain | sed 's/^/   /'
fi

echo "== a bad property: one-line error, exit 2, file untouched"
set +e
run_hook "${props[@]}" guestnuma='0-7#8G,8-15#6G'
rc=$?
set -e
echo "   exit $rc"
cmp -s "$work/once" "$work/domxml" && echo "   domain XML byte-identical"

echo "== what would fit this (sample) host: largeguest suggest --vcpus 16 --memory 16G"
env "${host_env[@]}" "$bin" suggest --vcpus 16 --memory 16G | sed 's/^/   /'

echo "== a strict binding the node cannot hold: warned (NumaTune:StrictMemory=warn), the VM still starts"
cp samples/ovirt-db01.xml "$work/big"
sed -i -e 's#<memory>16777216</memory>#<memory>67108864</memory>#' \
    -e 's#<currentMemory>16777216</currentMemory>#<currentMemory>67108864</currentMemory>#' "$work/big"
env "${host_env[@]}" _hook_domxml="$work/big" vmId=3f6c3c8e-8d8a-4a40-9d5e-2f0d0c5e7a11 numatune=strict#0 \
    "$work/hooks/before_vm_start/50_largeguest" 2>&1 | sed 's/^/   /'
echo "   exit ${PIPESTATUS[0]}"
