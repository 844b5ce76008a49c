using System.Globalization;

namespace Largeguest.Ksm;

/// <summary>
/// The values of <c>run</c>, named as the kernel names them (mm/ksm.c: <c>KSM_RUN_STOP</c>, <c>KSM_RUN_MERGE</c>,
/// <c>KSM_RUN_UNMERGE</c>). Unmerge is a command, not a state: once its unmerge is done, stopped is its steady
/// equivalent.
/// </summary>
public enum KsmRun { Stop = 0, Merge = 1, Unmerge = 2 }

/// <summary>How a KSM sysfs file is read and (if at all) written.</summary>
public enum KsmFileKind
{
    /// <summary>Read-only counter kept by the kernel.</summary>
    Counter,
    /// <summary>A writable whole number within <see cref="KsmFile.Min"/>..<see cref="KsmFile.Max"/>.</summary>
    Number,
    /// <summary>A writable 0/1 switch.</summary>
    Switch,
    /// <summary>A writable word from <see cref="KsmFile.Choices"/>; read back as "[current] other".</summary>
    Choice,
}

/// <summary>One file of <c>/sys/kernel/mm/ksm</c> as this product knows it.</summary>
public sealed record KsmFile(
    string Name, KsmFileKind Kind, string Description, long Min = 0, long Max = 0,
    IReadOnlyList<string>? Choices = null)
{
    public bool Writable => Kind != KsmFileKind.Counter;

    /// <summary>The accepted input, as shown in a range error.</summary>
    public string Syntax => Kind switch
    {
        KsmFileKind.Switch => "0 or 1",
        KsmFileKind.Choice => string.Join(" or ", Choices!),
        KsmFileKind.Number => $"a whole number from {Min} to {Max}",
        _ => "nothing: the kernel maintains it",
    };

    /// <summary>Checks a value before it goes near the kernel; returns the canonical text to write or throws.</summary>
    public string Validate(string value)
    {
        var v = value.Trim();
        var ok = Kind switch
        {
            KsmFileKind.Switch => KsmFiles.ParseBit(v) is not null,
            KsmFileKind.Choice => Choices!.Contains(v, StringComparer.Ordinal),
            KsmFileKind.Number => long.TryParse(v, System.Globalization.NumberStyles.None, null, out var n)
                && n >= Min && n <= Max,
            _ => false,
        };
        if (!ok) throw new KsmValueException(Name, value, Syntax);
        return Kind == KsmFileKind.Number
            ? long.Parse(v, NumberStyles.None, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture)
            : v;
    }
}

/// <summary>
/// Every file of <c>/sys/kernel/mm/ksm</c> up to Linux 6.18 (Documentation/admin-guide/mm/ksm.rst), with the
/// ranges the kernel's store functions accept. Older kernels lack some (advisor_* and smart_scan since 6.7,
/// general_profit 6.1, ksm_zero_pages 6.4 (named zero_pages_sharing until 6.5), merge_across_nodes only with
/// CONFIG_NUMA); the model reads what is there and reports unknown newer files as they are. This is the kernel's
/// KSM vocabulary, declared once: file names, the <c>run</c> values (<see cref="KsmRun"/>) and the 0/1 of a switch;
/// policy lives elsewhere.
/// </summary>
public static class KsmFiles
{
    public const string DefaultRoot = "/sys/kernel/mm/ksm";

    public const string Run = "run";
    public const string PagesToScan = "pages_to_scan";
    public const string SleepMillisecs = "sleep_millisecs";
    public const string MergeAcrossNodes = "merge_across_nodes";
    public const string PagesShared = "pages_shared";
    public const string PagesSharing = "pages_sharing";
    public const string KsmZeroPages = "ksm_zero_pages";
    public const string ZeroPagesSharing = "zero_pages_sharing";
    public const string PagesScanned = "pages_scanned";
    public const string PagesSkipped = "pages_skipped";
    public const string FullScans = "full_scans";
    public const string GeneralProfit = "general_profit";

    /// <summary>A switch's text: "1" for on, "0" for off (merge_across_nodes, use_zero_pages; also in the state files
    /// and the helper's arguments).</summary>
    public static string Bit(bool on) => on ? "1" : "0";

