using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Largeguest.Grammar;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.E2E;

/// <summary>The NUMA test hosts run one after another (each is a VM with libvirtd inside: two at once would
/// only slow both down on a 2-core machine).</summary>
[CollectionDefinition(Name)]
public sealed class NumaHostCollection
{
    public const string Name = "e2e: NUMA test hosts";
}

/// <summary>Two nodes of 1 GiB, one CPU each.</summary>
public sealed class TwoNodeHost() : NumaTestHost([1024, 1024]);

/// <summary>Four nodes of unequal size, node 2 memory-less (a CPU and no memory), one CPU each.</summary>
public sealed class FourNodeHost() : NumaTestHost([768, 512, 0, 256]);

/// <summary>
/// A test host with real NUMA nodes (docs/e2e.md, "The NUMA test host"): scripts/e2e/numa-host/start.sh boots
/// Debian's kernel in a QEMU VM with one memory backend per node and the outer machine's root read-only under a
/// tmpfs overlay; commands run inside through the virtio-serial agent (scripts/e2e/numa-host/agent.sh), and a
/// private libvirtd is started inside with the same scripts/e2e/start-libvirtd.sh as on the outer machine.
/// When it cannot start, construction throws and every test using it FAILS with the reason (never skips).
/// </summary>
public abstract class NumaTestHost : IDisposable
{
    private static string Script(string name) => Path.Combine(PublishedBinary.RepoRoot, "scripts", "e2e", name);

    private readonly Socket _agent;
    private readonly StreamReader _reader;
    private int _requests;

    /// <summary>Memory of each node in MiB (0: memory-less); node i has CPU i.</summary>
    public IReadOnlyList<int> NodeMiB { get; }
    public string Dir { get; }
    /// <summary>"kvm" or "tcg": what the test host itself runs on.</summary>
    public string Accel { get; }
    public string AccelReason { get; }
    public double BootSeconds { get; }
    /// <summary>The private libvirtd inside: its state dir and URI (as scripts/e2e/start-libvirtd.sh prints
    /// them).</summary>
    public string LibvirtDir { get; }
    public string LibvirtUri { get; }
    public E2EFigures Figures { get; } = new();
    public string Name => $"numa host {NodeMiB.Count} nodes";
    private readonly double _libvirtSeconds;
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    protected NumaTestHost(int[] nodeMiB)
    {
        NodeMiB = nodeMiB;
        var layout = string.Join(',', nodeMiB);
        CmdResult start;
        try
        {
            start = Cmd.Run(Script("numa-host/start.sh"), [layout], TimeSpan.FromMinutes(10),
                new Dictionary<string, string> { ["LARGEGUEST_E2E_OWNER"] = Environment.ProcessId.ToString() });
        }
        catch (Exception e)
        {
            throw new InvalidOperationException(
                $"E2E CANNOT RUN: scripts/e2e/numa-host/start.sh {layout}: {e.Message}", e);
        }
        if (!start.Ok)
            throw new InvalidOperationException(
                $"E2E CANNOT RUN: the NUMA test host ({layout} MiB) did not start (scripts/e2e/numa-host/start.sh " +
                    $"exit {start.ExitCode}): {start.Stderr.Trim()}");
        var values = Cmd.KeyValues(start.Stdout);
        string Value(string key) => values.TryGetValue(key, out var v) ? v
            : throw new InvalidOperationException($"E2E CANNOT RUN: numa-host/start.sh printed no {key}= line: " +
                $"{start.Stdout}");
        Dir = Value("NUMA_DIR");
        Accel = Value("ACCEL");
        AccelReason = Value("ACCEL_REASON");
        BootSeconds = double.Parse(Value("BOOT_SECONDS"), CultureInfo.InvariantCulture);
        try
        {
            (_agent, _reader) = Connect(Value("AGENT_SOCKET"));
            var clock = Stopwatch.StartNew();
            var inner = Run(Script("start-libvirtd.sh"), TimeSpan.FromMinutes(5));
            if (!inner.Ok)
                throw new InvalidOperationException($"the private libvirtd inside did not start (exit " +
                    $"{inner.ExitCode}): {inner.Stderr.Trim()}");
            var lv = Cmd.KeyValues(inner.Stdout);
            LibvirtDir = lv["E2E_DIR"];
            LibvirtUri = lv["LIBVIRT_URI"];
            _libvirtSeconds = clock.Elapsed.TotalSeconds;
        }
        catch (Exception e)
        {
            KeepLogs();
            Cmd.Run(Script("numa-host/stop.sh"), [Dir], TimeSpan.FromMinutes(1));
            throw new InvalidOperationException($"E2E CANNOT RUN: NUMA test host {layout} MiB ({Accel}): {e.Message}",
                e);
        }
        Figures.Print(string.Create(CultureInfo.InvariantCulture,
            $"e2e {Name} ({layout} MiB): {Accel} ({AccelReason}); booted in {BootSeconds:0.0} s, libvirtd inside up " +
                $"in {_libvirtSeconds:0.0} s"));
    }

