using Largeguest.Grammar;

namespace Largeguest.Host;

/// <summary>One guest cell of a suggestion: the host node it lives on, its vCPUs and their host CPUs, its
/// memory.</summary>
public sealed record SuggestedCell(int HostNode, CpuSet Vcpus, IReadOnlyList<int> HostCpus, MemorySize Memory);

/// <summary>A placement as property values that <c>largeguest check</c> and the hook accept.</summary>
public sealed record Suggestion(CpuTune CpuTune, NumaTune NumaTune, GuestNuma GuestNuma,
    IReadOnlyList<SuggestedCell> Cells)
{
    public IEnumerable<(string Name, string Value)> Properties =>
    [
        (LargeguestProperties.Cputune, CpuTune.ToString()),
        (LargeguestProperties.Numatune, NumaTune.ToString()),
        (LargeguestProperties.Guestnuma, GuestNuma.ToString()),
    ];

    /// <summary>The engine's custom-property form: <c>name=value;name=value</c>.</summary>
    public string PropertyString => LargeguestProperties.EngineString(Properties);
}

/// <summary>The host cannot take the guest as asked; the message shows the numbers.</summary>
public sealed class PlacementException(string message) : Exception(message);

/// <summary>
/// Suggests a placement for a guest of N vCPUs and M memory, as a pure function of the host model:
/// the fewest NUMA nodes (with memory and online CPUs, most free memory first) that hold both, or exactly
/// <c>cells</c> of them; one guest cell per host node; vCPUs spread evenly and pinned one-to-one to host
/// CPUs taken a whole core at a time (thread siblings together); memory split in proportion to the vCPUs
/// and capped by each node's free memory; with the guest's sockets, each cell holds whole sockets; with I/O threads,
/// they and the emulator run on the cells' CPUs the vCPUs leave free. Memory mode: <c>preferred</c> on one node,
/// <c>interleave</c> (which on each one-node cell binding behaves as preferred) on several — see docs/topology.md.
/// </summary>
public static class PlacementSuggester
{
    /// <param name="sockets">The guest's sockets (<c>&lt;topology sockets&gt;</c>): each cell then holds whole sockets
    /// of vcpus/sockets vCPUs.</param>
    /// <param name="ioThreads">I/O threads to pin (1..N, libvirt's ids for <c>&lt;iothreads&gt;N</c>): each cell keeps
    /// at least one of its node's CPUs from the vCPUs; I/O thread k runs on a core of cell (k-1) mod cells left free
    /// by the vCPUs (its free thread siblings), round robin; the emulator on all CPUs the vCPUs leave free in the
    /// guest's nodes.</param>
    public static Suggestion Suggest(HostTopology host, int vcpus, MemorySize memory,
        int? cells = null, int? sockets = null, int ioThreads = 0)
    {
        if (vcpus < 1) throw new PlacementException($"--vcpus {vcpus}: a guest needs at least one vCPU");
        if (memory.KiB < 1) throw new PlacementException("--memory: a guest needs memory");
        if (ioThreads < 0) throw new PlacementException($"--io-threads {ioThreads}: a count of I/O threads, 0 or more");
        if (sockets is int sk && (sk < 1 || vcpus % sk != 0))
            throw new PlacementException($"--sockets {sk}: {vcpus} vCPUs do not make {sk} equal guest sockets (vCPUs " +
                "= sockets x cores x threads)");
        // The unit a cell holds a whole number of: one guest socket (one vCPU without a topology).
        var unit = sockets is int n ? vcpus / n : 1;
        var units = vcpus / unit;
        var reserve = ioThreads > 0 ? 1 : 0;
        var candidates = host.Nodes.Where(n => n.HasMemory && n.OnlineCpus.Any())
            .OrderByDescending(n => n.Free.KiB).ThenBy(n => n.Id).ToList();
        if (candidates.Count == 0) throw new PlacementException("the host has no NUMA node with both memory and " +
            "online CPUs");

        // vCPUs a node can take: its online CPUs less the reserve, in whole guest sockets.
        long Room(HostNode node) => Math.Max(0, node.OnlineCpus.Count() - reserve) / unit * unit;

        List<HostNode> chosen;
        if (cells is int k)
        {
            if (k < 1 || k > candidates.Count)
                throw new PlacementException($"--cells {k}: the host has {candidates.Count} usable NUMA node(s) " +
                    $"(nodes with memory and online CPUs: {HostTopology.Describe(candidates.Select(n => n.Id))})");
            if (k > vcpus) throw new PlacementException($"--cells {k}: more cells than the guest's {vcpus} vCPU(s)");
            if (k > units) throw new PlacementException($"--cells {k}: more cells than the guest's {units} sockets " +
                "(each cell holds whole sockets)");
            chosen = candidates.Take(k).ToList();
            Require(chosen, vcpus, memory, $"the {k} node(s) with the most free memory", Room, unit, reserve);
        }
        else
        {
            Require(candidates, vcpus, memory, "all usable nodes together", Room, unit, reserve);
            var fewest = Enumerable.Range(1, candidates.Count).Select(n => candidates.Take(n).ToList())
                .First(set => set.Sum(Room) >= vcpus && set.Sum(n => n.Free.KiB) >= memory.KiB);
            chosen = fewest.Count <= units ? fewest
                : throw new PlacementException($"{memory.Describe()} needs the free memory of {fewest.Count} NUMA " +
                    $"nodes (node {HostTopology.Describe(fewest.Select(n => n.Id))}), but each guest cell needs a " +
                    $"{(unit == 1 ? "vCPU" : "whole guest socket")} and the guest has {units}");
        }
        chosen = [.. chosen.OrderBy(n => n.Id)];
        if (chosen.FirstOrDefault(n => Room(n) == 0) is { } full)
            throw new PlacementException($"node {full.Id} has {full.OnlineCpus.Count()} online CPUs: no room for a " +
                $"guest socket of {unit} vCPUs" +
                (reserve > 0 ? " besides a CPU for the I/O threads and the emulator" : ""));

        var shares = Split(units, chosen.Select(n => Room(n) / unit).ToList(), 1).Select(s => (int)s * unit).ToList();
        // Whole MiB per cell when the size allows it (what an administrator would write), else KiB.
        var granule = memory.KiB % 1024 == 0 && memory.KiB / 1024 >= chosen.Count ? 1024L : 1L;
        var memShares = SplitMemory(memory.KiB / granule, shares, chosen.Select(n => n.Free.KiB / granule).ToList())
            .Select(g => new MemorySize(g * granule)).ToList();

        var result = new List<SuggestedCell>();
        var pins = new List<VcpuPin>();
        var freeCores = new List<List<CpuSet>>();
        var next = 0;
        for (var i = 0; i < chosen.Count; i++)
        {
            var byCore = ByCore(chosen[i]).ToList();
            var hostCpus = byCore.Take(shares[i]).ToList();
            for (var j = 0; j < hostCpus.Count; j++)
                pins.Add(new VcpuPin(next + j, next + j, CpuSet.Of([hostCpus[j]])));
            result.Add(new SuggestedCell(chosen[i].Id, CpuSet.Range(next, next + shares[i] - 1),
                hostCpus, memShares[i]));
            // What the vCPUs leave, a core at a time: a vCPU's free thread sibling first, then whole free cores.
            freeCores.Add([.. byCore.Skip(shares[i])
                .GroupBy(c => host.Cpu(c)?.Siblings?.ToString() ?? $"cpu{c}")
                .Select(g => CpuSet.Of(g))]);
            next += shares[i];
        }
        CpuSet? emulator = null;
        var ioPins = new List<IoThreadPin>();
        if (ioThreads > 0)
        {
            for (var t = 0; t < ioThreads; t++)
            {
                var cores = freeCores[t % chosen.Count];
                ioPins.Add(new IoThreadPin(t + 1, cores[t / chosen.Count % cores.Count]));
            }
            emulator = CpuSet.Of(freeCores.SelectMany(c => c).SelectMany(c => c.Ids));
        }
        var nodes = CpuSet.Of(chosen.Select(n => n.Id));
        var mode = HostChecks.Relaxed(nodes);
        return new Suggestion(new CpuTune(pins, emulator, ioPins), new NumaTune(mode, nodes),
            new GuestNuma([.. result.Select(c => new GuestCell(c.Vcpus, c.Memory, CpuSet.Of([c.HostNode])))]), result);
    }

