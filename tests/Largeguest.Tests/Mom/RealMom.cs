using System.Diagnostics;
using Largeguest.Ksm.Mom;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.Mom;

/// <summary>
/// The real MoM daemon (the third-party copy beside the repository, ../shared/third_party/mom), run with
/// /usr/bin/python3 and Debian's python3-libvirt on libvirt's test:///default driver, the KSM controller on, VDSM's
/// 00-defines, 01-parameters and 03-ksm policies copied in at start, a 2 s policy interval, and its RPC on a socket in
/// a temp directory. It writes the REAL /sys/kernel/mm/ksm: use it only inside the "real KSM" collection. FAILS
/// (never skips) when MoM's source, python3 or python3-libvirt is missing. Stopped (SIGTERM, then SIGKILL) at dispose.
/// </summary>
public sealed class RealMom : IDisposable
{
    public const int IntervalSeconds = 2;

    /// <summary>What VDSM pushes with the engine's cluster setting (merge across nodes: on).</summary>
    public const string EngineParameters = "(set ksmEnabled True)\n(set ksmMergeAcrossNodes True)";

    private Process? _process;

    public string Dir { get; } = Directory.CreateTempSubdirectory("largeguest-mom-").FullName;
    public string ConfigPath => Path.Combine(Dir, "mom.conf");
    public string Socket => Path.Combine(Dir, "mom.sock");
    public string PolicyDir => Path.Combine(Dir, "mom.d");
    public string PolicyFile => Path.Combine(PolicyDir, MomConfig.PolicyName + ".policy");
    public string LogPath => Path.Combine(Dir, "mom.log");
    public MomClient Client => new(new MomEndpoint(Socket, null));

    public static string ThirdParty
    {
        get
        {
            var dir = Support.ThirdParty.Root;
            if (!File.Exists(Path.Combine(dir, "mom", "momd.in")))
                throw new InvalidOperationException($"MoM's source is missing: expected mom/momd.in in the " +
                    $"third-party folder (looked in {Support.ThirdParty.Where}; set {Support.ThirdParty.Variable}); " +
                    $"not skipping");
            return dir;
        }
    }

    public RealMom(string controllers = "KSM")
    {
        foreach (var (file, package) in new[] { ("/usr/bin/python3", "python3"),
            ("/usr/lib/python3/dist-packages/libvirt.py", "python3-libvirt") })
            if (!File.Exists(file)) throw new InvalidOperationException($"MoM needs {file}: install the Debian " +
                $"package {package} (`make deps`); not skipping");
        var source = ThirdParty;
        File.WriteAllText(Path.Combine(Dir, "momd"),
            File.ReadAllText(Path.Combine(source, "mom", "momd.in")).Replace("@PYTHON@", "/usr/bin/python3"));
        Directory.CreateDirectory(PolicyDir);
        foreach (var policy in new[] { "00-defines", "01-parameters", "03-ksm" })
            File.Copy(Path.Combine(source, "vdsm", "static", "etc", "vdsm", "mom.d", policy + ".policy"),
                Path.Combine(PolicyDir, policy + ".policy"));
        var i = IntervalSeconds;
        File.WriteAllText(ConfigPath, $"""
            [main]
            main-loop-interval: {i}
            host-monitor-interval: {i}
            guest-manager-interval: {i}
            policy-engine-interval: {i}
            hypervisor-interface: libvirt
            libvirt-hypervisor-uri: test:///default
            controllers: {controllers}
            rpc-port: {Socket}
            policy-dir: {PolicyDir}

            [logging]
            log: {LogPath}
            verbosity: debug

            [host]
            collectors: HostMemory, HostKSM, HostCpu

            [guest]
            collectors:

            """);
    }

    /// <summary>Starts MoM, waits for its socket to answer, and pushes the engine's parameters as VDSM does.</summary>
    public void Start()
    {
        if (_process is not null) throw new InvalidOperationException("MoM is already running");
        var start = new ProcessStartInfo("/usr/bin/python3") { UseShellExecute = false, RedirectStandardOutput = true,
            RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(Dir, "momd"), "-c", ConfigPath }) start.ArgumentList.Add(a);
        start.Environment["PYTHONPATH"] = Path.Combine(ThirdParty, "mom");
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.Add(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        MomException? last = null;
        bool Answers()
        {
            if (_process.HasExited) throw new InvalidOperationException($"MoM exited at start ({_process.ExitCode}): " +
                $"{Stderr}\n{Log}");
            try { return Client.Ping(); }
            catch (MomException e) { last = e; return false; }
        }
        Poll.Wait(Answers, TimeSpan.FromSeconds(30), "MoM answering its socket", () => last?.Message ?? "no answer",
            TimeSpan.FromMilliseconds(100));
        Client.SetNamedPolicy("01-parameters", EngineParameters).Should().BeTrue("MoM takes VDSM's parameters");
    }

    private readonly List<string> _stderr = [];
    public string Stderr { get { lock (_stderr) return string.Join("\n", _stderr); } }

    /// <summary>SIGKILL (a crash, or systemd's stop timing out) or SIGTERM (a clean stop); waits for the process to
    /// go.</summary>
    public void Stop(bool kill = false)
    {
        if (_process is not { } p) return;
        _process = null;
        using (p)
        {
            if (!p.HasExited)
            {
                Support.Native.Signal(p.Id, kill ? 9 : 15);
                if (!p.WaitForExit(TimeSpan.FromSeconds(20))) { p.Kill(); p.WaitForExit(); }
            }
        }
    }

    public string Log => File.Exists(LogPath) ? File.ReadAllText(LogPath) : "";

    /// <summary>Log lines after <paramref name="from"/> characters (a mark taken with <see cref="Mark"/>).</summary>
    public string[] LogSince(int from) => Log[Math.Min(from, Log.Length)..].Split('\n',
        StringSplitOptions.RemoveEmptyEntries);
    public int Mark() => Log.Length;

    /// <summary>Policy cycles MoM evaluated since the mark (one "Results:" line each).</summary>
    public int Cycles(int from) => LogSince(from).Count(l => l.Contains("mom.Policy - DEBUG - Results:",
        StringComparison.Ordinal));

    /// <summary>MoM's own KSM writes since the mark that contain <paramref name="what"/> (e.g. "'run': 2", an
    /// unmerge).</summary>
    public int KsmWrites(int from, string what) =>
        LogSince(from).Count(l => l.Contains("Updating KSM configuration",
            StringComparison.Ordinal) && l.Contains(what, StringComparison.Ordinal));

    /// <summary>Waits until MoM has evaluated <paramref name="cycles"/> more policy cycles (FAILS after a generous
    /// bound).</summary>
    public void WaitCycles(int cycles)
    {
        var mark = Mark();
        Poll.Wait(() => Cycles(mark) >= cycles, TimeSpan.FromSeconds(cycles * IntervalSeconds * 5 + 10),
            $"MoM evaluating {cycles} policy cycles",
            () => $"{Cycles(mark)} evaluated; its log:\n{Log}", TimeSpan.FromMilliseconds(100));
    }

    public void Dispose()
    {
        Stop();
        try { Directory.Delete(Dir, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
