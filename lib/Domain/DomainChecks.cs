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
        var valid = $"vCPU ids {Ids(0, max - 1)} (the domain's <vcpu> maximum is {max})";
        if (p.CpuTune is { } tune)
        {
            var missing = tune.PinnedVcpus.Select(v => v.Vcpu).Where(v => v >= max).Order().ToList();
            if (missing.Count > 0)
                throw new PropertyException(LargeguestProperties.Cputune,
                    $"{Vcpus(missing)} {(missing.Count == 1 ? "does" : "do")} not exist: the domain has {max} vCPUs", valid);
        }
        if (p.GuestNuma is { } numa) CheckCells(doc, numa, max, valid);
    }

    private static void CheckCells(DomainDocument doc, GuestNuma numa, int max, string valid)
    {
        const string name = LargeguestProperties.Guestnuma;
        for (var id = 0; id < numa.Cells.Count; id++)
        {
            var extra = numa.Cells[id].Vcpus.Ids.Where(v => v >= max).ToList();
            if (extra.Count > 0)
                throw new PropertyException(name, $"cell {id} lists {Vcpus(extra)}, beyond the domain's {max} vCPUs", valid);
        }
        var covered = numa.Cells.Aggregate((CpuSet?)null, (acc, c) => acc is null ? c.Vcpus : acc.Union(c.Vcpus))!;
        var uncovered = Enumerable.Range(0, max).Where(v => !covered.Contains(v)).ToList();
        if (uncovered.Count > 0)
            throw new PropertyException(name,
                $"{Vcpus(uncovered)} {(uncovered.Count == 1 ? "is" : "are")} in no cell: the cells cover {covered} but the domain has {max} vCPUs",
                $"cells that together cover {valid}");

        var dimms = doc.Dimms;
        var dimmTotal = new MemorySize(dimms.Sum(d => d.Size.KiB));
        var initial = doc.Memory - dimmTotal;
        if (numa.TotalMemory != initial)
        {
            var split = dimms.Count == 0 ? "its <memory>"
                : $"<memory> {doc.Memory.Readable()} minus {dimmTotal.Readable()} in {dimms.Count} memory device(s)";
            throw new PropertyException(name,
                $"the cells add up to {numa.TotalMemory.Describe()} but the domain's initial memory is {initial.Describe()} ({split})",
                $"cell sizes that add up to {initial.Describe()}");
        }
        for (var i = 0; i < dimms.Count; i++)
            if (dimms[i].TargetNode is int node && node >= numa.Cells.Count)
                throw new PropertyException(name,
                    $"memory device {i} ({dimms[i].Model}, {dimms[i].Size.Readable()}) targets guest node {node}, but the cells are {Ids(0, numa.Cells.Count - 1)}",
                    $"at least {node + 1} cells, or move the device to an existing node");
    }

    /// <summary>"vCPU 3" or "vCPUs 0-1,4", for messages.</summary>
    internal static string Vcpus(IReadOnlyCollection<int> ids) => (ids.Count == 1 ? "vCPU " : "vCPUs ") + CpuSet.Format(ids);

    private static string Ids(int first, int last) => first == last ? $"{first}" : $"{first}-{last}";
}
