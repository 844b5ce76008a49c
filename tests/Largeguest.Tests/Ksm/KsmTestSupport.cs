using System.Diagnostics;
using System.Runtime.InteropServices;
using Largeguest.Ksm;
using Largeguest.Tests.Support;

namespace Largeguest.Tests.Ksm;

/// <summary>
/// Anonymous memory of identical pages marked MADV_MERGEABLE, for ksmd to merge. Lives in the test process
/// (P/Invoke mmap/madvise), so the kernel's real counters and unmerge apply to it.
/// </summary>
public sealed class MergeablePages : IDisposable
{
    private const int PROT_READ = 1, PROT_WRITE = 2, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20, MADV_MERGEABLE = 12;

    [DllImport("libc", SetLastError = true)] private static extern nint mmap(nint addr, nuint length, int prot,
        int flags, int fd, nint offset);
    [DllImport("libc", SetLastError = true)] private static extern int munmap(nint addr, nuint length);
    [DllImport("libc", SetLastError = true)] private static extern int madvise(nint addr, nuint length, int advice);
    [DllImport("libc")] private static extern nint memset(nint s, int c, nuint n);

    private nint _address;

    public MergeablePages(int mebibytes, byte fill = 0x5a)
    {
        Bytes = (nuint)mebibytes << 20;
        _address = mmap(0, Bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (_address == -1) throw new InvalidOperationException($"mmap of {mebibytes} MiB failed: errno " +
            $"{Marshal.GetLastPInvokeError()}");
        memset(_address, fill, Bytes); // every page identical (and not the zero page)
        if (madvise(_address, Bytes, MADV_MERGEABLE) != 0)
            throw new InvalidOperationException($"madvise(MADV_MERGEABLE) failed: errno " +
                $"{Marshal.GetLastPInvokeError()} (kernel without CONFIG_KSM?)");
    }

    public nuint Bytes { get; }
    public long Pages => (long)Bytes / Environment.SystemPageSize;

    public void Dispose()
    {
        var a = Interlocked.Exchange(ref _address, 0);
        if (a != 0) munmap(a, Bytes);
    }
}

/// <summary>
/// The real /sys/kernel/mm/ksm for tests. Needs root and a writable KSM sysfs and FAILS (never skips) without
/// them. Holds a cross-process test lock (several worktrees may test on one host), saves every KSM setting the
/// tests touch and restores them at the end, whatever happened.
/// </summary>
public sealed class RealKsm : IDisposable
{
    public const string Root = KsmFiles.DefaultRoot;
    private const string TestLock = "/run/largeguest-ksm-tests.lock";
    private static readonly string[] Saved = ["pages_to_scan", "sleep_millisecs", "merge_across_nodes", "run"];

    private readonly Dictionary<string, string> _saved = [];
    private readonly HostLock _lock;

    public RealKsm()
    {
        if (!Environment.IsPrivilegedProcess)
            throw new InvalidOperationException("REAL KSM TESTS NEED ROOT: run the suite as root (these machines are " +
                "set up for it); not skipping");
        foreach (var f in Saved)
            if (!File.Exists(Path.Combine(Root, f)))
                throw new InvalidOperationException($"REAL KSM TESTS NEED {Root}/{f}: this kernel lacks KSM or NUMA " +
                    $"support; not skipping");
        _lock = HostLock.Acquire(TestLock, TimeSpan.FromMinutes(20));
        foreach (var f in Saved) _saved[f] = Read(f);
        try { Write("run", Read("run")); }
        catch (IOException e) { throw new InvalidOperationException($"REAL KSM TESTS NEED A WRITABLE {Root}: " +
            $"{e.Message}; not skipping"); }
        Write("pages_to_scan", "20000");
        Write("sleep_millisecs", "0");
    }

    public KsmSysfs Sysfs { get; } = new();

    public static string Read(string file) => File.ReadAllText(Path.Combine(Root, file)).Trim();
    public static long Number(string file) => long.Parse(Read(file));
    public static void Write(string file, string value) => File.WriteAllText(Path.Combine(Root, file), value);

    /// <summary>Unmerges everything (run=2), then sets merge_across_nodes and run: a known starting point.</summary>
    public static void Baseline(bool mergeAcrossNodes, int run)
    {
        Write("run", "0");
        Write("run", "2");
        Write("merge_across_nodes", mergeAcrossNodes ? "1" : "0");
        Write("run", $"{run}");
    }

    /// <summary>Runs ksmd until <paramref name="pages"/> is merged (FAILS after two minutes), then sets run to
    /// <paramref name="runAfter"/>.</summary>
    public static void MergeNow(MergeablePages pages, int runAfter)
    {
        Write("run", "1");
        var wanted = pages.Pages * 95 / 100;
        Poll.Wait(() => Number("pages_sharing") >= wanted, TimeSpan.FromMinutes(2), $"ksmd merging {pages.Pages} " +
            $"identical pages",
            () => $"pages_sharing {Number("pages_sharing")}", TimeSpan.FromMilliseconds(50));
        Write("run", $"{runAfter}");
    }

    public void Dispose()
    {
        try
        {
            if (Read("merge_across_nodes") != _saved["merge_across_nodes"])
            {
                Write("run", "0");
                Write("run", "2");
                Write("merge_across_nodes", _saved["merge_across_nodes"]);
            }
            foreach (var f in new[] { "pages_to_scan", "sleep_millisecs", "run" })
                if (Read(f) != _saved[f]) Write(f, _saved[f]);
        }
        finally { _lock.Dispose(); }
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RealKsmCollection : ICollectionFixture<RealKsm>
{
    public const string Name = "real KSM";
}

public static class LockProbe
{
    /// <summary>
    /// Waits (up to 10 s) for a lock to be free. A fork elsewhere in this multi-threaded test process holds a copy of
    /// every descriptor, close-on-exec ones included, until its exec, so "released" is observed a moment later here;
    /// a hook process has no such neighbours.
    /// </summary>
    public static bool FreesSoon(string path) => Poll.Until(() => HostLock.IsFree(path), TimeSpan.FromSeconds(10),
        TimeSpan.FromMilliseconds(5));
}

/// <summary>Processes with exactly the environment given (plus PATH), as the KSM process tests need them.</summary>
public static class KsmProcesses
{
    public static string SampleXml => Path.Combine(PublishedBinary.RepoRoot, "samples", "ovirt-db01.xml");

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>Runs and waits; FAILS on a 3-minute hang.</summary>
    public static Result Run(string program, IReadOnlyDictionary<string, string> environment, params string[] args) =>
        Wait(Start(program, environment, args));

    public static Process Start(string program, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true,
            UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin";
        foreach (var (k, v) in environment) start.Environment[k] = v;
        return Process.Start(start)!;
    }

    public static Result Wait(Process p)
    {
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"{p.StartInfo.FileName} did not finish within 3 minutes");
            }
            p.WaitForExit();
            return new Result(p.ExitCode, stdout.Result, stderr.Result);
        }
    }
}
