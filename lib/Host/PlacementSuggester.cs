using Largeguest.Grammar;

namespace Largeguest.Host;

/// <summary>One guest cell of a suggestion: the host node it lives on, its vCPUs and their host CPUs, its memory.</summary>
public sealed record SuggestedCell(int HostNode, CpuSet Vcpus, IReadOnlyList<int> HostCpus, MemorySize Memory);

/// <summary>A placement as property values that <c>largeguest check</c> and the hook accept.</summary>
public sealed record Suggestion(CpuTune CpuTune, NumaTune NumaTune, GuestNuma GuestNuma, IReadOnlyList<SuggestedCell> Cells)
{
    public IEnumerable<(string Name, string Value)> Properties =>
    [
        (LargeguestProperties.Cputune, CpuTune.ToString()),
        (LargeguestProperties.Numatune, NumaTune.ToString()),
        (LargeguestProperties.Guestnuma, GuestNuma.ToString()),
    ];

    /// <summary>The engine's custom-property form: <c>name=value;name=value</c>.</summary>
    public string PropertyString => string.Join(";", Properties.Select(p => $"{p.Name}={p.Value}"));
}

/// <summary>The host cannot take the guest as asked; the message shows the numbers.</summary>
public sealed class PlacementException(string message) : Exception(message);

/// <summary>
/// Suggests a placement for a guest of N vCPUs and M memory, as a pure function of the host model:
/// the fewest NUMA nodes (with memory and online CPUs, most free memory first) that hold both, or exactly
/// <c>cells</c> of them; one guest cell per host node; vCPUs spread evenly and pinned one-to-one to host
/// CPUs taken a whole core at a time (thread siblings together); memory split in proportion to the vCPUs
/// and capped by each node's free memory. Memory mode: <c>preferred</c> on one node, <c>interleave</c>
/// (which on each one-node cell binding behaves as preferred) on several — see docs/topology.md.
/// </summary>
public static class PlacementSuggester
{
    public static Suggestion Suggest(HostTopology host, int vcpus, MemorySize memory, int? cells = null)
    {
        if (vcpus < 1) throw new PlacementException($"--vcpus {vcpus}: a guest needs at least one vCPU");
        if (memory.KiB < 1) throw new PlacementException("--memory: a guest needs memory");
        var candidates = host.Nodes.Where(n => n.HasMemory && n.OnlineCpus.Any())
            .OrderByDescending(n => n.Free.KiB).ThenBy(n => n.Id).ToList();
        if (candidates.Count == 0) throw new PlacementException("the host has no NUMA node with both memory and online CPUs");

        List<HostNode> chosen;
        if (cells is int k)
        {
            if (k < 1 || k > candidates.Count)
                throw new PlacementException($"--cells {k}: the host has {candidates.Count} usable NUMA node(s) (nodes with memory and online CPUs: {HostTopology.Describe(candidates.Select(n => n.Id))})");
            if (k > vcpus) throw new PlacementException($"--cells {k}: more cells than the guest's {vcpus} vCPU(s)");
            chosen = candidates.Take(k).ToList();
            Require(chosen, vcpus, memory, $"the {k} node(s) with the most free memory");
        }
        else
        {
            Require(candidates, vcpus, memory, "all usable nodes together");
            var fewest = Enumerable.Range(1, candidates.Count).Select(n => candidates.Take(n).ToList()).First(set => Fits(set, vcpus, memory));
            chosen = fewest.Count <= vcpus ? fewest
                : throw new PlacementException($"{memory.Describe()} needs the free memory of {fewest.Count} NUMA nodes " +
                    $"(node {HostTopology.Describe(fewest.Select(n => n.Id))}), but each guest cell needs a vCPU and the guest has {vcpus}");
        }
        chosen = [.. chosen.OrderBy(n => n.Id)];

        var shares = Split(vcpus, chosen.Select(n => (long)n.OnlineCpus.Count()).ToList(), 1).Select(s => (int)s).ToList();
        // Whole MiB per cell when the size allows it (what an administrator would write), else KiB.
        var granule = memory.KiB % 1024 == 0 && memory.KiB / 1024 >= chosen.Count ? 1024L : 1L;
        var memShares = SplitMemory(memory.KiB / granule, shares, chosen.Select(n => n.Free.KiB / granule).ToList())
            .Select(g => new MemorySize(g * granule)).ToList();

        var result = new List<SuggestedCell>();
        var pins = new List<VcpuPin>();
        var next = 0;
        for (var i = 0; i < chosen.Count; i++)
        {
            var hostCpus = ByCore(chosen[i]).Take(shares[i]).ToList();
            for (var j = 0; j < hostCpus.Count; j++) pins.Add(new VcpuPin(next + j, next + j, CpuSet.Of([hostCpus[j]])));
            result.Add(new SuggestedCell(chosen[i].Id, CpuSet.Range(next, next + shares[i] - 1), hostCpus, memShares[i]));
            next += shares[i];
        }
        var nodes = CpuSet.Of(chosen.Select(n => n.Id));
        var mode = HostChecks.Relaxed(nodes);
        return new Suggestion(new CpuTune(pins, null), new NumaTune(mode, nodes),
            new GuestNuma([.. result.Select(c => new GuestCell(c.Vcpus, c.Memory, CpuSet.Of([c.HostNode])))]), result);
    }

    private static bool Fits(List<HostNode> nodes, int vcpus, MemorySize memory) =>
        nodes.Sum(n => n.OnlineCpus.Count()) >= vcpus && nodes.Sum(n => n.Free.KiB) >= memory.KiB;

    private static void Require(List<HostNode> nodes, int vcpus, MemorySize memory, string which)
    {
        var cpus = nodes.Sum(n => n.OnlineCpus.Count());
        var free = new MemorySize(nodes.Sum(n => n.Free.KiB));
        if (cpus < vcpus)
            throw new PlacementException($"{vcpus} vCPUs need {vcpus} online host CPUs (one each), but {which} (node {HostTopology.Describe(nodes.Select(n => n.Id))}) have {cpus}");
        if (free < memory)
            throw new PlacementException($"{memory.Describe()} does not fit: {which} (node {HostTopology.Describe(nodes.Select(n => n.Id))}) have {free.Describe()} free");
    }

    /// <summary>A node's online CPUs, a whole core (thread siblings) at a time, cores in order of their first CPU.</summary>
    private static IEnumerable<int> ByCore(HostNode node) =>
        node.OnlineCpus
            .GroupBy(c => c.Siblings?.ToString() ?? $"cpu{c.Id}")
            .OrderBy(g => g.Min(c => c.Id))
            .SelectMany(g => g.Select(c => c.Id).Order());

    /// <summary>Splits <paramref name="total"/> as evenly as the caps allow (water-filling), each share at least <paramref name="min"/>.</summary>
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
        if (remaining != 0) throw new PlacementException($"cannot split {total} over capacities {string.Join(", ", caps)}");
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
        if (shares.Sum() != total) throw new PlacementException("the memory does not fit in the chosen nodes' free memory (in whole MiB)");
        for (var i = 0; i < shares.Length; i++)
            if (shares[i] < 1) throw new PlacementException($"cell {i} would get no memory: its node has too little free");
        return [.. shares];
    }
}
