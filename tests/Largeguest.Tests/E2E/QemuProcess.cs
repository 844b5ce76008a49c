using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Largeguest.Grammar;

namespace Largeguest.Tests.E2E;

/// <summary>One thread of the QEMU process as the kernel reports it (/proc/PID/task/TID).</summary>
public sealed record QemuThread(int Tid, string Name, CpuSet CpusAllowed, string MemsAllowed)
{
    private static readonly Regex Vcpu = new(@"^CPU (\d+)/(KVM|TCG)$");

    /// <summary>The vCPU index of a "CPU n/KVM" (or "CPU n/TCG") thread, else null.</summary>
    public int? VcpuId => Vcpu.Match(Name) is { Success: true } m ? int.Parse(m.Groups[1].Value,
        CultureInfo.InvariantCulture) : null;
    public string? VcpuAccel => Vcpu.Match(Name) is { Success: true } m ? m.Groups[2].Value : null;
    public bool IsIoThread => Name.StartsWith("IO iothread", StringComparison.Ordinal);
}

/// <summary>A <c>-numa node,...</c> argument: the guest cell QEMU builds.</summary>
public sealed record NumaNodeArg(int NodeId, CpuSet Cpus, string? Memdev);

/// <summary>A <c>-object memory-backend-*</c>: the host memory behind a guest cell or DIMM, with its binding and
/// whether it is mapped shared (<c>share</c>: what a cell's <c>memAccess='shared'</c> asks for).</summary>
public sealed record MemoryBackend(string Id, string QomType, long SizeBytes, CpuSet? HostNodes, string? Policy,
    bool Shared = false);

/// <summary>A <c>-device pc-dimm</c>: hot-plugged memory in a guest cell.</summary>
public sealed record DimmDevice(string Id, int Node, string Memdev);

/// <summary>
/// A running QEMU seen from the kernel's side: its argv (/proc/PID/cmdline, as libvirt 9.0 spells it for
/// QEMU 7.2: JSON <c>-object</c>/<c>-device</c>, key=value <c>-numa</c>) and its threads' affinity.
/// </summary>
public sealed class QemuProcess
{
    public int Pid { get; }
    public IReadOnlyList<string> Argv { get; }
    public IReadOnlyList<QemuThread> Threads { get; }
    public IReadOnlyList<NumaNodeArg> NumaNodes { get; }
    public IReadOnlyList<MemoryBackend> Backends { get; }
    public IReadOnlyList<DimmDevice> Dimms { get; }
    /// <summary>The accelerator QEMU was started with (<c>-accel kvm</c> or <c>-machine ...,accel=kvm</c>).</summary>
    public string? Accel { get; }

    private QemuProcess(int pid, IReadOnlyList<string> argv, IReadOnlyList<QemuThread> threads)
    {
        Pid = pid;
        Argv = argv;
        Threads = threads;
        var numa = new List<NumaNodeArg>();
        var backends = new List<MemoryBackend>();
        var dimms = new List<DimmDevice>();
        for (var i = 0; i + 1 < argv.Count; i++)
        {
            var (opt, value) = (argv[i], argv[i + 1]);
            switch (opt)
            {
                case "-numa" when value.StartsWith("node,", StringComparison.Ordinal):
                    numa.Add(ParseNumaNode(value));
                    break;
                case "-object" when ParseObject(value) is { } backend:
                    backends.Add(backend);
                    break;
                case "-device" when ParseDimm(value) is { } dimm:
                    dimms.Add(dimm);
                    break;
                case "-accel":
                    Accel = value.Split(',')[0];
                    break;
                case "-machine" when KeyValues(value).FirstOrDefault(kv => kv.Key == "accel").Value is { } accel:
                    Accel ??= accel;
                    break;
            }
        }
        NumaNodes = numa;
        Backends = backends;
        Dimms = dimms;
    }

