#!/usr/bin/env python3
"""make bench: wall time and peak RSS of the published hook, run the way VDSM runs it (the runner, the
interleaved rounds and the report are bench/common.py's).

  (a) typical   a ~5 KiB oVirt domain with cputune, numatune and guestnuma
  (b) large     a generated ~1 MiB domain with 512 vCPUs and 64 guest cells
  (c) noprop    the same binary, no property of ours set (exit 0 at once)
  (d) true      /bin/true, the exec floor
  (e) ours      the hook doing the retired VDSM hooks' edit (numa=preferred:0, pincpu=0-1) on the
                typical domain without its <numatune> (the old numa hook fails when one exists)
  (f) anchor    those retired hooks (Python, minidom) on the same input, as VDSM ran them: 50_numa then
                50_pincpu in a hook directory, /usr/bin/python3, a minimal hooking module beside them

Targets: (a) <= 1.2 x (c); (b) <= 6 x (a); (c) <= 4.5 x (d); (e) <= 0.05 x (f); peak RSS <= 24 MiB.
The retired hooks are read where they lie (vdsm/vdsm_hooks under the third_party folder: $LARGEGUEST_THIRD_PARTY,
else shared/third_party beside the repository or one of its parents, else /work/shared/third_party).
Exits 1 when a target is missed, 2 when a run fails.
"""
import contextlib
import os
import re
import statistics
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  the runner, interleaving, table and target report of make bench

TARGET_RSS_MIB = 24
THIRD_PARTY_VARIABLE = "LARGEGUEST_THIRD_PARTY"
ANCHOR_HOOKS = ("numa", "pincpu")  # VDSM installed both as before_vm_start/50_<name>: numa runs first
ANCHOR_PROPERTIES = {"numa": "preferred:0", "pincpu": "0-1"}
# The real interpreter: a version-manager shim in front of it triples the anchor's time.
ANCHOR_PYTHON = "/usr/bin/python3"
# What the retired hooks use of VDSM's hooking module: the domain as a minidom document, written back as UTF-8.
HOOKING = """import os
from xml.dom import minidom


def read_domxml():
    return minidom.parse(os.environ["_hook_domxml"])


def write_domxml(document):
    with open(os.environ["_hook_domxml"], "wb") as f:
        f.write(document.toxml(encoding="utf-8"))
"""


def host_cpus_and_nodes():
    """CPUs we may run on and NUMA nodes with memory: the properties stay valid on this host."""
    cpus = sorted(os.sched_getaffinity(0))
    try:
        with open("/sys/devices/system/node/has_memory") as f:
            nodes = parse_ids(f.read().strip())
    except OSError:
        nodes = [0]
    return cpus, nodes


def parse_ids(text):
    ids = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            ids.extend(range(int(a), int(b) + 1))
        elif part:
            ids.append(int(part))
    return ids


def cpuset(ids):
    ids = sorted(set(ids))
    out, start = [], None
    for i, v in enumerate(ids):
        if start is None:
            start = v
        if i + 1 == len(ids) or ids[i + 1] != v + 1:
            out.append(f"{start}" if start == v else f"{start}-{v}")
            start = None
    return ",".join(out)


def typical_properties(cpus, nodes):
    half = len(cpus) // 2 or 1
    return {
        "cputune": f"0-7#{cpuset(cpus[:half])},8-15#{cpuset(cpus[half:] or cpus)},emulator#{cpus[0]}",
        "numatune": f"interleave#{cpuset(nodes)}",
        "guestnuma": f"0-7#4G#{nodes[0]},8-15#4G#{nodes[-1]}",
    }