    /// <summary>Connects to the agent and pings it until it answers: a request written while the agent reopens its
    /// port can be lost, so each ping goes on a fresh connection.</summary>
    private static (Socket, StreamReader) Connect(string path)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream,
                ProtocolType.Unspecified) { ReceiveTimeout = 5000 };
            try
            {
                socket.Connect(new UnixDomainSocketEndPoint(path));
                var reader = new StreamReader(new NetworkStream(socket), Encoding.ASCII);
                socket.Send(Encoding.ASCII.GetBytes($"0 10 {Convert.ToBase64String("true"u8)}\n"));
                if (reader.ReadLine() is { } line && line.StartsWith("0 0 ", StringComparison.Ordinal)) return (socket,
                    reader);
            }
            catch (Exception e) when (e is IOException or SocketException) { /* not answering yet */ }
            socket.Dispose();
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"the agent on {path} did not answer within 60 s");
            Thread.Sleep(500);
        }
    }

    /// <summary>Runs a bash script inside the test host (as root), with a time limit.</summary>
    public CmdResult Run(string script, TimeSpan? timeout = null)
    {
        var limit = (int)(timeout ?? TimeSpan.FromMinutes(2)).TotalSeconds;
        var id = Interlocked.Increment(ref _requests);
        lock (_agent)
        {
            _agent.ReceiveTimeout = (limit + 30) * 1000;
            _agent.Send(Encoding.ASCII.GetBytes($"{id} {limit} " +
                $"{Convert.ToBase64String(Encoding.UTF8.GetBytes(script))}\n"));
            while (true)
            {
                var line = _reader.ReadLine() ?? throw new IOException("the test host's agent closed the connection");
                var parts = line.Split(' ');
                if (parts[0] != id.ToString(CultureInfo.InvariantCulture)) continue; // a lost ping's late answer
                string Text(int i) =>
                    parts.Length > i ? Encoding.UTF8.GetString(Convert.FromBase64String(parts[i])) : "";
                var shown = script.Length > 200 ? script[..200] + "..." : script;
                return new CmdResult($"[{Name}] {shown}", int.Parse(parts[1], CultureInfo.InvariantCulture), Text(2),
                    Text(3));
            }
        }
    }

    /// <summary>A script that must succeed inside: its stdout.</summary>
    public string RunOk(string script, TimeSpan? timeout = null) => Run(script, timeout).OrThrow();

    /// <summary>virsh against the private libvirtd inside. Keepalive off (<c>-k 0</c>): under TCG on a loaded host the
    /// inner libvirtd can be starved for longer than virsh's keepalive allows (30 s), which ended a start that was
    /// merely slow ("connection closed due to keepalive timeout"); the command's own 3 min bound still holds.</summary>
    public CmdResult Virsh(params string[] args) =>
        Run(string.Join(' ', new[] { "virsh", "-q", "-k", "0", "-c", LibvirtUri }.Concat(args)
            .Select(Cmd.Quote)), TimeSpan.FromMinutes(3));

    /// <summary>virsh inside that must succeed: its stdout.</summary>
    public string VirshOk(params string[] args) => Virsh(args).OrThrow();

    /// <summary>Destroys and undefines an inner guest, ignoring "not running"/"not defined".</summary>
    public void Remove(string name)
    {
        Virsh("destroy", name);
        Virsh("undefine", name);
    }

    /// <summary>A file of the test host (sysfs, /proc): its text.</summary>
    public string Read(string path) => RunOk("cat " + Cmd.Quote(path));

    /// <summary>Writes a file inside the test host.</summary>
    public void Write(string path, byte[] content) =>
        RunOk($"base64 -d > {Cmd.Quote(path)} <<'EOF'\n{Convert.ToBase64String(content)}\nEOF");

    /// <summary>The published hook run inside the VDSM way (scripts/e2e/numa-host/vdsm-hook.sh).</summary>
    public InnerHookRun Hook(string hookPoint, byte[] xml, IReadOnlyDictionary<string, string> properties, string vmId,
        IReadOnlyDictionary<string, string>? config = null)
    {
        var file = $"/tmp/domain-{Guid.NewGuid():N}.xml";
        Write(file, xml);
        var settings = properties.Concat(config ?? new Dictionary<string, string>())
            .Select(kv => Cmd.Quote($"{kv.Key}={kv.Value}"));
        var run = Run($"LARGEGUEST_BIN={Cmd.Quote(PublishedBinary.Path)} {Script("numa-host/vdsm-hook.sh")} " +
            $"{hookPoint} {file} {vmId} {string.Join(' ', settings)}",
            TimeSpan.FromMinutes(3));
        return new InnerHookRun(run.ExitCode, run.Stderr, Encoding.UTF8.GetBytes(run.Stdout));
    }

    /// <summary>The QEMU of a running inner guest as that kernel sees it: argv, threads, numa_maps.</summary>
    public (QemuProcess Qemu, NumaMaps Maps) Qemu(string guest)
    {
        var dump = RunOk($$"""
            pid=$(cat {{Cmd.Quote($"{LibvirtDir}/run/qemu/{guest}.pid")}}) || exit 1
            echo "pid $pid $(base64 -w0 /proc/$pid/cmdline)"
            for t in /proc/$pid/task/*; do
                echo "task ${t##*/} $(base64 -w0 $t/comm) $(awk '/^Cpus_allowed_list|^Mems_allowed_list/ { printf "%s ", $2 }' $t/status)"
            done
            echo numa_maps
            cat /proc/$pid/numa_maps
            """);
        var lines = dump.Split('\n');
        var head = lines[0].Split(' ');
        var pid = int.Parse(head[1], CultureInfo.InvariantCulture);
        var threads = lines.TakeWhile(l => l != "numa_maps").Where(l => l.StartsWith("task ", StringComparison.Ordinal))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(f => new QemuThread(int.Parse(f[1], CultureInfo.InvariantCulture),
                Encoding.UTF8.GetString(Convert.FromBase64String(f[2])).TrimEnd('\n'),
                CpuSet.Parse(f[3]), f[4]));
        var qemu = QemuProcess.Of(pid, Encoding.UTF8.GetString(Convert.FromBase64String(head[2])), threads);
        return (qemu, NumaMaps.Parse(lines.SkipWhile(l => l != "numa_maps").Skip(1)));
    }

    public void Dispose()
    {
        if (Figures.ChecksFailed > 0 || Figures.CasesFailed > 0) KeepLogs();
        var stop = Cmd.Run(Script("numa-host/stop.sh"), [Dir], TimeSpan.FromMinutes(1));
        if (!stop.Ok) Figures.Print($"e2e WARNING: numa-host/stop.sh exit {stop.ExitCode}: {stop.Stderr.Trim()}");
        _reader.Dispose();
        _agent.Dispose();
        Figures.Print(string.Create(CultureInfo.InvariantCulture,
            $"e2e summary {Name} ({string.Join(',', NodeMiB)} MiB, {Accel}): {Figures.Cases} cases " +
                $"({Figures.CasesFailed} failed), " +
            $"{Figures.ChecksPassed} kernel/QEMU/libvirt checks passed, {Figures.ChecksFailed} failed; test host " +
                $"boot {BootSeconds:0.0} s, " +
            $"libvirtd inside {_libvirtSeconds:0.0} s, total {_clock.Elapsed.TotalSeconds:0.0} s"));
    }

    /// <summary>The consoles, QEMU's messages and the inner libvirtd's logs, in .build/e2e-logs/.</summary>
    private void KeepLogs()
    {
        var dest = Path.Combine(PublishedBinary.RepoRoot, ".build", "e2e-logs",
            $"numa-{NodeMiB.Count}-nodes-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
        try
        {
            Directory.CreateDirectory(dest);
            if (_agent is not null && LibvirtDir is not null)
                Run($"cp -r {Cmd.Quote(LibvirtDir)}/log /run/lg-xchg/libvirt-log; dmesg > /run/lg-xchg/dmesg.txt");
            Cmd.Run("bash", ["-c", $"cp -r {Cmd.Quote(Dir)}/*.log {Cmd.Quote(Dir)}/*.err {Cmd.Quote(Dir)}/xchg " +
                $"{Cmd.Quote(dest)}/"]);
            Figures.Print($"e2e {Name}: logs of the failed run (consoles, QEMU, inner libvirtd, dmesg) kept in {dest}");
        }
        catch (Exception e) { Figures.Print($"e2e WARNING: could not keep logs in {dest}: {e.Message}"); }
    }
}

