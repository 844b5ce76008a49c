using Largeguest.Grammar;

namespace Largeguest.Domain;

/// <summary>
/// The properties checked against the domain they are applied to (docs/design.md section 4, "Validation
/// against the domain"). Each failure names the property and shows the numbers.
/// </summary>
public static class DomainChecks
{
    public static void Check(DomainDocument doc, LargeguestProperties p)
    {
        if (p.CpuTune is null && p.GuestNuma is null) return;
        var max = doc.MaxVcpus;
        if (p.CpuTune is { } tune)
        {
            var missing = new List<int>();
            foreach (var pin in tune.PinnedVcpus)
                if (pin.Vcpu >= max) missing.Add(pin.Vcpu);
            if (missing.Count > 0)
                throw new PropertyException(LargeguestProperties.Cputune,
                    $"{Vcpus(missing)} {(missing.Count == 1 ? "does" : "do")} not exist: the domain has {max} vCPUs",
                    ValidVcpus(max));
            if (tune.IoThreads.Count > 0) CheckIoThreads(doc, tune);
        }
        if (p.GuestNuma is { } numa) CheckCells(doc, numa, max);
    }

    /// <summary>The vCPU ids a property may name, for a refusal (built only then: formatting it on every run cost the
    /// hook the runtime's array-pool set-up).</summary>
    private static string ValidVcpus(int max) => $"vCPU ids {Ids(0, max - 1)} (the domain's <vcpu> maximum is {max})";

    private static void CheckCells(DomainDocument doc, GuestNuma numa, int max)
    {
        const string name = LargeguestProperties.Guestnuma;
        for (var id = 0; id < numa.Cells.Count; id++)
        {
            var extra = new List<int>();
            foreach (var v in numa.Cells[id].Vcpus.Ids)
                if (v >= max) extra.Add(v);
            if (extra.Count > 0)
                throw new PropertyException(name, $"cell {id} lists {Vcpus(extra)}, beyond the domain's {max} vCPUs",
                    ValidVcpus(max));
        }
        var all = new List<int>(); // one union, not one per cell (quadratic)
        foreach (var cell in numa.Cells) all.AddRange(cell.Vcpus.Ids);
        var covered = CpuSet.Of(all);
        var uncovered = new List<int>();
        for (var v = 0; v < max; v++)
            if (!covered.Contains(v)) uncovered.Add(v);
        if (uncovered.Count > 0)
            throw new PropertyException(name,
                $"{Vcpus(uncovered)} {(uncovered.Count == 1 ? "is" : "are")} in no cell: " +
                $"the cells cover {covered} but the domain has {max} vCPUs",
                $"cells that together cover {ValidVcpus(max)}");

        var dimms = doc.Dimms;
        var dimmTotal = DomainDocument.DimmMemory(dimms);
        var initial = doc.InitialMemory(dimms);
        if (numa.TotalMemory != initial)
        {
            var split = dimms.Count == 0 ? "its <memory>"
                : $"<memory> {doc.Memory.Readable()} minus {dimmTotal.Readable()} in {dimms.Count} memory device(s)";
            throw new PropertyException(name,
                $"the cells add up to {numa.TotalMemory.Describe()} but the domain's initial memory is " +
                $"{initial.Describe()} ({split})",
                $"cell sizes that add up to {initial.Describe()}");
        }
        var cells = Ids(0, numa.Cells.Count - 1);
        foreach (var (text, nodes) in doc.HugePageNodeSets)
            if (nodes.Max >= numa.Cells.Count)
                throw new PropertyException(name,
                    $"<memoryBacking><hugepages><page nodeset='{text}'> names guest node " +
                    $"{CpuSet.Format(nodes.Ids.Where(n => n >= numa.Cells.Count))}, " +
                    $"but the new cells are {cells} (libvirt refuses it: " +
                    $"\"hugepages: node {nodes.Ids.First(n => n >= numa.Cells.Count)} not found\")",
                    $"at least {nodes.Max + 1} cells, or huge page nodesets within cells {cells} " +
                    "(the VM's huge page settings)");
        for (var i = 0; i < dimms.Count; i++)
            if (dimms[i].TargetNode is int node && node >= numa.Cells.Count)
                throw new PropertyException(name,
                    $"memory device {i} ({dimms[i].Model}, {dimms[i].Size.Readable()}) targets guest node {node}, " +
                    $"but the cells are {Ids(0, numa.Cells.Count - 1)}",
                    $"at least {node + 1} cells, or move the device to an existing node");
        // The old cells' attributes and children the new cells cannot keep are refused before anything changes.
        Editors.GuestNumaEditor.Carried(doc.Root.Element("cpu")?.Element("numa"), numa.Cells.Count, out _);
    }

