using System.Globalization;
using Largeguest.Grammar;
using Largeguest.IO;

namespace Largeguest.Host;

/// <summary>
/// Reads the host topology from sysfs under a root (<c>/sys</c>, or a fixture tree in tests):
/// <c>devices/system/node/node*/{cpulist,meminfo,hugepages}</c> and <c>devices/system/cpu/{online,cpu*/topology}</c>.
/// Node ids come from <c>node/online</c> (else the <c>node*</c> directories), holes kept; a node's CPUs are its
/// <c>cpulist</c> plus the present CPUs that are in no node's list (x86 drops an offline CPU from its node's mask) and
/// whose <c>cpuN/nodeM</c> link names the node; a node with <c>MemTotal</c> 0 is memoryless.
/// Only small directories are listed: a node directory holds one <c>memoryN</c> entry per memory block
/// (thousands on a large host), so it is never enumerated.
/// </summary>
public static class SysfsTopologyReader
{
    /// <param name="cpuTopology">
    /// Also read each online CPU's socket, die, core and thread siblings (four files per CPU). The hook's checks need
    /// only which CPUs exist and are online, so it skips them; <c>topology</c> and <c>suggest</c> read them.
    /// </param>
    /// <param name="hugePages">Also read the huge page pools (a directory listing per node); the hook needs them only
    /// for a huge-page-backed guest.</param>
    /// <remarks>Listing directories costs the AOT hook more start-up time than all the file reads together, so the
    /// common path lists none: node ids, CPU lists, online CPUs and memory are plain files.</remarks>
    public static HostTopology Read(string root, bool cpuTopology = true, bool hugePages = true)
    {
        var nodeDir = Path.Combine(root, "devices", "system", "node");
        var cpuDir = Path.Combine(root, "devices", "system", "cpu");
        if (!Directory.Exists(nodeDir))
            throw new TopologyException($"sysfs: {nodeDir} does not exist (not a sysfs root, or a kernel without " +
                "NUMA support)");
        try
        {
            var online = ReadOnlineCpus(cpuDir);
            var nodeDirs = new List<(int Id, string Path)>();
            if (ReadListOrNull(Path.Combine(nodeDir, "online")) is { } onlineNodes)
            {
                foreach (var id in onlineNodes)
                {
                    var path = Path.Combine(nodeDir, $"node{id}");
                    if (Directory.Exists(path)) nodeDirs.Add((id, path));
                }
            }
            else nodeDirs.AddRange(NumberedEntries(nodeDir, "node"));
            if (nodeDirs.Count == 0) throw new TopologyException($"sysfs: {nodeDir} lists no node");
            var cpusOf = new Dictionary<int, SortedSet<int>>();
            var listed = new HashSet<int>();
            foreach (var (id, path) in nodeDirs)
            {
                var set = new SortedSet<int>(ReadList(Path.Combine(path, "cpulist")));
                cpusOf[id] = set;
                listed.UnionWith(set);
            }
            foreach (var cpu in ReadList(Path.Combine(cpuDir, "present")))
            {
                if (listed.Contains(cpu)) continue;
                var cpuPath = Path.Combine(cpuDir, $"cpu{cpu}");
                if (!Directory.Exists(cpuPath)) continue;
                foreach (var (node, _) in NumberedEntries(cpuPath, "node"))
                    if (cpusOf.TryGetValue(node, out var set)) set.Add(cpu);
            }
            var nodes = new List<HostNode>(nodeDirs.Count);
            foreach (var (id, path) in nodeDirs)
                nodes.Add(ReadNode(id, path, cpusOf[id], cpuDir, online, cpuTopology, hugePages));
            return new HostTopology(nodes, $"sysfs {root}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new TopologyException($"sysfs: cannot read {root}: {e.Message}", e); }
    }

    private static HostNode ReadNode(int id, string dir, SortedSet<int> ids, string cpuDir,
        Func<int, bool> online, bool cpuTopology, bool hugePages)
    {
        var cpus = new List<HostCpu>(ids.Count);
        foreach (var cpu in ids)
            cpus.Add(cpuTopology ? ReadCpu(cpu, cpuDir, online(cpu)) : new HostCpu(cpu, online(cpu)));
        var (total, free) = ReadMeminfo(Path.Combine(dir, "meminfo"));
        return new HostNode(id, cpus, total, free, hugePages ? ReadHugePages(Path.Combine(dir, "hugepages")) : []);
    }

    private static HostCpu ReadCpu(int id, string cpuDir, bool online)
    {
        var topology = Path.Combine(cpuDir, $"cpu{id}", "topology");
        if (!online || !Directory.Exists(topology)) return new HostCpu(id, online);
        int? Number(string name)
        {
            var file = Path.Combine(topology, name);
            if (SmallFile.Read(file)?.Trim() is not { } text) return null;
            return int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
                && n >= 0 ? n
                : text == "-1" ? null
                : throw new TopologyException($"sysfs: {file}: '{text}' is not a number");
        }
        var siblings = ReadList(Path.Combine(topology, "thread_siblings_list"));
        return new HostCpu(id, true, Number("physical_package_id"), Number("die_id"), Number("core_id"),
            siblings.Count > 0 ? CpuSet.Of(siblings) : CpuSet.Of([id]));
    }

    /// <summary>
    /// The kernel's list of online CPUs. Without it (very old kernels) a CPU is online unless its own
    /// <c>online</c> file says 0; CPU 0 often has no such file because it cannot be taken offline.
    /// </summary>
    private static Func<int, bool> ReadOnlineCpus(string cpuDir)
    {
        if (ReadListOrNull(Path.Combine(cpuDir, "online")) is { } list)
        {
            var set = new HashSet<int>(list);
            return set.Contains;
        }
        return cpu => SmallFile.Read(Path.Combine(cpuDir, $"cpu{cpu}", "online"))?.Trim() != "0";
    }

    /// <summary><c>Node N MemTotal: 123 kB</c> lines; a node without the file or the lines has no memory.</summary>
    private static (MemorySize Total, MemorySize Free) ReadMeminfo(string file)
    {
        long total = 0, free = 0;
        foreach (var line in (SmallFile.Read(file) ?? "").AsSpan().EnumerateLines())
        {
            var colon = line.IndexOf(':');
            if (colon < 0) continue;
            var head = line[..colon].TrimEnd();
            var key = head[(head.LastIndexOf(' ') + 1)..];
            var isTotal = key.SequenceEqual("MemTotal");
            if (!isTotal && !key.SequenceEqual("MemFree")) continue;
            var value = line[(colon + 1)..].Trim();
            if (value.EndsWith("kB", StringComparison.Ordinal)) value = value[..^2].Trim();
            if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var kib))
                throw new TopologyException($"sysfs: {file}: {key} '{line[(colon + 1)..].Trim()}' is not a size in kB");
            if (isTotal) total = kib; else free = kib;
        }
        return (new MemorySize(total), new MemorySize(free));
    }

