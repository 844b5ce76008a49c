using Largeguest.IO;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Largeguest.Ksm;

/// <summary>
/// The real kernel: reads and writes <c>/sys/kernel/mm/ksm</c> (the root is injectable for tests; privileged
/// entries always use <see cref="KsmFiles.DefaultRoot"/>) and <c>/proc/meminfo</c>.
/// </summary>
public sealed class KsmSysfs(string root = KsmFiles.DefaultRoot, string meminfo = KsmSysfs.DefaultMeminfo) : IKsmKernel
{
    public const string DefaultMeminfo = MemInfo.DefaultPath;

    /// <summary>After SIGKILL an unmerging writer leaves the kernel at its next page; this bounds the wait for
    /// that.</summary>
    public static readonly TimeSpan KillGrace = TimeSpan.FromSeconds(30);

    public string Root { get; } = root;

    public long PageSize => Environment.SystemPageSize;

    public KsmState Read(IReadOnlyCollection<string>? only = null)
    {
        if (!Directory.Exists(Root)) return KsmState.Absent;
        IEnumerable<string> names;
        try { names = only ?? Directory.EnumerateFiles(Root).Select(p => Path.GetFileName(p)).ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KsmException($"{Root}: cannot list: {e.Message}");
        }
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in names)
            if (SmallFile.TryRead(Path.Combine(Root, name)) is { } text)
                values[name] = text.Trim(); // missing on this kernel, or write-only
        return new KsmState(values);
    }

    public void Write(string file, string value)
    {
        var known = KsmFiles.Find(file) ?? throw new KsmException($"{file}: not a KSM file this product knows");
        if (!known.Writable) throw new KsmValueException(file, value, known.Syntax);
        var text = known.Validate(value);
        var path = Path.Combine(Root, file);
        var errno = Native.WriteFile(path, Encoding.ASCII.GetBytes(text));
        if (errno != 0) throw new KsmWriteException(path, text, errno);
    }

    public long MemAvailableBytes() =>
        MemInfo.Read(meminfo).AvailableKiB is >= 0 and var kib
            ? kib * 1024
            : throw new KsmException($"{meminfo}: no MemAvailable line");

    /// <summary>
    /// The unmerge runs in a child writer process (<see cref="ChildWriter"/>), not in this process: on overrun it
    /// gets SIGKILL, which the kernel's unmerge loop notices at its next page (the write returns, <c>run</c> is
    /// set to 0); it is also the process the kernel marks as the OOM killer's first choice while it unmerges, so
    /// an OOM kill ends the unmerge rather than the reconciler that has to restore <c>run</c>.
    /// </summary>
    public UnmergeResult Unmerge(TimeSpan budget, HostLock held) =>
        ChildWriter.Write(Path.Combine(Root, KsmFiles.Run), KsmFiles.Text(KsmRun.Unmerge), budget, KillGrace, held);
}

/// <summary>
/// Writes one value to one file from a short-lived child (<c>/bin/sh -c 'printf %s "$2" &gt; "$1"'</c>, clean
/// environment) so that a write the kernel performs synchronously, and possibly for long, can be bounded:
/// on overrun the child is killed with SIGKILL and reaped. The host lock's descriptor is inherited by the
/// child, so the lock stays held until the child is gone even if this process dies first.
/// </summary>
public static class ChildWriter
{
    public const string Shell = "/bin/sh";

    public static UnmergeResult Write(string path, string value, TimeSpan budget, TimeSpan killGrace, HostLock? held)
    {
        var start = new ProcessStartInfo(Shell)
        {
            UseShellExecute = false,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
        };
        foreach (var a in new[] { "-c", "printf %s \"$2\" > \"$1\"", "largeguest-ksm-writer", path, value })
            start.ArgumentList.Add(a);
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin";
        start.Environment["LC_ALL"] = "C";

        var clock = Stopwatch.StartNew();
        Process process;
        try
        {
            using (held?.InheritedByChildren())
                process = Process.Start(start) ?? throw new KsmException($"cannot start {Shell}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new KsmException($"cannot start {Shell} to write {path}: {e.Message}");
        }
        using (process)
        {
            process.StandardInput.Close();
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEndAsync();
            if (!process.WaitForExit(budget))
            {
                try { process.Kill(); } catch (InvalidOperationException) { } // exited just now
                if (!process.WaitForExit(killGrace))
                    return new(UnmergeStatus.Stuck, clock.Elapsed,
                        $"the writer (pid {process.Id}) did not end within {killGrace.TotalSeconds:0} s of SIGKILL; " +
                        $"it still holds the lock");
                process.WaitForExit();
                return new(UnmergeStatus.TimedOut, clock.Elapsed, $"interrupted after {Seconds(budget)}");
            }
            process.WaitForExit(); // drains the redirected streams
            var elapsed = clock.Elapsed;
            if (process.ExitCode == 0) return new(UnmergeStatus.Completed, elapsed);
            var detail = LastLine(stderr.Result);
            if (process.ExitCode > 128)
                detail = $"the writer was killed by signal {process.ExitCode - 128}"
                    + (process.ExitCode == 137 ? " (the OOM killer's first choice while it unmerges)" : "");
            return new(UnmergeStatus.Failed, elapsed,
                detail.Length > 0 ? detail : $"the writer exited with {process.ExitCode}");
        }
    }

    internal static string Seconds(TimeSpan t) =>
        t.TotalSeconds >= 1 ? $"{t.TotalSeconds:0.#} s" : $"{t.TotalMilliseconds:0} ms";

    private static string LastLine(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (lines.Length == 0) return "";
        var line = lines[^1];
        // dash: "largeguest-ksm-writer: 1: printf: printf: Cannot allocate memory" -> keep the errno text
        var cut = line.LastIndexOf(": ", StringComparison.Ordinal);
        return cut >= 0 ? line[(cut + 2)..] : line;
    }
}
