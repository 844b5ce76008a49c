using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Largeguest.Ksm.Tuning;

/// <summary>
/// ksmd's CPU time at one instant: utime+stime from /proc/PID/stat, in clock ticks, and when it was read.
/// </summary>
public readonly record struct CpuSample(int Pid, long Ticks, long ClockTicksPerSecond, long TimestampTicks)
{
    public double Seconds => (double)Ticks / ClockTicksPerSecond;
}

/// <summary>
/// ksmd's CPU utilisation (Harvester's metric): the kernel thread's utime+stime from <c>/proc/&lt;ksmd pid&gt;/stat</c>
/// sampled twice, as a percentage of one core over the interval between the samples.
/// </summary>
public static class KsmdCpu
{
    public const string ThreadName = "ksmd";

    /// <summary>The pid of the ksmd kernel thread, or null when the kernel has none (no KSM).</summary>
    public static int? FindPid(string proc = "/proc")
    {
        foreach (var dir in Directory.EnumerateDirectories(proc))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && IsKsmd(pid, proc)) return pid;
        }
        return null;
    }

    /// <summary>Is <paramref name="pid"/> (still) the ksmd kernel thread?</summary>
    public static bool IsKsmd(int pid, string proc = "/proc")
    {
        var dir = Path.Combine(proc, pid.ToString(CultureInfo.InvariantCulture));
        try { return File.ReadAllText(Path.Combine(dir, "comm")).TrimEnd('\n') == ThreadName && IsKernelThread(dir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or KsmTuneException) { return false; }
    }

    /// <summary>Kernel threads are children of kthreadd (pid 2); a user process named "ksmd" is not the one.</summary>
    private static bool IsKernelThread(string dir)
    {
        var stat = ParseStat(File.ReadAllText(Path.Combine(dir, "stat")));
        return stat.PPid == 2;
    }

    /// <summary>
    /// The fields of /proc/PID/stat the sampler needs. The command name (field 2) is in parentheses and may contain
    /// spaces and ')' itself, so fields are counted from the last ')'.
    /// </summary>
    public static (string Comm, int PPid, long UTime, long STime) ParseStat(string text)
    {
        var open = text.IndexOf('(');
        var close = text.LastIndexOf(')');
        if (open < 0 || close < open) throw new KsmTuneException($"unreadable /proc stat line '{Short(text)}'");
        var rest = text[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
        if (rest.Length < 13
            || !int.TryParse(rest[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ppid)
            || !long.TryParse(rest[11], NumberStyles.None, CultureInfo.InvariantCulture, out var utime)
            || !long.TryParse(rest[12], NumberStyles.None, CultureInfo.InvariantCulture, out var stime))
            throw new KsmTuneException($"unreadable /proc stat line '{Short(text)}'");
        return (text[(open + 1)..close], ppid, utime, stime);
    }

    public static CpuSample Sample(int pid, string proc = "/proc")
    {
        var path = Path.Combine(proc, pid.ToString(CultureInfo.InvariantCulture), "stat");
        var stat = ParseStat(ProcFiles.ReadText(path));
        return new CpuSample(pid, stat.UTime + stat.STime, ClockTicksPerSecond, Stopwatch.GetTimestamp());
    }

    /// <summary>Percent of one core used between two samples of the same thread (0 when no time passed).</summary>
    public static double Percent(CpuSample before, CpuSample after)
    {
        if (before.Pid != after.Pid) throw new ArgumentException("samples of different threads");
        var wall = Stopwatch.GetElapsedTime(before.TimestampTicks, after.TimestampTicks).TotalSeconds;
        return wall <= 0
            ? 0
            : Math.Max(0, (after.Ticks - before.Ticks) / (double)after.ClockTicksPerSecond / wall * 100);
    }

    /// <summary>Samples ksmd, waits <paramref name="interval"/>, samples again: null when there is no ksmd.</summary>
    public static (CpuSample Sample, double Percent)? Measure(TimeSpan interval, string proc = "/proc")
    {
        if (FindPid(proc) is not int pid) return null;
        var before = Sample(pid, proc);
        Thread.Sleep(interval);
        var after = Sample(pid, proc);
        return (after, Percent(before, after));
    }

    /// <summary>USER_HZ: the unit of utime/stime (sysconf(_SC_CLK_TCK), 100 on Linux).</summary>
    public static long ClockTicksPerSecond { get; } = ReadClockTicks();

    private static long ReadClockTicks()
    {
        const int ScClkTck = 2;
        var hz = Native.Sysconf(ScClkTck);
        return hz > 0 ? hz : 100;
    }

    private static string Short(string s) => s.Length <= 60 ? s.TrimEnd() : s[..57] + "...";
}
