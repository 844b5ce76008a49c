using System.Diagnostics;
using Largeguest.Grammar;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.E2E;

/// <summary>All end-to-end tests share one private libvirtd (they run one after another).</summary>
[CollectionDefinition(Name)]
public sealed class E2ECollection : ICollectionFixture<PrivateLibvirt>
{
    public const string Name = "e2e: private libvirtd";
}

/// <summary>
/// A private libvirtd + virtlogd started by scripts/e2e/start-libvirtd.sh (own mount namespace, own socket,
/// QEMU as root) and torn down by scripts/e2e/stop-libvirtd.sh. When it cannot start, or neither KVM nor
/// TCG can run a guest, construction throws and every end-to-end test FAILS with the reason: this
/// machine has root, libvirt and /dev/kvm, so an end-to-end test that cannot run is a broken machine.
/// </summary>
public sealed class PrivateLibvirt : IDisposable
{
    public string Dir { get; }
    public string Uri { get; }
    /// <summary>"kvm" or "tcg".</summary>
    public string Accel { get; }
    public string AccelReason { get; }
    public E2EFigures Figures { get; } = new();
    public HostCpus Host { get; }

    /// <summary>The domain type to write into guest XML: kvm, or qemu (TCG).</summary>
    public string DomainType => Accel == "kvm" ? "kvm" : "qemu";
    /// <summary>QEMU names vCPU threads "CPU n/KVM" or "CPU n/TCG".</summary>
    public string VcpuThreadSuffix => Accel == "kvm" ? "KVM" : "TCG";

    private static string Script(string name) => Path.Combine(PublishedBinary.RepoRoot, "scripts", "e2e", name);

    public PrivateLibvirt()
    {
        var clock = Stopwatch.StartNew();
        Host = HostCpus.Read();
        CmdResult start;
        try
        {
            start = Cmd.Run(Script("start-libvirtd.sh"), [], TimeSpan.FromMinutes(10),
                new Dictionary<string, string> { ["LARGEGUEST_E2E_OWNER"] = Environment.ProcessId.ToString() });
        }
        catch (Exception e)
        {
            throw new InvalidOperationException($"E2E CANNOT RUN: scripts/e2e/start-libvirtd.sh: {e.Message}", e);
        }
        if (!start.Ok)
            throw new InvalidOperationException(
                $"E2E CANNOT RUN: the private libvirtd did not start (scripts/e2e/start-libvirtd.sh exit " +
                    $"{start.ExitCode}): {start.Stderr.Trim()}");
        var values = Cmd.KeyValues(start.Stdout);
        string Value(string key) => values.TryGetValue(key, out var v) ? v
            : throw new InvalidOperationException($"E2E CANNOT RUN: start-libvirtd.sh printed no {key}= line: " +
                $"{start.Stdout}");
        Dir = Value("E2E_DIR");
        Uri = Value("LIBVIRT_URI");
        Accel = Value("ACCEL");
        AccelReason = Value("ACCEL_REASON");
        Figures.StartSeconds = clock.Elapsed.TotalSeconds;
        Figures.Print($"e2e accelerator: {Accel} ({AccelReason})");
        Figures.Print($"e2e host: online CPUs {Host.OnlineCpus}, NUMA nodes with memory {Host.MemoryNodes}; " +
            $"private libvirtd {Dir} up in {Figures.StartSeconds:0.0} s");
    }

    /// <summary>virsh against the private daemon.</summary>
    public CmdResult Virsh(params string[] args) => Cmd.Run("virsh", ["-q", "-c", Uri, .. args],
        TimeSpan.FromSeconds(90));

    /// <summary>virsh that must succeed: its stdout.</summary>
    public string VirshOk(params string[] args) => Virsh(args).OrThrow();

    /// <summary>The QEMU process of a running guest (libvirt's pid file in the private /run/libvirt/qemu).</summary>
    public int QemuPid(string name)
    {
        var file = Path.Combine(Dir, "run", "qemu", name + ".pid");
        if (!File.Exists(file))
            throw new InvalidOperationException($"no QEMU pid file {file}: is guest {name} running?");
        return int.Parse(File.ReadAllText(file).Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A directory for XML files handed to virsh.</summary>
    public string XmlDir => Directory.CreateDirectory(Path.Combine(Dir, "xml")).FullName;

    /// <summary>Destroys and undefines a guest, ignoring "not running"/"not defined".</summary>
    public void Remove(string name)
    {
        Virsh("destroy", name);
        Virsh("undefine", name);
    }

    public void Dispose()
    {
        var clock = Stopwatch.StartNew();
        if (Figures.ChecksFailed > 0 || Figures.CasesFailed > 0) KeepLogs();
        var stop = Cmd.Run(Script("stop-libvirtd.sh"), [Dir], TimeSpan.FromMinutes(2));
        Figures.StopSeconds = clock.Elapsed.TotalSeconds;
        if (!stop.Ok) Figures.Print($"e2e WARNING: stop-libvirtd.sh exit {stop.ExitCode}: {stop.Stderr.Trim()}");
        Figures.PrintSummary();
    }

    private void KeepLogs()
    {
        var dest = Path.Combine(PublishedBinary.RepoRoot, ".build", "e2e-logs",
            DateTime.UtcNow.ToString("yyyyMMdd-HHmmss"));
        try
        {
            Directory.CreateDirectory(dest);
            Cmd.Run("cp", ["-r", Path.Combine(Dir, "log"), Path.Combine(Dir, "xml"), dest]);
            Figures.Print($"e2e logs of the failed run (libvirtd, virtlogd, QEMU, guest XML) kept in {dest}");
        }
        catch (Exception e) { Figures.Print($"e2e WARNING: could not keep logs in {dest}: {e.Message}"); }
    }
}

/// <summary>The host's online CPUs and NUMA nodes with memory, from sysfs.</summary>
public sealed record HostCpus(CpuSet OnlineCpus, CpuSet MemoryNodes)
{
    public static HostCpus Read() => new(
        CpuSet.Parse(File.ReadAllText("/sys/devices/system/cpu/online")),
        CpuSet.Parse(File.Exists("/sys/devices/system/node/has_memory")
            ? File.ReadAllText("/sys/devices/system/node/has_memory") : "0"));
}