def large_domain(vcpus=512, cells=64, target_bytes=1 << 20):
    """A VDSM-style domain of about target_bytes: 512 vCPUs, 64 cells, old pinning to replace, many devices."""
    per_cell_kib = 4 * 1024 * 1024
    memory = cells * per_cell_kib
    per = vcpus // cells
    head = [
        "<?xml version='1.0' encoding='utf-8'?>",
        '<domain xmlns:ovirt-tune="http://ovirt.org/vm/tune/1.0" xmlns:ovirt-vm="http://ovirt.org/vm/1.0" type="kvm">',
        "  <name>bench-large</name>",
        "  <uuid>6b1d9a2e-0c4f-4e7a-9b3d-2f8e1a6c5d40</uuid>",
        f"  <memory>{memory}</memory>",
        f"  <currentMemory>{memory}</currentMemory>",
        f'  <maxMemory slots="16">{memory * 2}</maxMemory>',
        f'  <vcpu current="{vcpus // 2}">{vcpus}</vcpu>',
        '  <cpu match="exact">',
        "    <model>Skylake-Server-noTSX-IBRS</model>",
        f'    <topology cores="{per // 2}" sockets="{cells}" threads="2" />',
        "    <numa>",
    ]
    head += [f'      <cell cpus="{c * per}-{c * per + per - 1}" id="{c}" memory="{per_cell_kib}" />'
             for c in range(cells)]
    head += ["    </numa>", "  </cpu>", "  <cputune>", "    <shares>8192</shares>"]
    head += [f'    <vcpupin cpuset="{v % 64}" vcpu="{v}" />' for v in range(vcpus)]
    head += ["  </cputune>", "  <devices>", "    <emulator>/usr/libexec/qemu-kvm</emulator>"]
    tail_meta = ["  <metadata>", "    <ovirt-tune:qos />", "    <ovirt-vm:vm>",
                 "      <ovirt-vm:clusterVersion>4.7</ovirt-vm:clusterVersion>"]
    devices, meta = [], []
    size = sum(len(x) + 1 for x in head) + 2000
    n = 0
    while size < target_bytes:
        uid = f"{n:08x}-1a2b-4c3d-8e4f-{n:012x}"
        disk = [
            '    <disk device="disk" snapshot="no" type="block">',
            f'      <target bus="scsi" dev="sd{n}" />',
            f'      <source dev="/rhev/data-center/mnt/blockSD/3c2b1a0f/images/{uid}/{uid}">',
            '        <seclabel model="dac" relabel="no" />',
            "      </source>",
            '      <driver cache="none" error_policy="stop" io="native" name="qemu" type="raw" />',
            f'      <alias name="ua-{uid}" />',
            f'      <address bus="0" controller="0" target="0" type="drive" unit="{n}" />',
            f"      <serial>{uid}</serial>",
            "    </disk>",
        ]
        md = [
            f'      <ovirt-vm:device devtype="disk" name="sd{n}">',
            f"        <ovirt-vm:domainID>3c2b1a0f-{n:04x}-4e9d-8c7b-6a5f4e3d2c1b</ovirt-vm:domainID>",
            f"        <ovirt-vm:imageID>{uid}</ovirt-vm:imageID>",
            "        <ovirt-vm:poolID>6d7e8f9a-0b1c-4d2e-9f3a-4b5c6d7e8f9a</ovirt-vm:poolID>",
            f"        <ovirt-vm:volumeID>{uid}</ovirt-vm:volumeID>",
            "      </ovirt-vm:device>",
        ]
        devices += disk
        meta += md
        size += sum(len(x) + 1 for x in disk + md)
        n += 1
    tail = ["  </devices>"] + tail_meta + meta + ["    </ovirt-vm:vm>", "  </metadata>", "</domain>", ""]
    return "\n".join(head + devices + tail).encode()


def large_properties(cpus, nodes, vcpus=512, cells=64):
    per = vcpus // cells
    pins = ",".join(f"{c * per}-{c * per + per - 1}#{cpus[c % len(cpus)]}" for c in range(cells))
    return {
        "cputune": pins + f",emulator#{cpuset(cpus)}",
        # strict would (rightly) warn: 256 GiB exceed any test host's nodes; preferred on several nodes needs
        # libvirt 9.3+ (docs/topology.md), interleave falls back to other nodes just the same
        "numatune": f"{'preferred' if len(nodes) == 1 else 'interleave'}#{cpuset(nodes)}",
        "guestnuma": ",".join(f"{c * per}-{c * per + per - 1}#4G#{nodes[c % len(nodes)]}" for c in range(cells)),
    }


def check_rewrite(w):
    """The hook rewrote the XML as asked: every vCPU pinned, at least two guest cells."""
    with open(w.target, "rb") as f:
        out = f.read()
    root = ET.fromstring(out)
    pins = len(root.findall("./cputune/vcpupin"))
    cells = len(root.findall("./cpu/numa/cell"))
    if out == w.xml or pins < int(root.find("vcpu").text) or cells < 2:
        sys.exit(f"bench: {w.label}: the hook did not rewrite the XML as asked ({pins} vcpupins, {cells} cells)")
    print(f"  checked {w.label}: {len(w.xml)} -> {len(out)} bytes, {pins} vcpupins, {cells} cells")


