using System.Diagnostics;
using System.Text;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.KsmTune;

/// <summary>
/// The real /sys/kernel/mm/ksm for the tuner's tests. Needs root and a writable KSM sysfs and FAILS (never skips)
/// without them. Holds the cross-process KSM test lock (/run/largeguest-ksm-tests.lock, the one issue 4's KSM
/// tests take: several worktrees test on one host), saves every KSM setting the tests touch and restores them at
/// the end, whatever happened.
/// </summary>
public sealed class TunerKernel : IDisposable
{
    public const string Root = "/sys/kernel/mm/ksm";
    private const string TestLock = "/run/largeguest-ksm-tests.lock";
    private static readonly string[] Saved = ["pages_to_scan", "sleep_millisecs", "merge_across_nodes", "run"];

    private readonly Dictionary<string, string> _saved = [];
    private readonly FileStream _lock;

    public TunerKernel()
    {
        if (!Environment.IsPrivilegedProcess)
            throw new InvalidOperationException("REAL KSM TESTS NEED ROOT: run the suite as root (these machines are set up for it); not skipping");
        foreach (var f in Saved)
            if (!File.Exists(Path.Combine(Root, f)))
                throw new InvalidOperationException($"REAL KSM TESTS NEED {Root}/{f}: this kernel lacks KSM or NUMA support; not skipping");
        _lock = TakeLock();
        foreach (var f in Saved) _saved[f] = Read(f);
        try { Write("run", Read("run")); }
        catch (IOException e) { _lock.Dispose(); throw new InvalidOperationException($"REAL KSM TESTS NEED A WRITABLE {Root}: {e.Message}; not skipping"); }
    }