    /// <summary><c>hugepages/hugepages-2048kB/{nr_hugepages,free_hugepages}</c>, smallest page size first.</summary>
    private static List<PagePool> ReadHugePages(string dir)
    {
        var pools = new List<PagePool>();
        if (!Directory.Exists(dir)) return pools;
        foreach (var pool in Directory.EnumerateDirectories(dir))
        {
            var name = Path.GetFileName(pool);
            if (!name.StartsWith("hugepages-", StringComparison.Ordinal)
                || !name.EndsWith("kB", StringComparison.Ordinal))
                continue;
            if (!long.TryParse(name["hugepages-".Length..^2], NumberStyles.None, CultureInfo.InvariantCulture,
                    out var size)
                || size <= 0)
                throw new TopologyException($"sysfs: {pool}: unexpected huge page directory name");
            pools.Add(new PagePool(size, Count(Path.Combine(pool, "nr_hugepages")) ?? 0,
                Count(Path.Combine(pool, "free_hugepages"))));
        }
        return [.. pools.OrderBy(p => p.SizeKiB)];

        static long? Count(string file)
        {
            if (SmallFile.Read(file)?.Trim() is not { } text) return null;
            return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
                : throw new TopologyException($"sysfs: {file}: '{text}' is not a number");
        }
    }

    /// <summary>A kernel id list (<c>0-3,8</c>); an empty file (a CPU-less node) is the empty list, a missing one
    /// null.</summary>
    private static IReadOnlyList<int>? ReadListOrNull(string file)
    {
        if (SmallFile.Read(file)?.Trim() is not { } text) return null;
        if (text.Length == 0) return [];
        try { return CpuSet.Parse(text).Ids; }
        catch (SyntaxException e) { throw new TopologyException($"sysfs: {file}: {e.Problem}"); }
    }

    /// <summary><see cref="ReadListOrNull"/>, a missing file being the empty list.</summary>
    private static IReadOnlyList<int> ReadList(string file) => ReadListOrNull(file) ?? [];

    /// <summary>Entries named <c>{prefix}N</c>, by id.</summary>
    private static IEnumerable<(int Id, string Path)> NumberedEntries(string dir, string prefix) =>
        Directory.EnumerateFileSystemEntries(dir, prefix + "*")
            .Select(path => (Name: Path.GetFileName(path), Path: path))
            .Where(e => e.Name.Length > prefix.Length
                && e.Name[prefix.Length..].All(char.IsAsciiDigit)
                && e.Name.Length - prefix.Length <= 6)
            .Select(e => (int.Parse(e.Name[prefix.Length..], CultureInfo.InvariantCulture), e.Path))
            .OrderBy(e => e.Item1);
}