def third_party_hooks():
    """vdsm/vdsm_hooks in the first third_party folder that holds the retired numa and pincpu hooks."""
    candidates = [os.path.abspath(os.environ[THIRD_PARTY_VARIABLE])] if os.environ.get(THIRD_PARTY_VARIABLE) else []
    parent = os.path.dirname(common.REPO)
    while True:
        candidates.append(os.path.join(parent, "shared", "third_party"))
        if os.path.dirname(parent) == parent:
            break
        parent = os.path.dirname(parent)
    candidates.append("/work/shared/third_party")
    for root in candidates:
        hooks = os.path.join(root, "vdsm", "vdsm_hooks")
        if all(os.path.isfile(os.path.join(hooks, h, "before_vm_start.py")) for h in ANCHOR_HOOKS):
            return hooks
    sys.exit(f"bench: the speed anchor, VDSM's retired numa and pincpu hooks "
             f"(vdsm/vdsm_hooks/{{numa,pincpu}}/before_vm_start.py), "
             f"is in none of {', '.join(dict.fromkeys(candidates))}: set {THIRD_PARTY_VARIABLE} to the third_party "
             f"folder holding it")


def anchor_setup(work):
    """The retired hooks as VDSM ran them: a before_vm_start directory with 50_numa and 50_pincpu (symlinks to the
    scripts where they lie; nothing is copied) and our minimal hooking module beside them (not executable, so VDSM
    would not run it; on PYTHONPATH, as VDSM's installed one is on the path, since Python looks for modules beside
    a symlinked script's target). Returns the spawner's exe (both, in order, each with /usr/bin/python3: their
    #!/usr/bin/python2 is gone) and the environment they need."""
    src = third_party_hooks()
    if not os.access(ANCHOR_PYTHON, os.X_OK):
        sys.exit(f"bench: {ANCHOR_PYTHON} not found: the speed anchor runs the retired VDSM hooks with it")
    hooks = os.path.join(work, "anchor-hooks", "before_vm_start")
    os.makedirs(hooks)
    scripts = []
    for name in ANCHOR_HOOKS:
        scripts.append(os.path.join(hooks, f"50_{name}"))
        os.symlink(os.path.join(src, name, "before_vm_start.py"), scripts[-1])
    with open(os.path.join(hooks, "hooking.py"), "w") as f:
        f.write(HOOKING)
    return ";".join(f"{ANCHOR_PYTHON},{s}" for s in scripts), {"PYTHONPATH": hooks, "PYTHONDONTWRITEBYTECODE": "1"}


def without_numatune(xml):
    """The domain without its <numatune> element (the retired numa hook refuses a domain that has one)."""
    out, n = re.subn(rb"\n[ \t]*<numatune>.*?</numatune>", b"", xml, count=1, flags=re.S)
    if n != 1:
        sys.exit("bench: the typical domain has no <numatune> to remove for the anchor")
    return out


def check_legacy_edit(w):
    """The anchor's edit is there: <vcpu cpuset> and <numatune><memory mode nodeset> as the properties ask."""
    with open(w.target, "rb") as f:
        root = ET.fromstring(f.read())
    mode, nodeset = ANCHOR_PROPERTIES["numa"].split(":")
    memory = root.find("./numatune/memory")
    cpuset_attr = root.find("vcpu").get("cpuset")
    if cpuset_attr != ANCHOR_PROPERTIES["pincpu"] or memory is None \
            or (memory.get("mode"), memory.get("nodeset")) != (mode, nodeset):
        sys.exit(f"bench: {w.label}: not the retired hooks' edit (vcpu cpuset {cpuset_attr!r}, "
                 f"numatune memory {None if memory is None else dict(memory.attrib)})")
    print(f"  checked {w.label}: vcpu cpuset {cpuset_attr}, numatune memory {mode} {nodeset}")


