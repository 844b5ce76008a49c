#!/usr/bin/env python3
"""make bench: the hook's full run under each topology source.

Every run as bench/common.py runs it (the runner every bench step shares): a fresh copy of the sample oVirt
domain, the hook executed through a .../before_vm_start/50_largeguest symlink with vmId and _hook_domxml, wall
time around posix_spawn + wait4, interleaved shuffled rounds, the figure is the median.

  base     guestnuma only, without host nodes: a property that needs no host facts, so no topology is read
  sysfs    the same guestnuma + cputune + numatune (host checks), Topology:Source=sysfs (this host's /sys)
  libvirt  the same properties, Topology:Source=libvirt, LibvirtUri=test:///default (libvirt's built-in
           test driver: 2 cells x 8 CPUs, no daemon)
  auto     the same properties, Topology:Source=auto with the default qemu:///system: where no libvirtd
           runs the hook falls back to sysfs and says so in a note (reported, not a failure)

The properties are valid on this host (CPUs 0-1, node 0) and on test:///default alike.
Target: sysfs <= 1.2 x base (the sysfs source adds under 20% to the no-topology run).
Exits 1 when the target is missed, 2 when a run fails.
"""
import os
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  the runner, interleaving, table and target report of make bench

TARGET = 1.2
GUESTNUMA = "0-7#4G,8-15#4G"
HOST_PROPERTIES = {"guestnuma": GUESTNUMA, "cputune": "0#0,1#1", "numatune": "interleave#0"}


def check_rewrite(w):
    """The hook rewrote the XML as asked: two guest cells, and with host properties the pins and the mode."""
    with open(w.target, "rb") as f:
        root = ET.fromstring(f.read())
    cells = len(root.findall("./cpu/numa/cell"))
    problems = [] if cells == 2 else [f"{cells} guest cells, not 2"]
    if "cputune" in w.properties:
        pins = {p.get("vcpu"): p.get("cpuset") for p in root.findall("./cputune/vcpupin")}
        if pins.get("0") != "0" or pins.get("1") != "1":
            problems.append(f"vcpupins {pins}")
        mem = root.find("./numatune/memory")
        if mem is None or mem.get("mode") != "interleave" or mem.get("nodeset") != "0":
            problems.append("numatune memory is not interleave on node 0")
    if problems:
        sys.exit(f"topology bench: {w.label}: the hook did not rewrite the XML as asked: {'; '.join(problems)}")


def main():
    ap = common.argument_parser(__doc__)
    args = ap.parse_args()

    binary = os.path.abspath(args.binary)
    with tempfile.TemporaryDirectory(prefix="largeguest-topology-bench-") as work:
        hook, _, env_base = common.hook_setup(binary, work)
        with open(common.TYPICAL, "rb") as f:
            typical = f.read()

        def topo(source, **extra):
            props = dict(HOST_PROPERTIES, LARGEGUEST__Topology__Source=source)
            props.update(extra)
            return props

        workloads = [
            common.Workload("base", f"base: guestnuma={GUESTNUMA} (no host facts)", hook, typical,
                            {"guestnuma": GUESTNUMA}),
            common.Workload("sysfs", "sysfs: + cputune, numatune; /sys", hook, typical, topo("sysfs")),
            common.Workload("libvirt", "libvirt: same; test:///default", hook, typical,
                            topo("libvirt", LARGEGUEST__Topology__LibvirtUri="test:///default")),
            common.Workload("auto", "auto: same; qemu:///system, else sysfs", hook, typical, topo("auto")),
        ]
        auto = workloads[-1]
        auto.allow_stderr = True
        print(f"topology bench: {binary}, sample domain {os.path.basename(common.TYPICAL)}, "
              f"{args.rounds} interleaved rounds after {args.warmup} warm-up")
        print(f"  properties except base: {', '.join(f'{k}={v}' for k, v in HOST_PROPERTIES.items())}")
        for w in workloads:
            common.prepare(w, env_base, work)
        with common.Spawner(work) as spawner:
            for w in workloads:
                common.run_once(w, spawner)
                check_rewrite(w)
            auto_note = auto.stderr
            common.run_interleaved(workloads, spawner, args.rounds, args.warmup)

    if auto_note and (": note: " not in auto_note or ": error: " in auto_note or ": warning: " in auto_note):
        sys.exit(f"topology bench: auto: unexpected stderr: {auto_note}")
    print(f"  auto's stderr: {auto_note or '(none: libvirtd answered, no fallback)'}")
    med = common.print_table(workloads, args.rounds)
    print("  ".join(f"{w.name}/base = {med[w.name] / med['base']:.2f}x" for w in workloads[1:]))
    missed = common.report_targets([("sysfs <= 1.2 x base (guestnuma only)", med["sysfs"] / med["base"], TARGET)],
                                  "topology bench")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