    /// <summary>A switch's value from its exact text "0" or "1"; null for anything else.</summary>
    public static bool? ParseBit(string text) => text switch { "0" => false, "1" => true, _ => null };

    /// <summary>For messages: a switch's text, "unknown" when it could not be read.</summary>
    public static string Bit(bool? on) => on is bool b ? Bit(b) : "unknown";

    /// <summary>The number <c>run</c> takes for <paramref name="run"/>.</summary>
    public static string Text(KsmRun run) => ((int)run).ToString(CultureInfo.InvariantCulture);

    /// <summary>A <c>run</c> value from its exact text "0", "1" or "2"; null for anything else.</summary>
    public static KsmRun? ParseRun(string text) =>
        text switch { "0" => KsmRun.Stop, "1" => KsmRun.Merge, "2" => KsmRun.Unmerge, _ => null };

    private const long UIntMax = uint.MaxValue;
    private const long IntMax = int.MaxValue;

    public static readonly IReadOnlyList<KsmFile> All =
    [
        new(Run, KsmFileKind.Number,
            "0 stops ksmd (merged pages stay merged), 1 runs it, 2 stops it and unmerges every page", 0, 2),
        new(PagesToScan, KsmFileKind.Number, "pages ksmd scans before it sleeps", 0, UIntMax),
        new(SleepMillisecs, KsmFileKind.Number, "ms ksmd sleeps between batches", 0, UIntMax),
        new(MergeAcrossNodes, KsmFileKind.Switch,
            "1 merges pages of different NUMA nodes; changeable only when no page is shared"),
        new("max_page_sharing", KsmFileKind.Number,
            "most mappings of one KSM page; changeable only when no page is shared", 2, IntMax),
        new("use_zero_pages", KsmFileKind.Switch, "1 merges empty pages with the zero page"),
        new("stable_node_chains_prune_millisecs", KsmFileKind.Number,
            "ms between scans of stable_node chains for stale entries", 0, UIntMax),
        new("smart_scan", KsmFileKind.Switch, "1 skips pages that did not merge in recent scans"),
        new("advisor_mode", KsmFileKind.Choice, "automatic pages_to_scan tuning", Choices: ["none", "scan-time"]),
        new("advisor_max_cpu", KsmFileKind.Number, "most ksmd CPU percent the advisor allows", 1, 100),
        new("advisor_min_pages_to_scan", KsmFileKind.Number,
            "advisor's lower bound of pages_to_scan", 1, long.MaxValue),
        new("advisor_max_pages_to_scan", KsmFileKind.Number,
            "advisor's upper bound of pages_to_scan", 1, long.MaxValue),
        new("advisor_target_scan_time", KsmFileKind.Number,
            "seconds one full scan should take under the advisor", 1, long.MaxValue),
        new(PagesShared, KsmFileKind.Counter, "KSM pages in use (each backs several mappings)"),
        new(PagesSharing, KsmFileKind.Counter, "mappings saved by sharing: the pages an unmerge has to allocate"),
        new("pages_unshared", KsmFileKind.Counter, "pages scanned but unique"),
        new("pages_volatile", KsmFileKind.Counter, "pages changing too fast to merge"),
        new(PagesSkipped, KsmFileKind.Counter, "pages smart_scan skipped"),
        new(PagesScanned, KsmFileKind.Counter, "pages scanned since KSM started"),
        new(FullScans, KsmFileKind.Counter, "complete scans of all mergeable memory"),
        new("stable_node_chains", KsmFileKind.Counter, "KSM pages that hit max_page_sharing"),
        new("stable_node_dups", KsmFileKind.Counter, "duplicated KSM pages in those chains"),
        new(KsmZeroPages, KsmFileKind.Counter, "empty pages merged with the zero page (use_zero_pages)"),
        new(ZeroPagesSharing, KsmFileKind.Counter, "ksm_zero_pages under its Linux 6.4-6.5 name"),
        new(GeneralProfit, KsmFileKind.Counter, "bytes KSM saves, less its own metadata (may be negative)"),
    ];

    public static KsmFile? Find(string name) => All.FirstOrDefault(f => f.Name == name);
}