    /// <summary>Every <c>iothreadN</c> must be one of the domain's I/O threads: libvirt refuses a pin of a missing
    /// one.</summary>
    private static void CheckIoThreads(DomainDocument doc, CpuTune tune)
    {
        var ids = doc.IoThreadIds;
        var known = ids.ToHashSet(); // a list's Contains per pin is quadratic in the pins
        var missing = tune.IoThreads.Select(t => t.Id).Where(id => !known.Contains(id)).Order().ToList();
        if (missing.Count == 0) return;
        var which = (missing.Count == 1 ? "iothread " : "iothreads ") + CpuSet.Format(missing);
        var has = ids.Count == 0
            ? "the domain has no I/O threads (no <iothreads> or <iothreadids>)"
            : $"the domain's I/O threads are {CpuSet.Format(ids.Order())} ({Source(doc)})";
        throw new PropertyException(LargeguestProperties.Cputune,
            $"{which} {(missing.Count == 1 ? "does" : "do")} not exist: {has}",
            ids.Count == 0 ? "I/O threads in the VM (engine: Resource Allocation > IO Threads), or no iothreadN entries"
                : $"iothreadN entries with N in {CpuSet.Format(ids.Order())}");

        static string Source(DomainDocument doc)
        {
            var count = doc.Root.Element("iothreads")?.Value.Trim();
            var listed = doc.Root.Element("iothreadids")?.Elements("iothread").Count() ?? 0;
            return (count, listed) switch
            {
                (not null, > 0) => $"<iothreads>{count}</iothreads> and {listed} <iothreadids> id(s)",
                (not null, _) => $"<iothreads>{count}</iothreads>",
                _ => $"{listed} <iothreadids> id(s)",
            };
        }
    }

    /// <summary>
    /// Guest cells against the guest's CPU topology (<c>&lt;cpu&gt;&lt;topology&gt;</c>): a cell boundary inside a
    /// guest socket (a die, when the sockets have several) or inside a core gives the guest kernel thread or cache
    /// siblings in different NUMA nodes, a scheduling topology that contradicts its NUMA map. Null when the cells
    /// follow the topology (or there is none, or it does not describe the domain's vCPUs, which libvirt refuses by
    /// itself); else the problem with the numbers: which cell, which socket or core it splits.
    /// </summary>
    public static string? GuestTopologyMismatch(DomainDocument doc, GuestNuma numa)
    {
        if (doc.CpuTopology is not { } topology || topology.Vcpus != doc.MaxVcpus) return null;
        var cellOf = new Dictionary<int, int>();
        for (var id = 0; id < numa.Cells.Count; id++)
            foreach (var v in numa.Cells[id].Vcpus.Ids) cellOf.TryAdd(v, id);
        // The core is the worse split (thread siblings share a core's caches); then the die or socket (a shared L3).
        var die = topology.Dies > 1;
        foreach (var (unit, size) in new[]
            {
                ("core", topology.VcpusPerCore),
                (die ? "die" : "socket", die ? topology.VcpusPerDie : topology.VcpusPerSocket)
            })
        {
            if (size <= 1) continue;
            var split = SplitUnits(doc.MaxVcpus / size, size, cellOf);
            if (split.Count == 0) continue;
            var (first, cells) = split[0];
            var more = split.Count > 1 ? $" ({split.Count} {unit}s are split in all)" : "";
            var parts = string.Join(", ", cells.Select(g => $"{Vcpus(g.Vcpus)} in cell {g.Cell}"));
            return $"guest {unit} {first} (vCPUs {Ids(first * size, first * size + size - 1)} " +
                $"of <topology {topology}/>) is split across cells: {parts}{more}; " +
                $"the guest kernel then sees {(unit == "core" ? "thread siblings" : $"one {unit}")} " +
                "in different NUMA nodes; " +
                $"cells of whole {(die ? "dies" : "sockets")} hold multiples of " +
                $"{(die ? topology.VcpusPerDie : topology.VcpusPerSocket)} vCPUs";
        }
        return null;
    }

    /// <summary>The units (cores, dies or sockets of <paramref name="size"/> vCPUs each) whose vCPUs lie in more than
    /// one cell, each with its vCPUs per cell (cells in order of their first vCPU in the unit); vCPUs in no cell are
    /// left out.</summary>
    private static List<(int Unit, List<(int Cell, List<int> Vcpus)> Cells)> SplitUnits(int units, int size,
        Dictionary<int, int> cellOf)
    {
        var split = new List<(int Unit, List<(int Cell, List<int> Vcpus)> Cells)>();
        for (var u = 0; u < units; u++)
        {
            var cells = new List<(int Cell, List<int> Vcpus)>();
            for (var v = u * size; v < u * size + size; v++)
            {
                if (!cellOf.TryGetValue(v, out var cell)) continue;
                var at = cells.FindIndex(c => c.Cell == cell);
                if (at < 0) cells.Add((cell, [v]));
                else cells[at].Vcpus.Add(v);
            }
            if (cells.Count > 1) split.Add((u, cells));
        }
        return split;
    }

    /// <summary>
    /// <see cref="GuestTopologyMismatch"/> under <c>GuestNuma:TopologyMismatch</c>: a warning, or
    /// (<paramref name="refuse"/> and policy <c>fail</c>) an error. Refused only where VDSM uses the hook's XML.
    /// </summary>
    public static void CheckGuestTopology(DomainDocument doc, LargeguestProperties p, bool fail, Action<string> warn)
    {
        if (p.GuestNuma is not { } numa || GuestTopologyMismatch(doc, numa) is not { } problem) return;
        if (fail)
            throw new PropertyException(LargeguestProperties.Guestnuma, $"{problem} (GuestNuma:TopologyMismatch=fail)",
                "cells of whole guest sockets, or another <cpu><topology>; or GuestNuma:TopologyMismatch=warn");
        warn($"{LargeguestProperties.Guestnuma}: {problem} (GuestNuma:TopologyMismatch=warn)");
    }

    /// <summary>"vCPU 3" or "vCPUs 0-1,4", for messages.</summary>
    internal static string Vcpus(IReadOnlyCollection<int> ids) =>
        (ids.Count == 1 ? "vCPU " : "vCPUs ") + CpuSet.Format(ids);

    private static string Ids(int first, int last) => first == last ? $"{first}" : $"{first}-{last}";
}