    public static QemuProcess Read(int pid)
    {
        var threads = new List<QemuThread>();
        foreach (var task in Directory.GetDirectories($"/proc/{pid}/task"))
        {
            try
            {
                var name = File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n');
                var status = File.ReadAllLines(Path.Combine(task, "status"));
                string Field(string key) => status.First(l => l.StartsWith(key + ":",
                    StringComparison.Ordinal))[(key.Length + 1)..].Trim();
                threads.Add(new QemuThread(int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture), name,
                    CpuSet.Parse(Field("Cpus_allowed_list")), Field("Mems_allowed_list")));
            }
            catch (Exception e) when (e is IOException or DirectoryNotFoundException) { /* thread ended meanwhile */ }
        }
        return Of(pid, File.ReadAllText($"/proc/{pid}/cmdline"), threads);
    }

    /// <summary>A QEMU seen from another kernel's /proc (the NUMA test host's): its raw cmdline and threads.</summary>
    public static QemuProcess Of(int pid, string cmdline, IEnumerable<QemuThread> threads) =>
        new(pid, cmdline.TrimEnd('\0').Split('\0'), threads.OrderBy(t => t.Tid).ToList());

    public MemoryBackend? Backend(string? id) => Backends.FirstOrDefault(b => b.Id == id);

    /// <summary>key=value pairs of a QEMU option string (keys may repeat, e.g. cpus=0-1,cpus=4).</summary>
    private static List<KeyValuePair<string, string>> KeyValues(string value) =>
        value.Split(',').Select(p => p.Split('=', 2))
            .Select(kv => new KeyValuePair<string, string>(kv[0], kv.Length > 1 ? kv[1] : "")).ToList();

    private static NumaNodeArg ParseNumaNode(string value)
    {
        var kv = KeyValues(value);
        var cpus = string.Join(',', kv.Where(p => p.Key == "cpus").Select(p => p.Value));
        return new NumaNodeArg(
            int.Parse(kv.First(p => p.Key == "nodeid").Value, CultureInfo.InvariantCulture),
            cpus.Length == 0 ? CpuSet.Of([]) : CpuSet.Parse(cpus),
            kv.FirstOrDefault(p => p.Key == "memdev").Value);
    }

    private static MemoryBackend? ParseObject(string value)
    {
        if (value.StartsWith('{'))
        {
            using var doc = JsonDocument.Parse(value);
            var o = doc.RootElement;
            var type = o.GetProperty("qom-type").GetString()!;
            if (!type.StartsWith("memory-backend-", StringComparison.Ordinal)) return null;
            CpuSet? nodes = o.TryGetProperty("host-nodes", out var hn)
                ? CpuSet.Of(hn.ValueKind == JsonValueKind.Array ? hn.EnumerateArray()
                    .Select(e => e.GetInt32()) : [hn.GetInt32()])
                : null;
            return new MemoryBackend(o.GetProperty("id").GetString()!, type, o.GetProperty("size").GetInt64(), nodes,
                o.TryGetProperty("policy", out var pol) ? pol.GetString() : null,
                o.TryGetProperty("share", out var share) && share.ValueKind == JsonValueKind.True);
        }
        var kv = KeyValues(value);
        if (!kv[0].Key.StartsWith("memory-backend-", StringComparison.Ordinal)) return null;
        var hostNodes = kv.Where(p => p.Key == "host-nodes").Select(p => p.Value).ToList();
        return new MemoryBackend(kv.First(p => p.Key == "id").Value, kv[0].Key,
            long.Parse(kv.First(p => p.Key == "size").Value, CultureInfo.InvariantCulture),
            hostNodes.Count == 0 ? null : CpuSet.Parse(string.Join(',', hostNodes)),
            kv.FirstOrDefault(p => p.Key == "policy").Value,
            kv.FirstOrDefault(p => p.Key == "share").Value is "on" or "yes" or "true");
    }

    private static DimmDevice? ParseDimm(string value)
    {
        if (!value.StartsWith('{')) return null;
        using var doc = JsonDocument.Parse(value);
        var o = doc.RootElement;
        if (o.GetProperty("driver").GetString() != "pc-dimm") return null;
        return new DimmDevice(o.TryGetProperty("id", out var id) ? id.GetString()! : "",
            o.GetProperty("node").GetInt32(), o.GetProperty("memdev").GetString()!);
    }
}