/// <summary>What the hook did inside the test host.</summary>
public sealed record InnerHookRun(int ExitCode, string Stderr, byte[] Xml)
{
    public string XmlText => Encoding.UTF8.GetString(Xml);
    public override string ToString() => $"exit {ExitCode}, stderr: {Stderr.Trim()}";
}

/// <summary>One mapping of /proc/PID/numa_maps: its memory policy and its pages on each node.</summary>
public sealed record NumaMapping(string Address, string Policy, long Anon, IReadOnlyDictionary<int, long> PagesOnNode)
{
    public long Pages => PagesOnNode.Values.Sum();
    public override string ToString() =>
        $"{Address} {Policy} anon={Anon} " + string.Join(' ', PagesOnNode.OrderBy(kv => kv.Key)
            .Select(kv => $"N{kv.Key}={kv.Value}"));
}

/// <summary>/proc/PID/numa_maps, parsed.</summary>
public sealed class NumaMaps(IReadOnlyList<NumaMapping> mappings)
{
    public IReadOnlyList<NumaMapping> Mappings { get; } = mappings;

    public static NumaMaps Parse(IEnumerable<string> lines) => new(lines.Where(l => l.Length > 0).Select(l =>
    {
        var f = l.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        long Field(string key) => f.FirstOrDefault(x => x.StartsWith(key + "=", StringComparison.Ordinal)) is { } v
            ? long.Parse(v[(key.Length + 1)..], CultureInfo.InvariantCulture) : 0;
        var nodes = f.Where(x => x.Length > 2 && x[0] == 'N' && char.IsDigit(x[1]) && x.Contains('='))
            .ToDictionary(x => int.Parse(x[1..x.IndexOf('=')], CultureInfo.InvariantCulture),
                x => long.Parse(x[(x.IndexOf('=') + 1)..], CultureInfo.InvariantCulture));
        return new NumaMapping(f[0], f[1], Field("anon"), nodes);
    }).ToList());

    /// <summary>The anonymous mapping that holds a guest RAM backend of this many pages (prealloc: every page
    /// present).</summary>
    public NumaMapping? GuestRam(long pages) => Mappings.FirstOrDefault(m => m.Anon == pages);
}
