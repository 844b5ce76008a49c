using System.Text;

namespace Largeguest.Grammar;

/// <summary>One <c>VCPUS#CPUSET</c> entry: vCPUs <see cref="First"/>..<see cref="Last"/> may run on
/// <see cref="CpuSet"/>.</summary>
public sealed record VcpuPin(int First, int Last, CpuSet CpuSet)
{
    /// <summary>The vCPUs as written: <c>3</c> or <c>0-3</c>.</summary>
    public string VcpuText => First == Last ? $"{First}" : $"{First}-{Last}";

    public override string ToString() => VcpuText + "#" + CpuSet;
}

/// <summary>One <c>iothreadN#CPUSET</c> entry: the domain's I/O thread <see cref="Id"/> (libvirt's <c>iothread</c> id,
/// from 1) may run on <see cref="CpuSet"/>.</summary>
public sealed record IoThreadPin(int Id, CpuSet CpuSet)
{
    public override string ToString() => $"{CpuTune.IoThreadKey}{Id}#{CpuSet}";
}

/// <summary>
/// The <c>cputune</c> property: <c>VCPUS#CPUSET</c> entries, optional <c>emulator#CPUSET</c> and
/// <c>iothreadN#CPUSET</c> entries. Example: <c>0#0-3,^2,1#4-7,emulator#8,iothread1#9</c>.
/// </summary>
public sealed class CpuTune
{
    public const string Syntax = "VCPUS#CPUSET[,VCPUS#CPUSET...][,emulator#CPUSET][,iothreadN#CPUSET...], " +
        "e.g. 0#0-3,1-3#4-7,emulator#8,iothread1#9";

    /// <summary>The key of an I/O thread entry, followed by the thread's id: <c>iothread1</c>.</summary>
    public const string IoThreadKey = "iothread";

    public IReadOnlyList<VcpuPin> Pins { get; }
    public CpuSet? Emulator { get; }
    /// <summary>The I/O thread pins in order of appearance.</summary>
    public IReadOnlyList<IoThreadPin> IoThreads { get; }

    public CpuTune(IReadOnlyList<VcpuPin> pins, CpuSet? emulator, IReadOnlyList<IoThreadPin>? ioThreads = null)
    {
        Pins = pins;
        Emulator = emulator;
        IoThreads = ioThreads ?? [];
    }

    /// <summary>Each pinned vCPU with its cpuset, by vCPU id (the order the editor writes and messages list them).
    /// </summary>
    public IReadOnlyList<(int Vcpu, CpuSet CpuSet)> PinnedVcpus => _pinnedVcpus ??= Expand(Pins);

    private List<(int Vcpu, CpuSet CpuSet)>? _pinnedVcpus;

    private static List<(int Vcpu, CpuSet CpuSet)> Expand(IReadOnlyList<VcpuPin> pins)
    {
        var pinned = new List<(int Vcpu, CpuSet CpuSet)>();
        foreach (var pin in pins)
            for (var v = pin.First; v <= pin.Last; v++) pinned.Add((v, pin.CpuSet));
        pinned.Sort((a, b) => a.Vcpu.CompareTo(b.Vcpu)); // a vCPU is pinned once (Parse): the order is total
        return pinned;
    }

    public static CpuTune Parse(string text)
    {
        if (EnginePinningHint(text) is { } hint) throw new SyntaxException(hint, Syntax);
        var pins = new List<VcpuPin>();
        CpuSet? emulator = null;
        var ioThreads = new List<IoThreadPin>();
        var seen = new HashSet<int>();
        var seenIoThreads = new HashSet<int>();
        foreach (var entry in EntryList.Split(text, EntryList.Glue.ToPrevious, Syntax))
        {
            var hash = entry.IndexOf('#');
            var key = entry[..hash].Trim();
            var cpuset = Wrap(() => CpuSet.Parse(entry[(hash + 1)..]), entry);
            if (key.Equals("emulator", StringComparison.OrdinalIgnoreCase))
            {
                if (emulator is not null)
                    throw new SyntaxException($"bad token '{entry}': emulator is pinned twice", Syntax);
                emulator = cpuset;
                continue;
            }
            if (IoThreadId(key, entry) is int ioThread)
            {
                if (!seenIoThreads.Add(ioThread))
                    throw new SyntaxException($"bad token '{entry}': iothread {ioThread} is pinned twice", Syntax);
                ioThreads.Add(new IoThreadPin(ioThread, cpuset));
                continue;
            }
            if (key.Length == 0) throw new SyntaxException($"bad token '{entry}': no vCPU before '#'", Syntax);
            var (first, last) = Wrap(() => CpuSet.ParseRange(key, key), entry);
            for (var v = first; v <= last; v++)
                if (!seen.Add(v)) throw new SyntaxException($"bad token '{entry}': vCPU {v} is pinned twice", Syntax);
            pins.Add(new VcpuPin(first, last, cpuset));
        }
        return new CpuTune(pins, emulator, ioThreads);
    }

