using System.Globalization;

namespace Largeguest.Tests.Host;

/// <summary>
/// A sysfs tree built on disk the way the kernel lays it out (devices/system/node/nodeN/{cpulist,meminfo,
/// hugepages}, devices/system/cpu/{online,cpuN/topology}); offline CPUs have no topology directory, as on a
/// real kernel. Deleted on dispose.
/// </summary>
public sealed class SysfsFixture : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("lg-sysfs-").FullName;
    private readonly SortedSet<int> _online = [];
    private readonly SortedSet<int> _present = [];
    private readonly SortedSet<int> _nodes = [];

    private string NodeDir(int id) => Path.Combine(Root, "devices", "system", "node", $"node{id}");
    private string CpuDir(int id) => Path.Combine(Root, "devices", "system", "cpu", $"cpu{id}");

    public SysfsFixture()
    {
        Directory.CreateDirectory(Path.Combine(Root, "devices", "system", "node"));
        Directory.CreateDirectory(Path.Combine(Root, "devices", "system", "cpu"));
        WriteOnline();
    }

    /// <summary>A node with the given CPU list (may be empty), memory in KiB and huge page pools.</summary>
    public SysfsFixture Node(int id, string cpulist, long totalKiB, long freeKiB, params (long SizeKiB, long Total,
        long Free)[] hugePages)
    {
        var dir = NodeDir(id);
        Directory.CreateDirectory(dir);
        _nodes.Add(id);
        File.WriteAllText(Path.Combine(Root, "devices", "system", "node", "online"),
            Largeguest.Grammar.CpuSet.Format(_nodes) + "\n");
        File.WriteAllText(Path.Combine(dir, "cpulist"), cpulist + "\n");
        File.WriteAllText(Path.Combine(dir, "meminfo"), string.Create(CultureInfo.InvariantCulture,
            $"Node {id} MemTotal:       {totalKiB} kB\nNode {id} MemFree:        {freeKiB} kB\nNode {id} MemUsed:    " +
                $"    {totalKiB - freeKiB} kB\nNode {id} Active:              0 kB\n"));
        foreach (var (size, total, free) in hugePages)
        {
            var pool = Path.Combine(dir, "hugepages", $"hugepages-{size}kB");
            Directory.CreateDirectory(pool);
            File.WriteAllText(Path.Combine(pool, "nr_hugepages"), $"{total}\n");
            File.WriteAllText(Path.Combine(pool, "free_hugepages"), $"{free}\n");
            File.WriteAllText(Path.Combine(pool, "surplus_hugepages"), "0\n");
        }
        return this;
    }

    /// <summary>An online CPU with its topology files, or an offline one (no topology directory, online=0).</summary>
    public SysfsFixture Cpu(int id, int socket, int core, string siblings, bool online = true)
    {
        var dir = CpuDir(id);
        Directory.CreateDirectory(dir);
        if (id != 0) File.WriteAllText(Path.Combine(dir, "online"), online ? "1\n" : "0\n");
        if (online)
        {
            var topology = Path.Combine(dir, "topology");
            Directory.CreateDirectory(topology);
            File.WriteAllText(Path.Combine(topology, "physical_package_id"), $"{socket}\n");
            File.WriteAllText(Path.Combine(topology, "die_id"), "0\n");
            File.WriteAllText(Path.Combine(topology, "core_id"), $"{core}\n");
            File.WriteAllText(Path.Combine(topology, "thread_siblings_list"), siblings + "\n");
            _online.Add(id);
        }
        else _online.Remove(id);
        _present.Add(id);
        WriteOnline();
        return this;
    }

    /// <summary>
    /// Takes a CPU offline the way x86 does: out of the online list and out of its node's <c>cpulist</c>,
    /// topology directory gone, only its <c>cpuN/nodeM</c> link still naming the node.
    /// </summary>
    public SysfsFixture Offline(int id, int node)
    {
        Cpu(id, 0, 0, "", online: false);
        Directory.CreateDirectory(Path.Combine(CpuDir(id), $"node{node}"));
        var cpulist = Path.Combine(NodeDir(node), "cpulist");
        var text = File.ReadAllText(cpulist).Trim();
        var rest = text.Length == 0 ? [] : Largeguest.Grammar.CpuSet.Parse(text).Ids.Where(c => c != id).ToList();
        File.WriteAllText(cpulist, (rest.Count == 0 ? "" : Largeguest.Grammar.CpuSet.Format(rest)) + "\n");
        return this;
    }

    private void WriteOnline()
    {
        File.WriteAllText(Path.Combine(Root, "devices", "system", "cpu", "online"),
            (_online.Count == 0 ? "" : Largeguest.Grammar.CpuSet.Format(_online)) + "\n");
        File.WriteAllText(Path.Combine(Root, "devices", "system", "cpu", "present"),
            (_present.Count == 0 ? "" : Largeguest.Grammar.CpuSet.Format(_present)) + "\n");
    }

    /// <summary>
    /// A symmetric host: <paramref name="nodes"/> sockets (one node each), <paramref name="cores"/> cores per node, two
    /// threads per core numbered as Intel does (thread 1 of core c is c + all cores), <paramref name="memoryGiB"/> per
    /// node of which three quarters free, and a 2 MiB pool of 512 pages (256 free) per node.
    /// </summary>
    public static SysfsFixture Symmetric(int nodes, int cores, int memoryGiB = 16)
    {
        var f = new SysfsFixture();
        var totalCores = nodes * cores;
        for (var n = 0; n < nodes; n++)
        {
            var first = n * cores;
            var cpulist = $"{first}-{first + cores - 1},{first + totalCores}-{first + totalCores + cores - 1}";
            f.Node(n, cpulist, memoryGiB * 1048576L, memoryGiB * 786432L, (2048, 512, 256));
            for (var c = 0; c < cores; c++)
            {
                var a = first + c;
                var b = a + totalCores;
                f.Cpu(a, n, c, $"{a},{b}").Cpu(b, n, c, $"{a},{b}");
            }
        }
        return f;
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}