def main():
    args = common.argument_parser(__doc__).parse_args()

    binary = os.path.abspath(args.binary)
    cpus, nodes = host_cpus_and_nodes()
    with contextlib.ExitStack() as stack:
        # work: where mkstemp puts VDSM's XML (TMPDIR or /tmp); shm: the same on tmpfs, when /dev/shm is one
        work = stack.enter_context(tempfile.TemporaryDirectory(prefix="largeguest-bench-"))
        shm = (stack.enter_context(tempfile.TemporaryDirectory(prefix="largeguest-bench-", dir="/dev/shm"))
               if common.fs_type("/dev/shm") == "tmpfs" else None)
        # This host's sysfs: the topology source VDSM hosts fall back to, and one that needs no libvirtd
        # (with "auto" and no libvirtd the hook notes the fallback on stderr, which the bench treats as a failure).
        hook, true_hook, env_base = common.hook_setup(binary, work,
            '{ "Topology": { "Source": "sysfs", "SysfsRoot": "/sys" }, "NumaTune": { "DefaultMode": "preferred" } }\n')

        with open(common.TYPICAL, "rb") as f:
            typical = f.read()
        large = large_domain()
        Workload = common.Workload
        workloads = [
            Workload("a", f"(a) typical {len(typical) / 1024:.1f} KiB, all properties", hook, typical,
                     typical_properties(cpus, nodes)),
            Workload("b", f"(b) large {len(large) / 1048576:.2f} MiB, 512 vCPUs, 64 cells", hook, large,
                     large_properties(cpus, nodes)),
            Workload("c", "(c) same binary, no property", hook, typical),
            Workload("d", "(d) /bin/true (exec floor)", true_hook, typical),
        ]
        legacy = without_numatune(typical)
        anchor_exe, anchor_env = anchor_setup(work)
        workloads += [
            Workload("e", "(e) ours: numa=preferred:0, pincpu=0-1", hook, legacy, dict(ANCHOR_PROPERTIES)),
            Workload("f", "(f) anchor: retired VDSM numa + pincpu hooks", anchor_exe, legacy, dict(ANCHOR_PROPERTIES)),
        ]
        workloads[-1].env = anchor_env
        workloads[-1].allow_stderr = True  # pincpu notes "pinning cpu to: ..." on every run
        if shm:  # not a target: shows what the temp dir's disk adds to the atomic replacement
            # (no fsync: docs/design.md section 3)
            workloads.append(Workload("a_shm", "(a') as (a), XML on tmpfs", hook, typical,
                                      typical_properties(cpus, nodes), xml_dir=shm))
        print(f"bench: {binary} ({os.path.getsize(binary)} bytes), host CPUs {cpuset(cpus)}, nodes {cpuset(nodes)}, "
              f"XML in {os.path.dirname(work)} ({common.fs_type(work)}), "
              f"{args.rounds} interleaved rounds after {args.warmup} warm-up")
        for w in workloads:
            common.prepare(w, env_base, work)
        with common.Spawner(work) as spawner:
            for w in workloads:
                common.run_once(w, spawner)
                if w.name in ("e", "f"):
                    check_legacy_edit(w)
                elif w.properties:
                    check_rewrite(w)
            common.run_interleaved(workloads, spawner, args.rounds, args.warmup)
            floor = int(spawner.ask("floor")[0])

    med = common.print_table(workloads, args.rounds, floor)
    peak = max(max(w.rss) for w in workloads if w.exe == hook) / 1024
    checks = [
        ("(a) typical <= 1.2 x (c) no property", med["a"] / med["c"], 1.2),
        ("(b) 1 MiB <= 6 x (a) typical", med["b"] / med["a"], 6),
        ("(c) no property <= 4.5 x (d) /bin/true", med["c"] / med["d"], 4.5),
        ("(e) ours <= 0.05 x (f) retired VDSM hooks", med["e"] / med["f"], 0.05),
        (f"peak RSS of the hook <= {TARGET_RSS_MIB} MiB", peak, TARGET_RSS_MIB),
    ]
    if "a_shm" in med:
        print(f"(a') / (c) = {med['a_shm'] / med['c']:.2f}x and cpu (a) / (c) = "
              f"{statistics.median(workloads[0].cpu) / statistics.median(workloads[2].cpu):.2f}x: the rest of (a) / "
              f"(c) is the temp dir's disk")
    return 1 if common.report_targets(checks) else 0


if __name__ == "__main__":
    sys.exit(main())
