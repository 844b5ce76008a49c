using Largeguest.Grammar;

namespace Largeguest.Host;

/// <summary>
/// One logical CPU of the host. Socket, die, core and thread siblings are known only for online CPUs
/// (the kernel removes an offline CPU's topology, and libvirt reports an offline CPU as a bare id).
/// </summary>
public sealed record HostCpu(int Id, bool Online, int? Socket = null, int? Die = null,
    int? Core = null, CpuSet? Siblings = null);

/// <summary>A huge page pool of one node: page size, pages configured and pages free (null: not reported).</summary>
public sealed record PagePool(long SizeKiB, long Total, long? Free)
{
    internal MemorySize FreeMemory => new((Free ?? 0) * SizeKiB);
    public MemorySize TotalMemory => new(Total * SizeKiB);
}

/// <summary>
/// A NUMA node: its CPUs (online or not), its memory (zero for a memoryless node), and its huge page
/// pools. <see cref="Free"/> is the kernel's MemFree for the node, the figure libvirt reports too; it
/// does not include memory already set aside as huge pages.
/// </summary>
public sealed record HostNode(int Id, IReadOnlyList<HostCpu> Cpus, MemorySize Total, MemorySize Free,
    IReadOnlyList<PagePool> HugePages)
{
    public bool HasMemory => Total.KiB > 0;
    public IEnumerable<HostCpu> OnlineCpus => Cpus.Where(c => c.Online);
}

/// <summary>
/// The host as far as placement cares (docs/design.md section 5): NUMA nodes, their CPUs with socket/core/thread
/// siblings and online state, memory total and free per node, huge page pools. Node ids need not be
/// contiguous. Filled by <see cref="SysfsTopologyReader"/> or <see cref="LibvirtTopologyReader"/>.
/// </summary>
public sealed record HostTopology(IReadOnlyList<HostNode> Nodes, string Source)
{
    public HostNode? Node(int id)
    {
        for (var i = 0; i < Nodes.Count; i++)
            if (Nodes[i].Id == id) return Nodes[i];
        return null;
    }

    public IEnumerable<HostCpu> Cpus => Nodes.SelectMany(n => n.Cpus).OrderBy(c => c.Id);

    public HostCpu? Cpu(int id) => Find(id).Cpu;

    internal HostNode? NodeOfCpu(int cpu) => Find(cpu).Node;

    private (HostNode? Node, HostCpu? Cpu) Find(int cpu)
    {
        for (var i = 0; i < Nodes.Count; i++)
            for (var j = 0; j < Nodes[i].Cpus.Count; j++)
                if (Nodes[i].Cpus[j].Id == cpu) return (Nodes[i], Nodes[i].Cpus[j]);
        return (null, null);
    }

    /// <summary>Ids for messages, e.g. <c>0-15</c>, or <c>none</c>.</summary>
    public static string Describe(IEnumerable<int> ids)
    {
        var list = ids.Distinct().Order().ToList();
        return list.Count == 0 ? "none" : CpuSet.Format(list);
    }

    public string CpuIds => Describe(Cpus.Select(c => c.Id));
    public string OnlineCpuIds => Describe(Cpus.Where(c => c.Online).Select(c => c.Id));
    public string NodeIds => Describe(Nodes.Select(n => n.Id));
    public string NodeIdsWithMemory => Describe(Nodes.Where(n => n.HasMemory).Select(n => n.Id));
}

/// <summary>The host topology cannot be read from the configured source; the message says where and why.</summary>
public sealed class TopologyException(string message, Exception? inner = null) : Exception(message, inner);