    /// <summary>
    /// The id of an <c>iothreadN</c> key, or null when the key is not one. One word: ASCII letters in either case
    /// (not look-alikes such as a dotless i, which a culture-aware comparison would let through) and 1 to 6 ASCII
    /// digits.
    /// </summary>
    private static int? IoThreadId(string key, string entry)
    {
        if (key.Length <= IoThreadKey.Length) return null;
        for (var i = 0; i < IoThreadKey.Length; i++)
            if (!char.IsAscii(key[i]) || char.ToLowerInvariant(key[i]) != IoThreadKey[i]) return null;
        var digits = key[IoThreadKey.Length..];
        if (digits.Length > 6 || digits.AsSpan().ContainsAnyExceptInRange('0', '9'))
            throw new SyntaxException(
                $"bad token '{entry}': an I/O thread is {IoThreadKey}N with an id of 1 to 6 digits", Syntax);
        var id = int.Parse(digits, System.Globalization.CultureInfo.InvariantCulture);
        return id > 0 ? id : throw new SyntaxException(
            $"bad token '{entry}': iothread ids start at 1 (libvirt numbers them from 1)", Syntax);
    }

    /// <summary>
    /// The engine's own pinning string (<c>0#0_1#1</c>, entries joined by <c>_</c>) put into cputune: the message says
    /// that entries are comma-separated here and shows the value converted, when the conversion parses.
    /// </summary>
    private static string? EnginePinningHint(string text)
    {
        if (!text.Contains('_')) return null;
        var parts = text.Split('_');
        if (parts.Length < 2 || !parts.All(p => p.Contains('#'))) return null;
        var converted = string.Join(",", parts.Select(p => p.Trim()));
        try { Parse(converted); }
        catch (SyntaxException)
        {
            return $"bad token '{text.Trim()}': entries are separated by ',' here, " +
                "not by '_' as in the engine's CPU pinning string";
        }
        return $"bad token '{text.Trim()}': entries are separated by ',' here, " +
            $"not by '_' as in the engine's CPU pinning string; write {converted}";
    }

    /// <summary>Re-throws a cpuset error with this grammar's expected syntax, quoting the entry.</summary>
    private static T Wrap<T>(Func<T> parse, string entry)
    {
        try { return parse(); }
        catch (SyntaxException e) { throw new SyntaxException($"in '{entry}': {e.Problem}", Syntax); }
    }

    /// <summary>
    /// The same vCPU pins in the engine's CPU pinning-string syntax (<c>VCPU#CPUSET</c> per vCPU, joined by
    /// <c>_</c>: <c>0#0-3_1#4-7</c>), for the engine's "Manual" CPU Pinning Policy, so that the engine's
    /// <c>&lt;vcpupin&gt;</c> elements and ours agree. The engine has no emulator pin.
    /// </summary>
    public string ToEnginePinning() =>
        string.Join("_", PinnedVcpus.Select(p => $"{p.Vcpu}#{p.CpuSet}"));

    public override string ToString()
    {
        var sb = new StringBuilder(string.Join(",", Pins));
        if (Emulator is not null) sb.Append(sb.Length > 0 ? "," : "").Append("emulator#").Append(Emulator);
        foreach (var pin in IoThreads) sb.Append(sb.Length > 0 ? "," : "").Append(pin);
        return sb.ToString();
    }
}