    /// <summary>flock(LOCK_EX) on the shared test lock (.NET's FileShare.None is that flock on Linux), waited for up to 20 min.</summary>
    private static FileStream TakeLock()
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try { return new FileStream(TestLock, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) when (clock.Elapsed < TimeSpan.FromMinutes(20)) { Thread.Sleep(100); }
        }
    }

    public static string Read(string file) => File.ReadAllText(Path.Combine(Root, file)).Trim();
    public static long Number(string file) => long.Parse(Read(file));
    public static void Write(string file, string value) => File.WriteAllText(Path.Combine(Root, file), value);

    /// <summary>Unmerges everything and stops ksmd: a known starting point.</summary>
    public static void Unmerged()
    {
        Write("run", "0");
        Write("run", "2");
        Write("run", "0");
    }

    public void Dispose()
    {
        try
        {
            if (Read("merge_across_nodes") != _saved["merge_across_nodes"])
            {
                Unmerged();
                Write("merge_across_nodes", _saved["merge_across_nodes"]);
            }
            if (Read("run") == "2") Write("run", "0");
            foreach (var f in new[] { "pages_to_scan", "sleep_millisecs", "run" })
                if (Read(f) != _saved[f]) Write(f, _saved[f]);
        }
        finally { _lock.Dispose(); }
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TunerKernelCollection : ICollectionFixture<TunerKernel>
{
    public const string Name = "real KSM (tuner)";
}

/// <summary>
/// A child process holding anonymous memory of identical pages marked MADV_MERGEABLE (python3's mmap.madvise), for
/// ksmd to merge: real merged pages in another process, as a guest's would be.
/// </summary>
public sealed class MergeableChild : IDisposable
{
    private const string Script = """
        import mmap, sys
        n = int(sys.argv[1]) << 20
        m = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        m.write(b'\x5a' * n)
        m.madvise(mmap.MADV_MERGEABLE)
        print('ready', flush=True)
        sys.stdin.read()
        """;

    private readonly Process _process;

    public MergeableChild(int mebibytes)
    {
        Pages = ((long)mebibytes << 20) / Environment.SystemPageSize;
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(Script);
        start.ArgumentList.Add(mebibytes.ToString());
        _process = Process.Start(start) ?? throw new InvalidOperationException("cannot start /usr/bin/python3 for mergeable pages");
        var line = _process.StandardOutput.ReadLine();
        if (line != "ready")
            throw new InvalidOperationException($"the mergeable-pages child did not get ready: {line} {_process.StandardError.ReadToEnd()}");
    }

    public long Pages { get; }

    /// <summary>Runs ksmd flat out until this child's pages are merged (FAILS after two minutes), then leaves run at <paramref name="runAfter"/>.</summary>
    public void MergeNow(string runAfter)
    {
        TunerKernel.Write("pages_to_scan", "20000");
        TunerKernel.Write("sleep_millisecs", "0");
        TunerKernel.Write("run", "1");
        var clock = Stopwatch.StartNew();
        while (TunerKernel.Number("pages_sharing") < Pages * 95 / 100)
        {
            if (clock.Elapsed > TimeSpan.FromMinutes(2))
                throw new InvalidOperationException($"ksmd did not merge {Pages} identical pages within 2 min (pages_sharing {TunerKernel.Number("pages_sharing")})");
            Thread.Sleep(50);
        }
        TunerKernel.Write("run", runAfter);
    }

    public void Dispose()
    {
        using (_process)
        {
            try { _process.StandardInput.Close(); } catch (IOException) { }
            if (!_process.WaitForExit(TimeSpan.FromSeconds(10))) _process.Kill();
        }
    }
}

/// <summary>Runs the published binary with a private state dir and config, so a test touches only KSM itself.</summary>
public sealed class TunerSandbox : IDisposable
{
    public TunerSandbox()
    {
        Dir = Directory.CreateTempSubdirectory("ksmtune-test").FullName;
        StateDir = Path.Combine(Dir, "state");
        ConfigPath = Path.Combine(Dir, "largeguest.json");
        File.WriteAllText(ConfigPath, "{}");
    }

    public string Dir { get; }
    public string StateDir { get; }
    public string ConfigPath { get; }

    public Dictionary<string, string> Environment => new()
    {
        ["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin",
        ["LARGEGUEST_CONFIG"] = ConfigPath,
        ["LARGEGUEST__Ksm__StateDir"] = StateDir,
        ["LARGEGUEST__KsmTune__KsmtunedConf"] = "",
    };

    public Process Start(params string[] args)
    {
        var start = new ProcessStartInfo(PublishedBinary.Path) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment.Clear();
        foreach (var (k, v) in Environment) start.Environment[k] = v;
        return Process.Start(start)!;
    }

    public (int Exit, string Stdout, string Stderr) Run(params string[] args)
    {
        using var p = Start(args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3))) { p.Kill(); throw new TimeoutException($"largeguest {string.Join(' ', args)} hung"); }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    public string StateJson => File.ReadAllText(Path.Combine(StateDir, "ksmtune.json"));

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}

/// <summary>A strict reader of the Prometheus text format 0.0.4, for checking what the tuner serves.</summary>
public static class PromParser
{
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    public static (Dictionary<string, string> Types, List<Sample> Samples) Parse(string text)
    {
        text.Should().EndWith("\n", "the exposition ends with a newline");
        var types = new Dictionary<string, string>();
        var helps = new HashSet<string>();
        var samples = new List<Sample>();
        foreach (var line in text.TrimEnd('\n').Split('\n'))
        {
            if (line.StartsWith("# HELP ", StringComparison.Ordinal)) { helps.Add(line.Split(' ')[2]).Should().BeTrue($"one HELP per family: {line}"); continue; }
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                parts.Should().HaveCount(4, line);
                parts[3].Should().BeOneOf(["gauge", "counter"], line);
                types.TryAdd(parts[2], parts[3]).Should().BeTrue($"one TYPE per family: {line}");
                continue;
            }
            line.Should().NotStartWith("#", "only HELP and TYPE comments are written");
            samples.Add(ParseSample(line));
        }
        foreach (var s in samples) types.Should().ContainKey(s.Name, "every sample belongs to a declared family");
        foreach (var (name, type) in types) if (type == "counter") name.Should().EndWith("_total");
        return (types, samples);
    }

    private static Sample ParseSample(string line)
    {
        var i = 0;
        while (i < line.Length && (char.IsAsciiLetterOrDigit(line[i]) || line[i] is '_' or ':')) i++;
        var name = line[..i];
        name.Should().MatchRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$", line);
        var labels = new Dictionary<string, string>();
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (line[i] != '}')
            {
                var eq = line.IndexOf('=', i);
                var label = line[i..eq];
                label.Should().MatchRegex("^[a-zA-Z_][a-zA-Z0-9_]*$", line);
                line[eq + 1].Should().Be('"', line);
                var value = new StringBuilder();
                var j = eq + 2;
                for (; line[j] != '"'; j++)
                {
                    if (line[j] == '\\') { j++; value.Append(line[j] switch { 'n' => '\n', '\\' => '\\', '"' => '"', var c => throw new FormatException($"bad escape \\{c} in {line}") }); }
                    else value.Append(line[j]);
                }
                labels.Add(label, value.ToString());
                i = j + 1;
                if (line[i] == ',') i++;
            }
            i++;
        }
        line[i].Should().Be(' ', line);
        var text = line[(i + 1)..];
        var v = text switch { "NaN" => double.NaN, "+Inf" => double.PositiveInfinity, "-Inf" => double.NegativeInfinity, _ => double.Parse(text, System.Globalization.CultureInfo.InvariantCulture) };
        return new Sample(name, labels, v);
    }

    public static double Value(this List<Sample> samples, string name, params (string Label, string Value)[] labels) =>
        samples.Single(s => s.Name == name && labels.All(l => s.Labels.GetValueOrDefault(l.Label) == l.Value)).Value;
}
