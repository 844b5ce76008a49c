using System.Globalization;
using System.Text.RegularExpressions;

namespace Largeguest.Ksm.Tuning;

/// <summary>
/// Whether swap plus free memory covers unsharing every merged page (docs/ksmtune.md "Swap"): the kernel then needs
/// a fresh page for each sharing one (pages_sharing + ksm_zero_pages), which is the guests' committed memory beyond
/// what physical memory holds. Pure; memory in KiB.
/// </summary>
/// <param name="NeedKiB">What unsharing every merged page allocates.</param>
/// <param name="FreeKiB">MemAvailable.</param>
/// <param name="SwapFreeKiB">SwapFree.</param>
/// <param name="OvercommitKiB">Committed guest memory beyond physical memory (0 when it fits).</param>
public readonly record struct SwapCover(long NeedKiB, long FreeKiB, long SwapFreeKiB, long OvercommitKiB)
    : IKsmStatusSection
{
    IEnumerable<string> IKsmStatusSection.Lines => [Text];

    void IKsmStatusSection.WriteJson(System.Text.Json.Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteNumber("swap_free_bytes", SwapFreeKiB * 1024);
        w.WriteNumber("free_bytes", FreeKiB * 1024);
        w.WriteNumber("need_bytes", NeedKiB * 1024);
        w.WriteNumber("overcommit_bytes", OvercommitKiB * 1024);
        w.WriteBoolean("covered", Covered);
        w.WriteEndObject();
    }

    public static SwapCover Of(MemInfo mem, long committedKiB, long unmergeCostPages, long pageSize) =>
        new(unmergeCostPages * (pageSize / 1024), mem.UsableKiB, mem.SwapFreeKiB,
            Math.Max(0, committedKiB - mem.TotalKiB));

    public bool Covered => SwapFreeKiB + FreeKiB >= NeedKiB;

    /// <summary>One line for status, the cycle's notes and the journal; a warning when not covered.</summary>
    public string Text =>
        $"swap {TuningCycle.Size(SwapFreeKiB)} free + free memory {TuningCycle.Size(FreeKiB)} {(Covered ? ">=" : "<")} "
        + $"{TuningCycle.Size(NeedKiB)} that unsharing every merged page needs"
        + $" (committed guest memory beyond physical memory: {TuningCycle.Size(OvercommitKiB)})"
        + (Covered ? "" : ": WARNING: not covered, guests touching their merged pages can exhaust memory "
            + "(add swap or overcommit less)");
}

/// <summary>
/// Memory committed to guests: the resident set (VmRSS) of every QEMU process, as ksmtuned's
/// <c>pgrep '^qemu(-(kvm|system-.+)|:.{1,11})$'</c> finds them (qemu-kvm, qemu-system-*, and "qemu:NAME" for
/// guests started with <c>-name ...,process=qemu:NAME</c>), read from /proc/PID/status.
/// </summary>
public static partial class CommittedMemory
{
    [GeneratedRegex(@"^qemu(-(kvm|system-.+)|:.{1,11})$", RegexOptions.CultureInvariant)]
    public static partial Regex QemuName();

    /// <summary>
    /// (Name, VmRSS in KiB) of one /proc/PID/status; VmRSS 0 for a process without memory (a zombie).
    /// </summary>
    public static (string Name, long RssKiB) ParseStatus(string text)
    {
        string name = "";
        long rss = 0;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("Name:", StringComparison.Ordinal)) name = line[5..].Trim();
            else if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                var parts = line[6..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length > 0) long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out rss);
            }
        }
        return (name, rss);
    }

    /// <summary>
    /// The QEMU processes under <paramref name="proc"/> with their RSS; processes that end while being read are
    /// skipped.
    /// </summary>
    public static IReadOnlyList<(int Pid, string Name, long RssKiB)> Processes(string proc = "/proc")
    {
        var found = new List<(int, string, long)>();
        foreach (var dir in Directory.EnumerateDirectories(proc))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                continue;
            string text;
            try { text = File.ReadAllText(Path.Combine(dir, "status")); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; } // exited meanwhile
            var (name, rss) = ParseStatus(text);
            if (QemuName().IsMatch(name)) found.Add((pid, name, rss));
        }
        return found;
    }

    public static long TotalKiB(string proc = "/proc") => Processes(proc).Sum(p => p.RssKiB);
}

/// <summary>Reading /proc and sysfs files with the product's error shape.</summary>
internal static class ProcFiles
{
    public static string ReadText(string path)
    {
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new KsmTuneException($"{path}: cannot read: {e.Message}"); }
    }
}

/// <summary>A tuning step could not be done; one line saying what and why.</summary>
public class KsmTuneException(string message) : KsmException(message);
