using System.Globalization;

namespace Largeguest.Ksm.Tuning;

/// <summary>What one cycle observed. Memory in KiB, as /proc/meminfo and ksmtuned count it.</summary>
/// <param name="TotalKiB">MemTotal.</param>
/// <param name="FreeKiB">Memory free for use (MemAvailable; see docs/ksmtune.md).</param>
/// <param name="CommittedKiB">Resident memory of the QEMU processes.</param>
/// <param name="PagesToScan">pages_to_scan as the kernel has it now.</param>
public readonly record struct CycleInput(long TotalKiB, long FreeKiB, long CommittedKiB, long PagesToScan);

public enum KsmdAction { Start, Stop }

/// <summary>The cycle's decision: what to write to run, pages_to_scan and sleep_millisecs, and why, in words.</summary>
public sealed record CycleDecision(KsmdAction Action, long PagesToScan, long SleepMillisecs, long ThresholdKiB, string Why)
{
    public string RunValue => Action == KsmdAction.Start ? "1" : "0";
}

/// <summary>
/// One tuning cycle as a pure function (ksmtuned's <c>adjust</c>, seed 002/003):
/// <list type="bullet">
/// <item>threshold = <c>thresCoef</c>% of total memory, at least <c>KSM_THRES_CONST</c> KiB;</item>
/// <item>free below the threshold: start ksmd and raise pages_to_scan by boost (up to maxPages);</item>
/// <item>free above it but committed + threshold above total (the guests may still touch their memory): start ksmd,
///   lowering pages_to_scan by decay (ksmtuned's behaviour: scan gently before the pressure comes);</item>
/// <item>otherwise stop ksmd (shared pages stay shared) and lower pages_to_scan by decay (down to minPages);</item>
/// <item>sleep_millisecs = sleepMsec x 16 GiB / total memory, at least 10.</item>
/// </list>
/// pages_to_scan always ends within minPages..maxPages, whatever the kernel had.
/// </summary>
public static class TuningCycle
{
    /// <summary>ksmtuned's floor for sleep_millisecs.</summary>
    public const long MinSleepMillisecs = 10;

    private const long SixteenGiBInKiB = 16L * 1024 * 1024;

    public static long Threshold(long totalKiB, int thresCoef, long thresConstKiB) =>
        Math.Max(totalKiB * thresCoef / 100, thresConstKiB);

    public static long SleepMillisecs(long sleepMsec, long totalKiB) =>
        totalKiB <= 0 ? MinSleepMillisecs : Math.Max(MinSleepMillisecs, (long)((Int128)sleepMsec * SixteenGiBInKiB / totalKiB));

    public static long Boost(long pages, TuningParameters p) => Clamp(pages + p.Boost, p);

    public static long Decay(long pages, TuningParameters p) => Clamp(pages - p.Decay, p);

    public static long Clamp(long pages, TuningParameters p) => Math.Clamp(pages, p.MinPages, p.MaxPages);

    public static CycleDecision Decide(CycleInput input, TuningParameters p, int thresCoef, long thresConstKiB)
    {
        if (input.TotalKiB <= 0) throw new ArgumentOutOfRangeException(nameof(input), input.TotalKiB, "total memory must be positive");
        var thres = Threshold(input.TotalKiB, thresCoef, thresConstKiB);
        var sleep = SleepMillisecs(p.SleepMsec, input.TotalKiB);
        var free = input.FreeKiB;
        var committedPlusThres = input.CommittedKiB + thres;
        var freeVsThres = $"free {Size(free)} {(free < thres ? "<" : ">=")} threshold {Size(thres)} ({thresCoef}% of {Size(input.TotalKiB)}{(thres == thresConstKiB && thres > input.TotalKiB * thresCoef / 100 ? ", raised to KSM_THRES_CONST" : "")})";
        var committed = $"committed {Size(input.CommittedKiB)} + threshold {(committedPlusThres > input.TotalKiB ? ">" : "<=")} total {Size(input.TotalKiB)}";

        if (free < thres)
        {
            var pages = Boost(input.PagesToScan, p);
            return new(KsmdAction.Start, pages, sleep, thres,
                $"{freeVsThres}: start ksmd, pages_to_scan {input.PagesToScan} -> {pages} (boost {p.Boost}, max {p.MaxPages}), sleep_millisecs {sleep}");
        }
        if (committedPlusThres > input.TotalKiB)
        {
            var pages = Decay(input.PagesToScan, p);
            return new(KsmdAction.Start, pages, sleep, thres,
                $"{committed}, {freeVsThres}: start ksmd gently, pages_to_scan {input.PagesToScan} -> {pages} (decay {p.Decay}, min {p.MinPages}), sleep_millisecs {sleep}");
        }
        var stopped = Decay(input.PagesToScan, p);
        return new(KsmdAction.Stop, stopped, sleep, thres,
            $"{freeVsThres} and {committed}: stop ksmd (shared pages stay), pages_to_scan {input.PagesToScan} -> {stopped} (decay {p.Decay}, min {p.MinPages})");
    }

    /// <summary>KiB as a short binary size ("23.4 GiB", "512 KiB") for the "why" text.</summary>
    public static string Size(long kib)
    {
        string[] units = ["KiB", "MiB", "GiB", "TiB"];
        double value = kib;
        var unit = 0;
        while (Math.Abs(value) >= 1024 && unit < units.Length - 1) { value /= 1024; unit++; }
        return unit == 0 ? $"{kib} KiB" : string.Create(CultureInfo.InvariantCulture, $"{value:0.#} {units[unit]}");
    }
}
