using Largeguest.Grammar;

namespace Largeguest.Admin;

/// <summary>What each parsed property will do, in words an administrator checks against their plan.</summary>
public static class Explanation
{
    public static IEnumerable<string> Lines(LargeguestProperties p, NumaMode defaultMode)
    {
        foreach (var (name, value) in p.Canonical())
        {
            yield return $"{name}={value}";
            foreach (var line in Of(name, p, defaultMode)) yield return "  " + line;
        }
    }

    /// <summary>What the property <paramref name="name"/> of <paramref name="p"/> does, a sentence a line.</summary>
    public static IEnumerable<string> Of(string name, LargeguestProperties p, NumaMode defaultMode)
    {
        switch (name)
        {
            case LargeguestProperties.Cputune:
                foreach (var pin in p.CpuTune!.Pins)
                    yield return $"{(pin.First == pin.Last ? "vCPU" : "vCPUs")} {pin.VcpuText} " +
                        $"{(pin.First == pin.Last ? "runs" : "run")} on host CPUs {pin.CpuSet}";
                if (p.CpuTune.Emulator is { } e) yield return $"emulator threads run on host CPUs {e}";
                foreach (var io in p.CpuTune.IoThreads)
                    yield return $"I/O thread {io.Id} (<iothreadpin iothread='{io.Id}'>) runs on host CPUs {io.CpuSet}";
                break;
            case LargeguestProperties.Numatune when p.NumaAuto:
                yield return "numad chooses the host nodes and CPUs at start " +
                    "(<vcpu placement='auto'>, strict memory on its choice)";
                break;
            case LargeguestProperties.Numatune:
                yield return p.NumaTune!.Mode switch
                {
                    NumaMode.Strict => $"guest memory only from host nodes {p.NumaTune.NodeSet} " +
                        "(strict: allocation beyond them fails, the OOM killer answers)",
                    NumaMode.Preferred => $"guest memory preferably from host node(s) {p.NumaTune.NodeSet}, " +
                        "other nodes when they run out",
                    NumaMode.Interleave =>
                        $"guest memory interleaved page by page across host nodes {p.NumaTune.NodeSet}",
                    _ => $"guest memory restricted to host nodes {p.NumaTune.NodeSet} " +
                        "(restrictive: cgroup binding, kernel default policy)",
                };
                break;
            case LargeguestProperties.Guestnuma:
                var cells = p.GuestNuma!.Cells;
                for (var id = 0; id < cells.Count; id++)
                {
                    var c = cells[id];
                    var binding = c.HostNodes is null
                        ? ""
                        : $", bound {(p.NumaTune?.Mode ?? defaultMode).Name()} to host node(s) {c.HostNodes}";
                    yield return $"guest cell {id}: vCPUs {c.Vcpus}, {c.Memory.Readable()}{binding}";
                }
                yield return $"total guest memory in cells: {p.GuestNuma.TotalMemory.Describe()} " +
                    "(must equal the domain's initial memory)";
                break;
            case LargeguestProperties.Pincpu:
                yield return $"every vCPU without its own pin runs on host CPUs {p.PinCpu} (<vcpu cpuset>)";
                break;
            case LargeguestProperties.KsmMergeAcrossNodesName:
                yield return p.KsmMergeAcrossNodes == false
                    ? "host KSM must not merge pages across NUMA nodes (merge_across_nodes=0; wins over VMs asking 1)"
                    : "host KSM may merge pages across NUMA nodes (merge_across_nodes=1, unless another VM asks 0)";
                break;
        }
    }
}
