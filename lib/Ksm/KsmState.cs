using System.Globalization;

namespace Largeguest.Ksm;

/// <summary>
/// One reading of <c>/sys/kernel/mm/ksm</c>: every file present, as the kernel printed it (trimmed).
/// Files this kernel lacks are absent; files this product does not know are kept and listed in <see cref="Unknown"/>.
/// </summary>
public sealed record KsmState(IReadOnlyDictionary<string, string> Values)
{
    /// <summary>The kernel has no KSM (no <c>/sys/kernel/mm/ksm</c>).</summary>
    public static KsmState Absent { get; } = new(new Dictionary<string, string>());

    public bool Present => Values.Count > 0;

    /// <summary>Stopped, merging or unmerge mode; null when unreadable.</summary>
    public KsmRun? Run => Values.TryGetValue(KsmFiles.Run, out var text) ? KsmFiles.ParseRun(text) : null;

    /// <summary>null when the kernel has no such file (built without CONFIG_NUMA).</summary>
    public bool? MergeAcrossNodes => Number(KsmFiles.MergeAcrossNodes) is long v ? v != 0 : null;

    public long PagesShared => Number(KsmFiles.PagesShared) ?? 0;
    public long PagesSharing => Number(KsmFiles.PagesSharing) ?? 0;

    /// <summary>Empty pages merged with the zero page; 0 on kernels that do not count them.</summary>
    public long ZeroPages => Number(KsmFiles.KsmZeroPages) ?? Number(KsmFiles.ZeroPagesSharing) ?? 0;

    /// <summary>Pages an unmerge has to allocate: every extra mapping of a KSM page, plus zero-page mappings.</summary>
    public long UnmergeCostPages => PagesSharing + ZeroPages;

    /// <summary>Files present that this product does not know (a newer kernel); shown, never interpreted.</summary>
    public IEnumerable<string> Unknown =>
        Values.Keys.Where(k => KsmFiles.Find(k) is null).Order(StringComparer.Ordinal);

    public long? Number(string file) =>
        Values.TryGetValue(file, out var text)
            && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
                ? n
                : null;

    /// <summary>The selected word of a choice file such as <c>advisor_mode</c> ("[none] scan-time" ->
    /// "none").</summary>
    public string? Choice(string file)
    {
        if (!Values.TryGetValue(file, out var text)) return null;
        var open = text.IndexOf('[');
        var close = text.IndexOf(']');
        return open >= 0 && close > open ? text[(open + 1)..close] : text;
    }

    /// <summary>A copy with some files replaced (tests and the simulator build states this way).</summary>
    public KsmState With(params (string File, string Value)[] changes)
    {
        var values = new Dictionary<string, string>(Values, StringComparer.Ordinal);
        foreach (var (file, value) in changes) values[file] = value;
        return new KsmState(values);
    }

    public static KsmState Of(params (string File, string Value)[] values) => Absent.With(values);
}