    private static void Require(List<HostNode> nodes, int vcpus, MemorySize memory, string which,
        Func<HostNode, long> room, int unit, int reserve)
    {
        var cpus = nodes.Sum(n => n.OnlineCpus.Count());
        var free = new MemorySize(nodes.Sum(n => n.Free.KiB));
        var fits = nodes.Sum(room);
        if (fits < vcpus)
        {
            var plus = reserve > 0 ? " plus one per guest cell for the I/O threads and the emulator" : "";
            var whole = unit > 1 ? $", room for {fits} vCPUs in whole guest sockets of {unit}" : "";
            throw new PlacementException($"{vcpus} vCPUs need {vcpus} online host CPUs (one each){plus}, but {which} " +
                $"(node {HostTopology.Describe(nodes.Select(n => n.Id))}) have {cpus}{whole}");
        }
        if (free < memory)
            throw new PlacementException($"{memory.Describe()} does not fit: {which} (node " +
                $"{HostTopology.Describe(nodes.Select(n => n.Id))}) have {free.Describe()} free");
    }

    /// <summary>A node's online CPUs, a whole core (thread siblings) at a time, cores in order of their first
    /// CPU.</summary>
    private static IEnumerable<int> ByCore(HostNode node) =>
        node.OnlineCpus
            .GroupBy(c => c.Siblings?.ToString() ?? $"cpu{c.Id}")
            .OrderBy(g => g.Min(c => c.Id))
            .SelectMany(g => g.Select(c => c.Id).Order());

