using System.Globalization;

namespace Largeguest.Ksm.Tuning;

/// <summary>What one cycle observed. Memory in KiB, as /proc/meminfo and ksmtuned count it.</summary>
/// <param name="TotalKiB">MemTotal.</param>
/// <param name="FreeKiB">Memory free for use (MemAvailable; see docs/ksmtune.md).</param>
/// <param name="CommittedKiB">Resident memory of the QEMU processes.</param>
/// <param name="PagesToScan">pages_to_scan as the kernel has it now.</param>
public readonly record struct CycleInput(long TotalKiB, long FreeKiB, long CommittedKiB, long PagesToScan);

public enum KsmdAction { Start, Stop }

/// <summary>
/// The cycle's decision: what to write to run, pages_to_scan and sleep_millisecs, and why, in words.
/// <see cref="Gently"/>: ksmd runs although free memory is above the threshold (pages_to_scan decays instead of being
/// boosted).
/// </summary>
public sealed record CycleDecision(KsmdAction Action, long PagesToScan, long SleepMillisecs, long ThresholdKiB,
    string Why, bool Gently = false)
{
    /// <summary>
    /// What the decision does, without the numbers moving within it: the daemon logs a line when this changes.
    /// </summary>
    public (KsmdAction Action, bool Gently) Kind => (Action, Gently);

    public KsmRun Run => Action == KsmdAction.Start ? KsmRun.Merge : KsmRun.Stop;
}

/// <summary>
/// One tuning cycle as a pure function, ksmtuned's <c>adjust</c> (docs/ksmtune.md "The cycle"):
/// <list type="bullet">
/// <item>threshold = <c>thresCoef</c>% of total memory, at least <c>KSM_THRES_CONST</c> KiB;</item>
/// <item>stop ksmd (shared pages stay shared) only when committed + threshold &lt; total <b>and</b> free &gt;
/// threshold;
///   in customized mode pages_to_scan stays (ksmtuned), in standard/high it decays (Harvester);</item>
/// <item>otherwise start ksmd: free &lt; threshold raises pages_to_scan by boost, else it lowers it by decay;</item>
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
        totalKiB <= 0
            ? MinSleepMillisecs
            : Math.Max(MinSleepMillisecs, (long)((Int128)sleepMsec * SixteenGiBInKiB / totalKiB));

    public static long Boost(long pages, TuningParameters p) => Clamp(pages + p.Boost, p);

    public static long Decay(long pages, TuningParameters p) => Clamp(pages - p.Decay, p);

    public static long Clamp(long pages, TuningParameters p) => Math.Clamp(pages, p.MinPages, p.MaxPages);

    public static CycleDecision Decide(CycleInput input, TuningParameters p, int thresCoef, long thresConstKiB,
        TuningMode mode)
    {
        if (input.TotalKiB <= 0)
            throw new ArgumentOutOfRangeException(nameof(input), input.TotalKiB, "total memory must be positive");
        var thres = Threshold(input.TotalKiB, thresCoef, thresConstKiB);
        var sleep = SleepMillisecs(p.SleepMsec, input.TotalKiB);
        var free = input.FreeKiB;
        var committedPlusThres = input.CommittedKiB + thres;
        var floor = thres == thresConstKiB && thres > input.TotalKiB * thresCoef / 100
            ? ", raised to KSM_THRES_CONST"
            : "";
        var freeVsThres = $"free {Size(free)} {Compare(free, thres)} threshold {Size(thres)} " +
            $"({thresCoef}% of {Size(input.TotalKiB)}{floor})";
        var committed = $"committed {Size(input.CommittedKiB)} + threshold " +
            $"{Compare(committedPlusThres, input.TotalKiB)} total {Size(input.TotalKiB)}";

        // ksmtuned: [ $[committed + thres] -lt $total -a $free -gt $thres ] && stop; everything else starts.
        if (committedPlusThres < input.TotalKiB && free > thres)
        {
            var stopped = mode == TuningMode.Customized ? Clamp(input.PagesToScan, p) : Decay(input.PagesToScan, p);
            var how = mode == TuningMode.Customized
                ? $"min {p.MinPages}, max {p.MaxPages}"
                : $"decay {p.Decay}, min {p.MinPages}";
            return new(KsmdAction.Stop, stopped, sleep, thres,
                $"{freeVsThres} and {committed}: stop ksmd (shared pages stay), " +
                $"pages_to_scan {input.PagesToScan} -> {stopped} ({how})");
        }
        if (free < thres)
        {
            var pages = Boost(input.PagesToScan, p);
            return new(KsmdAction.Start, pages, sleep, thres,
                $"{freeVsThres}: start ksmd, pages_to_scan {input.PagesToScan} -> {pages} " +
                $"(boost {p.Boost}, max {p.MaxPages}), sleep_millisecs {sleep}");
        }
        var gentle = Decay(input.PagesToScan, p);
        return new(KsmdAction.Start, gentle, sleep, thres,
            $"{committed}, {freeVsThres}: start ksmd gently, pages_to_scan {input.PagesToScan} -> {gentle} " +
            $"(decay {p.Decay}, min {p.MinPages}), sleep_millisecs {sleep}", Gently: true);
    }

    private static string Compare(long a, long b) => a < b ? "<" : a > b ? ">" : "=";

    /// <summary>
    /// KiB as a short binary size ("23.4 GiB", "512 KiB") for the "why" text: one decimal is enough there.
    /// </summary>
    public static string Size(long kib) => new Grammar.MemorySize(kib).Readable(decimals: 1);
}