    /// <summary>Splits <paramref name="total"/> as evenly as the caps allow (water-filling), each share at least
    /// <paramref name="min"/>.</summary>
    internal static List<long> Split(long total, IReadOnlyList<long> caps, long min)
    {
        var shares = new long[caps.Count];
        var order = Enumerable.Range(0, caps.Count).OrderBy(i => caps[i]).ThenBy(i => i).ToList();
        var remaining = total;
        for (var k = 0; k < order.Count; k++)
        {
            var i = order[k];
            var left = order.Count - k;
            var share = Math.Min(caps[i], (remaining + left - 1) / left);
            shares[i] = Math.Max(share, min);
            remaining -= shares[i];
        }
        if (remaining != 0) throw new PlacementException($"cannot split {total} over capacities " +
            $"{string.Join(", ", caps)}");
        return [.. shares];
    }

    /// <summary>Memory (in granules) in proportion to the vCPU shares, capped by each node's free granules.</summary>
    private static List<long> SplitMemory(long total, IReadOnlyList<int> weights, IReadOnlyList<long> caps)
    {
        var shares = new long[weights.Count];
        var open = Enumerable.Range(0, weights.Count).ToList();
        var remaining = total;
        while (open.Count > 0)
        {
            var weight = open.Sum(i => (long)weights[i]);
            var capped = open.Where(i => remaining * weights[i] / weight >= caps[i]).ToList();
            if (capped.Count == 0)
            {
                var given = 0L;
                foreach (var i in open) { shares[i] = remaining * weights[i] / weight; given += shares[i]; }
                // Rounding leftovers go, a granule at a time, to the nodes with the most room.
                for (var left = remaining - given; left > 0;)
                    foreach (var i in open.OrderByDescending(i => caps[i] - shares[i]).ThenBy(i => i))
                    {
                        if (left == 0 || shares[i] >= caps[i]) continue;
                        shares[i]++; left--;
                    }
                break;
            }
            foreach (var i in capped) { shares[i] = caps[i]; remaining -= caps[i]; open.Remove(i); }
        }
        if (shares.Sum() != total) throw new PlacementException("the memory does not fit in the chosen nodes' free " +
            "memory (in whole MiB)");
        for (var i = 0; i < shares.Length; i++)
            if (shares[i] < 1) throw new PlacementException($"cell {i} would get no memory: its node has too little " +
                "free");
        return [.. shares];
    }
}
